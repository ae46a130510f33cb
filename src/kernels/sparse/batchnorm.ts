/**
 * BatchNorm over the active sites of a sparse tensor, optionally fused with
 * the LeakyReLU that follows it: a tape op on the features with WGSL forward
 * and backward (`src/wgsl/sparse/norm.wgsl`, three dispatches each way), and
 * a small module class that owns gamma, beta and the running statistics.
 * Float64 reference: `ops.reference.ts` (`batchNormForward` /
 * `batchNormBackward`).
 *
 * Conventions (PyTorch's BatchNorm1d over the N active sites; absent sites
 * do not exist, they are not zeros):
 * - training: normalise with the batch mean and the **biased** variance (÷N);
 *   running ← (1 − momentum)·running + momentum·batch, using the **unbiased**
 *   variance (÷(N − 1)) for the running variance. Needs N ≥ 2.
 * - eval: normalise with the running statistics.
 * - defaults eps = 1e-5, momentum = 0.1. SparseConvNet's momentum m
 *   (running ← m·running + (1 − m)·batch) corresponds to momentum = 1 − m.
 *
 * Determinism: every per-channel reduction has a fixed shape (chunks of
 * rows, then one merge; common/column-chunks.wgsl), and the variance is
 * two-pass within each chunk, combined pairwise (Chan et al.), so results
 * are bitwise reproducible for a given N and C.
 *
 * @module
 */
import { AutodiffError, checkOptionKeys, DisposedError, InputValueError, ShapeError, show } from '../../errors.js';
import { defineOp } from '../../autodiff/tape.js';
import type { GpuContext } from '../../runtime/context.js';
import type { KernelSpec } from '../../runtime/kernel.js';
import { empty, tensor, type Tensor } from '../../runtime/tensor.js';
import { wgsl } from '../../wgsl/index.js';
import { chunkPlan, type ChunkPlan } from './columns.js';
import { checkChannelVector, checkRange, checkSparse } from './op-checks.js';
import type { SparseTensor } from './sparse-tensor.js';

const WG = 256;
type NormEntry = 'bn_moments_partial' | 'bn_moments_merge' | 'bn_eval_stats' | 'bn_apply' | 'bn_grad_partial' | 'bn_grad_merge' | 'bn_backward_x';
const specs = new Map<NormEntry, KernelSpec>();
function spec(entry: NormEntry): KernelSpec {
  let s = specs.get(entry);
  if (!s) specs.set(entry, (s = { name: `sparse.${entry}`, source: wgsl('sparse/norm'), entryPoint: entry }));
  return s;
}

/** Default eps (PyTorch). */
export const BATCH_NORM_EPS = 1e-5;
/** Default momentum (PyTorch convention). */
export const BATCH_NORM_MOMENTUM = 0.1;

/** Options of {@link sparseBatchNorm}. */
export interface SparseBatchNormOptions {
  /** Training mode (batch statistics, running update) or eval mode (running statistics). */
  readonly training: boolean;
  /** Added to the variance; default 1e-5. */
  readonly eps?: number;
  /** running ← (1 − momentum)·running + momentum·batch; default 0.1, in [0, 1]. */
  readonly momentum?: number;
  /** f32 [C]. Required in eval; in training, optional (with runningVar) to get updated statistics. */
  readonly runningMean?: Tensor;
  /** f32 [C]. Required in eval; in training, optional (with runningMean). */
  readonly runningVar?: Tensor;
  /**
   * Apply LeakyReLU with this negative slope (≥ 0; 0 is ReLU) to the
   * normalised features, in the same kernels: the result equals
   * `sparseLeakyRelu(sparseBatchNorm(…).out, slope)` with fewer dispatches
   * and one [N, C] tensor less.
   */
  readonly leakyRelu?: number;
}

const OPTION_KEYS: readonly string[] = ['training', 'eps', 'momentum', 'runningMean', 'runningVar', 'leakyRelu'];

