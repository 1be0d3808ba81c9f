#include "runtime/llm/tokenizer/normalizer.h"

#include "runtime/llm/tokenizer/unicode.h"

namespace kite {
namespace tok {

Normalizer::~Normalizer() = default;

Result<std::string> ReplaceAll(const Regex& regex, std::string_view text, std::string_view content) {
  std::vector<Span> matches;
  KITE_RETURN_IF_ERROR(regex.FindAll(text, &matches));
  if (matches.empty()) return std::string(text);
  std::string out;
  out.reserve(text.size());
  size_t last = 0;
  for (const Span& m : matches) {
    out.append(text.data() + last, m.begin - last);
    out.append(content.data(), content.size());
    last = m.end;
  }
  out.append(text.data() + last, text.size() - last);
  return out;
}

Result<std::unique_ptr<Normalizer>> Normalizer::Parse(std::string_view json_text) {
  std::unique_ptr<Normalizer> normalizer(new Normalizer());
  if (IsAbsentStage(json_text)) return normalizer;
  KITE_ASSIGN_OR_RETURN(Json stage, ParseJsonText(json_text, "normalizer"));
  KITE_RETURN_IF_ERROR(normalizer->AddStage(stage, "normalizer"));
  return normalizer;
}

Status Normalizer::AddStage(const Json& stage, const std::string& where) {
  if (stage.is_null()) return Status::Ok();
  KITE_ASSIGN_OR_RETURN(std::string type, StageType(stage, where));
  const std::string at = where + " (" + type + ")";
  Step step;
  if (type == "Sequence") {
    const Json* list = Field(stage, "normalizers");
    if (list == nullptr || !list->is_array()) return InvalidArgument(at + ": 'normalizers' must be a list");
    for (size_t i = 0; i < list->size(); ++i) {
      KITE_RETURN_IF_ERROR(AddStage((*list)[i], where + ".normalizers[" + std::to_string(i) + "]"));
    }
    return Status::Ok();
  } else if (type == "NFC") {
    step.kind = Kind::kNfc;
  } else if (type == "NFD") {
    step.kind = Kind::kNfd;
  } else if (type == "NFKC") {
    step.kind = Kind::kNfkc;
  } else if (type == "NFKD") {
    step.kind = Kind::kNfkd;
  } else if (type == "Lowercase") {
    step.kind = Kind::kLowercase;
  } else if (type == "StripAccents") {
    step.kind = Kind::kStripAccents;
  } else if (type == "ByteLevel") {
    step.kind = Kind::kByteLevel;
  } else if (type == "Prepend") {
    step.kind = Kind::kPrepend;
    KITE_RETURN_IF_ERROR(GetString(stage, "prepend", at, &step.text, /*required=*/true));
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
    step.left = step.right = true;
    KITE_RETURN_IF_ERROR(GetBool(stage, "strip_left", at, &step.left));
    KITE_RETURN_IF_ERROR(GetBool(stage, "strip_right", at, &step.right));
  } else {
    return Unsupported(where + ": type '" + type +
                       "' is not supported (supported: Sequence, NFC, NFD, NFKC, NFKD, Lowercase, "
                       "Prepend, Replace, Strip, StripAccents, ByteLevel)");
  }
  steps_.push_back(std::move(step));
  return Status::Ok();
}

namespace {

std::string StripWhitespace(const std::string& text, bool left, bool right) {
  size_t begin = 0, end = text.size();
  if (left) {
    while (begin < end) {
      char32_t cp;
      size_t n = NextCodePoint(text, begin, &cp);
      if (!IsWhitespace(cp)) break;
      begin += n;
    }
  }
  if (right) {
    while (end > begin) {
      size_t start = end - 1;  // back up to the lead byte of the last character
      while (start > begin && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) --start;
      char32_t cp;
      NextCodePoint(text, start, &cp);
      if (!IsWhitespace(cp)) break;
      end = start;
    }
  }
  return text.substr(begin, end - begin);
}

std::string RemoveMarks(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    char32_t cp;
    size_t n = NextCodePoint(text, i, &cp);
    if (!IsNonSpacingMark(cp)) out.append(text, i, n);
    i += n;
  }
  return out;
}

}  // namespace

Status Normalizer::Apply(std::string* text) const {
  for (const Step& step : steps_) {
    switch (step.kind) {
      case Kind::kNfc: KITE_RETURN_IF_ERROR(NormalizeUnicode(NormalForm::kNfc, text)); break;
      case Kind::kNfd: KITE_RETURN_IF_ERROR(NormalizeUnicode(NormalForm::kNfd, text)); break;
      case Kind::kNfkc: KITE_RETURN_IF_ERROR(NormalizeUnicode(NormalForm::kNfkc, text)); break;
      case Kind::kNfkd: KITE_RETURN_IF_ERROR(NormalizeUnicode(NormalForm::kNfkd, text)); break;
      case Kind::kLowercase: *text = Lowercase(*text); break;
      case Kind::kStripAccents: *text = RemoveMarks(*text); break;
      case Kind::kPrepend:
        if (!text->empty()) text->insert(0, step.text);  // HF leaves empty text alone
        break;
      case Kind::kReplace: {
        KITE_ASSIGN_OR_RETURN(*text, ReplaceAll(*step.regex, *text, step.text));
        break;
      }
      case Kind::kStrip: *text = StripWhitespace(*text, step.left, step.right); break;
      case Kind::kByteLevel: {
        std::string mapped;
        mapped.reserve(text->size() * 2);
        for (char c : *text) mapped += ByteToUnicode(static_cast<uint8_t>(c));
        *text = std::move(mapped);
        break;
      }
    }
  }
  return Status::Ok();
}

}  // namespace tok
}  // namespace kite
