// SwiGLU: gate[t][i] = silu(gate[t][i]) * up[t][i] = gate / (1 + exp(-gate)) * up, in place.
// Dispatch: x = ceil(n_tokens * n / WG).

struct SiluParams {
  n: u32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

@group(0) @binding(0) var<uniform> p: SiluParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read_write> gate: array<f32>;
@group(0) @binding(3) var<storage, read> up: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= step.n_tokens * p.n) { return; }
  let g = gate[gid.x];
  gate[gid.x] = g / (1.0 + exp(-g)) * up[gid.x];
}
