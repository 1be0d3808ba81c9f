// Appends this batch's keys and values to one layer's cache:
//   k_cache[pos + t][i] = k[t][i],  v_cache[pos + t][i] = v[t][i]   for i < kv_dim.
// The caches hold [context][kv_heads * head_dim] values (no ring buffer: windowed
// layers keep every position and attention reads only the window), stored as
// web/src/webgpu/shaders.js generates it (kv_t, kv_pack): f32, f16 (shader-f16), or halves
// two per u32 (KV_PAIRS: each invocation then writes a pair; kv_dim is even).
// Dispatch: x = ceil(n_tokens * kv_dim / (KV_PAIRS ? 2 : 1) / WG).

struct KvParams {
  kv_dim: u32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

@group(0) @binding(0) var<uniform> p: KvParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> k_cache: array<kv_t>;
@group(0) @binding(5) var<storage, read_write> v_cache: array<kv_t>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let per = select(1u, 2u, KV_PAIRS);
  let i = gid.x * per;  // the first value this invocation stores
  if (i >= step.n_tokens * p.kv_dim) { return; }
  let dst = step.pos * p.kv_dim + i;
  let second = min(i + 1u, step.n_tokens * p.kv_dim - 1u);  // read only when KV_PAIRS (then i + 1)
  k_cache[kv_word(dst)] = kv_pack(k[i], k[second]);
  v_cache[kv_word(dst)] = kv_pack(v[i], v[second]);
}
