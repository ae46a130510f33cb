// Softmax cross-entropy over the active sites of a sparse tensor, weighted
// and reduced as PyTorch's cross_entropy(weight = w, reduction = 'mean',
// ignore_index): loss = Σ_r w[y_r]·nll_r / Σ_r w[y_r] over counted rows.
//
// Numerical stability: log-sum-exp with max subtraction per row. The two
// sums over rows are done by core/reduce.wgsl's fixed-order tree, so the
// loss is bitwise reproducible.
//
// Buffers:
//   logits   f32[rows, classes]
//   labels   i32[rows]        class per row, or params.ignore_index
//   weights  f32[classes]     class weights (ones when none are given)
//   wnll     f32[rows]        w[y_r]·((m_r − logits[r, y_r]) + log Σ_j exp(logits[r, j] − m_r)); 0 for ignored rows
//   wsum     f32[rows]        w[y_r]; 0 for ignored rows
//   lse      f32[rows, 2]     per row (m_r, log Σ_j exp(logits[r, j] − m_r)) with m_r the row max,
//                             saved for the backward. Kept apart rather than summed: logits[r, j] − m_r
//                             is exact for nearby values, so huge logits keep full relative precision.
//   num, den f32[1]           Σ wnll, Σ wsum (from core/reduce)
//   loss     f32[1]           num / den; when den = 0 (no row counts): NaN as PyTorch's
//                             0/0, or 0 with zero gradients when params.empty_zero = 1
//   gloss    f32[1]           upstream gradient of the loss
//   dlogits  f32[rows, classes]
// Grids: ce_rows one invocation per row; ce_finish one invocation;
// ce_backward one invocation per element (row e / classes, class e % classes).
// All 1-D grids fold into y: i = gid.x + gid.y * nwg.x * WG.
//
// A label outside 0..classes−1 that is not ignore_index (possible only for
// labels given as a GPU tensor, which the host cannot check without a
// readback) poisons the loss and its gradient with NaN instead of reading out
// of bounds.

struct Params {
  rows: u32,
  classes: u32,
  ignore_index: i32,
  // 0x7fc00000: WGSL rejects non-finite constant expressions, so the quiet-NaN
  // bit pattern arrives at run time.
  nan_bits: u32,
  // 1: a loss with no counted row (den = 0) is 0 and its gradient 0, not NaN.
  empty_zero: u32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read> weights: array<f32>;
@group(0) @binding(3) var<storage, read_write> wnll: array<f32>;
@group(0) @binding(4) var<storage, read_write> wsum: array<f32>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;
@group(0) @binding(6) var<storage, read> num: array<f32>;
@group(0) @binding(7) var<storage, read> den: array<f32>;
@group(0) @binding(8) var<storage, read_write> loss: array<f32>;
@group(0) @binding(9) var<storage, read> gloss: array<f32>;
@group(0) @binding(10) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(11) var<uniform> params: Params;

fn element(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

fn nan() -> f32 {
  return bitcast<f32>(params.nan_bits);
}

fn label_ok(y: i32) -> bool {
  return y >= 0 && u32(y) < params.classes;
}

@compute @workgroup_size(WG)
fn ce_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = element(gid, nwg);
  if (r >= params.rows) { return; }
  let base = r * params.classes;
  var m = logits[base];
  for (var j = 1u; j < params.classes; j++) { m = max(m, logits[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < params.classes; j++) { s += exp(logits[base + j] - m); }
  let log_s = log(s);
  lse[2u * r] = m;
  lse[2u * r + 1u] = log_s;
  let yr = labels[r];
  if (yr == params.ignore_index) {
    wnll[r] = 0.0;
    wsum[r] = 0.0;
  } else if (!label_ok(yr)) {
    wnll[r] = nan();
    wsum[r] = nan();
  } else {
    let w = weights[u32(yr)];
    wnll[r] = w * ((m - logits[base + u32(yr)]) + log_s);
    wsum[r] = w;
  }
}

@compute @workgroup_size(1)
fn ce_finish() {
  // den = 0 (nothing counted) gives NaN explicitly: 0/0 in WGSL is not guaranteed to.
  let d = den[0];
  let empty = select(nan(), 0.0, params.empty_zero == 1u);
  loss[0] = select(empty, num[0] / d, d != 0.0);
}

// dlogits[r, j] = gloss · w[y_r] / den · (softmax_j − [j = y_r]); 0 for ignored rows.
@compute @workgroup_size(WG)
fn ce_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = element(gid, nwg);
  if (e >= params.rows * params.classes) { return; }
  let r = e / params.classes;
  let j = e % params.classes;
  let yr = labels[r];
  if (yr == params.ignore_index) {
    dlogits[e] = 0.0;
    return;
  }
  if (!label_ok(yr)) {
    dlogits[e] = nan();
    return;
  }
  if (den[0] == 0.0 && params.empty_zero == 1u) {
    dlogits[e] = 0.0;
    return;
  }
  let p = exp((logits[e] - lse[2u * r]) - lse[2u * r + 1u]);
  let onehot = select(0.0, 1.0, j == u32(yr));
  dlogits[e] = gloss[0] * weights[u32(yr)] / den[0] * (p - onehot);
}
