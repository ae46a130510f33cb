/**
 * Training and inference for the sparse U-ResNet: mini-batches of events
 * (the event index goes into coordinate column 0), Adam, softmax
 * cross-entropy with optional class weights, periodic safetensors
 * checkpoints, progress with loss and throughput, and a no-grad inference
 * API returning per-voxel class probabilities and argmax labels.
 *
 * Every step runs inside one `ctx.scope()`, and the step's coordinate set
 * (with its cached kernel maps) is freed when the step ends, so that GPU
 * memory returns to the same live-byte count after every step.
 *
 * @module
 */
import { backward, noGrad } from '../autodiff/tape.js';
import { Adam, type AdamOptions } from '../autodiff/optimizers.js';
import { checkOptionKeys, InputValueError, NonFiniteError, ShapeError, show } from '../errors.js';
import { sparseCrossEntropy, CROSS_ENTROPY_IGNORE_INDEX } from '../kernels/sparse/loss.js';
import { sparseTensor, type SparseTensor } from '../kernels/sparse/sparse-tensor.js';
import { saveUResNet } from './checkpoint.js';
import type { UResNet } from './uresnet.js';
import { platform } from '#platform';

/**
 * One event for segmentation. Coordinates are voxel indices; the batch
 * column (column 0) is ignored and replaced by the event's position in its
 * mini-batch. Give the features either as `features` [N, inChannels] or, for
 * one input channel, as `energy` [N] (the event generator's field).
 */
export interface SegmentationEvent {
  /** Int32Array [N, 1 + dim], rows (batch, x, y[, z]); sites unique within the event. */
  readonly coords: Int32Array;
  /** Float32Array [N, inChannels]. */
  readonly features?: Float32Array;
  /** Float32Array [N]: shorthand for features with one channel. */
  readonly energy?: Float32Array;
  /** Int32Array [N]: class per voxel (0 … numClasses − 1, or the ignore index); needed for training. */
  readonly labels?: Int32Array;
}

/** A collated mini-batch: rows of event b carry batch index b. */
export interface SegmentationBatch {
  /** Int32Array [N, 1 + dim]. */
  readonly coords: Int32Array;
  /** Float32Array [N, inChannels]. */
  readonly features: Float32Array;
  /** Int32Array [N], present when every event has labels. */
  readonly labels: Int32Array | null;
  /** Row offsets: event b is rows offsets[b] … offsets[b + 1] − 1; length events + 1. */
  readonly offsets: Int32Array;
}

function featuresOf(e: SegmentationEvent, i: number, n: number, channels: number): Float32Array {
  const f = e.features ?? e.energy;
  if (e.features !== undefined && e.energy !== undefined) {
    throw new InputValueError(`events[${i}] has both features and energy; pass one of them (energy is shorthand for one channel)`);
  }
  if (!(f instanceof Float32Array)) {
    throw new InputValueError(`events[${i}].features must be a Float32Array [N, ${channels}] (or energy a Float32Array [N]); got ${show(f)}`);
  }
  const have = e.energy !== undefined ? 1 : n > 0 ? f.length / n : channels;
  if (f.length !== n * channels || have !== channels) {
    throw new ShapeError(
      `events[${i}]: the model expects ${channels} input channel(s), i.e. ${n * channels} feature values for ${n} voxels, but got ${f.length}` +
        `${e.energy !== undefined ? ' (energy is one channel)' : ''}; pass features [N, ${channels}] or build the model with the matching inChannels`,
    );
  }
  return f;
}

/**
 * Concatenates events into one mini-batch, writing each event's index into
 * the batch column. Inputs are copied, never modified.
 *
 * @param options `requireLabels`: throw when an event has no labels
 * @throws InputValueError / ShapeError naming the event and the field
 */
