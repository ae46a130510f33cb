// Elementwise ops and their derivatives, forward and backward side by side.
//
// Buffers (f32, contiguous, params.n elements each):
//   a    first operand (for backward kernels: the saved input or output)
//   b    second operand (for backward kernels: the upstream gradient)
//   out  result, written once per element
// Grid: one invocation per element. Beyond 65535 workgroups the grid folds
// into y, so element i = gid.x + gid.y * (num_workgroups.x * WG).

struct Params {
  n: u32,
  // scalar operand: the factor of `scale`, the slope of leaky_relu, the value of `fill`
  alpha: f32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

fn element(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(WG)
fn add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = element(gid, nwg);
  if (i < params.n) { out[i] = a[i] + b[i]; }
}

@compute @workgroup_size(WG)
fn sub(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = element(gid, nwg);
  if (i < params.n) { out[i] = a[i] - b[i]; }
}

// Also the backward of mul: d(a*b)/da = b.
@compute @workgroup_size(WG)
fn mul(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = element(gid, nwg);
  if (i < params.n) { out[i] = a[i] * b[i]; }
}

// Backward of log: g / x.
@compute @workgroup_size(WG)
fn div(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = element(gid, nwg);
  if (i < params.n) { out[i] = a[i] / b[i]; }
}

// Scalar multiply; its backward is itself with the same alpha.
@compute @workgroup_size(WG)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = element(gid, nwg);
  if (i < params.n) { out[i] = a[i] * params.alpha; }
}

@compute @workgroup_size(WG)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = element(gid, nwg);
  if (i < params.n) { out[i] = params.alpha; }
}

@compute @workgroup_size(WG)
fn copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = element(gid, nwg);
  if (i < params.n) { out[i] = a[i]; }
}

@compute @workgroup_size(WG)
fn relu(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = element(gid, nwg);
  if (i < params.n) { out[i] = max(a[i], 0.0); }
}

// The subgradient at 0 is taken as 0, as in PyTorch.
@compute @workgroup_size(WG)
fn relu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = element(gid, nwg);
  if (i < params.n) { out[i] = select(0.0, b[i], a[i] > 0.0); }
}

@compute @workgroup_size(WG)
fn leaky_relu(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = element(gid, nwg);
  if (i < params.n) { let x = a[i]; out[i] = select(params.alpha * x, x, x > 0.0); }
}

@compute @workgroup_size(WG)
fn leaky_relu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = element(gid, nwg);
  if (i < params.n) { out[i] = select(params.alpha * b[i], b[i], a[i] > 0.0); }
}

@compute @workgroup_size(WG)
fn sin_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = element(gid, nwg);
  if (i < params.n) { out[i] = sin(a[i]); }
}

@compute @workgroup_size(WG)
fn sin_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = element(gid, nwg);
  if (i < params.n) { out[i] = b[i] * cos(a[i]); }
}

// Backward of exp reuses mul with the saved output: d e^x = e^x dx.
@compute @workgroup_size(WG)
fn exp_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = element(gid, nwg);
  if (i < params.n) { out[i] = exp(a[i]); }
}

@compute @workgroup_size(WG)
fn log_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = element(gid, nwg);
  if (i < params.n) { out[i] = log(a[i]); }
}

// Written with exp(-|x|) so that neither branch overflows for large |x|.
@compute @workgroup_size(WG)
fn sigmoid(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = element(gid, nwg);
  if (i < params.n) {
    let x = a[i];
    let z = exp(-abs(x));
    out[i] = select(z / (1.0 + z), 1.0 / (1.0 + z), x >= 0.0);
  }
}

// From the saved output y: dσ = y (1 − y) dx.
@compute @workgroup_size(WG)
fn sigmoid_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = element(gid, nwg);
  if (i < params.n) { let y = a[i]; out[i] = b[i] * y * (1.0 - y); }
}
