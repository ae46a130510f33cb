/**
 * Float64 references for the quantities around a visibility model: the
 * log-scale transform used to train SIREN on photon libraries, its inverse and
 * derivatives, the visibility-weighted L2 loss, the Poisson likelihood of
 * observed photoelectrons, detector-box coordinate normalisation, and the
 * visibility-bias accuracy metric. Conventions follow the siren-lartpc
 * training code (Lei, Tsang, Terao et al., arXiv:2211.01505); see
 * docs/photon.md for the equations.
 *
 * @module
 */

import { InputValueError, ShapeError, show } from '../../errors.js';
import {
  type Box3,
  requireBox,
  requireFinite,
  requireInsideBox,
  requireNonNegative,
  requirePositive,
  rowsOf,
} from './checks.js';

/** ε of the log transform: the smallest visibility the log scale resolves. */
export const VIS_LOG_EPSILON = 1e-7;

/** Parameters of the log transform. */
export interface VisibilityTransformOptions {
  /** Floor ε added before the logarithm; default 1e-7. */
  readonly epsilon?: number;
  /** Visibility mapped to the top of the scale; default 1. */
  readonly vmax?: number;
  /**
   * false (default): y ∈ [0, 1]. true: y' = 2y − 1 ∈ [−1, 1], the range of a
   * sine output layer (siren-lartpc's published configs set this).
   */
  readonly sinOut?: boolean;
}

interface TransformConstants {
  readonly eps: number;
  readonly log10Eps: number;
  /** log10(vmax + ε) − log10(ε). */
  readonly span: number;
  /** dy'/dy: 2 for sinOut, else 1. */
  readonly scale: number;
  readonly shift: number;
}

function transformConstants(options: VisibilityTransformOptions): TransformConstants {
  const eps = options.epsilon ?? VIS_LOG_EPSILON;
  const vmax = options.vmax ?? 1;
  requirePositive(eps, 'options.epsilon');
  requirePositive(vmax, 'options.vmax');
  const log10Eps = Math.log10(eps);
  return {
    eps,
    log10Eps,
    span: Math.log10(vmax + eps) - log10Eps,
    scale: options.sinOut ? 2 : 1,
    shift: options.sinOut ? -1 : 0,
  };
}

/**
 * Log transform y = (log10(v + ε) − log10 ε) / (log10(vmax + ε) − log10 ε),
 * then 2y − 1 when `sinOut`.
 *
 * @param visibility v ≥ 0 (probability per photon), any shape
 * @returns y, same shape
 * @throws InputValueError for a negative or non-finite visibility
 */
export function visibilityToLogRef(visibility: ArrayLike<number>, options: VisibilityTransformOptions = {}): Float64Array {
  const c = transformConstants(options);
  requireNonNegative(visibility, 'visibility', 'visibility');
  const y = new Float64Array(visibility.length);
  for (let i = 0; i < y.length; i++) {
    y[i] = (c.scale * (Math.log10(visibility[i]! + c.eps) - c.log10Eps)) / c.span + c.shift;
  }
  return y;
}

/**
 * Inverse transform v = 10^(y·D + log10 ε) − ε with D = log10(vmax+ε) − log10 ε
 * (y first mapped back from [−1, 1] when `sinOut`). Any finite y is accepted;
 * y below the bottom of the scale gives v slightly below 0, as in training.
 */
export function logToVisibilityRef(y: ArrayLike<number>, options: VisibilityTransformOptions = {}): Float64Array {
  const c = transformConstants(options);
  requireFinite(y, 'y');
  const v = new Float64Array(y.length);
  for (let i = 0; i < v.length; i++) {
    const u = (y[i]! - c.shift) / c.scale;
    v[i] = Math.pow(10, u * c.span + c.log10Eps) - c.eps;
  }
  return v;
}

