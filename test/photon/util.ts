/** Small helpers shared by the photon reference tests. */
import { expect } from 'vitest';
import { maxRelativeError, numericGradient, seededRandom } from '../../src/autodiff/numeric.js';

/** Uniform values in [lo, hi) from a seeded stream. */
export function uniformArray(rand: () => number, n: number, lo = -1, hi = 1): Float64Array {
  return Float64Array.from({ length: n }, () => lo + (hi - lo) * rand());
}

export function rng(seed: number): () => number {
  return seededRandom(seed);
}

/**
 * Compares analytic gradients with central differences of the scalar `f`
 * over `inputs`, input by input, so a failure names the offending tensor.
 */
export function expectGradientsMatch(
  f: (inputs: Float64Array[]) => number,
  inputs: Float64Array[],
  analytic: Float64Array[],
  names: readonly string[],
  tol = 1e-6,
  h = 1e-6,
): void {
  const numeric = numericGradient(f, inputs, h);
  numeric.forEach((g, k) => {
    expect(maxRelativeError(analytic[k]!, g), `gradient of ${names[k]}`).toBeLessThan(tol);
  });
}

/** Σ a_i b_i. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}
