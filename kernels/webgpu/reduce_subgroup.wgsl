// Workgroup reductions with subgroup operations (`subgroups` feature; the shader
// is prefixed with `enable subgroups;`). Same API as reduce_shared.wgsl.
//
// Each subgroup reduces in registers (subgroupAdd / subgroupMax); one lane per
// subgroup then claims a slot with a workgroup atomic. Slots are claimed rather
// than computed as lid / subgroup_size because WGSL does not promise that
// subgroups are contiguous ranges of local_invocation_index, and subgroup sizes
// differ between devices (4 on SwiftShader, 32 on NVIDIA, 64 on AMD, ...).
// The slots are summed in claim order, so the last bits of a sum may differ from
// run to run on hardware that schedules subgroups differently.

struct Ids {
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(subgroup_invocation_id) sg_lane: u32,
  @builtin(subgroup_size) sg_size: u32,
}

var<workgroup> red_scratch: array<f32, WG>;
var<workgroup> red_slots: atomic<u32>;

fn wg_sum(v: f32, ids: Ids) -> f32 {
  let part = subgroupAdd(v);
  if (ids.lid == 0u) { atomicStore(&red_slots, 0u); }
  workgroupBarrier();
  if (ids.sg_lane == 0u) { red_scratch[atomicAdd(&red_slots, 1u)] = part; }
  workgroupBarrier();
  let n = atomicLoad(&red_slots);
  var r = 0.0;
  for (var i = 0u; i < n; i = i + 1u) { r = r + red_scratch[i]; }
  workgroupBarrier();
  return r;
}

fn wg_max(v: f32, ids: Ids) -> f32 {
  let part = subgroupMax(v);
  if (ids.lid == 0u) { atomicStore(&red_slots, 0u); }
  workgroupBarrier();
  if (ids.sg_lane == 0u) { red_scratch[atomicAdd(&red_slots, 1u)] = part; }
  workgroupBarrier();
  let n = atomicLoad(&red_slots);
  var r = red_scratch[0];
  for (var i = 1u; i < n; i = i + 1u) { r = max(r, red_scratch[i]); }
  workgroupBarrier();
  return r;
}

// Reduces a ROWS x TOKENS tile of per-invocation partial sums with one barrier: each
// subgroup adds its lanes (subgroupAdd), its first lane stores the subgroup's tile in the
// slot it claimed, then invocation i < ROWS * TOKENS adds entry i over the slots and gets
// it back; the others get 0. Workgroup memory starts zeroed, so the slot counter needs no reset.
var<workgroup> red_tile: array<f32, ROWS * TOKENS * WG>;
var<workgroup> red_tile_slots: atomic<u32>;

fn wg_sum_tile(acc: array<array<f32, TOKENS>, ROWS>, ids: Ids) -> f32 {
  var slot = 0u;
  if (ids.sg_lane == 0u) { slot = atomicAdd(&red_tile_slots, 1u); }
  for (var r = 0u; r < ROWS; r = r + 1u) {
    for (var t = 0u; t < TOKENS; t = t + 1u) {
      let part = subgroupAdd(acc[r][t]);
      if (ids.sg_lane == 0u) { red_tile[(r * TOKENS + t) * WG + slot] = part; }
    }
  }
  workgroupBarrier();
  var s = 0.0;
  if (ids.lid < ROWS * TOKENS) {
    let n = atomicLoad(&red_tile_slots);
    for (var i = 0u; i < n; i = i + 1u) { s = s + red_tile[ids.lid * WG + i]; }
  }
  return s;
}
