#include "converter/hf_extras.h"

#include <nlohmann/json.hpp>

#include "converter/json_fields.h"
#include "runtime/core/file.h"

namespace kite {
namespace {

using nlohmann::json;

// A special token as tokenizer_config.json writes it: "<s>" or {"content": "<s>", ...}.
Status TokenString(const JsonFields& f, const char* key, std::string* out) {
  const json* v = f.Get(key);
  if (v == nullptr) return Status::Ok();
  if (v->is_string()) {
    *out = v->get<std::string>();
    return Status::Ok();
  }
  if (v->is_object() && v->contains("content") && (*v)["content"].is_string()) {
    *out = (*v)["content"].get<std::string>();
    return Status::Ok();
  }
  return f.Error(key, "must be a string or an object with a string 'content'");
}

Status TemplateFromConfig(const JsonFields& f, ChatTemplateInfo* out, std::vector<std::string>* warnings) {
  const json* t = f.Get("chat_template");
  if (t == nullptr) return Status::Ok();
  if (t->is_string()) {
    out->source = t->get<std::string>();
    return Status::Ok();
  }
  if (!t->is_array()) return f.Error("chat_template", "must be a string or a list of {name, template}");
  std::vector<std::string> names;
  for (const json& entry : *t) {
    if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() || !entry.contains("template") ||
        !entry["template"].is_string()) {
      return f.Error("chat_template", "has an entry that is not {\"name\": string, \"template\": string}");
    }
    names.push_back(entry["name"].get<std::string>());
    if (names.back() == "default") out->source = entry["template"].get<std::string>();
  }
  if (out->source.empty()) {
    std::string listed;
    for (const std::string& n : names) listed += (listed.empty() ? "" : ", ") + n;
    warnings->push_back(f.source() + ": chat_template has no \"default\" entry (only " + listed +
                        "); the artifact gets no chat template");
  }
  return Status::Ok();
}

}  // namespace

Status LoadChatTemplate(const std::string& dir, ChatTemplateInfo* out, std::vector<std::string>* warnings) {
  const std::string config_path = JoinPath(dir, "tokenizer_config.json");
  json config = json::object();
  if (FileExists(config_path)) {
    KITE_ASSIGN_OR_RETURN(config, ReadJsonFile(config_path));
    if (!config.is_object()) return InvalidArgument(config_path + ": not a JSON object");
  }
  const JsonFields f(config, config_path);
  const std::string jinja_path = JoinPath(dir, "chat_template.jinja");
  // Newer transformers save the template as its own file, which takes precedence.
  if (FileExists(jinja_path)) {
    KITE_ASSIGN_OR_RETURN(out->source, ReadTextFile(jinja_path));
  } else {
    KITE_RETURN_IF_ERROR(TemplateFromConfig(f, out, warnings));
  }
  KITE_RETURN_IF_ERROR(TokenString(f, "bos_token", &out->bos_token));
  KITE_RETURN_IF_ERROR(TokenString(f, "eos_token", &out->eos_token));
  const std::string map_path = JoinPath(dir, "special_tokens_map.json");
  if ((out->bos_token.empty() || out->eos_token.empty()) && FileExists(map_path)) {
    KITE_ASSIGN_OR_RETURN(json map, ReadJsonFile(map_path));
    const JsonFields m(map, map_path);
    if (out->bos_token.empty()) KITE_RETURN_IF_ERROR(TokenString(m, "bos_token", &out->bos_token));
    if (out->eos_token.empty()) KITE_RETURN_IF_ERROR(TokenString(m, "eos_token", &out->eos_token));
  }
  return Status::Ok();
}

Status LoadGenerationConfig(const std::string& dir, GenerationDefaultsInfo* out, ModelConfig* config) {
  // transformers' GenerationConfig defaults, which apply with or without the file.
  out->top_k = 50;
  const std::string path = JoinPath(dir, "generation_config.json");
  if (!FileExists(path)) return Status::Ok();
  KITE_ASSIGN_OR_RETURN(json root, ReadJsonFile(path));
  if (!root.is_object()) return InvalidArgument(path + ": not a JSON object");
  const JsonFields f(root, path);
  KITE_RETURN_IF_ERROR(f.F32("temperature", &out->temperature));
  KITE_RETURN_IF_ERROR(f.I32("top_k", &out->top_k));
  KITE_RETURN_IF_ERROR(f.F32("top_p", &out->top_p));
  KITE_RETURN_IF_ERROR(f.F32("min_p", &out->min_p));
  KITE_RETURN_IF_ERROR(f.F32("repetition_penalty", &out->repetition_penalty));
  KITE_RETURN_IF_ERROR(f.Bool("do_sample", &out->do_sample));
  KITE_RETURN_IF_ERROR(f.U32("max_length", &out->max_length));
  if (out->temperature < 0.0f) return f.Error("temperature", "must not be negative");
  if (out->top_k < 0) return f.Error("top_k", "must not be negative");
  if (!(out->top_p > 0.0f && out->top_p <= 1.0f)) return f.Error("top_p", "must be in (0, 1]");
  if (!(out->min_p >= 0.0f && out->min_p <= 1.0f)) return f.Error("min_p", "must be in [0, 1]");
  if (!(out->repetition_penalty > 0.0f)) return f.Error("repetition_penalty", "must be positive");

  KITE_RETURN_IF_ERROR(f.TokenIds("eos_token_id", config->vocab_size, &config->eos_token_ids));
  if (config->bos_token_id < 0) {
    KITE_RETURN_IF_ERROR(f.TokenId("bos_token_id", config->vocab_size, &config->bos_token_id));
  }
  return Status::Ok();
}

}  // namespace kite
