// Appends this batch's keys and values to one layer's cache:
//   k_cache[pos + t][i] = k[t][i],  v_cache[pos + t][i] = v[t][i]   for i < kv_dim.
// The caches are kv_t [context][kv_heads * head_dim] (no ring buffer: windowed
// layers keep every position and attention reads only the window). kv_t is f16 when the
// device has shader-f16 (half the memory, the CPU runtime's default cache format), else f32;
// web/src/webgpu/shaders.js generates the alias.
// Dispatch: x = ceil(n_tokens * kv_dim / WG).

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
  if (gid.x >= step.n_tokens * p.kv_dim) { return; }
  let dst = step.pos * p.kv_dim + gid.x;
  k_cache[dst] = kv_t(k[gid.x]);
  v_cache[dst] = kv_t(v[gid.x]);
}
