/**
 * Float64 reference of a differentiable LArPix-like front end acting on the
 * sparse pixel–tick charges:
 *
 * 1. optional noise: Q ← Q + σ_n·z, z ~ N(0,1) seeded, one draw per input
 *    entry in entry order (off by default; noise is added to existing
 *    entries only, it creates no noise-only hits);
 * 2. optional integration: Q_int(p, t) = Σ_{k=0}^{W−1} Q(p, t − k), a causal
 *    W-tick window per pixel (W = `integrationTicks`, 1 = off) — a smooth
 *    stand-in for LArPix's integrate-and-hold (larnd-sim integrates the
 *    induced current until the discriminator fires and digitises after
 *    ADC_HOLD_DELAY = 15 clock cycles);
 * 3. relaxed threshold: Q_s = Q_int · sigmoid((Q_int − θ)/w), θ =
 *    `threshold_e`, w = `thresholdWidth_e` (w = 0: hard step, whose θ and w
 *    gradients are 0 and Q gradient is the step). The hard discriminator of
 *    larnd-sim is not differentiable; the sigmoid keeps a gradient near θ.
 *    The default width, 650 e⁻, is larnd-sim's DISCRIMINATOR_NOISE, the
 *    natural smearing of a real threshold;
 * 4. ADC: larnd-sim `fee.digitize`,
 *      adc = min(round(max(Q·g + V_ped − V_cm, 0) · N / (V_ref − V_cm)), N − 1)
 *    with g = 4 mV/ke⁻, V_ref = 1568 mV, V_cm = 478.1 mV, V_ped = 580 mV,
 *    N = 256 (larnd-sim `consts/detector.py` defaults; round half to even,
 *    as numpy.around). The integer `adc` is reported but not differentiable;
 *    the differentiable ADC output is the pedestal-subtracted, unrounded,
 *    unsaturated `adcContinuous − adcPedestal` = Q_s·g·N/(V_ref − V_cm), so
 *    that an absent sparse entry (Q = 0) is consistently 0.
 *
 * @module
 */

import { checkOptionKeys, InputValueError, ShapeError, show } from '../../errors.js';
import { roundHalfEven, seededRandom } from '../../autodiff/numeric.js';
import {
  ADC_COUNTS,
  DISCRIMINATION_THRESHOLD_E,
  DISCRIMINATOR_NOISE_E,
  GAIN_MV_PER_E,
  UNCORRELATED_NOISE_E,
  V_CM_MV,
  V_PEDESTAL_MV,
  V_REF_MV,
} from './constants.js';
import type { SparsePixelCharge } from './readout.reference.js';
import { gaussianSource } from './special.js';

/** Front-end settings. Float fields are differentiable unless noted. */
export interface ElectronicsParams {
  /** Discriminator threshold θ, electrons (larnd-sim 5000). */
  threshold_e: number;
  /** Sigmoid width w of the relaxed threshold, electrons (650; 0 = hard step). */
  thresholdWidth_e: number;
  /** Apply the threshold (default true). Not differentiable. */
  applyThreshold: boolean;
  /** Front-end gain g, mV per electron (larnd-sim 4e-3). */
  gain_mV_per_e: number;
  /** ADC reference voltage, mV (1568). */
  vRef_mV: number;
  /** ADC common-mode voltage, mV (478.1). */
  vCm_mV: number;
  /** Pedestal voltage, mV (580). */
  vPedestal_mV: number;
  /** ADC counts N (256). Not differentiable. */
  adcCounts: number;
  /** Integration window W in ticks, integer ≥ 1 (1 = no integration). Not differentiable. */
  integrationTicks: number;
  /** Gaussian noise σ_n, electrons (500 = larnd-sim UNCORRELATED_NOISE_CHARGE). Used only when noiseSeed ≠ null. */
  noise_e: number;
  /** Seed of the noise generator, or null for no noise (default null). */
  noiseSeed: number | null;
  /** Differentiable output: 'charge' = Q_s in electrons, 'adc' = pedestal-subtracted continuous ADC counts. */
  output: 'charge' | 'adc';
}

/** larnd-sim defaults; noise off, no integration, output 'charge'. */
export const DEFAULT_ELECTRONICS_PARAMS: Readonly<ElectronicsParams> = Object.freeze({
  threshold_e: DISCRIMINATION_THRESHOLD_E,
  thresholdWidth_e: DISCRIMINATOR_NOISE_E,
  applyThreshold: true,
  gain_mV_per_e: GAIN_MV_PER_E,
  vRef_mV: V_REF_MV,
  vCm_mV: V_CM_MV,
  vPedestal_mV: V_PEDESTAL_MV,
  adcCounts: ADC_COUNTS,
  integrationTicks: 1,
  noise_e: UNCORRELATED_NOISE_E,
  noiseSeed: null,
  output: 'charge',
});