/** dy/dv = scale / ((v + ε) ln 10 · D), elementwise, for v ≥ 0. */
export function visibilityToLogDerivativeRef(
  visibility: ArrayLike<number>,
  options: VisibilityTransformOptions = {},
): Float64Array {
  const c = transformConstants(options);
  requireNonNegative(visibility, 'visibility', 'visibility');
  const g = new Float64Array(visibility.length);
  for (let i = 0; i < g.length; i++) g[i] = c.scale / ((visibility[i]! + c.eps) * Math.LN10 * c.span);
  return g;
}

/** dv/dy = (v + ε) ln 10 · D / scale, elementwise, evaluated at the given y. */
export function logToVisibilityDerivativeRef(y: ArrayLike<number>, options: VisibilityTransformOptions = {}): Float64Array {
  const c = transformConstants(options);
  requireFinite(y, 'y');
  const g = new Float64Array(y.length);
  for (let i = 0; i < g.length; i++) {
    const u = (y[i]! - c.shift) / c.scale;
    g[i] = (Math.pow(10, u * c.span + c.log10Eps) * Math.LN10 * c.span) / c.scale;
  }
  return g;
}

/** Parameters of the visibility-based loss weight. */
export interface VisibilityWeightOptions {
  /** Multiplier applied to visibility; default 1e6. */
  readonly factor?: number;
  /** Threshold below which the weight is replaced by 1; default 1e-8. */
  readonly threshold?: number;
  /**
   * What is compared with `threshold`:
   * 'weight' (default, as in siren-lartpc): w = 1 where factor·v < threshold;
   * 'visibility': w = 1 where v < threshold.
   */
  readonly compare?: 'weight' | 'visibility';
}

/**
 * Per-voxel loss weight w = factor · v, replaced by exactly 1 where the
 * compared quantity is below `threshold` (strict <). With the defaults and
 * `compare = 'weight'` this means w = 1 for v < 1e-14, and w = 10⁶ v (less
 * than 1 for v < 10⁻⁶) otherwise; see docs/photon.md for why this is kept.
 *
 * @param visibility v ≥ 0, any shape
 */
export function visibilityLossWeightsRef(
  visibility: ArrayLike<number>,
  options: VisibilityWeightOptions = {},
): Float64Array {
  const factor = options.factor ?? 1e6;
  const threshold = options.threshold ?? 1e-8;
  const compare = options.compare ?? 'weight';
  requirePositive(factor, 'options.factor');
  if (!Number.isFinite(threshold)) throw new InputValueError(`options.threshold must be finite, got ${show(threshold)}.`);
  if (compare !== 'weight' && compare !== 'visibility') {
    throw new InputValueError(`options.compare must be 'weight' or 'visibility', got ${show(compare)}.`);
  }
  requireNonNegative(visibility, 'visibility', 'visibility');
  const w = new Float64Array(visibility.length);
  for (let i = 0; i < w.length; i++) {
    const v = visibility[i]!;
    const raw = factor * v;
    w[i] = (compare === 'weight' ? raw : v) < threshold ? 1 : raw;
  }
  return w;
}

/** How a per-element loss is reduced to a scalar. */
export type LossReduction = 'mean' | 'sum';

/** A scalar loss and its gradient with respect to the prediction. */
export interface LossWithGradient {
  readonly loss: number;
  /** dL/dpred, same shape as pred. */
  readonly gradPred: Float64Array;
}

function requireSameLength(a: ArrayLike<number>, b: ArrayLike<number>, nameA: string, nameB: string): void {
  if (a.length !== b.length) {
    throw new ShapeError(`${nameA} has ${a.length} elements but ${nameB} has ${b.length}; they must match elementwise.`);
  }
}

/**
 * Weighted L2 loss L = R_i w_i (p_i − t_i)², with R the mean (default, as
 * siren-lartpc's training) or the sum over all elements; p and t are
 * log-scale values. dL/dp_i = 2 w_i (p_i − t_i) / N for the mean.
 *
 * @param pred p, any shape
 * @param target t, same shape as pred
 * @param weight w, same shape as pred; omitted means all ones
 */
