// Chat templates: the Jinja2 programs in a model's tokenizer_config.json that
// turn a conversation into the prompt text. ChatTemplate renders them the
// way Hugging Face transformers' apply_chat_template does (Python Jinja2 3.1,
// ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
// tojson = json.dumps(ensure_ascii=False), raise_exception, strftime_now),
// byte for byte.
//
// Nothing here throws or aborts: a bad template or a bad conversation gives a
// Status that says what went wrong and at which template line and column.
// Runaway templates (endless recursion, huge output, exploding loops) stop at
// the limits in ChatTemplateOptions, and nesting is bounded so that Parse and
// Render stay within 256 KB of stack even for hostile templates (ordinary
// ones use a few KB).
//
//   KITE_ASSIGN_OR_RETURN(auto tmpl, ChatTemplate::Parse(source));
//   KITE_ASSIGN_OR_RETURN(std::string prompt, tmpl->Render(context));
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "runtime/core/status.h"

namespace kite {

namespace jinja {
struct TemplateAst;
}

struct ChatTemplateOptions {
  // Clock for strftime_now() (read as local time); when unset, the real time. Tests fix it.
  std::function<std::time_t()> now;
  // Largest output, and largest string built on the way.
  size_t max_output_bytes = 16u << 20;
  // Loop iterations plus macro calls in one render.
  int64_t max_steps = 1000000;
  // Nested macro calls (recursion).
  int max_call_depth = 64;
};

// Parses once, renders many times; Render is const and may run on several
// threads at once.
class ChatTemplate {
 public:
  // Fails with the line and column of the first syntax error, or of a filter
  // or test name that Jinja does not have.
  static Result<std::unique_ptr<ChatTemplate>> Parse(const std::string& source);

  // context: {"messages": [...], "tools": [...]?, "add_generation_prompt": bool,
  // "bos_token": "...", "eos_token": "...", ...}. Every key becomes a template
  // variable. A template's raise_exception("msg") gives a Status whose message
  // contains "msg".
  //
  // Prefer ordered_json: tojson prints object keys in the order the context
  // holds them, and nlohmann::json sorts keys, so tool schemas would print in
  // a different order than transformers prints them.
  Result<std::string> Render(const nlohmann::ordered_json& context, const ChatTemplateOptions& options = {}) const;
  Result<std::string> Render(const nlohmann::json& context, const ChatTemplateOptions& options = {}) const;

  ~ChatTemplate();
  ChatTemplate(const ChatTemplate&) = delete;
  ChatTemplate& operator=(const ChatTemplate&) = delete;

 private:
  ChatTemplate();
  std::unique_ptr<jinja::TemplateAst> ast_;
};

}  // namespace kite
