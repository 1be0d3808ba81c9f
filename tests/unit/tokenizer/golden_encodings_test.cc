// Every reference encoding in ../shared/models must be reproduced exactly, must
// decode back to its text, and must stream-decode to what Decode gives.
#include <algorithm>

#include <gtest/gtest.h>

#include "runtime/core/file.h"
#include "tests/test_paths.h"
#include "tests/unit/tokenizer/tokenizer_test_util.h"

namespace kite {
namespace testing {
namespace {

void CheckTokenizerFolder(const std::string& name, const GoldenOptions& options, size_t expected_cases) {
  auto tokenizer = LoadTokenizer(ModelDir("tokenizers/" + name));
  ASSERT_NE(tokenizer, nullptr);
  auto cases = ReadCases(ModelDir("tokenizers/" + name + "/reference/encodings.json"));
  EXPECT_EQ(cases.size(), expected_cases);  // the reference files say how many they hold
  EXPECT_EQ(CheckGoldenCases(*tokenizer, cases, options), static_cast<int>(cases.size()));
}

TEST(TokenizerGolden, Gpt2Encodings) { CheckTokenizerFolder("gpt2", {}, 57); }

TEST(TokenizerGolden, StarcoderEncodings) { CheckTokenizerFolder("starcoder", {}, 57); }

TEST(TokenizerGolden, Llama2SpmEncodings) { CheckTokenizerFolder("llama2-spm", {}, 57); }

TEST(TokenizerGolden, Qwen25Encodings) {
  GoldenOptions options;
  options.nfc_round_trip = true;  // the NFC normalizer makes decode(encode(x)) == NFC(x)
  CheckTokenizerFolder("qwen2.5", options, 83);
}

TEST(TokenizerGolden, Qwen25ChatEncodings) {
  auto tokenizer = LoadTokenizer(ModelDir("tokenizers/qwen2.5"));
  ASSERT_NE(tokenizer, nullptr);
  auto cases = ReadCases(ModelDir("tokenizers/qwen2.5/reference/chat_encodings.json"));
  EXPECT_EQ(cases.size(), 8u);
  GoldenOptions options;
  options.nfc_round_trip = true;
  EXPECT_EQ(CheckGoldenCases(*tokenizer, cases, options), static_cast<int>(cases.size()));
}

TEST(TokenizerGolden, Stories260KEncodingsWithBos) {
  auto tokenizer = LoadTokenizer(ModelDir("stories260K/hf"));
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->bos_id(), 1);
  EXPECT_EQ(tokenizer->eos_id(), 2);
  EXPECT_TRUE(tokenizer->add_bos());
  auto cases = ReadCases(ModelDir("stories260K/reference/encodings.json"), "cases");
  EXPECT_EQ(cases.size(), 21u);
  GoldenOptions options;
  options.add_special = true;               // the reference ids start with BOS
  options.skip_special_in_round_trip = true;  // so that decode gives the text back
  EXPECT_EQ(CheckGoldenCases(*tokenizer, cases, options), static_cast<int>(cases.size()));
}

// BOS/EOS found without a tokenizer_config.json (template or special-token names) agree
// with what llama.cpp's GGUF of the same vocabulary records.
TEST(TokenizerGolden, SpecialIdsMatchGgufMetadata) {
  for (const std::string name : {"gpt2", "starcoder", "llama2-spm"}) {
    SCOPED_TRACE(name);
    auto tokenizer = LoadTokenizer(ModelDir("tokenizers/" + name));
    ASSERT_NE(tokenizer, nullptr);
    auto text = ReadTextFile(ModelDir("tokenizers/" + name + "/gguf_metadata.json"));
    ASSERT_TRUE(text.ok());
    const nlohmann::json meta = nlohmann::json::parse(*text, nullptr, false);
    ASSERT_TRUE(meta.is_object());
    EXPECT_EQ(tokenizer->bos_id(), meta.value("tokenizer.ggml.bos_token_id", -2));
    EXPECT_EQ(tokenizer->eos_id(), meta.value("tokenizer.ggml.eos_token_id", -2));
    EXPECT_EQ(tokenizer->add_bos(), meta.value("tokenizer.ggml.add_bos_token", false));
  }
}

TEST(TokenizerGolden, QwenSpecialTokenTable) {
  auto tokenizer = LoadTokenizer(ModelDir("tokenizers/qwen2.5"));
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->vocab_size(), 151665);
  EXPECT_EQ(tokenizer->bos_id(), -1);
  EXPECT_EQ(tokenizer->eos_id(), 151645);  // <|im_end|>
  EXPECT_FALSE(tokenizer->add_bos());
  EXPECT_EQ(tokenizer->TokenId("<|im_start|>"), 151644);
  EXPECT_EQ(tokenizer->TokenId("<tool_call>"), 151657);
  EXPECT_EQ(tokenizer->TokenId("no such token"), -1);
  EXPECT_EQ(tokenizer->TokenText(151643), "<|endoftext|>");
  EXPECT_EQ(tokenizer->TokenText(151665), "");
  EXPECT_TRUE(tokenizer->IsSpecial(151644));
  EXPECT_FALSE(tokenizer->IsSpecial(151657));  // <tool_call> is added but not special
  EXPECT_FALSE(tokenizer->IsSpecial(9707));
  // add_special adds nothing for Qwen (no BOS, ByteLevel post-processor).
  auto ids = tokenizer->Encode("Hello", true, true);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, std::vector<int32_t>({9707}));
  // skip_special drops <|im_start|>/<|im_end|> but keeps the non-special <tool_call>.
  auto text = tokenizer->Decode({151644, 9707, 151657, 151645}, /*skip_special=*/true);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "Hello<tool_call>");
}

