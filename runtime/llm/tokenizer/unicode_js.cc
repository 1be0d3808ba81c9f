// The wasm build's Unicode tables: the utf8proc functions runtime/llm/tokenizer/unicode.cc calls
// (declared by platforms/wasm/include/utf8proc.h), implemented with JavaScript's own tables
// (String.prototype.normalize, toLowerCase, \p{..} tests; platforms/wasm/kite_unicode_lib.js), since
// utf8proc has no wasm build. unicode.cc itself is shared with the native build unchanged. Node 20's
// ICU and Debian's utf8proc 2.8 both implement Unicode 15.0; browsers may be newer, which only
// matters for characters assigned since. Native builds link utf8proc, and this file compiles to
// nothing there.
#if defined(__EMSCRIPTEN__)

#include <utf8proc.h>

extern "C" {
// platforms/wasm/kite_unicode_lib.js
int kite_js_unicode_category(int cp);
int kite_js_unicode_tolower(int cp);
int kite_js_unicode_normalize(const utf8proc_uint8_t* text, int len, int form, utf8proc_uint8_t** out);

utf8proc_category_t utf8proc_category(utf8proc_int32_t codepoint) {
  if (codepoint < 0x80) {  // ASCII without a call into JS
    if (codepoint < 0x20 || codepoint == 0x7F) return UTF8PROC_CATEGORY_CC;
  }
  return static_cast<utf8proc_category_t>(kite_js_unicode_category(codepoint));
}

utf8proc_int32_t utf8proc_tolower(utf8proc_int32_t codepoint) {
  if (codepoint < 0x80) return codepoint >= 'A' && codepoint <= 'Z' ? codepoint + 32 : codepoint;
  return kite_js_unicode_tolower(codepoint);
}

utf8proc_ssize_t utf8proc_map(const utf8proc_uint8_t* str, utf8proc_ssize_t strlen, utf8proc_uint8_t** dstptr,
                              utf8proc_option_t options) {
  *dstptr = nullptr;
  if ((options & UTF8PROC_NULLTERM) != 0 || strlen < 0) return UTF8PROC_ERROR_INVALIDOPTS;
  const bool compose = (options & UTF8PROC_COMPOSE) != 0;
  const bool decompose = (options & UTF8PROC_DECOMPOSE) != 0;
  if (compose == decompose) return UTF8PROC_ERROR_INVALIDOPTS;  // unicode.cc always asks for one of them
  const bool compat = (options & UTF8PROC_COMPAT) != 0;
  const int form = (compose ? 0 : 1) + (compat ? 2 : 0);  // NFC, NFD, NFKC, NFKD
  const int n = kite_js_unicode_normalize(str, static_cast<int>(strlen), form, dstptr);
  return n < 0 ? UTF8PROC_ERROR_NOMEM : n;
}

const char* utf8proc_errmsg(utf8proc_ssize_t errcode) {
  switch (errcode) {
    case UTF8PROC_ERROR_NOMEM: return "Memory for processing UTF-8 data could not be allocated.";
    case UTF8PROC_ERROR_INVALIDOPTS: return "Invalid options for UTF-8 processing chosen.";
    default: return "An unknown error occurred while processing UTF-8 data.";
  }
}

}  // extern "C"

#endif  // __EMSCRIPTEN__
