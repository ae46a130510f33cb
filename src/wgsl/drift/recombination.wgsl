// Recombination: electrons escaping recombination per segment,
// n_e = R(dE/dx, cos²φ) · dE / W_ion, for the Box (0), Birks (1) and
// ellipsoid-modified Box (2) models; forward and backward.
// Semantics: src/kernels/drift/recombination.reference.ts.
//
// Buffers:
//   seg      f32[n·11]  segment rows, row-major, columns
//                       [x_start, y_start, z_start, x_end, y_end, z_end, dE, dx, t0, trackId, pdgId]
//                       (cm, MeV, cm, µs); read only
//   phys     f32[15]    physics parameters, PARAM_* order below; read only
//   electrons f32[n]    forward output: n_e per segment
//   g        f32[n]     backward input: ∂L/∂n_e
//   gseg     f32[n·11]  backward output: ∂L/∂segment row (positions only for EMB; dE, dx; 0 elsewhere)
//   gpart    f32[n·15]  backward output: per-segment ∂L/∂phys terms, summed over rows
//                       afterwards by the deterministic column reduction (reduce.wgsl)
// Grid: one invocation per segment, 1-D folded into y (ctx.grid(n, WG)).

struct Params {
  n: u32,
  // 0 box, 1 birks, 2 emb
  model: u32,
  // 0 → x, 1 → y, 2 → z
  drift_axis: u32,
  // dE/dx assumed where dx = 0, MeV/cm
  point_dedx: f32,
}

const SEG_STRIDE: u32 = 11u;
const COL_DE: u32 = 6u;
const COL_DX: u32 = 7u;
const NPARAM: u32 = 15u;
const PARAM_AB: u32 = 0u;
const PARAM_KB: u32 = 1u;
const PARAM_BIRKS_A: u32 = 2u;
const PARAM_BIRKS_K: u32 = 3u;
const PARAM_EMB_R: u32 = 4u;
const PARAM_EFIELD: u32 = 5u;
const PARAM_DENSITY: u32 = 6u;
const PARAM_WION: u32 = 7u;
const MODEL_BIRKS: u32 = 1u;
const MODEL_EMB: u32 = 2u;

override WG: u32 = 256;

@group(0) @binding(0) var<storage, read> seg: array<f32>;
@group(0) @binding(1) var<storage, read> phys: array<f32>;
@group(0) @binding(2) var<storage, read_write> electrons: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> gseg: array<f32>;
@group(0) @binding(5) var<storage, read_write> gpart: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

// R and its partials at one point (mirrors RPartials of the reference).
struct RPart {
  R: f32,
  d_dedx: f32,
  d_cos2: f32,
  d_ab: f32,
  d_kb: f32,
  d_birks_a: f32,
  d_birks_k: f32,
  d_emb_r: f32,
  d_efield: f32,
  d_density: f32,
}

