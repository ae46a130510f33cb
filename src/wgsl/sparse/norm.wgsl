// BatchNorm over the active sites of a sparse tensor, optionally fused with
// the LeakyReLU that follows it: per-channel statistics, running-statistics
// update, normalisation (+ activation), and the gradients. Forward and
// backward side by side; three dispatches each way in training.
//
// Statistics: each chunk of rows (common/column-chunks.wgsl) computes its
// own mean and Σ(x − mean_chunk)² by two passes over its rows; one merge
// workgroup per 16 channels combines the chunks in a fixed order with Chan,
// Golub & LeVeque's pairwise update (n = na + nb, δ = mean_b − mean_a,
// mean = mean_a + δ·nb/n, M2 = M2a + M2b + δ²·na·nb/n), which keeps the
// accuracy of a two-pass variance. No atomics: results depend only on
// (n, cols).
//
// Buffers (f32, row-major):
//   x             [n, cols]         input features
//   moments       [2, chunks, cols] per-chunk mean (block 0) and M2 (block 1) (bn_moments_partial → bn_moments_merge)
//   stats         [3, cols]         row 0 mean, row 1 invStd = 1/sqrt(var + eps),
//                                   row 2 unbiased batch variance (training) or the running variance (eval);
//                                   written by bn_moments_merge / bn_eval_stats, read by the rest
//   running_mean  [cols]            running statistics (read only; never updated in place)
//   running_var   [cols]
//   new_mean      [cols]            updated running statistics (bn_moments_merge, when params.update_running = 1)
//   new_var       [cols]
//   gamma, beta   [cols]            affine parameters
//   y             [n, cols]         output: z = gamma·x̂ + beta, then LeakyReLU(z) when params.act = 1 (bn_apply)
//   gy            [n, cols]         gradient of the loss w.r.t. y
//   gsums         [2, chunks, cols] per-chunk Σg (block 0) and Σg·x̂ (block 1), g = dL/dz (bn_grad_partial → bn_grad_merge)
//   sum_g         [cols]            Σ_r g = dL/dbeta        (bn_grad_merge; read by bn_backward_x)
//   sum_gxhat     [cols]            Σ_r g·x̂ = dL/dgamma    (bn_grad_merge; read by bn_backward_x)
//   dx            [n, cols]         input gradient (bn_backward_x)
// The LeakyReLU's derivative is taken from y: y > 0 exactly where z > 0 for
// a slope ≥ 0 (the host checks the slope), so z need not be kept.
// Grids: bn_moments_partial / bn_grad_partial one workgroup per (column
// tile, chunk); bn_moments_merge / bn_grad_merge ceil(cols / 16)
// workgroups; bn_eval_stats one invocation per channel; bn_apply and
// bn_backward_x one invocation per element, element i = gid.x + gid.y *
// nwg.x * WG (folded into y), row i / cols, channel i % cols.

struct Params {
  n: u32,
  cols: u32,
  eps: f32,
  momentum: f32,
  // 1: training (batch statistics; their dependence on x enters dx); 0: eval
  training: u32,
  // 1: y = LeakyReLU(z) with this slope; 0: y = z
  act: u32,
  slope: f32,
  // 1: bn_moments_merge also writes new_mean / new_var
  update_running: u32,
  col_tiles: u32,
  chunks: u32,
  items: u32,
}

override CW: u32 = 64u;
const WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> moments: array<f32>;
@group(0) @binding(2) var<storage, read> moments_in: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;
@group(0) @binding(4) var<storage, read> stats_in: array<f32>;
@group(0) @binding(5) var<storage, read> running_mean: array<f32>;
@group(0) @binding(6) var<storage, read> running_var: array<f32>;
@group(0) @binding(7) var<storage, read_write> new_mean: array<f32>;
@group(0) @binding(8) var<storage, read_write> new_var: array<f32>;
@group(0) @binding(9) var<storage, read> gamma: array<f32>;
@group(0) @binding(10) var<storage, read> beta: array<f32>;
@group(0) @binding(11) var<storage, read_write> y: array<f32>;
@group(0) @binding(12) var<storage, read> y_in: array<f32>;
@group(0) @binding(13) var<storage, read> gy: array<f32>;
@group(0) @binding(14) var<storage, read_write> gsums: array<f32>;
@group(0) @binding(15) var<storage, read> gsums_in: array<f32>;
@group(0) @binding(16) var<storage, read_write> sum_g: array<f32>;
@group(0) @binding(17) var<storage, read_write> sum_gxhat: array<f32>;
@group(0) @binding(18) var<storage, read> sum_g_in: array<f32>;
@group(0) @binding(19) var<storage, read> sum_gxhat_in: array<f32>;
@group(0) @binding(20) var<storage, read_write> dx: array<f32>;
@group(0) @binding(21) var<uniform> params: Params;

