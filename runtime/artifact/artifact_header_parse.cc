// Verified FlatBuffer header -> structs, with the sanity checks that the
// FlatBuffers Verifier cannot know about: dimensions that the model code will
// divide by or allocate with, and token ids that index the vocabulary.
#include <cmath>

#include "runtime/artifact/artifact_header.h"

namespace kite {
namespace {

// Copies strings out of the header while counting their bytes. A verified FlatBuffer may
// still point many offsets at one long string; capping the total at the header's size
// keeps a small hostile file from expanding into gigabytes of copies.
class StringCopier {
 public:
  StringCopier(uint64_t budget, std::string where) : budget_(budget), where_(std::move(where)) {}

  Status Copy(const flatbuffers::String* s, std::string* out, const std::string& field) {
    out->clear();
    if (s == nullptr) return Status::Ok();
    if (s->size() > budget_) {
      return CorruptArtifact(where_ + ": field " + field +
                             " repeats string data: the header's strings add up to more than its size");
    }
    budget_ -= s->size();
    out->assign(s->c_str(), s->size());
    return Status::Ok();
  }

 private:
  uint64_t budget_;
  std::string where_;
};

bool FinitePositive(float x) { return std::isfinite(x) && x > 0.0f; }

Status ParseConfig(const fb::ModelConfig& c, StringCopier& strings, const std::string& where, ModelConfig* out) {
  KITE_RETURN_IF_ERROR(strings.Copy(c.architecture(), &out->architecture, "config.architecture"));
  KITE_RETURN_IF_ERROR(strings.Copy(c.model_type(), &out->model_type, "config.model_type"));
  KITE_RETURN_IF_ERROR(strings.Copy(c.hidden_act(), &out->hidden_act, "config.hidden_act"));
  out->vocab_size = c.vocab_size();
  out->hidden_size = c.hidden_size();
  out->intermediate_size = c.intermediate_size();
  out->num_layers = c.num_layers();
  out->num_heads = c.num_heads();
  out->num_kv_heads = c.num_kv_heads();
  out->head_dim = c.head_dim();
  out->max_position_embeddings = c.max_position_embeddings();
  out->norm_eps = c.norm_eps();
  out->rope_theta = c.rope_theta();
  out->tie_word_embeddings = c.tie_word_embeddings();
  out->attention_bias = c.attention_bias();
  out->attention_out_bias = c.attention_out_bias();
  out->mlp_bias = c.mlp_bias();
  out->qk_norm = c.qk_norm();
  out->bos_token_id = c.bos_token_id();
  out->pad_token_id = c.pad_token_id();
  if (c.eos_token_ids() != nullptr) out->eos_token_ids.assign(c.eos_token_ids()->begin(), c.eos_token_ids()->end());
  out->scale_attn_by_inverse_layer_idx = c.scale_attn_by_inverse_layer_idx();
  out->sliding_window = c.sliding_window();
  if (c.sliding_layers() != nullptr) out->sliding_layers.assign(c.sliding_layers()->begin(), c.sliding_layers()->end());
  out->rope_local_base_freq = c.rope_local_base_freq();
  out->query_pre_attn_scalar = c.query_pre_attn_scalar();
  out->attn_logit_softcapping = c.attn_logit_softcapping();
  out->final_logit_softcapping = c.final_logit_softcapping();
  out->num_experts = c.num_experts();
  out->num_experts_per_tok = c.num_experts_per_tok();
  out->moe_intermediate_size = c.moe_intermediate_size();
  out->num_shared_experts = c.num_shared_experts();
  out->norm_topk_prob = c.norm_topk_prob();
  out->routed_scaling_factor = c.routed_scaling_factor();
  if (c.moe_layers() != nullptr) out->moe_layers.assign(c.moe_layers()->begin(), c.moe_layers()->end());
  KITE_RETURN_IF_ERROR(strings.Copy(c.moe_scoring(), &out->moe_scoring, "config.moe_scoring"));
  if (out->moe_scoring.empty()) out->moe_scoring = "softmax";
  KITE_RETURN_IF_ERROR(strings.Copy(c.moe_topk_method(), &out->moe_topk_method, "config.moe_topk_method"));
  if (out->moe_topk_method.empty()) out->moe_topk_method = "greedy";
  out->moe_n_group = c.moe_n_group();
  out->moe_topk_group = c.moe_topk_group();
  out->q_lora_rank = c.q_lora_rank();
  out->kv_lora_rank = c.kv_lora_rank();
  out->qk_nope_head_dim = c.qk_nope_head_dim();
  out->qk_rope_head_dim = c.qk_rope_head_dim();
  out->v_head_dim = c.v_head_dim();
  out->shared_expert_intermediate_size = c.shared_expert_intermediate_size();
  out->shared_expert_gate = c.shared_expert_gate();
  if (const fb::RopeScaling* r = c.rope_scaling()) {
    RopeScalingConfig& s = out->rope_scaling;
    KITE_RETURN_IF_ERROR(strings.Copy(r->type(), &s.type, "config.rope_scaling.type"));
    if (s.type.empty()) s.type = "default";
    s.factor = r->factor();
    s.low_freq_factor = r->low_freq_factor();
    s.high_freq_factor = r->high_freq_factor();
    s.original_max_position_embeddings = r->original_max_position_embeddings();
    s.beta_fast = r->beta_fast();
    s.beta_slow = r->beta_slow();
    s.mscale = r->mscale();
    s.mscale_all_dim = r->mscale_all_dim();
    s.attention_factor = r->attention_factor();
  }

  const std::string at = where + ": config: ";
  if (out->architecture.empty()) return CorruptArtifact(at + "architecture is empty");
  const std::pair<const char*, uint32_t> dims[] = {
      {"vocab_size", out->vocab_size},   {"hidden_size", out->hidden_size}, {"intermediate_size", out->intermediate_size},
      {"num_layers", out->num_layers},   {"num_heads", out->num_heads},     {"num_kv_heads", out->num_kv_heads},
      {"head_dim", out->head_dim}};
  for (const auto& d : dims) {
    if (d.second == 0) return CorruptArtifact(at + d.first + " is 0");
  }
  if (out->num_heads % out->num_kv_heads != 0) {
    return CorruptArtifact(at + "num_heads " + std::to_string(out->num_heads) + " is not a multiple of num_kv_heads " +
                           std::to_string(out->num_kv_heads));
  }
  if (!FinitePositive(out->norm_eps)) return CorruptArtifact(at + "norm_eps must be finite and positive");
  if (!FinitePositive(out->rope_theta)) return CorruptArtifact(at + "rope_theta must be finite and positive");
  if (!FinitePositive(out->rope_scaling.factor)) {
    return CorruptArtifact(at + "rope_scaling.factor must be finite and positive");
  }
  // Per-layer lists index layers directly: a length that differs from num_layers would read past them.
  if (!out->sliding_layers.empty() && out->sliding_layers.size() != out->num_layers) {
    return CorruptArtifact(at + "sliding_layers has " + std::to_string(out->sliding_layers.size()) +
                           " entries for " + std::to_string(out->num_layers) + " layers");
  }
  if (!out->moe_layers.empty() && out->moe_layers.size() != out->num_layers) {
    return CorruptArtifact(at + "moe_layers has " + std::to_string(out->moe_layers.size()) + " entries for " +
                           std::to_string(out->num_layers) + " layers");
  }
  const std::pair<const char*, float> finite[] = {{"rope_local_base_freq", out->rope_local_base_freq},
                                                  {"query_pre_attn_scalar", out->query_pre_attn_scalar},
                                                  {"attn_logit_softcapping", out->attn_logit_softcapping},
                                                  {"final_logit_softcapping", out->final_logit_softcapping},
                                                  {"routed_scaling_factor", out->routed_scaling_factor}};
  for (const auto& f : finite) {
    if (!std::isfinite(f.second) || f.second < 0.0f) return CorruptArtifact(at + f.first + " must be finite and >= 0");
  }
  const int64_t vocab = out->vocab_size;
  if (out->bos_token_id < -1 || out->bos_token_id >= vocab) {
    return CorruptArtifact(at + "bos_token_id " + std::to_string(out->bos_token_id) + " is outside the vocabulary (" +
                           std::to_string(vocab) + " tokens)");
  }
  if (out->pad_token_id < -1 || out->pad_token_id >= vocab) {
    return CorruptArtifact(at + "pad_token_id " + std::to_string(out->pad_token_id) + " is outside the vocabulary (" +
                           std::to_string(vocab) + " tokens)");
  }
  for (int32_t id : out->eos_token_ids) {
    if (id < 0 || id >= vocab) {
      return CorruptArtifact(at + "eos token id " + std::to_string(id) + " is outside the vocabulary (" +
                             std::to_string(vocab) + " tokens)");
    }
  }
  return Status::Ok();
}

Status CheckTokenId(int64_t id, int64_t limit, const std::string& what, const std::string& at) {
  if (id < -1 || id >= limit) {
    return CorruptArtifact(at + what + " " + std::to_string(id) + " is outside the vocabulary (" +
                           std::to_string(limit) + " tokens)");
  }
  return Status::Ok();
}

Status ParseTokenizer(const fb::Tokenizer& t, uint32_t model_vocab, StringCopier& strings, const std::string& where,
                      TokenizerSpec* out) {
  const std::string at = where + ": tokenizer: ";
  KITE_RETURN_IF_ERROR(strings.Copy(t.model_type(), &out->model_type, "tokenizer.model_type"));
  if (t.vocab() != nullptr) {
    out->vocab.resize(t.vocab()->size());
    for (uint32_t i = 0; i < t.vocab()->size(); ++i) {
      KITE_RETURN_IF_ERROR(strings.Copy(t.vocab()->Get(i), &out->vocab[i], "tokenizer.vocab"));
    }
  }
  const int64_t n = static_cast<int64_t>(out->vocab.size());
  if (n == 0) return CorruptArtifact(at + "the vocabulary is empty");
  // Every id the tokenizer can produce must index the model's embedding table.
  if (n > model_vocab) {
    return CorruptArtifact(at + "the vocabulary has " + std::to_string(n) + " tokens but the model's vocab_size is " +
                           std::to_string(model_vocab));
  }
  if (const auto* merges = t.merges()) {
    if (merges->size() % 2 != 0) {
      return CorruptArtifact(at + "merges has an odd number of ids (" + std::to_string(merges->size()) + ")");
    }
    out->merges.reserve(merges->size() / 2);
    for (uint32_t i = 0; i < merges->size(); i += 2) {
      const uint32_t left = merges->Get(i), right = merges->Get(i + 1);
      if (left >= n || right >= n) {
        return CorruptArtifact(at + "merge #" + std::to_string(i / 2) + " (" + std::to_string(left) + ", " +
                               std::to_string(right) + ") refers to a token outside the vocabulary (" +
                               std::to_string(n) + " tokens)");
      }
      out->merges.emplace_back(left, right);
    }
  }
  if (t.scores() != nullptr) out->scores.assign(t.scores()->begin(), t.scores()->end());
  if (!out->scores.empty() && static_cast<int64_t>(out->scores.size()) != n) {
    return CorruptArtifact(at + "has " + std::to_string(out->scores.size()) + " scores for " + std::to_string(n) +
                           " tokens");
  }
  out->unk_id = t.unk_id();
  out->bos_id = t.bos_id();
  out->eos_id = t.eos_id();
  KITE_RETURN_IF_ERROR(CheckTokenId(out->unk_id, n, "unk_id", at));
  KITE_RETURN_IF_ERROR(CheckTokenId(out->bos_id, n, "bos_id", at));
  KITE_RETURN_IF_ERROR(CheckTokenId(out->eos_id, n, "eos_id", at));
  out->byte_fallback = t.byte_fallback();
  out->fuse_unk = t.fuse_unk();
  out->ignore_merges = t.ignore_merges();
  out->add_bos = t.add_bos();
  out->add_eos = t.add_eos();
  out->clean_up_tokenization_spaces = t.clean_up_tokenization_spaces();
  KITE_RETURN_IF_ERROR(strings.Copy(t.continuing_subword_prefix(), &out->continuing_subword_prefix,
                                    "tokenizer.continuing_subword_prefix"));
  KITE_RETURN_IF_ERROR(strings.Copy(t.end_of_word_suffix(), &out->end_of_word_suffix, "tokenizer.end_of_word_suffix"));
  KITE_RETURN_IF_ERROR(strings.Copy(t.normalizer_json(), &out->normalizer_json, "tokenizer.normalizer_json"));
  KITE_RETURN_IF_ERROR(strings.Copy(t.pre_tokenizer_json(), &out->pre_tokenizer_json, "tokenizer.pre_tokenizer_json"));
  KITE_RETURN_IF_ERROR(
      strings.Copy(t.post_processor_json(), &out->post_processor_json, "tokenizer.post_processor_json"));
  KITE_RETURN_IF_ERROR(strings.Copy(t.decoder_json(), &out->decoder_json, "tokenizer.decoder_json"));
  if (const auto* added = t.added_tokens()) {
    out->added_tokens.resize(added->size());
    for (uint32_t i = 0; i < added->size(); ++i) {
      const fb::AddedToken* a = added->Get(i);
      AddedTokenSpec& spec = out->added_tokens[i];
      spec.id = a->id();
      if (spec.id >= n) {
        return CorruptArtifact(at + "added token #" + std::to_string(i) + " has id " + std::to_string(spec.id) +
                               ", outside the vocabulary (" + std::to_string(n) + " tokens)");
      }
      KITE_RETURN_IF_ERROR(strings.Copy(a->content(), &spec.content, "tokenizer.added_tokens.content"));
      spec.special = a->special();
      spec.lstrip = a->lstrip();
      spec.rstrip = a->rstrip();
      spec.single_word = a->single_word();
      spec.normalized = a->normalized();
    }
  }
  return Status::Ok();
}

}  // namespace

Result<ArtifactMetadata> ParseHeaderMetadata(const fb::Artifact& root, uint64_t header_bytes,
                                             const std::string& where) {
  ArtifactMetadata m;
  StringCopier strings(header_bytes, where);
  KITE_RETURN_IF_ERROR(strings.Copy(root.producer(), &m.producer, "producer"));
  KITE_RETURN_IF_ERROR(ParseConfig(*root.config(), strings, where, &m.config));
  if (const fb::Tokenizer* t = root.tokenizer()) {
    m.has_tokenizer = true;
    KITE_RETURN_IF_ERROR(ParseTokenizer(*t, m.config.vocab_size, strings, where, &m.tokenizer));
  }
  if (const fb::ChatTemplate* t = root.chat_template()) {
    KITE_RETURN_IF_ERROR(strings.Copy(t->source(), &m.chat_template.source, "chat_template.source"));
    KITE_RETURN_IF_ERROR(strings.Copy(t->bos_token(), &m.chat_template.bos_token, "chat_template.bos_token"));
    KITE_RETURN_IF_ERROR(strings.Copy(t->eos_token(), &m.chat_template.eos_token, "chat_template.eos_token"));
  }
  if (const fb::GenerationDefaults* g = root.generation()) {
    m.generation.temperature = g->temperature();
    m.generation.top_k = g->top_k();
    m.generation.top_p = g->top_p();
    m.generation.min_p = g->min_p();
    m.generation.repetition_penalty = g->repetition_penalty();
    m.generation.do_sample = g->do_sample();
    m.generation.max_length = g->max_length();
  }
  if (const auto* stops = root.stop_strings()) {
    m.stop_strings.resize(stops->size());
    for (uint32_t i = 0; i < stops->size(); ++i) {
      KITE_RETURN_IF_ERROR(strings.Copy(stops->Get(i), &m.stop_strings[i], "stop_strings"));
    }
  }
  if (const fb::QuantizationReport* q = root.quantization()) {
    KITE_RETURN_IF_ERROR(strings.Copy(q->scheme(), &m.quantization.scheme, "quantization.scheme"));
    m.quantization.group_size = q->group_size();
    m.quantization.relative_rms_error = q->relative_rms_error();
  }
  return m;
}

}  // namespace kite
