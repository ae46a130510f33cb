/**
 * Float64 reference of electron–ion recombination: the number of ionisation
 * electrons that escape recombination, n_e = R · dE / W_ion, for the modified
 * Box, Birks and ellipsoid-modified Box models, with analytic gradients.
 *
 * Definitions (E = drift field in kV/cm, ρ = LAr density in g/cm³, dE/dx in MeV/cm):
 * - Box (ArgoNeuT, JINST 8 (2013) P08005):
 *     ξ = β·(dE/dx)/(ρE),  R = ln(α + ξ)/ξ, clamped at 0 (as larnd-sim does)
 *     where α + ξ ≤ 1 — the Box form is unphysical below dE/dx ≈ 0.23 MeV/cm.
 * - Birks (ICARUS, NIM A 523 (2004) 275):  R = A / (1 + k·(dE/dx)/(ρE)).
 * - EMB, ellipsoid-modified Box (ICARUS, arXiv:2407.12969): the Box form with
 *     β(φ) = β₉₀ / √(sin²φ + cos²φ/R²), φ the angle between the segment and the
 *     drift field, so a track along the field (φ = 0) recombines more (β = R·β₉₀).
 *
 * Parameter naming follows the fitting convention of the chain: `Ab` = Box α,
 * `kb` = Box β (β₉₀ for EMB); `birksA`, `birksK` are Birks' A and k. (In
 * larnd-sim's `consts/physics.py` the names `BIRKS_Ab`, `BIRKS_kb` denote the
 * Birks constants and `BOX_ALPHA`, `BOX_BETA` the Box ones.)
 *
 * @module
 */

import { InputValueError, ShapeError, show } from '../../errors.js';
import {
  BIRKS_A,
  BIRKS_K,
  BOX_ALPHA,
  BOX_BETA_LARNDSIM,
  E_FIELD_KV_PER_CM,
  EMB_ICARUS,
  LAR_DENSITY_G_PER_CM3,
  W_ION_MEV,
} from './constants.js';
import { type Axis, axisIndex } from './geometry.js';
import type { Segments } from './segments.js';

/** Recombination model. */
export type RecombinationModel = 'box' | 'birks' | 'emb';

/** Recombination parameters; all are differentiable. */
export interface RecombinationParams {
  /** Box α, dimensionless, in (0, 1] (larnd-sim 0.93). */
  Ab: number;
  /** Box β (β₉₀ for EMB), (kV/cm)(g/cm²)/MeV, > 0 (larnd-sim 0.207; ArgoNeuT 0.212). */
  kb: number;
  /** Birks A, dimensionless, in (0, 1] (0.800). */
  birksA: number;
  /** Birks k, (kV/cm)(g/cm²)/MeV, ≥ 0 (0.0486). */
  birksK: number;
  /** EMB ellipsoid ratio R, > 0 (ICARUS 1.25; R = 1 reduces EMB to Box). */
  embR: number;
  /** Drift field, kV/cm, > 0 (0.5). */
  eField: number;
  /** LAr density, g/cm³, > 0 (1.38). */
  density: number;
  /** Energy per ion pair, MeV, > 0 (23.6e-6). */
  wIon: number;
}

/** larnd-sim defaults (Box α, β; ICARUS Birks A, k; ICARUS EMB R). */
export const DEFAULT_RECOMBINATION_PARAMS: Readonly<RecombinationParams> = Object.freeze({
  Ab: BOX_ALPHA,
  kb: BOX_BETA_LARNDSIM,
  birksA: BIRKS_A,
  birksK: BIRKS_K,
  embR: EMB_ICARUS.R,
  eField: E_FIELD_KV_PER_CM,
  density: LAR_DENSITY_G_PER_CM3,
  wIon: W_ION_MEV,
});

/** Names of {@link RecombinationParams}, in a fixed order. */
export const RECOMBINATION_PARAM_NAMES = ['Ab', 'kb', 'birksA', 'birksK', 'embR', 'eField', 'density', 'wIon'] as const;

