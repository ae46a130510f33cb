/**
 * Elementwise ops: add, sub, mul, scale, relu, leakyRelu, sin, exp, log,
 * sigmoid. Each op's forward and vector-Jacobian product sit side by side;
 * the WGSL is `src/wgsl/core/elementwise.wgsl`, the float64 reference
 * `elementwise.reference.ts`.
 *
 * Operands larger than one storage binding are processed in windows, so these
 * ops work on any tensor that fits in a buffer.
 *
 * @module
 */
import { InputValueError } from '../../errors.js';
import { defineOp, installGradientKernels } from '../../autodiff/tape.js';
import type { KernelSpec } from '../../runtime/kernel.js';
import { empty, type Tensor } from '../../runtime/tensor.js';
import { wgsl } from '../../wgsl/index.js';
import { checkDType, checkSameShape } from '../checks.js';

const WG = 256;

type Entry =
  | 'add' | 'sub' | 'mul' | 'div' | 'scale' | 'fill' | 'copy'
  | 'relu' | 'relu_backward' | 'leaky_relu' | 'leaky_relu_backward'
  | 'sin_forward' | 'sin_backward' | 'exp_forward' | 'log_forward' | 'sigmoid' | 'sigmoid_backward';

const specs = new Map<Entry, KernelSpec>();
function spec(entry: Entry): KernelSpec {
  let s = specs.get(entry);
  if (!s) specs.set(entry, (s = { name: `core.${entry}`, source: wgsl('core/elementwise'), entryPoint: entry }));
  return s;
}

/**
 * Runs one elementwise entry point into a new tensor shaped like `like`,
 * windowing every operand when it exceeds one storage binding.
 */
function launch(entry: Entry, like: Tensor, a: Tensor | null, b: Tensor | null, alpha = 0): Tensor {
  const ctx = like.ctx;
  const out = empty(ctx, like.shape, 'f32');
  const n = out.size;
  const align = ctx.limits.minStorageBufferOffsetAlignment / 4;
  const chunk = Math.floor(ctx.limits.maxStorageBufferBindingSize / 4 / align) * align;
  for (let offset = 0; offset < n; offset += chunk) {
    const len = Math.min(chunk, n - offset);
    const whole = offset === 0 && len === n;
    const bind = (t: Tensor) => (whole ? t : t.window(offset, len));
    ctx.run(
      spec(entry),
      {
        ...(a ? { a: bind(a) } : {}),
        ...(b ? { b: bind(b) } : {}),
        out: bind(out),
        params: { n: len, alpha },
      },
      ctx.grid(len, WG),
    );
  }
  return out;
}

function binaryChecks(op: string, a: Tensor, b: Tensor): void {
  checkDType(op, 'a', a);
  checkDType(op, 'b', b);
  checkSameShape(op, 'a', a, 'b', b);
}

// ------------------------------------------------------------------ add

const addOp = defineOp<null>({
  name: 'add',
  forward: ([a, b]) => launch('add', a!, a!, b!),
  vjp: ({ gradOutputs: [g] }) => [g!, g!],
});
/** a + b, same shapes. */
export function add(a: Tensor, b: Tensor): Tensor<'f32'> {
  binaryChecks('add', a, b);
  return addOp([a, b], null)[0]! as Tensor<'f32'>;
}

// ------------------------------------------------------------------ sub

const subOp = defineOp<null>({
  name: 'sub',
  forward: ([a, b]) => launch('sub', a!, a!, b!),
  vjp: ({ gradOutputs: [g], needsGrad }) => [g!, needsGrad[1] ? launch('scale', g!, g!, null, -1) : null],
});
/** a − b, same shapes. */
export function sub(a: Tensor, b: Tensor): Tensor<'f32'> {
  binaryChecks('sub', a, b);
  return subOp([a, b], null)[0]! as Tensor<'f32'>;
}

// ------------------------------------------------------------------ mul

const mulOp = defineOp<null>({
  name: 'mul',
  forward: ([a, b], _, saver) => {
    saver.save(a!, b!);
    return launch('mul', a!, a!, b!);
  },
  vjp: ({ gradOutputs: [g], saved: [a, b], needsGrad }) => [
    needsGrad[0] ? launch('mul', g!, g!, b!) : null,
    needsGrad[1] ? launch('mul', g!, g!, a!) : null,
  ],
});
/** a ⊙ b (elementwise product), same shapes. */
export function mul(a: Tensor, b: Tensor): Tensor<'f32'> {
  binaryChecks('mul', a, b);
  return mulOp([a, b], null)[0]! as Tensor<'f32'>;
}

// ------------------------------------------------------------------ scale

