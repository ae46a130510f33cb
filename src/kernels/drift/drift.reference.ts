/**
 * Float64 reference of electron drift: drift velocity from field and
 * temperature, drift time to the anode, lifetime attenuation and diffusion,
 * with analytic gradients w.r.t. every parameter and the point positions.
 *
 * For a point at drift coordinate w (cm) deposited at t0 (µs):
 *   d      = s·(w − anode)                 drift distance, cm (s = sign(cathode − anode))
 *   t_d    = d / v                         drift time, µs
 *   t      = t0 + t_d                      arrival time at the anode, µs
 *   a      = exp(−t_d / τ)                 surviving fraction (electron lifetime τ, µs)
 *   σ_T    = √(2 D_T t_d + σ0_T²)          transverse spread, cm
 *   σ_L    = √(2 D_L t_d + σ0_L²)          longitudinal spread, cm
 *   σ_t    = σ_L / v                       longitudinal spread in arrival time, µs
 * with D in cm²/µs = 1e-6 × (D in cm²/s). This matches larnd-sim's
 * `drifting.drift` (σ = √(2 D t_d), lifetime factor exp(−t_d/τ)), except that
 * here every quadrature point along a segment is drifted on its own instead
 * of using the segment midpoint, and σ0 (zero by default) can be added in
 * quadrature for an intrinsic/readout spread.
 *
 * The drift velocity is either given (`vDrift`, cm/µs) or v = μ(E, T)·E with
 * the BNL/Walkowiak mobility (see {@link electronMobility}).
 *
 * @module
 */

import { InputValueError, ShapeError, show } from '../../errors.js';
import {
  E_FIELD_KV_PER_CM,
  ELECTRON_LIFETIME_US,
  LONG_DIFF_CM2_PER_S,
  MOBILITY_PARAMS,
  TEMPERATURE_K,
  TRAN_DIFF_CM2_PER_S,
} from './constants.js';
import { type DetectorGeometry, driftSign } from './geometry.js';

/** Drift parameters; all but `vDrift: null` are differentiable. */
export interface DriftParams {
  /** Drift field, kV/cm, > 0 (0.5). Sets v unless `vDrift` is given. */
  eField: number;
  /** LAr temperature, K, > 0 (87.17). */
  temperature: number;
  /** Drift velocity override, cm/µs (> 0), or null to use μ(E, T)·E. */
  vDrift: number | null;
  /** Electron lifetime τ, µs, > 0 (2200; Infinity disables attenuation). */
  lifetime: number;
  /** Longitudinal diffusion coefficient D_L, cm²/s, ≥ 0 (4.0). */
  dL: number;
  /** Transverse diffusion coefficient D_T, cm²/s, ≥ 0 (8.8). */
  dT: number;
  /** Longitudinal spread added in quadrature, cm, ≥ 0 (0). */
  sigma0L: number;
  /** Transverse spread added in quadrature, cm, ≥ 0 (0). */
  sigma0T: number;
}

/** larnd-sim defaults (2x2.yaml): 0.5 kV/cm, 87.17 K, τ = 2.2 ms, D_L = 4, D_T = 8.8 cm²/s. */
export const DEFAULT_DRIFT_PARAMS: Readonly<DriftParams> = Object.freeze({
  eField: E_FIELD_KV_PER_CM,
  temperature: TEMPERATURE_K,
  vDrift: null,
  lifetime: ELECTRON_LIFETIME_US,
  dL: LONG_DIFF_CM2_PER_S,
  dT: TRAN_DIFF_CM2_PER_S,
  sigma0L: 0,
  sigma0T: 0,
});

/** Names of the differentiable drift parameters, in a fixed order. */
export const DRIFT_PARAM_NAMES = ['eField', 'temperature', 'vDrift', 'lifetime', 'dL', 'dT', 'sigma0L', 'sigma0T'] as const;