/** Result of {@link sparseBatchNorm}. */
export interface SparseBatchNormResult {
  /** Normalised features on the input's coordinate set, [N, C]. */
  readonly out: SparseTensor;
  /** Training with running statistics given: new f32 [C] tensors (the caller owns them); otherwise null. */
  readonly runningMean: Tensor | null;
  readonly runningVar: Tensor | null;
}

interface BnAttrs {
  readonly training: boolean;
  readonly eps: number;
  readonly momentum: number;
  /** Slope of the fused LeakyReLU, or null for none. */
  readonly slope: number | null;
  readonly runningMean: Tensor | null;
  readonly runningVar: Tensor | null;
  /** Receives the updated running statistics (training with running stats only). */
  readonly onRunning: ((mean: Tensor, variance: Tensor) => void) | null;
  /** Where to write the updated statistics instead of new tensors (the layer's spare pair). */
  readonly runningTarget: { readonly mean: Tensor; readonly variance: Tensor } | null;
}

/** The uniform of every norm.wgsl entry point for an [n, cols] input. */
function paramsOf(a: BnAttrs, n: number, cols: number, plan: ChunkPlan, updateRunning: boolean) {
  return {
    n,
    cols,
    eps: a.eps,
    momentum: a.momentum,
    training: a.training ? 1 : 0,
    act: a.slope === null ? 0 : 1,
    slope: a.slope ?? 0,
    update_running: updateRunning ? 1 : 0,
    col_tiles: plan.colTiles,
    chunks: plan.chunks,
    items: plan.items,
  };
}

// Forward and backward each take three dispatches in training: chunk
// partials, one merge, and the elementwise pass (see norm.wgsl).
const batchNormOp = defineOp<BnAttrs>({
  name: 'sparse.batchNorm',
  forward: ([x, gamma, beta], a, saver) => {
    const ctx = x!.ctx;
    const [n, cols] = x!.shape as [number, number];
    const plan = chunkPlan(n, cols);
    const stats = empty(ctx, [3, cols]);
    if (a.training) {
      const update = a.runningMean !== null && a.runningVar !== null && a.onRunning !== null;
      const params = paramsOf(a, n, cols, plan, update);
      const moments = empty(ctx, [2 * plan.chunks, cols]);
      ctx.run(spec('bn_moments_partial'), { x: x!, moments, params }, ctx.grid(plan.chunkGroups * WG, WG), { CW: plan.cw });
      // Without running statistics the merge still binds them: small stand-ins.
      const standIns = update ? [] : [empty(ctx, [cols]), empty(ctx, [cols]), empty(ctx, [cols]), empty(ctx, [cols])];
      const newMean = update ? (a.runningTarget?.mean ?? empty(ctx, [cols])) : standIns[2]!;
      const newVar = update ? (a.runningTarget?.variance ?? empty(ctx, [cols])) : standIns[3]!;
      ctx.run(
        spec('bn_moments_merge'),
        {
          moments_in: moments, stats, new_mean: newMean, new_var: newVar, params,
          running_mean: a.runningMean ?? standIns[0]!, running_var: a.runningVar ?? standIns[1]!,
        },
        plan.mergeGroups,
        { CW: plan.cw }, // the chunks' row count depends on it
      );
      moments.dispose();
      for (const t of standIns) t.dispose();
      if (update) a.onRunning!(newMean, newVar);
    } else {
      const params = paramsOf(a, n, cols, plan, false);
      ctx.run(spec('bn_eval_stats'), { running_mean: a.runningMean!, running_var: a.runningVar!, stats, params }, ctx.grid(cols, WG));
    }
    const y = empty(ctx, [n, cols]);
    ctx.run(
      spec('bn_apply'),
      { x: x!, stats_in: stats, gamma: gamma!, beta: beta!, y, params: paramsOf(a, n, cols, plan, false) },
      ctx.grid(n * cols, WG),
    );
    // stats is an intermediate: the tape owns it when recording. The output
    // y carries the activation's mask for the backward.
    if (saver.recording) saver.save(x!, gamma!, stats, y);
    else stats.dispose();
    return y;
  },
  vjp: ({ gradOutputs: [gy], saved: [x, gamma, stats, y], attrs: a, needsGrad }) => {
    const ctx = x!.ctx;
    const [n, cols] = x!.shape as [number, number];
    const plan = chunkPlan(n, cols);
    const params = paramsOf(a, n, cols, plan, false);
    // Σg is the beta gradient and Σg·x̂ the gamma gradient (g = dL/dz); both also enter dx in training.
    const gsums = empty(ctx, [2 * plan.chunks, cols]);
    ctx.run(spec('bn_grad_partial'), { x: x!, stats_in: stats!, gy: gy!, y_in: y!, gsums, params }, ctx.grid(plan.chunkGroups * WG, WG), { CW: plan.cw });
    const sumG = empty(ctx, [cols]);
    const sumGxhat = empty(ctx, [cols]);
    ctx.run(spec('bn_grad_merge'), { gsums_in: gsums, sum_g: sumG, sum_gxhat: sumGxhat, params }, plan.mergeGroups);
    gsums.dispose();
    let dx: Tensor | null = null;
    if (needsGrad[0]) {
      dx = empty(ctx, [n, cols]);
      ctx.run(
        spec('bn_backward_x'),
        { x: x!, gy: gy!, y_in: y!, stats_in: stats!, gamma: gamma!, sum_g_in: sumG, sum_gxhat_in: sumGxhat, dx, params },
        ctx.grid(n * cols, WG),
      );
    }
    return [dx, needsGrad[1] ? sumGxhat : null, needsGrad[2] ? sumG : null];
  },
});