const scaleOp = defineOp<number>({
  name: 'scale',
  forward: ([a], alpha) => launch('scale', a!, a!, null, alpha),
  vjp: ({ gradOutputs: [g], attrs: alpha }) => [launch('scale', g!, g!, null, alpha)],
});
/** alpha · a for a scalar alpha. */
export function scale(a: Tensor, alpha: number): Tensor<'f32'> {
  checkDType('scale', 'a', a);
  if (!Number.isFinite(alpha)) throw new InputValueError(`scale: alpha = ${alpha} must be finite`);
  return scaleOp([a], alpha)[0]! as Tensor<'f32'>;
}

// ------------------------------------------------------------------ relu

const reluOp = defineOp<null>({
  name: 'relu',
  forward: ([x], _, saver) => {
    saver.save(x!);
    return launch('relu', x!, x!, null);
  },
  vjp: ({ gradOutputs: [g], saved: [x] }) => [launch('relu_backward', x!, x!, g!)],
});
/** max(x, 0). The gradient at exactly 0 is 0. */
export function relu(x: Tensor): Tensor<'f32'> {
  checkDType('relu', 'x', x);
  return reluOp([x], null)[0]! as Tensor<'f32'>;
}

// ------------------------------------------------------------------ leakyRelu

const leakyReluOp = defineOp<number>({
  name: 'leakyRelu',
  forward: ([x], slope, saver) => {
    saver.save(x!);
    return launch('leaky_relu', x!, x!, null, slope);
  },
  vjp: ({ gradOutputs: [g], saved: [x], attrs: slope }) => [launch('leaky_relu_backward', x!, x!, g!, slope)],
});
/** x for x > 0, slope · x otherwise (default slope 0.01, as in PyTorch). */
export function leakyRelu(x: Tensor, slope = 0.01): Tensor<'f32'> {
  checkDType('leakyRelu', 'x', x);
  if (!Number.isFinite(slope)) throw new InputValueError(`leakyRelu: slope = ${slope} must be finite`);
  return leakyReluOp([x], slope)[0]! as Tensor<'f32'>;
}

// ------------------------------------------------------------------ sin

const sinOp = defineOp<null>({
  name: 'sin',
  forward: ([x], _, saver) => {
    saver.save(x!);
    return launch('sin_forward', x!, x!, null);
  },
  vjp: ({ gradOutputs: [g], saved: [x] }) => [launch('sin_backward', x!, x!, g!)],
});
/** sin(x), radians. */
export function sin(x: Tensor): Tensor<'f32'> {
  checkDType('sin', 'x', x);
  return sinOp([x], null)[0]! as Tensor<'f32'>;
}

// ------------------------------------------------------------------ exp

const expOp = defineOp<null>({
  name: 'exp',
  forward: ([x], _, saver) => {
    const y = launch('exp_forward', x!, x!, null);
    saver.save(y);
    return y;
  },
  vjp: ({ gradOutputs: [g], saved: [y] }) => [launch('mul', y!, y!, g!)],
});
/** eˣ. */
export function exp(x: Tensor): Tensor<'f32'> {
  checkDType('exp', 'x', x);
  return expOp([x], null)[0]! as Tensor<'f32'>;
}

// ------------------------------------------------------------------ log

const logOp = defineOp<null>({
  name: 'log',
  forward: ([x], _, saver) => {
    saver.save(x!);
    return launch('log_forward', x!, x!, null);
  },
  vjp: ({ gradOutputs: [g], saved: [x] }) => [launch('div', x!, g!, x!)],
});
/** Natural logarithm; non-positive inputs give −inf/NaN, as in IEEE arithmetic. */
export function log(x: Tensor): Tensor<'f32'> {
  checkDType('log', 'x', x);
  return logOp([x], null)[0]! as Tensor<'f32'>;
}

// ------------------------------------------------------------------ sigmoid

const sigmoidOp = defineOp<null>({
  name: 'sigmoid',
  forward: ([x], _, saver) => {
    const y = launch('sigmoid', x!, x!, null);
    saver.save(y);
    return y;
  },
  vjp: ({ gradOutputs: [g], saved: [y] }) => [launch('sigmoid_backward', y!, y!, g!)],
});
/** 1 / (1 + e⁻ˣ), computed without overflow for large |x|. */
export function sigmoid(x: Tensor): Tensor<'f32'> {
  checkDType('sigmoid', 'x', x);
  return sigmoidOp([x], null)[0]! as Tensor<'f32'>;
}

// ------------------------------------------------------------------ untracked helpers

/** A new tensor shaped like `like` filled with `value` (not recorded). */
export function fillLike(like: Tensor, value: number): Tensor {
  return launch('fill', like, null, null, value);
}

/** A copy of `a` (not recorded). */
export function copy(a: Tensor): Tensor {
  checkDType('copy', 'a', a);
  return launch('copy', a, a, null);
}

/** a + b without recording, for gradient accumulation. */
export function addUntracked(a: Tensor, b: Tensor): Tensor {
  binaryChecks('add', a, b);
  return launch('add', a, a, b);
}

installGradientKernels({ fill: fillLike, add: addUntracked, copy });
