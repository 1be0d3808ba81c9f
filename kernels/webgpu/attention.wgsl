// Causal grouped-query attention of a batch of queries over one layer's KV cache (stored as
// kv_store.wgsl says; each value widened to f32 by kv_value, all arithmetic f32):
//   out[t][h] = softmax_j(cap(q[t][h] . K[j][h / group] * scale)) . V[j][h / group]
// with cap(s) = soft_cap * tanh(s / soft_cap) when soft_cap > 0 (Gemma 2/3's attention logit
// soft-capping), else s,
// over keys j in [lo, pos + t], lo = max(0, pos + t - window + 1) when window > 0
// (Mistral's sliding window), else 0. One workgroup per (head, token).
// Three passes: scores (kept in a global scratch row, so the context length is not
// bounded by workgroup memory), max and exp-sum (workgroup reductions), then the
// weighted sum of V with each invocation owning output dims.
// q: [n_tokens][heads][hd]; caches: [context][kv_heads][hd]; scores: [n_tokens][heads][context].
// Dispatch: x = heads, y = n_tokens.

struct AttnParams {
  heads: u32,
  kv_heads: u32,
  head_dim: u32,
  context: u32,   // rows in the caches and the scores scratch
  window: u32,    // 0: full causal
  scale: f32,     // 1 / sqrt(head_dim), or Gemma's query_pre_attn_scalar^-1/2
  soft_cap: f32,  // 0: none
  pad1: u32,
}

@group(0) @binding(0) var<uniform> p: AttnParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> k_cache: array<kv_t>;
@group(0) @binding(4) var<storage, read> v_cache: array<kv_t>;
@group(0) @binding(5) var<storage, read_write> scores: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

const MAX_HEAD_DIM: u32 = 512u;
var<workgroup> q_sh: array<f32, MAX_HEAD_DIM>;

@compute @workgroup_size(WG)
fn main(ids: Ids) {
  let h = ids.wg.x;
  let t = ids.wg.y;
  let hd = p.head_dim;
  let kv_dim = p.kv_heads * hd;
  let kvh = h / (p.heads / p.kv_heads);
  let q_pos = step.pos + t;
  var lo = 0u;
  if (p.window > 0u && q_pos + 1u > p.window) { lo = q_pos + 1u - p.window; }
  let n_keys = q_pos + 1u - lo;
  let q_base = (t * p.heads + h) * hd;
  let s_base = (t * p.heads + h) * p.context;

  for (var d = ids.lid; d < hd; d = d + WG) { q_sh[d] = q[q_base + d]; }
  workgroupBarrier();

  var local_max = -3.402823e38;
  for (var j = ids.lid; j < n_keys; j = j + WG) {
    let k_base = (lo + j) * kv_dim + kvh * hd;
    var s = 0.0;
    for (var d = 0u; d < hd; d = d + 1u) { let i = k_base + d; s = s + q_sh[d] * kv_value(k_cache[kv_word(i)], i); }
    s = s * p.scale;
    if (p.soft_cap > 0.0) { s = p.soft_cap * tanh_f32(s / p.soft_cap); }
    scores[s_base + j] = s;
    local_max = max(local_max, s);
  }
  let m = wg_max(local_max, ids);
  var local_sum = 0.0;
  for (var j = ids.lid; j < n_keys; j = j + WG) {
    let e = exp(scores[s_base + j] - m);
    scores[s_base + j] = e;
    local_sum = local_sum + e;
  }
  let total = wg_sum(local_sum, ids);
  storageBarrier();  // every invocation's exp(scores) visible to all before the weighted sum
  workgroupBarrier();
  let inv = 1.0 / total;
  for (var d = ids.lid; d < hd; d = d + WG) {
    var acc = 0.0;
    for (var j = 0u; j < n_keys; j = j + 1u) {
      let i = (lo + j) * kv_dim + kvh * hd + d;
      acc = acc + scores[s_base + j] * kv_value(v_cache[kv_word(i)], i);
    }
    out[q_base + d] = acc * inv;
  }
}
