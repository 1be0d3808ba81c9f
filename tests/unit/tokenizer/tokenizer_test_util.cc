#include "tests/unit/tokenizer/tokenizer_test_util.h"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "converter/tokenizer/hf_tokenizer.h"
#include "runtime/llm/tokenizer/unicode.h"
#include "tests/test_paths.h"

namespace kite {
namespace testing {

std::string ModelDir(const std::string& rel) { return SharedPath("models/" + rel); }

std::unique_ptr<Tokenizer> LoadTokenizer(const std::string& dir) {
  auto spec = LoadHfTokenizer(dir);
  if (!spec.ok()) {
    ADD_FAILURE() << "LoadHfTokenizer(" << dir << "): " << spec.status().ToString();
    return nullptr;
  }
  auto tokenizer = Tokenizer::Create(*spec);
  if (!tokenizer.ok()) {
    ADD_FAILURE() << "Tokenizer::Create(" << dir << "): " << tokenizer.status().ToString();
    return nullptr;
  }
  return std::move(tokenizer).value();
}

std::vector<EncodingCase> ReadCases(const std::string& path, const std::string& key) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  nlohmann::json root = nlohmann::json::parse(buffer.str(), nullptr, false);
  std::vector<EncodingCase> cases;
  if (root.is_discarded()) {
    ADD_FAILURE() << "cannot read " << path;
    return cases;
  }
  const nlohmann::json& list = key.empty() ? root : root[key];
  for (const nlohmann::json& item : list) {
    EncodingCase c;
    c.text = item.at("text").get<std::string>();
    c.ids = item.at("ids").get<std::vector<int32_t>>();
    c.parse_special = item.value("parse_special", true);
    cases.push_back(std::move(c));
  }
  if (cases.empty()) ADD_FAILURE() << "no cases in " << path;
  return cases;
}

std::string Printable(const std::string& text) {
  return nlohmann::json(text).dump(-1, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace);
}

std::string Printable(const std::vector<int32_t>& ids) { return nlohmann::json(ids).dump(); }

std::string Nfc(const std::string& text) {
  std::string out = text;
  EXPECT_TRUE(tok::NormalizeUnicode(tok::NormalForm::kNfc, &out).ok());
  return out;
}

std::string StreamDecode(const Tokenizer& tokenizer, const std::vector<int32_t>& ids, bool skip_special) {
  StreamingDecoder stream(tokenizer, skip_special);
  std::string text;
  for (int32_t id : ids) {
    auto piece = stream.Push(id);
    EXPECT_TRUE(piece.ok()) << piece.status().ToString();
    if (piece.ok()) {
      EXPECT_EQ(tok::FindInvalidUtf8(*piece), std::string::npos) << "streamed invalid UTF-8 " << Printable(*piece);
      text += *piece;
    }
  }
  return text + stream.Flush();
}

int CheckGoldenCases(const Tokenizer& tokenizer, const std::vector<EncodingCase>& cases,
                     const GoldenOptions& options) {
  int checked = 0;
  for (const EncodingCase& c : cases) {
    SCOPED_TRACE("text " + Printable(c.text) + (c.parse_special ? " (parse_special)" : ""));
    auto ids = tokenizer.Encode(c.text, c.parse_special, options.add_special);
    if (!ids.ok()) {
      ADD_FAILURE() << "Encode failed: " << ids.status().ToString();
      continue;
    }
    EXPECT_EQ(*ids, c.ids) << "encode " << Printable(c.text) << "\n  got      " << Printable(*ids)
                           << "\n  expected " << Printable(c.ids);

    auto decoded = tokenizer.Decode(c.ids, options.skip_special_in_round_trip);
    if (!decoded.ok()) {
      ADD_FAILURE() << "Decode failed: " << decoded.status().ToString();
      continue;
    }
    const std::string expected = options.nfc_round_trip ? Nfc(c.text) : c.text;
    EXPECT_EQ(*decoded, expected) << "round trip of " << Printable(c.text) << " gave " << Printable(*decoded);

    for (bool skip : {false, true}) {
      auto full = tokenizer.Decode(c.ids, skip);
      if (!full.ok()) {
        ADD_FAILURE() << full.status().ToString();
        continue;
      }
      EXPECT_EQ(StreamDecode(tokenizer, c.ids, skip), *full)
          << "streaming decode (skip_special " << skip << ") differs from Decode for " << Printable(c.text);
    }
    ++checked;
  }
  return checked;
}

}  // namespace testing
}  // namespace kite