/** Gradient of a scalar w.r.t. each drift parameter (vDrift: 0 when it is null). */
export type DriftParamGrads = Record<(typeof DRIFT_PARAM_NAMES)[number], number>;

/** cm²/s → cm²/µs. */
const PER_S_TO_PER_US = 1e-6;

/** Throw {@link InputValueError} for non-physical drift parameters. */
export function validateDriftParams(p: DriftParams, what = 'params'): void {
  const check = (name: string, v: number, ok: boolean, unit: string, hint: string): void => {
    if (!ok) throw new InputValueError(`${what}.${name} = ${show(v)} ${unit} is non-physical; ${hint}`);
  };
  check('eField', p.eField, p.eField > 0 && Number.isFinite(p.eField), 'kV/cm', 'it must be finite and > 0 (nominal 0.5)');
  check('temperature', p.temperature, p.temperature > 0 && Number.isFinite(p.temperature), 'K', 'it must be finite and > 0 (LAr 87.17)');
  if (p.vDrift !== null) {
    check('vDrift', p.vDrift, p.vDrift > 0 && Number.isFinite(p.vDrift), 'cm/µs', 'it must be finite and > 0 (≈0.16 at 0.5 kV/cm), or null to derive it from eField');
  }
  check('lifetime', p.lifetime, p.lifetime > 0, 'µs', 'the electron lifetime τ must be > 0 (larnd-sim 2200; Infinity for no attenuation)');
  check('dL', p.dL, p.dL >= 0 && Number.isFinite(p.dL), 'cm²/s', 'the longitudinal diffusion coefficient must be finite and ≥ 0 (larnd-sim 4.0)');
  check('dT', p.dT, p.dT >= 0 && Number.isFinite(p.dT), 'cm²/s', 'the transverse diffusion coefficient must be finite and ≥ 0 (larnd-sim 8.8)');
  check('sigma0L', p.sigma0L, p.sigma0L >= 0 && Number.isFinite(p.sigma0L), 'cm', 'it must be finite and ≥ 0');
  check('sigma0T', p.sigma0T, p.sigma0T >= 0 && Number.isFinite(p.sigma0T), 'cm', 'it must be finite and ≥ 0');
}

/**
 * Electron mobility in LAr, cm²/(V·s), BNL parametrisation (Li et al.,
 * NIM A 816 (2016) 160; W. Walkowiak, NIM A 449 (2000) 288; larnd-sim
 * `electron_mobility`):
 *   μ = (a0 + a1 E + a2 E^{1.5} + a3 E^{2.5}) / (1 + (a1/a0) E + a4 E² + a5 E³) · (T/89 K)^{−1.5}
 *
 * @param eField_kV_per_cm field E, kV/cm
 * @param temperature_K temperature T, K
 */
export function electronMobility(eField_kV_per_cm: number, temperature_K: number): number {
  return mobilityWithGrad(eField_kV_per_cm, temperature_K).mu;
}

function mobilityWithGrad(E: number, T: number): { mu: number; dmu_dE: number; dmu_dT: number } {
  const { a0, a1, a2, a3, a4, a5, T0_K } = MOBILITY_PARAMS;
  const sE = Math.sqrt(E);
  const num = a0 + a1 * E + a2 * E * sE + a3 * E * E * sE;
  const den = 1 + (a1 / a0) * E + a4 * E * E + a5 * E * E * E;
  const dnum = a1 + 1.5 * a2 * sE + 2.5 * a3 * E * sE;
  const dden = a1 / a0 + 2 * a4 * E + 3 * a5 * E * E;
  const tc = (T / T0_K) ** -1.5;
  const mu = (num / den) * tc;
  return { mu, dmu_dE: ((dnum * den - num * dden) / (den * den)) * tc, dmu_dT: (-1.5 * mu) / T };
}

