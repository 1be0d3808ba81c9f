// Language features of the chat-template engine, table-driven. Every
// expected string below is what Python Jinja2 3.1 renders for the template
// in transformers' environment (ImmutableSandboxedEnvironment, trim_blocks,
// lstrip_blocks, loopcontrols, json.dumps tojson), with the context built by
// Context() and the clock fixed at 2026-01-15 09:30:00.
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/chat_template/template_test_util.h"

namespace kite {
namespace {

using nlohmann::ordered_json;

struct Case {
  const char* source;
  const char* expected;
};

ordered_json Context() {
  return ordered_json::parse(R"({
    "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi é"},
                 {"role": "assistant", "content": " ok "}],
    "xs": [3, 1, 2], "d": {"b": 1, "a": [1, 2, {"c": null}]}, "s": "Hello World", "n": 5, "f": 2.5,
    "t": true, "none_value": null, "e": "", "l": []})");
}

template <size_t N>
void CheckAll(const Case (&cases)[N]) {
  const ordered_json context = Context();
  const ChatTemplateOptions options = testing::FixedClock();
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string("template: ") + testing::Visible(c.source));
    const std::string got = testing::RenderOrError(c.source, context, options);
    EXPECT_TRUE(got == c.expected) << testing::DescribeMismatch(c.expected, got);
  }
}

const Case kWhitespaceControl[] = {
    {"a\n  {% if t %}\n  b\n  {% endif %}\nc",
     "a\n  b\nc"},
    {"a  {%- if t -%}  b  {%- endif -%}  c",
     "abc"},
    {"a\n  {%+ if t %}b{% endif %}\n",
     "a\n  b"},
    {"{% if t +%}\nkept newline{% endif %}",
     "\nkept newline"},
    {"x  {{- n -}}  y {{ n }} z",
     "x5y 5 z"},
    {"  {{ n }}  \n  {% if t %}x{% endif %}  \n",
     "  5  \nx  "},
    {"{# comment #}\nx\n  {#- c2 -#}\n  y",
     "xy"},
    {"  {# lstripped comment #}\nz",
     "z"},
    {"{% raw %}{{ not evaluated }}{% endraw %}",
     "{{ not evaluated }}"},
    {"line1\r\nline2\rline3\n",
     "line1\nline2\nline3"},
    {"trailing newline dropped\n",
     "trailing newline dropped"},
    {"two trailing newlines\n\n",
     "two trailing newlines\n"},
    {"{% for x in xs %}\n  {{ x }}\n{% endfor %}\n",
     "  3\n  1\n  2\n"},
    {"{%- for x in xs -%}\n  [{{ x }}]\n{%- endfor -%}",
     "[3][1][2]"},
    {"<{{ 'a' }}\n>",
     "<a\n>"},
};

const Case kLoops[] = {
    {"{% for x in xs %}{{ loop.index }}:{{ x }}{% if not loop.last %},{% endif %}{% endfor %}",
     "1:3,2:1,3:2"},
    {"{% for x in xs %}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.length }}|{% endfor %}",
     "032True3|121False3|210False3|"},
    {"{% for x in xs if x > 1 %}{{ loop.index }}/{{ loop.length }}:{{ x }} {% else %}none{% endfor %}",
     "1/2:3 2/2:2 "},
    {"{% for x in [] %}a{% else %}empty{% endfor %}",
     "empty"},
    {"{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
     "b=1;a=[1, 2, {'c': None}];"},
    {"{% for a, (b, c) in [(1, (2, 3))] %}{{ a }}{{ b }}{{ c }}{% endfor %}",
     "123"},
    {"{% for m in messages %}{{ loop.previtem.role if loop.previtem }}|{{ loop.nextitem.role if loop.nextitem else 'END' }};{% endfor %}",
     "|user;system|assistant;user|END;"},
    {"{% for x in xs %}{% if x == 1 %}{% break %}{% endif %}{{ x }}{% endfor %}",
     "3"},
    {"{% for x in xs %}{% if x == 1 %}{% continue %}{% endif %}{{ x }}{% endfor %}",
     "32"},
    {"{% for x in xs %}{{ loop.cycle('odd', 'even') }} {% endfor %}",
     "odd even odd "},
    {"{% for x in [1, 1, 2] %}{{ loop.changed(x) }} {% endfor %}",
     "True False True "},
    {"{% for x in xs %}{% for y in 'ab' %}{{ loop.index }}{{ y }}{% endfor %}{{ loop.index }}|{% endfor %}",
     "1a2b1|1a2b2|1a2b3|"},
    {"{% for c in 'h\xc3""\xa9""llo' %}[{{ c }}]{% endfor %}",
     "[h][\xc3""\xa9""][l][l][o]"},
    {"{% for k in d %}{{ k }}{% endfor %}",
     "ba"},
    {"{% for x in undefined_list %}never{% endfor %}done",
     "done"},
};

