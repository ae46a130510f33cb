// Channel-wise helpers of the sparse layers: column-block copies (concat and
// its backward split) and the bias add of the sparse linear layer (whose
// backward column sum is in columns.wgsl).
//
// Buffers (f32, row-major):
//   src   copy_cols: [rows, width]  (a concat operand);  slice_cols: [rows, total]
//   dst   copy_cols: [rows, total]  (columns offset .. offset + width written);
//         slice_cols: [rows, width]
//   x     [rows, width]   bias_add input
//   bias  [width]
//   y     [rows, width]   bias_add output
// Grid: one invocation per element of the [rows, width] block,
// e = gid.x + gid.y * nwg.x * WG (folded into y), row e / width, column e % width.

struct Params {
  rows: u32,
  width: u32,
  total: u32,
  offset: u32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

fn element(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// dst[r, offset + c] = src[r, c]
@compute @workgroup_size(WG)
fn copy_cols(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = element(gid, nwg);
  if (e >= params.rows * params.width) { return; }
  let r = e / params.width;
  let c = e % params.width;
  dst[r * params.total + params.offset + c] = src[e];
}

// dst[r, c] = src[r, offset + c]
@compute @workgroup_size(WG)
fn slice_cols(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = element(gid, nwg);
  if (e >= params.rows * params.width) { return; }
  let r = e / params.width;
  let c = e % params.width;
  dst[e] = src[r * params.total + params.offset + c];
}

// y[r, c] = x[r, c] + bias[c]
@compute @workgroup_size(WG)
fn bias_add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = element(gid, nwg);
  if (e >= params.rows * params.width) { return; }
  y[e] = x[e] + bias[e % params.width];
}
