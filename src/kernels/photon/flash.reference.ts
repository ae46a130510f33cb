/**
 * Float64 reference of the flash hypothesis — the expected photoelectrons on
 * every photodetector from a set of charge/light deposits — and its gradients,
 * for any visibility model (a SIREN surrogate or a voxel table).
 *
 *     PE_d = Σ_i V_d(p_i + Δ) · q_i
 *
 * with p_i [N, 3] deposit positions (cm), Δ [3] a common shift (cm; in flash
 * matching usually only the drift coordinate is free) and q_i photons emitted
 * at deposit i. V_d is the probability that a photon emitted isotropically at
 * the point is detected by photodetector d, as stored in the model.
 *
 * @module
 */

import { InputValueError, ShapeError, show } from '../../errors.js';
import { requireFinite, requireLength, requireNonNegative, requirePositive, rowsOf } from './checks.js';
import {
  type PhotonLibrary,
  interpolateVisibilityBackwardRef,
  interpolateVisibilityRef,
} from './photon-library.reference.js';
import {
  type SirenConfig,
  type SirenGrads,
  type SirenParams,
  sirenBackwardRef,
  sirenForwardRef,
  validateSirenConfig,
  validateSirenParams,
} from './siren.reference.js';
import {
  type DetectorBox,
  type OutsidePolicy,
  type PoissonNllOptions,
  type VisibilityTransformOptions,
  logToVisibilityDerivativeRef,
  logToVisibilityRef,
  normalizeCoordinatesBackwardRef,
  normalizeCoordinatesRef,
  poissonNllRef,
} from './visibility.reference.js';

/**
 * A differentiable visibility model V(p): positions [N, 3] cm →
 * visibilities [N, numPhotodetectors].
 *
 * @typeParam P gradient type of the model's own parameters (`undefined` when it has none to train)
 */
export interface VisibilityModel<P = undefined> {
  readonly numPhotodetectors: number;
  /** V at each point, [N, numPhotodetectors]. */
  evaluate(points: Float64Array): Float64Array;
  /**
   * Given dL/dV [N, numPhotodetectors], returns dL/dp [N, 3] and the gradient
   * of L with respect to the model's parameters.
   */
  backward(points: Float64Array, gradVisibility: Float64Array): { positions: Float64Array; parameters: P };
}

/** Wraps a voxel table as a {@link VisibilityModel} (trilinear, right-derivative convention). */
export function tableVisibilityModel(lib: PhotonLibrary, outside: OutsidePolicy = 'error'): VisibilityModel {
  return {
    numPhotodetectors: lib.meta.numPhotodetectors,
    evaluate: (points) => interpolateVisibilityRef(lib, points, outside),
    backward: (points, gradVisibility) => ({
      positions: interpolateVisibilityBackwardRef(lib, points, gradVisibility, outside),
      parameters: undefined,
    }),
  };
}

/** Options of {@link sirenVisibilityModel}. */
export interface SirenVisibilityOptions {
  /** Log transform the network was trained on; the default matches the published siren-lartpc configs (sinOut). */
  readonly transform?: VisibilityTransformOptions;
  /** Per-photodetector factor s_d on the network output before the inverse transform, [numPD]; default all 1. */
  readonly outputScale?: Float64Array;
  /** Points outside `box`: 'error' (default) or 'clamp'. */
  readonly outside?: OutsidePolicy;
}

/**
 * The SIREN surrogate of siren-lartpc as a {@link VisibilityModel}:
 * p (cm) → u = normalise(p, box) ∈ [−1, 1]³ → y = SIREN(u) → y' = s ⊙ y →
 * V = inverse log transform of y'. Its parameter gradient is a {@link SirenGrads}
 * whose `input` field holds dL/du.
 *
 * @throws ShapeError when config.inputDim ≠ 3 or outputScale has the wrong length
 */