/**
 * BatchNorm over active sites, per channel c:
 * `out = gamma·(x − mean)·invStd + beta`, `invStd = 1/sqrt(var + eps)`,
 * optionally followed by a fused LeakyReLU (`options.leakyRelu`).
 *
 * @param x sparse tensor with features [N, C], C ≥ 1 (N ≥ 2 in training)
 * @param gamma f32 [C], scale (a parameter; may require gradients)
 * @param beta f32 [C], shift (a parameter; may require gradients)
 * @returns the normalised sparse tensor on the same coordinate set, and in
 *   training with running statistics given, new running mean and variance
 *   (the inputs are never modified)
 * @throws InputValueError for N < 2 in training, missing running statistics in eval,
 *   eps < 0, momentum outside [0, 1]; ShapeError / DTypeError for bad gamma, beta, running stats
 */
export function sparseBatchNorm(x: SparseTensor, gamma: Tensor, beta: Tensor, options: SparseBatchNormOptions): SparseBatchNormResult {
  return sparseBatchNormInto(x, gamma, beta, options, null);
}

/** {@link sparseBatchNorm} writing updated running statistics into `target` (when given) instead of new tensors. */
function sparseBatchNormInto(
  x: SparseTensor,
  gamma: Tensor,
  beta: Tensor,
  options: SparseBatchNormOptions,
  target: BnAttrs['runningTarget'],
): SparseBatchNormResult {
  const op = 'sparseBatchNorm';
  checkSparse(op, 'x', x);
  const cols = x.channels;
  if (cols < 1) throw new ShapeError(`${op}: x has ${cols} channels; BatchNorm needs at least 1`);
  checkChannelVector(op, 'gamma', gamma, cols);
  checkChannelVector(op, 'beta', beta, cols);
  if (typeof options !== 'object' || options === null || typeof options.training !== 'boolean') {
    throw new InputValueError(`${op}: options.training must be true or false; got options ${show(options)}`);
  }
  checkOptionKeys(op, options, OPTION_KEYS);
  const slope = options.leakyRelu ?? null;
  if (slope !== null) checkRange(op, 'options.leakyRelu', slope, 0, Number.MAX_VALUE, 'the LeakyReLU negative slope, ≥ 0 (0 is ReLU)');
  const eps = options.eps ?? BATCH_NORM_EPS;
  const momentum = options.momentum ?? BATCH_NORM_MOMENTUM;
  checkRange(op, 'options.eps', eps, 0, Number.MAX_VALUE, 'pass a small non-negative number (PyTorch default 1e-5)');
  checkRange(op, 'options.momentum', momentum, 0, 1, 'PyTorch convention: running ← (1 − m)·running + m·batch, default 0.1');
  const rm = options.runningMean ?? null;
  const rv = options.runningVar ?? null;
  if ((rm === null) !== (rv === null)) {
    throw new InputValueError(`${op}: pass both options.runningMean and options.runningVar, or neither (got only ${rm ? 'runningMean' : 'runningVar'})`);
  }
  if (rm) checkChannelVector(op, 'options.runningMean', rm, cols);
  if (rv) checkChannelVector(op, 'options.runningVar', rv, cols);
  if (options.training && x.n < 2) {
    throw new InputValueError(
      `${op}: training mode got N = ${x.n} active sites; the batch variance needs at least 2. Use eval mode (training: false) or skip the layer for (nearly) empty inputs`,
    );
  }
  if (!options.training && !rm) {
    throw new InputValueError(`${op}: eval mode (training: false) needs options.runningMean and options.runningVar`);
  }
  let newMean: Tensor | null = null;
  let newVar: Tensor | null = null;
  const attrs: BnAttrs = {
    training: options.training,
    eps,
    momentum,
    slope,
    runningMean: rm,
    runningVar: rv,
    onRunning: (m, v) => {
      newMean = m;
      newVar = v;
    },
    runningTarget: target,
  };
  const y = batchNormOp([x.feats, gamma, beta], attrs)[0]!;
  return { out: x.withFeats(y), runningMean: newMean, runningVar: newVar };
}

