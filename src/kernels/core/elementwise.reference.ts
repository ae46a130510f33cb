/**
 * Float64 references of the elementwise ops in `elementwise.ts`.
 *
 * @module
 */
import type { HostTensor, ReferenceOp } from '../../autodiff/gradcheck.js';

function map(t: HostTensor, f: (x: number, i: number) => number): HostTensor {
  return { shape: t.shape, data: Float64Array.from(t.data, f) };
}

/** Reference of a unary op y = f(x) with derivative f'(x) (given x and y). */
function unary(f: (x: number) => number, df: (x: number, y: number) => number): ReferenceOp<number> {
  return {
    forward: ([x]) => map(x!, f),
    backward: ([x], g) => [Float64Array.from(x!.data, (v, i) => g.data[i]! * df(v, f(v)))],
  };
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** References keyed by op name; `attrs` is the scalar (alpha / slope) where the op has one. */
export const elementwiseReference = {
  add: {
    forward: ([a, b]) => map(a!, (v, i) => v + b!.data[i]!),
    backward: (_, g) => [g.data.slice(), g.data.slice()],
  },
  sub: {
    forward: ([a, b]) => map(a!, (v, i) => v - b!.data[i]!),
    backward: (_, g) => [g.data.slice(), g.data.map((v) => -v)],
  },
  mul: {
    forward: ([a, b]) => map(a!, (v, i) => v * b!.data[i]!),
    backward: ([a, b], g) => [g.data.map((v, i) => v * b!.data[i]!), g.data.map((v, i) => v * a!.data[i]!)],
  },
  scale: {
    forward: ([a], alpha) => map(a!, (v) => v * alpha),
    backward: (_, g, alpha) => [g.data.map((v) => v * alpha)],
  },
  relu: unary((x) => Math.max(x, 0), (x) => (x > 0 ? 1 : 0)),
  leakyRelu: {
    forward: ([x], slope) => map(x!, (v) => (v > 0 ? v : slope * v)),
    backward: ([x], g, slope) => [g.data.map((v, i) => (x!.data[i]! > 0 ? v : slope * v))],
  },
  sin: unary(Math.sin, Math.cos),
  exp: unary(Math.exp, (_, y) => y),
  log: unary(Math.log, (x) => 1 / x),
  sigmoid: unary(sigmoid, (_, y) => y * (1 - y)),
} satisfies Record<string, ReferenceOp<number>>;
