/**
 * Optimizers whose update runs as a GPU kernel in place on the parameters
 * (`src/wgsl/core/optim.wgsl`), one dispatch for all of them.
 *
 * Constructing an optimizer moves its parameters into an arena: one buffer
 * holding them all at aligned offsets, each parameter tensor becoming a view
 * of it (same tensor, shape and values; `tensor.byteOffset` tells where).
 * Flat state buffers (Adam's moments, SGD's velocity) and a flat gradient
 * buffer share the layout. `step()` moves each `.grad` into its slot (the
 * gradient becomes a view there and its own buffer is freed) and updates every
 * run of consecutive parameters with gradients in one dispatch; parameters
 * without a gradient are skipped, as in PyTorch. State buffers are owned by
 * the optimizer and freed by `dispose()`; the parameters outlive it.
 *
 * @module
 */
import { AutodiffError, checkOptionKeys, DisposedError, InputValueError } from '../errors.js';
import type { GpuContext, TensorWindow } from '../runtime/context.js';
import type { KernelSpec } from '../runtime/kernel.js';
import { SharedStorage, zeros, type Tensor } from '../runtime/tensor.js';
import { wgsl } from '../wgsl/index.js';

const WG = 256;
const sgdSpec: KernelSpec = { name: 'optim.sgd_step', source: wgsl('core/optim'), entryPoint: 'sgd_step' };
const adamSpec: KernelSpec = { name: 'optim.adam_step', source: wgsl('core/optim'), entryPoint: 'adam_step' };
const countSpec: KernelSpec = { name: 'optim.count_nonfinite', source: wgsl('core/optim'), entryPoint: 'count_nonfinite' };

/** Where one parameter lives in its arena, in f32 elements. */
interface ArenaSlot {
  readonly param: Tensor;
  readonly offset: number;
}

/**
 * Parameters packed into one buffer (views of it, see `Tensor.rehome`), with
 * flat gradient and state buffers of the same layout, so that one dispatch
 * updates all of them. Slots start at multiples of the storage offset
 * alignment (64 floats on most devices); the gaps stay zero.
 */
interface Arena {
  /** The parameters; `storage.backing` is the flat tensor whose windows the update binds. */
  readonly storage: SharedStorage;
  /**
   * Gradients gathered before each step: each parameter's `.grad` moves into
   * its slot and becomes a view of this buffer (zero in the gaps).
   */
  readonly gradStorage: SharedStorage;
  /** Optimizer state, one flat tensor per state buffer (Adam: m, v; SGD: velocity, or [1] without momentum). */
  readonly state: Tensor[];
  readonly slots: readonly ArenaSlot[];
}

/** How large each state buffer is: like the parameters, or one element (state the update never reads). */
type StateSize = 'full' | 'scalar';

/** A maximal run of consecutive slots updated by one dispatch. */
interface SlotRun {
  /** First f32 element of the run in the arena. */
  readonly start: number;
  /** Elements from the first slot's start to the last slot's end. */
  readonly length: number;
  /** What all its parameters share (see `runKey`). */
  readonly key: string;
}

abstract class Optimizer {
  private readonly arenas: Arena[] = [];
  private disposedFlag = false;

  constructor(
    readonly params: readonly Tensor[],
    stateBuffers: number,
    stateSize: StateSize = 'full',
  ) {
    if (params.length === 0) throw new InputValueError('optimizer: params is empty; pass the tensors to train');
    const seen = new Set<Tensor>();
    const ctx = params[0]!.ctx;
    for (const p of params) {
      if (!p.requiresGrad) {
        throw new InputValueError(`optimizer: ${p.label} does not require gradients; create it with { requiresGrad: true }`);
      }
      if (p.dtype !== 'f32') throw new InputValueError(`optimizer: ${p.label} has dtype ${p.dtype}; only f32 parameters can be trained`);
      if (seen.has(p)) throw new InputValueError(`optimizer: ${p.label} is listed twice in params; pass each tensor once`);
      if (p.ctx !== ctx) throw new InputValueError(`optimizer: ${p.label} lives on another GpuContext than ${params[0]!.label}; train tensors of one context together`);
      if (p.disposed) throw new InputValueError(`optimizer: ${p.label} is disposed; pass live tensors`);
      seen.add(p);
    }
    this.pack(ctx, params.filter((p) => p.size > 0), stateBuffers, stateSize);
  }

