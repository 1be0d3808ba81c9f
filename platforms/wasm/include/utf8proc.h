/* The part of utf8proc's API that runtime/llm/tokenizer/unicode.cc uses, for the wasm build, where
 * runtime/llm/tokenizer/unicode_js.cc implements it with JavaScript's Unicode tables (utf8proc has no
 * wasm build). Names, types and constants follow utf8proc 2.8's utf8proc.h so unicode.cc compiles
 * unchanged; only the options unicode.cc passes are honoured. */
#ifndef KITE_WASM_UTF8PROC_SHIM_H_
#define KITE_WASM_UTF8PROC_SHIM_H_

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int8_t utf8proc_int8_t;
typedef uint8_t utf8proc_uint8_t;
typedef int16_t utf8proc_int16_t;
typedef uint16_t utf8proc_uint16_t;
typedef int32_t utf8proc_int32_t;
typedef uint32_t utf8proc_uint32_t;
typedef size_t utf8proc_size_t;
typedef ssize_t utf8proc_ssize_t;

typedef enum {
  UTF8PROC_NULLTERM = (1 << 0),
  UTF8PROC_STABLE = (1 << 1),
  UTF8PROC_COMPAT = (1 << 2),
  UTF8PROC_COMPOSE = (1 << 3),
  UTF8PROC_DECOMPOSE = (1 << 4),
} utf8proc_option_t;

#define UTF8PROC_ERROR_NOMEM -1
#define UTF8PROC_ERROR_OVERFLOW -2
#define UTF8PROC_ERROR_INVALIDUTF8 -3
#define UTF8PROC_ERROR_NOTASSIGNED -4
#define UTF8PROC_ERROR_INVALIDOPTS -5

typedef enum {
  UTF8PROC_CATEGORY_CN = 0,
  UTF8PROC_CATEGORY_LU = 1,
  UTF8PROC_CATEGORY_LL = 2,
  UTF8PROC_CATEGORY_LT = 3,
  UTF8PROC_CATEGORY_LM = 4,
  UTF8PROC_CATEGORY_LO = 5,
  UTF8PROC_CATEGORY_MN = 6,
  UTF8PROC_CATEGORY_MC = 7,
  UTF8PROC_CATEGORY_ME = 8,
  UTF8PROC_CATEGORY_ND = 9,
  UTF8PROC_CATEGORY_NL = 10,
  UTF8PROC_CATEGORY_NO = 11,
  UTF8PROC_CATEGORY_PC = 12,
  UTF8PROC_CATEGORY_PD = 13,
  UTF8PROC_CATEGORY_PS = 14,
  UTF8PROC_CATEGORY_PE = 15,
  UTF8PROC_CATEGORY_PI = 16,
  UTF8PROC_CATEGORY_PF = 17,
  UTF8PROC_CATEGORY_PO = 18,
  UTF8PROC_CATEGORY_SM = 19,
  UTF8PROC_CATEGORY_SC = 20,
  UTF8PROC_CATEGORY_SK = 21,
  UTF8PROC_CATEGORY_SO = 22,
  UTF8PROC_CATEGORY_ZS = 23,
  UTF8PROC_CATEGORY_ZL = 24,
  UTF8PROC_CATEGORY_ZP = 25,
  UTF8PROC_CATEGORY_CC = 26,
  UTF8PROC_CATEGORY_CF = 27,
  UTF8PROC_CATEGORY_CS = 28,
  UTF8PROC_CATEGORY_CO = 29,
} utf8proc_category_t;

utf8proc_category_t utf8proc_category(utf8proc_int32_t codepoint);
utf8proc_int32_t utf8proc_tolower(utf8proc_int32_t codepoint);
/* Normalizes str (strlen bytes; UTF8PROC_NULLTERM is not supported) per the COMPOSE / DECOMPOSE /
 * COMPAT options into a malloc'd buffer at *dstptr; returns its length or a negative error. */
utf8proc_ssize_t utf8proc_map(const utf8proc_uint8_t* str, utf8proc_ssize_t strlen, utf8proc_uint8_t** dstptr,
                              utf8proc_option_t options);
const char* utf8proc_errmsg(utf8proc_ssize_t errcode);

#ifdef __cplusplus
}
#endif

#endif /* KITE_WASM_UTF8PROC_SHIM_H_ */
