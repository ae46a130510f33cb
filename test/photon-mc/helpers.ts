/**
 * Statistics and quadrature helpers for the photon-mc tests.
 *
 * @module
 */

import { expect } from 'vitest';

/** (k − n·p) / √(n·p·(1 − p)): the binomial pull of k successes in n trials. */
export function binomialPull(k: number, n: number, p: number): number {
  const sigma = Math.sqrt(n * p * (1 - p));
  if (sigma === 0) return k === n * p ? 0 : Number.POSITIVE_INFINITY;
  return (k - n * p) / sigma;
}

/** Assert that k successes of n trials agree with probability p within `nSigma` binomial σ. */
export function expectBinomial(k: number, n: number, p: number, label: string, nSigma = 4): void {
  const pull = binomialPull(k, n, p);
  expect(Math.abs(pull), `${label}: k=${k} n=${n} p=${p} pull=${pull.toFixed(2)}σ`).toBeLessThan(nSigma);
}

/** Pearson χ² of observed counts against expected counts. */
export function chiSquare(observed: ArrayLike<number>, expected: ArrayLike<number>): number {
  let chi2 = 0;
  for (let i = 0; i < observed.length; i++) {
    const e = expected[i]!;
    const d = observed[i]! - e;
    chi2 += (d * d) / e;
  }
  return chi2;
}

/** Upper acceptance bound for χ² with `dof` degrees of freedom: mean + 4·σ = dof + 4√(2·dof). */
export function chiSquareBound(dof: number): number {
  return dof + 4 * Math.sqrt(2 * dof);
}

/** Midpoint rule for ∫∫ f(u, v) du dv over [u0, u1] × [v0, v1] with n × n cells. */
export function midpoint2D(
  f: (u: number, v: number) => number,
  u0: number,
  u1: number,
  v0: number,
  v1: number,
  n: number,
): number {
  const du = (u1 - u0) / n;
  const dv = (v1 - v0) / n;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const u = u0 + (i + 0.5) * du;
    for (let j = 0; j < n; j++) sum += f(u, v0 + (j + 0.5) * dv);
  }
  return sum * du * dv;
}
