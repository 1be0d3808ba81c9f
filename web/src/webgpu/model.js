// Reads the engine's description (kite_wasm_engine_info_json) into what the WebGPU
// graph needs: the config, and each tensor as views into the wasm heap.
//
// Tensor entries: {name, dtype: f32|f16|bf16|q8|q4, shape, ptr, bytes, scales_ptr,
// scales_bytes, group_size}; ptr/scales_ptr are byte offsets into module.HEAPU8.

import { rowBytes } from './weights.js';

const LLAMA_FAMILY = new Set(['LlamaForCausalLM', 'MistralForCausalLM', 'Qwen2ForCausalLM', 'Qwen3ForCausalLM']);
const GRAPH_OF = { Gemma3ForCausalLM: 'gemma3', GPT2LMHeadModel: 'gpt2' };

/** Which WebGPU graph runs this architecture: 'llama', 'gemma3', 'gpt2', or '' (none). */
export function graphKind(cfg) {
  if (LLAMA_FAMILY.has(cfg.architecture)) return 'llama';
  return GRAPH_OF[cfg.architecture] || '';
}

function pick(obj, names, fallback = undefined) {
  for (const n of names) if (obj[n] !== undefined && obj[n] !== null) return obj[n];
  return fallback;
}

/** The config fields the graph uses, with the names the C++ ModelConfig and HF use both accepted. */
export function normalizeConfig(info) {
  const c = info.config || info;
  const cfg = {
    architecture: info.architecture || c.architecture || '',
    vocab_size: pick(c, ['vocab_size']),
    hidden_size: pick(c, ['hidden_size']),
    intermediate_size: pick(c, ['intermediate_size']),
    num_layers: pick(c, ['num_layers', 'num_hidden_layers']),
    num_heads: pick(c, ['num_heads', 'num_attention_heads']),
    num_kv_heads: pick(c, ['num_kv_heads', 'num_key_value_heads']),
    head_dim: pick(c, ['head_dim']),
    rope_theta: pick(c, ['rope_theta'], 10000),
    rope_scaling: pick(c, ['rope_scaling'], null),
    max_position_embeddings: pick(c, ['max_position_embeddings'], 0),
    norm_eps: pick(c, ['norm_eps', 'rms_norm_eps'], 1e-5),
    tie_word_embeddings: Boolean(pick(c, ['tie_word_embeddings'], false)),
    sliding_window: pick(c, ['sliding_window'], 0) || 0,
    sliding_layers: pick(c, ['sliding_layers'], []) || [],
    hidden_act: pick(c, ['hidden_act'], 'silu'),
    num_experts: pick(c, ['num_experts'], 0) || 0,
    moe_layers: pick(c, ['moe_layers'], []) || [],
    rope_local_base_freq: pick(c, ['rope_local_base_freq'], 0) || 0,
    query_pre_attn_scalar: pick(c, ['query_pre_attn_scalar'], 0) || 0,
    attn_logit_softcapping: pick(c, ['attn_logit_softcapping'], 0) || 0,
    final_logit_softcapping: pick(c, ['final_logit_softcapping'], 0) || 0,
    scale_attn_by_inverse_layer_idx: Boolean(pick(c, ['scale_attn_by_inverse_layer_idx'], false)),
  };
  if (!cfg.head_dim && cfg.hidden_size && cfg.num_heads) cfg.head_dim = cfg.hidden_size / cfg.num_heads;
  return cfg;
}

/** Why the WebGPU graph cannot run this model, or '' when it can. */
export function unsupportedReason(cfg) {
  const kind = graphKind(cfg);
  if (!kind) {
    return `architecture '${cfg.architecture}' has no WebGPU graph (Llama, Mistral, Qwen2, Qwen3, Gemma 3, GPT-2 do)`;
  }
  if (cfg.num_experts > 0 || cfg.moe_layers.some((x) => x)) return 'mixture-of-experts layers have no WebGPU graph';
  const act = kind === 'llama' ? 'silu' : 'gelu_pytorch_tanh';
  if (cfg.hidden_act !== act) return `hidden_act '${cfg.hidden_act}' (${cfg.architecture}: only ${act})`;
  if (kind === 'gemma3' && !(cfg.query_pre_attn_scalar > 0)) return 'config.query_pre_attn_scalar is missing or not positive';
  if (cfg.sliding_layers.some((x) => x) && !(cfg.sliding_window > 0)) return 'some layers slide but sliding_window is 0';
  for (const k of ['vocab_size', 'hidden_size', 'intermediate_size', 'num_layers', 'num_heads', 'num_kv_heads', 'head_dim']) {
    if (!(cfg[k] > 0)) return `config.${k} is missing or not positive`;
  }
  if (cfg.num_heads % cfg.num_kv_heads) return 'num_heads is not a multiple of num_kv_heads';
  if (cfg.head_dim % 2) return 'head_dim is odd';
  if (cfg.head_dim > 512) return `head_dim ${cfg.head_dim} > 512`;
  if (kind === 'gpt2') {
    if (cfg.num_kv_heads !== cfg.num_heads || cfg.head_dim * cfg.num_heads !== cfg.hidden_size) {
      return 'GPT-2 needs num_kv_heads == num_heads and head_dim * num_heads == hidden_size';
    }
    if (!(cfg.max_position_embeddings > 0)) return 'config.max_position_embeddings is missing (GPT-2 learns its positions)';
  }
  return '';
}

