#include "runtime/llm/tokenizer/pre_tokenizer.h"

#include <algorithm>

#include "runtime/llm/tokenizer/unicode.h"

namespace kite {
namespace tok {

namespace {

// GPT-2's pattern, what ByteLevel(use_regex=true) splits with.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// HF's Whitespace pre-tokenizer keeps the matches of this pattern.
constexpr const char* kWhitespacePattern = R"(\w+|[^\w\s]+)";

Result<SplitBehavior> ParseBehavior(const Json& stage, const std::string& where, SplitBehavior fallback) {
  std::string name;
  KITE_RETURN_IF_ERROR(GetString(stage, "behavior", where, &name));
  if (name.empty()) return fallback;
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  return Unsupported(where + ": behavior '" + name + "' is not supported");
}

struct Piece {
  size_t begin, end;
  bool is_match;
};

}  // namespace

void SplitAround(const PreToken& piece, const std::vector<Span>& matches, SplitBehavior behavior,
                 bool invert, std::vector<PreToken>* out) {
  // Cover the whole text with (span, is_match), as HF's Pattern::find_matches does.
  std::vector<Piece> parts;
  size_t last = 0;
  for (const Span& m : matches) {
    if (m.begin > last) parts.push_back({last, m.begin, invert});
    parts.push_back({m.begin, m.end, !invert});
    last = m.end;
  }
  if (last < piece.text.size()) parts.push_back({last, piece.text.size(), invert});

  // (span, remove) after the behavior is applied.
  std::vector<Piece> kept;
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const Piece& p : parts) kept.push_back({p.begin, p.end, false});
      break;
    case SplitBehavior::kRemoved:
      kept = parts;  // is_match now means "remove"
      break;
    case SplitBehavior::kContiguous:
      for (const Piece& p : parts) {
        if (!kept.empty() && p.is_match == previous_match) {
          kept.back().end = p.end;
        } else {
          kept.push_back({p.begin, p.end, false});
        }
        previous_match = p.is_match;
      }
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const Piece& p : parts) {
        if (!kept.empty() && p.is_match && !previous_match) {
          kept.back().end = p.end;
        } else {
          kept.push_back({p.begin, p.end, false});
        }
        previous_match = p.is_match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      for (size_t i = parts.size(); i-- > 0;) {
        const Piece& p = parts[i];
        if (!kept.empty() && p.is_match && !previous_match) {
          kept.back().begin = p.begin;
        } else {
          kept.push_back({p.begin, p.end, false});
        }
        previous_match = p.is_match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
  }
  for (const Piece& p : kept) {
    if (p.is_match || p.end <= p.begin) continue;
    out->push_back({piece.text.substr(p.begin, p.end - p.begin), piece.at_origin && p.begin == 0});
  }
}

PreTokenizer::~PreTokenizer() = default;

Result<std::unique_ptr<PreTokenizer>> PreTokenizer::Parse(std::string_view json_text) {
  std::unique_ptr<PreTokenizer> pre(new PreTokenizer());
  if (IsAbsentStage(json_text)) return pre;
  KITE_ASSIGN_OR_RETURN(Json stage, ParseJsonText(json_text, "pre_tokenizer"));
  KITE_RETURN_IF_ERROR(pre->AddStage(stage, "pre_tokenizer"));
  return pre;
}

Status PreTokenizer::AddStage(const Json& stage, const std::string& where) {
  if (stage.is_null()) return Status::Ok();
  KITE_ASSIGN_OR_RETURN(std::string type, StageType(stage, where));
  const std::string at = where + " (" + type + ")";
  Step step;
  if (type == "Sequence") {
    const Json* list = Field(stage, "pretokenizers");
    if (list == nullptr || !list->is_array()) return InvalidArgument(at + ": 'pretokenizers' must be a list");
    for (size_t i = 0; i < list->size(); ++i) {
      KITE_RETURN_IF_ERROR(AddStage((*list)[i], where + ".pretokenizers[" + std::to_string(i) + "]"));
    }
    return Status::Ok();
  } else if (type == "ByteLevel") {
    step.kind = Kind::kByteLevel;
    step.add_prefix_space = true;  // HF's defaults when the fields are missing
    bool use_regex = true;
    KITE_RETURN_IF_ERROR(GetBool(stage, "add_prefix_space", at, &step.add_prefix_space));
    KITE_RETURN_IF_ERROR(GetBool(stage, "use_regex", at, &use_regex));
    if (use_regex) {
      KITE_ASSIGN_OR_RETURN(step.regex, Regex::Compile(kGpt2Pattern));
    }
  } else if (type == "Split") {
    step.kind = Kind::kRegexSplit;
    std::string pattern;
    bool is_regex = false;
    KITE_RETURN_IF_ERROR(GetPattern(stage, at, &pattern, &is_regex));
    auto regex = is_regex ? Regex::Compile(pattern) : Regex::Literal(pattern);
    if (!regex.ok()) return InvalidArgument(at + ": " + regex.status().message());
    step.regex = std::move(regex).value();
    if (Field(stage, "behavior") == nullptr) return InvalidArgument(at + ": missing field 'behavior'");
    KITE_ASSIGN_OR_RETURN(step.behavior, ParseBehavior(stage, at, SplitBehavior::kIsolated));
    KITE_RETURN_IF_ERROR(GetBool(stage, "invert", at, &step.invert));
  } else if (type == "Digits") {
    step.kind = Kind::kCharSplit;
    step.char_class = CharClass::kNumeric;
    bool individual = false;
    KITE_RETURN_IF_ERROR(GetBool(stage, "individual_digits", at, &individual));
    step.behavior = individual ? SplitBehavior::kIsolated : SplitBehavior::kContiguous;
  } else if (type == "Punctuation") {
    step.kind = Kind::kCharSplit;
    step.char_class = CharClass::kPunctuation;
    KITE_ASSIGN_OR_RETURN(step.behavior, ParseBehavior(stage, at, SplitBehavior::kIsolated));
  } else if (type == "WhitespaceSplit") {
    step.kind = Kind::kCharSplit;
    step.char_class = CharClass::kWhitespace;
    step.behavior = SplitBehavior::kRemoved;
  } else if (type == "Whitespace") {
    step.kind = Kind::kRegexSplit;
    KITE_ASSIGN_OR_RETURN(step.regex, Regex::Compile(kWhitespacePattern));
    step.behavior = SplitBehavior::kRemoved;
    step.invert = true;  // keep the matches, drop what lies between them
  } else if (type == "BertPreTokenizer") {
    // Whitespace split, then every punctuation character on its own.
    Step ws;
    ws.kind = Kind::kCharSplit;
    ws.char_class = CharClass::kWhitespace;
    ws.behavior = SplitBehavior::kRemoved;
    steps_.push_back(std::move(ws));
    step.kind = Kind::kCharSplit;
    step.char_class = CharClass::kPunctuation;
    step.behavior = SplitBehavior::kIsolated;
  } else if (type == "Metaspace") {
    step.kind = Kind::kMetaspace;
    step.replacement = "\xE2\x96\x81";  // U+2581
    KITE_RETURN_IF_ERROR(GetString(stage, "replacement", at, &step.replacement));
    char32_t cp;
    size_t bad = 0;
    if (step.replacement.empty() || DecodeUtf8(step.replacement, 0, &cp, &bad) != step.replacement.size()) {
      return InvalidArgument(at + ": 'replacement' must be a single character");
    }
    std::string scheme;
    KITE_RETURN_IF_ERROR(GetString(stage, "prepend_scheme", at, &scheme));
    if (scheme.empty()) {  // older files: add_prefix_space true/false = always/never
      bool add_prefix_space = true;
      KITE_RETURN_IF_ERROR(GetBool(stage, "add_prefix_space", at, &add_prefix_space));
      step.prepend = add_prefix_space ? Prepend::kAlways : Prepend::kNever;
    } else if (scheme == "always") {
      step.prepend = Prepend::kAlways;
    } else if (scheme == "first") {
      step.prepend = Prepend::kFirst;
    } else if (scheme == "never") {
      step.prepend = Prepend::kNever;
    } else {
      return Unsupported(at + ": prepend_scheme '" + scheme + "' is not supported");
    }
    KITE_RETURN_IF_ERROR(GetBool(stage, "split", at, &step.split));
    KITE_ASSIGN_OR_RETURN(step.regex, Regex::Literal(step.replacement));
    step.behavior = SplitBehavior::kMergedWithNext;
  } else {
    return Unsupported(where + ": type '" + type +
                       "' is not supported (supported: Sequence, ByteLevel, Split, Digits, Metaspace, "
                       "Whitespace, WhitespaceSplit, Punctuation, BertPreTokenizer)");
  }
  steps_.push_back(std::move(step));
  return Status::Ok();
}

Status PreTokenizer::Apply(std::vector<PreToken>* pieces) const {
  for (const Step& step : steps_) KITE_RETURN_IF_ERROR(ApplyStep(step, pieces));
  return Status::Ok();
}

Status PreTokenizer::ApplyStep(const Step& step, std::vector<PreToken>* pieces) const {
  std::vector<PreToken> out;
  out.reserve(pieces->size() * 2);
  std::vector<Span> matches;
  for (PreToken& piece : *pieces) {
    matches.clear();
    switch (step.kind) {
      case Kind::kRegexSplit:
        KITE_RETURN_IF_ERROR(step.regex->FindAll(piece.text, &matches));
        SplitAround(piece, matches, step.behavior, step.invert, &out);
        break;
      case Kind::kCharSplit: {
        size_t i = 0;
        while (i < piece.text.size()) {
          char32_t cp;
          size_t n = NextCodePoint(piece.text, i, &cp);
          bool hit = step.char_class == CharClass::kNumeric      ? IsNumeric(cp)
                     : step.char_class == CharClass::kWhitespace ? IsWhitespace(cp)
                                                                 : IsPunctuation(cp);
          if (hit) matches.push_back({i, i + n});  // one match per character, as HF's char patterns
          i += n;
        }
        SplitAround(piece, matches, step.behavior, step.invert, &out);
        break;
      }
      case Kind::kMetaspace: {
        PreToken replaced{std::string(), piece.at_origin};
        replaced.text.reserve(piece.text.size() + 3);
        for (char c : piece.text) {
          if (c == ' ') {
            replaced.text += step.replacement;
          } else {
            replaced.text.push_back(c);
          }
        }
        const bool starts = replaced.text.compare(0, step.replacement.size(), step.replacement) == 0;
        if (!starts && (step.prepend == Prepend::kAlways ||
                        (step.prepend == Prepend::kFirst && replaced.at_origin))) {
          replaced.text.insert(0, step.replacement);
        }
        if (step.split) {
          KITE_RETURN_IF_ERROR(step.regex->FindAll(replaced.text, &matches));
          SplitAround(replaced, matches, SplitBehavior::kMergedWithNext, false, &out);
        } else if (!replaced.text.empty()) {
          out.push_back(std::move(replaced));
        }
        break;
      }
      case Kind::kByteLevel: {
        if (step.add_prefix_space && (piece.text.empty() || piece.text[0] != ' ')) {
          piece.text.insert(0, 1, ' ');
        }
        const size_t first = out.size();
        if (step.regex != nullptr) {
          KITE_RETURN_IF_ERROR(step.regex->FindAll(piece.text, &matches));
          SplitAround(piece, matches, SplitBehavior::kIsolated, false, &out);
        } else if (!piece.text.empty()) {
          out.push_back(std::move(piece));
        }
        // Every byte becomes its printable stand-in so BPE sees no raw bytes.
        for (size_t k = first; k < out.size(); ++k) {
          std::string mapped;
          mapped.reserve(out[k].text.size() * 2);
          for (char c : out[k].text) mapped += ByteToUnicode(static_cast<uint8_t>(c));
          out[k].text = std::move(mapped);
        }
        break;
      }
    }
  }
  *pieces = std::move(out);
  return Status::Ok();
}

}  // namespace tok
}  // namespace kite