export function collateEvents(
  events: readonly SegmentationEvent[],
  options: { dim?: 2 | 3; inChannels?: number; numClasses?: number; ignoreIndex?: number; requireLabels?: boolean } = {},
): SegmentationBatch {
  const dim = options.dim ?? 3;
  const channels = options.inChannels ?? 1;
  const cols = 1 + dim;
  if (!Array.isArray(events)) throw new InputValueError(`events must be an array of events; got ${show(events)}`);
  if (events.length > 65535) throw new InputValueError(`events has ${events.length} entries; a mini-batch holds at most 65535 events`);
  const offsets = new Int32Array(events.length + 1);
  events.forEach((e, i) => {
    if (e === null || typeof e !== 'object' || !(e.coords instanceof Int32Array)) {
      throw new InputValueError(`events[${i}].coords must be an Int32Array [N, ${cols}]; got ${show(e?.coords)}`);
    }
    if (e.coords.length % cols !== 0) {
      throw new ShapeError(`events[${i}].coords has ${e.coords.length} values, not a multiple of ${cols} columns (batch, x, y${dim === 3 ? ', z' : ''})`);
    }
    offsets[i + 1] = offsets[i]! + e.coords.length / cols;
  });
  const n = offsets[events.length]!;
  const coords = new Int32Array(n * cols);
  const features = new Float32Array(n * channels);
  const withLabels = events.every((e) => e.labels !== undefined);
  if (options.requireLabels && !withLabels) {
    const i = events.findIndex((e) => e.labels === undefined);
    throw new InputValueError(`events[${i}] has no labels; training needs an Int32Array [N] of classes per event`);
  }
  const labels = withLabels ? new Int32Array(n) : null;
  const numClasses = options.numClasses ?? Number.POSITIVE_INFINITY;
  const ignore = options.ignoreIndex ?? CROSS_ENTROPY_IGNORE_INDEX;
  events.forEach((e, i) => {
    const o = offsets[i]!;
    const m = offsets[i + 1]! - o;
    coords.set(e.coords, o * cols);
    for (let r = 0; r < m; r++) coords[(o + r) * cols] = i;
    const f = featuresOf(e, i, m, channels);
    for (let j = 0; j < f.length; j++) {
      if (!Number.isFinite(f[j]!)) {
        throw new InputValueError(`events[${i}]: feature value ${j} is ${show(f[j])}; features must be finite`);
      }
    }
    features.set(f, o * channels);
    if (labels) {
      const l = e.labels!;
      if (!(l instanceof Int32Array) || l.length !== m) {
        throw new ShapeError(`events[${i}].labels must be an Int32Array of ${m} classes (one per voxel); got ${l instanceof Int32Array ? `length ${l.length}` : show(l)}`);
      }
      for (let r = 0; r < m; r++) {
        const y = l[r]!;
        if (y !== ignore && !(y >= 0 && y < numClasses)) {
          throw new InputValueError(`events[${i}].labels[${r}] = ${y} is not a class in 0 … ${numClasses - 1} nor the ignore index ${ignore}`);
        }
      }
      labels.set(l, o);
    }
  });
  return { coords, features, labels, offsets };
}

/** Options of {@link UResNetTrainer}. */
export interface TrainerOptions {
  /** Adam options; learning rate default 1e-3. */
  readonly adam?: AdamOptions;
  /** Per-class loss weights [numClasses] (PyTorch's `weight=`); default all 1. */
  readonly classWeights?: readonly number[] | Float32Array;
  /** Label that contributes nothing to the loss; default −100. */
  readonly ignoreIndex?: number;
  /**
   * What a step does when its loss or a gradient is NaN or ±Inf: `'throw'`
   * (default) a {@link NonFiniteError}, or `'skip'` the update and report it
   * (`StepResult.skipped`). Either way the step is not applied: weights,
   * Adam state and BatchNorm statistics stay as they were.
   */
  readonly onNonFinite?: 'throw' | 'skip';
}

const TRAINER_OPTION_KEYS = ['adam', 'classWeights', 'ignoreIndex', 'onNonFinite'] as const;

/** What one training step did. */
export interface StepResult {
  /** Steps applied so far, this one included (a skipped step does not count). */
  readonly step: number;
  /** Mean (class-weighted) cross-entropy of the batch, before the update. */
  readonly loss: number;
  /** Voxels in the batch. */
  readonly voxels: number;
  /** Wall time of the step, ms (host and GPU, loss readback included). */
  readonly ms: number;
  /** True when the loss or a gradient was not finite and the update was skipped (`onNonFinite: 'skip'`). */
  readonly skipped: boolean;
  /** Number of NaN / ±Inf gradient elements found before the update (0 for an applied step). */
  readonly nonFiniteGradients: number;
}