TEST(TokenizerGolden, ParseSpecialFalseKeepsSpecialTokensAsText) {
  auto tokenizer = LoadTokenizer(ModelDir("tokenizers/qwen2.5"));
  ASSERT_NE(tokenizer, nullptr);
  auto as_text = tokenizer->Encode("<|im_start|>user", /*parse_special=*/false);
  ASSERT_TRUE(as_text.ok());
  EXPECT_EQ(std::count(as_text->begin(), as_text->end(), 151644), 0) << Printable(*as_text);
  auto parsed = tokenizer->Encode("<|im_start|>user", /*parse_special=*/true);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, std::vector<int32_t>({151644, 872}));
  // Non-special added tokens are still matched, as HF does with split_special_tokens.
  auto tool = tokenizer->Encode("<tool_call>", /*parse_special=*/false);
  ASSERT_TRUE(tool.ok());
  EXPECT_EQ(*tool, std::vector<int32_t>({151657}));
}

TEST(TokenizerGolden, StreamingHoldsBackPartialCharacters) {
  auto tokenizer = LoadTokenizer(ModelDir("tokenizers/gpt2"));
  ASSERT_NE(tokenizer, nullptr);
  auto ids = tokenizer->Encode("a🐱b");
  ASSERT_TRUE(ids.ok());
  ASSERT_GE(ids->size(), 3u);  // the emoji's four bytes are split over tokens
  StreamingDecoder stream(*tokenizer);
  std::vector<std::string> pieces;
  for (int32_t id : *ids) {
    auto piece = stream.Push(id);
    ASSERT_TRUE(piece.ok());
    pieces.push_back(*piece);
  }
  std::string all;
  for (const std::string& p : pieces) {
    EXPECT_EQ(p.find("\xEF\xBF\xBD"), std::string::npos) << "a partial character leaked: " << Printable(p);
    all += p;
  }
  EXPECT_EQ(all + stream.Flush(), "a🐱b");
  auto bad = stream.Push(tokenizer->vocab_size());
  EXPECT_FALSE(bad.ok());
}

TEST(TokenizerGolden, StreamingStripsSentencePieceSpaceOnlyAtStart) {
  auto tokenizer = LoadTokenizer(ModelDir("tokenizers/llama2-spm"));
  ASSERT_NE(tokenizer, nullptr);
  auto ids = tokenizer->Encode("Hello world, how are you?");
  ASSERT_TRUE(ids.ok());
  StreamingDecoder stream(*tokenizer);
  std::string first;
  auto piece = stream.Push((*ids)[0]);
  ASSERT_TRUE(piece.ok());
  EXPECT_EQ(*piece, "Hello");  // "▁Hello": the leading space goes, as in a full Decode
  std::string rest;
  for (size_t i = 1; i < ids->size(); ++i) {
    auto p = stream.Push((*ids)[i]);
    ASSERT_TRUE(p.ok());
    rest += *p;
  }
  EXPECT_EQ(rest + stream.Flush(), " world, how are you?");
}

}  // namespace
}  // namespace testing
}  // namespace kite
