// JavaScript half of the wasm tokenizer (an emscripten --js-library): JS's RegExp and Unicode
// tables stand in for PCRE2 and utf8proc, which have no wasm builds. The C++ half is
// runtime/llm/tokenizer/regex_js.cc (the Regex class) and unicode_js.cc (the utf8proc functions
// unicode.cc calls).
//
// Patterns: tokenizer.json carries Oniguruma/PCRE syntax and the native build runs it with PCRE2
// 10.42 (UTF + UCP). kiteTranslatePattern rewrites it into an equivalent JS RegExp with the 'u' flag:
//   \s \S  -> PCRE2's space list (its \h and \v sets: note U+0085 and U+180E are in, U+FEFF is not)
//   \w \W  -> [\p{L}\p{N}_] (PCRE2 10.42 with UCP; marks are not word characters there)
//   \d \D  -> \p{Nd}        \b \B -> lookarounds over that \w      \A \z \Z -> lookarounds
//   (?i:..) and a leading (?i) -> explicit case alternatives ([sSſ], 'k' also matches the Kelvin
//           sign) since node 20 has no inline modifiers; PCRE2 folds the same characters
//   (?>..) and possessive X*+ X++ X?+ X{n,m}+ -> (?=(?<kN>X))\k<kN> (a JS lookahead is atomic)
//   \p{Han} (a script) -> \p{Script=Han}; \pL -> \p{L}; \x{HHHH} -> \u{HHHH}; (?P<n> -> (?<n>
//   literal { } ] and needless escapes such as \' (which 'u' mode rejects) -> escaped/plain literals
// Anything else PCRE2 has and JS lacks (\G, \K, \R, POSIX classes, nested sets, backtracking
// verbs, other inline flags) is refused with a message naming it, never silently changed.
//
// Compiled RegExps live in a per-thread Map keyed by the C++ Regex's id, so a pthread that
// tokenizes compiles its own copy from the translated source.

