/**
 * Optimizers whose update runs as a GPU kernel in place on the parameters
 * (`src/wgsl/core/optim.wgsl`). State buffers are owned by the optimizer and
 * freed by `dispose()`.
 *
 * @module
 */
import { AutodiffError, InputValueError } from '../errors.js';
import type { KernelSpec } from '../runtime/kernel.js';
import { zeros, type Tensor } from '../runtime/tensor.js';
import { wgsl } from '../wgsl/index.js';

const WG = 256;
const sgdSpec: KernelSpec = { name: 'optim.sgd_step', source: wgsl('core/optim'), entryPoint: 'sgd_step' };
const adamSpec: KernelSpec = { name: 'optim.adam_step', source: wgsl('core/optim'), entryPoint: 'adam_step' };

abstract class Optimizer {
  protected readonly state = new Map<Tensor, Tensor[]>();
  private disposedFlag = false;

  constructor(readonly params: readonly Tensor[]) {
    if (params.length === 0) throw new InputValueError('optimizer: params is empty; pass the tensors to train');
    for (const p of params) {
      if (!p.requiresGrad) {
        throw new InputValueError(`optimizer: ${p.label} does not require gradients; create it with { requiresGrad: true }`);
      }
      if (p.dtype !== 'f32') throw new InputValueError(`optimizer: ${p.label} has dtype ${p.dtype}; only f32 parameters can be trained`);
    }
  }

  /** Frees every parameter's `.grad` (call before the next backward). */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Applies one update to every parameter that has a gradient. */
  step(): void {
    if (this.disposedFlag) throw new AutodiffError('optimizer: step() after dispose()');
    for (const p of this.params) {
      if (!p.grad) continue;
      let s = this.state.get(p);
      if (!s) this.state.set(p, (s = this.makeState(p)));
      this.update(p, p.grad, s);
    }
    this.afterStep();
  }

  protected abstract makeState(p: Tensor): Tensor[];
  protected abstract update(p: Tensor, g: Tensor, state: Tensor[]): void;
  protected afterStep(): void {}

  /** Frees optimizer state (not the parameters). */
  dispose(): void {
    for (const s of this.state.values()) for (const t of s) t.dispose();
    this.state.clear();
    this.disposedFlag = true;
  }
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
    super(params);
    this.opts = { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, ...options };
    checkPositive('SGD', 'lr', this.opts.lr);
    if (this.opts.momentum < 0) throw new InputValueError(`SGD: momentum = ${this.opts.momentum} must be ≥ 0`);
  }

  protected makeState(p: Tensor): Tensor[] {
    return [zeros(p.ctx, this.opts.momentum !== 0 ? p.shape : [1], 'f32').keep()];
  }

  protected update(p: Tensor, g: Tensor, [velocity]: Tensor[]): void {
    const o = this.opts;
    const first = !this.started.has(p);
    this.started.add(p);
    p.ctx.run(
      sgdSpec,
      {
        param: p,
        grad: g,
        velocity: velocity!,
        sgd: {
          n: p.size,
          lr: o.lr,
          momentum: o.momentum,
          dampening: o.dampening,
          weight_decay: o.weightDecay,
          nesterov: o.nesterov ? 1 : 0,
          first: first ? 1 : 0,
        },
      },
      p.ctx.grid(p.size, WG),
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
    super(params);
    this.opts = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupledWeightDecay: false, ...options };
    checkPositive('Adam', 'lr', this.opts.lr);
    for (const k of ['beta1', 'beta2'] as const) {
      const v = this.opts[k];
      if (!(v >= 0 && v < 1)) throw new InputValueError(`Adam: ${k} = ${v} must be in [0, 1)`);
    }
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

  override step(): void {
    this.t++;
    super.step();
  }

  protected makeState(p: Tensor): Tensor[] {
    return [zeros(p.ctx, p.shape).keep(), zeros(p.ctx, p.shape).keep()];
  }

  protected update(p: Tensor, g: Tensor, [m, v]: Tensor[]): void {
    const o = this.opts;
    p.ctx.run(
      adamSpec,
      {
        param: p,
        grad: g,
        m: m!,
        v: v!,
        adam: {
          n: p.size,
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
      p.ctx.grid(p.size, WG),
    );
  }
}

function checkPositive(opt: string, name: string, v: number): void {
  if (!(Number.isFinite(v) && v > 0)) throw new InputValueError(`${opt}: ${name} = ${v} must be a positive finite number`);
}