export function weightedL2LossRef(
  pred: ArrayLike<number>,
  target: ArrayLike<number>,
  weight?: ArrayLike<number>,
  reduction: LossReduction = 'mean',
): LossWithGradient {
  requireSameLength(pred, target, 'pred', 'target');
  if (weight !== undefined) requireSameLength(pred, weight, 'pred', 'weight');
  requireFinite(pred, 'pred');
  requireFinite(target, 'target');
  if (weight !== undefined) requireFinite(weight, 'weight');
  const n = pred.length;
  const norm = reduction === 'mean' ? (n > 0 ? 1 / n : 0) : 1;
  let loss = 0;
  const gradPred = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const w = weight === undefined ? 1 : weight[i]!;
    const r = pred[i]! - target[i]!;
    loss += w * r * r;
    gradPred[i] = 2 * w * r * norm;
  }
  return { loss: loss * norm, gradPred };
}

// Lanczos approximation (g = 7, 9 terms); relative error ~1e-15 for x > 0.
const LANCZOS_G = 7;
const LANCZOS_COEF = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
] as const;

/**
 * ln Γ(x) for real x > 0 (Lanczos approximation; reflection formula below
 * 0.5). Used for the constant term ln(k!) = ln Γ(k + 1) of the Poisson NLL.
 */
export function logGamma(x: number): number {
  if (!(x > 0) || !Number.isFinite(x)) {
    throw new InputValueError(`logGamma needs a finite x > 0, got ${show(x)}.`);
  }
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const xm = x - 1;
  let a = LANCZOS_COEF[0];
  for (let i = 1; i < LANCZOS_COEF.length; i++) a += LANCZOS_COEF[i]! / (xm + i);
  const t = xm + LANCZOS_G + 0.5;
  return 0.5 * Math.log(2 * Math.PI) + (xm + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Options of {@link poissonNllRef}. */
export interface PoissonNllOptions {
  /** Add ln Γ(k + 1) so the value is the true negative log-likelihood; default false (constant in λ). */
  readonly full?: boolean;
  /** Guard added inside the log so λ → 0 stays finite; default 1e-8 PE. */
  readonly epsilon?: number;
  /** Default 'sum' (independent channels multiply likelihoods). */
  readonly reduction?: LossReduction;
}

/**
 * Poisson negative log-likelihood of observed photoelectrons k given the
 * prediction λ: L = R_i [λ_i − k_i ln(λ_i + ε) (+ ln Γ(k_i + 1))], with
 * dL/dλ_i = 1 − k_i / (λ_i + ε) (divided by N for the mean). k need not be an
 * integer (charge-integrated PE are fractional).
 *
 * @param pred λ ≥ 0 expected PE, any shape
 * @param observed k ≥ 0 observed PE, same shape
 * @throws ShapeError when lengths differ (e.g. different photodetector counts)
 */
export function poissonNllRef(
  pred: ArrayLike<number>,
  observed: ArrayLike<number>,
  options: PoissonNllOptions = {},
): LossWithGradient {
  const eps = options.epsilon ?? 1e-8;
  requirePositive(eps, 'options.epsilon');
  requireSameLength(pred, observed, 'pred', 'observed');
  requireNonNegative(pred, 'pred', 'predicted photoelectron count');
  requireNonNegative(observed, 'observed', 'observed photoelectron count');
  const n = pred.length;
  const norm = (options.reduction ?? 'sum') === 'mean' ? (n > 0 ? 1 / n : 0) : 1;
  let loss = 0;
  const gradPred = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const lam = pred[i]! + eps;
    const k = observed[i]!;
    loss += pred[i]! - k * Math.log(lam) + (options.full ? logGamma(k + 1) : 0);
    gradPred[i] = (1 - k / lam) * norm;
  }
  return { loss: loss * norm, gradPred };
}

/** Axis-aligned detector box in cm. */
export type DetectorBox = Box3;

/** What to do with points outside the detector box. */
export type OutsidePolicy = 'error' | 'clamp';

/**
 * Maps positions in cm to [−1, 1]³: u_a = 2 (p_a − min_a)/(max_a − min_a) − 1.
 * Points outside the closed box throw InputValueError naming the row and
 * coordinate, unless `outside = 'clamp'`, which clamps to the box first
 * (the clamped coordinate then has zero derivative, see
 * {@link normalizeCoordinatesBackwardRef}).
 *
 * @param points [N, 3] in cm
 * @returns [N, 3] in [−1, 1]
 */
export function normalizeCoordinatesRef(
  points: ArrayLike<number>,
  box: DetectorBox,
  outside: OutsidePolicy = 'error',
): Float64Array {
  requireBox(box, 'box');
  const n = rowsOf(points, 3, 'points', '[N, 3]');
  if (outside === 'error') {
    requireInsideBox(points, box, 'points', "move the point inside, or pass outside = 'clamp' to clamp it to the box.");
  } else {
    requireFinite(points, 'points', 3);
  }
  const u = new Float64Array(n * 3);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < 3; a++) {
      const lo = box.min[a]!;
      const hi = box.max[a]!;
      const p = Math.min(hi, Math.max(lo, points[3 * i + a]!));
      u[3 * i + a] = (2 * (p - lo)) / (hi - lo) - 1;
    }
  }
  return u;
}

