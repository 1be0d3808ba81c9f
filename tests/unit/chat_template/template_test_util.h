// Helpers shared by the chat-template tests: reading shared files, fixed
// clocks, rendering a source string, and a byte-level diff for mismatches.
#pragma once

#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "runtime/llm/chat_template/chat_template.h"

namespace kite {
namespace testing {

inline bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  *out = buffer.str();
  return true;
}

// "2026-01-15T09:30:00" as local time, the way the reference renderer's
// naive datetime.now() reads it.
inline std::time_t LocalTime(const std::string& iso) {
  std::tm tm{};
  std::sscanf(iso.c_str(), "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
              &tm.tm_sec);
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  tm.tm_isdst = -1;
  return std::mktime(&tm);
}

inline ChatTemplateOptions FixedClock(const std::string& iso = "2026-01-15T09:30:00") {
  ChatTemplateOptions options;
  const std::time_t t = LocalTime(iso);
  options.now = [t] { return t; };
  return options;
}

// Makes control characters visible so a diff of prompts reads on one line.
inline std::string Visible(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default: out += c;
    }
  }
  return out;
}

// Where two renderings first differ, with some context from each.
inline std::string DescribeMismatch(const std::string& expected, const std::string& actual) {
  size_t i = 0;
  while (i < expected.size() && i < actual.size() && expected[i] == actual[i]) ++i;
  size_t line = 1;
  for (size_t k = 0; k < i; ++k) line += expected[k] == '\n';
  const size_t from = i > 60 ? i - 60 : 0;
  std::ostringstream out;
  out << "renderings differ at byte " << i << " (line " << line << "); expected " << expected.size()
      << " bytes, got " << actual.size() << "\n"
      << "  expected: ..." << Visible(expected.substr(from, 120)) << "\n"
      << "  actual:   ..." << Visible(actual.substr(from, 120)) << "\n"
      << "  (the first " << (i - from) << " characters shown are common)";
  return out.str();
}

// Renders `source` with `context`; a failure is returned as "ERROR: message".
inline std::string RenderOrError(const std::string& source, const nlohmann::ordered_json& context,
                                 const ChatTemplateOptions& options = ChatTemplateOptions()) {
  auto tmpl = ChatTemplate::Parse(source);
  if (!tmpl.ok()) return "ERROR: " + tmpl.status().message();
  auto out = tmpl.value()->Render(context, options);
  if (!out.ok()) return "ERROR: " + out.status().message();
  return out.value();
}

}  // namespace testing
}  // namespace kite