/**
 * Trains a {@link UResNet} with Adam on mini-batches of events. Owns the
 * optimizer state; `dispose()` frees it (not the model).
 */
export class UResNetTrainer {
  readonly optimizer: Adam;
  private readonly classWeights: Float32Array | null;
  private readonly ignoreIndex: number;
  private readonly onNonFinite: 'throw' | 'skip';
  private stepCount = 0;

  constructor(
    readonly model: UResNet,
    options: TrainerOptions = {},
  ) {
    checkOptionKeys('UResNetTrainer options', options, TRAINER_OPTION_KEYS);
    const onNonFinite = options.onNonFinite ?? 'throw';
    if (onNonFinite !== 'throw' && onNonFinite !== 'skip') {
      throw new InputValueError(`UResNetTrainer: options.onNonFinite = ${show(onNonFinite)}; use 'throw' (default) or 'skip'`);
    }
    this.onNonFinite = onNonFinite;
    this.optimizer = new Adam(model.parameters(), options.adam ?? {});
    this.ignoreIndex = options.ignoreIndex ?? CROSS_ENTROPY_IGNORE_INDEX;
    const cw = options.classWeights;
    if (cw !== undefined) {
      const c = model.config.numClasses;
      if (cw.length !== c) {
        this.optimizer.dispose();
        throw new ShapeError(`UResNetTrainer: options.classWeights has ${cw.length} entries but the model has ${c} classes; pass one weight per class`);
      }
      for (let j = 0; j < c; j++) {
        const w = cw[j]!;
        if (!(Number.isFinite(w) && w >= 0)) {
          this.optimizer.dispose();
          throw new InputValueError(`UResNetTrainer: options.classWeights[${j}] = ${show(w)} must be a finite number ≥ 0`);
        }
      }
      this.classWeights = Float32Array.from(cw);
    } else {
      this.classWeights = null;
    }
  }

  /** Steps taken so far. */
  get steps(): number {
    return this.stepCount;
  }

  /**
   * One optimisation step on a mini-batch: model in training mode, forward,
   * cross-entropy, backward, then the Adam update if the loss and every
   * gradient are finite. The loss and the count of non-finite gradient
   * values come back in one readback, before the update is recorded. A batch
   * in which no voxel counts (every label ignored or weighted 0) has loss 0
   * and zero gradients. A step that throws, or is skipped, leaves the model,
   * the optimizer and the BatchNorm statistics as they were.
   *
   * @param events one or more labelled events (empty events are allowed; the
   *   batch as a whole needs at least 2 voxels at every level for BatchNorm)
   * @throws InputValueError / ShapeError for bad events (see {@link collateEvents}),
   *   or a level with fewer than 2 voxels
   * @throws NonFiniteError for a NaN / ±Inf loss or gradient, unless `onNonFinite: 'skip'`
   */
  async step(events: readonly SegmentationEvent[]): Promise<StepResult> {
    const t0 = performance.now();
    const m = this.model;
    const batch = collateEvents(events, {
      dim: m.config.dim,
      inChannels: m.config.inChannels,
      numClasses: m.config.numClasses,
      ignoreIndex: this.ignoreIndex,
      requireLabels: true,
    });
    const n = batch.labels!.length;
    if (n < 2) {
      throw new InputValueError(`UResNetTrainer.step: the batch has ${n} voxel(s); training (BatchNorm) needs at least 2. Skip empty events or batch them with others`);
    }
    m.train();
    const ctx = m.ctx;
    const restoreStats = m.markRunningStats();
    // collateEvents has checked the features are finite: no second pass.
    const x = sparseTensor(ctx, batch.coords, batch.features, { dim: m.config.dim, channels: m.config.inChannels, checkFinite: false });
    let loss: number;
    let nonFinite: number;
    try {
      ({ loss, nonFiniteGradients: nonFinite } = await ctx.scope(async () => {
        const logits = m.forward(x);
        const l = sparseCrossEntropy(logits, batch.labels!, {
          ...(this.classWeights ? { classWeights: this.classWeights } : {}),
          ignoreIndex: this.ignoreIndex,
          emptyLoss: 'zero',
        });
        this.optimizer.zeroGrad();
        backward(l);
        return this.optimizer.lossAndNonFinite(l);
      }));
    } catch (e) {
      restoreStats();
      this.optimizer.zeroGrad();
      throw e;
    } finally {
      x.feats.dispose();
      x.coords.dispose();
    }
    if (!Number.isFinite(loss) || nonFinite > 0) {
      restoreStats();
      this.optimizer.zeroGrad();
      if (this.onNonFinite === 'throw') {
        throw new NonFiniteError(
          `UResNetTrainer.step: loss ${show(loss)} and ${nonFinite} non-finite gradient value(s) on a batch of ${n} voxels; the step was not applied ` +
            "(weights, Adam state and BatchNorm statistics unchanged). Check the batch's features and the learning rate, or pass onNonFinite: 'skip'",
        );
      }
      return { step: this.stepCount, loss, voxels: n, ms: performance.now() - t0, skipped: true, nonFiniteGradients: nonFinite };
    }
    this.optimizer.step();
    this.stepCount++;
    return { step: this.stepCount, loss, voxels: n, ms: performance.now() - t0, skipped: false, nonFiniteGradients: 0 };
  }

