// Visibility transforms, losses and coordinate normalisation (elementwise),
// with their backward passes. Semantics: src/kernels/photon/visibility.reference.ts.
//
// Binding numbers are unique across the file (reflection keys bindings by number).
// Buffers (f32, any shape, flat index e; n elements):
//   va, vb, vc  inputs: value / prediction, second operand (gradient, target,
//               observed PE), per-element weight (weighted_sq only)
//   gs          f32[1]: dL/dloss for loss backward passes
//   vout        output, n elements, fully overwritten
//   pts, pout   [N, 3] positions (cm) and normalised coordinates; n = 3N
//   first       atomic<u32>[k]: smallest flat index of an element outside the box
//               (box_check, slot 0) or of a NaN / ±Inf / negative element
//               (nonneg_check, slot cp.slot); initialised to 0xffffffff by the
//               host; integer atomics only, so the result is order-independent
// Grid: one thread per element, workgroups of WG folded into y (ctx.grid).

override WG: u32 = 256u;

const LN10: f32 = 2.302585092994046;
const LOG2_10: f32 = 3.321928094887362;

struct LogParams {
  n: u32,
  eps: f32,
  log10_eps: f32,
  span: f32,      // log10(vmax + eps) - log10(eps)
  scale: f32,     // 2 for sinOut, else 1
  shift: f32,     // -1 for sinOut, else 0
}

struct LossParams {
  n: u32,
  has_w: u32,
  factor: f32,    // reduction and sign factor of the backward (2/N, -2/N, 1/N, ...)
  eps: f32,
  full: u32,      // Poisson: add ln Γ(k + 1)
  threshold: f32, // loss weights: replace by 1 below this
  compare_weight: u32, // loss weights: compare factor·v (1) or v (0) with the threshold
}

struct BoxParams {
  n: u32,
  lo: vec4<f32>,
  hi: vec4<f32>,
}

@group(0) @binding(0) var<storage, read> va: array<f32>;
@group(0) @binding(1) var<storage, read> vb: array<f32>;
@group(0) @binding(2) var<storage, read> vc: array<f32>;
@group(0) @binding(3) var<storage, read> gs: array<f32>;
@group(0) @binding(4) var<storage, read_write> vout: array<f32>;
@group(0) @binding(5) var<uniform> lp: LogParams;
@group(0) @binding(6) var<uniform> ls: LossParams;
@group(0) @binding(7) var<uniform> bp: BoxParams;
@group(0) @binding(8) var<storage, read_write> first: array<atomic<u32>>;
@group(0) @binding(9) var<uniform> cp: CheckParams;

struct CheckParams {
  n: u32,
  slot: u32,
}

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

fn log10f(v: f32) -> f32 {
  return log2(v) / LOG2_10;
}

@compute @workgroup_size(WG)
fn to_log(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  if (e >= lp.n) { return; }
  vout[e] = lp.scale * (log10f(va[e] + lp.eps) - lp.log10_eps) / lp.span + lp.shift;
}

// va = v, vb = dL/dy
@compute @workgroup_size(WG)
fn to_log_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  if (e >= lp.n) { return; }
  vout[e] = vb[e] * lp.scale / ((va[e] + lp.eps) * LN10 * lp.span);
}

@compute @workgroup_size(WG)
fn from_log(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  if (e >= lp.n) { return; }
  let u = (va[e] - lp.shift) / lp.scale;
  vout[e] = exp2((u * lp.span + lp.log10_eps) * LOG2_10) - lp.eps;
}

// va = v (the forward output), vb = dL/dv
@compute @workgroup_size(WG)
fn from_log_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  if (e >= lp.n) { return; }
  vout[e] = vb[e] * (va[e] + lp.eps) * LN10 * lp.span / lp.scale;
}

// va = v; w = factor·v, or 1 where the compared quantity is below the threshold.
@compute @workgroup_size(WG)
fn loss_weights(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  if (e >= ls.n) { return; }
  let v = va[e];
  let raw = ls.factor * v;
  let compared = select(v, raw, ls.compare_weight != 0u);
  vout[e] = select(raw, 1.0, compared < ls.threshold);
}

// va = pred, vb = target, vc = weight (when has_w): w (p - t)²
@compute @workgroup_size(WG)
fn weighted_sq(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  if (e >= ls.n) { return; }
  let r = va[e] - vb[e];
  let w = select(1.0, vc[e], ls.has_w != 0u);
  vout[e] = w * r * r;
}

// dL/dp = factor · w (p - t) · g, factor = ±2/N (mean) or ±2 (sum)
@compute @workgroup_size(WG)
fn weighted_sq_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  if (e >= ls.n) { return; }
  let w = select(1.0, vc[e], ls.has_w != 0u);
  vout[e] = ls.factor * w * (va[e] - vb[e]) * gs[0];
}

// ln Γ(z) for z ≥ 1: shift to z ≥ 8 by the recurrence, then Stirling's series
// (error < 1e-8 there, below f32 resolution).
fn log_gamma(z0: f32) -> f32 {
  var z = z0;
  var shiftLog = 0.0;
  while (z < 8.0) {
    shiftLog -= log(z);
    z += 1.0;
  }
  let inv = 1.0 / z;
  let inv2 = inv * inv;
  let series = inv * (1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 * (1.0 / 1260.0)));
  return shiftLog + (z - 0.5) * log(z) - z + 0.9189385332046727 + series;
}

// va = λ, vb = k: λ - k ln(λ + ε) (+ ln Γ(k + 1))
@compute @workgroup_size(WG)
fn poisson_terms(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  if (e >= ls.n) { return; }
  let lam = va[e];
  let k = vb[e];
  var t = lam - k * log(lam + ls.eps);
  if (ls.full != 0u) { t += log_gamma(k + 1.0); }
  vout[e] = t;
}

// dL/dλ = factor · (1 - k / (λ + ε)) · g
@compute @workgroup_size(WG)
fn poisson_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  if (e >= ls.n) { return; }
  vout[e] = ls.factor * (1.0 - vb[e] / (va[e] + ls.eps)) * gs[0];
}

// va = positions [N, 3] cm → vout = 2 (clamp(p) - lo) / (hi - lo) - 1
@compute @workgroup_size(WG)
fn normalize_coords(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  if (e >= bp.n) { return; }
  let a = e % 3u;
  let lo = bp.lo[a];
  let hi = bp.hi[a];
  vout[e] = 2.0 * (clamp(va[e], lo, hi) - lo) / (hi - lo) - 1.0;
}

// va = positions, vb = dL/du → dL/dp; zero where the coordinate was clamped
@compute @workgroup_size(WG)
fn normalize_coords_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  if (e >= bp.n) { return; }
  let a = e % 3u;
  let lo = bp.lo[a];
  let hi = bp.hi[a];
  let p = va[e];
  vout[e] = select(0.0, vb[e] * 2.0 / (hi - lo), p >= lo && p <= hi);
}

// Finds the first element that is NaN, ±Inf (all exponent bits: a bit test
// that no fast-math rewrite drops) or negative: photon counts, observed PE.
@compute @workgroup_size(WG)
fn nonneg_check(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  if (e >= cp.n) { return; }
  let v = va[e];
  if ((bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u || v < 0.0) { atomicMin(&first[cp.slot], e); }
}

// Finds the first coordinate outside the closed box (NaN counts as outside).
@compute @workgroup_size(WG)
fn box_check(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  if (e >= bp.n) { return; }
  let a = e % 3u;
  let p = va[e];
  if (!(p >= bp.lo[a] && p <= bp.hi[a])) { atomicMin(&first[0], e); }
}