/** Gradient of a scalar w.r.t. each recombination parameter, in that parameter's units⁻¹. */
export type RecombinationParamGrads = Record<(typeof RECOMBINATION_PARAM_NAMES)[number], number>;

/** Options of the recombination stage. */
export interface RecombinationOptions {
  /**
   * dE/dx (MeV/cm) assumed for point deposits (dx = 0), where dE/dx is
   * undefined. Default 2.1, a minimum-ionising value, so that point deposits
   * neither vanish nor produce NaN; its gradient w.r.t. dx is 0.
   */
  pointDEdx_MeV_per_cm: number;
}

/** Defaults of {@link RecombinationOptions}. */
export const DEFAULT_RECOMBINATION_OPTIONS: Readonly<RecombinationOptions> = Object.freeze({ pointDEdx_MeV_per_cm: 2.1 });

/**
 * Throw {@link InputValueError} for non-physical parameters. Only the
 * parameters the model uses are checked, plus eField, density and wIon.
 */
export function validateRecombinationParams(model: RecombinationModel, p: RecombinationParams, what = 'params'): void {
  if (model !== 'box' && model !== 'birks' && model !== 'emb') {
    throw new InputValueError(`recombination model = ${show(model)}; use 'box', 'birks' or 'emb'`);
  }
  const positive = (name: string, v: number, unit: string, hint: string): void => {
    if (!(v > 0) || !Number.isFinite(v)) {
      throw new InputValueError(`${what}.${name} = ${show(v)} ${unit} is non-physical; it must be finite and > 0 (${hint})`);
    }
  };
  positive('eField', p.eField, 'kV/cm', 'nominal 0.5');
  positive('density', p.density, 'g/cm³', 'LAr 1.38');
  positive('wIon', p.wIon, 'MeV', 'LAr 23.6e-6');
  if (model === 'box' || model === 'emb') {
    if (!(p.Ab > 0 && p.Ab <= 1)) {
      throw new InputValueError(`${what}.Ab = ${show(p.Ab)} is non-physical; the Box α must lie in (0, 1] (larnd-sim 0.93, ICARUS EMB 0.904)`);
    }
    positive('kb', p.kb, '(kV/cm)(g/cm²)/MeV', 'larnd-sim 0.207, ArgoNeuT 0.212');
  }
  if (model === 'emb') positive('embR', p.embR, '', 'ICARUS 1.25; 1 gives the Box model');
  if (model === 'birks') {
    if (!(p.birksA > 0 && p.birksA <= 1)) {
      throw new InputValueError(`${what}.birksA = ${show(p.birksA)} is non-physical; Birks A must lie in (0, 1] (ICARUS 0.800)`);
    }
    if (!(p.birksK >= 0) || !Number.isFinite(p.birksK)) {
      throw new InputValueError(`${what}.birksK = ${show(p.birksK)} (kV/cm)(g/cm²)/MeV is non-physical; it must be finite and ≥ 0 (ICARUS 0.0486)`);
    }
  }
}

/** Value and partial derivatives of R at one point (internal, reused to avoid allocation). */
interface RPartials {
  R: number;
  dDEdx: number;
  dCos2: number;
  dAb: number;
  dKb: number;
  dBirksA: number;
  dBirksK: number;
  dEmbR: number;
  dEField: number;
  dDensity: number;
}

function newPartials(): RPartials {
  return { R: 0, dDEdx: 0, dCos2: 0, dAb: 0, dKb: 0, dBirksA: 0, dBirksK: 0, dEmbR: 0, dEField: 0, dDensity: 0 };
}

