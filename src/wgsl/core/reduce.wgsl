// Deterministic sums (sum, mean) and the broadcast that is their backward.
//
// No atomics: every element is added in an order fixed by n alone, so the
// same input gives the same bits on every run and every GPU with the same
// float semantics. A pass reduces tiles of WG * ITEMS consecutive elements
// into one partial each; the host repeats passes until one value is left.
//
// Buffers:
//   src   f32[n]            values to reduce (or, for broadcast, src[0] is the scalar)
//   dst   f32[ceil(n / (WG*ITEMS))] partial sums, each multiplied by params.scale;
//         for broadcast, f32[n] filled with src[0] * params.scale
// Grid: one workgroup per tile, folded into y beyond the x limit.

struct Params {
  n: u32,
  scale: f32,
}

override WG: u32 = 256;
// Elements each thread adds serially before the tree; amortises the tree's barriers.
const ITEMS: u32 = 8u;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn sum_tiles(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let tile = wid.x + wid.y * nwg.x;
  let base = tile * WG * ITEMS;
  var acc = 0.0;
  // Strided by WG so that neighbouring threads read neighbouring addresses.
  for (var k = 0u; k < ITEMS; k++) {
    let i = base + k * WG + lid.x;
    if (i < params.n) { acc += src[i]; }
  }
  partial[lid.x] = acc;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (lid.x < stride) { partial[lid.x] += partial[lid.x + stride]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { dst[tile] = partial[0] * params.scale; }
}

@compute @workgroup_size(WG)
fn broadcast_scalar(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < params.n) { dst[i] = src[0] * params.scale; }
}
