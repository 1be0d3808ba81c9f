// Bad files, bad specs, bad ids and bad text: every one is an error Status with
// a message naming what is wrong, never a crash or an exception.
#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "converter/tokenizer/hf_tokenizer.h"
#include "runtime/core/file.h"
#include "runtime/llm/tokenizer/tokenizer.h"
#include "tests/test_paths.h"
#include "tests/unit/tokenizer/tokenizer_test_util.h"

namespace kite {
namespace testing {
namespace {

// A fresh folder holding the given files.
std::string MakeDir(const std::string& name, const std::vector<std::pair<std::string, std::string>>& files) {
  const std::string dir = TempPath(name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  for (const auto& file : files) {
    std::ofstream out(dir + "/" + file.first, std::ios::binary);
    out << file.second;
  }
  return dir;
}

std::string ReadShared(const std::string& rel) {
  auto text = ReadTextFile(SharedPath(rel));
  EXPECT_TRUE(text.ok());
  return text.ok() ? *text : std::string();
}

// A minimal valid tokenizer.json whose model section is `model`.
std::string TokenizerJson(const std::string& model, const std::string& extra = "") {
  return R"({"version":"1.0",)" + extra + R"("model":)" + model + "}";
}

constexpr const char* kTinyModel = R"({"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]})";

void ExpectError(const Result<TokenizerSpec>& result, StatusCode code, const std::string& fragment) {
  ASSERT_FALSE(result.ok()) << "expected an error containing '" << fragment << "'";
  EXPECT_EQ(result.status().code(), code) << result.status().ToString();
  EXPECT_NE(result.status().message().find(fragment), std::string::npos)
      << "message '" << result.status().message() << "' lacks '" << fragment << "'";
}

TEST(TokenizerBadInput, MissingFiles) {
  ExpectError(LoadHfTokenizer("/nonexistent/kite/tokenizer"), StatusCode::kNotFound, "no tokenizer.json");
  const std::string only_vocab = MakeDir("only_vocab", {{"vocab.json", R"({"a":0})"}});
  ExpectError(LoadHfTokenizer(only_vocab), StatusCode::kNotFound, "no tokenizer.json");
  const std::string spm = MakeDir("spm_only", {{"tokenizer.model", "x"}});
  ExpectError(LoadHfTokenizer(spm), StatusCode::kUnsupported, "tokenizer.model");
}

TEST(TokenizerBadInput, MalformedTokenizerJson) {
  ExpectError(LoadHfTokenizer(MakeDir("malformed", {{"tokenizer.json", "{\"model\": {"}})),
              StatusCode::kInvalidArgument, "tokenizer.json: not valid JSON");
  ExpectError(LoadHfTokenizer(MakeDir("toplevel", {{"tokenizer.json", "[1, 2]"}})), StatusCode::kInvalidArgument,
              "top level");
  ExpectError(LoadHfTokenizer(MakeDir("nomodel", {{"tokenizer.json", "{}"}})), StatusCode::kInvalidArgument,
              "'model'");
  ExpectError(LoadHfTokenizer(MakeDir("badvocab", {{"tokenizer.json", TokenizerJson(
                                                        R"({"type":"BPE","vocab":{"a":"x"},"merges":[]})")}})),
              StatusCode::kInvalidArgument, "model.vocab['a']");
  ExpectError(LoadHfTokenizer(MakeDir("badmerge", {{"tokenizer.json", TokenizerJson(
                                                        R"({"type":"BPE","vocab":{"a":0},"merges":["a zz"]})")}})),
              StatusCode::kInvalidArgument, "model.merges[0]: 'zz' is not in the vocabulary");
  ExpectError(LoadHfTokenizer(MakeDir("merge_out", {{"tokenizer.json", TokenizerJson(
                                                         R"({"type":"BPE","vocab":{"a":0,"b":1},"merges":["a b"]})")}})),
              StatusCode::kInvalidArgument, "merged token 'ab' is not in the vocabulary");
  ExpectError(LoadHfTokenizer(MakeDir("badadded", {{"tokenizer.json", TokenizerJson(kTinyModel,
                                                         R"("added_tokens":[{"id":-4,"content":"x"}],)")}})),
              StatusCode::kInvalidArgument, "added_tokens[0]");
  ExpectError(LoadHfTokenizer(MakeDir("badunk", {{"tokenizer.json", TokenizerJson(
                                                      R"({"type":"BPE","vocab":{"a":0},"merges":[],"unk_token":"<unk>"})")}})),
              StatusCode::kInvalidArgument, "model.unk_token '<unk>'");
}

TEST(TokenizerBadInput, UnsupportedModelAndStages) {
  ExpectError(LoadHfTokenizer(MakeDir("unigram", {{"tokenizer.json", TokenizerJson(
                                                       R"({"type":"Unigram","vocab":[["a",0.0]]})")}})),
              StatusCode::kUnsupported, "tokenizer.json: model.type 'Unigram' is not supported (BPE only)");
  ExpectError(LoadHfTokenizer(MakeDir("wordpiece", {{"tokenizer.json", TokenizerJson(
                                                         R"({"type":"WordPiece","vocab":{"a":0}})")}})),
              StatusCode::kUnsupported, "model.type 'WordPiece' is not supported");
  ExpectError(LoadHfTokenizer(MakeDir("precompiled", {{"tokenizer.json", TokenizerJson(kTinyModel,
                  R"("normalizer":{"type":"Precompiled","precompiled_charsmap":""},)")}})),
              StatusCode::kUnsupported, "tokenizer.json: normalizer: type 'Precompiled' is not supported");
  ExpectError(LoadHfTokenizer(MakeDir("badregex", {{"tokenizer.json", TokenizerJson(kTinyModel,
                  R"("pre_tokenizer":{"type":"Split","pattern":{"Regex":"(unclosed"},"behavior":"Isolated"},)")}})),
              StatusCode::kInvalidArgument, "pre_tokenizer (Split)");
  ExpectError(LoadHfTokenizer(MakeDir("badtype", {{"tokenizer.json", TokenizerJson(kTinyModel,
                  R"("decoder":{"type":"Strip","content":" ","start":"one","stop":0},)")}})),
              StatusCode::kInvalidArgument, "decoder (Strip): field 'start' must be an integer");
  ExpectError(LoadHfTokenizer(MakeDir("badtemplate", {{"tokenizer.json", TokenizerJson(kTinyModel,
                  R"("post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>"}},
                     {"Sequence":{"id":"A"}}],"special_tokens":{"<s>":{"ids":[99]}}},)")}})),
              StatusCode::kInvalidArgument, "outside the vocabulary");
}

TEST(TokenizerBadInput, BadTokenizerConfig) {
  const std::string vocab = R"({"a":0,"b":1,"ab":2})";
  ExpectError(LoadHfTokenizer(MakeDir("badclass", {{"vocab.json", vocab}, {"merges.txt", "#version: 0.2\na b\n"},
                                                   {"tokenizer_config.json", R"({"tokenizer_class":"T5Tokenizer"})"}})),
              StatusCode::kUnsupported, "tokenizer_class 'T5Tokenizer' is not supported");
  ExpectError(LoadHfTokenizer(MakeDir("badmergeline", {{"vocab.json", vocab}, {"merges.txt", "a b\nab\n"}})),
              StatusCode::kInvalidArgument, "merges.txt line 2");
  ExpectError(LoadHfTokenizer(MakeDir("badbos", {{"vocab.json", vocab}, {"merges.txt", "a b\n"},
                                                 {"tokenizer_config.json", R"({"bos_token":"<s>"})"}})),
              StatusCode::kInvalidArgument, "bos_token '<s>' is not in the vocabulary");
  ExpectError(LoadHfTokenizer(MakeDir("addbos", {{"vocab.json", vocab}, {"merges.txt", "a b\n"},
                                                 {"tokenizer_config.json", R"({"add_bos_token":true})"}})),
              StatusCode::kInvalidArgument, "add_bos_token is true but there is no bos_token");
  ExpectError(LoadHfTokenizer(MakeDir("badconfigjson", {{"vocab.json", vocab}, {"merges.txt", "a b\n"},
                                                        {"tokenizer_config.json", "{,}"}})),
              StatusCode::kInvalidArgument, "tokenizer_config.json: not valid JSON");
  ExpectError(LoadHfTokenizer(MakeDir("conflict", {{"vocab.json", vocab}, {"merges.txt", "a b\n"},
                  {"tokenizer_config.json", R"({"added_tokens_decoder":{"1":{"content":"<x>","special":true}}})"}})),
              StatusCode::kInvalidArgument, "added_tokens_decoder['1']");
  // A good small folder loads, with its added token past the vocab.
  auto good = LoadHfTokenizer(MakeDir("good", {{"vocab.json", vocab}, {"merges.txt", "#version: 0.2\r\na b\r\n"},
      {"tokenizer_config.json", R"({"added_tokens_decoder":{"3":{"content":"<e>","special":true}},"eos_token":{"content":"<e>"}})"}}));
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ(good->vocab.size(), 4u);
  EXPECT_EQ(good->eos_id, 3);
}

TEST(TokenizerBadInput, TruncatedFilesNeverCrash) {
  // Every prefix cut of a real tokenizer.json must fail cleanly.
  const std::string full = ReadShared("models/stories260K/hf/tokenizer.json");
  ASSERT_GT(full.size(), 1000u);
  for (size_t cut = 0; cut < full.size(); cut += full.size() / 97 + 1) {
    auto result = LoadHfTokenizer(MakeDir("cut", {{"tokenizer.json", full.substr(0, cut)}}));
    EXPECT_FALSE(result.ok()) << "cut at " << cut;
  }
}

TEST(TokenizerBadInput, BadSpecsAreRejected) {
  TokenizerSpec base;
  base.vocab = {"a", "b", "ab"};
  base.merges = {{0, 1}};
  ASSERT_TRUE(Tokenizer::Create(base).ok());
  auto expect_bad = [&](TokenizerSpec spec, const std::string& fragment) {
    auto t = Tokenizer::Create(spec);
    ASSERT_FALSE(t.ok()) << "expected an error containing '" << fragment << "'";
    EXPECT_NE(t.status().message().find(fragment), std::string::npos) << t.status().message();
  };
  TokenizerSpec s = base;
  s.model_type = "Unigram";
  expect_bad(s, "not supported (BPE only)");
  s = base;
  s.merges = {{0, 7}};
  expect_bad(s, "outside the vocabulary");
  s = base;
  s.bos_id = 3;
  expect_bad(s, "bos/eos id 3");
  s = base;
  s.unk_id = 9;
  expect_bad(s, "unk_id 9");
  s = base;
  s.added_tokens = {AddedTokenSpec{1u << 30, "x"}};
  expect_bad(s, "beyond any vocabulary");
  s = base;
  s.vocab[1] = "\xFF";
  expect_bad(s, "not valid UTF-8");
  for (const char* stage : {"{", "[]", R"({"type":5})", R"({"type":"Sequence","normalizers":3})",
                            R"({"type":"Replace","pattern":{"Regex":"["},"content":""})", R"({"type":"NoSuch"})"}) {
    s = base;
    s.normalizer_json = stage;
    EXPECT_FALSE(Tokenizer::Create(s).ok()) << stage;
    s = base;
    s.pre_tokenizer_json = stage;
    EXPECT_FALSE(Tokenizer::Create(s).ok()) << stage;
    s = base;
    s.decoder_json = stage;
    EXPECT_FALSE(Tokenizer::Create(s).ok()) << stage;
    s = base;
    s.post_processor_json = stage;
    EXPECT_FALSE(Tokenizer::Create(s).ok()) << stage;
  }
}

TEST(TokenizerBadInput, BadIdsAndBadText) {
  auto tokenizer = LoadTokenizer(ModelDir("tokenizers/qwen2.5"));
  ASSERT_NE(tokenizer, nullptr);
  for (int32_t id : {-1, tokenizer->vocab_size(), 1 << 30}) {
    auto text = tokenizer->Decode({9707, id});
    ASSERT_FALSE(text.ok());
    EXPECT_EQ(text.status().code(), StatusCode::kOutOfRange);
    EXPECT_NE(text.status().message().find(std::to_string(id)), std::string::npos);
    StreamingDecoder stream(*tokenizer);
    EXPECT_FALSE(stream.Push(id).ok());
  }
  for (const char* bad : {"\xFF", "ok\xC3", "\xED\xA0\x80 surrogate", "\xC0\xAF overlong", "\x80", "a\xF4\x90\x80\x80"}) {
    auto ids = tokenizer->Encode(bad);
    ASSERT_FALSE(ids.ok()) << Printable(bad);
    EXPECT_EQ(ids.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(ids.status().message().find("not valid UTF-8 at byte"), std::string::npos);
  }
  // Embedded NULs and control characters are valid text.
  auto nul = tokenizer->Encode(std::string("a\0b", 3));
  ASSERT_TRUE(nul.ok());
  auto back = tokenizer->Decode(*nul);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, std::string("a\0b", 3));
}

TEST(TokenizerBadInput, RandomBytesNeverCrash) {
  std::vector<std::unique_ptr<Tokenizer>> tokenizers;
  tokenizers.push_back(LoadTokenizer(ModelDir("tokenizers/qwen2.5")));
  tokenizers.push_back(LoadTokenizer(ModelDir("tokenizers/llama2-spm")));
  std::mt19937 rng(1234);
  for (const auto& tokenizer : tokenizers) {
    ASSERT_NE(tokenizer, nullptr);
    for (int round = 0; round < 300; ++round) {
      std::string text(rng() % 64, '\0');
      for (char& c : text) c = static_cast<char>(rng() % 3 == 0 ? rng() % 256 : "a <|>\n\xC3\xA9 "[rng() % 10]);
      auto ids = tokenizer->Encode(text, rng() % 2 == 0);
      if (!ids.ok()) continue;  // invalid UTF-8 is an error, which is fine
      auto back = tokenizer->Decode(*ids);
      ASSERT_TRUE(back.ok());
      StreamingDecoder stream(*tokenizer);
      std::string streamed;
      for (int32_t id : *ids) {
        auto piece = stream.Push(id);
        ASSERT_TRUE(piece.ok());
        streamed += *piece;
      }
      EXPECT_EQ(streamed + stream.Flush(), *back) << Printable(text);
    }
  }
}

}  // namespace
}  // namespace testing
}  // namespace kite