/**
 * Drift velocity v = μ(E, T)·E in cm/µs (μ in cm²/(V·s), E in kV/cm:
 * cm²/(V·s) × 1000 V/cm × 1e-6 s/µs = 1e-3). Gives 0.15965 cm/µs at
 * 0.5 kV/cm and 87.17 K.
 */
export function driftVelocity(eField_kV_per_cm: number, temperature_K: number): number {
  return electronMobility(eField_kV_per_cm, temperature_K) * eField_kV_per_cm * 1e-3;
}

/** v (cm/µs) with ∂v/∂E (cm/µs per kV/cm) and ∂v/∂T (cm/µs per K). */
export function driftVelocityWithGrad(eField_kV_per_cm: number, temperature_K: number): { v: number; dv_dE: number; dv_dT: number } {
  const { mu, dmu_dE, dmu_dT } = mobilityWithGrad(eField_kV_per_cm, temperature_K);
  return { v: mu * eField_kV_per_cm * 1e-3, dv_dE: (dmu_dE * eField_kV_per_cm + mu) * 1e-3, dv_dT: dmu_dT * eField_kV_per_cm * 1e-3 };
}

/** The velocity used by the drift: the override or μ(E,T)·E, with its parameter derivatives. */
export function resolveDriftVelocity(p: DriftParams): { v: number; dv_dE: number; dv_dT: number; dv_dvDrift: number } {
  if (p.vDrift !== null) return { v: p.vDrift, dv_dE: 0, dv_dT: 0, dv_dvDrift: 1 };
  return { ...driftVelocityWithGrad(p.eField, p.temperature), dv_dvDrift: 0 };
}

/** Per-point drift results (all Float64Array of the input length). */
export interface DriftResult {
  /** Drift velocity used, cm/µs. */
  v: number;
  /** Drift distance d, cm (negative behind the anode; callers clip to the active volume first). */
  distance: Float64Array;
  /** Drift time t_d, µs. */
  tDrift: Float64Array;
  /** Arrival time t0 + t_d, µs. */
  arrival: Float64Array;
  /** Lifetime survival fraction exp(−t_d/τ). */
  attenuation: Float64Array;
  /** Transverse σ_T, cm. */
  sigmaT: Float64Array;
  /** Longitudinal σ_L, cm. */
  sigmaL: Float64Array;
  /** Longitudinal spread in time σ_L/v, µs. */
  sigmaTime: Float64Array;
}

/**
 * Drift points to the anode.
 *
 * @param w drift-axis coordinate of each point, cm
 * @param t0 deposit time of each point, µs
 */
export function driftForward(w: Float64Array, t0: Float64Array, params: DriftParams, geometry: DetectorGeometry): DriftResult {
  validateDriftParams(params);
  if (t0.length !== w.length) throw new ShapeError(`driftForward: t0 has ${t0.length} entries but w has ${w.length}; pass one per point`);
  const n = w.length;
  const { v } = resolveDriftVelocity(params);
  const s = driftSign(geometry);
  const DL = params.dL * PER_S_TO_PER_US;
  const DT = params.dT * PER_S_TO_PER_US;
  const s0L2 = params.sigma0L * params.sigma0L;
  const s0T2 = params.sigma0T * params.sigma0T;
  const r: DriftResult = {
    v,
    distance: new Float64Array(n),
    tDrift: new Float64Array(n),
    arrival: new Float64Array(n),
    attenuation: new Float64Array(n),
    sigmaT: new Float64Array(n),
    sigmaL: new Float64Array(n),
    sigmaTime: new Float64Array(n),
  };
  for (let i = 0; i < n; i++) {
    const d = s * (w[i]! - geometry.anode_cm);
    const td = d / v;
    r.distance[i] = d;
    r.tDrift[i] = td;
    r.arrival[i] = t0[i]! + td;
    r.attenuation[i] = Math.exp(-td / params.lifetime);
    // max(0, ·) keeps points a rounding error behind the anode NaN-free.
    const sT = Math.sqrt(Math.max(0, 2 * DT * td + s0T2));
    const sL = Math.sqrt(Math.max(0, 2 * DL * td + s0L2));
    r.sigmaT[i] = sT;
    r.sigmaL[i] = sL;
    r.sigmaTime[i] = sL / v;
  }
  return r;
}

