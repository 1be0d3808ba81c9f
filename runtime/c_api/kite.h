/* kite.h — the stable C interface of the Kite runtime.
 *
 * Conventions: opaque handles; options structs start with struct_size (set it to
 * sizeof the struct you compiled against, so the struct can grow); results come back
 * through out-parameters; every function returns a kite_status from a frozen list;
 * kite_last_error_message() describes the last failure on the calling thread;
 * destroying NULL is a no-op; no C++ exception ever crosses this interface.
 * Strings returned in kite_string are owned by the caller: free with kite_string_free.
 */
#ifndef KITE_H_
#define KITE_H_

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define KITE_API __declspec(dllexport)
#elif defined(KITE_BUILDING_LIBRARY)
#define KITE_API __attribute__((visibility("default")))
#else
#define KITE_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Frozen: values never change meaning; new codes are appended. */
typedef enum kite_status {
  KITE_OK = 0,
  KITE_INVALID_ARGUMENT = 1,
  KITE_NOT_FOUND = 2,
  KITE_IO_ERROR = 3,
  KITE_CORRUPT_ARTIFACT = 4,
  KITE_UNSUPPORTED = 5,
  KITE_OUT_OF_RANGE = 6,
  KITE_OUT_OF_MEMORY = 7,
  KITE_INTERNAL = 8,
  KITE_CONTEXT_FULL = 9,
  KITE_CANCELLED = 10
} kite_status;

typedef struct kite_engine kite_engine;
typedef struct kite_session kite_session;

typedef struct kite_string {
  char* data; /* NUL-terminated; size excludes the NUL */
  size_t size;
} kite_string;

KITE_API const char* kite_version(void);
/* Thread-local; valid until the next failing call on this thread. */
KITE_API const char* kite_last_error_message(void);
KITE_API const char* kite_status_name(kite_status status);
KITE_API void kite_string_free(kite_string* s);

/* ---- Engine: a loaded model, shared read-only by sessions ---- */
typedef struct kite_engine_options {
  size_t struct_size;
  const char* model_path;
  int verify_checksums;  /* nonzero: recompute every tensor checksum at load */
  int reference_kernels; /* nonzero: scalar kernels only */
  /* Appended: the artifact's bytes already in memory (e.g. the wasm heap), used in place instead of
   * model_path; the caller keeps them alive until kite_engine_destroy. NULL: read model_path. */
  const void* model_data;
  size_t model_size;
  /* Appended: packing f32/f16 linear weights for XNNPACK prefill (builds with XNNPACK; costs 4 bytes
   * per packed weight on top of the model, prefill only). One of kite_xnnpack_mode. */
  int32_t xnnpack;
} kite_engine_options;

typedef enum kite_xnnpack_mode {
  KITE_XNNPACK_AUTO = 0,   /* default: on for artifacts whose linear weights are f32, off otherwise */
  KITE_XNNPACK_OFF = 1,
  KITE_XNNPACK_ON = 2,     /* f32 and f16: the matrices and prefill shapes where XNNPACK measured faster */
  KITE_XNNPACK_ALWAYS = 3  /* testing: every f32/f16 linear matrix, every product of 2+ rows */
} kite_xnnpack_mode;

KITE_API void kite_engine_options_init(kite_engine_options* options);
KITE_API kite_status kite_engine_create(const kite_engine_options* options, kite_engine** out_engine);
KITE_API void kite_engine_destroy(kite_engine* engine);

typedef struct kite_model_info {
  size_t struct_size;
  int32_t vocab_size;
  int32_t context_max;   /* the model's max_position_embeddings */
  int32_t bos_id;        /* -1 when none */
  int32_t has_tokenizer;
  int32_t has_chat_template;
  uint64_t weight_bytes;
  uint64_t weight_bytes_per_token;
  uint64_t kv_bytes_per_token;
} kite_model_info;

KITE_API kite_status kite_engine_info(const kite_engine* engine, kite_model_info* out_info);
/* A JSON object describing the artifact (config, tensors, quantization, tokenizer). */
KITE_API kite_status kite_engine_describe(const kite_engine* engine, kite_string* out_json);
/* Recomputes every tensor checksum; progress may be NULL. */
typedef void (*kite_progress_fn)(uint64_t done, uint64_t total, void* user);
KITE_API kite_status kite_verify_artifact(const char* path, kite_progress_fn progress, void* user);