  /** Frees the optimizer state and the parameters' gradients (not the model). */
  dispose(): void {
    this.optimizer.zeroGrad();
    this.optimizer.dispose();
  }
}

/** Options of {@link trainUResNet}. */
export interface TrainOptions extends TrainerOptions {
  /** Number of steps. */
  readonly steps: number;
  /** The mini-batch of step s (0-based): a list of labelled events. */
  readonly batch: (step: number) => readonly SegmentationEvent[] | Promise<readonly SegmentationEvent[]>;
  /** Save a checkpoint every this many steps (and after the last step). Default: never. */
  readonly checkpointEvery?: number;
  /**
   * Where to save checkpoints (Node): a path in which `{step}` is replaced by
   * the step number, or a function of the step. Needed with checkpointEvery
   * unless onCheckpoint is given.
   */
  readonly checkpointPath?: string | ((step: number) => string);
  /** Called after each checkpoint is written, with its path. */
  readonly onCheckpoint?: (path: string, step: number) => void | Promise<void>;
  /** Progress reporting on stderr: a bar on a TTY, plain lines otherwise. Default true. */
  readonly progress?: boolean;
  /** Label of the progress bar. Default "train". */
  readonly label?: string;
  /** Called after every step. */
  readonly onStep?: (result: StepResult) => void | Promise<void>;
}

/** Summary of {@link trainUResNet}. */
export interface TrainReport {
  readonly steps: number;
  /** Loss of every step, in order. */
  readonly losses: readonly number[];
  readonly voxels: number;
  readonly seconds: number;
  readonly voxelsPerSecond: number;
  /** Paths of the checkpoints written. */
  readonly checkpoints: readonly string[];
  /** 0-based indices of the steps skipped for a non-finite loss or gradient (`onNonFinite: 'skip'`). */
  readonly skippedSteps: readonly number[];
}

/**
 * Trains a model for `steps` steps with a {@link UResNetTrainer} (created
 * and disposed here), reporting loss and throughput and saving checkpoints.
 * The model is left in training mode.
 */
