// Rotary position embedding, Hugging Face "rotate_half" layout, in place:
//   (a, b) = (x[i], x[i + hd/2]) -> (a cos_i - b sin_i, b cos_i + a sin_i)
// buf: [n_tokens][heads][hd]; cos_sin: [n_tokens][2][hd/2] for positions pos..pos+n-1.
// The table comes from the host (web/src/webgpu/rope_table.js), computed in f64 the
// way runtime/model/rope.cc does, so every scaling type (default, linear, llama3,
// yarn) costs nothing here. One invocation per pair.
// Dispatch: x = ceil(n_tokens * heads * hd/2 / WG).

struct RopeParams {
  heads: u32,
  head_dim: u32,
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(0) var<uniform> p: RopeParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read_write> buf: array<f32>;
@group(0) @binding(3) var<storage, read> cos_sin: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let half = p.head_dim / 2u;
  let i = gid.x % half;
  let th = gid.x / half;  // token * heads + head
  if (th >= step.n_tokens * p.heads) { return; }
  let t = th / p.heads;
  let base = th * p.head_dim;
  let c = cos_sin[t * p.head_dim + i];
  let s = cos_sin[t * p.head_dim + half + i];
  let a = buf[base + i];
  let b = buf[base + half + i];
  buf[base + i] = a * c - b * s;
  buf[base + half + i] = b * c + a * s;
}