const Case kScoping[] = {
    {"{% set y = 1 %}{% for x in xs %}{% set y = x %}{% endfor %}{{ y }}",
     "1"},
    {"{% for x in xs %}{% if loop.first %}{% set y = 5 %}{% endif %}[{{ y }}]{% endfor %}",
     "[5][][]"},
    {"{% if t %}{% set z = 3 %}{% endif %}{{ z }}",
     "3"},
    {"{% set ns = namespace(total=0, items=[]) %}{% for x in xs %}{% set ns.total = ns.total + x %}{% set ns.items = ns.items + [x] %}{% endfor %}{{ ns.total }} {{ ns.items }}",
     "6 [3, 1, 2]"},
    {"{% set ns = namespace() %}{% set ns.a = 1 %}{{ ns.a }} {{ ns.missing is defined }}",
     "1 False"},
    {"{% with a = 5, b = 6 %}{{ a + b }}{% endwith %}[{{ a }}]",
     "11[]"},
    {"{% set x %}block {{ n }}{% endset %}[{{ x }}]",
     "[block 5]"},
    {"{% set x | upper %}shout{% endset %}{{ x }}",
     "SHOUT"},
    {"{% set a, b = 1, 2 %}{{ a }}{{ b }}",
     "12"},
    {"{% set messages = messages[1:] %}{{ messages|length }}",
     "2"},
};

const Case kMacros[] = {
    {"{% macro m(a, b=2) %}[{{ a }}-{{ b }}]{% endmacro %}{{ m(1) }}{{ m(1, 3) }}{{ m(b=5, a=4) }}{{ m() }}",
     "[1-2][1-3][4-5][-2]"},
    {"{% macro m() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, x=3) }}",
     "(1, 2){'x': 3}"},
    {"{% macro w() %}<{{ caller() }}>{% endmacro %}{% call w() %}inner{% endcall %}",
     "<inner>"},
    {"{% macro w() %}<{{ caller(1) }}>{% endmacro %}{% call(x) w() %}v={{ x }}{% endcall %}",
     "<v=1>"},
    {"{% macro fact(k) %}{% if k <= 1 %}1{% else %}{{ k * fact(k - 1)|int }}{% endif %}{% endmacro %}{{ fact(5) }}",
     "120"},
    {"{% macro t(spec) %}{% if spec.type == 'array' %}list[{{ t(spec['items']) }}]{% else %}{{ spec.type }}{% endif %}{% endmacro %}{{ t({'type': 'array', 'items': {'type': 'array', 'items': {'type': 'int'}}}) }}",
     "list[list[int]]"},
    {"{% macro m(x) %}{{ x }}{% endmacro %}{{ m('a') + m('b') }} {{ m(1)|length }}",
     "ab 1"},
    {"{% macro m(a, b=a) %}{{ b }}{% endmacro %}{{ m(7) }}",
     "7"},
    {"{% set g = 'global' %}{% macro m() %}{{ g }}{% endmacro %}{{ m() }}",
     "global"},
    {"{% filter upper %}hello {{ s }}{% endfilter %}",
     "HELLO HELLO WORLD"},
};

