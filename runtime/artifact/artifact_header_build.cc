// Structs -> FlatBuffer header. Child objects are created before the table
// that refers to them (FlatBuffers builds back to front).
#include "runtime/artifact/artifact_header.h"

#include <flatbuffers/flatbuffers.h>

namespace kite {
namespace {

using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;

Offset<fb::RopeScaling> BuildRopeScaling(FlatBufferBuilder& fbb, const RopeScalingConfig& r) {
  auto type = fbb.CreateString(r.type);
  fb::RopeScalingBuilder b(fbb);
  b.add_type(type);
  b.add_factor(r.factor);
  b.add_low_freq_factor(r.low_freq_factor);
  b.add_high_freq_factor(r.high_freq_factor);
  b.add_original_max_position_embeddings(r.original_max_position_embeddings);
  b.add_beta_fast(r.beta_fast);
  b.add_beta_slow(r.beta_slow);
  b.add_mscale(r.mscale);
  b.add_mscale_all_dim(r.mscale_all_dim);
  b.add_attention_factor(r.attention_factor);
  return b.Finish();
}

Offset<fb::ModelConfig> BuildConfig(FlatBufferBuilder& fbb, const ModelConfig& c) {
  auto architecture = fbb.CreateString(c.architecture);
  auto model_type = fbb.CreateString(c.model_type);
  auto rope_scaling = BuildRopeScaling(fbb, c.rope_scaling);
  auto hidden_act = fbb.CreateString(c.hidden_act);
  auto eos = fbb.CreateVector(c.eos_token_ids);
  auto sliding_layers = fbb.CreateVector(c.sliding_layers);
  auto moe_layers = fbb.CreateVector(c.moe_layers);
  auto moe_scoring = fbb.CreateString(c.moe_scoring);
  auto moe_topk_method = fbb.CreateString(c.moe_topk_method);
  fb::ModelConfigBuilder b(fbb);
  b.add_architecture(architecture);
  b.add_model_type(model_type);
  b.add_vocab_size(c.vocab_size);
  b.add_hidden_size(c.hidden_size);
  b.add_intermediate_size(c.intermediate_size);
  b.add_num_layers(c.num_layers);
  b.add_num_heads(c.num_heads);
  b.add_num_kv_heads(c.num_kv_heads);
  b.add_head_dim(c.head_dim);
  b.add_max_position_embeddings(c.max_position_embeddings);
  b.add_norm_eps(c.norm_eps);
  b.add_rope_theta(c.rope_theta);
  b.add_rope_scaling(rope_scaling);
  b.add_tie_word_embeddings(c.tie_word_embeddings);
  b.add_attention_bias(c.attention_bias);
  b.add_attention_out_bias(c.attention_out_bias);
  b.add_mlp_bias(c.mlp_bias);
  b.add_qk_norm(c.qk_norm);
  b.add_hidden_act(hidden_act);
  b.add_bos_token_id(c.bos_token_id);
  b.add_eos_token_ids(eos);
  b.add_pad_token_id(c.pad_token_id);
  b.add_scale_attn_by_inverse_layer_idx(c.scale_attn_by_inverse_layer_idx);
  b.add_sliding_window(c.sliding_window);
  b.add_sliding_layers(sliding_layers);
  b.add_rope_local_base_freq(c.rope_local_base_freq);
  b.add_query_pre_attn_scalar(c.query_pre_attn_scalar);
  b.add_attn_logit_softcapping(c.attn_logit_softcapping);
  b.add_final_logit_softcapping(c.final_logit_softcapping);
  b.add_num_experts(c.num_experts);
  b.add_num_experts_per_tok(c.num_experts_per_tok);
  b.add_moe_intermediate_size(c.moe_intermediate_size);
  b.add_num_shared_experts(c.num_shared_experts);
  b.add_norm_topk_prob(c.norm_topk_prob);
  b.add_routed_scaling_factor(c.routed_scaling_factor);
  b.add_moe_layers(moe_layers);
  b.add_moe_scoring(moe_scoring);
  b.add_moe_topk_method(moe_topk_method);
  b.add_moe_n_group(c.moe_n_group);
  b.add_moe_topk_group(c.moe_topk_group);
  b.add_q_lora_rank(c.q_lora_rank);
  b.add_kv_lora_rank(c.kv_lora_rank);
  b.add_qk_nope_head_dim(c.qk_nope_head_dim);
  b.add_qk_rope_head_dim(c.qk_rope_head_dim);
  b.add_v_head_dim(c.v_head_dim);
  b.add_shared_expert_intermediate_size(c.shared_expert_intermediate_size);
  b.add_shared_expert_gate(c.shared_expert_gate);
  return b.Finish();
}

Offset<fb::Tokenizer> BuildTokenizer(FlatBufferBuilder& fbb, const TokenizerSpec& t) {
  auto model_type = fbb.CreateString(t.model_type);
  auto vocab = fbb.CreateVectorOfStrings(t.vocab);
  std::vector<uint32_t> merges;
  merges.reserve(t.merges.size() * 2);
  for (const auto& m : t.merges) {
    merges.push_back(m.first);
    merges.push_back(m.second);
  }
  auto merges_vec = fbb.CreateVector(merges);
  auto scores = fbb.CreateVector(t.scores);
  auto prefix = fbb.CreateString(t.continuing_subword_prefix);
  auto suffix = fbb.CreateString(t.end_of_word_suffix);
  auto normalizer = fbb.CreateString(t.normalizer_json);
  auto pre_tokenizer = fbb.CreateString(t.pre_tokenizer_json);
  auto post_processor = fbb.CreateString(t.post_processor_json);
  auto decoder = fbb.CreateString(t.decoder_json);
  std::vector<Offset<fb::AddedToken>> added;
  added.reserve(t.added_tokens.size());
  for (const AddedTokenSpec& a : t.added_tokens) {
    auto content = fbb.CreateString(a.content);
    fb::AddedTokenBuilder ab(fbb);
    ab.add_id(a.id);
    ab.add_content(content);
    ab.add_special(a.special);
    ab.add_lstrip(a.lstrip);
    ab.add_rstrip(a.rstrip);
    ab.add_single_word(a.single_word);
    ab.add_normalized(a.normalized);
    added.push_back(ab.Finish());
  }
  auto added_vec = fbb.CreateVector(added);
  fb::TokenizerBuilder b(fbb);
  b.add_model_type(model_type);
  b.add_vocab(vocab);
  b.add_merges(merges_vec);
  b.add_scores(scores);
  b.add_unk_id(t.unk_id);
  b.add_byte_fallback(t.byte_fallback);
  b.add_fuse_unk(t.fuse_unk);
  b.add_ignore_merges(t.ignore_merges);
  b.add_continuing_subword_prefix(prefix);
  b.add_end_of_word_suffix(suffix);
  b.add_normalizer_json(normalizer);
  b.add_pre_tokenizer_json(pre_tokenizer);
  b.add_post_processor_json(post_processor);
  b.add_decoder_json(decoder);
  b.add_added_tokens(added_vec);
  b.add_bos_id(t.bos_id);
  b.add_eos_id(t.eos_id);
  b.add_add_bos(t.add_bos);
  b.add_add_eos(t.add_eos);
  b.add_clean_up_tokenization_spaces(t.clean_up_tokenization_spaces);
  return b.Finish();
}

Offset<fb::Segment> BuildSegment(FlatBufferBuilder& fbb, uint64_t offset, uint64_t bytes) {
  fb::SegmentBuilder b(fbb);
  b.add_offset(offset);
  b.add_bytes(bytes);
  return b.Finish();
}

Offset<fb::Tensor> BuildTensor(FlatBufferBuilder& fbb, const HeaderTensor& t) {
  auto name = fbb.CreateString(t.spec.name);
  std::vector<uint64_t> dims(t.spec.shape.begin(), t.spec.shape.end());
  auto shape = fbb.CreateVector(dims);
  auto data = BuildSegment(fbb, t.placement.data_offset, t.placement.data_bytes);
  Offset<fb::Segment> scales;
  if (IsQuantized(t.spec.dtype)) scales = BuildSegment(fbb, t.placement.scales_offset, t.placement.scales_bytes);
  fb::TensorBuilder b(fbb);
  b.add_name(name);
  b.add_shape(shape);
  b.add_dtype(static_cast<fb::DType>(t.spec.dtype));
  b.add_group_size(static_cast<uint32_t>(t.spec.group_size));
  b.add_data(data);
  if (!scales.IsNull()) b.add_scales(scales);
  b.add_checksum(t.checksum);
  return b.Finish();
}

}  // namespace

std::vector<uint8_t> BuildHeader(const ArtifactMetadata& m, const std::vector<HeaderTensor>& tensors) {
  FlatBufferBuilder fbb(64 * 1024);
  fbb.ForceDefaults(true);  // size must not depend on the values (see artifact_header.h)

  auto producer = fbb.CreateString(m.producer);
  auto config = BuildConfig(fbb, m.config);
  Offset<fb::Tokenizer> tokenizer;
  if (m.has_tokenizer) tokenizer = BuildTokenizer(fbb, m.tokenizer);

  auto source = fbb.CreateString(m.chat_template.source);
  auto bos = fbb.CreateString(m.chat_template.bos_token);
  auto eos = fbb.CreateString(m.chat_template.eos_token);
  fb::ChatTemplateBuilder tb(fbb);
  tb.add_source(source);
  tb.add_bos_token(bos);
  tb.add_eos_token(eos);
  auto chat_template = tb.Finish();

  const GenerationDefaultsInfo& g = m.generation;
  fb::GenerationDefaultsBuilder gb(fbb);
  gb.add_temperature(g.temperature);
  gb.add_top_k(g.top_k);
  gb.add_top_p(g.top_p);
  gb.add_min_p(g.min_p);
  gb.add_repetition_penalty(g.repetition_penalty);
  gb.add_do_sample(g.do_sample);
  gb.add_max_length(g.max_length);
  auto generation = gb.Finish();

  auto stop_strings = fbb.CreateVectorOfStrings(m.stop_strings);

  std::vector<Offset<fb::Tensor>> tensor_offsets;
  tensor_offsets.reserve(tensors.size());
  for (const HeaderTensor& t : tensors) tensor_offsets.push_back(BuildTensor(fbb, t));
  auto tensor_vec = fbb.CreateVector(tensor_offsets);

  auto scheme = fbb.CreateString(m.quantization.scheme);
  fb::QuantizationReportBuilder qb(fbb);
  qb.add_scheme(scheme);
  qb.add_group_size(m.quantization.group_size);
  qb.add_relative_rms_error(m.quantization.relative_rms_error);
  auto quantization = qb.Finish();

  fb::ArtifactBuilder ab(fbb);
  ab.add_format_version(kArtifactFormatVersion);
  ab.add_producer(producer);
  ab.add_config(config);
  if (!tokenizer.IsNull()) ab.add_tokenizer(tokenizer);
  ab.add_chat_template(chat_template);
  ab.add_generation(generation);
  ab.add_stop_strings(stop_strings);
  ab.add_tensors(tensor_vec);
  ab.add_quantization(quantization);
  fb::FinishArtifactBuffer(fbb, ab.Finish());
  return std::vector<uint8_t>(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
}

}  // namespace kite