  /** Lays the parameters out in arenas no larger than one storage binding, and moves them there. */
  private pack(ctx: GpuContext, params: readonly Tensor[], stateBuffers: number, stateSize: StateSize): void {
    const align = ctx.limits.minStorageBufferOffsetAlignment / 4;
    const maxElements = Math.floor(Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize) / 4 / align) * align;
    let group: ArenaSlot[] = [];
    let used = 0;
    const close = (): void => {
      if (group.length) this.arenas.push(makeArena(ctx, group, used, stateBuffers, stateSize));
      group = [];
      used = 0;
    };
    for (const p of params) {
      const span = Math.ceil(p.size / align) * align;
      if (used > 0 && used + span > maxElements) close();
      group.push({ param: p, offset: used });
      used += span;
    }
    close();
  }

  /** Frees every parameter's `.grad` (call before the next backward). */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /**
   * Applies one update to every parameter that has a gradient: the
   * gradients are copied into the arena's flat buffer, then one dispatch per
   * run of consecutive parameters with gradients updates them all.
   */
  step(): void {
    if (this.disposedFlag) throw new AutodiffError('optimizer: step() after dispose()');
    // A parameter another optimizer has since taken into its own arena is no
    // longer updated by this one: say so before changing anything.
    for (const arena of this.arenas) {
      for (const { param, offset } of arena.slots) {
        if (param.disposed) {
          throw new DisposedError(
            `optimizer: parameter ${param.label} was disposed after the optimizer was made, so step() cannot update it; ` +
              'dispose the optimizer with its model, or make a new one over the live parameters',
          );
        }
        if (param.storage !== arena.storage || param.byteOffset !== offset * 4) {
          throw new AutodiffError(
            `optimizer: ${param.label} now belongs to another optimizer (made after this one over the same tensor); ` +
              'dispose this optimizer, or give each tensor to one optimizer only',
          );
        }
      }
    }
    this.beforeStep();
    for (const { arena, runs } of this.gatherGradients()) {
      for (const run of runs) this.update(arena.storage.backing, arena.gradStorage.backing, arena.state, run);
    }
    this.afterStep();
  }

  /**
   * Counts the NaN and ±Inf elements of the gradients that the next
   * `step()` would apply, on the GPU, without a readback: a u32 [1] tensor
   * (the caller owns it). Read it together with the loss to decide whether
   * to step. Gathers the gradients into the optimizer's buffer as `step()`
   * does, so that `step()` then copies nothing again. One dispatch per run
   * of parameters with gradients (one for a model whose parameters all have them).
   */
  nonFiniteGradientCount(): Tensor<'u32'> {
    if (this.disposedFlag) throw new AutodiffError('optimizer: nonFiniteGradientCount() after dispose()');
    const ctx = this.params[0]!.ctx;
    const count = zeros(ctx, [1], 'u32', { label: 'optimizer.nonFinite' });
    for (const { arena, runs } of this.gatherGradients()) {
      for (const run of runs) {
        const [values] = Optimizer.windows(run, arena.gradStorage.backing);
        ctx.run(countSpec, { values: values!, nonfinite: count, count: { n: run.length } }, ctx.grid(run.length, WG));
      }
    }
    return count;
  }

  /**
   * The value of a [1] loss and the number of non-finite gradient values the
   * next `step()` would apply, in one readback: what a trainer reads to
   * decide whether to step. Safe steps (the U-ResNet trainer, SIREN fits)
   * call `step()` only when both are finite and zero.
   */
  async lossAndNonFinite(loss: Tensor): Promise<{ loss: number; nonFiniteGradients: number }> {
    const count = this.nonFiniteGradientCount();
    try {
      const [lossBytes, countBytes] = await count.ctx.readBuffers([
        { buffer: loss.buffer, offset: loss.byteOffset, bytes: 4 },
        { buffer: count.buffer, offset: count.byteOffset, bytes: 4 },
      ]);
      return { loss: new Float32Array(lossBytes!)[0]!, nonFiniteGradients: new Uint32Array(countBytes!)[0]! };
    } finally {
      count.dispose();
    }
  }

  /**
   * Moves each parameter's `.grad` into its slot of the arena (once; after
   * that the gradient is a view of the slot) and groups consecutive
   * parameters with gradients and the same run key into runs.
   */
  private gatherGradients(): { arena: Arena; runs: SlotRun[] }[] {
    const out: { arena: Arena; runs: SlotRun[] }[] = [];
    for (const arena of this.arenas) {
      const runs: SlotRun[] = [];
      let runStart = -1;
      let runEnd = 0;
      let runKey = '';
      const flush = (): void => {
        if (runStart >= 0) runs.push({ start: runStart, length: runEnd - runStart, key: runKey });
        runStart = -1;
      };
      for (const slot of arena.slots) {
        const g = slot.param.disposed ? null : slot.param.grad;
        if (!g) {
          flush();
          continue;
        }
        // One copy, after which the gradient is a view of its slot (and its
        // own buffer goes back to the pool): no second copy of the gradients.
        if (!(g.storage === arena.gradStorage && g.byteOffset === slot.offset * 4)) g.rehome(arena.gradStorage, slot.offset * 4);
        const key = this.runKey(slot.param);
        if (runStart >= 0 && key !== runKey) flush();
        if (runStart < 0) {
          runStart = slot.offset;
          runKey = key;
        }
        runEnd = slot.offset + slot.param.size;
      }
      flush();
      out.push({ arena, runs });
    }
    return out;
  }

  /**
   * Called once per parameter updated in this step; parameters whose keys
   * differ cannot share a dispatch (SGD: first step of the momentum buffer or not).
   */
  protected runKey(p: Tensor): string {
    void p;
    return '';
  }
  protected beforeStep(): void {}
  protected abstract update(params: Tensor, grads: Tensor, state: readonly Tensor[], run: SlotRun): void;
  protected afterStep(): void {}

  /** Windows of the arena's flat tensors over one run. */
  protected static windows(run: SlotRun, ...tensors: Tensor[]): TensorWindow[] {
    return tensors.map((t) => t.window(run.start, run.length));
  }

  /**
   * Frees optimizer state and gradients buffers (not the parameters, which
   * keep their values and stay usable).
   */
  dispose(): void {
    if (this.disposedFlag) return;
    for (const a of this.arenas) {
      a.gradStorage.release();
      for (const t of a.state) t.dispose();
      a.storage.release();
    }
    this.arenas.length = 0;
    this.disposedFlag = true;
  }
}

