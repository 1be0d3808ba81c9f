// The chat path of `kite` on a model with a real chat template: a tiny seeded random Qwen2
// with the Qwen2.5 tokenizer. Renderings and token ids must equal the shared references
// byte for byte; generation (random weights) only has to run and end cleanly.
#include <algorithm>

#include <gtest/gtest.h>

#include "tests/cli/cli_test_util.h"
#include "tests/test_paths.h"

namespace kite {
namespace cli_test {
namespace {

using testing::SharedPath;
using testing::TempPath;

// ordered_json: the files we write must keep the keys in the order conversations.json has them,
// since the template's tojson prints keys in the order the caller gave them (as transformers does).
nlohmann::ordered_json Conversation(const std::string& name) {
  static const nlohmann::ordered_json all =
      nlohmann::ordered_json::parse(ReadFile(SharedPath("models/chat-templates/conversations.json")));
  for (const nlohmann::ordered_json& c : all) {
    if (c["name"] == name) return c;
  }
  return nullptr;
}

// `kite template` for one conversation of conversations.json.
ProcessResult RenderConversation(const std::string& model, const nlohmann::ordered_json& conversation) {
  const std::string name = conversation["name"].get<std::string>();
  const std::string messages = TempPath("messages_" + name + ".json");
  WriteFile(messages, conversation["messages"].dump());
  std::vector<std::string> args = {"template", model, "--messages", messages};
  if (conversation.contains("tools")) {
    const std::string tools = TempPath("tools_" + name + ".json");
    WriteFile(tools, conversation["tools"].dump());
    args.insert(args.end(), {"--tools", tools});
  }
  if (conversation.value("add_generation_prompt", false)) args.push_back("--add-generation-prompt");
  return Kite(args);
}

TEST(QwenChatCli, TemplateReproducesEveryReferenceRendering) {
  const std::string& model = TinyQwenKite();
  ASSERT_FALSE(model.empty());
  const nlohmann::json ref = ReadJson(SharedPath("models/chat-templates/reference/Qwen-Qwen2.5-7B-Instruct.json"));
  int rendered_cases = 0;
  for (const nlohmann::json& c : ref["cases"]) {
    const std::string name = c["conversation"].get<std::string>();
    SCOPED_TRACE("conversation " + name);
    const nlohmann::ordered_json conversation = Conversation(name);
    ASSERT_FALSE(conversation.is_null());
    ProcessResult r = RenderConversation(model, conversation);
    if (c.contains("error")) {
      // The template raises: a clear error, never a crash.
      EXPECT_TRUE(ExitedWith(r, 1)) << r.Describe();
      EXPECT_TRUE(HasErrorLine(r, {})) << r.Describe();
      continue;
    }
    ASSERT_TRUE(ExitedWith(r, 0)) << r.Describe();
    EXPECT_EQ(r.out, c["rendered"].get<std::string>());  // byte-exact, no trailing newline
    ++rendered_cases;
  }
  EXPECT_EQ(rendered_cases, 8);
}

TEST(QwenChatCli, TokenizeRenderedChatsMatchesReference) {
  const std::string& model = TinyQwenKite();
  ASSERT_FALSE(model.empty());
  const nlohmann::json cases = ReadJson(SharedPath("models/tokenizers/qwen2.5/reference/chat_encodings.json"));
  ASSERT_EQ(cases.size(), 8u);
  for (const nlohmann::json& c : cases) {
    SCOPED_TRACE("conversation " + c["conversation"].get<std::string>());
    ASSERT_TRUE(c.value("parse_special", false));
    ProcessResult r = Kite({"tokenize", model, c["text"].get<std::string>()});
    ASSERT_TRUE(ExitedWith(r, 0)) << r.Describe();
    nlohmann::json ids = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_TRUE(ids.is_array()) << r.out;
    EXPECT_EQ(ids.get<std::vector<int32_t>>(), c["ids"].get<std::vector<int32_t>>());
  }
  // The template and tokenizer agree end to end: the rendering of single_user tokenizes to
  // the reference ids of that same conversation.
  ProcessResult rendered = RenderConversation(model, Conversation("single_user"));
  ASSERT_TRUE(ExitedWith(rendered, 0)) << rendered.Describe();
  ProcessResult r = Kite({"tokenize", model, rendered.out});
  ASSERT_TRUE(ExitedWith(r, 0)) << r.Describe();
  EXPECT_EQ(nlohmann::json::parse(r.out).get<std::vector<int32_t>>(), cases[0]["ids"].get<std::vector<int32_t>>());
  // --no-parse-special: "<|im_start|>" is plain text, not id 151644.
  ProcessResult plain = Kite({"tokenize", model, "<|im_start|>", "--no-parse-special"});
  ASSERT_TRUE(ExitedWith(plain, 0)) << plain.Describe();
  const std::vector<int32_t> plain_ids = nlohmann::json::parse(plain.out).get<std::vector<int32_t>>();
  EXPECT_GT(plain_ids.size(), 1u);
  EXPECT_EQ(std::count(plain_ids.begin(), plain_ids.end(), 151644), 0);
}

TEST(QwenChatCli, InspectShowsTemplateAndTokenizer) {
  const std::string& model = TinyQwenKite();
  ASSERT_FALSE(model.empty());
  ProcessResult r = Kite({"inspect", model, "--json"});
  ASSERT_TRUE(ExitedWith(r, 0)) << r.Describe();
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_NE(j.value("architecture", "").find("Qwen2"), std::string::npos) << j.dump();
  EXPECT_EQ(j["chat_template"], true);
  EXPECT_EQ(j["config"]["vocab_size"], 151936);
  EXPECT_EQ(j["quantization"]["scheme"], "q8");
  ASSERT_TRUE(j["tokenizer"].is_object()) << j.dump();
  EXPECT_EQ(j["tokenizer"]["eos_id"], 151645);
  ProcessResult verify = Kite({"verify", model});
  EXPECT_TRUE(ExitedWith(verify, 0)) << verify.Describe();
}

TEST(QwenChatCli, RunWithSystemPromptEndsCleanly) {
  const std::string& model = TinyQwenKite();
  ASSERT_FALSE(model.empty());
  ProcessResult r = Kite({"run", model, "-p", "hi", "--system", "be brief", "-n", "8"});
  EXPECT_TRUE(ExitedWith(r, 0)) << r.Describe();
  ProcessResult greedy = Kite({"run", model, "-p", "hi", "--system", "be brief", "-n", "8", "--greedy", "--stats"});
  EXPECT_TRUE(ExitedWith(greedy, 0)) << greedy.Describe();
  EXPECT_NE(greedy.err.find("stop:"), std::string::npos) << greedy.err;
}

TEST(QwenChatCli, InteractiveChatKeepsTheConversation) {
  const std::string& model = TinyQwenKite();
  ASSERT_FALSE(model.empty());
  // Three turns (the second and third reuse the cached prefix), a /reset, then EOF.
  RunOptions input;
  input.stdin_text = "hello there\nand again\n/reset\nafter reset\n";
  ProcessResult r = Kite({"run", model, "--system", "be brief", "-n", "6", "--seed", "3"}, input);
  EXPECT_TRUE(ExitedWith(r, 0)) << r.Describe();
  EXPECT_EQ(r.err.find("error:"), std::string::npos) << r.err;
  // /quit ends before the remaining lines.
  input.stdin_text = "hello\n/quit\nnever read\n";
  ProcessResult quit = Kite({"run", model, "-n", "4"}, input);
  EXPECT_TRUE(ExitedWith(quit, 0)) << quit.Describe();
}

TEST(QwenChatCli, GenerateFromIdsAndStopsAtContext) {
  const std::string& model = TinyQwenKite();
  ASSERT_FALSE(model.empty());
  // Raw ids in, JSON out; --ignore-eos with a 16-token context ends at the context's end.
  ProcessResult r = Kite({"generate", model, "--ids", "151644,872,198", "-n", "100", "--ctx", "16", "--ignore-eos",
                          "--greedy", "--json"});
  ASSERT_TRUE(ExitedWith(r, 0)) << r.Describe();
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_EQ(j["prompt_ids"].get<std::vector<int32_t>>(), (std::vector<int32_t>{151644, 872, 198}));
  EXPECT_EQ(j.value("stop_reason", ""), "context_full");
  EXPECT_LE(j["ids"].size() + 3, 16u + 1);  // the last sampled id need not be evaluated
  EXPECT_GE(j["ids"].size() + 3, 16u);
}

}  // namespace
}  // namespace cli_test
}  // namespace kite