/** Fill `out` with R(dE/dx, cos²φ) and its partials. */
function evalR(model: RecombinationModel, dEdx: number, cos2: number, p: RecombinationParams, out: RPartials): void {
  out.R = out.dDEdx = out.dCos2 = out.dAb = out.dKb = out.dBirksA = out.dBirksK = out.dEmbR = out.dEField = out.dDensity = 0;
  const rhoE = p.density * p.eField;
  if (model === 'birks') {
    const eta = dEdx / rhoE;
    const den = 1 + p.birksK * eta;
    const R = p.birksA / den;
    const dR_deta = (-p.birksA * p.birksK) / (den * den);
    out.R = R;
    out.dBirksA = 1 / den;
    out.dBirksK = (-p.birksA * eta) / (den * den);
    out.dDEdx = dR_deta / rhoE;
    out.dEField = (dR_deta * -eta) / p.eField;
    out.dDensity = (dR_deta * -eta) / p.density;
    return;
  }
  // Box / EMB: effective β.
  let beta = p.kb;
  let dBeta_dKb = 1;
  let dBeta_dCos2 = 0;
  let dBeta_dR = 0;
  if (model === 'emb') {
    const invR2 = 1 / (p.embR * p.embR);
    const s2 = 1 - cos2 * (1 - invR2); // sin²φ + cos²φ/R²
    const s = Math.sqrt(s2);
    beta = p.kb / s;
    dBeta_dKb = 1 / s;
    dBeta_dCos2 = (p.kb * (1 - invR2)) / (2 * s2 * s);
    dBeta_dR = (p.kb * cos2 * invR2) / (p.embR * s2 * s);
  }
  const xi = (beta * dEdx) / rhoE;
  if (!(xi > 0)) {
    // dE/dx = 0: ln(α)/0 → −∞ for α < 1 (clamped to 0), → 1 for α = 1.
    out.R = p.Ab === 1 ? 1 : 0;
    return;
  }
  const y = p.Ab + xi;
  if (y <= 1) return; // ln(y) ≤ 0 → R ≤ 0, clamped to 0 (larnd-sim max(0, ·)); flat, zero gradient.
  const R = Math.log(y) / xi;
  const dR_dxi = (1 / y - R) / xi;
  out.R = R;
  out.dAb = 1 / (y * xi);
  const dR_dBeta = (dR_dxi * xi) / beta;
  out.dKb = dR_dBeta * dBeta_dKb;
  out.dCos2 = dR_dBeta * dBeta_dCos2;
  out.dEmbR = dR_dBeta * dBeta_dR;
  out.dDEdx = (dR_dxi * beta) / rhoE;
  out.dEField = (dR_dxi * -xi) / p.eField;
  out.dDensity = (dR_dxi * -xi) / p.density;
}

/**
 * Recombination survival fraction R for one dE/dx (MeV/cm). `cos2Phi` is
 * cos² of the angle between segment and drift field (used by 'emb' only).
 */
export function recombinationFactor(
  model: RecombinationModel,
  dEdx_MeV_per_cm: number,
  params: RecombinationParams = DEFAULT_RECOMBINATION_PARAMS,
  cos2Phi = 0,
): number {
  const out = newPartials();
  evalR(model, dEdx_MeV_per_cm, cos2Phi, params, out);
  return out.R;
}

/** Output of {@link recombinationForward}. */
export interface RecombinationResult {
  /** Electrons escaping recombination per segment, n_e = R·dE/W. */
  electrons: Float64Array;
  /** Survival fraction R per segment. */
  R: Float64Array;
  /** dE/dx used per segment, MeV/cm (the point value where dx = 0). */
  dEdx: Float64Array;
}

/** Gradients returned by {@link recombinationBackward}. */
export interface RecombinationGrads {
  /** ∂L/∂dE per segment, MeV⁻¹. */
  dE: Float64Array;
  /** ∂L/∂dx per segment, cm⁻¹. */
  dx: Float64Array;
  /** ∂L/∂cos²φ per segment (zero unless model 'emb'). */
  cos2Phi: Float64Array;
  /** ∂L/∂parameter. */
  params: RecombinationParamGrads;
}

