// Drift of quadrature points to the anode: velocity v = μ(E, T)·E (BNL /
// Walkowiak mobility) or a given v, drift time, lifetime attenuation and
// diffusion with σ0; forward and backward.
// Semantics: src/kernels/drift/drift.reference.ts.
//
// Buffers:
//   phys    f32[15]   physics parameters (order of CHAIN_PARAM_NAMES; see recombination.wgsl);
//                     vDrift (index 9) = 0 encodes "derive v from E and T"
//   pts     f32[m·5]  points, row-major [u, v, w, t0, q0]: transverse position at the anode
//                     (cm), drift coordinate (cm), deposit time (µs), electrons before lifetime
//   out     f32[m·6]  drifted points [u, v, arrival (µs), σ_T (cm), σ_t (µs), charge (e⁻)]
//   g       f32[m·6]  backward input ∂L/∂out
//   gpts    f32[m·5]  backward output ∂L/∂pts
//   gpart   f32[m·15] per-point ∂L/∂phys terms, reduced over points by colsum (sort.wgsl)
// Grid: one invocation per point, 1-D folded into y.

struct Params {
  m: u32,
  anode: f32,
  // sign(cathode − anode)
  sgn: f32,
}

const PTS_STRIDE: u32 = 5u;
const OUT_STRIDE: u32 = 6u;
const NPARAM: u32 = 15u;
const PARAM_EFIELD: u32 = 5u;
const PARAM_TEMPERATURE: u32 = 8u;
const PARAM_VDRIFT: u32 = 9u;
const PARAM_LIFETIME: u32 = 10u;
const PARAM_DL: u32 = 11u;
const PARAM_DT: u32 = 12u;
const PARAM_SIGMA0L: u32 = 13u;
const PARAM_SIGMA0T: u32 = 14u;
// cm²/s → cm²/µs
const PER_S_TO_PER_US: f32 = 1e-6;
// BNL mobility coefficients (constants.ts MOBILITY_PARAMS), T0 = 89 K.
const MU_A0: f32 = 551.6;
const MU_A1: f32 = 7158.3;
const MU_A2: f32 = 4440.43;
const MU_A3: f32 = 4.29;
const MU_A4: f32 = 43.63;
const MU_A5: f32 = 0.2053;
const MU_T0: f32 = 89.0;
// cm²/(V·s) × kV/cm → cm/µs
const MU_E_TO_V: f32 = 1e-3;
// τ above this counts as infinite (no attenuation, no τ gradient)
const TAU_INFINITE: f32 = 3.0e38;

override WG: u32 = 256;

@group(0) @binding(0) var<storage, read> phys: array<f32>;
@group(0) @binding(1) var<storage, read> pts: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> gpts: array<f32>;
@group(0) @binding(5) var<storage, read_write> gpart: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

// (v, ∂v/∂E, ∂v/∂T, ∂v/∂vDrift). phys[PARAM_VDRIFT] > 0 is a given velocity;
// 0 (the host's encoding of vDrift = null) selects v = μ(E, T)·E.
fn velocity() -> vec4<f32> {
  if (phys[PARAM_VDRIFT] > 0.0) { return vec4<f32>(phys[PARAM_VDRIFT], 0.0, 0.0, 1.0); }
  let E = phys[PARAM_EFIELD];
  let T = phys[PARAM_TEMPERATURE];
  let sE = sqrt(E);
  let num = MU_A0 + MU_A1 * E + MU_A2 * E * sE + MU_A3 * E * E * sE;
  let den = 1.0 + (MU_A1 / MU_A0) * E + MU_A4 * E * E + MU_A5 * E * E * E;
  let dnum = MU_A1 + 1.5 * MU_A2 * sE + 2.5 * MU_A3 * E * sE;
  let dden = MU_A1 / MU_A0 + 2.0 * MU_A4 * E + 3.0 * MU_A5 * E * E;
  let tc = pow(T / MU_T0, -1.5);
  let mu = num / den * tc;
  let dmu_de = (dnum * den - num * dden) / (den * den) * tc;
  let dmu_dt = -1.5 * mu / T;
  return vec4<f32>(mu * E * MU_E_TO_V, (dmu_de * E + mu) * MU_E_TO_V, dmu_dt * E * MU_E_TO_V, 0.0);
}

