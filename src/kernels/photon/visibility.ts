/**
 * Visibility utilities on the GPU as tape ops: the log transform and its
 * inverse, loss weights, the weighted L2 loss in log space, the Poisson NLL
 * of photoelectrons, and detector-box coordinate normalisation. WGSL:
 * `src/wgsl/photon/visibility.wgsl`; reference: `visibility.reference.ts`.
 *
 * @module
 */
import { InputValueError, ShapeError, show } from '../../errors.js';
import { defineOp } from '../../autodiff/tape.js';
import type { GpuContext } from '../../runtime/context.js';
import type { KernelSpec } from '../../runtime/kernel.js';
import { empty, tensor, type Tensor } from '../../runtime/tensor.js';
import { wgsl } from '../../wgsl/index.js';
import { checkDType, checkSameShape } from '../checks.js';
import { reduceSum } from '../core/reduce.js';
import { AXIS_NAMES, type Box3, requireBox } from './checks.js';
import {
  VIS_LOG_EPSILON,
  type LossReduction,
  type OutsidePolicy,
  type PoissonNllOptions,
  type VisibilityTransformOptions,
  type VisibilityWeightOptions,
} from './visibility.reference.js';

const WG = 256;
const source = wgsl('photon/visibility');
const specs = new Map<string, KernelSpec>();
function spec(entryPoint: string): KernelSpec {
  let s = specs.get(entryPoint);
  if (!s) specs.set(entryPoint, (s = { name: `photon.${entryPoint}`, source, entryPoint }));
  return s;
}

function placeholder(ctx: GpuContext): Tensor {
  return empty(ctx, [1], 'f32', { label: 'visibility.unused' });
}

// ---------------------------------------------------------------- log transform

interface LogConstants {
  n: number;
  eps: number;
  log10_eps: number;
  span: number;
  scale: number;
  shift: number;
}

function logConstants(op: string, options: VisibilityTransformOptions, n: number): LogConstants {
  const eps = options.epsilon ?? VIS_LOG_EPSILON;
  const vmax = options.vmax ?? 1;
  for (const [name, v] of [['epsilon', eps], ['vmax', vmax]] as const) {
    if (!(Number.isFinite(v) && v > 0)) throw new InputValueError(`${op}: options.${name} = ${show(v)} must be a finite number > 0`);
  }
  const log10Eps = Math.log10(eps);
  return {
    n,
    eps,
    log10_eps: log10Eps,
    span: Math.log10(vmax + eps) - log10Eps,
    scale: options.sinOut ? 2 : 1,
    shift: options.sinOut ? -1 : 0,
  };
}

function elementwise(entry: string, like: Tensor, bindings: Record<string, Tensor | object>, n = like.size): Tensor {
  const ctx = like.ctx;
  const out = empty(ctx, like.shape);
  if (n > 0) ctx.run(spec(entry), { ...bindings, vout: out } as never, ctx.grid(n, WG));
  return out;
}

const toLogOp = defineOp<LogConstants>({
  name: 'visibilityToLog',
  forward: ([v], c, saver) => {
    saver.save(v!);
    return elementwise('to_log', v!, { va: v!, lp: { ...c } });
  },
  vjp: ({ gradOutputs: [g], saved: [v], attrs: c }) => [elementwise('to_log_backward', v!, { va: v!, vb: g!, lp: { ...c } })],
});

/**
 * Log transform of visibilities, y = (log10(v + ε) − log10 ε) / (log10(vmax + ε) − log10 ε),
 * then 2y − 1 with `sinOut` (see docs/photon.md). Differentiable.
 *
 * @param visibility v ≥ 0, any shape (negative values give NaN, as log does)
 * @returns y, same shape
 */
export function visibilityToLog(visibility: Tensor, options: VisibilityTransformOptions = {}): Tensor {
  checkDType('visibilityToLog', 'visibility', visibility);
  return toLogOp([visibility], logConstants('visibilityToLog', options, visibility.size))[0]!;
}

const fromLogOp = defineOp<LogConstants>({
  name: 'logToVisibility',
  forward: ([y], c, saver) => {
    const v = elementwise('from_log', y!, { va: y!, lp: { ...c } });
    saver.save(v);
    return v;
  },
  vjp: ({ gradOutputs: [g], saved: [v], attrs: c }) => [elementwise('from_log_backward', v!, { va: v!, vb: g!, lp: { ...c } })],
});

