#include "runtime/llm/chat_template/chat_template.h"

#include <nlohmann/json.hpp>

#include "runtime/llm/chat_template/ast.h"
#include "runtime/llm/chat_template/evaluator.h"
#include "runtime/llm/chat_template/parser.h"
#include "runtime/llm/chat_template/value.h"

namespace kite {
namespace {

using jinja::Value;

// Jinja's built-in filters this engine does not implement: a template may
// name them (they fail only if reached), unlike names Jinja does not know.
bool IsKnownUnimplementedFilter(const std::string& name) {
  static const char* const kNames[] = {"filesizeformat", "groupby", "pprint",   "random", "slice",
                                       "striptags",      "urlencode", "urlize", "wordwrap", "xmlattr"};
  for (const char* n : kNames) {
    if (name == n) return true;
  }
  return false;
}

// Jinja resolves filter and test names when it compiles a template.
Status CheckNames(const jinja::Expr* expr) {
  if (expr == nullptr) return Status::Ok();
  if (expr->kind == jinja::ExprKind::kFilter && jinja::FindFilter(expr->name) == nullptr &&
      !IsKnownUnimplementedFilter(expr->name)) {
    return InvalidArgument(jinja::LocatedMessage(expr->loc, "no filter named '" + expr->name + "'"));
  }
  if (expr->kind == jinja::ExprKind::kTest && jinja::FindTest(expr->name) == nullptr) {
    return InvalidArgument(jinja::LocatedMessage(expr->loc, "no test named '" + expr->name + "'"));
  }
  for (const auto& child : expr->children) KITE_RETURN_IF_ERROR(CheckNames(child.get()));
  for (const auto& arg : expr->args) KITE_RETURN_IF_ERROR(CheckNames(arg.get()));
  for (const auto& kw : expr->kwargs) KITE_RETURN_IF_ERROR(CheckNames(kw.second.get()));
  KITE_RETURN_IF_ERROR(CheckNames(expr->dyn_args.get()));
  return CheckNames(expr->dyn_kwargs.get());
}

Status CheckNames(const jinja::StmtList& list) {
  for (const auto& stmt : list) {
    for (const jinja::Expr* e : {stmt->expr.get(), stmt->target.get(), stmt->condition.get(), stmt->filter.get()}) {
      KITE_RETURN_IF_ERROR(CheckNames(e));
    }
    for (const auto& e : stmt->defaults) KITE_RETURN_IF_ERROR(CheckNames(e.get()));
    for (const auto& e : stmt->values) KITE_RETURN_IF_ERROR(CheckNames(e.get()));
    for (const auto& branch : stmt->branches) {
      KITE_RETURN_IF_ERROR(CheckNames(branch.first.get()));
      KITE_RETURN_IF_ERROR(CheckNames(branch.second));
    }
    KITE_RETURN_IF_ERROR(CheckNames(stmt->body));
    KITE_RETURN_IF_ERROR(CheckNames(stmt->else_body));
  }
  return Status::Ok();
}

// JSON deeper than this is refused before conversion (conversion recurses).
constexpr int kMaxJsonDepth = jinja::kMaxValueDepth;

template <typename Json>
Result<Value> FromJson(const Json& j, int depth) {
  if (depth > kMaxJsonDepth) {
    return InvalidArgument("nested more than " + std::to_string(kMaxJsonDepth) + " levels deep");
  }
  switch (j.type()) {
    case nlohmann::json::value_t::null: return Value::None();
    case nlohmann::json::value_t::boolean: return Value::Bool(j.template get<bool>());
    case nlohmann::json::value_t::number_integer: return Value::Int(j.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const uint64_t u = j.template get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value::Float(static_cast<double>(u));
      return Value::Int(static_cast<int64_t>(u));
    }
    case nlohmann::json::value_t::number_float: return Value::Float(j.template get<double>());
    case nlohmann::json::value_t::string: return Value::String(j.template get_ref<const std::string&>());
    case nlohmann::json::value_t::array: {
      jinja::ValueList items;
      items.reserve(j.size());
      for (const auto& item : j) {
        KITE_ASSIGN_OR_RETURN(Value v, FromJson(item, depth + 1));
        items.push_back(std::move(v));
      }
      return Value::List(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      jinja::Dict dict;
      for (auto it = j.begin(); it != j.end(); ++it) {
        KITE_ASSIGN_OR_RETURN(Value v, FromJson(it.value(), depth + 1));
        dict.Set(Value::String(it.key()), std::move(v));
      }
      return Value::FromDict(std::move(dict));
    }
    default: return InvalidArgument("binary JSON values are not supported");
  }
}

template <typename Json>
Result<std::string> RenderJson(const jinja::TemplateAst& ast, const Json& context, const ChatTemplateOptions& options) {
  if (!context.is_object()) return InvalidArgument("chat template context must be a JSON object");
  Result<Value> value = FromJson(context, 0);
  if (!value.ok()) {
    return Status(value.status().code(), "chat template context: " + value.status().message());
  }
  jinja::RenderLimits limits;
  limits.max_output_bytes = options.max_output_bytes;
  limits.max_steps = options.max_steps;
  limits.max_call_depth = options.max_call_depth;
  jinja::Evaluator evaluator(limits, options.now);
  Result<std::string> rendered = evaluator.Render(ast, value.value());
  if (rendered.ok()) return rendered;
  const std::string& message = rendered.status().message();
  const bool located = message.compare(0, 5, "line ") == 0;
  std::string prefix = evaluator.raised_exception() ? "chat template raised an exception" : "chat template error";
  prefix += located ? " at " : ": ";
  return Status(rendered.status().code(), prefix + message);
}

}  // namespace

ChatTemplate::ChatTemplate() = default;
ChatTemplate::~ChatTemplate() = default;

Result<std::unique_ptr<ChatTemplate>> ChatTemplate::Parse(const std::string& source) {
  Result<jinja::TemplateAst> ast = jinja::ParseTemplate(source);
  Status status = ast.ok() ? CheckNames(ast.value().body) : ast.status();
  if (!status.ok()) return Status(status.code(), "chat template syntax error at " + status.message());
  std::unique_ptr<ChatTemplate> tmpl(new ChatTemplate());
  tmpl->ast_ = std::make_unique<jinja::TemplateAst>(std::move(ast).value());
  return tmpl;
}

Result<std::string> ChatTemplate::Render(const nlohmann::ordered_json& context, const ChatTemplateOptions& options) const {
  return RenderJson(*ast_, context, options);
}

Result<std::string> ChatTemplate::Render(const nlohmann::json& context, const ChatTemplateOptions& options) const {
  return RenderJson(*ast_, context, options);
}

}  // namespace kite
