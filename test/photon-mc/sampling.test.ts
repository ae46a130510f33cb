import { describe, expect, it } from 'vitest';
import { philox4x32, u32ToUnit, u32ToUnitPositive } from '../../src/kernels/photon-mc/philox.js';
import {
  isotropicDirection,
  lambertianDirection,
  rotateDirection,
  sampleRayleighCosTheta,
} from '../../src/kernels/photon-mc/propagate.reference.js';
import { chiSquare, chiSquareBound } from './helpers.js';

/** n Philox-driven uniforms in [0, 1), from a stream separate from the propagator's. */
function uniforms(n: number, key: number): Float64Array {
  const out = new Float64Array(n);
  const block = new Uint32Array(4);
  for (let i = 0; i < n; i += 4) {
    philox4x32(i / 4, 0, 7, 0, 0xabcdef, key, block);
    for (let k = 0; k < 4 && i + k < n; k++) out[i + k] = u32ToUnit(block[k]!);
  }
  return out;
}

/** Histogram of values in [lo, hi) into `bins` equal bins. */
function histogram(values: ArrayLike<number>, lo: number, hi: number, bins: number): Float64Array {
  const h = new Float64Array(bins);
  for (let i = 0; i < values.length; i++) {
    const b = Math.min(bins - 1, Math.floor(((values[i]! - lo) / (hi - lo)) * bins));
    h[b]!++;
  }
  return h;
}

/** Expected counts of n samples with CDF `cdf` in equal bins over [lo, hi]. */
function expectedCounts(n: number, cdf: (x: number) => number, lo: number, hi: number, bins: number): Float64Array {
  const e = new Float64Array(bins);
  for (let b = 0; b < bins; b++) {
    e[b] = n * (cdf(lo + ((b + 1) * (hi - lo)) / bins) - cdf(lo + (b * (hi - lo)) / bins));
  }
  return e;
}

/** CDF of the Rayleigh angular density (3/8)(1 + μ²) on [−1, 1]. */
const rayleighCdf = (mu: number): number => (3 / 8) * (mu + (mu * mu * mu) / 3) + 0.5;

describe('Rayleigh scattering angle', () => {
  it('inverts the CDF exactly: F(μ(u)) = u, endpoints ±1', () => {
    for (const u of [0, 1e-9, 0.1, 0.25, 0.5, 0.7, 0.9999, 1]) {
      const mu = sampleRayleighCosTheta(u);
      expect(mu).toBeGreaterThanOrEqual(-1);
      expect(mu).toBeLessThanOrEqual(1);
      expect(rayleighCdf(mu)).toBeCloseTo(u, 13);
    }
    expect(sampleRayleighCosTheta(0)).toBeCloseTo(-1, 14);
    expect(sampleRayleighCosTheta(0.5)).toBe(0);
  });

  it('histogram of cos θ follows (1 + cos²θ) (χ², 40 bins) and has the power to reject isotropy', () => {
    const n = 200000;
    const bins = 40;
    const u = uniforms(n, 1);
    const mu = u.map(sampleRayleighCosTheta);
    const expected = expectedCounts(n, rayleighCdf, -1, 1, bins);
    const chi2 = chiSquare(histogram(mu, -1, 1, bins), expected);
    expect(chi2).toBeLessThan(chiSquareBound(bins - 1));
    // An isotropic sample is clearly rejected by the same test.
    const iso = u.map((x) => 2 * x - 1);
    expect(chiSquare(histogram(iso, -1, 1, bins), expected)).toBeGreaterThan(10 * chiSquareBound(bins - 1));
    // moments: <μ> = 0, <μ²> = 2/5 for (3/8)(1 + μ²)
    let m1 = 0;
    let m2 = 0;
    for (const x of mu) {
      m1 += x;
      m2 += x * x;
    }
    expect(Math.abs(m1 / n)).toBeLessThan(4 * Math.sqrt(0.4 / n));
    expect(Math.abs(m2 / n - 0.4)).toBeLessThan(4 * Math.sqrt((3 / 7 - 0.16) / n)); // <μ⁴> = 3/7
  });

  it('rotateDirection: the scattered direction makes the sampled angle with the incoming one, uniform azimuth', () => {
    const n = 100000;
    const u = uniforms(4 * n, 2);
    const bins = 40;
    const cosines = new Float64Array(n);
    const azimuths = new Float64Array(n);
    const d: [number, number, number] = [0, 0, 0];
    const out: [number, number, number] = [0, 0, 0];
    let worstLength = 0;
    let worstAngle = 0;
    for (let i = 0; i < n; i++) {
      isotropicDirection(u[4 * i]!, u[4 * i + 1]!, d);
      const mu = sampleRayleighCosTheta(u[4 * i + 2]!);
      rotateDirection(d, mu, 2 * Math.PI * u[4 * i + 3]!, out);
      worstLength = Math.max(worstLength, Math.abs(Math.hypot(...out) - 1));
      const c = d[0] * out[0] + d[1] * out[1] + d[2] * out[2];
      worstAngle = Math.max(worstAngle, Math.abs(c - mu));
      cosines[i] = c;
      // azimuth about the incoming direction measured against the global z axis projected out
      const ref = Math.abs(d[2]) < 0.9 ? [0, 0, 1] : [1, 0, 0];
      const rd = ref[0]! * d[0] + ref[1]! * d[1] + ref[2]! * d[2];
      const e1 = [ref[0]! - rd * d[0], ref[1]! - rd * d[1], ref[2]! - rd * d[2]];
      const e1n = Math.hypot(e1[0]!, e1[1]!, e1[2]!);
      const e2 = [d[1] * e1[2]! - d[2] * e1[1]!, d[2] * e1[0]! - d[0] * e1[2]!, d[0] * e1[1]! - d[1] * e1[0]!];
      const x = (out[0] * e1[0]! + out[1] * e1[1]! + out[2] * e1[2]!) / e1n;
      const y = (out[0] * e2[0]! + out[1] * e2[1]! + out[2] * e2[2]!) / e1n;
      azimuths[i] = Math.atan2(y, x) + Math.PI;
    }
    expect(worstLength).toBeLessThan(1e-14);
    expect(worstAngle).toBeLessThan(1e-12);
    expect(chiSquare(histogram(cosines, -1, 1, bins), expectedCounts(n, rayleighCdf, -1, 1, bins))).toBeLessThan(
      chiSquareBound(bins - 1),
    );
    expect(
      chiSquare(histogram(azimuths, 0, 2 * Math.PI, bins), new Float64Array(bins).fill(n / bins)),
    ).toBeLessThan(chiSquareBound(bins - 1));
  });

  it('rotateDirection is exact at the poles', () => {
    const out: [number, number, number] = [0, 0, 0];
    for (const d of [
      [0, 0, 1],
      [0, 0, -1],
    ] as const) {
      rotateDirection(d, 0.3, 1.1, out);
      expect(d[2] * out[2]).toBeCloseTo(0.3, 14);
      expect(Math.hypot(...out)).toBeCloseTo(1, 14);
    }
  });
});

