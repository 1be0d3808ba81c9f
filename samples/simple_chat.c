/* simple_chat.c — the smallest useful Kite program, in C.
 *
 * Loads a .kite model, turns the user's text into a prompt (through the model's chat
 * template when it has one), and streams the answer token by token.
 *
 *   kite_sample_simple_chat MODEL.kite "your message"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/c_api/kite.h"

static int print_piece(int32_t id, const char* text, size_t size, void* user) {
  (void)id;
  (void)user;
  fwrite(text, 1, size, stdout);
  fflush(stdout);
  return 1; /* keep going */
}

static int fail(const char* what, kite_status status) {
  fprintf(stderr, "%s failed: %s (%s)\n", what, kite_last_error_message(), kite_status_name(status));
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s MODEL.kite MESSAGE\n", argv[0]);
    return 2;
  }
  kite_engine_options engine_options;
  kite_engine_options_init(&engine_options);
  engine_options.model_path = argv[1];
  kite_engine* engine = NULL;
  kite_status status = kite_engine_create(&engine_options, &engine);
  if (status != KITE_OK) return fail("loading the model", status);

  kite_model_info info;
  info.struct_size = sizeof(info);
  kite_engine_info(engine, &info);

  /* Build the prompt text: the chat template when the model has one, the raw text otherwise. */
  char* prompt_text = NULL;
  kite_string rendered = {NULL, 0};
  int add_bos = 1;
  if (info.has_chat_template) {
    /* A real program would JSON-escape the message; this sample expects plain text. */
    size_t n = strlen(argv[2]) + 64;
    char* messages = malloc(n);
    snprintf(messages, n, "[{\"role\": \"user\", \"content\": \"%s\"}]", argv[2]);
    status = kite_apply_chat_template(engine, messages, NULL, 1, &rendered);
    free(messages);
    if (status != KITE_OK) return fail("rendering the chat template", status);
    prompt_text = rendered.data;
    add_bos = 0; /* templates write their own BOS */
  } else {
    prompt_text = argv[2];
    fputs(argv[2], stdout);
  }

  size_t count = 0;
  int32_t ids[4096];
  status = kite_tokenize(engine, prompt_text, strlen(prompt_text), 1, add_bos, ids, 4096, &count);
  kite_string_free(&rendered);
  if (status != KITE_OK) return fail("tokenizing", status);

  kite_session* session = NULL;
  status = kite_session_create(engine, NULL, &session); /* NULL options: defaults */
  if (status != KITE_OK) return fail("starting a session", status);

  kite_sampling_params params;
  kite_sampling_params_init(&params);
  params.max_tokens = 128;
  params.seed = 42;
  kite_generation_stats stats;
  stats.struct_size = sizeof(stats);
  status = kite_session_generate(session, ids, count, &params, print_piece, NULL, &stats);
  printf("\n");
  if (status != KITE_OK) return fail("generating", status);
  fprintf(stderr, "[%d tokens, %.1f tok/s, stopped: %s]\n", stats.generated_tokens,
          stats.decode_ms > 0 ? stats.generated_tokens * 1000.0 / stats.decode_ms : 0.0, stats.stop_reason);

  kite_session_destroy(session);
  kite_engine_destroy(engine);
  return 0;
}
