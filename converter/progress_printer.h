// Prints kite-convert's progress on stderr: on a terminal, a line per finished
// tensor under a live bar (tensor i/N, bytes, percent); otherwise (a pipe, a
// log file) just the line per tensor; with --quiet, only warnings.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "converter/convert.h"

namespace kite {

std::string FormatBytes(uint64_t bytes);  // "1.04 MB" (decimal units)

class ProgressPrinter {
 public:
  enum class Mode { kBar, kLines, kQuiet };
  // kBar only makes sense on a terminal: pick it with ChooseMode.
  ProgressPrinter(std::FILE* out, Mode mode) : out_(out), mode_(mode) {}
  static Mode ChooseMode(std::FILE* out, bool quiet);

  void operator()(const ConvertEvent& event);
  void Finish();  // ends a live bar's line

 private:
  void DrawBar(const ConvertEvent& event);
  void ClearBar();

  std::FILE* out_;
  Mode mode_;
  bool bar_visible_ = false;
  int last_percent_ = -1;  // the bar is redrawn only when the percent changes

};

}  // namespace kite