describe('emission and diffuse reflection directions', () => {
  it('isotropic: cos θ and φ uniform (χ²)', () => {
    const n = 100000;
    const bins = 32;
    const u = uniforms(2 * n, 3);
    const cz = new Float64Array(n);
    const phi = new Float64Array(n);
    const d: [number, number, number] = [0, 0, 0];
    for (let i = 0; i < n; i++) {
      isotropicDirection(u[2 * i]!, u[2 * i + 1]!, d);
      cz[i] = d[2];
      phi[i] = Math.atan2(d[1], d[0]) + Math.PI;
    }
    const flat = new Float64Array(bins).fill(n / bins);
    expect(chiSquare(histogram(cz, -1, 1, bins), flat)).toBeLessThan(chiSquareBound(bins - 1));
    expect(chiSquare(histogram(phi, 0, 2 * Math.PI, bins), flat)).toBeLessThan(chiSquareBound(bins - 1));
  });

  it('Lambertian: inward, cos θ density 2 cos θ (χ²), uniform azimuth', () => {
    const n = 100000;
    const bins = 32;
    const block = new Uint32Array(4);
    const c = new Float64Array(n);
    const d: [number, number, number] = [0, 0, 0];
    let largestX = -Infinity;
    let worstLength = 0;
    for (let i = 0; i < n; i++) {
      philox4x32(i, 0, 1, 0, 5, 6, block);
      // an "x+" wall: inside is towards −x
      lambertianDirection(0, -1, u32ToUnitPositive(block[1]!), u32ToUnit(block[2]!), d);
      largestX = Math.max(largestX, d[0]);
      worstLength = Math.max(worstLength, Math.abs(Math.hypot(...d) - 1));
      c[i] = -d[0];
    }
    expect(largestX).toBeLessThan(0);
    expect(worstLength).toBeLessThan(1e-14);
    const expected = expectedCounts(n, (x) => x * x, 0, 1, bins);
    expect(chiSquare(histogram(c, 0, 1, bins), expected)).toBeLessThan(chiSquareBound(bins - 1));
    const uniform = new Float64Array(bins).fill(n / bins);
    expect(chiSquare(histogram(c, 0, 1, bins), uniform)).toBeGreaterThan(10 * chiSquareBound(bins - 1));
  });
});
