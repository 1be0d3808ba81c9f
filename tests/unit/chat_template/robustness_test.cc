// Errors and hostile input: every failure is a Status that says what and
// where (line, column), runaway templates stop at the limits, and no
// template, mutation of a real template or odd context crashes the engine.
#include <random>
#include <string>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define KITE_TEST_HAS_PTHREAD 1
#endif

#include "tests/test_paths.h"
#include "tests/unit/chat_template/template_test_util.h"

namespace kite {
namespace {

using nlohmann::ordered_json;

struct ErrorCase {
  const char* source;
  const char* message;  // the whole Status message
};

ordered_json SmallContext() { return ordered_json::parse(R"({"xs": [1], "d": {}, "t": true})"); }

void CheckErrors(const std::vector<ErrorCase>& cases) {
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(std::string("template: ") + testing::Visible(c.source));
    const std::string got = testing::RenderOrError(c.source, SmallContext());
    EXPECT_EQ(got, std::string("ERROR: ") + c.message);
  }
}

TEST(ChatTemplateErrors, SyntaxErrorsSayWhatAndWhere) {
  CheckErrors({
      {"Hello\n{{ name }\n", "chat template syntax error at line 2, column 9: unexpected '}'"},
      {"{% if x %}\nno end",
       "chat template syntax error at line 2, column 7: unexpected end of template, expected 'elif' or 'else' or "
       "'endif' to close the block opened at line 1, column 4"},
      {"{% for x in xs %}\n  {% endif %}",
       "chat template syntax error at line 2, column 6: unexpected 'endif'; expected 'endfor' or 'else'"},
      {"{{ x | nosuchfilter }}", "chat template syntax error at line 1, column 8: no filter named 'nosuchfilter'"},
      {"{{ foo is nosuchtest }}", "chat template syntax error at line 1, column 8: no test named 'nosuchtest'"},
      {"line1\nline2 {{ 'unterminated }}", "chat template syntax error at line 2, column 10: unterminated string literal"},
      {"{# never closed", "chat template syntax error at line 1, column 1: missing end of comment tag"},
      {"{% raw %}never closed", "chat template syntax error at line 1, column 1: missing end of raw directive"},
      {"{% do x %}", "chat template syntax error at line 1, column 4: unknown tag 'do'"},
      {"{% break %}", "chat template syntax error at line 1, column 4: 'break' outside of a for loop"},
      {"{% include 'other.jinja' %}",
       "chat template syntax error at line 1, column 4: 'include' is not supported: a chat template cannot load other "
       "templates"},
      {"{{ }}", "chat template syntax error at line 1, column 4: expected an expression, got end of print statement"},
      {"{{ 1 2 }}", "chat template syntax error at line 1, column 6: expected end of print statement, got integer"},
      {"{% macro m(a=1, b) %}{% endmacro %}",
       "chat template syntax error at line 1, column 17: non-default argument follows default argument"},
      {"{{ 99999999999999999999 }}",
       "chat template syntax error at line 1, column 4: integer literal 99999999999999999999 is too large"},
  });
}

TEST(ChatTemplateErrors, RenderErrorsSayWhatAndWhere) {
  CheckErrors({
      {"a\n\n   {{ d.x.y }}", "chat template error at line 3, column 10: 'dict object' has no attribute 'x'"},
      // Columns count code points, not bytes.
      {"é{{ d.x.y }}", "chat template error at line 1, column 8: 'dict object' has no attribute 'x'"},
      {"{% for x in 5 %}{% endfor %}", "chat template error at line 1, column 13: 'int' object is not iterable"},
      {"{% macro m() %}\n  {{ 1 // 0 }}\n{% endmacro %}\n{{ m() }}",
       "chat template error at line 2, column 8: division by zero"},
      {"{{ 'a' + 1 }}", "chat template error at line 1, column 8: can only concatenate str (not \"int\") to str"},
      {"{{ undefined_fn() }}", "chat template error at line 1, column 4: 'undefined_fn' is undefined"},
      {"{{ xs.append(2) }}",
       "chat template error at line 1, column 6: access to attribute 'append' of 'list' object is unsafe."},
      {"{% set x = 1 %}{% set x.a = 2 %}",
       "chat template error at line 1, column 23: cannot assign attribute on non-namespace object"},
      {"{% for a, b in [(1, 2, 3)] %}{% endfor %}",
       "chat template error at line 1, column 8: too many values to unpack (expected 2)"},
      {"{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}",
       "chat template error at line 1, column 34: macro 'm' takes not more than 1 argument(s)"},
      {"{{ nope|tojson }}", "chat template error at line 1, column 9: Object of type Undefined is not JSON serializable"},
      {"{{ range(100001)|length }}",
       "chat template error at line 1, column 4: Range too big. The sandbox blocks ranges larger than MAX_RANGE "
       "(100000)."},
      {"{{ 9223372036854775807 + 1 }}",
       "chat template error at line 1, column 24: integer overflow: the result does not fit in 64 bits"},
      {"{{ s|groupby('x') }}", "chat template error at line 1, column 6: filter 'groupby' is not supported"},
  });
}

TEST(ChatTemplateErrors, RaiseExceptionSurfacesTheMessage) {
  auto tmpl = ChatTemplate::Parse("x\n{% if true %}{{ raise_exception('Conversation roles must alternate') }}{% endif %}");
  ASSERT_TRUE(tmpl.ok());
  auto out = tmpl.value()->Render(ordered_json::object());
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(out.status().message(),
            "chat template raised an exception at line 2, column 17: Conversation roles must alternate");
}

TEST(ChatTemplateErrors, ContextMustBeAnObject) {
  auto tmpl = ChatTemplate::Parse("x");
  ASSERT_TRUE(tmpl.ok());
  auto out = tmpl.value()->Render(ordered_json::array({1, 2}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(), "chat template context must be a JSON object");
}

// ---------------------------------------------------------------- runaway templates

Status RenderStatus(const std::string& source, const ChatTemplateOptions& options = ChatTemplateOptions(),
                    const ordered_json& context = ordered_json::object()) {
  auto tmpl = ChatTemplate::Parse(source);
  if (!tmpl.ok()) return tmpl.status();
  auto out = tmpl.value()->Render(context, options);
  return out.ok() ? Status::Ok() : out.status();
}

void ExpectLimit(const Status& status, const std::string& fragment) {
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find(fragment), std::string::npos) << status.message();
}

TEST(ChatTemplateLimits, EndlessRecursionStops) {
  const Status status = RenderStatus("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  EXPECT_EQ(status.code(), StatusCode::kOutOfRange);
  ExpectLimit(status, "macro calls nested more than 64 deep");
  ExpectLimit(RenderStatus("{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}{% endmacro %}{{ a() }}"),
              "macro calls nested more than 64 deep");
  ChatTemplateOptions shallow;
  shallow.max_call_depth = 3;
  ExpectLimit(RenderStatus("{% macro f(n) %}{{ n }}{{ f(n + 1) if n < 10 }}{% endmacro %}{{ f(0) }}", shallow),
              "macro calls nested more than 3 deep");
  // A call tree that is shallow but exponentially wide runs into the step limit.
  ChatTemplateOptions few_steps;
  few_steps.max_steps = 20000;
  ExpectLimit(RenderStatus("{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
                           "{{ f(40) }}",
                           few_steps),
              "more than 20000 loop iterations and macro calls");
}

TEST(ChatTemplateLimits, EndlessLoopsStop) {
  ChatTemplateOptions options;
  options.max_steps = 20000;
  const Status status =
      RenderStatus("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", options);
  EXPECT_EQ(status.code(), StatusCode::kOutOfRange);
  ExpectLimit(status, "more than 20000 loop iterations and macro calls");
  // The default limit holds too (about a million steps).
  ExpectLimit(RenderStatus("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"),
              "loop iterations and macro calls");
}

TEST(ChatTemplateLimits, HugeOutputStops) {
  ChatTemplateOptions options;
  options.max_output_bytes = 1 << 20;
  ExpectLimit(RenderStatus("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", options),
              "the rendered text exceeds the output limit of 1048576 bytes");
  ExpectLimit(RenderStatus("{{ 'x' * 100000000 }}", options), "exceeds the output limit");
  // Doubling a string: 2^100 bytes is refused long before memory runs out.
  ExpectLimit(RenderStatus("{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}"
                           "{% endfor %}{{ ns.s|length }}",
                           options),
              "exceeds the output limit of 1048576 bytes");
  // Growing a string one piece at a time costs quadratic work: bounded too.
  ExpectLimit(RenderStatus("{% set ns = namespace(s='') %}{% for i in range(100000) %}{% set ns.s = ns.s ~ "
                           "'0123456789' %}{% endfor %}",
                           options),
              "bytes of strings");
  // A shared structure that prints exponentially large.
  ExpectLimit(RenderStatus("{% set ns = namespace(l=[1]) %}{% for i in range(60) %}{% set ns.l = [ns.l, ns.l] %}"
                           "{% endfor %}{{ ns.l }}",
                           options),
              "exceeds the output limit");
}

TEST(ChatTemplateLimits, DeepTemplatesAreRefusedNotOverflowed) {
  const std::string deep_parens = "{{ " + std::string(10000, '(') + "1" + std::string(10000, ')') + " }}";
  ExpectLimit(RenderStatus(deep_parens), "expression nested more than 48 levels deep");
  std::string nots = "{{ ";
  for (int i = 0; i < 10000; ++i) nots += "not ";
  ExpectLimit(RenderStatus(nots + "1 }}"), "expression nested more than 48 levels deep");
  ExpectLimit(RenderStatus("{{ " + std::string(10000, '-') + "1 }}"), "expression nested more than 48 levels deep");
  std::string sum = "{{ 1";
  for (int i = 0; i < 100000; ++i) sum += "+1";
  ExpectLimit(RenderStatus(sum + " }}"), "expression nested more than 256 levels deep");
  std::string attrs = "{{ x";
  for (int i = 0; i < 100000; ++i) attrs += ".a";
  ExpectLimit(RenderStatus(attrs + " }}"), "expression nested more than 256 levels deep");
  std::string filters = "{{ x";
  for (int i = 0; i < 100000; ++i) filters += "|trim";
  ExpectLimit(RenderStatus(filters + " }}"), "expression nested more than 256 levels deep");
  std::string ifs;
  for (int i = 0; i < 1000; ++i) ifs += "{% if true %}";
  ExpectLimit(RenderStatus(ifs), "nested more than 48 levels deep");
  ExpectLimit(RenderStatus("{{ " + std::string(10000, '[') + std::string(10000, ']') + " }}"),
              "expression nested more than 48 levels deep");
  // A long elif chain is flat, not nested.
  std::string elifs = "{% if false %}";
  for (int i = 0; i < 5000; ++i) elifs += "{% elif false %}";
  EXPECT_TRUE(RenderStatus(elifs + "{% else %}ok{% endif %}").ok());
}

TEST(ChatTemplateLimits, DeepValuesAreRefusedNotOverflowed) {
  ExpectLimit(RenderStatus("{% set ns = namespace(l=[]) %}{% for i in range(1000) %}{% set ns.l = [ns.l] %}"
                           "{% endfor %}{{ ns.l }}"),
              "nested more than 256 levels deep");
  // A long chain of namespaces is freed without deep recursion...
  EXPECT_TRUE(RenderStatus("{% set ns = namespace(n=none) %}{% for i in range(100000) %}"
                           "{% set ns.n = namespace(n=ns.n) %}{% endfor %}done")
                  .ok());
  // ...and printing it stops at the depth limit.
  ExpectLimit(RenderStatus("{% set ns = namespace(n=none) %}{% for i in range(1000) %}"
                           "{% set ns.n = namespace(n=ns.n) %}{% endfor %}{{ ns }}"),
              "nested more than 256 levels deep");
  // Reference cycles: printing fails, rendering without printing is fine
  // (and, under ASan, leak-free).
  ExpectLimit(RenderStatus("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}"), "nested more than");
  EXPECT_TRUE(RenderStatus("{% set ns = namespace() %}{% set ns.me = ns %}{% set ns.l = [ns, ns] %}ok").ok());
  EXPECT_TRUE(RenderStatus("{% for x in [1, 2] %}{% set ns = namespace() %}{% set ns.loop = loop %}"
                           "{{ loop.changed(ns) }}{% endfor %}")
                  .ok());
  // Deep JSON in the context is refused, not recursed into without end.
  ordered_json deep = 1;
  for (int i = 0; i < 1000; ++i) deep = ordered_json::array({deep});
  ordered_json context;
  context["deep"] = deep;
  ExpectLimit(RenderStatus("{{ deep }}", ChatTemplateOptions(), context), "chat template context: nested more than");
}

#if KITE_TEST_HAS_PTHREAD
// The depth limits keep the worst templates within a small thread stack:
// 512 KB is the smallest default a platform gives a secondary thread (iOS).
// Sanitizer and unoptimised builds have much larger frames.
size_t TestStackBytes() {
#if defined(__SANITIZE_ADDRESS__)
  return size_t{32} << 20;
#elif !defined(__OPTIMIZE__)
  return size_t{4} << 20;
#else
  return size_t{512} << 10;
#endif
}

struct StackRun {
  std::vector<std::string> sources;
  std::vector<std::string> results;
};

void* RunSources(void* arg) {
  auto* run = static_cast<StackRun*>(arg);
  for (const std::string& source : run->sources) {
    run->results.push_back(testing::RenderOrError(source, ordered_json::parse(R"({"x": "v"})")));
  }
  return nullptr;
}

TEST(ChatTemplateLimits, HostileTemplatesFitInASmallStack) {
  StackRun run;
  const std::string chain = [] {
    std::string s = "1";
    for (int i = 0; i < 250; ++i) s += "+1";
    return s;
  }();
  std::string filters;
  for (int i = 0; i < 250; ++i) filters += "|trim";
  std::string ifs, endifs;
  for (int i = 0; i < 50; ++i) ifs += "{% if true %}", endifs += "{% endif %}";
  run.sources = {
      "{{ " + std::string(47, '(') + "x" + std::string(47, ')') + " }}",
      "{{ " + std::string(100000, '(') + " }}",
      "{% macro f(n) %}{{ " + chain + " + f(n + 1)|int }}{% endmacro %}{{ f(0) }}",
      "{% macro f(n) %}{{ (f(n + 1)" + filters + ") }}{% endmacro %}{{ f(0) }}",
      "{% macro f(n) %}" + ifs + "{{ f(n + 1) }}" + endifs + "{% endmacro %}{{ f(0) }}",
      "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
      ifs + "{{ x" + filters + " }}" + endifs,
  };
  pthread_attr_t attr;
  ASSERT_EQ(pthread_attr_init(&attr), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attr, TestStackBytes()), 0);
  pthread_t thread;
  ASSERT_EQ(pthread_create(&thread, &attr, RunSources, &run), 0);
  ASSERT_EQ(pthread_join(thread, nullptr), 0);
  pthread_attr_destroy(&attr);
  ASSERT_EQ(run.results.size(), run.sources.size());
  EXPECT_EQ(run.results[0], "v");
  EXPECT_EQ(run.results[1], "ERROR: chat template syntax error at line 1, column 100005: unexpected '}', expected ')'");
  for (size_t i = 2; i < run.results.size(); ++i) {
    EXPECT_EQ(run.results[i].rfind("ERROR: ", 0), 0u) << run.results[i];
    EXPECT_NE(run.results[i].find("nested more than"), std::string::npos) << run.results[i];
  }
}
#endif  // KITE_TEST_HAS_PTHREAD

// ---------------------------------------------------------------- malformed input

// Mutates real templates at random (deterministically) and checks that
// parsing and rendering never crash and that every error names a location.
TEST(ChatTemplateFuzz, MutatedRealTemplatesNeverCrash) {
  const char* const kNames[] = {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use", "Qwen-Qwen2.5-7B-Instruct",
                                "meta-llama-Llama-3.2-3B-Instruct", "mistralai-Mistral-Nemo-Instruct-2407",
                                "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B"};
  std::string conversations_text;
  ASSERT_TRUE(testing::ReadFile(testing::SharedPath("models/chat-templates/conversations.json"), &conversations_text));
  const ordered_json conversations = ordered_json::parse(conversations_text);
  ordered_json context;
  context["messages"] = conversations[5]["messages"];  // tool_round_trip
  context["tools"] = conversations[5]["tools"];
  context["add_generation_prompt"] = true;
  context["bos_token"] = "<s>";
  const std::string alphabet = "{}%#-+|()[].,:'\"\n \\=~*/!<>0aZ_é\xff";
  std::mt19937 rng(1234);
  int parsed = 0, rendered = 0;
  ChatTemplateOptions options = testing::FixedClock();
  options.max_steps = 20000;
  for (const char* name : kNames) {
    std::string source;
    ASSERT_TRUE(testing::ReadFile(testing::SharedPath(std::string("models/chat-templates/") + name + ".jinja"), &source));
    for (int iteration = 0; iteration < 300; ++iteration) {
      std::string mutated = source;
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits && !mutated.empty(); ++e) {
        const size_t at = rng() % mutated.size();
        switch (rng() % 3) {
          case 0: mutated.erase(at, 1 + rng() % 8); break;
          case 1: mutated.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
          default: mutated[at] = alphabet[rng() % alphabet.size()];
        }
      }
      auto tmpl = ChatTemplate::Parse(mutated);
      if (!tmpl.ok()) {
        EXPECT_NE(tmpl.status().message().find(" at line "), std::string::npos) << tmpl.status().message();
        continue;
      }
      ++parsed;
      auto out = tmpl.value()->Render(context, options);
      if (out.ok()) {
        ++rendered;
      } else {
        EXPECT_NE(out.status().message().find(" at line "), std::string::npos) << out.status().message();
      }
    }
  }
  // The mutations must exercise both paths, or the test proves little.
  EXPECT_GT(parsed, 100);
  EXPECT_GT(rendered, 50);
}

