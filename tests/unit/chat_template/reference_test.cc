// Every rendering in shared/models/chat-templates/reference must come out of
// ChatTemplate byte for byte (or fail with the template's own
// raise_exception message), for the 7 real templates and 8 conversations.
// The references were made with Python Jinja2 the way transformers renders
// (see shared/models/_tools/render_template.py).
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <vector>

#include "tests/test_paths.h"
#include "tests/unit/chat_template/template_test_util.h"

namespace kite {
namespace {

using nlohmann::ordered_json;
using testing::DescribeMismatch;
using testing::SharedPath;

const char* const kTemplates[] = {
    "NousResearch-Hermes-3-Llama-3.1-8B-tool_use",
    "Qwen-Qwen2.5-7B-Instruct",
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B",
    "google-gemma-2-2b-it",
    "meta-llama-Llama-3.2-3B-Instruct",
    "microsoft-Phi-3.5-mini-instruct",
    "mistralai-Mistral-Nemo-Instruct-2407",
};

ordered_json ReadJson(const std::string& rel) {
  std::string text;
  EXPECT_TRUE(testing::ReadFile(SharedPath(rel), &text)) << "missing " << SharedPath(rel);
  ordered_json j = ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << rel << " is not valid JSON";
  return j;
}

// The context render_template.py builds: special tokens, messages, tools
// when given, add_generation_prompt.
ordered_json Context(const ordered_json& special_tokens, const ordered_json& conversation) {
  ordered_json context = special_tokens;
  if (conversation.contains("extra_context")) {
    for (auto it = conversation["extra_context"].begin(); it != conversation["extra_context"].end(); ++it) {
      context[it.key()] = it.value();
    }
  }
  context["messages"] = conversation["messages"];
  if (conversation.contains("tools") && !conversation["tools"].is_null()) context["tools"] = conversation["tools"];
  context["add_generation_prompt"] = conversation.value("add_generation_prompt", false);
  return context;
}

// Renders every case of one reference file with `source` and checks each.
// Returns the number of cases checked.
int CheckReference(const std::string& source, const ordered_json& reference, const ordered_json& conversations) {
  auto tmpl = ChatTemplate::Parse(source);
  EXPECT_TRUE(tmpl.ok()) << tmpl.status().message();
  if (!tmpl.ok()) return 0;
  const ChatTemplateOptions options = testing::FixedClock(reference["strftime_now_fixed"].get<std::string>());
  int checked = 0;
  for (const auto& expected : reference["cases"]) {
    const std::string name = expected["conversation"].get<std::string>();
    SCOPED_TRACE("conversation " + name);
    auto conversation = std::find_if(conversations.begin(), conversations.end(),
                                     [&](const ordered_json& c) { return c["name"] == name; });
    EXPECT_NE(conversation, conversations.end());
    if (conversation == conversations.end()) continue;
    Result<std::string> rendered = tmpl.value()->Render(Context(reference["special_tokens"], *conversation), options);
    if (expected.contains("error")) {
      const std::string error = expected["error"].get<std::string>();
      EXPECT_FALSE(rendered.ok()) << "expected the template to raise '" << error << "', rendered:\n"
                                  << (rendered.ok() ? rendered.value() : "");
      if (!rendered.ok()) {  // the template's own message, with its location
        EXPECT_NE(rendered.status().message().find(error), std::string::npos)
            << "status '" << rendered.status().message() << "' lacks '" << error << "'";
        EXPECT_NE(rendered.status().message().find("raised an exception at line"), std::string::npos)
            << rendered.status().message();
      }
    } else {
      const std::string want = expected["rendered"].get<std::string>();
      EXPECT_TRUE(rendered.ok()) << rendered.status().message();
      if (rendered.ok()) {
        EXPECT_TRUE(rendered.value() == want) << DescribeMismatch(want, rendered.value());
      }
    }
    ++checked;
  }
  return checked;
}

class ChatTemplateReference : public ::testing::TestWithParam<const char*> {};

TEST_P(ChatTemplateReference, RendersEveryCaseByteForByte) {
  const std::string name = GetParam();
  const ordered_json reference = ReadJson("models/chat-templates/reference/" + name + ".json");
  const ordered_json conversations = ReadJson("models/chat-templates/conversations.json");
  ASSERT_TRUE(reference.is_object() && conversations.is_array());
  ASSERT_EQ(reference["template"].get<std::string>(), name + ".jinja");
  std::string source;
  ASSERT_TRUE(testing::ReadFile(SharedPath("models/chat-templates/" + name + ".jinja"), &source));
  const int checked = CheckReference(source, reference, conversations);
  EXPECT_EQ(checked, static_cast<int>(conversations.size()));
}

INSTANTIATE_TEST_SUITE_P(RealTemplates, ChatTemplateReference, ::testing::ValuesIn(kTemplates),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           std::string name = info.param;
                           std::replace_if(name.begin(), name.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
                           return name;
                         });

// A reference added to shared/ must not be skipped silently.
TEST(ChatTemplateReferenceFiles, EveryReferenceIsTested) {
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator(SharedPath("models/chat-templates/reference"))) {
    if (entry.path().extension() == ".json") found.push_back(entry.path().stem().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> tested(std::begin(kTemplates), std::end(kTemplates));
  std::sort(tested.begin(), tested.end());
  EXPECT_EQ(found, tested);
}

// The template shipped inside the Qwen2.5 tokenizer_config.json renders the
// same as the Qwen reference.
TEST(ChatTemplateReferenceFiles, QwenTokenizerConfigTemplateMatchesReference) {
  const ordered_json config = ReadJson("models/tokenizers/qwen2.5/tokenizer_config.json");
  ASSERT_TRUE(config.contains("chat_template") && config["chat_template"].is_string());
  const ordered_json reference = ReadJson("models/chat-templates/reference/Qwen-Qwen2.5-7B-Instruct.json");
  const ordered_json conversations = ReadJson("models/chat-templates/conversations.json");
  const int checked = CheckReference(config["chat_template"].get<std::string>(), reference, conversations);
  EXPECT_EQ(checked, 8);
}

}  // namespace
}  // namespace kite