function checkLengths(dE: Float64Array, dx: Float64Array, cos2Phi: Float64Array | null): void {
  if (dx.length !== dE.length) throw new ShapeError(`recombination: dx has ${dx.length} entries but dE has ${dE.length}; pass one per segment`);
  if (cos2Phi && cos2Phi.length !== dE.length) {
    throw new ShapeError(`recombination: cos2Phi has ${cos2Phi.length} entries but dE has ${dE.length}; pass one per segment`);
  }
}

function checkDeposits(dE: Float64Array, dx: Float64Array): void {
  for (let i = 0; i < dE.length; i++) {
    const e = dE[i]!;
    if (!(e >= 0) || e === Infinity) {
      throw new InputValueError(`recombination: dE[${i}] = ${show(e)} MeV; dE must be finite and ≥ 0 (fix or drop segment ${i})`);
    }
    const l = dx[i]!;
    if (!(l >= 0) || l === Infinity) {
      throw new InputValueError(`recombination: dx[${i}] = ${show(l)} cm; dx must be finite and ≥ 0 (0 marks a point deposit)`);
    }
  }
}

/**
 * Forward: n_e = R(dE/dx, cos²φ) · dE / W_ion per segment.
 *
 * @param dE deposited energy per segment, MeV
 * @param dx path length per segment, cm (0 → `pointDEdx_MeV_per_cm`)
 * @param cos2Phi cos² of the segment–field angle per segment; required for 'emb', ignored otherwise
 */
export function recombinationForward(
  model: RecombinationModel,
  dE: Float64Array,
  dx: Float64Array,
  cos2Phi: Float64Array | null,
  params: RecombinationParams = DEFAULT_RECOMBINATION_PARAMS,
  options: Partial<RecombinationOptions> = {},
): RecombinationResult {
  validateRecombinationParams(model, params);
  checkLengths(dE, dx, cos2Phi);
  checkDeposits(dE, dx);
  if (model === 'emb' && !cos2Phi) {
    throw new InputValueError(`recombination: model 'emb' needs cos2Phi (see cos2PhiToAxis); got null`);
  }
  const opts = { ...DEFAULT_RECOMBINATION_OPTIONS, ...options };
  const n = dE.length;
  const electrons = new Float64Array(n);
  const R = new Float64Array(n);
  const dEdx = new Float64Array(n);
  const pt = newPartials();
  for (let i = 0; i < n; i++) {
    const l = dx[i]!;
    const d = l > 0 ? dE[i]! / l : opts.pointDEdx_MeV_per_cm;
    evalR(model, d, cos2Phi ? cos2Phi[i]! : 0, params, pt);
    dEdx[i] = d;
    R[i] = pt.R;
    electrons[i] = (pt.R * dE[i]!) / params.wIon;
  }
  return { electrons, R, dEdx };
}

/**
 * Backward of {@link recombinationForward}: given g = ∂L/∂n_e per segment,
 * return ∂L/∂dE, ∂L/∂dx, ∂L/∂cos²φ and ∂L/∂parameter.
 * n_e is flat (zero gradient) where the Box form is clamped at R = 0.
 */