function makeArena(ctx: GpuContext, slots: readonly ArenaSlot[], elements: number, stateBuffers: number, stateSize: StateSize): Arena {
  const flat = (label: string, n = elements) => zeros(ctx, [n], 'f32', { label }).keep();
  const storage = new SharedStorage(flat('optimizer.params'));
  for (const { param, offset } of slots) param.rehome(storage, offset * 4);
  return {
    storage,
    gradStorage: new SharedStorage(flat('optimizer.grads')),
    state: Array.from({ length: stateBuffers }, (_, i) => flat(`optimizer.state${i}`, stateSize === 'full' ? elements : 1)),
    slots,
  };
}

/** Options of {@link SGD}; defaults as in PyTorch. */
export interface SgdOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/** Stochastic gradient descent with momentum: v ← μv + (1−τ)g, p ← p − lr·v (PyTorch's convention). */
export class SGD extends Optimizer {
  private readonly opts: Required<SgdOptions>;
  private readonly started = new Set<Tensor>();

  constructor(params: readonly Tensor[], options: SgdOptions) {
    const opts = { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, ...checkOptions('SGD', options, ['lr', 'momentum', 'dampening', 'weightDecay', 'nesterov']) };
    checkPositive('SGD', 'lr', opts.lr);
    if (!(opts.momentum >= 0)) throw new InputValueError(`SGD: momentum = ${opts.momentum} must be ≥ 0`);
    // Without momentum the update never reads the velocity: a one-element stand-in.
    super(params, 1, opts.momentum !== 0 ? 'full' : 'scalar');
    this.opts = opts;
  }

