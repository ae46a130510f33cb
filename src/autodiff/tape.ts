/**
 * Tape-based reverse-mode autodiff.
 *
 * An op is a pair: a forward that computes outputs on the GPU (and saves what
 * its backward needs) and a vector-Jacobian product that maps output
 * gradients to one gradient (or null) per input. Applying an op to inputs
 * that require gradients appends a node to its context's tape; `backward()`
 * walks the nodes that lead to the loss once, in reverse order.
 *
 * Gradient rules live in one table ({@link gradientRules}), keyed by op name,
 * so that a missing rule is a hard error naming the op rather than a silent
 * zero.
 *
 * @module
 */
import { AutodiffError, DisposedError, show } from '../errors.js';
import type { GpuContext } from '../runtime/context.js';
import { Tensor } from '../runtime/tensor.js';

/** What a forward may save for its backward. */
export interface SaveContext {
  /**
   * Keeps tensors for the backward pass. Inputs and outputs are referenced;
   * any other tensor (an intermediate the forward made) is owned by the tape
   * and disposed after backward.
   */
  save(...tensors: Tensor[]): void;
  /** True when the op is being recorded (skip saving work otherwise). */
  readonly recording: boolean;
}

/** Arguments of a vector-Jacobian product. */
export interface VjpArgs<A> {
  /** Gradient of the loss w.r.t. each output; null for outputs that did not reach the loss. */
  gradOutputs: readonly (Tensor | null)[];
  inputs: readonly Tensor[];
  outputs: readonly Tensor[];
  saved: readonly Tensor[];
  attrs: A;
  /** Which inputs need a gradient; a rule may skip the others and return null. */
  needsGrad: readonly boolean[];
}

/** A vector-Jacobian product: one gradient (or null) per input. */
export type Vjp<A> = (args: VjpArgs<A>) => (Tensor | null)[];

/** An op: name, forward and (optionally registered separately) its VJP. */
export interface OpDefinition<A> {
  readonly name: string;
  forward(inputs: readonly Tensor[], attrs: A, saver: SaveContext): Tensor | Tensor[];
  /** The VJP; registered in {@link gradientRules} under `name` by {@link defineOp}. */
  vjp?: Vjp<A>;
}

/** The table of gradient rules: op name → VJP. */
export const gradientRules = new Map<string, Vjp<never>>();

/** Names of every op defined so far (with or without a gradient rule). */
const definedOps = new Set<string>();

/** A callable op created by {@link defineOp}. */
export type Op<A> = ((inputs: readonly Tensor[], attrs: A) => Tensor[]) & { readonly opName: string };

/**
 * Defines an op and registers its gradient rule. Returns a function that
 * applies it, recording a tape node when any input requires a gradient.
 */
export function defineOp<A>(def: OpDefinition<A>): Op<A> {
  // One rule per name: a second op of the same name would silently take over
  // the first one's gradient.
  if (definedOps.has(def.name)) {
    throw new AutodiffError(`defineOp: an op named ${show(def.name)} is already defined; give each op a unique name (family.op)`);
  }
  definedOps.add(def.name);
  if (def.vjp) gradientRules.set(def.name, def.vjp as Vjp<never>);
  const apply = (inputs: readonly Tensor[], attrs: A): Tensor[] => applyOp(def, inputs, attrs);
  return Object.assign(apply, { opName: def.name });
}

interface TapeNode {
  readonly id: number;
  readonly op: string;
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly Tensor[];
  readonly saved: Tensor[];
  readonly owned: Tensor[];
  readonly attrs: unknown;
}

let gradEnabled = true;
let nextNodeId = 1;

/** True unless inside {@link noGrad}. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/**
 * Runs `fn` without recording: no tape nodes, no saved tensors. Used for
 * inference, optimizer updates and inside backward itself.
 *
 * Give it a synchronous function where you can. The switch is
 * process-wide, so an async `fn` keeps recording off until its promise
 * settles, for any other work that runs during its awaits as well. The
 * library's own asynchronous paths (`predict`, planning, evaluation) wrap
 * only their synchronous parts, so that they never stop recording elsewhere.
 */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  let result: T;
  try {
    result = fn();
  } catch (e) {
    gradEnabled = prev;
    throw e;
  }
  if (result instanceof Promise) {
    return result.finally(() => {
      gradEnabled = prev;
    }) as T;
  }
  gradEnabled = prev;
  return result;
}