// #include "common/column-chunks"

var<workgroup> merge_n: array<f32, WG>;
var<workgroup> merge_mean: array<f32, WG>;

fn element(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// Rows of chunk k (all chunks are full except the last). The merge pass is
// compiled with the chunk pass's CW for this.
fn chunk_count(k: u32) -> f32 {
  let rows = (WG / CW) * params.items;
  return f32(min(rows, params.n - k * rows));
}

// ---------------------------------------------------------------- forward

// Mean and Σ(x − mean)² of one chunk of rows, by two passes over them.
@compute @workgroup_size(WG)
fn bn_moments_partial(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let s = chunk_slot(lid, wid, nwg, params.col_tiles, params.chunks, params.cols, params.items);
  var acc = 0.0;
  if (s.valid) {
    for (var k = 0u; k < params.items; k++) {
      let r = chunk_row(s, k);
      if (r < params.n) { acc += x[r * params.cols + s.col]; }
    }
  }
  let total = chunk_total(lid, s.lane, acc);
  var mean = 0.0;
  if (s.valid) { mean = total / chunk_count(s.chunk); }
  var sq = 0.0;
  if (s.valid) {
    for (var k = 0u; k < params.items; k++) {
      let r = chunk_row(s, k);
      if (r < params.n) {
        let d = x[r * params.cols + s.col] - mean;
        sq += d * d;
      }
    }
  }
  let m2 = chunk_total(lid, s.lane, sq);
  if (s.lane == 0u && s.valid) {
    moments[s.chunk * params.cols + s.col] = mean;
    moments[(params.chunks + s.chunk) * params.cols + s.col] = m2;
  }
}

// Pairwise (Chan et al.) combination of (count, mean, M2) triples; b may be empty.
struct Moments {
  n: f32,
  mean: f32,
  m2: f32,
}

fn combine(a: Moments, b: Moments) -> Moments {
  if (b.n == 0.0) { return a; }
  if (a.n == 0.0) { return b; }
  let n = a.n + b.n;
  let d = b.mean - a.mean;
  return Moments(n, a.mean + d * (b.n / n), a.m2 + b.m2 + d * d * (a.n * b.n / n));
}

// Batch statistics from the chunk moments, and the running update.
// Mean and biased variance (÷n) normalise; the unbiased variance (÷(n − 1))
// is what PyTorch feeds the running variance, with its momentum convention
// running ← (1 − m)·running + m·batch. The host guarantees n ≥ 2.
@compute @workgroup_size(WG)
fn bn_moments_merge(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let s = merge_slot(lid, wid);
  var acc = Moments(0.0, 0.0, 0.0);
  if (s.col < params.cols) {
    for (var k = s.lane; k < params.chunks; k += MERGE_LANES) {
      acc = combine(acc, Moments(chunk_count(k), moments_in[k * params.cols + s.col], moments_in[(params.chunks + k) * params.cols + s.col]));
    }
  }
  // Fixed tree over the lanes, as merge_total but on triples.
  merge_n[lid] = acc.n;
  merge_mean[lid] = acc.mean;
  chunk_scratch[lid] = acc.m2;
  workgroupBarrier();
  for (var stride = MERGE_LANES / 2u; stride > 0u; stride = stride / 2u) {
    if (s.lane < stride) {
      let o = lid + stride * MERGE_CW;
      let c = combine(Moments(merge_n[lid], merge_mean[lid], chunk_scratch[lid]), Moments(merge_n[o], merge_mean[o], chunk_scratch[o]));
      merge_n[lid] = c.n;
      merge_mean[lid] = c.mean;
      chunk_scratch[lid] = c.m2;
    }
    workgroupBarrier();
  }
  if (s.lane != 0u || s.col >= params.cols) { return; }
  let c = s.col;
  let nf = f32(params.n);
  let mean = merge_mean[lid];
  let m2 = chunk_scratch[lid];
  stats[c] = mean;
  stats[params.cols + c] = 1.0 / sqrt(m2 / nf + params.eps);
  let unbiased = m2 / (nf - 1.0);
  stats[2u * params.cols + c] = unbiased;
  if (params.update_running == 1u) {
    let m = params.momentum;
    new_mean[c] = (1.0 - m) * running_mean[c] + m * mean;
    new_var[c] = (1.0 - m) * running_var[c] + m * unbiased;
  }
}

// Eval mode: the running statistics normalise.
@compute @workgroup_size(WG)
fn bn_eval_stats(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = element(gid, nwg);
  if (c >= params.cols) { return; }
  stats[c] = running_mean[c];
  stats[params.cols + c] = 1.0 / sqrt(running_var[c] + params.eps);
  stats[2u * params.cols + c] = running_var[c];
}

@compute @workgroup_size(WG)
fn bn_apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = element(gid, nwg);
  if (i >= params.n * params.cols) { return; }
  let c = i % params.cols;
  let z = gamma[c] * ((x[i] - stats_in[c]) * stats_in[params.cols + c]) + beta[c];
  y[i] = select(z, select(params.slope * z, z, z > 0.0), params.act == 1u);
}

