#include "converter/progress_printer.h"

#include <cinttypes>

#include <unistd.h>

#include "runtime/artifact/artifact_layout.h"

namespace kite {

std::string FormatBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KB", "MB", "GB", "TB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1000.0 && unit < 4) {
    value /= 1000.0;
    ++unit;
  }
  char text[32];
  if (unit == 0) {
    std::snprintf(text, sizeof(text), "%" PRIu64 " B", bytes);
  } else {
    std::snprintf(text, sizeof(text), "%.2f %s", value, kUnits[unit]);
  }
  return text;
}

ProgressPrinter::Mode ProgressPrinter::ChooseMode(std::FILE* out, bool quiet) {
  if (quiet) return Mode::kQuiet;
  return isatty(fileno(out)) ? Mode::kBar : Mode::kLines;
}

void ProgressPrinter::ClearBar() {
  if (!bar_visible_) return;
  std::fputs("\r\033[K", out_);  // carriage return + erase line
  bar_visible_ = false;
}

namespace {

int Percent(const ConvertEvent& e) {
  return e.bytes_total > 0 ? static_cast<int>(100.0 * static_cast<double>(e.bytes_done) / static_cast<double>(e.bytes_total))
                           : 100;
}

}  // namespace

void ProgressPrinter::DrawBar(const ConvertEvent& e) {
  constexpr int kWidth = 30;
  last_percent_ = Percent(e);
  std::string bar(static_cast<size_t>(last_percent_ * kWidth / 100), '#');
  bar.resize(kWidth, '-');
  std::fprintf(out_, "\r\033[K[%s] %3d%%  tensor %zu/%zu  %s / %s", bar.c_str(), last_percent_,
               e.tensor_index + 1, e.num_tensors, FormatBytes(e.bytes_done).c_str(),
               FormatBytes(e.bytes_total).c_str());
  std::fflush(out_);
  bar_visible_ = true;
}

void ProgressPrinter::operator()(const ConvertEvent& e) {
  switch (e.kind) {
    case ConvertEvent::Kind::kWarning:
      ClearBar();
      std::fprintf(out_, "warning: %s\n", e.message.c_str());
      std::fflush(out_);
      return;
    case ConvertEvent::Kind::kTensorProgress:
      if (mode_ == Mode::kBar && (!bar_visible_ || Percent(e) != last_percent_)) DrawBar(e);
      return;
    case ConvertEvent::Kind::kTensorDone: {
      if (mode_ == Mode::kQuiet) return;
      ClearBar();
      const TensorReport& t = *e.tensor;
      std::string dtype = DTypeName(t.dtype);
      if (t.group_size > 0) dtype += "/g" + std::to_string(t.group_size);
      std::fprintf(out_, "[%zu/%zu] %-44s %-16s %-7s %10s  rel-rms %.3e\n", e.tensor_index + 1, e.num_tensors,
                   t.name.c_str(), ShapeString(t.shape).c_str(), dtype.c_str(), FormatBytes(t.bytes).c_str(),
                   t.error.relative_rms());
      if (mode_ == Mode::kBar) DrawBar(e);
      std::fflush(out_);
      return;
    }
  }
}

void ProgressPrinter::Finish() { ClearBar(); }

}  // namespace kite