/** The tape of one context. */
export class Tape {
  private nodes: TapeNode[] = [];
  private readonly byId = new Map<number, TapeNode>();
  /** Tensors whose graph was consumed by backward, to explain a second call. */
  private readonly consumed = new WeakSet<Tensor>();

  constructor(readonly ctx: GpuContext) {}

  /** Number of recorded, not yet consumed nodes. */
  get size(): number {
    return this.nodes.length;
  }

  /** @internal */
  push(node: TapeNode): void {
    this.nodes.push(node);
    this.byId.set(node.id, node);
  }

  /** Drops every node (and the tensors it owns) without running backward. */
  clear(): void {
    for (const n of this.nodes) this.releaseNode(n);
    this.nodes = [];
    this.byId.clear();
  }

  /** @internal mark for scope truncation */
  mark(): number {
    return nextNodeId;
  }

  /**
   * @internal Called when a scope closes: drops every node that no backward
   * pass can reach any more, i.e. whose outputs are all disposed and that is
   * not an ancestor of a node with a live output. A tensor returned from a
   * scope therefore keeps its whole history, through intermediates the scope
   * disposed, and gradients still reach the leaves. `mark` is unused: nodes
   * of earlier scopes can become unreachable too.
   */
  truncate(_mark: number): void {
    // Scopes close often (every gradient rule in backward runs in one), and
    // usually no node has lost all its outputs: then there is nothing to
    // drop, and no reachability walk is needed.
    if (!this.nodes.some((n) => n.outputs.every((o) => o.disposed))) return;
    const keep = new Set<TapeNode>();
    const stack: TapeNode[] = [];
    for (const n of this.nodes) {
      if (n.outputs.some((o) => !o.disposed)) {
        keep.add(n);
        stack.push(n);
      }
    }
    while (stack.length) {
      for (const t of stack.pop()!.inputs) {
        const p = t.producer ? this.byId.get(t.producer.id) : undefined;
        if (p && !keep.has(p)) {
          keep.add(p);
          stack.push(p);
        }
      }
    }
    if (keep.size === this.nodes.length) return;
    for (const n of this.nodes) {
      if (keep.has(n)) continue;
      this.releaseNode(n);
      this.byId.delete(n.id);
    }
    this.nodes = this.nodes.filter((n) => keep.has(n));
  }

  private releaseNode(n: TapeNode): void {
    for (const t of n.owned) t.dispose();
    for (const o of n.outputs) if (o.producer?.id === n.id) o.producer = null;
  }

