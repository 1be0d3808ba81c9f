#include "converter/tokenizer/hf_tokenizer_files.h"

#include <algorithm>
#include <unordered_map>

#include "runtime/core/file.h"

namespace kite {
namespace hf_tokenizer {

namespace {

using tok::Json;

constexpr int64_t kMaxTokenId = int64_t{1} << 24;

// Qwen2's pre-tokenizer regex, verbatim from its tokenizer.json (Split pattern).
constexpr const char* kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

using TokenIndex = std::unordered_map<std::string, uint32_t>;

// vocab: {"token": id, ...} -> spec->vocab by id, and the reverse index for merges.
Status ReadVocab(const Json& vocab, const std::string& where, TokenizerSpec* spec, TokenIndex* index) {
  if (!vocab.is_object()) return InvalidArgument(where + " must be an object {token: id}");
  index->reserve(vocab.size());
  int64_t max_id = -1;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 ||
        it.value().get<int64_t>() >= kMaxTokenId) {
      return InvalidArgument(where + "['" + it.key() + "'] must be a token id in [0, 2^24)");
    }
    max_id = std::max(max_id, it.value().get<int64_t>());
  }
  spec->vocab.assign(static_cast<size_t>(max_id + 1), std::string());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    const size_t id = static_cast<size_t>(it.value().get<int64_t>());
    if (!spec->vocab[id].empty()) {
      return InvalidArgument(where + ": id " + std::to_string(id) + " is used by both '" + spec->vocab[id] +
                             "' and '" + it.key() + "'");
    }
    spec->vocab[id] = it.key();
    index->emplace(it.key(), static_cast<uint32_t>(id));
  }
  return Status::Ok();
}

// One merge "left right" (exactly one space, as HF requires) -> (left id, right id).
Status AddMerge(const std::string& left, const std::string& right, const TokenIndex& index,
                const std::string& where, TokenizerSpec* spec) {
  auto l = index.find(left);
  if (l == index.end()) return InvalidArgument(where + ": '" + left + "' is not in the vocabulary");
  auto r = index.find(right);
  if (r == index.end()) return InvalidArgument(where + ": '" + right + "' is not in the vocabulary");
  spec->merges.emplace_back(l->second, r->second);
  return Status::Ok();
}

Status SplitMerge(const std::string& line, const std::string& where, std::string* left, std::string* right) {
  const size_t space = line.find(' ');
  if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos || space == 0 ||
      space + 1 == line.size()) {
    return InvalidArgument(where + ": expected two tokens separated by one space, got '" + line + "'");
  }
  *left = line.substr(0, space);
  *right = line.substr(space + 1);
  return Status::Ok();
}

Status ReadAddedTokens(const Json& list, TokenizerSpec* spec) {
  if (list.is_null()) return Status::Ok();
  if (!list.is_array()) return InvalidArgument("tokenizer.json: 'added_tokens' must be a list");
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = "tokenizer.json: added_tokens[" + std::to_string(i) + "]";
    const Json& item = list[i];
    AddedTokenSpec added;
    int64_t id = -1;
    KITE_RETURN_IF_ERROR(tok::GetInt(item, "id", where, &id));
    if (id < 0 || id >= kMaxTokenId) return InvalidArgument(where + ": 'id' must be a token id in [0, 2^24)");
    added.id = static_cast<uint32_t>(id);
    KITE_RETURN_IF_ERROR(tok::GetString(item, "content", where, &added.content, /*required=*/true));
    KITE_RETURN_IF_ERROR(tok::GetBool(item, "special", where, &added.special));
    added.normalized = !added.special;  // HF's default
    KITE_RETURN_IF_ERROR(tok::GetBool(item, "normalized", where, &added.normalized));
    KITE_RETURN_IF_ERROR(tok::GetBool(item, "lstrip", where, &added.lstrip));
    KITE_RETURN_IF_ERROR(tok::GetBool(item, "rstrip", where, &added.rstrip));
    KITE_RETURN_IF_ERROR(tok::GetBool(item, "single_word", where, &added.single_word));
    spec->added_tokens.push_back(std::move(added));
  }
  return Status::Ok();
}

