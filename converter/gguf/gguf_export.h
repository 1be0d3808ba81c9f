// Hugging Face checkpoint -> GGUF file for llama.cpp (arch "llama" or "qwen2"),
// so that Kite can be measured against llama.cpp on the very same weights.
//
// Tensor names follow llama.cpp (token_embd, blk.N.attn_q, ..., output_norm,
// output; output is left out when the embeddings are tied, and llama.cpp then
// reuses token_embd). For arch "llama", q_proj/k_proj rows are permuted from
// Hugging Face's rotate-half RoPE layout to the interleaved-pairs layout that
// llama.cpp's "llama" graph uses; "qwen2" uses NeoX RoPE, so its rows stay as
// they are. 1-D tensors (norms, biases) are F32; matrices get the requested
// type, except that a matrix whose rows are not a multiple of 32 falls back to
// F16 (Q8_0/Q4_0 blocks span 32 values of one row) and is listed in the report.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "converter/gguf/gguf_writer.h"
#include "runtime/core/status.h"

namespace kite {
namespace gguf {

enum class ExportType { kF16, kQ8_0, kQ4_0 };

Result<ExportType> ParseExportType(const std::string& name);  // "f16" | "q8_0" | "q4_0"
const char* ExportTypeName(ExportType type);

struct ExportOptions {
  std::string hf_dir;
  std::string output;
  ExportType type = ExportType::kF16;
  std::string pre_tokenizer;  // overrides the guessed tokenizer.ggml.pre ("" = guess)
  std::string name;           // general.name ("" = the folder's name)
};

struct ExportedTensor {
  std::string name;          // GGUF name
  std::string source;        // Hugging Face name
  std::vector<uint64_t> ne;  // ggml order
  TensorType type;
  bool permuted = false;     // rows reordered for llama's RoPE layout
};

struct ExportReport {
  std::string architecture;  // "llama" or "qwen2"
  std::string tokenizer_model;
  std::vector<ExportedTensor> tensors;
  std::vector<std::string> warnings;  // F16 fallbacks, ignored tensors, tokenizer guesses
  uint64_t file_bytes = 0;
};

// (out_row -> source row) of the permutation for one projection with `n_heads` heads of
// `rows / n_heads` rows each: in each head, rows [0, hd/2) and [hd/2, hd) interleave.
int64_t LlamaRopeSourceRow(int64_t out_row, int64_t rows, int64_t n_heads);

Result<ExportReport> ExportGguf(const ExportOptions& options);

}  // namespace gguf
}  // namespace kite