  /**
   * Reverse pass from `loss`. Accumulates into `.grad` of every leaf tensor
   * with `requiresGrad` (adding to an existing `.grad`), then releases the
   * walked nodes and their saved tensors.
   *
   * @param gradOutput seed gradient; defaults to ones, which needs a scalar loss
   */
  backward(loss: Tensor, gradOutput?: Tensor): void {
    if (this.consumed.has(loss)) {
      throw new AutodiffError(
        `backward: already ran for ${loss.label}; its graph was freed. Run the forward pass again before calling backward again`,
      );
    }
    const root = loss.producer ? this.byId.get(loss.producer.id) : undefined;
    if (!root) {
      throw new AutodiffError(
        `backward: ${loss.label} was not produced by a recorded op (no input required gradients, it was computed under noGrad(), ` +
          'or the scope() that recorded it has ended); set requiresGrad on the parameters and call backward inside that scope',
      );
    }
    if (!gradOutput && loss.size !== 1) {
      throw new AutodiffError(
        `backward: ${loss.label} has shape ${show(loss.shape)}; without gradOutput the loss must have one element (reduce it with sum() or mean())`,
      );
    }
    if (gradOutput && gradOutput.shape.join() !== loss.shape.join()) {
      throw new AutodiffError(`backward: gradOutput shape ${show(gradOutput.shape)} does not match loss shape ${show(loss.shape)}`);
    }

    // Nodes reachable from the loss, in tape order.
    const reachable = new Set<TapeNode>();
    const stack: TapeNode[] = [root];
    while (stack.length) {
      const n = stack.pop()!;
      if (reachable.has(n)) continue;
      reachable.add(n);
      for (const t of n.inputs) {
        const p = t.producer ? this.byId.get(t.producer.id) : undefined;
        if (p) stack.push(p);
      }
    }
    const order = this.nodes.filter((n) => reachable.has(n));

    const ctx = this.ctx;
    const grads = new Map<Tensor, Tensor>();
    // A rule may give one tensor to several inputs (add passes its output
    // gradient to both). They share it instead of each getting a copy: a
    // gradient counts its holders (entries of `grads`; absent means one) and
    // is freed by the last.
    const holders = new Map<Tensor, number>();
    const retain = (g: Tensor): void => void holders.set(g, (holders.get(g) ?? 1) + 1);
    const release = (g: Tensor): void => {
      const n = holders.get(g);
      if (n === undefined) g.dispose();
      else if (n === 2) holders.delete(g);
      else holders.set(g, n - 1);
    };
    noGrad(() => {
      grads.set(loss, gradOutput ? identityCopy(gradOutput) : fillLike(loss, 1));
      try {
        for (let k = order.length - 1; k >= 0; k--) {
          const node = order[k]!;
          const gradOutputs = node.outputs.map((o) => grads.get(o) ?? null);
          if (gradOutputs.every((g) => g === null)) continue;
          const rule = gradientRules.get(node.op) as Vjp<unknown> | undefined;
          if (!rule) {
            throw new AutodiffError(
              `backward: op ${show(node.op)} has no gradient rule; register one with defineOp({ vjp }) or wrap the call in noGrad()`,
            );
          }
          for (const s of node.saved) {
            if (s.disposed) {
              throw new AutodiffError(
                `backward: ${s.label}, saved by op ${node.op} for its gradient, was disposed before backward ran ` +
                  '(by the scope() that created it, or dispose()); call backward inside that scope, or keep() the tensor',
              );
            }
          }
          const needsGrad = node.inputs.map((t) => t.requiresGrad);
          let returned: readonly (Tensor | null)[];
          try {
            returned = ctx.scope(() =>
              rule({ gradOutputs, inputs: node.inputs, outputs: node.outputs, saved: node.saved, attrs: node.attrs, needsGrad }),
            );
          } catch (e) {
            const gone = [...node.inputs, ...node.outputs].filter((t) => t.disposed);
            if (!(e instanceof DisposedError) || gone.length === 0) throw e;
            throw new AutodiffError(
              `backward: the gradient rule of ${node.op} needs ${[...new Set(gone.map((t) => t.label))].join(', ')}, disposed before backward ran ` +
                '(by the scope() that created it, or dispose()); call backward inside that scope, or keep() the tensor',
            );
          }
          if (returned.length !== node.inputs.length) {
            throw new AutodiffError(
              `backward: gradient rule of ${node.op} returned ${returned.length} gradients for ${node.inputs.length} inputs`,
            );
          }
          // A rule may pass an output gradient straight through (add), or
          // return one tensor for two inputs: each input that receives it
          // holds a reference. A tensor the tape does not own (an input,
          // output or saved tensor of the node) is copied instead.
          const inputGrads = returned.map((g, i) => {
            if (!g || !needsGrad[i]) return null;
            if (isForeign(node, g)) return identityCopy(g);
            retain(g);
            return g;
          });
          // The rule's own reference to what it made, then the node's output
          // entries, let go: what no input received is freed here.
          for (const g of new Set(returned)) if (g && !isForeign(node, g) && !gradOutputs.includes(g)) release(g);
          for (const o of node.outputs) {
            const g = grads.get(o);
            if (!g) continue;
            grads.delete(o);
            release(g);
          }
          inputGrads.forEach((g, i) => {
            if (!g) return;
            const input = node.inputs[i]!;
            if (g.shape.join() !== input.shape.join()) {
              throw new AutodiffError(
                `backward: gradient rule of ${node.op} returned shape ${show(g.shape)} for input ${i} of shape ${show(input.shape)}`,
              );
            }
            const prev = grads.get(input);
            if (prev) {
              grads.set(input, accumulate(prev, g));
              release(prev);
              release(g);
            } else {
              grads.set(input, g);
            }
          });
        }
      } catch (e) {
        // A failed pass leaves every leaf's .grad as it was and frees the
        // gradients it had made; the graph stays, for another try.
        for (const g of new Set(grads.values())) g.dispose();
        throw e;
      }
      // Whatever is left belongs to leaves.
      for (const [t, g] of grads) {
        if (t.producer !== null && reachable.has(this.byId.get(t.producer.id)!)) {
          release(g);
          continue;
        }
        untrack(ctx, g);
        if (t.grad) {
          const sum = accumulate(t.grad, g);
          t.grad.dispose();
          release(g);
          untrack(ctx, sum);
          t.grad = sum;
        } else if (holders.has(g)) {
          // A leaf owns its .grad alone: a shared gradient is copied for it.
          const own = identityCopy(g);
          untrack(ctx, own);
          release(g);
          t.grad = own;
        } else {
          t.grad = g;
        }
      }
    });

    for (const n of order) {
      this.releaseNode(n);
      this.byId.delete(n.id);
    }
    this.nodes = this.nodes.filter((n) => !reachable.has(n));
    this.consumed.add(loss);
  }
}

