// Stage semantics on small hand-made inputs, with expectations taken from the
// Hugging Face tokenizers documentation and its own unit tests.
#include <algorithm>

#include <gtest/gtest.h>

#include "runtime/llm/tokenizer/decoder.h"
#include "runtime/llm/tokenizer/normalizer.h"
#include "runtime/llm/tokenizer/pre_tokenizer.h"
#include "runtime/llm/tokenizer/tokenizer.h"
#include "runtime/llm/tokenizer/unicode.h"
#include "tests/unit/tokenizer/tokenizer_test_util.h"

namespace kite {
namespace testing {
namespace {

std::vector<std::string> PreTokenize(const std::string& stage_json, const std::string& text, bool at_origin = true) {
  auto pre = tok::PreTokenizer::Parse(stage_json);
  EXPECT_TRUE(pre.ok()) << pre.status().ToString();
  if (!pre.ok()) return {};
  std::vector<tok::PreToken> pieces = {{text, at_origin}};
  Status s = (*pre)->Apply(&pieces);
  EXPECT_TRUE(s.ok()) << s.ToString();
  std::vector<std::string> out;
  for (const auto& p : pieces) out.push_back(p.text);
  return out;
}

std::string Normalize(const std::string& stage_json, const std::string& text) {
  auto normalizer = tok::Normalizer::Parse(stage_json);
  EXPECT_TRUE(normalizer.ok()) << normalizer.status().ToString();
  if (!normalizer.ok()) return "<error>";
  std::string out = text;
  EXPECT_TRUE((*normalizer)->Apply(&out).ok());
  return out;
}

std::string DecodeTokens(const std::string& stage_json, std::vector<std::string> tokens) {
  auto decoder = tok::Decoder::Parse(stage_json);
  EXPECT_TRUE(decoder.ok()) << decoder.status().ToString();
  if (!decoder.ok()) return "<error>";
  auto text = (*decoder)->Decode(std::move(tokens));
  EXPECT_TRUE(text.ok());
  return text.ok() ? *text : "<error>";
}

using Strings = std::vector<std::string>;

std::string SplitStage(const std::string& behavior, bool invert = false, const std::string& pattern = R"({"String":"-"})") {
  return R"({"type":"Split","pattern":)" + pattern + R"(,"behavior":")" + behavior + R"(","invert":)" +
         (invert ? "true" : "false") + "}";
}

TEST(TokenizerStages, SplitBehaviorsMatchHfDocs) {
  const std::string text = "the-final--countdown";
  EXPECT_EQ(PreTokenize(SplitStage("Removed"), text), Strings({"the", "final", "countdown"}));
  EXPECT_EQ(PreTokenize(SplitStage("Isolated"), text), Strings({"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(PreTokenize(SplitStage("MergedWithPrevious"), text), Strings({"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(PreTokenize(SplitStage("MergedWithNext"), text), Strings({"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(PreTokenize(SplitStage("Contiguous"), text), Strings({"the", "-", "final", "--", "countdown"}));
  // invert: the pattern describes what to keep.
  EXPECT_EQ(PreTokenize(SplitStage("Removed", true, R"({"Regex":"\\d+"})"), "ab12cd345"), Strings({"12", "345"}));
}

TEST(TokenizerStages, DigitsWhitespacePunctuation) {
  EXPECT_EQ(PreTokenize(R"({"type":"Digits","individual_digits":true})", "a123b"), Strings({"a", "1", "2", "3", "b"}));
  EXPECT_EQ(PreTokenize(R"({"type":"Digits","individual_digits":false})", "a123b½"), Strings({"a", "123", "b", "½"}));
  EXPECT_EQ(PreTokenize(R"({"type":"Whitespace"})", "Hey friend!  How are you?!?"),
            Strings({"Hey", "friend", "!", "How", "are", "you", "?!?"}));
  EXPECT_EQ(PreTokenize(R"({"type":"WhitespaceSplit"})", "Hey friend!  How are you?!?"),
            Strings({"Hey", "friend!", "How", "are", "you?!?"}));
  EXPECT_EQ(PreTokenize(R"({"type":"Punctuation","behavior":"Isolated"})", "Hey friend!?"),
            Strings({"Hey friend", "!", "?"}));
}

TEST(TokenizerStages, MetaspacePrependSchemes) {
  const std::string always = R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true})";
  EXPECT_EQ(PreTokenize(always, "Hey friend!"), Strings({"▁Hey", "▁friend!"}));
  EXPECT_EQ(PreTokenize(always, "Hey   friend!"), Strings({"▁Hey", "▁", "▁", "▁friend!"}));
  const std::string first = R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":false})";
  EXPECT_EQ(PreTokenize(first, "Hey friend", /*at_origin=*/true), Strings({"▁Hey▁friend"}));
  EXPECT_EQ(PreTokenize(first, "Hey friend", /*at_origin=*/false), Strings({"Hey▁friend"}));
  const std::string legacy = R"({"type":"Metaspace","replacement":"▁","add_prefix_space":false})";
  EXPECT_EQ(PreTokenize(legacy, "Hey friend"), Strings({"Hey", "▁friend"}));
}

TEST(TokenizerStages, ByteLevelPreTokenizer) {
  EXPECT_EQ(PreTokenize(R"({"type":"ByteLevel","add_prefix_space":true,"use_regex":true})", "Hello world"),
            Strings({"ĠHello", "Ġworld"}));
  EXPECT_EQ(PreTokenize(R"({"type":"ByteLevel","add_prefix_space":false,"use_regex":true})", "Hello  world's"),
            Strings({"Hello", "Ġ", "Ġworld", "'s"}));
  EXPECT_EQ(PreTokenize(R"({"type":"ByteLevel","add_prefix_space":false,"use_regex":false})", "a b\n"),
            Strings({"aĠbĊ"}));
}

TEST(TokenizerStages, Normalizers) {
  EXPECT_EQ(Normalize(R"({"type":"Lowercase"})", "HeLLo İ ΣΑ"), "hello i\xCC\x87 σα");
  EXPECT_EQ(Normalize(R"({"type":"NFC"})", "e\xCC\x81"), "\xC3\xA9");
  EXPECT_EQ(Normalize(R"({"type":"NFD"})", "\xC3\xA9"), "e\xCC\x81");
  EXPECT_EQ(Normalize(R"({"type":"NFKC"})", "ﬁ①"), "fi1");
  EXPECT_EQ(Normalize(R"({"type":"Sequence","normalizers":[{"type":"NFD"},{"type":"StripAccents"}]})", "café"), "cafe");
  EXPECT_EQ(Normalize(R"({"type":"Strip","strip_left":true,"strip_right":false})", " \t x \n"), "x \n");
  EXPECT_EQ(Normalize(R"({"type":"Strip","strip_left":true,"strip_right":true})", "\u3000 x \u2003"), "x");
  EXPECT_EQ(Normalize(R"({"type":"Replace","pattern":{"Regex":" {2,}"},"content":" "})", "a   b  c d"), "a b c d");
  EXPECT_EQ(Normalize(R"({"type":"Replace","pattern":{"String":"$1"},"content":"x"})", "a$1b"), "axb");
  EXPECT_EQ(Normalize(R"({"type":"Prepend","prepend":"▁"})", ""), "");  // HF leaves empty text alone
  EXPECT_EQ(Normalize(R"({"type":"Prepend","prepend":"▁"})", "a"), "▁a");
  EXPECT_EQ(Normalize("null", "Unchanged"), "Unchanged");
}

TEST(TokenizerStages, Decoders) {
  // ByteFallback: an invalid run becomes one U+FFFD per byte, as in HF.
  EXPECT_EQ(DecodeTokens(R"({"type":"ByteFallback"})", {"<0xE2>", "<0x82>", "a", "<0xE2>", "<0x82>", "<0xAC>"}),
            "\xEF\xBF\xBD\xEF\xBF\xBD" "a€");
  EXPECT_EQ(DecodeTokens(R"({"type":"Strip","content":" ","start":1,"stop":1})", {"  a  "}), " a ");
  EXPECT_EQ(DecodeTokens(R"({"type":"Strip","content":" ","start":3,"stop":3})", {" "}), "");
  EXPECT_EQ(DecodeTokens(R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"always"})", {"▁Hey", "▁friend!"}),
            "Hey friend!");
  EXPECT_EQ(DecodeTokens(R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"never"})", {"▁Hey"}), " Hey");
  EXPECT_EQ(DecodeTokens(R"({"type":"BPEDecoder","suffix":"</w>"})", {"hello</w>", "wor", "ld</w>"}), "hello world");
  // ByteLevel: invalid UTF-8 becomes U+FFFD; tokens outside the byte table pass through.
  EXPECT_EQ(DecodeTokens(R"({"type":"ByteLevel"})", {"Ġhi", "âĢ", "<|x|>"}), " hi\xEF\xBF\xBD<|x|>");
  EXPECT_EQ(DecodeTokens("", {"a", "b"}), "a b");  // no decoder: HF joins with spaces
}

// A BPE spec whose vocab is `tokens` (ids in order) and whose merges are given as text pairs.
TokenizerSpec MakeSpec(const Strings& tokens, const std::vector<std::pair<std::string, std::string>>& merges) {
  TokenizerSpec spec;
  spec.vocab = tokens;
  auto id = [&](const std::string& t) {
    return static_cast<uint32_t>(std::find(tokens.begin(), tokens.end(), t) - tokens.begin());
  };
  for (const auto& m : merges) spec.merges.emplace_back(id(m.first), id(m.second));
  return spec;
}

std::vector<int32_t> EncodeWith(const TokenizerSpec& spec, const std::string& text, bool parse_special = true,
                                bool add_special = false) {
  auto tokenizer = Tokenizer::Create(spec);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  if (!tokenizer.ok()) return {};
  auto ids = (*tokenizer)->Encode(text, parse_special, add_special);
  EXPECT_TRUE(ids.ok()) << ids.status().ToString();
  return ids.ok() ? *ids : std::vector<int32_t>{};
}

TEST(TokenizerStages, BpeMergeOrderUnkAndFallback) {
  // ids: a0 b1 c2 ab3 bc4 abc5 <unk>6
  TokenizerSpec spec = MakeSpec({"a", "b", "c", "ab", "bc", "abc", "<unk>"}, {{"b", "c"}, {"a", "bc"}, {"a", "b"}});
  EXPECT_EQ(EncodeWith(spec, "abc"), std::vector<int32_t>({5}));     // b+c first (rank 0), then a+bc
  EXPECT_EQ(EncodeWith(spec, "abab"), std::vector<int32_t>({3, 3}));
  spec.unk_id = 6;
  EXPECT_EQ(EncodeWith(spec, "axyb"), std::vector<int32_t>({0, 6, 6, 1}));
  spec.fuse_unk = true;
  EXPECT_EQ(EncodeWith(spec, "axyb"), std::vector<int32_t>({0, 6, 1}));
  spec.unk_id = -1;
  // No <unk>: HF drops the characters, and their neighbours then merge.
  EXPECT_EQ(EncodeWith(spec, "axyb"), std::vector<int32_t>({3}));

  // ignore_merges: a word already in the vocabulary is taken whole.
  TokenizerSpec whole = MakeSpec({"a", "b", "c", "ab", "abc"}, {{"a", "b"}});
  EXPECT_EQ(EncodeWith(whole, "abc"), std::vector<int32_t>({3, 2}));
  whole.ignore_merges = true;
  EXPECT_EQ(EncodeWith(whole, "abc"), std::vector<int32_t>({4}));

  // byte_fallback: unknown characters become <0xXX> tokens, which merges may join.
  TokenizerSpec bytes = MakeSpec({"<0xC3>", "<0xA9>", "x"}, {});
  bytes.byte_fallback = true;
  EXPECT_EQ(EncodeWith(bytes, "xé"), std::vector<int32_t>({2, 0, 1}));
}

TEST(TokenizerStages, ContinuingSubwordPrefixAndSuffix) {
  TokenizerSpec spec = MakeSpec({"h", "##e", "##y", "he", "hey"}, {{"h", "##e"}, {"he", "##y"}});
  spec.continuing_subword_prefix = "##";
  EXPECT_EQ(EncodeWith(spec, "hey"), std::vector<int32_t>({4}));
  TokenizerSpec suffix = MakeSpec({"h", "i</w>", "hi</w>"}, {{"h", "i</w>"}});
  suffix.end_of_word_suffix = "</w>";
  EXPECT_EQ(EncodeWith(suffix, "hi"), std::vector<int32_t>({2}));
}

TEST(TokenizerStages, AddedTokenOptionsLikeHf) {
  // HF's added_vocabulary.rs "options_use_cases": whole words in the vocab (ignore_merges).
  TokenizerSpec spec = MakeSpec({"is", "anthony", "[CLS]", "[SEP]", "my", "name", "ony", "<unk>"}, {});
  spec.ignore_merges = true;
  spec.unk_id = 7;
  spec.fuse_unk = true;
  spec.normalizer_json = R"({"type":"Lowercase"})";
  spec.pre_tokenizer_json = R"({"type":"WhitespaceSplit"})";
  auto added = [](uint32_t id, const char* content, bool special, bool normalized) {
    AddedTokenSpec a;
    a.id = id;
    a.content = content;
    a.special = special;
    a.normalized = normalized;
    return a;
  };
  spec.added_tokens = {added(2, "[CLS]", true, false), added(3, "[SEP]", true, false), added(4, "my", false, true),
                       added(5, "name", false, false), added(6, "ony", false, true)};
  spec.added_tokens[2].lstrip = spec.added_tokens[2].rstrip = true;
  spec.added_tokens[4].single_word = true;
  EXPECT_EQ(EncodeWith(spec, "[CLS] My name is Anthony [SEP]"), std::vector<int32_t>({2, 4, 5, 0, 1, 3}));
  // parse_special=false: [CLS] is plain text ("[cls]" is unknown), "name" still matches.
  EXPECT_EQ(EncodeWith(spec, "[CLS] name", /*parse_special=*/false), std::vector<int32_t>({7, 5}));
  // single_word: "ony" only as a whole word.
  EXPECT_EQ(EncodeWith(spec, "ony anthony"), std::vector<int32_t>({6, 1}));
}

TEST(TokenizerStages, TemplateAndFlagsAddSpecials) {
  TokenizerSpec spec = MakeSpec({"<s>", "</s>", "a"}, {});
  spec.bos_id = 0;
  spec.eos_id = 1;
  spec.add_bos = true;
  spec.add_eos = true;
  EXPECT_EQ(EncodeWith(spec, "a", true, true), std::vector<int32_t>({0, 2, 1}));
  EXPECT_EQ(EncodeWith(spec, "a", true, false), std::vector<int32_t>({2}));
  spec.post_processor_json = R"({"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"</s>","type_id":0}},
      {"Sequence":{"id":"A","type_id":0}}],"special_tokens":{"</s>":{"id":"</s>","ids":[1],"tokens":["</s>"]}}})";
  EXPECT_EQ(EncodeWith(spec, "a", true, true), std::vector<int32_t>({1, 2}));  // the template wins
  spec.post_processor_json = R"({"type":"RobertaProcessing","sep":["</s>",1],"cls":["<s>",0]})";
  EXPECT_EQ(EncodeWith(spec, "a", true, true), std::vector<int32_t>({0, 2, 1}));
}

TEST(TokenizerStages, Utf8Helpers) {
  // Rust's from_utf8_lossy: one U+FFFD per maximal ill-formed subpart.
  EXPECT_EQ(tok::Utf8Lossy("a\xF0\x9F\x98" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(tok::Utf8Lossy("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(tok::Utf8Lossy("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(tok::FindInvalidUtf8("ok \xE2\x82"), 3u);
  EXPECT_EQ(tok::FindInvalidUtf8("é€😀"), std::string::npos);
  EXPECT_TRUE(tok::IsNumeric(U'½'));
  EXPECT_TRUE(tok::IsWhitespace(0x3000));
  EXPECT_FALSE(tok::IsWhitespace(0x200B));
  for (int b = 0; b < 256; ++b) {
    char32_t cp;
    tok::NextCodePoint(tok::ByteToUnicode(static_cast<uint8_t>(b)), 0, &cp);
    EXPECT_EQ(tok::UnicodeToByte(cp), b);
  }
}

}  // namespace
}  // namespace testing
}  // namespace kite
