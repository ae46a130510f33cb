/**
 * Gradcheck helpers for the drift reference tests (not a test file itself).
 *
 * Parameters of very different scales (lifetime ≈ 2200 µs, D ≈ 8.8 cm²/s,
 * α ≈ 0.93) are probed on normalised variables z = x / scale with
 * `numericGradient`'s fixed step, so every probe is a relative step of
 * h·scale/|x|; the analytic gradient is scaled the same way before comparing.
 */

import { expect } from 'vitest';
import { maxRelativeError, numericGradient } from '../../src/autodiff/numeric.js';

/**
 * Compare analytic and central-difference gradients of f at x.
 *
 * @param f scalar function of the (mutated-in-place) vector x
 * @param x point (restored after probing)
 * @param analytic ∂f/∂x at x
 * @param scale per-entry scale (default max(|x_i|, 1e-3)); the probe step is h·scale_i
 * @param tol maximum relative error (relative to the largest gradient entry)
 */
export function expectGradClose(
  f: (x: Float64Array) => number,
  x: Float64Array,
  analytic: ArrayLike<number>,
  options: { scale?: ArrayLike<number>; tol?: number; h?: number; label?: string } = {},
): number {
  const n = x.length;
  const scale = new Float64Array(n);
  for (let i = 0; i < n; i++) scale[i] = options.scale ? options.scale[i]! : Math.max(Math.abs(x[i]!), 1e-3);
  const base = x.slice();
  const z = new Float64Array(n);
  for (let i = 0; i < n; i++) z[i] = base[i]! / scale[i]!;
  const g = (zs: Float64Array[]): number => {
    const zz = zs[0]!;
    for (let i = 0; i < n; i++) x[i] = zz[i]! * scale[i]!;
    return f(x);
  };
  const [num] = numericGradient(g, [z], options.h ?? 1e-6);
  x.set(base);
  const an = new Float64Array(n);
  for (let i = 0; i < n; i++) an[i] = analytic[i]! * scale[i]!;
  const err = maxRelativeError(an, num!);
  if (!(err <= (options.tol ?? 1e-5))) {
    const rows: string[] = [];
    for (let i = 0; i < n; i++) rows.push(`${i}: analytic ${an[i]} numeric ${num![i]}`);
    expect.fail(`${options.label ?? 'gradcheck'}: max relative error ${err}\n${rows.join('\n')}`);
  }
  return err;
}

/** A deterministic vector of upstream gradients in [−1, 1). */
export function randomVector(n: number, rand: () => number): Float64Array {
  const g = new Float64Array(n);
  for (let i = 0; i < n; i++) g[i] = 2 * rand() - 1;
  return g;
}

/** Σ g_i·y_i. */
export function dot(g: ArrayLike<number>, y: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < g.length; i++) s += g[i]! * y[i]!;
  return s;
}