  private readonly pendingStarted: Tensor[] = [];

  /**
   * The momentum buffer starts as the first gradient: parameters on their
   * first step update apart. They count as started once the step is done.
   */
  protected override runKey(p: Tensor): string {
    this.pendingStarted.push(p);
    return this.started.has(p) ? 'm' : 'first';
  }

  protected override beforeStep(): void {
    this.pendingStarted.length = 0;
  }

  protected override afterStep(): void {
    for (const p of this.pendingStarted) this.started.add(p);
    this.pendingStarted.length = 0;
  }

  protected update(params: Tensor, grads: Tensor, [velocity]: readonly Tensor[], run: SlotRun): void {
    const o = this.opts;
    const first = run.key === 'first';
    const [param, grad] = Optimizer.windows(run, params, grads);
    const vel = o.momentum !== 0 ? velocity!.window(run.start, run.length) : velocity!;
    params.ctx.run(
      sgdSpec,
      {
        param: param!,
        grad: grad!,
        velocity: vel!,
        sgd: {
          n: run.length,
          lr: o.lr,
          momentum: o.momentum,
          dampening: o.dampening,
          weight_decay: o.weightDecay,
          nesterov: o.nesterov ? 1 : 0,
          first: first ? 1 : 0,
        },
      },
      params.ctx.grid(run.length, WG),
    );
  }
}

/** Options of {@link Adam}; defaults as in Kingma & Ba (2015) and PyTorch. */
export interface AdamOptions {
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** AdamW: decay the weights directly instead of adding L2 to the gradient. */
  decoupledWeightDecay?: boolean;
}

/** Adam with bias correction (Kingma & Ba 2015). */
export class Adam extends Optimizer {
  private readonly opts: Required<AdamOptions>;
  private t = 0;

  constructor(params: readonly Tensor[], options: AdamOptions = {}) {
    const opts = {
      lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupledWeightDecay: false,
      ...checkOptions('Adam', options, ['lr', 'beta1', 'beta2', 'eps', 'weightDecay', 'decoupledWeightDecay']),
    };
    checkPositive('Adam', 'lr', opts.lr);
    for (const k of ['beta1', 'beta2'] as const) {
      const v = opts[k];
      if (!(v >= 0 && v < 1)) throw new InputValueError(`Adam: ${k} = ${v} must be in [0, 1)`);
    }
    super(params, 2);
    this.opts = opts;
  }

  /** Steps taken so far. */
  get steps(): number {
    return this.t;
  }

  /** Changes the learning rate (schedules). */
  setLearningRate(lr: number): void {
    checkPositive('Adam', 'lr', lr);
    this.opts.lr = lr;
  }

  protected override beforeStep(): void {
    this.t++;
  }

  protected update(params: Tensor, grads: Tensor, [m, v]: readonly Tensor[], run: SlotRun): void {
    const o = this.opts;
    const [param, grad, mw, vw] = Optimizer.windows(run, params, grads, m!, v!);
    params.ctx.run(
      adamSpec,
      {
        param: param!,
        grad: grad!,
        m: mw!,
        v: vw!,
        adam: {
          n: run.length,
          lr: o.lr,
          beta1: o.beta1,
          beta2: o.beta2,
          eps: o.eps,
          weight_decay: o.weightDecay,
          bias_correction1: 1 - o.beta1 ** this.t,
          bias_correction2: 1 - o.beta2 ** this.t,
          decoupled: o.decoupledWeightDecay ? 1 : 0,
        },
      },
      params.ctx.grid(run.length, WG),
    );
  }
}

/** Rejects option keys the optimizer does not know (a typo would silently keep a default). */
function checkOptions<T extends object>(opt: string, options: T, known: readonly string[]): T {
  if (options === null || typeof options !== 'object') {
    throw new InputValueError(`${opt}: options must be an object; got ${String(options)}`);
  }
  checkOptionKeys(opt, options, known);
  return options;
}

function checkPositive(opt: string, name: string, v: number): void {
  if (!(Number.isFinite(v) && v > 0)) throw new InputValueError(`${opt}: ${name} = ${v} must be a positive finite number`);
}
