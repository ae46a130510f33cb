// Differentiable front end on merged pixel–tick charges: optional seeded
// Gaussian noise and causal W-tick integration per pixel on the sorted cell
// list, relaxed threshold Q_s = Q·sigmoid((Q − θ)/w) (w = 0: hard step),
// larnd-sim ADC digitisation, and the differentiable output (Q_s, or the
// pedestal-subtracted unrounded ADC Q_s·g·N/(V_ref − V_cm)).
// Semantics: src/kernels/drift/electronics.reference.ts. The GPU output
// lattice is the input cell list (the reference also emits the cells
// (pixel, tick + k), k < W, that hold no input charge); the noise is a
// counter-based Philox4x32-10 draw keyed by (seed, pixel, tick), equal to the
// reference's in distribution, not bit for bit.
//
// Buffers:
//   cells  i32[E,3] (pixelX, pixelY, tick), sorted by (pixelX, pixelY, tick), unique
//   q      f32[E]  input charge per cell, electrons (for electronics_forward /
//                  electronics_backward: the integrated charge Q_int)
//   qi     f32[E]  electronics_integrate output: Q_int[e] = Σ (q + noise) over cells of
//                  the same pixel with tick in (tick_e − W, tick_e]
//   value  f32[E]  forward output: the differentiable value (electrons or ADC counts)
//   adc    i32[E]  forward output: digitised counts min(round(max(a, 0)), N − 1), a the
//                  unrounded ADC with pedestal; round half to even (WGSL round = numpy.around)
//   g      f32[E]  backward input ∂L/∂value
//   gq     f32[E]  backward output: ∂L/∂Q_int (electronics_backward) or ∂L/∂q
//                  (electronics_integrate_backward)
//   gi     f32[E]  electronics_integrate_backward input ∂L/∂Q_int
// Grid: one invocation per cell, 1-D folded into y. Integration and its
// backward are gathers over at most W − 1 neighbours in the sorted list: no
// atomics, fixed summation order, bitwise deterministic.

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
  // integration window W (ticks, ≥ 1)
  window_ticks: u32,
  // 1: add noise σ_n·z to every input cell before integration
  use_noise: u32,
  noise_sigma: f32,
  // Philox key: the float64 bits of the seed (low word, high word)
  seed_lo: u32,
  seed_hi: u32,
}

override WG: u32 = 256;

const TWO_PI: f32 = 6.283185307179586;
// Fourth counter word: a stream tag, so other drift noise can use other streams.
const NOISE_STREAM: u32 = 0x454c4543u;

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read_write> value: array<f32>;
@group(0) @binding(2) var<storage, read_write> adc: array<i32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> gq: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;
@group(0) @binding(6) var<storage, read> cells: array<i32>;
@group(0) @binding(7) var<storage, read_write> qi: array<f32>;
@group(0) @binding(8) var<storage, read> gi: array<f32>;

// #include "common/philox"

// Standard normal draw for cell j, keyed by (seed, pixelX, pixelY, tick) only:
// Box–Muller on two 24-bit uniforms, u1 in (0, 1] (finite log), u2 in [0, 1).
fn noise_at(j: u32) -> f32 {
  let c = vec4<u32>(bitcast<u32>(cells[3u * j]), bitcast<u32>(cells[3u * j + 1u]), bitcast<u32>(cells[3u * j + 2u]), NOISE_STREAM);
  let r = philox(c, vec2<u32>(params.seed_lo, params.seed_hi));
  let u1 = f32((r.x >> 8u) + 1u) * TWO_POW_M24;
  let u2 = f32(r.y >> 8u) * TWO_POW_M24;
  return sqrt(-2.0 * log(u1)) * cos(TWO_PI * u2);
}

fn charge_at(j: u32) -> f32 {
  if (params.use_noise == 1u) { return q[j] + params.noise_sigma * noise_at(j); }
  return q[j];
}

fn same_pixel(a: u32, b: u32) -> bool {
  return cells[3u * a] == cells[3u * b] && cells[3u * a + 1u] == cells[3u * b + 1u];
}

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

// Q_int[i]: walk back over the preceding cells of the same pixel while their
// tick is in (tick_i − W, tick_i]; ticks are unique, so at most W − 1 steps.
// Summed from the earliest cell on, as the reference accumulates in entry order.
@compute @workgroup_size(WG)
fn electronics_integrate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.e) { return; }
  let tick_lo = cells[3u * i + 2u] - i32(params.window_ticks);
  var j0 = i;
  for (var k = 1u; k < params.window_ticks && k <= i; k++) {
    let j = i - k;
    if (!same_pixel(i, j) || cells[3u * j + 2u] <= tick_lo) { break; }
    j0 = j;
  }
  var acc = 0.0;
  for (var j = j0; j <= i; j++) { acc += charge_at(j); }
  qi[i] = acc;
}

// ∂L/∂q[i] = Σ ∂L/∂Q_int[j] over the following cells j ≥ i of the same pixel
// with tick_j − W < tick_i: the transpose of electronics_integrate, as a gather.
@compute @workgroup_size(WG)
fn electronics_integrate_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.e) { return; }
  let tick_hi = cells[3u * i + 2u] + i32(params.window_ticks);
  var acc = gi[i];
  for (var k = 1u; k < params.window_ticks && i + k < params.e; k++) {
    let j = i + k;
    if (!same_pixel(i, j) || cells[3u * j + 2u] >= tick_hi) { break; }
    acc += gi[j];
  }
  gq[i] = acc;
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
