// GELU with the tanh approximation, in place:
//   gelu_tanh(g) = 0.5 g (1 + tanh(sqrt(2 / pi) (g + 0.044715 g^3)))   as the CPU's GeluTanh
//   GELU_GATED (Gemma's GeGLU): gate[t][i] = gelu_tanh(gate[t][i]) * up[t][i]
//   otherwise (GPT-2's MLP):     gate[t][i] = gelu_tanh(gate[t][i])   (up is not read)
// tanh_f32 (common.wgsl) is exactly +-1 for large arguments, as the CPU's tanh: a huge
// negative gate gives 0 and a huge positive one g (times up).
// Dispatch: x = ceil(n_tokens * n / WG).

struct GeluParams {
  n: u32,
  flags: u32,
  pad0: u32,
  pad1: u32,
}
const GELU_GATED: u32 = 1u;

@group(0) @binding(0) var<uniform> p: GeluParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read_write> gate: array<f32>;
@group(0) @binding(3) var<storage, read> up: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= step.n_tokens * p.n) { return; }
  let g = gate[gid.x];
  let inner = 0.7978845608028654 * (g + 0.044715 * g * g * g);
  let gelu = 0.5 * g * (1.0 + tanh_f32(inner));
  if ((p.flags & GELU_GATED) != 0u) { gate[gid.x] = gelu * up[gid.x]; } else { gate[gid.x] = gelu; }
}
