// Optimizer updates, in place on the parameters. One invocation per element.
//
// Buffers (f32, params.n elements each):
//   param     parameters, updated in place
//   grad      dL/dparam
//   velocity  SGD momentum buffer (updated in place)
//   m, v      Adam first and second moments (updated in place)
//   values    f32[count.n]  gradients to check before a step (count_nonfinite)
//   nonfinite u32[1]        count_nonfinite adds the number of NaN / ±Inf values
// Grid: one invocation per element, folded into y beyond the x limit.

struct SgdParams {
  n: u32,
  lr: f32,
  momentum: f32,
  dampening: f32,
  weight_decay: f32,
  // 1 for Nesterov momentum
  nesterov: u32,
  // 1 on the first step: the buffer starts as the gradient itself (as in PyTorch)
  first: u32,
}

struct AdamParams {
  n: u32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  weight_decay: f32,
  // 1 − β1^t and 1 − β2^t, computed on the host in float64
  bias_correction1: f32,
  bias_correction2: f32,
  // 1 for AdamW-style decoupled decay, 0 for L2 added to the gradient
  decoupled: u32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> velocity: array<f32>;
@group(0) @binding(3) var<uniform> sgd: SgdParams;
@group(0) @binding(4) var<storage, read_write> m: array<f32>;
@group(0) @binding(5) var<storage, read_write> v: array<f32>;
@group(0) @binding(6) var<uniform> adam: AdamParams;
@group(0) @binding(7) var<storage, read> values: array<f32>;
@group(0) @binding(8) var<storage, read_write> nonfinite: array<atomic<u32>>;
@group(0) @binding(9) var<uniform> count: CountParams;

struct CountParams {
  n: u32,
}

// Counts NaN and ±Inf: all exponent bits set. A bit test rather than
// x != x, which a fast-math compiler may fold to false. The integer atomic
// only counts, so the result does not depend on invocation order.
@compute @workgroup_size(WG)
fn count_nonfinite(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= count.n) { return; }
  if ((bitcast<u32>(values[i]) & 0x7f800000u) == 0x7f800000u) {
    atomicAdd(&nonfinite[0], 1u);
  }
}

@compute @workgroup_size(WG)
fn sgd_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= sgd.n) { return; }
  var g = grad[i] + sgd.weight_decay * param[i];
  if (sgd.momentum != 0.0) {
    var buf = g;
    if (sgd.first == 0u) { buf = sgd.momentum * velocity[i] + (1.0 - sgd.dampening) * g; }
    velocity[i] = buf;
    g = select(buf, g + sgd.momentum * buf, sgd.nesterov == 1u);
  }
  param[i] = param[i] - sgd.lr * g;
}

@compute @workgroup_size(WG)
fn adam_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= adam.n) { return; }
  var p = param[i];
  var g = grad[i];
  if (adam.decoupled == 1u) {
    p = p * (1.0 - adam.lr * adam.weight_decay);
  } else {
    g = g + adam.weight_decay * p;
  }
  let mi = adam.beta1 * m[i] + (1.0 - adam.beta1) * g;
  let vi = adam.beta2 * v[i] + (1.0 - adam.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  let mhat = mi / adam.bias_correction1;
  let vhat = vi / adam.bias_correction2;
  param[i] = p - adam.lr * mhat / (sqrt(vhat) + adam.eps);
}
