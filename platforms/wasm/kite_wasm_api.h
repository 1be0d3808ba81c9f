/* kite_wasm_api.h — the functions the JavaScript side of Kite calls in the wasm module (web/'s worker,
 * the WebGPU backend, the node tests and benchmarks). Built on the C API (runtime/c_api/kite.h) with
 * the same rules: nothing throws across it, failures return NULL or a negative number, and
 * kite_wasm_last_error() says why. Strings returned as char* are malloc'd: free them with
 * kite_wasm_free. Strings and buffers passed in are read during the call only, except the model
 * bytes of kite_wasm_engine_create, which the engine uses in place until it is destroyed.
 * README.md in this folder documents the JSON formats and the quantized layouts. */
#ifndef KITE_WASM_API_H_
#define KITE_WASM_API_H_

#include <stddef.h>
#include <stdint.h>

#include "runtime/c_api/kite.h"

/* Marks the definitions of these functions: kept by the linker and exported to JS (the
 * EXPORTED_FUNCTIONS list in CMakeLists.txt names them too). */
#if defined(__EMSCRIPTEN__)
#include <emscripten.h>
#define KITE_WASM_EXPORT EMSCRIPTEN_KEEPALIVE
#else
#define KITE_WASM_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Heap memory for the JS side (64-byte aligned, so weights placed here keep their alignment). */
void* kite_wasm_malloc(size_t size);
void kite_wasm_free(void* p);
/* The message of the last failure on this thread ("" if none). */
const char* kite_wasm_last_error(void);

/* Loads a .kite from bytes the caller put in the heap (kite_wasm_malloc + HEAPU8.set); they stay
 * owned by the caller, used in place (no copy), and must outlive the engine. NULL on error. */
kite_engine* kite_wasm_engine_create(const uint8_t* data, size_t size, int verify_checksums);
void kite_wasm_engine_destroy(kite_engine* engine);
/* For an engine that will run on the CPU only: rearranges its weights in the heap into the layout
 * its kernels read fastest (the relaxed-SIMD module's Q4 decode: transposed groups,
 * kernels/quant_formats.h), in place, before the first generation. Afterwards those tensors no
 * longer hold the artifact's bytes, so no WebGPU backend can be built from them (the WebGPU backend
 * refuses such an engine: its info reports "rearranged_tensors" > 0). Returns how many tensors it
 * rearranged (0: nothing to do), -1 on error. */
int kite_wasm_engine_rearrange_weights(kite_engine* engine);
/* JSON: {"architecture", "config": {...ModelConfig...}, "bos_id", "eos_ids", "has_chat_template",
 * "kernels", "rearranged_tensors", "tensors": [{"name", "dtype", "shape", "ptr", "bytes", "group_size", "scales_ptr",
 * "scales_bytes", ...}]}. ptr/scales_ptr are byte offsets into the wasm heap (HEAPU8). */
char* kite_wasm_engine_info_json(kite_engine* engine);
/* messages_json: [{"role", "content"}, ...]; returns the rendered prompt or NULL. */
char* kite_wasm_apply_template(kite_engine* engine, const char* messages_json, int add_generation_prompt);
/* Returns the number of ids; when it exceeds cap nothing is written (call again with a bigger buffer);
 * < 0 on error. No BOS is added: templates and callers add what the model needs. */
int kite_wasm_tokenize(kite_engine* engine, const char* text, int parse_special, int32_t* out, int cap);
char* kite_wasm_detokenize(kite_engine* engine, const int32_t* ids, int n);

/* A generation: one conversation's KV cache, sampler and streaming detokenizer.
 * params_json (every key optional): {"temperature" (<= 0 greedy; default 0.8), "top_k" (40), "top_p"
 * (0.95), "min_p" (0.05), "repetition_penalty" (1), "seed" (0), "max_tokens" (256), "stop": [strings],
 * "ignore_eos" (false), "context" (tokens; 0: the model's maximum capped at 4096), "threads" (0: one
 * per core in the threads build, 1 otherwise), "max_batch" (prompt tokens per forward; 64),
 * "kv_format" ("f16" default, "f32", "q8": how the KV cache stores rows)}. */
void* kite_wasm_gen_create(kite_engine* engine, const char* params_json);
/* Appends ids to the conversation and runs the CPU forward over them; the last row's logits are what
 * the next kite_wasm_gen_step samples. Starts a new reply: the token count and stop state reset, the
 * KV cache is kept. 0 ok, < 0 error. */
int kite_wasm_gen_prefill(void* gen, const int32_t* ids, int n);
/* Samples the next token from the CPU logits, feeds it back through the CPU forward and returns its
 * id; -1 when the reply is finished (EOS, a stop string, max_tokens or a full context: see
 * kite_wasm_gen_stop_reason), -2 on error. The token that completes a stop string or reaches
 * max_tokens is returned; the next call returns -1. */
int kite_wasm_gen_step(void* gen);
/* The same with logits computed elsewhere (WebGPU): samples from logits [vocab], records the token
 * and returns its id (-1 finished, -2 error). The CPU KV cache is not advanced: the caller runs its
 * own forward for the token. */
int kite_wasm_gen_accept_logits(void* gen, const float* logits);
/* Records ids as part of the conversation without a CPU forward (the prompt on the WebGPU path), so
 * the repetition penalty sees them; starts a new reply like prefill. 0 ok, < 0 error. */
int kite_wasm_gen_record(void* gen, const int32_t* ids, int n);
/* Text that became final with the last step/accept (UTF-8, may be ""; held back while it could be the
 * start of a stop string, cut before a stop string). Valid until the next call on gen. */
const char* kite_wasm_gen_text(void* gen);
/* The last CPU forward's logits [vocab] (before sampling's penalties), NULL before any prefill. */
const float* kite_wasm_gen_logits(void* gen);
/* Tokens in the conversation: prompt(s) plus generated tokens (the EOS that ended a reply excluded). */
int kite_wasm_gen_position(void* gen);
/* "" while running; then "eos", "stop_string", "max_tokens", "context_full" or "masked". */
const char* kite_wasm_gen_stop_reason(void* gen);
/* Keeps the first n tokens of the conversation (to reuse a shared prefix); 0 ok, < 0 error. */
int kite_wasm_gen_truncate(void* gen, int n);
/* The next turn of a chat from its whole rendered prompt ids[0..n): keeps the KV cache of the longest
 * prefix ids shares with the conversation so far (at most n - 1 tokens), drops the rest, takes
 * params_json's reply settings (sampling, max_tokens, stop, ignore_eos; the session settings of
 * kite_wasm_gen_create stay), and returns how many leading ids are already there: the caller then
 * prefills (or, for WebGPU, records) ids[returned..n). -2 on error. */
int kite_wasm_gen_reuse(void* gen, const char* params_json, const int32_t* ids, int n);
void kite_wasm_gen_destroy(void* gen);

/* Benchmarks (read_probe.cc): the best of `passes` timed reads of a `megabytes` heap buffer by this
 * thread, read as one stream and as four (as decode reads its weights), in GB/s; -1 if the arguments
 * are out of range (1..1024 MB) or the buffer cannot be had. */
double kite_wasm_read_gbps(int megabytes, int passes);

#ifdef __cplusplus
}
#endif

#endif /* KITE_WASM_API_H_ */
