import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/autodiff/numeric.js';
import { erf, erfc, gaussianSource, normalCdf, normalPdf } from '../../src/kernels/drift/special.js';

// Reference values: scipy.special.erf / erfc (float64).
const TABLE: readonly [number, number, number][] = [
  [0, 0, 1],
  [0.1, 0.1124629160182849, 0.8875370839817152],
  [0.5, 0.5204998778130465, 0.4795001221869535],
  [1, 0.8427007929497148, 0.15729920705028516],
  [2, 0.9953222650189527, 0.004677734981047266],
  [2.5, 0.999593047982555, 0.00040695201744495886],
  [3, 0.9999779095030014, 2.2090496998585445e-5],
  [5, 0.9999999999984626, 1.5374597944280347e-12],
  [8, 1, 1.1224297172982928e-29],
];

describe('special functions (float64)', () => {
  it('erf and erfc match scipy to ~1e-15', () => {
    for (const [x, e, ec] of TABLE) {
      expect(Math.abs(erf(x) - e)).toBeLessThan(2e-16 + 1e-15 * Math.abs(e));
      expect(Math.abs(erf(-x) + e)).toBeLessThan(2e-16 + 1e-15 * Math.abs(e));
      expect(Math.abs(erfc(x) - ec) / ec).toBeLessThan(1e-13);
      expect(Math.abs(erfc(-x) - (2 - ec))).toBeLessThan(1e-15);
    }
  });

  it('erf is continuous across the series / continued-fraction switch', () => {
    const h = 1e-7;
    const a = erfc(2.5 - h);
    const b = erfc(2.5 + h);
    const slope = (-2 / Math.sqrt(Math.PI)) * Math.exp(-6.25);
    expect(Math.abs((b - a) / (2 * h) - slope) / Math.abs(slope)).toBeLessThan(1e-6);
  });

  it('Φ and φ: limits, symmetry, derivative', () => {
    expect(normalCdf(Infinity)).toBe(1);
    expect(normalCdf(-Infinity)).toBe(0);
    expect(normalPdf(Infinity)).toBe(0);
    for (const z of [-6, -1.3, 0, 0.7, 4]) {
      expect(normalCdf(z) + normalCdf(-z)).toBeCloseTo(1, 15);
      const h = 1e-5;
      expect((normalCdf(z + h) - normalCdf(z - h)) / (2 * h)).toBeCloseTo(normalPdf(z), 9);
    }
  });

  it('gaussianSource is seeded and standard normal', () => {
    const a = gaussianSource(seededRandom(7));
    const b = gaussianSource(seededRandom(7));
    let s = 0;
    let s2 = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const x = a();
      expect(x).toBe(b());
      s += x;
      s2 += x * x;
    }
    expect(Math.abs(s / n)).toBeLessThan(0.03);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.04);
  });
});