const Case kExpressions[] = {
    {"{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 10 / 4 }} {{ 10 / 5 }}",
     "7 9 3 -4 1 2 1024 0.5 2.5 2.0"},
    {"{{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ 1.5 + 1 }} {{ 0.1 + 0.2 }} {{ 1e100 }} {{ 1e-7 }} {{ 123456789.0 * 1000 }} {{ -0.0 }}",
     "64 4 2.5 0.30000000000000004 1e+100 1e-07 123456789000.0 -0.0"},
    {"{{ 'a' ~ 1 ~ none ~ true ~ 1.0 }} {{ 'ab' * 3 }} {{ [1] * 3 }} {{ [1, 2] + [3] }} {{ (1,) + (2,) }}",
     "a1NoneTrue1.0 ababab [1, 1, 1] [1, 2, 3] (1, 2)"},
    {"{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 1 == 1.0 }} {{ 1 == true }} {{ 'a' != 'b' }} {{ [1, 2] < [1, 3] }} {{ 'abc' < 'abd' }}",
     "True False True True True True True"},
    {"{{ 'a' in 'abc' }} {{ 3 in xs }} {{ 'b' in d }} {{ 'z' not in d }} {{ 'role' in messages[0] }} {{ none in [none] }}",
     "True True True True True True"},
    {"{{ n if t else 0 }} [{{ n if none }}] {{ n if none else 'no' }} {{ t and n }} {{ none or 'z' }} {{ not t }} {{ e or l or 'last' }}",
     "5 [] no 5 z False last"},
    {"{{ 'it''s' }} {{ \"tab\\there\" }} {{ 'nl\\nx' }} {{ '\\u00e9\\x41\\101' }} {{ 'back\\\\slash' }} {{ 'unknown\\q' }}",
     "its tab\there nl\nx \xc3""\xa9""AA back\\slash unknown\\q"},
    {"{{ xs }} {{ d }} {{ (1,) }} {{ (1, 'a') }} {{ () }} {{ none }} {{ t }} {{ [none, true, 1.5, 'q\\'x'] }} {{ {'k': (1, 2)} }}",
     "[3, 1, 2] {'b': 1, 'a': [1, 2, {'c': None}]} (1,) (1, 'a') () None True [None, True, 1.5, \"q'x\"] {'k': (1, 2)}"},
    {"{{ s[0] }} {{ s[-1] }} {{ s[1:3] }} {{ s[::-1] }} {{ s[::2] }} {{ xs[1:] }} {{ xs[:-1] }} {{ 'h\xc3""\xa9""llo'[1] }} {{ 'h\xc3""\xa9""llo'[1:3] }}",
     "H d el dlroW olleH HloWrd [1, 2] [3, 1] \xc3""\xa9"" \xc3""\xa9""l"},
    {"{{ d.b }} {{ d['a'][2].c }} {{ d.a.0 }} [{{ d.zz }}] {{ messages[0].role }} {{ messages[-1]['content'] }}",
     "1 None 1 [] system  ok "},
    {"{{ -n }} {{ +n }} {{ -f }} {{ --n }} {{ 3|abs }} {{ -3|abs }}",
     "-5 5 -2.5 5 3 3"},
    {"{{ '%s and %d' % ('x', 3) }} {{ '%05.1f|%-4s|%x' % (3.14159, 'ab', 255) }} {{ '%(a)s' % {'a': 1} }}",
     "x and 3 003.1|ab  |ff 1"},
};