/* ids: caller buffer of capacity entries; *out_count receives the number of ids (also when
 * capacity is too small, in which case KITE_OUT_OF_RANGE is returned and nothing is written). */
KITE_API kite_status kite_tokenize(const kite_engine* engine, const char* text, size_t text_size, int parse_special,
                                   int add_special, int32_t* ids, size_t capacity, size_t* out_count);
KITE_API kite_status kite_detokenize(const kite_engine* engine, const int32_t* ids, size_t count, kite_string* out_text);
/* messages_json / tools_json: JSON arrays as apply_chat_template takes them; tools_json may be NULL. */
KITE_API kite_status kite_apply_chat_template(const kite_engine* engine, const char* messages_json,
                                              const char* tools_json, int add_generation_prompt, kite_string* out_prompt);

/* ---- Session: one conversation ---- */
typedef struct kite_session_options {
  size_t struct_size;
  int32_t context_tokens; /* 0: the model's maximum, capped at 4096 */
  int32_t n_threads;      /* 0: one per core, at most 8 */
  int32_t max_batch;      /* prompt tokens per forward pass; 0: 64 */
  int32_t kv_cache_type;  /* a kite_kv_cache_type; 0 (KITE_KV_DEFAULT): f16 (appended: older callers get the default) */
} kite_session_options;

typedef enum kite_kv_cache_type {
  KITE_KV_DEFAULT = 0, /* f16 */
  KITE_KV_F32 = 1,
  KITE_KV_F16 = 2,
  KITE_KV_Q8 = 3 /* int8 with one scale per token and KV head: a quarter of f32 */
} kite_kv_cache_type;

KITE_API void kite_session_options_init(kite_session_options* options);
KITE_API kite_status kite_session_create(const kite_engine* engine, const kite_session_options* options,
                                         kite_session** out_session);
KITE_API void kite_session_destroy(kite_session* session);
KITE_API int32_t kite_session_position(const kite_session* session);
/* Bytes the session's K/V cache holds (allocated once at creation, for its whole context). */
KITE_API uint64_t kite_session_kv_cache_bytes(const kite_session* session);
KITE_API kite_status kite_session_reset(kite_session* session);
/* Keeps the first n tokens of the conversation. */
KITE_API kite_status kite_session_truncate(kite_session* session, int32_t n);
/* Copies up to capacity of the conversation's tokens; *out_count = number of tokens. */
KITE_API kite_status kite_session_tokens(const kite_session* session, int32_t* ids, size_t capacity, size_t* out_count);
/* Appends ids. logits: NULL, or [count][vocab] when all_rows, else [vocab] for the last id. */
KITE_API kite_status kite_session_eval(kite_session* session, const int32_t* ids, size_t count, float* logits,
                                       int all_rows);

typedef struct kite_sampling_params {
  size_t struct_size;
  float temperature;  /* <= 0: greedy */
  int32_t top_k;
  float top_p;
  float min_p;
  float repetition_penalty;
  uint64_t seed;
  int32_t max_tokens;
  const char* const* stop_strings;
  size_t stop_string_count;
  int32_t ignore_eos;
} kite_sampling_params;

KITE_API void kite_sampling_params_init(kite_sampling_params* params);

/* Called with each new token id and the text that became final with it (may be empty;
 * id is -1 for a final flush). Return nonzero to continue, 0 to stop. */
typedef int (*kite_token_fn)(int32_t id, const char* text, size_t text_size, void* user);

typedef struct kite_generation_stats {
  size_t struct_size;
  int32_t prompt_tokens;
  int32_t generated_tokens;
  double prefill_ms;
  double decode_ms;
  char stop_reason[32]; /* "eos", "stop_string", "max_tokens", "context_full", "cancelled", "masked" */
} kite_generation_stats;

/* Evaluates prompt ids (at least one), then samples until EOS, a stop string, max_tokens,
 * a full context or the callback says stop. out_ids (optional) receives generated ids. */
KITE_API kite_status kite_session_generate(kite_session* session, const int32_t* prompt, size_t prompt_count,
                                           const kite_sampling_params* params, kite_token_fn on_token, void* user,
                                           kite_generation_stats* out_stats);

#ifdef __cplusplus
}
#endif

#endif /* KITE_H_ */