// Random token soup inside tags.
TEST(ChatTemplateFuzz, RandomTokenSoupNeverCrashes) {
  const char* const kTokens[] = {"x",   "1",   "'s'", "(",   ")",    "[",   "]",   "{",  "}",  ",",  ":",   ".",
                                 "|",   "is",  "not", "in",  "and",  "or",  "if",  "else", "+", "-",  "*",   "**",
                                 "//",  "%",   "~",   "==",  "<",    "=",   "trim", "loop", "ns", "none", "true", "for",
                                 "set", "endfor", "endif", "macro", "m",  "(x)", "caller", "namespace(a=1)", "xs"};
  std::mt19937 rng(99);
  const ordered_json context = ordered_json::parse(R"({"xs": [1, 2], "x": {"a": 1}})");
  ChatTemplateOptions options;
  options.max_steps = 10000;
  for (int i = 0; i < 3000; ++i) {
    std::string source = (rng() % 2) ? "{{ " : "{% ";
    const int n = 1 + static_cast<int>(rng() % 10);
    for (int k = 0; k < n; ++k) source += std::string(kTokens[rng() % (sizeof(kTokens) / sizeof(kTokens[0]))]) + " ";
    source += source[1] == '{' ? "}}" : "%}";
    if (rng() % 3 == 0) source += "body{% endfor %}{% endif %}";
    auto tmpl = ChatTemplate::Parse(source);
    if (tmpl.ok()) {
      auto out = tmpl.value()->Render(context, options);
      (void)out;
    }
  }
}

TEST(ChatTemplateFuzz, InvalidUtf8PassesThrough) {
  ordered_json context;
  context["s"] = std::string("ok \xff\xfe end \xe2\x82");
  EXPECT_EQ(testing::RenderOrError("\xc3{{ s }}|{{ s|length }}|{{ s|upper }}", context),
            "\xc3ok \xff\xfe end \xe2\x82|12|OK \xff\xfe END \xe2\x82");
  // tojson keeps the bytes rather than failing (Python cannot hold them at all).
  EXPECT_EQ(testing::RenderOrError("{{ s[-2:]|tojson }}", context), "\"\xe2\x82\"");
}

}  // namespace
}  // namespace kite