/**
 * Inverse log transform v = 10^(y·D + log10 ε) − ε (y first mapped from
 * [−1, 1] with `sinOut`). Differentiable.
 *
 * @param y any shape
 * @returns visibilities, same shape
 */
export function logToVisibility(y: Tensor, options: VisibilityTransformOptions = {}): Tensor {
  checkDType('logToVisibility', 'y', y);
  return fromLogOp([y], logConstants('logToVisibility', options, y.size))[0]!;
}

// ---------------------------------------------------------------- losses

function lossUniform(n: number, o: Partial<{ has_w: number; factor: number; eps: number; full: number; threshold: number; compare_weight: number }>) {
  return { n, has_w: 0, factor: 1, eps: 0, full: 0, threshold: 0, compare_weight: 0, ...o };
}

/**
 * Per-element loss weights w = factor·v, replaced by 1 where the compared
 * quantity is below `threshold` (siren-lartpc's convention; see
 * {@link VisibilityWeightOptions}). Not differentiable (weights are data).
 *
 * @param visibility v ≥ 0, any shape
 */
export function visibilityLossWeights(visibility: Tensor, options: VisibilityWeightOptions = {}): Tensor {
  checkDType('visibilityLossWeights', 'visibility', visibility);
  const factor = options.factor ?? 1e6;
  const threshold = options.threshold ?? 1e-8;
  const compare = options.compare ?? 'weight';
  if (!(Number.isFinite(factor) && factor > 0)) throw new InputValueError(`visibilityLossWeights: options.factor = ${show(factor)} must be finite and > 0`);
  if (!Number.isFinite(threshold)) throw new InputValueError(`visibilityLossWeights: options.threshold = ${show(threshold)} must be finite`);
  if (compare !== 'weight' && compare !== 'visibility') {
    throw new InputValueError(`visibilityLossWeights: options.compare = ${show(compare)}; use 'weight' or 'visibility'`);
  }
  return elementwise('loss_weights', visibility, {
    va: visibility,
    ls: lossUniform(visibility.size, { factor, threshold, compare_weight: compare === 'weight' ? 1 : 0 }),
  });
}

interface L2Attrs {
  norm: number;
  hasWeight: boolean;
}

const weightedL2Op = defineOp<L2Attrs>({
  name: 'weightedL2Loss',
  forward: (inputs, { norm, hasWeight }, saver) => {
    const [pred, target, weight] = inputs;
    saver.save(...inputs);
    const ctx = pred!.ctx;
    const spare = hasWeight ? null : placeholder(ctx);
    const terms = elementwise('weighted_sq', pred!, {
      va: pred!,
      vb: target!,
      vc: weight ?? spare!,
      ls: lossUniform(pred!.size, { has_w: hasWeight ? 1 : 0 }),
    });
    const loss = reduceSum(terms, norm);
    terms.dispose();
    spare?.dispose();
    return loss;
  },
  vjp: ({ gradOutputs: [g], saved, attrs: { norm, hasWeight }, needsGrad }) => {
    const [pred, target, weight] = saved;
    const ctx = pred!.ctx;
    const spare = placeholder(ctx);
    const grad = (factor: number) =>
      elementwise('weighted_sq_backward', pred!, {
        va: pred!,
        vb: target!,
        vc: weight ?? spare,
        gs: g!,
        ls: lossUniform(pred!.size, { has_w: hasWeight ? 1 : 0, factor }),
      });
    const out = [needsGrad[0] ? grad(2 * norm) : null, needsGrad[1] ? grad(-2 * norm) : null];
    return hasWeight ? [...out, null] : out;
  },
});

/**
 * Weighted L2 loss L = R_i w_i (p_i − t_i)² (R = mean or sum), a [1] tensor;
 * p and t are log-scale values. Gradients for `pred` and `target`; the
 * weights are data.
 *
 * @param pred p, any shape
 * @param target t, same shape as pred
 * @param weight w, same shape as pred; omitted means all ones
 * @throws ShapeError when shapes differ
 */
export function weightedL2Loss(pred: Tensor, target: Tensor, weight?: Tensor, reduction: LossReduction = 'mean'): Tensor {
  checkDType('weightedL2Loss', 'pred', pred);
  checkDType('weightedL2Loss', 'target', target);
  checkSameShape('weightedL2Loss', 'pred', pred, 'target', target);
  if (weight) {
    checkDType('weightedL2Loss', 'weight', weight);
    checkSameShape('weightedL2Loss', 'pred', pred, 'weight', weight);
  }
  checkReduction('weightedL2Loss', reduction);
  const n = pred.size;
  const norm = reduction === 'mean' ? (n > 0 ? 1 / n : 0) : 1;
  return weightedL2Op(weight ? [pred, target, weight] : [pred, target], { norm, hasWeight: weight !== undefined })[0]!;
}

