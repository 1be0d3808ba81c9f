// LoadHfTokenizer: picks the layout, applies tokenizer_config.json (added tokens,
// BOS/EOS and whether encoding adds them) and validates the spec by building
// the runtime Tokenizer from it.
#include "converter/tokenizer/hf_tokenizer.h"

#include <cstdlib>
#include <memory>

#include "converter/tokenizer/hf_tokenizer_files.h"
#include "runtime/core/file.h"
#include "runtime/llm/tokenizer/post_processor.h"
#include "runtime/llm/tokenizer/tokenizer.h"

namespace kite {

namespace {

using tok::Json;
constexpr const char* kConfig = "tokenizer_config.json";

// added_tokens_decoder: {"151643": {"content": ..., "special": true, ...}, ...}. With
// tokenizer.json its added_tokens win; the config only adds ids it does not have.
Status MergeAddedTokensDecoder(const Json& config, TokenizerSpec* spec) {
  const Json* decoder = tok::Field(config, "added_tokens_decoder");
  if (decoder == nullptr || decoder->is_null()) return Status::Ok();
  if (!decoder->is_object()) return InvalidArgument(std::string(kConfig) + ": 'added_tokens_decoder' must be an object");
  for (auto it = decoder->begin(); it != decoder->end(); ++it) {
    const std::string where = std::string(kConfig) + ": added_tokens_decoder['" + it.key() + "']";
    char* end = nullptr;
    const long long id = std::strtoll(it.key().c_str(), &end, 10);
    if (it.key().empty() || *end != '\0' || id < 0 || id >= (1 << 24)) {
      return InvalidArgument(where + ": the key must be a token id");
    }
    bool known = false;
    for (const AddedTokenSpec& a : spec->added_tokens) known = known || a.id == static_cast<uint32_t>(id);
    if (known) continue;
    AddedTokenSpec added;
    added.id = static_cast<uint32_t>(id);
    KITE_RETURN_IF_ERROR(tok::GetString(it.value(), "content", where, &added.content, /*required=*/true));
    KITE_RETURN_IF_ERROR(tok::GetBool(it.value(), "special", where, &added.special));
    added.normalized = !added.special;
    KITE_RETURN_IF_ERROR(tok::GetBool(it.value(), "normalized", where, &added.normalized));
    KITE_RETURN_IF_ERROR(tok::GetBool(it.value(), "lstrip", where, &added.lstrip));
    KITE_RETURN_IF_ERROR(tok::GetBool(it.value(), "rstrip", where, &added.rstrip));
    KITE_RETURN_IF_ERROR(tok::GetBool(it.value(), "single_word", where, &added.single_word));
    if (added.id < spec->vocab.size() && !spec->vocab[added.id].empty() && spec->vocab[added.id] != added.content) {
      return InvalidArgument(where + ": '" + added.content + "' but the vocabulary has '" +
                             spec->vocab[added.id] + "' at that id");
    }
    spec->added_tokens.push_back(std::move(added));
  }
  return Status::Ok();
}

// Every id of the spec gets its text, so spec.vocab is the whole vocabulary by id.
void PlaceAddedTokens(TokenizerSpec* spec) {
  for (const AddedTokenSpec& a : spec->added_tokens) {
    if (a.id >= spec->vocab.size()) spec->vocab.resize(a.id + 1);
    if (spec->vocab[a.id].empty()) spec->vocab[a.id] = a.content;
  }
}

int32_t FindToken(const TokenizerSpec& spec, const std::string& text, bool special_only) {
  for (const AddedTokenSpec& a : spec.added_tokens) {
    if (a.content == text && (a.special || !special_only)) return static_cast<int32_t>(a.id);
  }
  if (special_only) return -1;
  for (size_t id = 0; id < spec.vocab.size(); ++id) {
    if (spec.vocab[id] == text) return static_cast<int32_t>(id);
  }
  return -1;
}

// bos_token / eos_token: "<s>", {"content": "<s>", ...} or null. *given is true when the
// config names the field at all (null then means "none", and no guess is made).
Status ResolveSpecial(const Json& config, const char* key, const TokenizerSpec& spec, int32_t* id, bool* given) {
  const Json* field = tok::Field(config, key);
  *given = field != nullptr;
  if (field == nullptr || field->is_null()) return Status::Ok();
  std::string content;
  if (field->is_string()) {
    content = field->get<std::string>();
  } else {
    KITE_RETURN_IF_ERROR(tok::GetString(*field, "content", std::string(kConfig) + ": " + key, &content, true));
  }
  *id = FindToken(spec, content, /*special_only=*/false);
  if (*id < 0) return InvalidArgument(std::string(kConfig) + ": " + key + " '" + content + "' is not in the vocabulary");
  return Status::Ok();
}

// The post-processor transformers' update_post_processor() writes: [bos] A [eos].
std::string BosEosTemplate(const TokenizerSpec& spec, bool add_bos, bool add_eos) {
  Json single = Json::array(), pair = Json::array(), specials = Json::object();
  auto special = [&](int32_t id, int type_id) {
    const std::string& text = spec.vocab[static_cast<size_t>(id)];
    specials[text] = {{"id", text}, {"ids", {id}}, {"tokens", {text}}};
    return Json{{"SpecialToken", {{"id", text}, {"type_id", type_id}}}};
  };
  for (int seq = 0; seq < 2; ++seq) {
    Json& list = seq == 0 ? single : pair;
    for (int part = 0; part <= seq; ++part) {
      if (add_bos) list.push_back(special(spec.bos_id, part));
      list.push_back({{"Sequence", {{"id", part == 0 ? "A" : "B"}, {"type_id", part}}}});
      if (add_eos) list.push_back(special(spec.eos_id, part));
    }
  }
  return Json{{"type", "TemplateProcessing"}, {"single", single}, {"pair", pair}, {"special_tokens", specials}}.dump();
}

// bos_id/eos_id and add_bos/add_eos from the config, the post-processor, or (with neither)
// the conventional names of special tokens.
Status ResolveBosEos(const Json& config, const std::string& source, TokenizerSpec* spec) {
  bool bos_given = false, eos_given = false;
  KITE_RETURN_IF_ERROR(ResolveSpecial(config, "bos_token", *spec, &spec->bos_id, &bos_given));
  KITE_RETURN_IF_ERROR(ResolveSpecial(config, "eos_token", *spec, &spec->eos_id, &eos_given));

  auto post = tok::PostProcessor::Parse(spec->post_processor_json, static_cast<int32_t>(spec->vocab.size()));
  if (!post.ok()) return Status(post.status().code(), source + ": " + post.status().message());
  const bool template_bos = !(*post)->prefix().empty(), template_eos = !(*post)->suffix().empty();
  if (spec->bos_id < 0 && !bos_given && template_bos) spec->bos_id = (*post)->prefix().front();
  if (spec->eos_id < 0 && !eos_given && template_eos) spec->eos_id = (*post)->suffix().back();
  for (const char* name : {"<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>", "<|endoftext|>"}) {
    if (spec->bos_id < 0 && !bos_given) spec->bos_id = FindToken(*spec, name, /*special_only=*/true);
  }
  for (const char* name : {"</s>", "<|end_of_text|>", "<eos>", "<|endoftext|>"}) {
    if (spec->eos_id < 0 && !eos_given) spec->eos_id = FindToken(*spec, name, /*special_only=*/true);
  }

  const bool bos_flag_given = tok::Field(config, "add_bos_token") != nullptr;
  const bool eos_flag_given = tok::Field(config, "add_eos_token") != nullptr;
  spec->add_bos = template_bos;
  spec->add_eos = template_eos;
  KITE_RETURN_IF_ERROR(tok::GetBool(config, "add_bos_token", kConfig, &spec->add_bos));
  KITE_RETURN_IF_ERROR(tok::GetBool(config, "add_eos_token", kConfig, &spec->add_eos));
  if (spec->add_bos && spec->bos_id < 0) {
    return InvalidArgument(std::string(kConfig) + ": add_bos_token is true but there is no bos_token");
  }
  if (spec->add_eos && spec->eos_id < 0) {
    return InvalidArgument(std::string(kConfig) + ": add_eos_token is true but there is no eos_token");
  }
  // An explicit flag overrides the template, as transformers' Llama/Gemma tokenizers rebuild it.
  const bool disagrees = (bos_flag_given && spec->add_bos != template_bos) ||
                         (eos_flag_given && spec->add_eos != template_eos);
  if ((*post)->defines_specials() && disagrees) {
    spec->post_processor_json = BosEosTemplate(*spec, spec->add_bos, spec->add_eos);
  }
  return Status::Ok();
}

}  // namespace

Result<TokenizerSpec> LoadHfTokenizer(const std::string& dir) {
  TokenizerSpec spec;
  Json config = Json::object();
  const std::string config_path = JoinPath(dir, kConfig);
  if (FileExists(config_path)) {
    KITE_ASSIGN_OR_RETURN(config, hf_tokenizer::ReadJsonFile(config_path, kConfig));
    if (!config.is_object()) return InvalidArgument(std::string(kConfig) + ": the top level must be an object");
  }

  std::string source;
  if (FileExists(JoinPath(dir, "tokenizer.json"))) {
    source = "tokenizer.json";
    KITE_RETURN_IF_ERROR(hf_tokenizer::ReadTokenizerJson(JoinPath(dir, "tokenizer.json"), &spec));
  } else if (FileExists(JoinPath(dir, "vocab.json")) && FileExists(JoinPath(dir, "merges.txt"))) {
    source = "vocab.json + merges.txt";
    KITE_RETURN_IF_ERROR(hf_tokenizer::ReadVocabAndMerges(dir, config, &spec));
  } else if (FileExists(JoinPath(dir, "tokenizer.model"))) {
    return Unsupported(dir + ": only a SentencePiece tokenizer.model was found; a tokenizer.json is needed "
                       "(transformers writes one with AutoTokenizer.from_pretrained(...).save_pretrained(...))");
  } else {
    return NotFound(dir + ": no tokenizer.json, and no vocab.json + merges.txt");
  }

  KITE_RETURN_IF_ERROR(MergeAddedTokensDecoder(config, &spec));
  PlaceAddedTokens(&spec);
  KITE_RETURN_IF_ERROR(tok::GetBool(config, "clean_up_tokenization_spaces", kConfig,
                                    &spec.clean_up_tokenization_spaces));
  KITE_RETURN_IF_ERROR(ResolveBosEos(config, source, &spec));

  // Build the runtime tokenizer once: whatever it cannot run is reported now, not at load.
  auto tokenizer = Tokenizer::Create(spec);
  if (!tokenizer.ok()) {
    std::string message = tokenizer.status().message();
    const std::string generic = "tokenizer: ";
    if (message.rfind(generic, 0) == 0) message = message.substr(generic.size());
    return Status(tokenizer.status().code(), source + ": " + message);
  }
  return spec;
}

}  // namespace kite