const Case kFilters[] = {
    {"{{ '  x  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ s|upper }} {{ s|lower }} {{ 'hello world'|capitalize }} {{ 'hello-world (x)'|title }}",
     "x|hi|HELLO WORLD hello world Hello world Hello-World (X)"},
    {"{{ s|length }} {{ xs|count }} {{ d|length }} {{ undefined_thing|length }} {{ 'h\xc3""\xa9""llo'|length }}",
     "11 3 2 0 5"},
    {"{{ xs|first }} {{ xs|last }} {{ s|first }} {{ d|first }} {{ xs|join('-') }} {{ xs|join }} {{ messages|join(', ', attribute='role') }}",
     "3 2 H b 3-1-2 312 system, user, assistant"},
    {"[{{ undefined_thing|default('dflt') }}] [{{ e|default('x') }}] [{{ e|default('x', true) }}] [{{ none|d('y', boolean=true) }}]",
     "[dflt] [] [x] [y]"},
    {"{{ 'hello'|replace('l', 'L') }} {{ 'hello'|replace('l', 'L', 1) }} {{ 'ab'|replace('', '-') }}",
     "heLLo heLlo -a-b-"},
    {"{{ 42|string }}{{ none|string }} {{ '42'|int + 1 }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ 3.9|int }} {{ '0x1A'|int(0, 16) }} {{ '4.2'|float }} {{ 5|float }}",
     "42None 43 4 0 7 3 26 4.2 5.0"},
    {"{{ xs|list }} {{ 'ab'|list }} {{ d|list }} {{ xs|reverse|list }} {{ s|reverse }} {{ d|items|list }}",
     "[3, 1, 2] ['a', 'b'] ['b', 'a'] [2, 1, 3] dlroW olleH [('b', 1), ('a', [1, 2, {'c': None}])]"},
    {"{{ xs|sort }} {{ xs|sort(reverse=true) }} {{ ['b', 'A', 'a']|sort }} {{ ['b', 'A', 'a']|sort(case_sensitive=true) }} {{ [{'a': 2}, {'a': 1}]|sort(attribute='a') }}",
     "[1, 2, 3] [3, 2, 1] ['A', 'a', 'b'] ['A', 'a', 'b'] [{'a': 1}, {'a': 2}]"},
    {"{{ {'b': 1, 'a': 2}|dictsort }} {{ {'b': 1, 'a': 2}|dictsort(by='value') }} {{ {'b': 1, 'a': 2}|dictsort(reverse=true) }}",
     "[('a', 2), ('b', 1)] [('b', 1), ('a', 2)] [('b', 1), ('a', 2)]"},
    {"{{ xs|unique|list }} {{ ['a', 'A', 'b']|unique|list }} {{ xs|min }} {{ xs|max }} {{ xs|sum }} {{ [{'v': 1}, {'v': 2.5}]|sum(attribute='v') }} {{ [[1], [2]]|sum(start=[]) }}",
     "[3, 1, 2] ['a', 'b'] 1 3 6 3.5 [1, 2]"},
    {"{{ messages|map(attribute='role')|list }} {{ xs|map('string')|list }} {{ messages|map(attribute='nope', default='?')|list }}",
     "['system', 'user', 'assistant'] ['3', '1', '2'] ['?', '?', '?']"},
    {"{{ messages|selectattr('role', 'equalto', 'user')|list|length }} {{ messages|rejectattr('role', 'eq', 'user')|map(attribute='role')|list }} {{ messages|selectattr('content')|list|length }}",
     "1 ['system', 'assistant'] 3"},
    {"{{ xs|select('odd')|list }} {{ xs|reject('even')|list }} {{ [0, 1, '', 'a', none]|select|list }} {{ xs|select('greaterthan', 1)|list }}",
     "[3, 1] [3, 1] [1, 'a'] [3, 2]"},
    {"{{ 3.14159|round(2) }} {{ 2.5|round }} {{ 3.5|round }} {{ 7|round }} {{ 2.567|round(1, 'floor') }} {{ 2.123|round(1, 'ceil') }}",
     "3.14 2.0 4.0 7 2.5 2.2"},
    {"{{ 'a\\nb'|indent(4) }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2, blank=true) }}|{{ 'a\\nb'|indent('> ') }}",
     "a\n    b|  a\n  b|a\n  \n  b|a\n> b"},
    {"{{ xs|batch(2)|list }} {{ s|wordcount }} {{ 'hello world foo'|truncate(9) }} {{ 'abc'|center(7) }}| {{ '<a href=\"x\">&'|e }} {{ 'x'|safe }}",
     "[[3, 1], [2]] 2 hello...   abc  | &lt;a href=&#34;x&#34;&gt;&amp; x"},
    {"{{ messages[0]|attr('items') is callable }} {{ '%s-%s'|format(1, 2) }}",
     "True 1-2"},
};

