// Workgroup reductions through workgroup (shared) memory: the fallback when the
// adapter lacks the `subgroups` feature. Prepended to an op shader by
// web/src/webgpu/shaders.js together with a generated `const WG: u32` (a power of two).
// Same API as reduce_subgroup.wgsl: wg_sum / wg_max return the reduction of one f32
// per invocation to every invocation. Must be called from uniform control flow.

struct Ids {
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
}

var<workgroup> red_scratch: array<f32, WG>;

fn wg_sum(v: f32, ids: Ids) -> f32 {
  red_scratch[ids.lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (ids.lid < s) { red_scratch[ids.lid] = red_scratch[ids.lid] + red_scratch[ids.lid + s]; }
    workgroupBarrier();
  }
  let r = red_scratch[0];
  workgroupBarrier();  // red_scratch is reused by the next call
  return r;
}

fn wg_max(v: f32, ids: Ids) -> f32 {
  red_scratch[ids.lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (ids.lid < s) { red_scratch[ids.lid] = max(red_scratch[ids.lid], red_scratch[ids.lid + s]); }
    workgroupBarrier();
  }
  let r = red_scratch[0];
  workgroupBarrier();
  return r;
}

// Reduces a ROWS x TOKENS tile of per-invocation partial sums with one barrier: every
// invocation stores its tile, then invocation i < ROWS * TOKENS sums entry i (row i / TOKENS,
// token i % TOKENS) over the workgroup and gets it back; the others get 0. (SwiftShader runs
// a workgroup barrier as a fiber switch of every invocation, so the matvecs keep to one.)
var<workgroup> red_tile: array<f32, ROWS * TOKENS * WG>;

fn wg_sum_tile(acc: array<array<f32, TOKENS>, ROWS>, ids: Ids) -> f32 {
  for (var r = 0u; r < ROWS; r = r + 1u) {
    for (var t = 0u; t < TOKENS; t = t + 1u) { red_tile[(r * TOKENS + t) * WG + ids.lid] = acc[r][t]; }
  }
  workgroupBarrier();
  var s = 0.0;
  if (ids.lid < ROWS * TOKENS) {
    for (var i = 0u; i < WG; i = i + 1u) { s = s + red_tile[ids.lid * WG + i]; }
  }
  return s;
}