var KiteUnicodeLib = {
  $kiteUnicode__deps: ['malloc'],
  $kiteUnicode: {
    regexes: null,
    categories: null,    // Uint8Array per code point, 255 = not yet known
    categoryTests: null,
    decoder: null,
    encoder: null,
    // PCRE2 10.42's \s under UCP: its horizontal and vertical space lists.
    SPACE: '\\t\\n\\v\\f\\r \\x85\\xA0\\u1680\\u180E\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000',
    WORD: '\\p{L}\\p{N}_',
    SYNTAX: '^$\\.*+?()[]{}|/',

    readText: function(ptr, len) {
      if (!kiteUnicode.decoder) kiteUnicode.decoder = new TextDecoder('utf-8');
      // slice, not subarray: TextDecoder refuses views of a SharedArrayBuffer (threads build).
      return kiteUnicode.decoder.decode(HEAPU8.slice(ptr, ptr + len));
    },
    // Copies s as UTF-8 (NUL-terminated) into a malloc'd buffer; stores its byte length at lenPtr.
    writeText: function(s, lenPtr) {
      if (!kiteUnicode.encoder) kiteUnicode.encoder = new TextEncoder();
      var bytes = kiteUnicode.encoder.encode(s);
      var out = _malloc(bytes.length + 1);
      if (!out) return 0;
      HEAPU8.set(bytes, out);
      HEAPU8[out + bytes.length] = 0;
      if (lenPtr) HEAP32[lenPtr >> 2] = bytes.length;
      return out;
    },

    caseVariants: function(ch) {
      var set = [ch];
      var add = function(c) { if (set.indexOf(c) < 0 && Array.from(c).length === 1) set.push(c); };
      add(ch.toLowerCase());
      add(ch.toUpperCase());
      var lower = ch.toLowerCase();
      if (lower === 's') add('\u017F');  // PCRE2 folds LATIN SMALL LETTER LONG S with s
      if (lower === 'k') add('\u212A');  // and KELVIN SIGN with k
      if (ch === '\u017F') { add('s'); add('S'); }
      if (ch === '\u212A') { add('k'); add('K'); }
      return set;
    },
    escapeLiteral: function(ch) {
      if (kiteUnicode.SYNTAX.indexOf(ch) >= 0) return '\\' + ch;
      if (ch === '-') return '\\-';
      return ch;
    },

    // Throws an Error whose message says what is unsupported and where.
    translate: function(p) {
      var U = kiteUnicode;
      var chars = Array.from(p);  // code points
      var i = 0;
      var out = [];               // pieces; atoms are tracked by their index in out
      var atomStart = -1;         // where the last quantifiable atom begins in out
      var groups = [];            // stack of {start, caseless, atomic, prevCaseless}
      var caseless = false;
      var atomicCount = 0;
      var fail = function(what) { throw new Error(what + ' (at character ' + i + '; the wasm build translates PCRE syntax to JS RegExp)'); };

      var hexEscape = function() {  // after "\x": HH or {H...}
        if (chars[i] === '{') {
          var close = chars.indexOf('}', i);
          if (close < 0) fail('\\x{ without }');
          var hex = chars.slice(i + 1, close).join('');
          i = close + 1;
          return parseInt(hex, 16);
        }
        var h = chars.slice(i, i + 2).join('');
        if (!/^[0-9a-fA-F]{2}$/.test(h)) fail('\\x escape');
        i += 2;
        return parseInt(h, 16);
      };
      var codePointLiteral = function(cp, inClass) {
        return '\\u{' + cp.toString(16) + '}';
      };
      var property = function(negated) {  // after "\p" or "\P"
        var name;
        if (chars[i] === '{') {
          var close = chars.indexOf('}', i);
          if (close < 0) fail('\\p{ without }');
          name = chars.slice(i + 1, close).join('');
          i = close + 1;
        } else {
          name = chars[i++];
        }
        if (name.charAt(0) === '^') { negated = !negated; name = name.slice(1); }
        var tag = negated ? '\\P' : '\\p';
        if (name === 'Any') return negated ? '[^\\s\\S]' : '[\\s\\S]';
        if (name === 'L&') name = 'LC';
        var forms = [name, 'Script=' + name];
        for (var f = 0; f < forms.length; ++f) {
          try { new RegExp(tag + '{' + forms[f] + '}', 'u'); return tag + '{' + forms[f] + '}'; } catch (e) {}
        }
        fail('the Unicode property \\p{' + name + '}');
      };
      // One escape after a backslash; inClass: the text goes inside [...] (may be a class body).
      var escape = function(inClass) {
        var c = chars[i++];
        if (c === undefined) fail('a trailing backslash');
        switch (c) {
          case 's': return inClass ? U.SPACE : '[' + U.SPACE + ']';
          case 'S': if (inClass) fail('\\S inside a character class'); return '[^' + U.SPACE + ']';
          case 'w': return inClass ? U.WORD : '[' + U.WORD + ']';
          case 'W': if (inClass) fail('\\W inside a character class'); return '[^' + U.WORD + ']';
          case 'd': return '\\p{Nd}';
          case 'D': return '\\P{Nd}';
          case 'h': return inClass ? '\\t\\p{Zs}\\u180E' : '[\\t\\p{Zs}\\u180E]';
          case 'p': return property(false);
          case 'P': return property(true);
          case 'n': return '\\n';
          case 'r': return '\\r';
          case 't': return '\\t';
          case 'f': return '\\f';
          case 'v': return inClass ? '\\n-\\r\\x85\\u2028\\u2029' : '[\\n-\\r\\x85\\u2028\\u2029]';  // PCRE2: vertical space
          case 'e': return '\\x1B';
          case 'a': return '\\x07';
          case '0': return '\\0';
          case 'x': return codePointLiteral(hexEscape(), inClass);
          case 'u': {
            var h = chars.slice(i, i + 4).join('');
            if (!/^[0-9a-fA-F]{4}$/.test(h)) fail('\\u escape');
            i += 4;
            return codePointLiteral(parseInt(h, 16), inClass);
          }
          case 'b':
            if (inClass) return '\\x08';
            return '(?:(?<=[' + U.WORD + '])(?![' + U.WORD + '])|(?<![' + U.WORD + '])(?=[' + U.WORD + ']))';
          case 'B':
            if (inClass) fail('\\B inside a character class');
            return '(?:(?<=[' + U.WORD + '])(?=[' + U.WORD + '])|(?<![' + U.WORD + '])(?![' + U.WORD + ']))';
          case 'A': if (inClass) fail('\\A inside a character class'); return '(?<![\\s\\S])';
          case 'z': if (inClass) fail('\\z inside a character class'); return '(?![\\s\\S])';
          case 'Z': if (inClass) fail('\\Z inside a character class'); return '(?=\\n?(?![\\s\\S]))';
          default:
            if (/[A-Za-z1-9]/.test(c)) fail('the escape \\' + c);
            // An escaped symbol is that symbol; 'u' mode accepts the escape only for syntax characters.
            if (inClass) return (c === ']' || c === '\\' || c === '^' || c === '-' || c === '[') ? '\\' + c : c;
            return U.escapeLiteral(c);
        }
      };
      var literal = function(ch, inClass) {
        if (caseless && ch.toLowerCase() !== ch.toUpperCase()) {
          var variants = U.caseVariants(ch);
          return inClass ? variants.join('') : '[' + variants.join('') + ']';
        }
        if (inClass) return (ch === ']' || ch === '\\' || ch === '[') ? '\\' + ch : ch;
        return U.escapeLiteral(ch);
      };
      var charClass = function() {  // after "["
        var body = '[';
        if (chars[i] === '^') { body += '^'; ++i; }
        if (chars[i] === ']') { body += '\\]'; ++i; }  // a leading ] is a literal
        for (;;) {
          var c = chars[i];
          if (c === undefined) fail('an unterminated character class');
          if (c === ']') { ++i; break; }
          if (c === '[') {
            if (chars[i + 1] === ':') fail('POSIX classes ([:name:])');
            body += '\\[';
            ++i;
            continue;
          }
          if (c === '\\') { ++i; body += escape(true); continue; }
          if (c === '-') { body += '-'; ++i; continue; }
          ++i;
          // A range a-z under (?i): add the other case of the range's ASCII letters.
          if (caseless && chars[i] === '-' && chars[i + 1] !== undefined && chars[i + 1] !== ']' && chars[i + 1] !== '\\') {
            var hi = chars[i + 1];
            i += 2;
            var rangeEnd = function(ch) { return '[]\\^-'.indexOf(ch) >= 0 ? '\\' + ch : ch; };
            body += rangeEnd(c) + '-' + rangeEnd(hi);
            var lo = c.codePointAt(0), up = hi.codePointAt(0);
            var a = Math.max(lo, 0x61), b = Math.min(up, 0x7A);
            if (a <= b) body += String.fromCharCode(a - 32) + '-' + String.fromCharCode(b - 32);
            a = Math.max(lo, 0x41); b = Math.min(up, 0x5A);
            if (a <= b) body += String.fromCharCode(a + 32) + '-' + String.fromCharCode(b + 32);
            continue;
          }
          body += literal(c, true);
        }
        return body + ']';
      };
      var quantifierAt = function(j) {  // length of a {n}, {n,}, {n,m} quantifier at j, or 0
        var m = /^\{(\d+)(,(\d*))?\}/.exec(chars.slice(j, j + 24).join(''));
        return m ? Array.from(m[0]).length : 0;
      };
      var possessive = function() {  // the atom at atomStart.. becomes atomic
        var inner = out.splice(atomStart).join('');
        var name = 'kiteAtomic' + (atomicCount++);
        out.push('(?=(?<' + name + '>' + inner + '))\\k<' + name + '>');
      };

      while (i < chars.length) {
        var c = chars[i];
        if (c === '\\') {
          ++i;
          atomStart = out.length;
          out.push(escape(false));
        } else if (c === '[') {
          ++i;
          atomStart = out.length;
          out.push(charClass());
        } else if (c === '(') {
          ++i;
          var group = {start: out.length, prevCaseless: caseless, atomic: false};
          if (chars[i] === '?') {
            var rest = chars.slice(i, i + 4).join('');
            if (rest.startsWith('?:') || rest.startsWith('?=') || rest.startsWith('?!') ||
                rest.startsWith('?<=') || rest.startsWith('?<!')) {
              var len = rest.startsWith('?<') ? 3 : 2;
              out.push('(' + rest.slice(0, len));
              i += len;
            } else if (rest.startsWith('?i:') || rest.startsWith('?i)')) {
              caseless = true;
              if (rest.charAt(2) === ')') {  // (?i) : the rest of the enclosing group
                i += 3;
                continue;
              }
              out.push('(?:');
              i += 3;
            } else if (rest.startsWith('?>')) {
              group.atomic = true;
              out.push('(?:');
              i += 2;
            } else if (rest.startsWith('?P<') || rest.startsWith('?<')) {
              i += rest.startsWith('?P') ? 3 : 2;
              out.push('(?<');
            } else if (rest.startsWith('?#')) {
              var close = chars.indexOf(')', i);
              if (close < 0) fail('an unterminated comment');
              i = close + 1;
              continue;
            } else {
              fail('the group syntax (' + rest);
            }
          } else {
            out.push('(');
          }
          groups.push(group);
          atomStart = -1;
        } else if (c === ')') {
          ++i;
          var g = groups.pop();
          if (!g) fail('an unmatched )');
          out.push(')');
          caseless = g.prevCaseless;
          atomStart = g.start;
          if (g.atomic) possessive();
        } else if (c === '*' || c === '+' || c === '?' || (c === '{' && quantifierAt(i) > 0)) {
          if (atomStart < 0) fail('a quantifier with nothing to repeat');
          var q = c === '{' ? chars.slice(i, i + quantifierAt(i)).join('') : c;
          i += Array.from(q).length;
          if (chars[i] === '?') { q += '?'; ++i; out.push(q); }
          else if (chars[i] === '+') { ++i; out.push(q); possessive(); }
          else out.push(q);
          atomStart = -1;
        } else if (c === '|') {
          ++i;
          out.push('|');
          atomStart = -1;
        } else if (c === '^' || c === '$') {
          ++i;
          // PCRE2 without MULTILINE: ^ is the start; $ the end or before a final newline.
          out.push(c === '^' ? '^' : '(?=\\n?(?![\\s\\S]))');
          atomStart = -1;
        } else if (c === '.') {
          ++i;
          atomStart = out.length;
          out.push('[^\\n]');  // PCRE2's default . excludes only \n; JS's also \r, U+2028/9
        } else {
          ++i;
          atomStart = out.length;
          out.push(c === '{' || c === '}' || c === ']' ? '\\' + c : literal(c, false));
        }
      }
      if (groups.length) fail('an unclosed (');
      return out.join('');
    },

    regex: function(id, source) {
      var U = kiteUnicode;
      if (!U.regexes) U.regexes = new Map();
      var re = U.regexes.get(id);
      if (!re) {
        re = new RegExp(source, 'gu');
        U.regexes.set(id, re);
      }
      return re;
    },

    // utf8proc's category numbering (UTF8PROC_CATEGORY_CN = 0 ... CO = 29).
    CATEGORY_NAMES: ['Cn', 'Lu', 'Ll', 'Lt', 'Lm', 'Lo', 'Mn', 'Mc', 'Me', 'Nd', 'Nl', 'No', 'Pc', 'Pd', 'Ps', 'Pe',
                     'Pi', 'Pf', 'Po', 'Sm', 'Sc', 'Sk', 'So', 'Zs', 'Zl', 'Zp', 'Cc', 'Cf', 'Cs', 'Co'],
  },

  // Returns 0 and sets *out to the JS pattern, or 1 and sets *out to an error message (malloc'd).
  kite_js_regex_translate__deps: ['$kiteUnicode'],
  kite_js_regex_translate: function(pattern, len, out) {
    var src, status = 0;
    try {
      src = kiteUnicode.translate(kiteUnicode.readText(pattern, len));
      new RegExp(src, 'gu');
    } catch (e) {
      src = String(e && e.message ? e.message : e);
      status = 1;
    }
    HEAP32[out >> 2] = kiteUnicode.writeText(src, 0);
    return status;
  },

  // Every leftmost non-overlapping match of regex `id` (JS source `source`) in text[0, len), as UTF-8
  // byte offsets [begin0, end0, begin1, ...] in a malloc'd uint32 array stored at *out. An empty
  // match resumes one code point later, as PCRE2's loop in regex.cc does. Returns the match count,
  // or -1 with an error message at *out.
  kite_js_regex_find_all__deps: ['$kiteUnicode'],
  kite_js_regex_find_all: function(id, source, source_len, text, len, out) {
    try {
      var re = kiteUnicode.regex(id, kiteUnicode.readText(source, source_len));
      var s = kiteUnicode.readText(text, len);
      var spans = [];
      var pos = 0;
      // UTF-16 index -> UTF-8 byte offset, walked forward as the matches move right.
      var u16 = 0, bytes = 0;
      var toBytes = function(target) {
        while (u16 < target) {
          var cp = s.codePointAt(u16);
          bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
          u16 += cp >= 0x10000 ? 2 : 1;
        }
        return bytes;
      };
      while (pos <= s.length) {
        re.lastIndex = pos;
        var m = re.exec(s);
        if (m === null) break;
        var begin = m.index, end = begin + m[0].length;
        spans.push(toBytes(begin), toBytes(end));
        if (end > begin) {
          pos = end;
        } else {
          if (end >= s.length) break;
          pos = end + (s.codePointAt(end) >= 0x10000 ? 2 : 1);
        }
      }
      var buffer = _malloc(Math.max(4, spans.length * 4));
      if (!buffer) throw new Error('out of memory');
      HEAPU32.set(spans, buffer >> 2);
      HEAP32[out >> 2] = buffer;
      return spans.length / 2;
    } catch (e) {
      HEAP32[out >> 2] = kiteUnicode.writeText('regex: ' + String(e && e.message ? e.message : e), 0);
      return -1;
    }
  },

  kite_js_regex_release__deps: ['$kiteUnicode'],
  kite_js_regex_release: function(id) {
    if (kiteUnicode.regexes) kiteUnicode.regexes.delete(id);
  },

  // General category of cp in utf8proc's numbering, from \p{..} tests cached per code point.
  kite_js_unicode_category__deps: ['$kiteUnicode'],
  kite_js_unicode_category: function(cp) {
    var U = kiteUnicode;
    if (cp < 0 || cp > 0x10FFFF) return 0;
    if (!U.categories) {
      U.categories = new Uint8Array(0x110000).fill(255);
      U.categoryTests = U.CATEGORY_NAMES.map(function(name) { return new RegExp('^\\p{' + name + '}$', 'u'); });
    }
    var known = U.categories[cp];
    if (known !== 255) return known;
    var ch = String.fromCodePoint(cp);
    var category = 0;
    for (var c = 1; c < U.categoryTests.length; ++c) {
      if (U.categoryTests[c].test(ch)) { category = c; break; }
    }
    U.categories[cp] = category;
    return category;
  },

  // Simple lowercase mapping (one code point, like utf8proc_tolower): cp when the full mapping is
  // not a single code point.
  kite_js_unicode_tolower: function(cp) {
    if (cp < 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return cp;
    var lower = String.fromCodePoint(cp).toLowerCase();
    var first = lower.codePointAt(0);
    return lower.length === (first >= 0x10000 ? 2 : 1) ? first : cp;
  },

  // text[0, len) in normalization form `form` (0 NFC, 1 NFD, 2 NFKC, 3 NFKD) into a malloc'd buffer at
  // *out; returns its byte length, or -1.
  kite_js_unicode_normalize__deps: ['$kiteUnicode'],
  kite_js_unicode_normalize: function(text, len, form, out) {
    try {
      var names = ['NFC', 'NFD', 'NFKC', 'NFKD'];
      var s = kiteUnicode.readText(text, len).normalize(names[form]);
      var lenPtr = _malloc(4);
      var buffer = kiteUnicode.writeText(s, lenPtr);
      var n = HEAP32[lenPtr >> 2];
      _free(lenPtr);
      if (!buffer) return -1;
      HEAP32[out >> 2] = buffer;
      return n;
    } catch (e) {
      return -1;
    }
  },
};
KiteUnicodeLib.kite_js_unicode_normalize__deps.push('free');

mergeInto(LibraryManager.library, KiteUnicodeLib);
