/**
 * Sparse U-ResNet for semantic segmentation of LArTPC images, built from the
 * sparse family's tape ops (submanifold / strided / transposed convolution,
 * BatchNorm over active sites, LeakyReLU, add, concat, linear).
 *
 * Defaults follow the configuration lartpc_mlreco3d uses for PILArNet
 * (depth 5, 32 filters, planes 32·(1…5), two residual blocks per level,
 * LeakyReLU 0.33, BatchNorm eps 1e-4, no conv bias, five classes). See
 * docs/uresnet.md for the architecture diagram, the parameter names and
 * layouts, and the BatchNorm momentum conventions.
 *
 * @module
 */
import { DisposedError, InputValueError, ShapeError, show } from '../errors.js';
import { seededRandom } from '../autodiff/numeric.js';
import type { GpuContext } from '../runtime/context.js';
import { tensor, type Tensor } from '../runtime/tensor.js';
import { SparseBatchNorm } from '../kernels/sparse/batchnorm.js';
import { sparseConv, sparseConvTranspose, submanifoldConv } from '../kernels/sparse/conv.js';
import { sparseAdd, sparseConcat, sparseLinear } from '../kernels/sparse/ops.js';
import { SparseTensor } from '../kernels/sparse/sparse-tensor.js';

/** Configuration of a {@link UResNet}; every field has a default. */
export interface UResNetConfig {
  /** Input feature channels (1: deposited energy). Default 1. */
  readonly inChannels?: number;
  /** Output classes (PILArNet: 5). Default 5. */
  readonly numClasses?: number;
  /** Resolution levels (depth − 1 stride-2 downsamplings). Default 5. */
  readonly depth?: number;
  /** Channels of the first level; level i has filters·(i + 1). Default 32. */
  readonly filters?: number;
  /** Residual blocks per level, in the encoder and in the decoder. Default 2. */
  readonly reps?: number;
  /** Spatial dimension (2 or 3). Default 3. */
  readonly dim?: 2 | 3;
  /** Kernel size of the submanifold convolutions (odd). Default 3. */
  readonly kernelSize?: number;
  /** Negative slope of every LeakyReLU. Default 0.33. */
  readonly leakiness?: number;
  /** BatchNorm eps. Default 1e-4. */
  readonly bnEps?: number;
  /**
   * BatchNorm momentum in PyTorch's convention:
   * running ← (1 − momentum)·running + momentum·batch. Default 0.01
   * (SparseConvNet's convention writes the same update as momentum 0.99).
   */
  readonly bnMomentum?: number;
  /** Seed of the weight initialisation (mulberry32). Default 0. */
  readonly seed?: number;
}

/** A {@link UResNetConfig} with every field filled in. */
export type ResolvedUResNetConfig = { readonly [K in keyof UResNetConfig]-?: NonNullable<UResNetConfig[K]> };

/** Defaults of {@link UResNetConfig} (lartpc_mlreco3d's PILArNet U-ResNet). */
export const URESNET_DEFAULTS: ResolvedUResNetConfig = Object.freeze({
  inChannels: 1,
  numClasses: 5,
  depth: 5,
  filters: 32,
  reps: 2,
  dim: 3,
  kernelSize: 3,
  leakiness: 0.33,
  bnEps: 1e-4,
  bnMomentum: 0.01,
  seed: 0,
});

/** What a named state-dict entry is: a trainable parameter or a BatchNorm buffer. */
export type StateKind = 'parameter' | 'buffer';

/** One entry of {@link UResNet.stateEntries}: a live tensor under its checkpoint name. */
export interface StateEntry {
  readonly name: string;
  readonly kind: StateKind;
  /** The model's tensor (do not dispose; BatchNorm buffers are replaced after each training forward). */
  readonly tensor: Tensor;
}

function checkInt(name: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new InputValueError(`UResNet: config.${name} = ${show(v)} must be an integer in ${lo} … ${hi}`);
  }
  return v;
}