export function sirenVisibilityModel(
  config: SirenConfig,
  params: SirenParams,
  box: DetectorBox,
  options: SirenVisibilityOptions = {},
): VisibilityModel<SirenGrads> {
  validateSirenConfig(config);
  validateSirenParams(config, params);
  if (config.inputDim !== 3) {
    throw new ShapeError(`a visibility SIREN takes (x, y, z), so config.inputDim must be 3, got ${config.inputDim}.`);
  }
  const nPd = config.outputDim;
  const transform = options.transform ?? { sinOut: true };
  const outside = options.outside ?? 'error';
  const scale = options.outputScale;
  if (scale !== undefined) {
    requireLength(scale, nPd, 'options.outputScale', `[numPhotodetectors] = [${nPd}] (config.outputDim)`);
    requireFinite(scale, 'options.outputScale');
  }
  const scaledOutput = (y: Float64Array): Float64Array =>
    scale === undefined ? y : y.map((v, i) => v * scale[i % nPd]!);
  return {
    numPhotodetectors: nPd,
    evaluate(points) {
      const u = normalizeCoordinatesRef(points, box, outside);
      return logToVisibilityRef(scaledOutput(sirenForwardRef(config, params, u).output), transform);
    },
    backward(points, gradVisibility) {
      const u = normalizeCoordinatesRef(points, box, outside);
      const fwd = sirenForwardRef(config, params, u);
      requireLength(gradVisibility, fwd.batch * nPd, 'gradVisibility', `[N, numPhotodetectors] = [${fwd.batch}, ${nPd}]`);
      const dvdy = logToVisibilityDerivativeRef(scaledOutput(fwd.output), transform);
      const gradY = gradVisibility.map((g, i) => g * dvdy[i]! * (scale === undefined ? 1 : scale[i % nPd]!));
      const grads = sirenBackwardRef(config, params, fwd, gradY);
      return { positions: normalizeCoordinatesBackwardRef(points, box, grads.input), parameters: grads };
    },
  };
}

function requireShift(shift: ArrayLike<number>): void {
  requireLength(shift, 3, 'shift', '[3] (Δx, Δy, Δz in cm)');
  requireFinite(shift, 'shift');
}

function shiftedPositions(positions: Float64Array, shift: ArrayLike<number>): Float64Array {
  return positions.map((v, i) => v + shift[i % 3]!);
}

function checkDeposits(positions: Float64Array, charges: Float64Array, shift: ArrayLike<number>): number {
  const n = rowsOf(positions, 3, 'positions', '[N, 3] (cm)');
  requireFinite(positions, 'positions', 3);
  if (charges.length !== n) {
    throw new ShapeError(`charges has ${charges.length} entries but positions has ${n} rows; give one photon count per deposit.`);
  }
  requireNonNegative(charges, 'charges', 'photon count');
  requireShift(shift);
  return n;
}

/**
 * PE_d = Σ_i V_d(p_i + Δ) q_i.
 *
 * @param positions p, [N, 3] cm
 * @param charges q, [N] photons
 * @param shift Δ, [3] cm (zeros for no shift)
 * @returns PE, [numPhotodetectors]
 */
export function flashHypothesisRef<P>(
  model: VisibilityModel<P>,
  positions: Float64Array,
  charges: Float64Array,
  shift: ArrayLike<number> = [0, 0, 0],
): Float64Array {
  const n = checkDeposits(positions, charges, shift);
  const nPd = model.numPhotodetectors;
  const vis = model.evaluate(shiftedPositions(positions, shift));
  const pe = new Float64Array(nPd);
  for (let i = 0; i < n; i++) {
    const q = charges[i]!;
    for (let d = 0; d < nPd; d++) pe[d] = pe[d]! + vis[i * nPd + d]! * q;
  }
  return pe;
}

/** Gradients of a scalar L(PE) returned by {@link flashHypothesisBackwardRef}. */
export interface FlashGrads<P> {
  /** dL/dΔ, [3]. */
  readonly shift: Float64Array;
  /** dL/dq_i = Σ_d dL/dPE_d · V_d(p_i + Δ), [N]. */
  readonly charges: Float64Array;
  /** dL/dp_i, [N, 3]. */
  readonly positions: Float64Array;
  /** Gradient for the model's parameters (SirenGrads for a SIREN, undefined for a table). */
  readonly parameters: P;
}

/**
 * Backward of {@link flashHypothesisRef} given dL/dPE.
 *
 * @param gradPE dL/dPE, [numPhotodetectors]
 */