/** Inverse of {@link normalizeCoordinatesRef}: p = min + (u + 1)(max − min)/2, [N, 3] → cm. */
export function denormalizeCoordinatesRef(normalized: ArrayLike<number>, box: DetectorBox): Float64Array {
  requireBox(box, 'box');
  const n = rowsOf(normalized, 3, 'normalized', '[N, 3]');
  requireFinite(normalized, 'normalized', 3);
  const p = new Float64Array(n * 3);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < 3; a++) {
      const lo = box.min[a]!;
      const hi = box.max[a]!;
      p[3 * i + a] = lo + ((normalized[3 * i + a]! + 1) * (hi - lo)) / 2;
    }
  }
  return p;
}

/**
 * Chain rule through the normalisation: dL/dp_a = dL/du_a · 2/(max_a − min_a),
 * and 0 for a coordinate that lies strictly outside the box (it was clamped,
 * so u does not move with it).
 *
 * @param points [N, 3] cm, the positions that were normalised
 * @param gradNormalized dL/du, [N, 3]
 * @returns dL/dp, [N, 3] in cm⁻¹ units of L
 */
export function normalizeCoordinatesBackwardRef(
  points: ArrayLike<number>,
  box: DetectorBox,
  gradNormalized: ArrayLike<number>,
): Float64Array {
  requireBox(box, 'box');
  const n = rowsOf(points, 3, 'points', '[N, 3]');
  requireSameLength(points, gradNormalized, 'points', 'gradNormalized');
  const g = new Float64Array(n * 3);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < 3; a++) {
      const lo = box.min[a]!;
      const hi = box.max[a]!;
      const p = points[3 * i + a]!;
      g[3 * i + a] = p < lo || p > hi ? 0 : (gradNormalized[3 * i + a]! * 2) / (hi - lo);
    }
  }
  return g;
}

/** Result of {@link visibilityBiasRef}. */
export interface VisibilityBias {
  /** mean of 2|p − t|/(p + t) over the selected elements; NaN when none is selected. */
  readonly value: number;
  /** Number of elements with t > threshold. */
  readonly count: number;
}

/**
 * siren-lartpc's accuracy metric ("visibility bias"): the mean of
 * 2|p − t|/(p + t) over the elements whose target t exceeds `threshold`
 * (strict >, default 4.5e-5), computed on linear-scale visibilities.
 *
 * @param pred p, any shape
 * @param target t, same shape
 */
export function visibilityBiasRef(
  pred: ArrayLike<number>,
  target: ArrayLike<number>,
  threshold = 4.5e-5,
): VisibilityBias {
  requireSameLength(pred, target, 'pred', 'target');
  requireFinite(pred, 'pred');
  requireFinite(target, 'target');
  let sum = 0;
  let count = 0;
  for (let i = 0; i < pred.length; i++) {
    const t = target[i]!;
    if (!(t > threshold)) continue;
    const p = pred[i]!;
    sum += (2 * Math.abs(p - t)) / (p + t);
    count++;
  }
  return { value: count > 0 ? sum / count : Number.NaN, count };
}
