#include "runtime/llm/tokenizer/decoder.h"

#include "runtime/llm/tokenizer/normalizer.h"
#include "runtime/llm/tokenizer/unicode.h"

namespace kite {
namespace tok {

namespace {

constexpr const char* kReplacementChar = "\xEF\xBF\xBD";

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The byte of a "<0xXX>" token, or -1.
int ByteTokenValue(const std::string& token) {
  if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') return -1;
  const int hi = HexDigit(token[3]), lo = HexDigit(token[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

Result<std::string> SingleChar(const Json& stage, const char* key, const std::string& where,
                               const char* fallback) {
  std::string text = fallback;
  KITE_RETURN_IF_ERROR(GetString(stage, key, where, &text));
  char32_t cp;
  size_t bad = 0;
  if (text.empty() || DecodeUtf8(text, 0, &cp, &bad) != text.size()) {
    return InvalidArgument(where + ": '" + key + "' must be a single character");
  }
  return text;
}

}  // namespace

Decoder::~Decoder() = default;

Result<std::unique_ptr<Decoder>> Decoder::Parse(std::string_view json_text) {
  std::unique_ptr<Decoder> decoder(new Decoder());
  if (IsAbsentStage(json_text)) return decoder;
  KITE_ASSIGN_OR_RETURN(Json stage, ParseJsonText(json_text, "decoder"));
  decoder->present_ = true;
  KITE_RETURN_IF_ERROR(decoder->AddStage(stage, "decoder"));
  return decoder;
}

Status Decoder::AddStage(const Json& stage, const std::string& where) {
  if (stage.is_null()) return Status::Ok();
  KITE_ASSIGN_OR_RETURN(std::string type, StageType(stage, where));
  const std::string at = where + " (" + type + ")";
  Step step;
  if (type == "Sequence") {
    const Json* list = Field(stage, "decoders");
    if (list == nullptr || !list->is_array()) return InvalidArgument(at + ": 'decoders' must be a list");
    for (size_t i = 0; i < list->size(); ++i) {
      KITE_RETURN_IF_ERROR(AddStage((*list)[i], where + ".decoders[" + std::to_string(i) + "]"));
    }
    return Status::Ok();
  } else if (type == "ByteLevel") {
    step.kind = Kind::kByteLevel;
  } else if (type == "ByteFallback") {
    step.kind = Kind::kByteFallback;
  } else if (type == "Fuse") {
    step.kind = Kind::kFuse;
  } else if (type == "Replace") {
    step.kind = Kind::kReplace;
    std::string pattern;
    bool is_regex = false;
    KITE_RETURN_IF_ERROR(GetPattern(stage, at, &pattern, &is_regex));
    KITE_RETURN_IF_ERROR(GetString(stage, "content", at, &step.text, /*required=*/true));
    auto regex = is_regex ? Regex::Compile(pattern) : Regex::Literal(pattern);
    if (!regex.ok()) return InvalidArgument(at + ": " + regex.status().message());
    step.regex = std::move(regex).value();
  } else if (type == "Strip") {
    step.kind = Kind::kStrip;
    KITE_ASSIGN_OR_RETURN(step.text, SingleChar(stage, "content", at, " "));
    int64_t start = 0, stop = 0;
    KITE_RETURN_IF_ERROR(GetInt(stage, "start", at, &start));
    KITE_RETURN_IF_ERROR(GetInt(stage, "stop", at, &stop));
    if (start < 0 || stop < 0) return InvalidArgument(at + ": 'start' and 'stop' must be >= 0");
    step.start = static_cast<size_t>(start);
    step.stop = static_cast<size_t>(stop);
  } else if (type == "Metaspace") {
    step.kind = Kind::kMetaspace;
    KITE_ASSIGN_OR_RETURN(step.text, SingleChar(stage, "replacement", at, "\xE2\x96\x81"));
    std::string scheme;
    KITE_RETURN_IF_ERROR(GetString(stage, "prepend_scheme", at, &scheme));
    if (scheme.empty()) {
      bool add_prefix_space = true;
      KITE_RETURN_IF_ERROR(GetBool(stage, "add_prefix_space", at, &add_prefix_space));
      step.strip_first = add_prefix_space;
    } else if (scheme == "always" || scheme == "first" || scheme == "never") {
      step.strip_first = scheme != "never";
    } else {
      return Unsupported(at + ": prepend_scheme '" + scheme + "' is not supported");
    }
    KITE_ASSIGN_OR_RETURN(step.regex, Regex::Literal(step.text));
  } else if (type == "BPEDecoder") {
    step.kind = Kind::kBpeSuffix;
    step.text = "</w>";
    KITE_RETURN_IF_ERROR(GetString(stage, "suffix", at, &step.text));
    auto suffix = Regex::Literal(step.text);
    if (!suffix.ok()) return InvalidArgument(at + ": 'suffix' must not be empty");
    step.regex = std::move(suffix).value();
  } else {
    return Unsupported(where + ": type '" + type +
                       "' is not supported (supported: Sequence, ByteLevel, Replace, ByteFallback, "
                       "Fuse, Strip, Metaspace, BPEDecoder)");
  }
  steps_.push_back(std::move(step));
  return Status::Ok();
}

Result<std::string> Decoder::Decode(std::vector<std::string> tokens) const {
  if (!present_) {
    std::string joined;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) joined += ' ';
      joined += tokens[i];
    }
    return joined;
  }
  for (const Step& step : steps_) {
    switch (step.kind) {
      case Kind::kByteLevel: {
        // Tokens whose every char is in the byte table become those bytes; others
        // (added tokens with other characters) keep their UTF-8 as is.
        std::string bytes;
        for (const std::string& token : tokens) {
          const size_t mark = bytes.size();
          bool mapped = true;
          size_t i = 0;
          while (i < token.size()) {
            char32_t cp;
            i += NextCodePoint(token, i, &cp);
            const int b = UnicodeToByte(cp);
            if (b < 0) {
              mapped = false;
              break;
            }
            bytes.push_back(static_cast<char>(b));
          }
          if (!mapped) {
            bytes.resize(mark);
            bytes += token;
          }
        }
        tokens.assign(1, Utf8Lossy(bytes));
        break;
      }
      case Kind::kReplace:
        for (std::string& token : tokens) {
          KITE_ASSIGN_OR_RETURN(token, ReplaceAll(*step.regex, token, step.text));
        }
        break;
      case Kind::kByteFallback: {
        std::vector<std::string> out;
        out.reserve(tokens.size());
        std::string pending;  // bytes of the current run of <0xXX> tokens
        auto flush = [&]() {
          if (pending.empty()) return;
          if (FindInvalidUtf8(pending) == std::string::npos) {
            out.push_back(pending);
          } else {
            for (size_t k = 0; k < pending.size(); ++k) out.emplace_back(kReplacementChar);  // HF: one per byte
          }
          pending.clear();
        };
        for (std::string& token : tokens) {
          const int b = ByteTokenValue(token);
          if (b >= 0) {
            pending.push_back(static_cast<char>(b));
          } else {
            flush();
            out.push_back(std::move(token));
          }
        }
        flush();
        tokens = std::move(out);
        break;
      }
      case Kind::kFuse: {
        std::string joined;
        for (const std::string& token : tokens) joined += token;
        tokens.assign(1, std::move(joined));
        break;
      }
      case Kind::kStrip: {
        const std::string& c = step.text;
        for (std::string& token : tokens) {
          size_t begin = 0, end = token.size();
          for (size_t k = 0; k < step.start && token.compare(begin, c.size(), c) == 0; ++k) begin += c.size();
          for (size_t k = 0; k < step.stop && end >= begin + c.size() &&
                             token.compare(end - c.size(), c.size(), c) == 0;
               ++k) {
            end -= c.size();
          }
          token = token.substr(begin, end - begin);
        }
        break;
      }
      case Kind::kMetaspace:
        for (size_t i = 0; i < tokens.size(); ++i) {
          // HF drops every replacement char of the first token, not only a leading one.
          KITE_ASSIGN_OR_RETURN(tokens[i], ReplaceAll(*step.regex, tokens[i],
                                                      i == 0 && step.strip_first ? "" : " "));
        }
        break;
      case Kind::kBpeSuffix:
        for (size_t i = 0; i < tokens.size(); ++i) {
          KITE_ASSIGN_OR_RETURN(tokens[i], ReplaceAll(*step.regex, tokens[i], i + 1 == tokens.size() ? "" : " "));
        }
        break;
    }
  }
  std::string out;
  for (const std::string& token : tokens) out += token;
  return out;
}

}  // namespace tok
}  // namespace kite