/** Hooks that fill tensors and add gradients; set by the core kernels to avoid an import cycle. */
export interface GradientKernels {
  fill(like: Tensor, value: number): Tensor;
  add(a: Tensor, b: Tensor): Tensor;
  copy(a: Tensor): Tensor;
}

let kernels: GradientKernels | null = null;

/** @internal Installed by `kernels/core` at module load. */
export function installGradientKernels(k: GradientKernels): void {
  kernels = k;
}

function need(): GradientKernels {
  if (!kernels) throw new AutodiffError('autodiff: core kernels are not loaded; import ghostgrad from its package entry point');
  return kernels;
}

function fillLike(t: Tensor, v: number): Tensor {
  return need().fill(t, v);
}
function accumulate(a: Tensor, b: Tensor): Tensor {
  return need().add(a, b);
}
function identityCopy(t: Tensor): Tensor {
  return need().copy(t);
}

function isForeign(node: TapeNode, g: Tensor): boolean {
  return node.inputs.includes(g) || node.outputs.includes(g) || node.saved.includes(g);
}

function untrack(ctx: GpuContext, t: Tensor): void {
  for (const s of ctx.scopeStack) s.delete(t);
}

const TAPE_KEY = 'autodiff.tape';

/** The tape of a context (created on first use). */
export function tapeOf(ctx: GpuContext): Tape {
  let tape = ctx.extensions.get(TAPE_KEY) as (Tape & { dispose(): void }) | undefined;
  if (!tape) {
    const t = new Tape(ctx) as Tape & { dispose(): void };
    t.dispose = () => t.clear();
    ctx.extensions.set(TAPE_KEY, t);
    ctx.scopeListeners.push({ open: () => t.mark(), close: (mark) => t.truncate(mark) });
    tape = t;
  }
  return tape;
}

function applyOp<A>(def: OpDefinition<A>, inputs: readonly Tensor[], attrs: A): Tensor[] {
  if (inputs.length === 0) throw new AutodiffError(`${def.name}: an op needs at least one input tensor`);
  const ctx = inputs[0]!.ctx;
  for (const t of inputs) {
    if (t.ctx !== ctx) throw new AutodiffError(`${def.name}: inputs live on different GPU contexts; move them to one context`);
    void t.buffer; // throws DisposedError naming the tensor
  }
  const recording = gradEnabled && inputs.some((t) => t.requiresGrad);
  const saved: Tensor[] = [];
  const saver: SaveContext = {
    recording,
    save: (...ts) => {
      if (recording) saved.push(...ts);
    },
  };
  const result = def.forward(inputs, attrs, saver);
  const outputs = Array.isArray(result) ? result : [result];
  if (!recording) return outputs;
  const node: TapeNode = {
    id: nextNodeId++,
    op: def.name,
    inputs: [...inputs],
    outputs,
    saved,
    owned: saved.filter((t) => !inputs.includes(t) && !outputs.includes(t)),
    attrs,
  };
  for (const t of node.owned) untrack(ctx, t);
  for (const o of outputs) {
    o.requiresGrad = true;
    o.producer = { id: node.id };
  }
  tapeOf(ctx).push(node);
  return outputs;
}

/**
 * Reverse-mode gradient of `loss` w.r.t. every leaf tensor with
 * `requiresGrad`: afterwards each such leaf's `.grad` holds (adds) dL/dleaf.
 */
export function backward(loss: Tensor, gradOutput?: Tensor): void {
  tapeOf(loss.ctx).backward(loss, gradOutput);
}

export { Tensor };