/** name -> tensor accessor over the heap. */
export function tensorTable(module, info) {
  const table = new Map();
  for (const t of info.tensors || []) {
    const entry = {
      name: t.name,
      dtype: t.dtype,
      shape: t.shape,
      groupSize: pick(t, ['group_size'], 0) || 0,
      ptr: pick(t, ['ptr', 'data_ptr']),
      bytes: pick(t, ['bytes', 'data_bytes']),
      scalesPtr: pick(t, ['scales_ptr', 'scale_ptr'], 0),
      scalesBytes: pick(t, ['scales_bytes', 'scale_bytes'], 0),
    };
    // Views are made when asked for: HEAPU8 is replaced when the wasm memory grows.
    entry.data = () => module.HEAPU8.subarray(entry.ptr, entry.ptr + entry.bytes);
    entry.scales = () => (entry.scalesBytes ? module.HEAPU8.subarray(entry.scalesPtr, entry.scalesPtr + entry.scalesBytes) : null);
    table.set(t.name, entry);
  }
  return table;
}

function shapeString(s) { return `[${(s || []).join(', ')}]`; }

/** A 2-D weight checked against [rows, cols] and its stored byte count. */
export function matrixSpec(table, name, rows, cols) {
  const t = table.get(name);
  if (!t) throw new Error(`WebGPU: missing tensor '${name}'`);
  if (!t.shape || t.shape.length !== 2 || t.shape[0] !== rows || t.shape[1] !== cols) {
    throw new Error(`WebGPU: tensor '${name}' has shape ${shapeString(t.shape)}, the config implies [${rows}, ${cols}]`);
  }
  const rb = rowBytes(t.dtype, cols, t.groupSize);
  if (t.bytes < rb.data * rows) throw new Error(`WebGPU: tensor '${name}' has ${t.bytes} bytes, its ${t.dtype} layout needs ${rb.data * rows}`);
  if (rb.scales && t.scalesBytes < rb.scales * rows) throw new Error(`WebGPU: tensor '${name}' has ${t.scalesBytes} scale bytes, needs ${rb.scales * rows}`);
  return { name, dtype: t.dtype, rows, cols, groupSize: t.groupSize, tensor: t };
}

/** A 1-D f32 vector, or null when absent and optional. */
export function vectorSpec(table, name, length, required = true) {
  const t = table.get(name);
  if (!t) {
    if (required) throw new Error(`WebGPU: missing tensor '${name}'`);
    return null;
  }
  if (t.dtype !== 'f32' || !t.shape || t.shape.length !== 1 || t.shape[0] !== length) {
    throw new Error(`WebGPU: vector '${name}' is ${t.dtype} ${shapeString(t.shape)}, expected f32 [${length}]`);
  }
  return t;
}

/** The weight matrices among projectionSpecs' fields, in upload order. */
export const PROJECTIONS = ['wq', 'wk', 'wv', 'wo', 'gate', 'up', 'down'];

/**
 * The attention and gated-MLP projections of a Llama-shaped layer (Llama family, Gemma 3), with
 * their optional biases; p is the layer's prefix ('model.layers.N.').
 */
export function projectionSpecs(table, p, c) {
  const D = c.hidden_size, F = c.intermediate_size, H = c.num_heads, KV = c.num_kv_heads, hd = c.head_dim;
  return {
    wq: matrixSpec(table, `${p}self_attn.q_proj.weight`, H * hd, D),
    wk: matrixSpec(table, `${p}self_attn.k_proj.weight`, KV * hd, D),
    wv: matrixSpec(table, `${p}self_attn.v_proj.weight`, KV * hd, D),
    wo: matrixSpec(table, `${p}self_attn.o_proj.weight`, D, H * hd),
    bq: vectorSpec(table, `${p}self_attn.q_proj.bias`, H * hd, false),
    bk: vectorSpec(table, `${p}self_attn.k_proj.bias`, KV * hd, false),
    bv: vectorSpec(table, `${p}self_attn.v_proj.bias`, KV * hd, false),
    bo: vectorSpec(table, `${p}self_attn.o_proj.bias`, D, false),
    gate: matrixSpec(table, `${p}mlp.gate_proj.weight`, F, D),
    up: matrixSpec(table, `${p}mlp.up_proj.weight`, F, D),
    down: matrixSpec(table, `${p}mlp.down_proj.weight`, D, F),
    bGate: vectorSpec(table, `${p}mlp.gate_proj.bias`, F, false),
    bUp: vectorSpec(table, `${p}mlp.up_proj.bias`, F, false),
    bDown: vectorSpec(table, `${p}mlp.down_proj.bias`, D, false),
  };
}