/** Upstream gradients for {@link driftBackward}; absent arrays count as zero. */
export interface DriftUpstream {
  arrival?: Float64Array;
  attenuation?: Float64Array;
  sigmaT?: Float64Array;
  sigmaL?: Float64Array;
  sigmaTime?: Float64Array;
}

/** Gradients returned by {@link driftBackward}. */
export interface DriftGrads {
  /** ∂L/∂w per point, cm⁻¹. */
  w: Float64Array;
  /** ∂L/∂t0 per point, µs⁻¹. */
  t0: Float64Array;
  /** ∂L/∂parameter. */
  params: DriftParamGrads;
}

/** Zeroed drift-parameter gradients. */
export function zeroDriftParamGrads(): DriftParamGrads {
  return { eField: 0, temperature: 0, vDrift: 0, lifetime: 0, dL: 0, dT: 0, sigma0L: 0, sigma0T: 0 };
}

/**
 * Backward of {@link driftForward}. Where σ = 0 (a point on the anode with
 * σ0 = 0) the square root has an infinite slope; its gradient contributions
 * are set to 0 there (they multiply a zero-width Gaussian whose own σ
 * derivative is 0 in the readout).
 */
export function driftBackward(
  w: Float64Array,
  params: DriftParams,
  geometry: DetectorGeometry,
  fwd: DriftResult,
  up: DriftUpstream,
): DriftGrads {
  const n = w.length;
  const { v, dv_dE, dv_dT, dv_dvDrift } = resolveDriftVelocity(params);
  const s = driftSign(geometry);
  const DL = params.dL * PER_S_TO_PER_US;
  const DT = params.dT * PER_S_TO_PER_US;
  const tau = params.lifetime;
  const gw = new Float64Array(n);
  const gt0 = new Float64Array(n);
  const gp = zeroDriftParamGrads();
  let gv = 0;
  for (let i = 0; i < n; i++) {
    const gArr = up.arrival?.[i] ?? 0;
    const gAtt = up.attenuation?.[i] ?? 0;
    const gST = up.sigmaT?.[i] ?? 0;
    const gSTime = up.sigmaTime?.[i] ?? 0;
    // σ_t = σ_L/v: fold the time spread into σ_L plus a direct v term.
    const gSL = (up.sigmaL?.[i] ?? 0) + gSTime / v;
    const td = fwd.tDrift[i]!;
    const a = fwd.attenuation[i]!;
    const sT = fwd.sigmaT[i]!;
    const sL = fwd.sigmaL[i]!;
    let gtd = gArr;
    if (gAtt !== 0 && Number.isFinite(tau)) {
      gtd += (gAtt * a * -1) / tau;
      gp.lifetime += (gAtt * a * td) / (tau * tau);
    }
    if (sT > 0 && gST !== 0) {
      gtd += (gST * DT) / sT;
      gp.dT += ((gST * td) / sT) * PER_S_TO_PER_US;
      gp.sigma0T += (gST * params.sigma0T) / sT;
    }
    if (sL > 0 && gSL !== 0) {
      gtd += (gSL * DL) / sL;
      gp.dL += ((gSL * td) / sL) * PER_S_TO_PER_US;
      gp.sigma0L += (gSL * params.sigma0L) / sL;
    }
    gv += (gtd * -td) / v + (gSTime * -sL) / (v * v);
    gw[i] = (s * gtd) / v;
    gt0[i] = gArr;
  }
  gp.eField += gv * dv_dE;
  gp.temperature += gv * dv_dT;
  gp.vDrift += gv * dv_dvDrift;
  return { w: gw, t0: gt0, params: gp };
}