// A stage object -> its JSON text ("" when absent or null).
std::string StageText(const Json& root, const char* key) {
  const Json* stage = tok::Field(root, key);
  return stage == nullptr || stage->is_null() ? std::string() : stage->dump();
}

}  // namespace

Result<Json> ReadJsonFile(const std::string& path, const std::string& label) {
  KITE_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  // nlohmann reports the line and column only through its exception; it stays in here.
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    return InvalidArgument(label + ": not valid JSON (" + e.what() + ")");
  }
}

Status ReadTokenizerJson(const std::string& path, TokenizerSpec* spec) {
  KITE_ASSIGN_OR_RETURN(Json root, ReadJsonFile(path, "tokenizer.json"));
  if (!root.is_object()) return InvalidArgument("tokenizer.json: the top level must be an object");
  const Json* model = tok::Field(root, "model");
  if (model == nullptr || !model->is_object()) return InvalidArgument("tokenizer.json: missing object 'model'");

  std::string type;
  KITE_RETURN_IF_ERROR(tok::GetString(*model, "type", "tokenizer.json: model", &type));
  if (type.empty()) {  // files from before "type" was written: only BPE has merges
    const Json* vocab = tok::Field(*model, "vocab");
    type = tok::Field(*model, "merges") != nullptr ? "BPE"
           : vocab != nullptr && vocab->is_array() ? "Unigram"
                                                   : "WordPiece/WordLevel";
  }
  if (type != "BPE") {
    return Unsupported("tokenizer.json: model.type '" + type + "' is not supported (BPE only)");
  }
  spec->model_type = "BPE";

  const Json* vocab = tok::Field(*model, "vocab");
  if (vocab == nullptr) return InvalidArgument("tokenizer.json: missing 'model.vocab'");
  TokenIndex index;
  KITE_RETURN_IF_ERROR(ReadVocab(*vocab, "tokenizer.json: model.vocab", spec, &index));

  const Json* merges = tok::Field(*model, "merges");
  if (merges != nullptr && !merges->is_null()) {
    if (!merges->is_array()) return InvalidArgument("tokenizer.json: 'model.merges' must be a list");
    spec->merges.reserve(merges->size());
    std::string left, right;
    for (size_t i = 0; i < merges->size(); ++i) {
      const std::string where = "tokenizer.json: model.merges[" + std::to_string(i) + "]";
      const Json& m = (*merges)[i];
      if (m.is_string()) {  // "left right"
        KITE_RETURN_IF_ERROR(SplitMerge(m.get_ref<const std::string&>(), where, &left, &right));
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {  // ["left", "right"]
        left = m[0].get<std::string>();
        right = m[1].get<std::string>();
      } else {
        return InvalidArgument(where + " must be \"left right\" or [\"left\", \"right\"]");
      }
      KITE_RETURN_IF_ERROR(AddMerge(left, right, index, where, spec));
    }
  }

  const std::string where = "tokenizer.json: model";
  std::string unk;
  KITE_RETURN_IF_ERROR(tok::GetString(*model, "unk_token", where, &unk));
  if (!unk.empty()) {
    auto it = index.find(unk);
    if (it == index.end()) return InvalidArgument("tokenizer.json: model.unk_token '" + unk + "' is not in model.vocab");
    spec->unk_id = static_cast<int32_t>(it->second);
  }
  KITE_RETURN_IF_ERROR(tok::GetBool(*model, "byte_fallback", where, &spec->byte_fallback));
  KITE_RETURN_IF_ERROR(tok::GetBool(*model, "fuse_unk", where, &spec->fuse_unk));
  KITE_RETURN_IF_ERROR(tok::GetBool(*model, "ignore_merges", where, &spec->ignore_merges));
  KITE_RETURN_IF_ERROR(tok::GetString(*model, "continuing_subword_prefix", where, &spec->continuing_subword_prefix));
  KITE_RETURN_IF_ERROR(tok::GetString(*model, "end_of_word_suffix", where, &spec->end_of_word_suffix));
  // model.dropout only matters for training; inference is deterministic (HF skips it too
  // unless asked), so it is ignored.

  const Json* added = tok::Field(root, "added_tokens");
  if (added != nullptr) KITE_RETURN_IF_ERROR(ReadAddedTokens(*added, spec));

  spec->normalizer_json = StageText(root, "normalizer");
  spec->pre_tokenizer_json = StageText(root, "pre_tokenizer");
  spec->post_processor_json = StageText(root, "post_processor");
  spec->decoder_json = StageText(root, "decoder");
  return Status::Ok();
}

Status ReadVocabAndMerges(const std::string& dir, const Json& config, TokenizerSpec* spec) {
  std::string tokenizer_class;
  bool add_prefix_space = false;
  KITE_RETURN_IF_ERROR(tok::GetString(config, "tokenizer_class", "tokenizer_config.json", &tokenizer_class));
  KITE_RETURN_IF_ERROR(tok::GetBool(config, "add_prefix_space", "tokenizer_config.json", &add_prefix_space));
  const bool qwen2 = tokenizer_class == "Qwen2Tokenizer" || tokenizer_class == "Qwen2TokenizerFast";
  const bool gpt2 = tokenizer_class.empty() || tokenizer_class == "GPT2Tokenizer" ||
                    tokenizer_class == "GPT2TokenizerFast";
  if (!qwen2 && !gpt2) {
    return Unsupported("tokenizer_config.json: tokenizer_class '" + tokenizer_class +
                       "' is not supported without tokenizer.json (supported: Qwen2Tokenizer, GPT2Tokenizer)");
  }

  KITE_ASSIGN_OR_RETURN(Json vocab, ReadJsonFile(JoinPath(dir, "vocab.json"), "vocab.json"));
  TokenIndex index;
  spec->model_type = "BPE";
  KITE_RETURN_IF_ERROR(ReadVocab(vocab, "vocab.json", spec, &index));

  KITE_ASSIGN_OR_RETURN(std::string merges, ReadTextFile(JoinPath(dir, "merges.txt")));
  size_t line_start = 0, line_number = 0;
  std::string left, right;
  while (line_start < merges.size()) {
    size_t line_end = merges.find('\n', line_start);
    if (line_end == std::string::npos) line_end = merges.size();
    std::string line = merges.substr(line_start, line_end - line_start);
    line_start = line_end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    const std::string where = "merges.txt line " + std::to_string(line_number);
    KITE_RETURN_IF_ERROR(SplitMerge(line, where, &left, &right));
    KITE_RETURN_IF_ERROR(AddMerge(left, right, index, where, spec));
  }

  // The stages Qwen2TokenizerFast / GPT2TokenizerFast build (what their tokenizer.json holds).
  const Json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false},
                           {"use_regex", false}};
  if (qwen2) {
    spec->normalizer_json = Json{{"type", "NFC"}}.dump();
    const Json split = {{"type", "Split"}, {"pattern", {{"Regex", kQwen2Pattern}}}, {"behavior", "Isolated"},
                        {"invert", false}};
    spec->pre_tokenizer_json = Json{{"type", "Sequence"}, {"pretokenizers", Json::array({split, byte_level})}}.dump();
  } else {
    Json gpt2_level = byte_level;
    gpt2_level["add_prefix_space"] = add_prefix_space;
    gpt2_level["use_regex"] = true;
    spec->pre_tokenizer_json = gpt2_level.dump();
  }
  spec->decoder_json = byte_level.dump();
  spec->post_processor_json = byte_level.dump();
  return Status::Ok();
}

}  // namespace hf_tokenizer
}  // namespace kite