export async function trainUResNet(model: UResNet, options: TrainOptions): Promise<TrainReport> {
  checkOptionKeys('trainUResNet options', options, [
    ...TRAINER_OPTION_KEYS,
    'steps',
    'batch',
    'checkpointEvery',
    'checkpointPath',
    'onCheckpoint',
    'progress',
    'label',
    'onStep',
  ]);
  const steps = options.steps;
  if (!Number.isInteger(steps) || steps < 0) throw new InputValueError(`trainUResNet: options.steps = ${show(steps)} must be an integer ≥ 0`);
  if (typeof options.batch !== 'function') throw new InputValueError('trainUResNet: options.batch must be a function (step) => events');
  const every = options.checkpointEvery;
  if (every !== undefined && !(Number.isInteger(every) && every >= 1)) {
    throw new InputValueError(`trainUResNet: options.checkpointEvery = ${show(every)} must be an integer ≥ 1`);
  }
  if (every !== undefined && options.checkpointPath === undefined) {
    throw new InputValueError('trainUResNet: options.checkpointEvery needs options.checkpointPath (e.g. "ckpt-{step}.safetensors")');
  }
  const pathOf = (s: number): string =>
    typeof options.checkpointPath === 'function' ? options.checkpointPath(s) : String(options.checkpointPath).replaceAll('{step}', String(s));
  const trainerOptions: TrainerOptions = Object.fromEntries(TRAINER_OPTION_KEYS.filter((k) => options[k] !== undefined).map((k) => [k, options[k]]));
  const trainer = new UResNetTrainer(model, trainerOptions);
  // Through the platform, so that browser bundles never see cli-progress.
  const bar = options.progress === false ? null : await platform.progress(options.label ?? 'train', steps);
  const losses: number[] = [];
  const checkpoints: string[] = [];
  const skippedSteps: number[] = [];
  let voxels = 0;
  const t0 = performance.now();
  try {
    for (let s = 0; s < steps; s++) {
      const r = await trainer.step(await options.batch(s));
      losses.push(r.loss);
      if (r.skipped) skippedSteps.push(s);
      voxels += r.voxels;
      const elapsed = (performance.now() - t0) / 1000;
      bar?.update(s + 1, { loss: r.loss, 'vox/s': Math.round(voxels / Math.max(elapsed, 1e-9)) });
      await options.onStep?.(r);
      if (every !== undefined && ((s + 1) % every === 0 || s + 1 === steps)) {
        const path = pathOf(s + 1);
        await saveUResNet(model, path, { step: String(s + 1), loss: String(r.loss) });
        checkpoints.push(path);
        await options.onCheckpoint?.(path, s + 1);
      }
    }
  } finally {
    bar?.stop();
    trainer.dispose();
  }
  const seconds = (performance.now() - t0) / 1000;
  return { steps, losses, voxels, seconds, voxelsPerSecond: voxels / Math.max(seconds, 1e-9), checkpoints, skippedSteps };
}

/** Per-voxel predictions of one event. */
export interface Prediction {
  /** Float32Array [N, numClasses]: softmax probabilities, rows sum to 1. */
  readonly scores: Float32Array;
  /** Int32Array [N]: argmax class (the lower class on ties). */
  readonly labels: Int32Array;
}

/** Softmax and argmax of logits [n, c] in float64 (deterministic; rounded to f32 at the end). */
function softmaxRows(logits: Float32Array, n: number, c: number): Prediction {
  const scores = new Float32Array(n * c);
  const labels = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    let max = -Infinity;
    let arg = 0;
    for (let j = 0; j < c; j++) {
      const v = logits[r * c + j]!;
      if (v > max) {
        max = v;
        arg = j;
      }
    }
    let sum = 0;
    for (let j = 0; j < c; j++) sum += Math.exp(logits[r * c + j]! - max);
    for (let j = 0; j < c; j++) scores[r * c + j] = Math.exp(logits[r * c + j]! - max) / sum;
    labels[r] = arg;
  }
  return { scores, labels };
}

/**
 * Test-time augmentation for {@link predictBatch}: which symmetric copies of
 * each event the model sees before its softmax outputs are averaged.
 *
 * - `'none'`: the event as given (one forward pass).
 * - `'flips'`: the 2^dim reflections of the coordinate axes (8 in 3-D).
 * - `'symmetries'`: every symmetry of the voxel grid, i.e. axis permutations
 *   combined with reflections (48 in 3-D, 8 in 2-D). Only sound when the data
 *   have no preferred axis, as the isotropic synthetic events; a real detector's
 *   drift axis and the beam direction usually call for `'flips'` or `'none'`.
 */
export type TestTimeAugmentation = 'none' | 'flips' | 'symmetries';

/** Options of {@link predictBatch} and {@link predict}. */
export interface PredictOptions {
  /** Average the softmax over symmetric copies of each event (default `'none'`). */
  readonly augment?: TestTimeAugmentation;
}

/** One grid symmetry: output axis a reads input axis `axes[a]`, reflected when `flip` has bit a. */
interface GridSymmetry {
  readonly axes: readonly number[];
  readonly flip: number;
}

function permutations(items: readonly number[]): number[][] {
  if (items.length <= 1) return [items.slice()];
  return items.flatMap((x, i) => permutations(items.filter((_, j) => j !== i)).map((rest) => [x, ...rest]));
}