/** Gradient of a scalar w.r.t. the differentiable electronics parameters. */
export interface ElectronicsParamGrads {
  threshold_e: number;
  thresholdWidth_e: number;
  gain_mV_per_e: number;
  vRef_mV: number;
  vCm_mV: number;
  vPedestal_mV: number;
}

/** Throw {@link InputValueError} for unusable settings. */
export function validateElectronicsParams(p: ElectronicsParams, what = 'electronics'): void {
  checkOptionKeys(what, p, Object.keys(DEFAULT_ELECTRONICS_PARAMS));
  const fin = (name: string, v: number, ok: boolean, hint: string): void => {
    if (!ok) throw new InputValueError(`${what}.${name} = ${show(v)} is invalid; ${hint}`);
  };
  fin('threshold_e', p.threshold_e, Number.isFinite(p.threshold_e) && p.threshold_e >= 0, 'it must be finite and ≥ 0 electrons (larnd-sim 5000)');
  fin('thresholdWidth_e', p.thresholdWidth_e, Number.isFinite(p.thresholdWidth_e) && p.thresholdWidth_e >= 0, 'it must be finite and ≥ 0 electrons (0 = hard step)');
  fin('gain_mV_per_e', p.gain_mV_per_e, Number.isFinite(p.gain_mV_per_e) && p.gain_mV_per_e > 0, 'it must be finite and > 0 mV/e (larnd-sim 4e-3)');
  fin('vRef_mV', p.vRef_mV, Number.isFinite(p.vRef_mV) && p.vRef_mV > p.vCm_mV, `it must be finite and > vCm_mV = ${p.vCm_mV} mV`);
  fin('vCm_mV', p.vCm_mV, Number.isFinite(p.vCm_mV), 'it must be finite (mV)');
  fin('vPedestal_mV', p.vPedestal_mV, Number.isFinite(p.vPedestal_mV), 'it must be finite (mV)');
  fin('adcCounts', p.adcCounts, Number.isInteger(p.adcCounts) && p.adcCounts >= 2, 'it must be an integer ≥ 2 (8-bit: 256)');
  fin('integrationTicks', p.integrationTicks, Number.isInteger(p.integrationTicks) && p.integrationTicks >= 1 && p.integrationTicks <= 10000, 'it must be an integer in [1, 10000]');
  fin('noise_e', p.noise_e, Number.isFinite(p.noise_e) && p.noise_e >= 0, 'it must be finite and ≥ 0 electrons');
  if (p.noiseSeed !== null && !Number.isFinite(p.noiseSeed)) fin('noiseSeed', p.noiseSeed, false, 'it must be a finite number or null');
  if (p.output !== 'charge' && p.output !== 'adc') throw new InputValueError(`${what}.output = ${show(p.output)}; use 'charge' or 'adc'`);
}

/** Numerically stable logistic function. */
function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/** Result of {@link electronicsForward}, aligned entry by entry (sorted by pixelX, pixelY, tick). */
export interface ElectronicsResult {
  readonly length: number;
  readonly pixelX: Int32Array;
  readonly pixelY: Int32Array;
  readonly tick: Int32Array;
  /** Integrated (and noisy) charge Q_int, electrons. */
  readonly integrated: Float64Array;
  /** Charge after the relaxed threshold Q_s, electrons. */
  readonly thresholded: Float64Array;
  /** Unrounded ADC value including the pedestal, counts. */
  readonly adcContinuous: Float64Array;
  /** Digitised ADC counts (larnd-sim digitize), not differentiable. */
  readonly adc: Int32Array;
  /** The differentiable output selected by `params.output`. */
  readonly value: Float64Array;
  /** Noise added per input entry, electrons (zeros when off). */
  readonly noise: Float64Array;
  readonly params: ElectronicsParams;
  /** Input entry → output entries it feeds (for the backward), as [start, count] into `feeds`. */
  readonly feedStart: Int32Array;
  readonly feeds: Int32Array;
}

