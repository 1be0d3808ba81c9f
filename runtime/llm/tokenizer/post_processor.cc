#include "runtime/llm/tokenizer/post_processor.h"

namespace kite {
namespace tok {

namespace {

Status CheckId(int64_t id, int32_t vocab_size, const std::string& where) {
  if (id < 0 || id >= vocab_size) {
    return InvalidArgument(where + ": id " + std::to_string(id) + " is outside the vocabulary (" +
                           std::to_string(vocab_size) + " tokens)");
  }
  return Status::Ok();
}

// ["</s>", 2] as Roberta/Bert processors write their cls/sep tokens.
Result<int32_t> TokenPairId(const Json& stage, const char* key, const std::string& where, int32_t vocab_size) {
  const Json* pair = Field(stage, key);
  if (pair == nullptr || !pair->is_array() || pair->size() != 2 || !(*pair)[1].is_number_integer()) {
    return InvalidArgument(where + ": '" + key + "' must be [token, id]");
  }
  const int64_t id = (*pair)[1].get<int64_t>();
  KITE_RETURN_IF_ERROR(CheckId(id, vocab_size, where));
  return static_cast<int32_t>(id);
}

}  // namespace

Result<std::unique_ptr<PostProcessor>> PostProcessor::Parse(std::string_view json_text, int32_t vocab_size) {
  std::unique_ptr<PostProcessor> post(new PostProcessor());
  if (IsAbsentStage(json_text)) return post;
  KITE_ASSIGN_OR_RETURN(Json stage, ParseJsonText(json_text, "post_processor"));
  KITE_RETURN_IF_ERROR(post->AddStage(stage, "post_processor", vocab_size));
  return post;
}

Status PostProcessor::AddStage(const Json& stage, const std::string& where, int32_t vocab_size) {
  if (stage.is_null()) return Status::Ok();
  KITE_ASSIGN_OR_RETURN(std::string type, StageType(stage, where));
  const std::string at = where + " (" + type + ")";
  if (type == "ByteLevel") return Status::Ok();  // only adjusts offsets
  if (type == "Sequence") {
    const Json* list = Field(stage, "processors");
    if (list == nullptr || !list->is_array()) return InvalidArgument(at + ": 'processors' must be a list");
    for (size_t i = 0; i < list->size(); ++i) {
      KITE_RETURN_IF_ERROR(AddStage((*list)[i], where + ".processors[" + std::to_string(i) + "]", vocab_size));
    }
    return Status::Ok();
  }
  std::vector<int32_t> before, after;
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    KITE_ASSIGN_OR_RETURN(int32_t cls, TokenPairId(stage, "cls", at, vocab_size));
    KITE_ASSIGN_OR_RETURN(int32_t sep, TokenPairId(stage, "sep", at, vocab_size));
    before.push_back(cls);
    after.push_back(sep);
  } else if (type == "TemplateProcessing") {
    const Json* single = Field(stage, "single");
    if (single == nullptr || !single->is_array()) return InvalidArgument(at + ": 'single' must be a list");
    const Json* specials = Field(stage, "special_tokens");
    bool seen_sequence = false;
    for (size_t i = 0; i < single->size(); ++i) {
      const Json& item = (*single)[i];
      const std::string item_at = at + ".single[" + std::to_string(i) + "]";
      if (Field(item, "Sequence") != nullptr) {
        if (seen_sequence) return Unsupported(item_at + ": a template with two sequences is not supported");
        seen_sequence = true;
        continue;
      }
      const Json* special = Field(item, "SpecialToken");
      std::string name;
      if (special == nullptr) return InvalidArgument(item_at + ": expected 'Sequence' or 'SpecialToken'");
      KITE_RETURN_IF_ERROR(GetString(*special, "id", item_at, &name, /*required=*/true));
      const Json* entry = specials == nullptr ? nullptr : Field(*specials, name.c_str());
      const Json* ids = entry == nullptr ? nullptr : Field(*entry, "ids");
      if (ids == nullptr || !ids->is_array()) {
        return InvalidArgument(item_at + ": special token '" + name + "' has no ids in 'special_tokens'");
      }
      for (const Json& id : *ids) {
        if (!id.is_number_integer()) return InvalidArgument(item_at + ": ids of '" + name + "' must be integers");
        KITE_RETURN_IF_ERROR(CheckId(id.get<int64_t>(), vocab_size, item_at));
        (seen_sequence ? after : before).push_back(static_cast<int32_t>(id.get<int64_t>()));
      }
    }
    if (!seen_sequence) return InvalidArgument(at + ": 'single' has no Sequence item");
  } else {
    return Unsupported(where + ": type '" + type +
                       "' is not supported (supported: TemplateProcessing, RobertaProcessing, "
                       "BertProcessing, ByteLevel, Sequence)");
  }
  // A later processor wraps what the earlier ones produced.
  defines_specials_ = true;
  prefix_.insert(prefix_.begin(), before.begin(), before.end());
  suffix_.insert(suffix_.end(), after.begin(), after.end());
  return Status::Ok();
}

}  // namespace tok
}  // namespace kite