function checkReduction(op: string, r: string): void {
  if (r !== 'mean' && r !== 'sum') throw new InputValueError(`${op}: reduction = ${show(r)}; use 'mean' or 'sum'`);
}

interface PoissonAttrs {
  norm: number;
  eps: number;
  full: boolean;
}

const poissonOp = defineOp<PoissonAttrs>({
  name: 'poissonNll',
  forward: ([pred, observed], { norm, eps, full }, saver) => {
    saver.save(pred!, observed!);
    const terms = elementwise('poisson_terms', pred!, { va: pred!, vb: observed!, ls: lossUniform(pred!.size, { eps, full: full ? 1 : 0 }) });
    const loss = reduceSum(terms, norm);
    terms.dispose();
    return loss;
  },
  vjp: ({ gradOutputs: [g], saved: [pred, observed], attrs: { norm, eps }, needsGrad }) => [
    needsGrad[0]
      ? elementwise('poisson_backward', pred!, { va: pred!, vb: observed!, gs: g!, ls: lossUniform(pred!.size, { eps, factor: norm }) })
      : null,
    null,
  ],
});

/**
 * Poisson negative log-likelihood of observed photoelectrons k given the
 * prediction λ: L = R_d [λ_d − k_d ln(λ_d + ε) (+ ln Γ(k_d + 1) with `full`)],
 * a [1] tensor; default reduction 'sum'. Gradient for `pred` only (k is data).
 *
 * @param pred λ ≥ 0, [numPhotodetectors] (or any shape)
 * @param observed k ≥ 0, same shape
 * @throws ShapeError when the photodetector counts (shapes) differ
 */
export function poissonNll(pred: Tensor, observed: Tensor, options: PoissonNllOptions = {}): Tensor {
  checkDType('poissonNll', 'pred', pred);
  checkDType('poissonNll', 'observed', observed);
  if (pred.shape.join() !== observed.shape.join()) {
    throw new ShapeError(
      `poissonNll: pred has shape ${show(pred.shape)} but observed has shape ${show(observed.shape)}; the hypothesis and the ` +
        'observation must describe the same photodetectors in the same order',
    );
  }
  const eps = options.epsilon ?? 1e-8;
  if (!(Number.isFinite(eps) && eps > 0)) throw new InputValueError(`poissonNll: options.epsilon = ${show(eps)} must be finite and > 0`);
  const reduction = options.reduction ?? 'sum';
  checkReduction('poissonNll', reduction);
  const n = pred.size;
  const norm = reduction === 'mean' ? (n > 0 ? 1 / n : 0) : 1;
  return poissonOp([pred, observed], { norm, eps, full: options.full ?? false })[0]!;
}

// ---------------------------------------------------------------- coordinates

function boxUniform(box: Box3, n: number) {
  return { n, lo: [box.min[0], box.min[1], box.min[2], 0], hi: [box.max[0], box.max[1], box.max[2], 1] };
}

function checkPoints(op: string, points: Tensor): void {
  checkDType(op, 'points', points);
  if (points.rank !== 2 || points.shape[1] !== 3) {
    throw new ShapeError(`${op}: points has shape ${show(points.shape)}; it must be [N, 3] (x, y, z in cm)`);
  }
}

/** A tensor to check with {@link checkNonNegative}, and how to name it in the error. */
export interface NonNegativeCheck {
  readonly tensor: Tensor;
  /** What it is, e.g. `'flashHypothesis charges'`. */
  readonly name: string;
  /** Unit of its values, e.g. `'photons'`. */
  readonly unit: string;
}

/**
 * Checks on the GPU that every element of each tensor is finite and ≥ 0
 * (photon counts, observed PE): one dispatch per tensor, one readback for
 * all. The cost is that round trip; a check that fails reads the offending
 * value back to name it.
 *
 * @throws InputValueError naming the tensor, the element and its value
 */
