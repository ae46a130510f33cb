// Clipping of segments to the active box and deterministic midpoint line
// quadrature: a clipped segment of n points places point m at parameter
// s_m = (m + ½)/n of the clipped part, carrying 1/n of its electrons.
// Semantics (step rule, clipping, gradients): src/kernels/drift/readout.reference.ts.
//
// Buffers:
//   seg       f32[n·11]  segment rows (see recombination.wgsl), read only
//   electrons f32[n]     electrons after recombination per (whole) segment
//   clip      f32[n·4]   per segment [t_enter, t_exit, enter_axis, exit_axis] (axes −1 if the
//                        end is inside), written once by quad_count and read by the others so
//                        that every kernel sees the same clip bits
//   counts    u32[n]     quadrature points per segment (0 when fully outside)
//   srow      f32[n·8]   per-segment bookkeeping [inside, clipped, outside, dE, f·dE,
//                        n_e, f·n_e, points], reduced by colsum for ReadoutStats
//   outside_total u32[2] [0]: quad_count adds 1 per segment wholly outside the active
//                        volume; [1]: n − r for the first row r that is not a valid segment
//                        (a non-finite position or t0, dE or dx negative or not finite), by
//                        atomicMax, 0 when every row is valid, so that a cleared buffer
//                        starts it. Integer atomics: order-independent.
//   starts    u32[n+1]   exclusive scan of counts (starts[n] = total points m)
//   pts       f32[m·5]   points [u, v, w, t0, q0] (cm, cm, cm, µs, e⁻)
//   gpts      f32[m·5]   backward input ∂L/∂pts
//   gseg      f32[n·11]  backward output: ∂L/∂positions (cols 0–5) and ∂L/∂t0 (col 8); 0 elsewhere
//   gelec     f32[n]     backward output ∂L/∂electrons
// Grid: quad_count and quad_backward one invocation per segment, quad_points one per point.

struct Params {
  n: u32,
  // transverse axes and drift axis as xyz indices
  iu: u32,
  iv: u32,
  iw: u32,
  box_min: vec3<f32>,
  // fixed points per segment, 0 for the step rule
  fixed_points: u32,
  box_max: vec3<f32>,
  max_points: u32,
  step_t: f32,
  step_d: f32,
}

const SEG_STRIDE: u32 = 11u;
const PTS_STRIDE: u32 = 5u;
const CLIP_STRIDE: u32 = 4u;
const SROW_STRIDE: u32 = 8u;
const COL_DE: u32 = 6u;
const COL_DX: u32 = 7u;
const COL_T0: u32 = 8u;
const STATUS_INSIDE: u32 = 0u;
const STATUS_CLIPPED: u32 = 1u;
const STATUS_OUTSIDE: u32 = 2u;

override WG: u32 = 256;

@group(0) @binding(0) var<storage, read> seg: array<f32>;
@group(0) @binding(1) var<storage, read> electrons: array<f32>;
@group(0) @binding(2) var<storage, read_write> clip: array<f32>;
@group(0) @binding(3) var<storage, read_write> counts: array<u32>;
@group(0) @binding(4) var<storage, read_write> srow: array<f32>;
@group(0) @binding(5) var<storage, read> starts: array<u32>;
@group(0) @binding(6) var<storage, read_write> pts: array<f32>;
@group(0) @binding(7) var<storage, read> gpts: array<f32>;
@group(0) @binding(8) var<storage, read_write> gseg: array<f32>;
@group(0) @binding(9) var<storage, read_write> gelec: array<f32>;
@group(0) @binding(10) var<storage, read> clip_in: array<f32>;
@group(0) @binding(11) var<uniform> params: Params;
@group(0) @binding(12) var<storage, read_write> outside_total: array<atomic<u32>>;

// All exponent bits set: ±Inf or NaN (a bit test, which no fast-math rewrite drops).
fn not_finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u;
}

// A row a validated Segments table could hold: finite positions and t0,
// finite dE ≥ 0 and dx ≥ 0. Rows of a segments tensor made with tensor()
// reach the GPU unchecked; this is where they are checked.
fn row_valid(i: u32) -> bool {
  let b = i * SEG_STRIDE;
  for (var k = 0u; k < 9u; k++) {
    if (not_finite(seg[b + k])) { return false; }
  }
  return seg[b + COL_DE] >= 0.0 && seg[b + COL_DX] >= 0.0;
}

fn seg_start(i: u32) -> vec3<f32> {
  let b = i * SEG_STRIDE;
  return vec3<f32>(seg[b], seg[b + 1u], seg[b + 2u]);
}

fn seg_end(i: u32) -> vec3<f32> {
  let b = i * SEG_STRIDE;
  return vec3<f32>(seg[b + 3u], seg[b + 4u], seg[b + 5u]);
}