const Case kTests[] = {
    {"{{ n is odd }} {{ n is even }} {{ n is divisibleby 5 }} {{ n is divisibleby(2) }} {{ n is number }} {{ n is integer }} {{ f is float }} {{ t is number }}",
     "True False True False True True True True"},
    {"{{ s is string }} {{ d is mapping }} {{ xs is iterable }} {{ s is iterable }} {{ xs is sequence }} {{ d is sequence }} {{ n is iterable }}",
     "True True True True True True False"},
    {"{{ none is none }} {{ t is boolean }} {{ t is true }} {{ t is false }} {{ n is boolean }} {{ 0 is false }}",
     "True True True False False False"},
    {"{{ n is equalto 5 }} {{ n is eq 5 }} {{ n is ne 5 }} {{ n is gt 4 }} {{ n is ge 5 }} {{ n is lt 5 }} {{ n is le 5 }} {{ n is lessthan 9 }} {{ n is greaterthan 9 }}",
     "True True False True True False True True False"},
    {"{{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 'x' is in 'xyz' }} {{ 2 is in xs }} {{ xs is sameas xs }} {{ none is sameas none }}",
     "True True True True True True"},
    {"{{ range is callable }} {{ s is callable }} {{ 'upper' is filter }} {{ 'odd' is test }} {{ 'nope' is filter }}",
     "True False True True False"},
    {"{{ n is defined }} {{ nope is defined }} {{ nope is undefined }} {{ d.zz is defined }} {{ n is not defined }} {{ not n is defined }}",
     "True False True False False False"},
};

const Case kMethods[] = {
    {"{{ ' x '.strip() }}|{{ 'xax'.strip('x') }}|{{ ' x '.lstrip() }}|{{ ' x '.rstrip() }}|{{ 'a,b,,c'.split(',') }} {{ 'a b  c'.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }}",
     "x|a|x | x|['a', 'b', '', 'c'] ['a', 'b', 'c'] ['a', 'b,c'] ['a,b', 'c']"},
    {"{{ 'ab'.startswith('a') }} {{ 'ab'.endswith(('x', 'b')) }} {{ 'hi'.upper() }} {{ 'Hi'.lower() }} {{ \"they're bill's\".title() }} {{ 'hELLO'.capitalize() }}",
     "True True HI hi They'Re Bill'S Hello"},
    {"{{ 'hello'.replace('l', 'L') }} {{ 'hello'.find('l') }} {{ 'hello'.rfind('l') }} {{ 'h\xc3""\xa9""llo'.find('l') }} {{ 'hello'.count('l') }} {{ '-'.join(['a', 'b']) }}",
     "heLLo 2 3 2 2 a-b"},
    {"{{ 'a\\nb\\r\\nc'.splitlines() }} {{ '42'.isdigit() }} {{ 'ab'.isalpha() }} {{ '  '.isspace() }} {{ '7'.zfill(3) }} {{ 'ab'.center(6, '*') }} {{ 'ab'.ljust(4) }}| {{ 'ab'.rjust(4) }}",
     "['a', 'b', 'c'] True True True 007 **ab** ab  |   ab"},
    {"{{ 'a=b=c'.partition('=') }} {{ 'a=b=c'.rpartition('=') }} {{ 'prefix_x'.removeprefix('prefix_') }} {{ '{} {x}'.format(1, x=2) }} {{ '{0}{0}'.format('r') }} {{ '{:>5}|{:.2f}|{!r}|{:03d}'.format('a', 3.14159, 'q', 7) }}",
     "('a', '=', 'b=c') ('a=b', '=', 'c') x 1 2 rr     a|3.14|'q'|007"},
    {"{{ d.get('b') }} {{ d.get('zz') }} {{ d.get('zz', 7) }} {{ d.keys()|list }} {{ d.values()|list }} {{ d.items()|list }} {{ xs.index(2) }} {{ xs.count(1) }}",
     "1 None 7 ['b', 'a'] [1, [1, 2, {'c': None}]] [('b', 1), ('a', [1, 2, {'c': None}])] 2 1"},
};

