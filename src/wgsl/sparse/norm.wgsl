// BatchNorm over the active sites of a sparse tensor: per-channel statistics
// (from the column sums of columns.wgsl), running-statistics update,
// normalisation, and the input gradient. Forward and backward side by side.
//
// Buffers (f32, row-major):
//   x             [n, cols]   input features
//   sums          [cols]      Σ_r x[r, c]                     (bn_train_stats)
//   sq            [cols]      Σ_r (x[r, c] − mean_c)²          (bn_train_stats)
//   stats         [3, cols]   row 0 mean, row 1 invStd = 1/sqrt(var + eps),
//                             row 2 unbiased batch variance (training) or the running variance (eval);
//                             written by bn_train_stats / bn_eval_stats, read by the rest
//   running_mean  [cols]      running statistics (read only; never updated in place)
//   running_var   [cols]
//   new_mean      [cols]      updated running statistics (bn_running_update)
//   new_var       [cols]
//   gamma, beta   [cols]      affine parameters
//   y             [n, cols]   normalised output (bn_apply)
//   g             [n, cols]   upstream gradient (bn_backward_x)
//   sum_g         [cols]      Σ_r g[r, c]                      (bn_backward_x)
//   sum_gxhat     [cols]      Σ_r g[r, c] · x̂[r, c]            (bn_backward_x)
//   dx            [n, cols]   input gradient (bn_backward_x)
// Grids: per-channel kernels (bn_*_stats, bn_running_update) one invocation
// per channel; bn_apply and bn_backward_x one invocation per element, element
// i = gid.x + gid.y * nwg.x * WG (folded into y), row i / cols, channel i % cols.

struct Params {
  n: u32,
  cols: u32,
  eps: f32,
  momentum: f32,
  // 1: training-mode input gradient (batch statistics depend on x); 0: eval
  training: u32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> sums: array<f32>;
@group(0) @binding(2) var<storage, read> sq: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;
@group(0) @binding(4) var<storage, read> running_mean: array<f32>;
@group(0) @binding(5) var<storage, read> running_var: array<f32>;
@group(0) @binding(6) var<storage, read_write> new_mean: array<f32>;
@group(0) @binding(7) var<storage, read_write> new_var: array<f32>;
@group(0) @binding(8) var<storage, read> gamma: array<f32>;
@group(0) @binding(9) var<storage, read> beta: array<f32>;
@group(0) @binding(10) var<storage, read_write> y: array<f32>;
@group(0) @binding(11) var<storage, read> g: array<f32>;
@group(0) @binding(12) var<storage, read> sum_g: array<f32>;
@group(0) @binding(13) var<storage, read> sum_gxhat: array<f32>;
@group(0) @binding(14) var<storage, read_write> dx: array<f32>;
@group(0) @binding(15) var<uniform> params: Params;

fn element(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// Batch statistics: mean and biased variance (÷n) normalise; the unbiased
// variance (÷(n − 1)) is what PyTorch feeds the running variance. The host
// guarantees n ≥ 2.
@compute @workgroup_size(WG)
fn bn_train_stats(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = element(gid, nwg);
  if (c >= params.cols) { return; }
  let nf = f32(params.n);
  let mean = sums[c] / nf;
  stats[c] = mean;
  stats[params.cols + c] = 1.0 / sqrt(sq[c] / nf + params.eps);
  stats[2u * params.cols + c] = sq[c] / (nf - 1.0);
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

// PyTorch's momentum convention: running ← (1 − m)·running + m·batch.
@compute @workgroup_size(WG)
fn bn_running_update(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = element(gid, nwg);
  if (c >= params.cols) { return; }
  let m = params.momentum;
  new_mean[c] = (1.0 - m) * running_mean[c] + m * stats[c];
  new_var[c] = (1.0 - m) * running_var[c] + m * stats[2u * params.cols + c];
}

@compute @workgroup_size(WG)
fn bn_apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = element(gid, nwg);
  if (i >= params.n * params.cols) { return; }
  let c = i % params.cols;
  y[i] = gamma[c] * ((x[i] - stats[c]) * stats[params.cols + c]) + beta[c];
}

// training: dx = gamma·invStd · (g − Σg/n − x̂·Σg x̂/n)
// eval:     dx = gamma·invStd · g   (the statistics do not depend on x)
@compute @workgroup_size(WG)
fn bn_backward_x(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = element(gid, nwg);
  if (i >= params.n * params.cols) { return; }
  let c = i % params.cols;
  let inv_std = stats[params.cols + c];
  let scale = gamma[c] * inv_std;
  if (params.training == 1u) {
    let nf = f32(params.n);
    let xhat = (x[i] - stats[c]) * inv_std;
    dx[i] = scale * (g[i] - sum_g[c] / nf - xhat * (sum_gxhat[c] / nf));
  } else {
    dx[i] = scale * g[i];
  }
}