export function recombinationBackward(
  model: RecombinationModel,
  dE: Float64Array,
  dx: Float64Array,
  cos2Phi: Float64Array | null,
  params: RecombinationParams,
  gradElectrons: Float64Array,
  options: Partial<RecombinationOptions> = {},
): RecombinationGrads {
  checkLengths(dE, dx, cos2Phi);
  if (gradElectrons.length !== dE.length) {
    throw new ShapeError(`recombinationBackward: gradElectrons has ${gradElectrons.length} entries, expected ${dE.length}`);
  }
  const opts = { ...DEFAULT_RECOMBINATION_OPTIONS, ...options };
  const n = dE.length;
  const gdE = new Float64Array(n);
  const gdx = new Float64Array(n);
  const gc = new Float64Array(n);
  const gp: RecombinationParamGrads = { Ab: 0, kb: 0, birksA: 0, birksK: 0, embR: 0, eField: 0, density: 0, wIon: 0 };
  const pt = newPartials();
  const W = params.wIon;
  for (let i = 0; i < n; i++) {
    const g = gradElectrons[i]!;
    if (g === 0) continue;
    const e = dE[i]!;
    const l = dx[i]!;
    const d = l > 0 ? e / l : opts.pointDEdx_MeV_per_cm;
    evalR(model, d, cos2Phi ? cos2Phi[i]! : 0, params, pt);
    const gR = (g * e) / W; // ∂L/∂R
    // n_e = R(dE/dx)·dE/W: direct term plus the dE/dx dependence.
    gdE[i] = (g * pt.R) / W + (l > 0 ? (gR * pt.dDEdx) / l : 0);
    gdx[i] = l > 0 ? (gR * pt.dDEdx * -e) / (l * l) : 0;
    gc[i] = gR * pt.dCos2;
    gp.Ab += gR * pt.dAb;
    gp.kb += gR * pt.dKb;
    gp.birksA += gR * pt.dBirksA;
    gp.birksK += gR * pt.dBirksK;
    gp.embR += gR * pt.dEmbR;
    gp.eField += gR * pt.dEField;
    gp.density += gR * pt.dDensity;
    gp.wIon += (-g * pt.R * e) / (W * W);
  }
  return { dE: gdE, dx: gdx, cos2Phi: gc, params: gp };
}

/**
 * cos²φ of each segment's direction with the drift axis,
 * (E_w − S_w)² / |E − S|². Zero-length segments get 0 (φ = 90°, β = β₉₀):
 * their direction is undefined, so EMB treats them like the angle-averaged
 * bulk of short delta-ray deposits rather than field-aligned tracks.
 */
export function cos2PhiToAxis(s: Segments, driftAxis: Axis): Float64Array {
  const k = axisIndex(driftAxis);
  const out = new Float64Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const dx = s.xEnd[i]! - s.xStart[i]!;
    const dy = s.yEnd[i]! - s.yStart[i]!;
    const dz = s.zEnd[i]! - s.zStart[i]!;
    const L2 = dx * dx + dy * dy + dz * dz;
    if (L2 === 0) continue;
    const dw = k === 0 ? dx : k === 1 ? dy : dz;
    out[i] = (dw * dw) / L2;
  }
  return out;
}

/** Position gradients of a scalar through {@link cos2PhiToAxis}, accumulated into `acc` (6 columns, cm⁻¹). */
export function cos2PhiBackward(
  s: Segments,
  driftAxis: Axis,
  gradCos2: Float64Array,
  acc: { xStart: Float64Array; yStart: Float64Array; zStart: Float64Array; xEnd: Float64Array; yEnd: Float64Array; zEnd: Float64Array },
): void {
  const k = axisIndex(driftAxis);
  for (let i = 0; i < s.length; i++) {
    const g = gradCos2[i]!;
    if (g === 0) continue;
    const d = [s.xEnd[i]! - s.xStart[i]!, s.yEnd[i]! - s.yStart[i]!, s.zEnd[i]! - s.zStart[i]!];
    const L2 = d[0]! * d[0]! + d[1]! * d[1]! + d[2]! * d[2]!;
    if (L2 === 0) continue;
    const dw = d[k]!;
    // c = dw²/L²: ∂c/∂d_j = 2 dw δ_jk / L² − 2 dw² d_j / L⁴.
    const gd = [0, 1, 2].map((j) => g * ((j === k ? (2 * dw) / L2 : 0) - (2 * dw * dw * d[j]!) / (L2 * L2)));
    acc.xEnd[i] = acc.xEnd[i]! + gd[0]!;
    acc.yEnd[i] = acc.yEnd[i]! + gd[1]!;
    acc.zEnd[i] = acc.zEnd[i]! + gd[2]!;
    acc.xStart[i] = acc.xStart[i]! - gd[0]!;
    acc.yStart[i] = acc.yStart[i]! - gd[1]!;
    acc.zStart[i] = acc.zStart[i]! - gd[2]!;
  }
}
