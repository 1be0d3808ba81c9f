// The post_processor stage of tokenizer.json, reduced to what a single sequence
// needs at inference: the special ids placed before and after it when special
// tokens are added. TemplateProcessing, RobertaProcessing, BertProcessing,
// ByteLevel (adds nothing) and Sequence are understood.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/core/status.h"
#include "runtime/llm/tokenizer/json_fields.h"

namespace kite {
namespace tok {

class PostProcessor {
 public:
  // `vocab_size` bounds the ids the stage may add.
  static Result<std::unique_ptr<PostProcessor>> Parse(std::string_view json_text, int32_t vocab_size);

  // True when the stage itself decides the special tokens (a template or BERT/RoBERTa
  // processor); otherwise the spec's add_bos/add_eos flags do.
  bool defines_specials() const { return defines_specials_; }
  const std::vector<int32_t>& prefix() const { return prefix_; }
  const std::vector<int32_t>& suffix() const { return suffix_; }

 private:
  Status AddStage(const Json& stage, const std::string& where, int32_t vocab_size);

  bool defines_specials_ = false;
  std::vector<int32_t> prefix_;
  std::vector<int32_t> suffix_;
};

}  // namespace tok
}  // namespace kite