/** Options of {@link SparseBatchNorm}. */
export interface SparseBatchNormModuleOptions {
  /** Default 1e-5. */
  readonly eps?: number;
  /** PyTorch convention, default 0.1. */
  readonly momentum?: number;
}

/**
 * A BatchNorm layer over active sites that owns its parameters and running
 * statistics: gamma (ones) and beta (zeros), f32 [C] with `requiresGrad`;
 * running mean (zeros) and variance (ones), f32 [C]. All survive `ctx.scope()`
 * and are freed by {@link SparseBatchNorm.dispose}.
 *
 * ```ts
 * const bn = new SparseBatchNorm(ctx, 32);
 * const y = bn.forward(x);       // training: batch stats, running stats updated
 * bn.eval();
 * const z = bn.forward(x);       // eval: running stats
 * ```
 */
export class SparseBatchNorm {
  readonly gamma: Tensor;
  readonly beta: Tensor;
  private rm: Tensor;
  private rv: Tensor;
  /**
   * The spare pair the next training forward writes the updated statistics
   * into; the two pairs then swap. Reusing two fixed pairs (instead of new
   * tensors each step) keeps the buffers, and so the cached bind groups, of a
   * repeated training step the same.
   */
  private spareMean: Tensor;
  private spareVar: Tensor;
  /** Training mode (default) or eval mode; set with train() / eval(). */
  training = true;
  readonly eps: number;
  readonly momentum: number;
  private disposedFlag = false;

