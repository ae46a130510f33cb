// Mean-squared-error loss, L = (1/n) Σ (p − t)², forward pieces and backward.
//
// Buffers (f32, contiguous):
//   pred, target_values  [n]   prediction and target (`target` is a WGSL reserved word)
//   grad          [1]   upstream dL (scalar), backward only
//   out           [n]   forward: (p − t)², reduced afterwards by core/reduce;
//                       backward: dL/dp = 2 (p − t) g / n (dL/dt is its negative)
// Grid: one invocation per element, folded into y beyond the x limit.

struct Params {
  n: u32,
  // 2 / n for the backward, unused by the forward
  factor: f32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<storage, read> pred: array<f32>;
@group(0) @binding(1) var<storage, read> target_values: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn squared_error(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < params.n) { let d = pred[i] - target_values[i]; out[i] = d * d; }
}

@compute @workgroup_size(WG)
fn mse_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < params.n) { out[i] = params.factor * grad[0] * (pred[i] - target_values[i]); }
}
