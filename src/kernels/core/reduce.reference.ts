/**
 * Float64 references of `sum` and `mean`.
 *
 * @module
 */
import type { ReferenceOp } from '../../autodiff/gradcheck.js';

export const sumReference: ReferenceOp<null> = {
  forward: ([x]) => ({ shape: [1], data: Float64Array.of(x!.data.reduce((s, v) => s + v, 0)) }),
  backward: ([x], g) => [new Float64Array(x!.data.length).fill(g.data[0]!)],
};

export const meanReference: ReferenceOp<null> = {
  forward: ([x]) => ({ shape: [1], data: Float64Array.of(x!.data.reduce((s, v) => s + v, 0) / x!.data.length) }),
  backward: ([x], g) => [new Float64Array(x!.data.length).fill(g.data[0]! / x!.data.length)],
};

