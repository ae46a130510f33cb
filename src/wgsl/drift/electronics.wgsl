// Differentiable front end on merged pixel–tick charges (no integration, no
// noise on the GPU): relaxed threshold Q_s = Q·sigmoid((Q − θ)/w) (w = 0: hard
// step), larnd-sim ADC digitisation, and the differentiable output (Q_s, or
// the pedestal-subtracted unrounded ADC Q_s·g·N/(V_ref − V_cm)).
// Semantics: src/kernels/drift/electronics.reference.ts.
//
// Buffers:
//   q      f32[E]  input charge per cell, electrons
//   value  f32[E]  forward output: the differentiable value (electrons or ADC counts)
//   adc    i32[E]  forward output: digitised counts min(round(max(a, 0)), N − 1), a the
//                  unrounded ADC with pedestal; round half to even (WGSL round = numpy.around)
//   g      f32[E]  backward input ∂L/∂value
//   gq     f32[E]  backward output ∂L/∂q
// Grid: one invocation per cell, 1-D folded into y.

struct Params {
  e: u32,
  apply_threshold: u32,
  // 0: value = Q_s (electrons); 1: value = ADC counts above pedestal
  output_adc: u32,
  adc_counts: u32,
  threshold: f32,
  width: f32,
  gain: f32,
  v_ref: f32,
  v_cm: f32,
  v_ped: f32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read_write> value: array<f32>;
@group(0) @binding(2) var<storage, read_write> adc: array<i32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> gq: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

// Numerically stable logistic function.
fn sigmoid(z: f32) -> f32 {
  if (z >= 0.0) { return 1.0 / (1.0 + exp(-z)); }
  let ez = exp(z);
  return ez / (1.0 + ez);
}

fn thresholded(Q: f32) -> f32 {
  if (params.apply_threshold == 0u) { return Q; }
  if (params.width > 0.0) { return Q * sigmoid((Q - params.threshold) / params.width); }
  return select(0.0, Q, Q >= params.threshold);
}

@compute @workgroup_size(WG)
fn electronics_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.e) { return; }
  let qs = thresholded(q[i]);
  let scale = f32(params.adc_counts) / (params.v_ref - params.v_cm);
  let a = (qs * params.gain + params.v_ped - params.v_cm) * scale;
  adc[i] = i32(min(round(max(a, 0.0)), f32(params.adc_counts - 1u)));
  value[i] = select(qs, qs * params.gain * scale, params.output_adc == 1u);
}

@compute @workgroup_size(WG)
fn electronics_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.e) { return; }
  let scale = f32(params.adc_counts) / (params.v_ref - params.v_cm);
  var gqs = g[i];
  if (params.output_adc == 1u) { gqs = gqs * params.gain * scale; }
  let Q = q[i];
  var out = gqs;
  if (params.apply_threshold == 1u) {
    if (params.width > 0.0) {
      let s = sigmoid((Q - params.threshold) / params.width);
      out = gqs * (s + Q * s * (1.0 - s) / params.width);
    } else {
      out = select(0.0, gqs, Q >= params.threshold);
    }
  }
  gq[i] = out;
}
