#include "converter/gguf/gguf_export.h"

#include <cmath>
#include <cstring>
#include <memory>

#include <nlohmann/json.hpp>

#include "converter/gguf/ggml_blocks.h"
#include "converter/gguf/gguf_tokenizer.h"
#include "converter/hf_config.h"
#include "converter/json_fields.h"
#include "converter/model_tensors.h"
#include "converter/safetensors.h"
#include "converter/tokenizer/hf_tokenizer.h"
#include "runtime/core/file.h"

namespace kite {
namespace gguf {
namespace {

// llama.cpp's llama_ftype values for general.file_type.
constexpr uint32_t kFileTypeF16 = 1, kFileTypeQ4_0 = 2, kFileTypeQ8_0 = 7;
// Data written to the file in pieces of about this size.
constexpr size_t kChunkBytes = 4u << 20;

bool StartsWith(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }
bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Result<std::string> GgufArchitecture(const ModelConfig& c) {
  std::string arch;
  if (c.architecture == "LlamaForCausalLM") arch = "llama";
  else if (c.architecture == "Qwen2ForCausalLM") arch = "qwen2";
  else return Unsupported("GGUF export supports LlamaForCausalLM and Qwen2ForCausalLM, not " + c.architecture);
  // Everything below changes the graph in ways these two llama.cpp architectures do not model.
  std::vector<std::string> unsupported;
  if (c.qk_norm) unsupported.push_back("q/k norms");
  if (c.sliding_window != 0 || !c.sliding_layers.empty()) unsupported.push_back("sliding-window attention");
  if (c.num_experts != 0) unsupported.push_back("mixture of experts");
  if (c.kv_lora_rank != 0) unsupported.push_back("latent attention");
  if (c.attention_out_bias) unsupported.push_back("an o_proj bias");
  if (c.mlp_bias) unsupported.push_back("MLP biases");
  if (c.hidden_act != "silu") unsupported.push_back("activation " + c.hidden_act);
  if (c.attn_logit_softcapping != 0 || c.final_logit_softcapping != 0) unsupported.push_back("logit soft-capping");
  if (c.rope_scaling.type != "default" && c.rope_scaling.type != "linear") {
    unsupported.push_back("rope scaling '" + c.rope_scaling.type + "'");
  }
  if (arch == "qwen2" && !c.attention_bias) unsupported.push_back("qwen2 without q/k/v biases");
  if (unsupported.empty()) return arch;
  std::string message = "GGUF export of " + c.architecture + ": not supported here:";
  for (const std::string& u : unsupported) message += " " + u + ";";
  return Unsupported(message);
}

// "model.layers.3.self_attn.q_proj.weight" -> "blk.3.attn_q.weight".
Result<std::string> GgufTensorName(const std::string& hf) {
  if (hf == "model.embed_tokens.weight") return std::string("token_embd.weight");
  if (hf == "model.norm.weight") return std::string("output_norm.weight");
  if (hf == "lm_head.weight") return std::string("output.weight");
  const std::string layers = "model.layers.";
  if (StartsWith(hf, layers)) {
    const size_t dot = hf.find('.', layers.size());
    if (dot != std::string::npos) {
      const std::string layer = hf.substr(layers.size(), dot - layers.size());
      const std::string rest = hf.substr(dot + 1);
      static const std::pair<const char*, const char*> kMap[] = {
          {"input_layernorm", "attn_norm"},   {"self_attn.q_proj", "attn_q"},  {"self_attn.k_proj", "attn_k"},
          {"self_attn.v_proj", "attn_v"},     {"self_attn.o_proj", "attn_output"},
          {"post_attention_layernorm", "ffn_norm"}, {"mlp.gate_proj", "ffn_gate"}, {"mlp.up_proj", "ffn_up"},
          {"mlp.down_proj", "ffn_down"},
      };
      for (const auto& m : kMap) {
        for (const char* suffix : {".weight", ".bias"}) {
          if (rest == std::string(m.first) + suffix) return "blk." + layer + "." + m.second + suffix;
        }
      }
    }
  }
  return Unsupported("no GGUF name for tensor '" + hf + "'");
}

std::string BaseName(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// tokenizer_config.json's chat_template when it is a plain string ("" otherwise).
std::string ReadChatTemplate(const std::string& dir) {
  const std::string path = JoinPath(dir, "tokenizer_config.json");
  if (!FileExists(path)) return "";
  auto json = ReadJsonFile(path);
  if (!json.ok()) return "";
  auto it = json.value().find("chat_template");
  return it != json.value().end() && it->is_string() ? it->get<std::string>() : "";
}

void AddModelMetadata(const ModelConfig& c, const std::string& arch, const std::string& name, ExportType type,
                      Writer* w) {
  w->AddString("general.architecture", arch);
  w->AddString("general.name", name);
  w->AddUint32("general.alignment", kDefaultAlignment);
  w->AddUint32("general.file_type", type == ExportType::kF16    ? kFileTypeF16
                                    : type == ExportType::kQ8_0 ? kFileTypeQ8_0
                                                                : kFileTypeQ4_0);
  if (type != ExportType::kF16) w->AddUint32("general.quantization_version", 2);
  const std::string p = arch + ".";
  w->AddUint32(p + "vocab_size", c.vocab_size);
  w->AddUint32(p + "context_length", c.max_position_embeddings);
  w->AddUint32(p + "embedding_length", c.hidden_size);
  w->AddUint32(p + "block_count", c.num_layers);
  w->AddUint32(p + "feed_forward_length", c.intermediate_size);
  w->AddUint32(p + "attention.head_count", c.num_heads);
  w->AddUint32(p + "attention.head_count_kv", c.num_kv_heads);
  w->AddUint32(p + "attention.key_length", c.head_dim);
  w->AddUint32(p + "attention.value_length", c.head_dim);
  w->AddFloat32(p + "attention.layer_norm_rms_epsilon", c.norm_eps);
  w->AddUint32(p + "rope.dimension_count", c.head_dim);
  w->AddFloat32(p + "rope.freq_base", c.rope_theta);
  if (c.rope_scaling.type == "linear") {
    w->AddString(p + "rope.scaling.type", "linear");
    w->AddFloat32(p + "rope.scaling.factor", c.rope_scaling.factor);
  }
}

TensorType MatrixType(ExportType type) {
  switch (type) {
    case ExportType::kF16: return TensorType::kF16;
    case ExportType::kQ8_0: return TensorType::kQ8_0;
    case ExportType::kQ4_0: return TensorType::kQ4_0;
  }
  return TensorType::kF16;
}

// Streams one tensor: reads source rows as f32 (in permuted order when asked), encodes them
// and hands the bytes to the writer a chunk at a time.
Status WriteTensor(const SourceTensor& src, const ExportedTensor& t, int64_t rope_heads, Writer* w) {
  const int64_t cols = static_cast<int64_t>(t.ne[0]);
  const int64_t rows = t.ne.size() > 1 ? static_cast<int64_t>(t.ne[1]) : 1;
  auto row_bytes_or = TensorBytes(t.type, {static_cast<uint64_t>(cols)});
  if (!row_bytes_or.ok()) return row_bytes_or.status();
  const size_t row_bytes = row_bytes_or.value();
  std::vector<float> row(static_cast<size_t>(cols));
  std::vector<uint8_t> chunk;
  chunk.reserve(kChunkBytes + row_bytes);
  for (int64_t r = 0; r < rows; ++r) {
    // A 1-D tensor (a bias) is permuted element-wise: it is one column of rows.
    const int64_t source_row = t.permuted && rows > 1 ? LlamaRopeSourceRow(r, rows, rope_heads) : r;
    if (t.permuted && rows == 1) {
      for (int64_t i = 0; i < cols; ++i) ReadAsF32(src, LlamaRopeSourceRow(i, cols, rope_heads), 1, &row[i]);
    } else {
      ReadAsF32(src, source_row * cols, cols, row.data());
    }
    for (int64_t i = 0; i < cols; ++i) {
      if (!std::isfinite(row[i])) {
        return InvalidArgument("tensor '" + src.name + "' (" + src.file + ") holds a non-finite value at row " +
                               std::to_string(source_row) + ", column " + std::to_string(i));
      }
    }
    const size_t at = chunk.size();
    chunk.resize(at + row_bytes);
    switch (t.type) {
      case TensorType::kF32: std::memcpy(chunk.data() + at, row.data(), row_bytes); break;
      case TensorType::kF16: ConvertRowF16(row.data(), cols, reinterpret_cast<uint16_t*>(chunk.data() + at)); break;
      case TensorType::kQ8_0: QuantizeRowQ8_0(row.data(), cols, chunk.data() + at); break;
      case TensorType::kQ4_0: QuantizeRowQ4_0(row.data(), cols, chunk.data() + at); break;
    }
    if (chunk.size() >= kChunkBytes) {
      KITE_RETURN_IF_ERROR(w->WriteTensorData(chunk.data(), chunk.size()));
      chunk.clear();
    }
  }
  return w->WriteTensorData(chunk.data(), chunk.size());
}

}  // namespace

Result<ExportType> ParseExportType(const std::string& name) {
  if (name == "f16" || name == "F16") return ExportType::kF16;
  if (name == "q8_0" || name == "Q8_0") return ExportType::kQ8_0;
  if (name == "q4_0" || name == "Q4_0") return ExportType::kQ4_0;
  return InvalidArgument("unknown GGUF type '" + name + "' (choose f16, q8_0 or q4_0)");
}

const char* ExportTypeName(ExportType type) {
  switch (type) {
    case ExportType::kF16: return "F16";
    case ExportType::kQ8_0: return "Q8_0";
    case ExportType::kQ4_0: return "Q4_0";
  }
  return "?";
}

int64_t LlamaRopeSourceRow(int64_t out_row, int64_t rows, int64_t n_heads) {
  // Hugging Face keeps each head as [2][hd/2] (the two halves RoPE rotates together);
  // llama.cpp's "llama" graph wants [hd/2][2] (adjacent pairs). Output (h, i, j) <- input (h, j, i).
  const int64_t head_dim = rows / n_heads, half = head_dim / 2;
  const int64_t h = out_row / head_dim, w = out_row % head_dim;
  const int64_t i = w / 2, j = w % 2;
  return h * head_dim + j * half + i;
}

Result<ExportReport> ExportGguf(const ExportOptions& options) {
  KITE_ASSIGN_OR_RETURN(ModelConfig config, LoadHfConfig(options.hf_dir));
  KITE_ASSIGN_OR_RETURN(std::string arch, GgufArchitecture(config));
  KITE_ASSIGN_OR_RETURN(auto checkpoint, SafetensorsCheckpoint::OpenDir(options.hf_dir));
  ExportReport report;
  report.architecture = arch;
  KITE_RETURN_IF_ERROR(CheckCheckpointTensors(config, *checkpoint, &report.warnings));
  KITE_ASSIGN_OR_RETURN(TokenizerSpec spec, LoadHfTokenizer(options.hf_dir));
  KITE_ASSIGN_OR_RETURN(TokenizerMetadata tokenizer, BuildTokenizerMetadata(spec, config, options.pre_tokenizer));
  report.tokenizer_model = tokenizer.model;
  report.warnings.insert(report.warnings.end(), tokenizer.warnings.begin(), tokenizer.warnings.end());
  if (arch == "llama" && config.head_dim % 2 != 0) {
    return Unsupported("head_dim " + std::to_string(config.head_dim) + " is odd; RoPE needs pairs");
  }

  Writer writer;
  AddModelMetadata(config, arch, options.name.empty() ? BaseName(options.hf_dir) : options.name, options.type, &writer);
  AddTokenizerMetadata(tokenizer, spec, config, ReadChatTemplate(options.hf_dir), &writer);

  const TensorType matrix_type = MatrixType(options.type);
  std::vector<int64_t> rope_heads;  // per exported tensor: heads of a permuted projection, else 0
  for (const ExpectedTensor& e : ExpectedTensors(config)) {
    ExportedTensor t;
    t.source = e.name;
    KITE_ASSIGN_OR_RETURN(t.name, GgufTensorName(e.name));
    for (auto it = e.shape.rbegin(); it != e.shape.rend(); ++it) t.ne.push_back(static_cast<uint64_t>(*it));
    t.type = TensorType::kF32;
    if (e.shape.size() == 2) {
      t.type = matrix_type;
      if (t.ne[0] % static_cast<uint64_t>(BlockElements(matrix_type)) != 0) {
        t.type = TensorType::kF16;
        report.warnings.push_back(t.name + ": rows of " + std::to_string(t.ne[0]) + " values are not a multiple of 32; " +
                                  "written as F16 instead of " + TensorTypeName(matrix_type));
      }
    }
    int64_t heads = 0;
    if (arch == "llama" && EndsWith(t.name.substr(0, t.name.rfind('.')), ".attn_q")) heads = config.num_heads;
    if (arch == "llama" && EndsWith(t.name.substr(0, t.name.rfind('.')), ".attn_k")) heads = config.num_kv_heads;
    t.permuted = heads > 0;
    KITE_RETURN_IF_ERROR(writer.AddTensor(t.name, t.ne, t.type));
    report.tensors.push_back(std::move(t));
    rope_heads.push_back(heads);
  }

  KITE_RETURN_IF_ERROR(writer.Open(options.output));
  for (size_t i = 0; i < report.tensors.size(); ++i) {
    const ExportedTensor& t = report.tensors[i];
    const SourceTensor* src = checkpoint->Find(t.source);
    if (src == nullptr) return Internal("tensor '" + t.source + "' vanished after the check");
    KITE_RETURN_IF_ERROR(WriteTensor(*src, t, rope_heads[i], &writer));
  }
  KITE_RETURN_IF_ERROR(writer.Commit());
  auto view = MapFile(options.output);
  if (view.ok()) report.file_bytes = view.value()->size();
  return report;
}

}  // namespace gguf
}  // namespace kite
