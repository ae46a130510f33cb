/**
 * Float64 reference of `mseLoss`.
 *
 * @module
 */
import type { ReferenceOp } from '../../autodiff/gradcheck.js';

export const mseLossReference: ReferenceOp<null> = {
  forward: ([p, t]) => {
    let s = 0;
    for (let i = 0; i < p!.data.length; i++) s += (p!.data[i]! - t!.data[i]!) ** 2;
    return { shape: [1], data: Float64Array.of(s / p!.data.length) };
  },
  backward: ([p, t], g) => {
    const n = p!.data.length;
    const dp = Float64Array.from(p!.data, (v, i) => (2 * (v - t!.data[i]!) * g.data[0]!) / n);
    return [dp, dp.map((v) => -v)];
  },
};