const Case kToJson[] = {
    {"{{ d|tojson }} {{ xs|tojson }} {{ none|tojson }} {{ t|tojson }} {{ f|tojson }} {{ 1e100|tojson }} {{ 'x'|tojson }}",
     "{\"b\": 1, \"a\": [1, 2, {\"c\": null}]} [3, 1, 2] null true 2.5 1e+100 \"x\""},
    {"{{ 'na\xc3""\xaf""ve caf\xc3""\xa9"" \xe6""\x97""\xa5""\xe6""\x9c""\xac""\xe8""\xaa""\x9e"" \xf0""\x9f""\x99""\x82""'|tojson }} {{ 'na\xc3""\xaf""ve \xf0""\x9f""\x99""\x82""'|tojson(ensure_ascii=true) }}",
     "\"na\xc3""\xaf""ve caf\xc3""\xa9"" \xe6""\x97""\xa5""\xe6""\x9c""\xac""\xe8""\xaa""\x9e"" \xf0""\x9f""\x99""\x82""\" \"na\\u00efve \\ud83d\\ude42\""},
    {"{{ 'quote\" back\\\\ nl\\n tab\\t cr\\r bell\\x07 del\\x7f'|tojson }}",
     "\"quote\\\" back\\\\ nl\\n tab\\t cr\\r bell\\u0007 del\x7f""\""},
    {"{{ d|tojson(indent=2) }}",
     "{\n  \"b\": 1,\n  \"a\": [\n    1,\n    2,\n    {\n      \"c\": null\n    }\n  ]\n}"},
    {"{{ {'a': [], 'b': {}, 'c': [1, [2]]}|tojson(indent=4) }}",
     "{\n    \"a\": [],\n    \"b\": {},\n    \"c\": [\n        1,\n        [\n            2\n        ]\n    ]\n}"},
    {"{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }} {{ {'b': 1, 'a': [1, 2]}|tojson(separators=(',', ':')) }} {{ {1: 'int key', none: 'none key'}|tojson }}",
     "{\"a\": 2, \"b\": 1} {\"b\":1,\"a\":[1,2]} {\"1\": \"int key\", \"null\": \"none key\"}"},
    {"{{ messages[0]|tojson(indent='\\t') }}",
     "{\n\t\"role\": \"system\",\n\t\"content\": \"sys\"\n}"},
    {"{{ (1, 2)|tojson }} {{ '\xc3""\xa9""'|tojson(indent=2) }}",
     "[1, 2] \"\xc3""\xa9""\""},
};

const Case kUndefined[] = {
    {"[{{ nope }}] [{{ nope|trim }}] [{{ nope|upper }}] [{{ nope|string }}] [{{ nope|join }}] [{{ nope ~ 'x' }}] [{{ nope|default }}]",
     "[] [] [] [] [] [x] []"},
    {"{{ nope is iterable }} {{ nope is sequence }} {{ nope is callable }} {{ nope is mapping }} {{ nope is string }} {{ nope is number }} {{ nope is none }}",
     "True True True False False False False"},
    {"{{ nope == nope }} {{ nope == none }} {{ nope != 1 }} {{ 'x' in nope }} {{ nope in xs }} {{ not nope }} {{ nope and 1 }} {{ nope or 2 }}",
     "True False True False False True  2"},
    {"{{ nope|length }} {{ nope|list }} {{ nope|items|list }} [{{ nope|first }}] {% for x in nope %}never{% else %}else{% endfor %}",
     "0 [] [] [] else"},
    {"[{{ d.missing }}] [{{ d['missing'] }}] [{{ xs[10] }}] [{{ s[50] }}] [{{ 'abc'.nope }}] [{{ d.missing|trim }}]",
     "[] [] [] [] [] []"},
    {"{% if nope %}yes{% else %}no{% endif %} {% if d.missing is defined and d.missing.x %}never{% endif %}",
     "no "},
};

const Case kGlobals[] = {
    {"{{ range(3)|list }} {{ range(1, 10, 3)|list }} {{ range(5, 0, -2)|list }} {{ range(0)|list }}",
     "[0, 1, 2] [1, 4, 7] [5, 3, 1] []"},
    {"{{ strftime_now('%d %b %Y') }} {{ strftime_now('%Y-%m-%dT%H:%M:%S') }} {{ strftime_now('%A %j') }}",
     "15 Jan 2026 2026-01-15T09:30:00 Thursday 015"},
    {"{{ dict(a=1, b=2) }} {{ dict([('x', 1)]) }} {{ namespace(a=1) }} {{ namespace({'k': 2}).k }}",
     "{'a': 1, 'b': 2} {'x': 1} <Namespace {'a': 1}> 2"},
};

// trim_blocks, lstrip_blocks, `-` and `+` on both sides, comments, raw, newline normalisation
TEST(ChatTemplateLanguage, WhitespaceControl) { CheckAll(kWhitespaceControl); }