function checkNumber(name: string, v: unknown, lo: number, hi: number, fix: string): number {
  if (typeof v !== 'number' || !(v >= lo && v <= hi)) {
    throw new InputValueError(`UResNet: config.${name} = ${show(v)} must be a number in [${lo}, ${hi}]; ${fix}`);
  }
  return v;
}

/** Fills in and validates a configuration. */
export function resolveUResNetConfig(config: UResNetConfig = {}): ResolvedUResNetConfig {
  if (config === null || typeof config !== 'object') {
    throw new InputValueError(`UResNet: config must be an object (or omitted for the defaults); got ${show(config)}`);
  }
  const c = { ...URESNET_DEFAULTS, ...stripUndefined(config) };
  const kernelSize = checkInt('kernelSize', c.kernelSize, 1, 7);
  if (kernelSize % 2 === 0) throw new InputValueError(`UResNet: config.kernelSize = ${kernelSize} must be odd (submanifold kernels are centred)`);
  if (c.dim !== 2 && c.dim !== 3) throw new InputValueError(`UResNet: config.dim = ${show(c.dim)} must be 2 or 3`);
  return Object.freeze({
    inChannels: checkInt('inChannels', c.inChannels, 1, 4096),
    numClasses: checkInt('numClasses', c.numClasses, 1, 4096),
    // 2^(depth-1) must stay within the 16-bit coordinate range.
    depth: checkInt('depth', c.depth, 1, 12),
    filters: checkInt('filters', c.filters, 1, 4096),
    reps: checkInt('reps', c.reps, 1, 64),
    dim: c.dim,
    kernelSize,
    leakiness: checkNumber('leakiness', c.leakiness, 0, 1, 'the LeakyReLU slope for x < 0 (default 0.33)'),
    bnEps: checkNumber('bnEps', c.bnEps, 0, 1, 'a small positive number (default 1e-4)'),
    bnMomentum: checkNumber('bnMomentum', c.bnMomentum, 0, 1, 'PyTorch convention, default 0.01'),
    seed: checkInt('seed', c.seed, -(2 ** 31), 2 ** 32 - 1),
  });
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const r: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (r as Record<string, unknown>)[k] = v;
  return r;
}

/** Channels of each level: filters·(1 … depth). */
export function uresnetPlanes(config: UResNetConfig = {}): number[] {
  const c = resolveUResNetConfig(config);
  return Array.from({ length: c.depth }, (_, i) => c.filters * (i + 1));
}