export function flashHypothesisBackwardRef<P>(
  model: VisibilityModel<P>,
  positions: Float64Array,
  charges: Float64Array,
  shift: ArrayLike<number>,
  gradPE: Float64Array,
): FlashGrads<P> {
  const n = checkDeposits(positions, charges, shift);
  const nPd = model.numPhotodetectors;
  requirePdCount(gradPE.length, nPd, 'gradPE');
  const shifted = shiftedPositions(positions, shift);
  const vis = model.evaluate(shifted);
  const gradCharges = new Float64Array(n);
  const gradVis = new Float64Array(n * nPd);
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let d = 0; d < nPd; d++) {
      acc += gradPE[d]! * vis[i * nPd + d]!;
      gradVis[i * nPd + d] = gradPE[d]! * charges[i]!;
    }
    gradCharges[i] = acc;
  }
  const back = model.backward(shifted, gradVis);
  const gradShift = new Float64Array(3);
  for (let i = 0; i < n; i++) for (let a = 0; a < 3; a++) gradShift[a] = gradShift[a]! + back.positions[3 * i + a]!;
  return { shift: gradShift, charges: gradCharges, positions: back.positions, parameters: back.parameters };
}

function requirePdCount(got: number, expected: number, name: string): void {
  if (got !== expected) {
    throw new ShapeError(
      `${name} has ${got} photodetector entries but the visibility model has ${expected}; ` +
        `the observation and the model must describe the same photodetectors in the same order.`,
    );
  }
}

/** Result of {@link flashMatchPoissonRef}: the NLL and all its gradients. */
export interface FlashMatchResult<P> extends FlashGrads<P> {
  /** Poisson NLL of the observed flash given the hypothesis. */
  readonly loss: number;
  /** The hypothesis PE, [numPhotodetectors]. */
  readonly hypothesis: Float64Array;
}

/**
 * Flash-matching objective: Poisson NLL of the observed PE given the
 * hypothesis for a charge cluster shifted by Δ, with gradients for Δ, q, p
 * and the model parameters.
 *
 * @param observed PE per photodetector, [numPhotodetectors]
 * @throws ShapeError when `observed` and the model have different photodetector counts
 */
export function flashMatchPoissonRef<P>(
  model: VisibilityModel<P>,
  positions: Float64Array,
  charges: Float64Array,
  shift: ArrayLike<number>,
  observed: Float64Array,
  options: PoissonNllOptions = {},
): FlashMatchResult<P> {
  requirePdCount(observed.length, model.numPhotodetectors, 'observed');
  const hypothesis = flashHypothesisRef(model, positions, charges, shift);
  const { loss, gradPred } = poissonNllRef(hypothesis, observed, options);
  return { loss, hypothesis, ...flashHypothesisBackwardRef(model, positions, charges, shift, gradPred) };
}

/**
 * Scintillation yield of liquid argon for minimum-ionising particles at zero
 * electric field, ≈ 4.0×10⁴ photons/MeV (W_ph ≈ 25 eV; Doke et al., Jpn. J.
 * Appl. Phys. 41 (2002) 1538). Drift fields and dense ionisation reduce it
 * (LArSoft's default `ScintYield` is 2.4×10⁴ photons/MeV, used together with
 * its own quenching model): pass the yield that fits your field and particle.
 */
export const LAR_SCINTILLATION_YIELD_PER_MEV = 40_000;

/**
 * Photons emitted per deposit, q_i = lightYield · dE_i.
 *
 * @param energyMeV dE, [N] MeV, each ≥ 0
 * @param lightYield photons per MeV, default {@link LAR_SCINTILLATION_YIELD_PER_MEV}
 * @returns q, [N] photons
 */
export function photonsFromEnergy(
  energyMeV: ArrayLike<number>,
  lightYield: number = LAR_SCINTILLATION_YIELD_PER_MEV,
): Float64Array {
  requirePositive(lightYield, 'lightYield');
  requireNonNegative(energyMeV, 'energyMeV', 'deposited energy');
  return Float64Array.from(energyMeV, (e) => e * lightYield);
}

/** Checks a visibility model against an observation up front, for callers that keep several. */
export function requireMatchingPhotodetectors<P>(model: VisibilityModel<P>, observed: ArrayLike<number>): void {
  if (!Number.isInteger(model.numPhotodetectors) || model.numPhotodetectors < 1) {
    throw new InputValueError(`model.numPhotodetectors must be a positive integer, got ${show(model.numPhotodetectors)}.`);
  }
  requirePdCount(observed.length, model.numPhotodetectors, 'observed');
}