  constructor(
    readonly ctx: GpuContext,
    readonly channels: number,
    options: SparseBatchNormModuleOptions = {},
  ) {
    if (!Number.isInteger(channels) || channels < 1) {
      throw new InputValueError(`SparseBatchNorm: channels = ${show(channels)} must be an integer ≥ 1`);
    }
    this.eps = options.eps ?? BATCH_NORM_EPS;
    this.momentum = options.momentum ?? BATCH_NORM_MOMENTUM;
    checkRange('SparseBatchNorm', 'options.eps', this.eps, 0, Number.MAX_VALUE, 'pass a small non-negative number (default 1e-5)');
    checkRange('SparseBatchNorm', 'options.momentum', this.momentum, 0, 1, 'PyTorch convention, default 0.1');
    const ones = new Float32Array(channels).fill(1);
    const zerosHost = new Float32Array(channels);
    this.gamma = tensor(ctx, ones, [channels], { requiresGrad: true, label: 'bn.gamma' }).keep();
    this.beta = tensor(ctx, zerosHost, [channels], { requiresGrad: true, label: 'bn.beta' }).keep();
    this.rm = tensor(ctx, zerosHost, [channels], { label: 'bn.runningMean' }).keep();
    this.rv = tensor(ctx, ones, [channels], { label: 'bn.runningVar' }).keep();
    this.spareMean = empty(ctx, [channels], 'f32', { label: 'bn.runningMean' }).keep();
    this.spareVar = empty(ctx, [channels], 'f32', { label: 'bn.runningVar' }).keep();
  }

  /** Running mean, f32 [C] (after each training forward, another tensor of the layer's two holds it). */
  get runningMean(): Tensor {
    return this.rm;
  }
  /** Running variance (unbiased batch variances averaged with momentum), f32 [C]. */
  get runningVar(): Tensor {
    return this.rv;
  }

  /** Trainable parameters: [gamma, beta]. */
  parameters(): Tensor[] {
    return [this.gamma, this.beta];
  }

  train(mode = true): this {
    this.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /**
   * Normalises x [N, C] (C = channels); in training also updates the running
   * statistics. `options.leakyRelu` fuses a LeakyReLU of that slope (≥ 0).
   */
  forward(x: SparseTensor, options: { readonly leakyRelu?: number } = {}): SparseTensor {
    if (this.disposedFlag) throw new DisposedError('SparseBatchNorm: forward() after dispose(); create a new layer');
    checkOptionKeys('SparseBatchNorm.forward', options, ['leakyRelu']);
    const r = sparseBatchNormInto(x, this.gamma, this.beta, {
      training: this.training,
      eps: this.eps,
      momentum: this.momentum,
      runningMean: this.rm,
      runningVar: this.rv,
      ...(options.leakyRelu !== undefined ? { leakyRelu: options.leakyRelu } : {}),
    }, { mean: this.spareMean, variance: this.spareVar });
    if (r.runningMean && r.runningVar) {
      // The update wrote the spare pair (reading the current one in recorded
      // GPU order); the current pair becomes the spare of the next forward.
      [this.spareMean, this.rm] = [this.rm, this.spareMean];
      [this.spareVar, this.rv] = [this.rv, this.spareVar];
    }
    return r.out;
  }

  /**
   * A function that puts the running statistics back as they are now, for a
   * step that fails or is skipped after its forward. It undoes at most one
   * training forward: the update wrote the spare pair and left the current
   * one unchanged, so undoing is a swap back. After a second training
   * forward the old values are overwritten, and the function throws.
   */
  markRunningStats(): () => void {
    const mean = this.rm;
    return () => {
      if (this.rm === mean) return;
      if (this.spareMean !== mean || this.disposedFlag) {
        throw new AutodiffError('SparseBatchNorm: the running statistics were updated twice since markRunningStats(), so the first values are gone; mark before each training forward');
      }
      [this.spareMean, this.rm] = [this.rm, this.spareMean];
      [this.spareVar, this.rv] = [this.rv, this.spareVar];
    };
  }

  /** Frees gamma, beta (and their gradients) and the running statistics. */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    for (const t of [this.gamma, this.beta, this.rm, this.rv, this.spareMean, this.spareVar]) t.dispose();
  }
}