@compute @workgroup_size(WG)
fn quad_count(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  let S = seg_start(i);
  let E = seg_end(i);
  // Liang–Barsky against the closed box (as geometry.ts clipSegment).
  var t_enter = 0.0;
  var t_exit = 1.0;
  var enter_axis = -1.0;
  var exit_axis = -1.0;
  var outside = false;
  for (var k = 0u; k < 3u; k++) {
    let s = S[k];
    let d = E[k] - s;
    let lo = params.box_min[k];
    let hi = params.box_max[k];
    if (d == 0.0) {
      if (s < lo || s > hi) { outside = true; }
      continue;
    }
    let ta = (lo - s) / d;
    let tb = (hi - s) / d;
    let t0 = min(ta, tb);
    let t1 = max(ta, tb);
    if (t0 > t_enter) { t_enter = t0; enter_axis = f32(k); }
    if (t1 < t_exit) { t_exit = t1; exit_axis = f32(k); }
  }
  let de = seg[i * SEG_STRIDE + COL_DE];
  let ne = electrons[i];
  if (outside || t_exit <= t_enter) {
    outside = true;
    t_enter = 0.0;
    t_exit = 0.0;
    enter_axis = -1.0;
    exit_axis = -1.0;
  }
  let c = i * CLIP_STRIDE;
  clip[c] = t_enter;
  clip[c + 1u] = t_exit;
  clip[c + 2u] = enter_axis;
  clip[c + 3u] = exit_axis;
  let r = i * SROW_STRIDE;
  var status = STATUS_OUTSIDE;
  var np = 0u;
  let f = t_exit - t_enter;
  if (!outside) {
    status = select(STATUS_CLIPPED, STATUS_INSIDE, enter_axis < 0.0 && exit_axis < 0.0);
    if (params.fixed_points > 0u) {
      np = params.fixed_points;
    } else {
      let D = abs(f * (E - S));
      let want = ceil(max(max(D[params.iu], D[params.iv]) / params.step_t, D[params.iw] / params.step_d));
      np = u32(clamp(want, 1.0, f32(params.max_points)));
    }
  }
  counts[i] = np;
  if (status == STATUS_OUTSIDE) { atomicAdd(&outside_total[0], 1u); }
  if (!row_valid(i)) { atomicMax(&outside_total[1], params.n - i); }
  srow[r] = select(0.0, 1.0, status == STATUS_INSIDE);
  srow[r + 1u] = select(0.0, 1.0, status == STATUS_CLIPPED);
  srow[r + 2u] = select(0.0, 1.0, status == STATUS_OUTSIDE);
  srow[r + 3u] = de;
  srow[r + 4u] = f * de;
  srow[r + 5u] = ne;
  srow[r + 6u] = f * ne;
  srow[r + 7u] = f32(np);
}

// Largest segment i with starts[i] ≤ p (the one whose points hold p).
fn segment_of(p: u32) -> u32 {
  var lo = 0u;
  var hi = params.n; // starts[n] = total > p
  while (hi - lo > 1u) {
    let mid = (lo + hi) / 2u;
    if (starts[mid] <= p) { lo = mid; } else { hi = mid; }
  }
  return lo;
}

@compute @workgroup_size(WG)
fn quad_points(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let p = gid.x + gid.y * nwg.x * WG;
  if (p >= starts[params.n]) { return; }
  let i = segment_of(p);
  let np = starts[i + 1u] - starts[i];
  let m = p - starts[i];
  let a = clip_in[i * CLIP_STRIDE];
  let f = clip_in[i * CLIP_STRIDE + 1u] - a;
  let S = seg_start(i);
  let D = seg_end(i) - S;
  let s = (f32(m) + 0.5) / f32(np);
  let tau = a + f * s;
  let P = S + tau * D;
  let o = p * PTS_STRIDE;
  pts[o] = P[params.iu];
  pts[o + 1u] = P[params.iv];
  pts[o + 2u] = P[params.iw];
  pts[o + 3u] = seg[i * SEG_STRIDE + COL_T0];
  pts[o + 4u] = electrons[i] * f / f32(np);
}

@compute @workgroup_size(WG)
fn quad_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  let row = i * SEG_STRIDE;
  for (var c = 0u; c < SEG_STRIDE; c++) { gseg[row + c] = 0.0; }
  gelec[i] = 0.0;
  let first = starts[i];
  let np = starts[i + 1u] - first;
  if (np == 0u) { return; }
  let a = clip_in[i * CLIP_STRIDE];
  let b = clip_in[i * CLIP_STRIDE + 1u];
  let f = b - a;
  let S = seg_start(i);
  let D = seg_end(i) - S;
  let ne = electrons[i];
  var gS = vec3<f32>(0.0);
  var gE = vec3<f32>(0.0);
  var g_enter = 0.0;
  var g_exit = 0.0;
  var g_q = 0.0;
  var g_t0 = 0.0;
  // Fixed, serial order over the segment's points.
  for (var m = 0u; m < np; m++) {
    let o = (first + m) * PTS_STRIDE;
    let s = (f32(m) + 0.5) / f32(np);
    let tau = a + f * s;
    var gP = vec3<f32>(0.0);
    gP[params.iu] = gpts[o];
    gP[params.iv] = gpts[o + 1u];
    gP[params.iw] = gpts[o + 2u];
    gS += (1.0 - tau) * gP;
    gE += tau * gP;
    let g_tau = dot(gP, D);
    g_enter += g_tau * (1.0 - s);
    g_exit += g_tau * s;
    g_t0 += gpts[o + 3u];
    g_q += gpts[o + 4u];
  }
  gelec[i] = g_q * f / f32(np);
  let gf = g_q * ne / f32(np);
  g_exit += gf;
  g_enter -= gf;
  // Face-crossing parameters t = (b − S_k)/D_k: ∂t/∂S_k = (t − 1)/D_k, ∂t/∂E_k = −t/D_k.
  let ea = clip_in[i * CLIP_STRIDE + 2u];
  if (ea >= 0.0) {
    let k = u32(ea);
    gS[k] += g_enter * (a - 1.0) / D[k];
    gE[k] += -g_enter * a / D[k];
  }
  let xa = clip_in[i * CLIP_STRIDE + 3u];
  if (xa >= 0.0) {
    let k = u32(xa);
    gS[k] += g_exit * (b - 1.0) / D[k];
    gE[k] += -g_exit * b / D[k];
  }
  gseg[row] = gS.x;
  gseg[row + 1u] = gS.y;
  gseg[row + 2u] = gS.z;
  gseg[row + 3u] = gE.x;
  gseg[row + 4u] = gE.y;
  gseg[row + 5u] = gE.z;
  gseg[row + COL_T0] = g_t0;
}