/** Forward of the front end (see the module comment). */
export function electronicsForward(input: SparsePixelCharge, params: Partial<ElectronicsParams> = {}): ElectronicsResult {
  const p: ElectronicsParams = { ...DEFAULT_ELECTRONICS_PARAMS, ...params };
  validateElectronicsParams(p);
  const n = input.length;
  const noise = new Float64Array(n);
  if (p.noiseSeed !== null && p.noise_e > 0) {
    const gauss = gaussianSource(seededRandom(p.noiseSeed));
    for (let e = 0; e < n; e++) noise[e] = p.noise_e * gauss();
  }
  const W = p.integrationTicks;
  // Output cells: (pixel, tick + k) for k in [0, W). Keys ordered like the input.
  const OFFSET = 2 ** 20;
  const SPAN = 2 ** 21;
  let maxY = 0;
  for (let e = 0; e < n; e++) maxY = Math.max(maxY, input.pixelY[e]! + 1);
  const keyOf = (e: number, k: number): number => (input.pixelX[e]! * maxY + input.pixelY[e]!) * SPAN + input.tick[e]! + k + OFFSET;
  const acc = new Map<number, number>();
  for (let e = 0; e < n; e++) {
    const q = input.charge[e]! + noise[e]!;
    for (let k = 0; k < W; k++) {
      const key = keyOf(e, k);
      acc.set(key, (acc.get(key) ?? 0) + q);
    }
  }
  const keys = Float64Array.from(acc.keys()).sort();
  const len = keys.length;
  const index = new Map<number, number>();
  keys.forEach((k, i) => index.set(k, i));
  const feedStart = new Int32Array(n + 1);
  const feeds = new Int32Array(n * W);
  for (let e = 0; e < n; e++) {
    feedStart[e] = e * W;
    for (let k = 0; k < W; k++) feeds[e * W + k] = index.get(keyOf(e, k))!;
  }
  feedStart[n] = n * W;
  const pixelX = new Int32Array(len);
  const pixelY = new Int32Array(len);
  const tick = new Int32Array(len);
  const integrated = new Float64Array(len);
  const thresholded = new Float64Array(len);
  const adcContinuous = new Float64Array(len);
  const adc = new Int32Array(len);
  const value = new Float64Array(len);
  const N = p.adcCounts;
  const scale = N / (p.vRef_mV - p.vCm_mV);
  for (let i = 0; i < len; i++) {
    const key = keys[i]!;
    const pix = Math.floor(key / SPAN);
    pixelX[i] = Math.floor(pix / maxY);
    pixelY[i] = pix % maxY;
    tick[i] = key - pix * SPAN - OFFSET;
    const Q = acc.get(key)!;
    integrated[i] = Q;
    let Qs = Q;
    if (p.applyThreshold) {
      Qs = p.thresholdWidth_e > 0 ? Q * sigmoid((Q - p.threshold_e) / p.thresholdWidth_e) : Q >= p.threshold_e ? Q : 0;
    }
    thresholded[i] = Qs;
    const a = (Qs * p.gain_mV_per_e + p.vPedestal_mV - p.vCm_mV) * scale;
    adcContinuous[i] = a;
    adc[i] = Math.min(roundHalfEven(Math.max(a, 0)), N - 1);
    value[i] = p.output === 'charge' ? Qs : Qs * p.gain_mV_per_e * scale;
  }
  return { length: len, pixelX, pixelY, tick, integrated, thresholded, adcContinuous, adc, value, noise, params: p, feedStart, feeds };
}

/**
 * Backward of {@link electronicsForward}: given g = ∂L/∂value per output
 * entry, return ∂L/∂charge per input entry and ∂L/∂parameter. The noise is
 * additive (reparameterised), so it passes gradients through unchanged.
 */
export function electronicsBackward(
  fwd: ElectronicsResult,
  gradValue: Float64Array,
): { charge: Float64Array; params: ElectronicsParamGrads } {
  if (gradValue.length !== fwd.length) {
    throw new ShapeError(`electronicsBackward: gradValue has ${gradValue.length} entries but the forward produced ${fwd.length}`);
  }
  const p = fwd.params;
  const scale = p.adcCounts / (p.vRef_mV - p.vCm_mV);
  const gp: ElectronicsParamGrads = { threshold_e: 0, thresholdWidth_e: 0, gain_mV_per_e: 0, vRef_mV: 0, vCm_mV: 0, vPedestal_mV: 0 };
  const gInt = new Float64Array(fwd.length);
  for (let i = 0; i < fwd.length; i++) {
    const g = gradValue[i]!;
    if (g === 0) continue;
    const Qs = fwd.thresholded[i]!;
    let gQs = g;
    if (p.output === 'adc') {
      gQs = g * p.gain_mV_per_e * scale;
      gp.gain_mV_per_e += g * Qs * scale;
      // value = Qs·g·N/(Vref − Vcm)
      const dScale = (Qs * p.gain_mV_per_e * scale) / (p.vRef_mV - p.vCm_mV);
      gp.vRef_mV += -g * dScale;
      gp.vCm_mV += g * dScale;
    }
    const Q = fwd.integrated[i]!;
    if (!p.applyThreshold) gInt[i] = gQs;
    else if (p.thresholdWidth_e > 0) {
      const w = p.thresholdWidth_e;
      const z = (Q - p.threshold_e) / w;
      const s = sigmoid(z);
      const ds = s * (1 - s);
      gInt[i] = gQs * (s + (Q * ds) / w);
      gp.threshold_e += (gQs * -Q * ds) / w;
      gp.thresholdWidth_e += (gQs * -Q * ds * z) / w;
    } else gInt[i] = Q >= p.threshold_e ? gQs : 0;
  }
  const n = fwd.feedStart.length - 1;
  const gCharge = new Float64Array(n);
  for (let e = 0; e < n; e++) {
    let s = 0;
    for (let k = fwd.feedStart[e]!; k < fwd.feedStart[e + 1]!; k++) s += gInt[fwd.feeds[k]!]!;
    gCharge[e] = s;
  }
  return { charge: gCharge, params: gp };
}