function gridSymmetries(augment: TestTimeAugmentation, dim: number): GridSymmetry[] {
  const identity = Array.from({ length: dim }, (_, a) => a);
  const orders = augment === 'symmetries' ? permutations(identity) : [identity];
  const flips = augment === 'none' ? 1 : 1 << dim;
  return orders.flatMap((axes) => Array.from({ length: flips }, (_, flip) => ({ axes, flip })));
}

/**
 * Reflection centres of collated events, [events, dim]: a reflection maps v
 * to m − v, where m is the sum of the ends of the event's bounding box
 * widened to whole cells of the model's total stride. The stride grid then
 * maps onto itself, so every pooling cell stays a pooling cell, and the
 * reflected coordinates stay inside that widened box (never negative, never
 * above MAX_SPATIAL_COORD, whose successor is a power of two).
 */
function reflectionCentres(coords: Int32Array, offsets: Int32Array, dim: number, stride: number): Int32Array {
  const cols = 1 + dim;
  const centres = new Int32Array((offsets.length - 1) * dim);
  for (let b = 0; b + 1 < offsets.length; b++) {
    for (let a = 0; a < dim; a++) {
      let lo = Infinity;
      let hi = -Infinity;
      for (let r = offsets[b]!; r < offsets[b + 1]!; r++) {
        const v = coords[r * cols + 1 + a]!;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      centres[b * dim + a] = Math.floor(lo / stride) * stride + Math.floor(hi / stride) * stride + stride - 1;
    }
  }
  return centres;
}

/** Applies a grid symmetry to collated coordinates, each event reflected about its own centres. */
function transformCoords(coords: Int32Array, offsets: Int32Array, dim: number, centres: Int32Array, sym: GridSymmetry): Int32Array {
  const cols = 1 + dim;
  const out = new Int32Array(coords.length);
  for (let b = 0; b + 1 < offsets.length; b++) {
    for (let r = offsets[b]!; r < offsets[b + 1]!; r++) {
      out[r * cols] = coords[r * cols]!;
      for (let a = 0; a < dim; a++) {
        const src = sym.axes[a]!;
        const v = coords[r * cols + 1 + src]!;
        out[r * cols + 1 + a] = sym.flip & (1 << a) ? centres[b * dim + src]! - v : v;
      }
    }
  }
  return out;
}

/** Logits [n, numClasses] of one collated batch, in eval mode and without gradients. */
async function forwardLogits(model: UResNet, coords: Int32Array, features: Float32Array): Promise<Float32Array> {
  const c = model.config;
  const wasTraining = model.training;
  model.eval();
  const ctx = model.ctx;
  // Collated batches, whose features collateEvents has checked: no second pass.
  const x = sparseTensor(ctx, coords, features, { dim: c.dim, channels: c.inChannels, checkFinite: false });
  try {
    // noGrad around the synchronous forward only (see noGrad: an async
    // function would stop recording in concurrent work until it settles).
    return await ctx.scope(async () => {
      const y: SparseTensor = noGrad(() => model.forward(x));
      return (await y.feats.read()) as Float32Array;
    });
  } finally {
    x.feats.dispose();
    x.coords.dispose();
    model.train(wasTraining);
  }
}

/**
 * Inference on a batch of events in eval mode without recording gradients:
 * class probabilities and argmax labels per voxel, per event (rows in the
 * event's own order). The model's previous mode is restored afterwards.
 * Events with no voxels give empty arrays; a batch of only empty events does
 * no GPU work.
 *
 * With `augment` the batch runs once per grid symmetry (see
 * {@link TestTimeAugmentation}) and the probabilities are averaged in float64,
 * always in the same order, so the result is deterministic. Reflections keep
 * the model's stride grid (cells of 2^(depth−1) voxels) in place.
 *
 * @throws ShapeError / InputValueError for bad events (see {@link collateEvents}) or an unknown `augment`
 */
export async function predictBatch(model: UResNet, events: readonly SegmentationEvent[], options: PredictOptions = {}): Promise<Prediction[]> {
  const augment = options.augment ?? 'none';
  if (augment !== 'none' && augment !== 'flips' && augment !== 'symmetries') {
    throw new InputValueError(`options.augment is ${show(augment)}; use 'none', 'flips' or 'symmetries'`);
  }
  const c = model.config;
  const batch = collateEvents(events, { dim: c.dim, inChannels: c.inChannels });
  const n = batch.offsets[events.length]!;
  const k = c.numClasses;
  const syms = gridSymmetries(augment, c.dim);
  let logits: Float32Array = new Float32Array(0);
  let mean: Float64Array | null = null;
  if (n > 0 && syms.length === 1) {
    logits = await forwardLogits(model, batch.coords, batch.features);
  } else if (n > 0) {
    mean = new Float64Array(n * k);
    const centres = reflectionCentres(batch.coords, batch.offsets, c.dim, 2 ** (c.depth - 1));
    for (const sym of syms) {
      const p = softmaxRows(await forwardLogits(model, transformCoords(batch.coords, batch.offsets, c.dim, centres, sym), batch.features), n, k);
      for (let j = 0; j < mean.length; j++) mean[j]! += p.scores[j]!;
    }
    for (let j = 0; j < mean.length; j++) mean[j]! /= syms.length;
  }
  const out: Prediction[] = [];
  for (let b = 0; b < events.length; b++) {
    const o = batch.offsets[b]!;
    const m = batch.offsets[b + 1]! - o;
    out.push(mean ? averagedPrediction(mean.subarray(o * k, (o + m) * k), m, k) : softmaxRows(logits.subarray(o * k, (o + m) * k), m, k));
  }
  return out;
}

/** Probabilities (already averaged) rounded to f32, and their argmax (the lower class on ties). */
function averagedPrediction(mean: Float64Array, n: number, c: number): Prediction {
  const labels = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    let arg = 0;
    for (let j = 1; j < c; j++) if (mean[r * c + j]! > mean[r * c + arg]!) arg = j;
    labels[r] = arg;
  }
  return { scores: Float32Array.from(mean), labels };
}