// loop variables, else, inline if, unpacking, break/continue, cycle/changed, nesting
TEST(ChatTemplateLanguage, Loops) { CheckAll(kLoops); }

// a scope per loop iteration, none for if, namespace(), with, block set
TEST(ChatTemplateLanguage, Scoping) { CheckAll(kScoping); }

// defaults, varargs/kwargs, caller, recursion, closures
TEST(ChatTemplateLanguage, Macros) { CheckAll(kMacros); }

// precedence, Python arithmetic, comparisons, literals and escapes, str() of values, slicing
TEST(ChatTemplateLanguage, Expressions) { CheckAll(kExpressions); }

// Jinja's built-in filters
TEST(ChatTemplateLanguage, Filters) { CheckAll(kFilters); }

// `is` tests
TEST(ChatTemplateLanguage, Tests) { CheckAll(kTests); }

// str, dict and list methods
TEST(ChatTemplateLanguage, Methods) { CheckAll(kMethods); }

// json.dumps semantics: unicode kept, escapes, indent, separators, sort_keys, ensure_ascii
TEST(ChatTemplateLanguage, ToJson) { CheckAll(kToJson); }

// Python Jinja's default Undefined: empty, falsy, iterable, lenient filters
TEST(ChatTemplateLanguage, Undefined) { CheckAll(kUndefined); }

// range, strftime_now (fixed clock), dict, namespace
TEST(ChatTemplateLanguage, Globals) { CheckAll(kGlobals); }

TEST(ChatTemplateLanguage, ParseOnceRenderMany) {
  auto tmpl = ChatTemplate::Parse("{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}");
  ASSERT_TRUE(tmpl.ok()) << tmpl.status().message();
  for (int i = 0; i < 3; ++i) {
    ordered_json context;
    context["messages"] = ordered_json::array({{{"role", "user"}, {"content", std::to_string(i)}}});
    auto out = tmpl.value()->Render(context);
    ASSERT_TRUE(out.ok()) << out.status().message();
    EXPECT_EQ(out.value(), "user:" + std::to_string(i) + ";");
  }
}

// Render is const: one parsed template serves several threads at once.
TEST(ChatTemplateLanguage, RendersConcurrently) {
  auto tmpl = ChatTemplate::Parse(
      "{% set ns = namespace(n=0) %}{% for x in xs %}{% set ns.n = ns.n + x %}{% endfor %}{{ ns.n }}{{ xs|tojson }}");
  ASSERT_TRUE(tmpl.ok());
  std::vector<std::string> results(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      ordered_json context;
      context["xs"] = ordered_json::array({t, t, t});
      for (int i = 0; i < 200; ++i) {
        auto out = tmpl.value()->Render(context);
        results[static_cast<size_t>(t)] = out.ok() ? out.value() : out.status().message();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < 4; ++t) {
    EXPECT_EQ(results[static_cast<size_t>(t)], std::to_string(3 * t) + "[" + std::to_string(t) + ", " +
                                                   std::to_string(t) + ", " + std::to_string(t) + "]");
  }
}

// nlohmann::json sorts object keys; ordered_json keeps them, as Python does.
TEST(ChatTemplateLanguage, KeyOrderFollowsTheContext) {
  auto tmpl = ChatTemplate::Parse("{{ tool|tojson }}");
  ASSERT_TRUE(tmpl.ok());
  auto ordered = tmpl.value()->Render(ordered_json::parse(R"({"tool": {"name": "f", "description": "d"}})"));
  auto sorted = tmpl.value()->Render(nlohmann::json::parse(R"({"tool": {"name": "f", "description": "d"}})"));
  ASSERT_TRUE(ordered.ok() && sorted.ok());
  EXPECT_EQ(ordered.value(), R"({"name": "f", "description": "d"})");
  EXPECT_EQ(sorted.value(), R"({"description": "d", "name": "f"})");
}

TEST(ChatTemplateLanguage, StrftimeNowUsesTheRealClockByDefault) {
  const std::string year = testing::RenderOrError("{{ strftime_now('%Y') }}", ordered_json::object());
  ASSERT_EQ(year.size(), 4u) << year;
  EXPECT_GE(std::stoi(year), 2024);
}

}  // namespace
}  // namespace kite