fn eval_r(dedx: f32, cos2: f32) -> RPart {
  var o = RPart(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
  let E = phys[PARAM_EFIELD];
  let rho = phys[PARAM_DENSITY];
  let rho_e = rho * E;
  if (params.model == MODEL_BIRKS) {
    let A = phys[PARAM_BIRKS_A];
    let k = phys[PARAM_BIRKS_K];
    let eta = dedx / rho_e;
    let den = 1.0 + k * eta;
    let dr_deta = -A * k / (den * den);
    o.R = A / den;
    o.d_birks_a = 1.0 / den;
    o.d_birks_k = -A * eta / (den * den);
    o.d_dedx = dr_deta / rho_e;
    o.d_efield = -dr_deta * eta / E;
    o.d_density = -dr_deta * eta / rho;
    return o;
  }
  let alpha = phys[PARAM_AB];
  let kb = phys[PARAM_KB];
  var beta = kb;
  var dbeta_dkb = 1.0;
  var dbeta_dcos2 = 0.0;
  var dbeta_dr = 0.0;
  if (params.model == MODEL_EMB) {
    let Rr = phys[PARAM_EMB_R];
    let inv_r2 = 1.0 / (Rr * Rr);
    let s2 = 1.0 - cos2 * (1.0 - inv_r2);
    let s = sqrt(s2);
    beta = kb / s;
    dbeta_dkb = 1.0 / s;
    dbeta_dcos2 = kb * (1.0 - inv_r2) / (2.0 * s2 * s);
    dbeta_dr = kb * cos2 * inv_r2 / (Rr * s2 * s);
  }
  let xi = beta * dedx / rho_e;
  if (!(xi > 0.0)) {
    // dE/dx = 0: ln(α)/0 → −∞ (clamped to 0) unless α = 1, where R → 1.
    o.R = select(0.0, 1.0, alpha == 1.0);
    return o;
  }
  let y = alpha + xi;
  if (y <= 1.0) { return o; } // clamped at R = 0 (larnd-sim max(0, ·)): flat
  let R = log(y) / xi;
  let dr_dxi = (1.0 / y - R) / xi;
  o.R = R;
  o.d_ab = 1.0 / (y * xi);
  let dr_dbeta = dr_dxi * xi / beta;
  o.d_kb = dr_dbeta * dbeta_dkb;
  o.d_cos2 = dr_dbeta * dbeta_dcos2;
  o.d_emb_r = dr_dbeta * dbeta_dr;
  o.d_dedx = dr_dxi * beta / rho_e;
  o.d_efield = -dr_dxi * xi / E;
  o.d_density = -dr_dxi * xi / rho;
  return o;
}

fn seg_delta(i: u32) -> vec3<f32> {
  let b = i * SEG_STRIDE;
  return vec3<f32>(seg[b + 3u] - seg[b], seg[b + 4u] - seg[b + 1u], seg[b + 5u] - seg[b + 2u]);
}

// cos² of the segment–drift-axis angle; 0 for zero length (φ = 90°, as the reference).
fn cos2_of(i: u32) -> f32 {
  if (params.model != MODEL_EMB) { return 0.0; }
  let d = seg_delta(i);
  let L2 = dot(d, d);
  if (L2 == 0.0) { return 0.0; }
  let dw = d[params.drift_axis];
  return dw * dw / L2;
}

fn dedx_of(de: f32, dx: f32) -> f32 {
  return select(params.point_dedx, de / dx, dx > 0.0);
}

@compute @workgroup_size(WG)
fn recombination_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  let de = seg[i * SEG_STRIDE + COL_DE];
  let dx = seg[i * SEG_STRIDE + COL_DX];
  // Invalid deposits (NaN or negative dE/dx, rejected by the host checks)
  // produce no charge rather than NaN.
  if (!(de >= 0.0) || !(dx >= 0.0)) { electrons[i] = 0.0; return; }
  let r = eval_r(dedx_of(de, dx), cos2_of(i));
  electrons[i] = r.R * de / phys[PARAM_WION];
}

@compute @workgroup_size(WG)
fn recombination_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  let row = i * SEG_STRIDE;
  let prow = i * NPARAM;
  for (var c = 0u; c < SEG_STRIDE; c++) { gseg[row + c] = 0.0; }
  for (var c = 0u; c < NPARAM; c++) { gpart[prow + c] = 0.0; }
  let gi = g[i];
  let de = seg[row + COL_DE];
  let dx = seg[row + COL_DX];
  if (gi == 0.0 || !(de >= 0.0) || !(dx >= 0.0)) { return; }
  let cos2 = cos2_of(i);
  let r = eval_r(dedx_of(de, dx), cos2);
  let W = phys[PARAM_WION];
  let gR = gi * de / W;
  var gde = gi * r.R / W;
  var gdx = 0.0;
  if (dx > 0.0) {
    gde += gR * r.d_dedx / dx;
    gdx = -gR * r.d_dedx * de / (dx * dx);
  }
  gseg[row + COL_DE] = gde;
  gseg[row + COL_DX] = gdx;
  let gc = gR * r.d_cos2;
  if (params.model == MODEL_EMB && gc != 0.0) {
    // c = dw²/L²: ∂c/∂d_j = 2 dw δ_jk / L² − 2 dw² d_j / L⁴ (d = end − start).
    let d = seg_delta(i);
    let L2 = dot(d, d);
    if (L2 > 0.0) {
      let k = params.drift_axis;
      let dw = d[k];
      for (var j = 0u; j < 3u; j++) {
        var gd = -2.0 * dw * dw * d[j] / (L2 * L2);
        if (j == k) { gd += 2.0 * dw / L2; }
        gseg[row + 3u + j] = gc * gd;
        gseg[row + j] = -gc * gd;
      }
    }
  }
  gpart[prow + PARAM_AB] = gR * r.d_ab;
  gpart[prow + PARAM_KB] = gR * r.d_kb;
  gpart[prow + PARAM_BIRKS_A] = gR * r.d_birks_a;
  gpart[prow + PARAM_BIRKS_K] = gR * r.d_birks_k;
  gpart[prow + PARAM_EMB_R] = gR * r.d_emb_r;
  gpart[prow + PARAM_EFIELD] = gR * r.d_efield;
  gpart[prow + PARAM_DENSITY] = gR * r.d_density;
  gpart[prow + PARAM_WION] = -gi * r.R * de / (W * W);
}