/**
 * Inference on one event: softmax probabilities [N, numClasses] and argmax
 * labels [N], in eval mode and without gradients (see {@link predictBatch},
 * also for `augment`). An event with no voxels returns empty arrays.
 */
export async function predict(model: UResNet, event: SegmentationEvent, options: PredictOptions = {}): Promise<Prediction> {
  return (await predictBatch(model, [event], options))[0]!;
}

/** Voxel accuracy of predictions against truth. */
export interface SegmentationMetrics {
  /** Fraction of voxels whose predicted class is the true one. */
  readonly accuracy: number;
  /** Per true class: fraction of its voxels predicted correctly (NaN for a class with no voxels). */
  readonly classAccuracy: readonly number[];
  /** Voxels per true class. */
  readonly classCounts: readonly number[];
  /** confusion[t][p]: voxels of true class t predicted as p. */
  readonly confusion: readonly (readonly number[])[];
  readonly voxels: number;
}

/**
 * Accuracy overall and per class, and the confusion matrix. Labels equal to
 * `ignoreIndex` (default −100) are skipped.
 *
 * @throws ShapeError when the arrays differ in length; InputValueError for a class outside 0 … numClasses − 1
 */
export function segmentationMetrics(predicted: Int32Array, truth: Int32Array, numClasses: number, ignoreIndex = CROSS_ENTROPY_IGNORE_INDEX): SegmentationMetrics {
  if (predicted.length !== truth.length) {
    throw new ShapeError(`segmentationMetrics: predicted has ${predicted.length} labels but truth has ${truth.length}; pass one per voxel`);
  }
  const confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  let total = 0;
  let correct = 0;
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i]!;
    if (t === ignoreIndex) continue;
    const p = predicted[i]!;
    if (!(t >= 0 && t < numClasses) || !(p >= 0 && p < numClasses)) {
      throw new InputValueError(`segmentationMetrics: voxel ${i} has truth ${t} and prediction ${p}; classes are 0 … ${numClasses - 1}`);
    }
    confusion[t]![p]!++;
    total++;
    if (t === p) correct++;
  }
  const classCounts = confusion.map((row) => row.reduce((a, b) => a + b, 0));
  const classAccuracy = confusion.map((row, t) => (classCounts[t]! > 0 ? row[t]! / classCounts[t]! : NaN));
  return { accuracy: total ? correct / total : NaN, classAccuracy, classCounts, confusion, voxels: total };
}