export async function checkNonNegative(checks: readonly NonNegativeCheck[]): Promise<void> {
  const live = checks.filter((c) => c.tensor.size > 0);
  if (live.length === 0) return;
  for (const c of live) checkDType('checkNonNegative', c.name, c.tensor);
  const ctx = live[0]!.tensor.ctx;
  const first = tensor(ctx, new Uint32Array(live.length).fill(0xffffffff), [live.length], { dtype: 'u32' });
  try {
    live.forEach((c, slot) => ctx.run(spec('nonneg_check'), { va: c.tensor, first, cp: { n: c.tensor.size, slot } }, ctx.grid(c.tensor.size, WG)));
    const found = new Uint32Array(await first.read());
    for (let k = 0; k < live.length; k++) {
      const e = found[k]!;
      if (e === 0xffffffff) continue;
      const c = live[k]!;
      const value = new Float32Array(await ctx.readBuffer(c.tensor.buffer, c.tensor.byteOffset + e * 4, 4))[0]!;
      throw new InputValueError(`${c.name}[${e}] = ${show(value)} ${c.unit}; it must be a finite number ≥ 0`);
    }
  } finally {
    first.dispose();
  }
}

/**
 * Throws InputValueError naming the first point (row, axis, value) outside the
 * closed box, or a NaN coordinate. Runs a GPU check and reads back one index.
 *
 * @param points [N, 3] cm
 * @param fix what the message tells the caller to do
 */
export async function checkPointsInBox(points: Tensor, box: Box3, name = 'points', fix = "move the point inside, or pass outside = 'clamp'"): Promise<void> {
  requireBox(box, 'box');
  checkPoints('checkPointsInBox', points);
  const ctx = points.ctx;
  const n = points.size;
  if (n === 0) return;
  const first = tensor(ctx, new Uint32Array([0xffffffff]), [1], { dtype: 'u32' });
  try {
    ctx.run(spec('box_check'), { va: points, first, bp: boxUniform(box, n) }, ctx.grid(n, WG));
    const [e] = new Uint32Array(await first.read());
    if (e === undefined || e === 0xffffffff) return;
    const row = Math.floor(e / 3);
    const axis = e % 3;
    const value = new Float32Array(await ctx.readBuffer(points.buffer, points.byteOffset + e * 4, 4))[0]!;
    throw new InputValueError(
      `${name} row ${row} has ${AXIS_NAMES[axis]} = ${show(value)} cm, outside the detector box ` +
        `[${show(box.min[axis])}, ${show(box.max[axis])}] cm on that axis; ${fix}`,
    );
  } finally {
    first.dispose();
  }
}

interface BoxAttrs {
  box: Box3;
}

const normalizeOp = defineOp<BoxAttrs>({
  name: 'normalizeCoordinates',
  forward: ([p], { box }, saver) => {
    saver.save(p!);
    return elementwise('normalize_coords', p!, { va: p!, bp: boxUniform(box, p!.size) });
  },
  vjp: ({ gradOutputs: [g], saved: [p], attrs: { box } }) => [
    elementwise('normalize_coords_backward', p!, { va: p!, vb: g!, bp: boxUniform(box, p!.size) }),
  ],
});

/**
 * Maps positions in cm to the network's input range, u = 2 (p − min)/(max − min) − 1 ∈ [−1, 1]³.
 * Differentiable (du/dp = 2/(max − min); 0 for a clamped coordinate).
 *
 * With `outside = 'error'` (default) this first checks every point on the
 * GPU and throws InputValueError naming the first offending row, axis and
 * value (hence async); `'clamp'` clamps to the box without a check.
 *
 * @param points [N, 3] cm
 * @returns u, [N, 3]
 */
export async function normalizeCoordinates(points: Tensor, box: Box3, outside: OutsidePolicy = 'error'): Promise<Tensor> {
  checkPoints('normalizeCoordinates', points);
  requireBox(box, 'box');
  checkOutsidePolicy('normalizeCoordinates', outside);
  if (outside === 'error') await checkPointsInBox(points, box);
  return normalizeCoordinatesUnchecked(points, box);
}

/** {@link normalizeCoordinates} with clamping and no check (synchronous). */
export function normalizeCoordinatesUnchecked(points: Tensor, box: Box3): Tensor {
  checkPoints('normalizeCoordinates', points);
  requireBox(box, 'box');
  return normalizeOp([points], { box })[0]!;
}

/** Throws InputValueError unless `outside` is 'error' or 'clamp' (shared by the photon ops). */
export function checkOutsidePolicy(op: string, outside: string): void {
  if (outside !== 'error' && outside !== 'clamp') throw new InputValueError(`${op}: outside = ${show(outside)}; use 'error' or 'clamp'`);
}