// ---------------------------------------------------------------- backward

// dL/dz from dL/dy through the activation.
fn grad_z(i: u32) -> f32 {
  let g = gy[i];
  return select(g, select(params.slope * g, g, y_in[i] > 0.0), params.act == 1u);
}

// Per-chunk Σg and Σg·x̂ with g = dL/dz.
@compute @workgroup_size(WG)
fn bn_grad_partial(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let s = chunk_slot(lid, wid, nwg, params.col_tiles, params.chunks, params.cols, params.items);
  var acc_g = 0.0;
  var acc_gx = 0.0;
  if (s.valid) {
    let shift = stats_in[s.col];
    let scale = stats_in[params.cols + s.col];
    for (var k = 0u; k < params.items; k++) {
      let r = chunk_row(s, k);
      if (r < params.n) {
        let i = r * params.cols + s.col;
        let g = grad_z(i);
        acc_g += g;
        acc_gx += g * ((x[i] - shift) * scale);
      }
    }
  }
  let tg = chunk_total(lid, s.lane, acc_g);
  let tgx = chunk_total(lid, s.lane, acc_gx);
  if (s.lane == 0u && s.valid) {
    gsums[s.chunk * params.cols + s.col] = tg;
    gsums[(params.chunks + s.chunk) * params.cols + s.col] = tgx;
  }
}

// Σ over chunks: the beta and gamma gradients.
@compute @workgroup_size(WG)
fn bn_grad_merge(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let s = merge_slot(lid, wid);
  var acc_g = 0.0;
  var acc_gx = 0.0;
  if (s.col < params.cols) {
    for (var k = s.lane; k < params.chunks; k += MERGE_LANES) {
      acc_g += gsums_in[k * params.cols + s.col];
      acc_gx += gsums_in[(params.chunks + k) * params.cols + s.col];
    }
  }
  let tg = merge_total(lid, s.lane, acc_g);
  let tgx = merge_total(lid, s.lane, acc_gx);
  if (s.lane == 0u && s.col < params.cols) {
    sum_g[s.col] = tg;
    sum_gxhat[s.col] = tgx;
  }
}

// training: dx = gamma·invStd · (g − Σg/n − x̂·Σg x̂/n)
// eval:     dx = gamma·invStd · g   (the statistics do not depend on x)
@compute @workgroup_size(WG)
fn bn_backward_x(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = element(gid, nwg);
  if (i >= params.n * params.cols) { return; }
  let c = i % params.cols;
  let inv_std = stats_in[params.cols + c];
  let scale = gamma[c] * inv_std;
  let g = grad_z(i);
  if (params.training == 1u) {
    let nf = f32(params.n);
    let xhat = (x[i] - stats_in[c]) * inv_std;
    dx[i] = scale * (g - sum_g_in[c] / nf - xhat * (sum_gxhat_in[c] / nf));
  } else {
    dx[i] = scale * g;
  }
}