/** Normal samples by Box–Muller from a seeded uniform stream (deterministic init). */
function normals(rand: () => number, n: number, std: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = 1 - rand();
    const v = rand();
    const r = std * Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** Everything the layers need while they are built. */
interface Builder {
  readonly ctx: GpuContext;
  readonly config: ResolvedUResNetConfig;
  readonly rand: () => number;
  readonly entries: StateEntry[];
  readonly norms: NamedNorm[];
}

interface NamedNorm {
  readonly name: string;
  readonly bn: SparseBatchNorm;
}

/**
 * A weight with He (Kaiming) normal init for a LeakyReLU of slope a:
 * std = sqrt(2 / ((1 + a²)·fanIn)), so activations keep their scale with depth.
 */
function weight(b: Builder, name: string, shape: number[], fanIn: number): Tensor {
  const a = b.config.leakiness;
  const std = Math.sqrt(2 / ((1 + a * a) * fanIn));
  const size = shape.reduce((p, d) => p * d, 1);
  const t = tensor(b.ctx, normals(b.rand, size, std), shape, { requiresGrad: true, label: name }).keep();
  b.entries.push({ name, kind: 'parameter', tensor: t });
  return t;
}

function norm(b: Builder, name: string, channels: number): SparseBatchNorm {
  const bn = new SparseBatchNorm(b.ctx, channels, { eps: b.config.bnEps, momentum: b.config.bnMomentum });
  b.entries.push({ name: `${name}.weight`, kind: 'parameter', tensor: bn.gamma });
  b.entries.push({ name: `${name}.bias`, kind: 'parameter', tensor: bn.beta });
  b.norms.push({ name, bn });
  return bn;
}

/** BatchNorm → LeakyReLU (one fused op), with a clear error where training BatchNorm cannot work. */
function bnAct(model: UResNet, name: string, bn: SparseBatchNorm, x: SparseTensor): SparseTensor {
  if (bn.training && x.n < 2) {
    throw new InputValueError(
      `UResNet.forward: ${name} (stride ${x.coords.stride}) sees ${x.n} active site(s) in training mode; BatchNorm batch statistics need at least 2. ` +
        'Use larger events or batches, a smaller depth, or eval mode (model.eval()) for this input',
    );
  }
  return bn.forward(x, { leakyRelu: model.config.leakiness });
}

/**
 * Pre-activation residual block: BN → LeakyReLU → conv3 → BN → LeakyReLU →
 * conv3, plus the input (through a bias-free 1×1 projection when the channel
 * count changes).
 */
class ResidualBlock {
  readonly bn1: SparseBatchNorm;
  readonly conv1: Tensor;
  readonly bn2: SparseBatchNorm;
  readonly conv2: Tensor;
  readonly proj: Tensor | null;

  constructor(
    b: Builder,
    readonly name: string,
    readonly cin: number,
    readonly cout: number,
  ) {
    const v = b.config.kernelSize ** b.config.dim;
    this.bn1 = norm(b, `${name}.bn1`, cin);
    this.conv1 = weight(b, `${name}.conv1.weight`, [v, cin, cout], v * cin);
    this.bn2 = norm(b, `${name}.bn2`, cout);
    this.conv2 = weight(b, `${name}.conv2.weight`, [v, cout, cout], v * cout);
    this.proj = cin === cout ? null : weight(b, `${name}.proj.weight`, [cin, cout], cin);
  }

  forward(model: UResNet, x: SparseTensor): SparseTensor {
    let h = submanifoldConv(bnAct(model, `${this.name}.bn1`, this.bn1, x), this.conv1);
    h = submanifoldConv(bnAct(model, `${this.name}.bn2`, this.bn2, h), this.conv2);
    const shortcut = this.proj ? sparseLinear(x, this.proj) : x;
    return sparseAdd(h, shortcut);
  }
}

interface EncoderLevel {
  readonly blocks: ResidualBlock[];
  /** Downsampling to the next level (absent on the last level). */
  readonly down: { readonly bn: SparseBatchNorm; readonly weight: Tensor } | null;
}

interface DecoderLevel {
  readonly level: number;
  readonly up: { readonly bn: SparseBatchNorm; readonly weight: Tensor };
  readonly blocks: ResidualBlock[];
}

/**
 * Sparse U-ResNet (encoder–decoder with residual blocks and concatenated skip
 * connections) producing per-voxel class logits.
 *
 * ```
 * input [N, inChannels] ─ conv k³ → F
 * level i = 0 … depth−1 (planes P_i = F·(i+1)):
 *   encoder: reps × ResidualBlock(P_i → P_i); then (i < depth−1) BN, LReLU, conv 2³ stride 2 → P_{i+1}
 * level i = depth−2 … 0:
 *   decoder: BN, LReLU, transposed conv 2³ stride 2 P_{i+1} → P_i; concat [skip_i, up] → 2·P_i;
 *            ResidualBlock(2·P_i → P_i), (reps − 1) × ResidualBlock(P_i → P_i)
 * output: BN, LReLU, linear P_0 → numClasses (+ bias)
 * ```
 *
 * The model owns every parameter and BatchNorm buffer ({@link parameters},
 * {@link stateEntries}); free them with {@link dispose}. It starts in
 * training mode (batch statistics); call {@link eval} for inference.
 */
export class UResNet {
  /** The resolved configuration. */
  readonly config: ResolvedUResNetConfig;
  /** Channels per level, filters·(1 … depth). */
  readonly planes: readonly number[];
  private readonly inputConv: Tensor;
  private readonly encoder: EncoderLevel[] = [];
  private readonly decoder: DecoderLevel[] = [];
  private readonly outBn: SparseBatchNorm;
  private readonly outWeight: Tensor;
  private readonly outBias: Tensor;
  private readonly entries: StateEntry[];
  private readonly norms: NamedNorm[];
  private trainingFlag = true;
  private disposedFlag = false;

  /**
   * Builds the network and initialises its weights (He normal, seeded by
   * `config.seed`; BatchNorm γ = 1, β = 0; classifier bias 0).
   *
   * @throws InputValueError for a configuration value out of range
   */
  constructor(
    readonly ctx: GpuContext,
    config: UResNetConfig = {},
  ) {
    this.config = resolveUResNetConfig(config);
    const c = this.config;
    this.planes = Object.freeze(Array.from({ length: c.depth }, (_, i) => c.filters * (i + 1)));
    const b: Builder = { ctx, config: c, rand: seededRandom(c.seed), entries: [], norms: [] };
    this.entries = b.entries;
    this.norms = b.norms;
    const v = c.kernelSize ** c.dim;
    const down = 2 ** c.dim;
    const p = this.planes;
    try {
      this.inputConv = weight(b, 'input.conv.weight', [v, c.inChannels, p[0]!], v * c.inChannels);
      for (let i = 0; i < c.depth; i++) {
        const blocks = Array.from({ length: c.reps }, (_, r) => new ResidualBlock(b, `encoder.${i}.block.${r}`, p[i]!, p[i]!));
        let d: EncoderLevel['down'] = null;
        if (i < c.depth - 1) {
          const bn = norm(b, `encoder.${i}.down.bn`, p[i]!);
          d = { bn, weight: weight(b, `encoder.${i}.down.conv.weight`, [down, p[i]!, p[i + 1]!], down * p[i]!) };
        }
        this.encoder.push({ blocks, down: d });
      }
      for (let i = c.depth - 2; i >= 0; i--) {
        const bn = norm(b, `decoder.${i}.up.bn`, p[i + 1]!);
        const up = { bn, weight: weight(b, `decoder.${i}.up.conv.weight`, [down, p[i + 1]!, p[i]!], down * p[i + 1]!) };
        const blocks = Array.from(
          { length: c.reps },
          (_, r) => new ResidualBlock(b, `decoder.${i}.block.${r}`, r === 0 ? 2 * p[i]! : p[i]!, p[i]!),
        );
        this.decoder.push({ level: i, up, blocks });
      }
      this.outBn = norm(b, 'output.bn', p[0]!);
      this.outWeight = weight(b, 'output.linear.weight', [p[0]!, c.numClasses], p[0]!);
      // A zero bias and the 1/fanIn-scaled weight start near uniform class scores.
      this.outBias = tensor(ctx, new Float32Array(c.numClasses), [c.numClasses], { requiresGrad: true, label: 'output.linear.bias' }).keep();
      b.entries.push({ name: 'output.linear.bias', kind: 'parameter', tensor: this.outBias });
    } catch (e) {
      this.releaseAll(b.entries, b.norms);
      throw e;
    }
  }

  /** True in training mode (BatchNorm uses batch statistics and updates running ones). */
  get training(): boolean {
    return this.trainingFlag;
  }

  /** Sets training (default) or eval mode on every BatchNorm. Returns this. */
  train(mode = true): this {
    this.check();
    this.trainingFlag = mode;
    for (const { bn } of this.norms) bn.train(mode);
    return this;
  }

  /** Eval mode: BatchNorm normalises with its running statistics. Returns this. */
  eval(): this {
    return this.train(false);
  }

  /**
   * A function that restores every BatchNorm's running statistics to their
   * values now, undoing one training forward (see
   * {@link SparseBatchNorm.markRunningStats}): a failed or skipped step
   * leaves the model as it was.
   */
  markRunningStats(): () => void {
    this.check();
    const restores = this.norms.map(({ bn }) => bn.markRunningStats());
    return () => {
      for (const restore of restores) restore();
    };
  }

  /** Trainable tensors (f32, requiresGrad), in checkpoint order: pass them to an optimizer. */
  parameters(): Tensor[] {
    this.check();
    return this.entries.map((e) => e.tensor);
  }

  /** Number of trainable scalars. */
  numParameters(): number {
    return this.parameters().reduce((s, t) => s + t.size, 0);
  }

  /**
   * Every tensor of a checkpoint under its name: the trainable parameters
   * (`…weight`, `…bias`) followed by the BatchNorm buffers
   * (`….running_mean`, `….running_var`). Names and layouts: docs/uresnet.md.
   * The tensors are the model's own (live) tensors; do not dispose them.
   */
  stateEntries(): StateEntry[] {
    this.check();
    const buffers: StateEntry[] = [];
    for (const { name, bn } of this.norms) {
      buffers.push({ name: `${name}.running_mean`, kind: 'buffer', tensor: bn.runningMean });
      buffers.push({ name: `${name}.running_var`, kind: 'buffer', tensor: bn.runningVar });
    }
    return [...this.entries, ...buffers];
  }

  /** Expected checkpoint names and shapes, in order. */
  stateShapes(): { name: string; kind: StateKind; shape: readonly number[] }[] {
    return this.stateEntries().map((e) => ({ name: e.name, kind: e.kind, shape: e.tensor.shape }));
  }

  /**
   * Per-voxel class logits.
   *
   * @param x sparse tensor with features f32 [N, inChannels] (N ≥ 0; a batch
   *   of events is one tensor with the event index in coordinate column 0)
   * @returns sparse tensor on x's coordinate set with logits f32 [N, numClasses]
   * @throws ShapeError when x has the wrong channel count; InputValueError when
   *   x is not a SparseTensor, has the wrong spatial dimension, or (training
   *   mode) a level has fewer than 2 active sites
   */
  forward(x: SparseTensor): SparseTensor {
    this.check();
    const c = this.config;
    if (!(x instanceof SparseTensor)) {
      throw new InputValueError(`UResNet.forward: x must be a SparseTensor (see sparseTensor(ctx, coords, feats)); got ${show(x)}`);
    }
    if (x.dim !== c.dim) {
      throw new InputValueError(`UResNet.forward: x is ${x.dim}D but the model is ${c.dim}D; pass coords with ${1 + c.dim} columns (batch, x, y${c.dim === 3 ? ', z' : ''})`);
    }
    if (x.channels !== c.inChannels) {
      throw new ShapeError(
        `UResNet.forward: x has ${x.channels} feature channels but the model expects inChannels = ${c.inChannels}; ` +
          `pass features [N, ${c.inChannels}] or build the model with { inChannels: ${x.channels} }`,
      );
    }
    if (x.ctx !== this.ctx) throw new InputValueError('UResNet.forward: x lives on another GpuContext than the model; create both with the same context');
    let h = submanifoldConv(x, this.inputConv);
    const skips: SparseTensor[] = [];
    for (let i = 0; i < c.depth; i++) {
      const level = this.encoder[i]!;
      for (const block of level.blocks) h = block.forward(this, h);
      if (level.down) {
        skips.push(h);
        h = sparseConv(bnAct(this, `encoder.${i}.down.bn`, level.down.bn, h), level.down.weight, { stride: 2, kernelSize: 2 });
      }
    }
    for (const level of this.decoder) {
      const skip = skips[level.level]!;
      const up = sparseConvTranspose(bnAct(this, `decoder.${level.level}.up.bn`, level.up.bn, h), level.up.weight, {
        stride: 2,
        kernelSize: 2,
        outCoords: skip.coords,
      });
      h = sparseConcat([skip, up]);
      for (const block of level.blocks) h = block.forward(this, h);
    }
    return sparseLinear(bnAct(this, 'output.bn', this.outBn, h), this.outWeight, this.outBias);
  }

  /** Frees every parameter (with its gradient) and BatchNorm buffer. Idempotent. */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    this.releaseAll(this.entries, this.norms);
  }

  get disposed(): boolean {
    return this.disposedFlag;
  }

  private releaseAll(entries: readonly StateEntry[], norms: readonly NamedNorm[]): void {
    for (const { bn } of norms) bn.dispose();
    for (const e of entries) e.tensor.dispose();
  }

  private check(): void {
    if (this.disposedFlag) throw new DisposedError('UResNet: used after dispose(); build a new model (and load its weights)');
  }
}