@compute @workgroup_size(WG)
fn drift_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.m) { return; }
  let v = velocity().x;
  let b = i * PTS_STRIDE;
  let d = params.sgn * (pts[b + 2u] - params.anode);
  let td = d / v;
  let tau = phys[PARAM_LIFETIME];
  let DL = phys[PARAM_DL] * PER_S_TO_PER_US;
  let DT = phys[PARAM_DT] * PER_S_TO_PER_US;
  let s0l = phys[PARAM_SIGMA0L];
  let s0t = phys[PARAM_SIGMA0T];
  let att = exp(-td / tau);
  // max(0, ·) keeps points a rounding error behind the anode NaN-free.
  let sT = sqrt(max(0.0, 2.0 * DT * td + s0t * s0t));
  let sL = sqrt(max(0.0, 2.0 * DL * td + s0l * s0l));
  let o = i * OUT_STRIDE;
  out[o] = pts[b];
  out[o + 1u] = pts[b + 1u];
  out[o + 2u] = pts[b + 3u] + td;
  out[o + 3u] = sT;
  out[o + 4u] = sL / v;
  out[o + 5u] = pts[b + 4u] * att;
}

@compute @workgroup_size(WG)
fn drift_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.m) { return; }
  let vel = velocity();
  let v = vel.x;
  let b = i * PTS_STRIDE;
  let o = i * OUT_STRIDE;
  let d = params.sgn * (pts[b + 2u] - params.anode);
  let td = d / v;
  let tau = phys[PARAM_LIFETIME];
  let DL = phys[PARAM_DL] * PER_S_TO_PER_US;
  let DT = phys[PARAM_DT] * PER_S_TO_PER_US;
  let s0l = phys[PARAM_SIGMA0L];
  let s0t = phys[PARAM_SIGMA0T];
  let a = exp(-td / tau);
  let sT = sqrt(max(0.0, 2.0 * DT * td + s0t * s0t));
  let sL = sqrt(max(0.0, 2.0 * DL * td + s0l * s0l));
  let q0 = pts[b + 4u];

  let g_arr = g[o + 2u];
  let g_st = g[o + 3u];
  let g_stime = g[o + 4u];
  let g_q = g[o + 5u];
  let g_att = g_q * q0;
  // σ_t = σ_L / v: fold the time spread into σ_L plus a direct v term.
  let g_sl = g_stime / v;
  var g_td = g_arr;
  var g_tau = 0.0;
  var g_dl = 0.0;
  var g_dt = 0.0;
  var g_s0l = 0.0;
  var g_s0t = 0.0;
  if (g_att != 0.0 && tau < TAU_INFINITE) {
    g_td -= g_att * a / tau;
    g_tau = g_att * a * td / (tau * tau);
  }
  if (sT > 0.0 && g_st != 0.0) {
    g_td += g_st * DT / sT;
    g_dt = g_st * td / sT * PER_S_TO_PER_US;
    g_s0t = g_st * s0t / sT;
  }
  if (sL > 0.0 && g_sl != 0.0) {
    g_td += g_sl * DL / sL;
    g_dl = g_sl * td / sL * PER_S_TO_PER_US;
    g_s0l = g_sl * s0l / sL;
  }
  let g_v = -g_td * td / v - g_stime * sL / (v * v);
  gpts[b] = g[o];
  gpts[b + 1u] = g[o + 1u];
  gpts[b + 2u] = params.sgn * g_td / v;
  gpts[b + 3u] = g_arr;
  gpts[b + 4u] = g_q * a;
  let p = i * NPARAM;
  for (var c = 0u; c < NPARAM; c++) { gpart[p + c] = 0.0; }
  gpart[p + PARAM_EFIELD] = g_v * vel.y;
  gpart[p + PARAM_TEMPERATURE] = g_v * vel.z;
  gpart[p + PARAM_VDRIFT] = g_v * vel.w;
  gpart[p + PARAM_LIFETIME] = g_tau;
  gpart[p + PARAM_DL] = g_dl;
  gpart[p + PARAM_DT] = g_dt;
  gpart[p + PARAM_SIGMA0L] = g_s0l;
  gpart[p + PARAM_SIGMA0T] = g_s0t;
}
