// Blurred MSE between two sparse pixel–tick images on a dense *bounding box*
// of their union support (plus the blur radius on every side):
//   L = Σ_x [(K ∗ (P − T))(x)]² / Z,  Z = Σ_x [(K ∗ T)(x)]² (1 if T is empty),
// K a separable, truncated, normalised discrete Gaussian. Semantics:
// src/kernels/drift/loss.reference.ts. The box is dense, so its memory is the
// box volume (see docs/drift.md); sparse entries of one image are unique cells.
//
// Buffers:
//   cells    i32[E·3]   (pixelX, pixelY, tick) of an image's entries
//   vals     f32[E]     an image's values
//   grid     f32[BX·BY·BT]  dense box, row-major (x, y, t), t fastest;
//                       origin (x0, y0, t0) = lower corner minus the blur radius
//   src, dst f32[BX·BY·BT]  blur input and output
//   weights  f32[2·RU + 1 + 2·RT + 1]  1-D kernel along pixels, then along ticks
//   sums     f32[2]     [Σ b², Σ (K∗T)²] (each reduced by core/reduce)
//   loss_out f32[1]     L
//   g        f32[1]     backward input ∂ℓ/∂L
//   kb       f32[BX·BY·BT]  K ∗ b, the gradient field
//   gvals    f32[E]     backward output ∂ℓ/∂P per entry of P
// Grids: one invocation per entry (scatter, gather) or per box cell (blur, square).

struct Params {
  n: u32,
  bx: u32,
  by: u32,
  bt: u32,
  x0: i32,
  y0: i32,
  t0: i32,
  // blur: axis 0 = x, 1 = y, 2 = t; scatter: +1 or −1 as a sign
  axis: i32,
  radius: u32,
  // first weight of this axis' kernel in `weights`
  woff: u32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<storage, read> cells: array<i32>;
@group(0) @binding(1) var<storage, read> vals: array<f32>;
@group(0) @binding(2) var<storage, read_write> grid: array<f32>;
@group(0) @binding(3) var<storage, read> src: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;
@group(0) @binding(5) var<storage, read> weights: array<f32>;
@group(0) @binding(6) var<storage, read> sums: array<f32>;
@group(0) @binding(7) var<storage, read_write> loss_out: array<f32>;
@group(0) @binding(8) var<storage, read> g: array<f32>;
@group(0) @binding(9) var<storage, read> kb: array<f32>;
@group(0) @binding(10) var<storage, read_write> gvals: array<f32>;
@group(0) @binding(11) var<uniform> params: Params;

fn box_index(e: u32) -> u32 {
  let x = u32(cells[e * 3u] - params.x0);
  let y = u32(cells[e * 3u + 1u] - params.y0);
  let t = u32(cells[e * 3u + 2u] - params.t0);
  return (x * params.by + y) * params.bt + t;
}

// grid[cell] += sign · value; entries of one image are unique cells, so no two
// invocations of one dispatch touch the same element.
@compute @workgroup_size(WG)
fn box_scatter(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * WG;
  if (e >= params.n) { return; }
  let i = box_index(e);
  grid[i] = grid[i] + f32(params.axis) * vals[e];
}

// One separable pass: gather along `axis` with the symmetric kernel (fixed order).
@compute @workgroup_size(WG)
fn box_blur(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  let t = i % params.bt;
  let y = (i / params.bt) % params.by;
  let x = i / (params.bt * params.by);
  var pos: i32;
  var dim: i32;
  var stride: u32;
  if (params.axis == 0) { pos = i32(x); dim = i32(params.bx); stride = params.by * params.bt; }
  else if (params.axis == 1) { pos = i32(y); dim = i32(params.by); stride = params.bt; }
  else { pos = i32(t); dim = i32(params.bt); stride = 1u; }
  let r = i32(params.radius);
  var acc = 0.0;
  for (var o = -r; o <= r; o++) {
    let q = pos + o;
    if (q >= 0 && q < dim) {
      acc += weights[params.woff + u32(o + r)] * src[u32(i32(i) + o * i32(stride))];
    }
  }
  dst[i] = acc;
}

@compute @workgroup_size(WG)
fn box_square(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  dst[i] = src[i] * src[i];
}

fn norm_z() -> f32 {
  return select(sums[1], 1.0, sums[1] == 0.0);
}

@compute @workgroup_size(1)
fn loss_finalize() {
  loss_out[0] = sums[0] / norm_z();
}

// ∂ℓ/∂P(y) = g · 2/Z · (K ∗ b)(y) (K symmetric).
@compute @workgroup_size(WG)
fn box_gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * WG;
  if (e >= params.n) { return; }
  gvals[e] = 2.0 * g[0] / norm_z() * kb[box_index(e)];
}
