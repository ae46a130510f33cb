import { describe, expect, it } from 'vitest';
import { InputValueError, ShapeError } from '../../src/errors.js';
import { maxRelativeError, numericGradient } from '../../src/autodiff/numeric.js';
import {
  VIS_LOG_EPSILON,
  denormalizeCoordinatesRef,
  logGamma,
  logToVisibilityDerivativeRef,
  logToVisibilityRef,
  normalizeCoordinatesBackwardRef,
  normalizeCoordinatesRef,
  poissonNllRef,
  visibilityBiasRef,
  visibilityLossWeightsRef,
  visibilityToLogDerivativeRef,
  visibilityToLogRef,
  weightedL2LossRef,
} from '../../src/kernels/photon/visibility.reference.js';
import { dot, expectGradientsMatch, rng, uniformArray } from './util.js';

// Visibilities spanning the library's dynamic range, including exact 0 and 1.
const visibilities = Float64Array.of(0, 1e-12, 1e-9, 3e-7, 4.5e-5, 1e-3, 0.02, 0.5, 1);

describe('log transform', () => {
  it('maps 0 → 0 and vmax → 1, or −1 and 1 with sinOut', () => {
    const y = visibilityToLogRef(Float64Array.of(0, 1));
    expect(y[0]).toBe(0);
    expect(y[1]).toBeCloseTo(1, 15);
    const s = visibilityToLogRef(Float64Array.of(0, 1), { sinOut: true });
    expect(s[0]).toBe(-1);
    expect(s[1]).toBeCloseTo(1, 15);
    expect(VIS_LOG_EPSILON).toBe(1e-7);
  });

  it('matches the closed form at a sample point', () => {
    const v = 1e-3;
    const expected = (Math.log10(v + 1e-7) + 7) / (Math.log10(1 + 1e-7) + 7);
    expect(visibilityToLogRef([v])[0]).toBeCloseTo(expected, 14);
  });

  for (const options of [{}, { sinOut: true }, { epsilon: 1e-5, vmax: 0.2 }] as const) {
    it(`round-trips v → y → v and y → v → y, options ${JSON.stringify(options)}`, () => {
      const eps = 'epsilon' in options ? options.epsilon : 1e-7;
      const back = logToVisibilityRef(visibilityToLogRef(visibilities, options), options);
      for (let i = 0; i < visibilities.length; i++) {
        // 10^(…) − ε loses digits relative to v + ε, not to v itself.
        expect(Math.abs(back[i]! - visibilities[i]!)).toBeLessThan(1e-13 * (visibilities[i]! + eps));
      }
      const y = uniformArray(rng(2), 20, 'sinOut' in options ? -1 : 0, 1);
      expect(maxRelativeError(visibilityToLogRef(logToVisibilityRef(y, options), options), y)).toBeLessThan(1e-12);
    });

    it(`derivatives match central differences, options ${JSON.stringify(options)}`, () => {
      const v = Float64Array.of(1e-6, 3e-4, 0.01, 0.3, 0.9);
      const dydv = visibilityToLogDerivativeRef(v, options);
      for (let i = 0; i < v.length; i++) {
        const h = v[i]! * 1e-5;
        const num =
          (visibilityToLogRef([v[i]! + h], options)[0]! - visibilityToLogRef([v[i]! - h], options)[0]!) / (2 * h);
        expect(Math.abs(dydv[i]! - num) / Math.abs(num)).toBeLessThan(1e-7);
      }
      const y = visibilityToLogRef(v, options);
      const dvdy = logToVisibilityDerivativeRef(y, options);
      const [num] = numericGradient((inp) => dot(logToVisibilityRef(inp[0]!, options), [1, 1, 1, 1, 1]), [y]);
      expect(maxRelativeError(dvdy, num!)).toBeLessThan(1e-7);
      for (let i = 0; i < v.length; i++) expect(dvdy[i]! * dydv[i]!).toBeCloseTo(1, 12);
    });
  }

  it('rejects negative or NaN visibility with the index', () => {
    expect(() => visibilityToLogRef([0.1, -1e-3])).toThrow(InputValueError);
    expect(() => visibilityToLogRef([0.1, -1e-3])).toThrow(/visibility\[1\] = -0\.001/);
    expect(() => visibilityToLogDerivativeRef([Number.NaN])).toThrow(/visibility\[0\] = NaN/);
    expect(() => logToVisibilityRef([0, Infinity])).toThrow(/y must be finite.*index 1/);
    expect(() => visibilityToLogRef([0.1], { epsilon: 0 })).toThrow(/options\.epsilon/);
  });
});

describe('loss weights', () => {
  it("default compares factor·v with the threshold (siren-lartpc): w = 1 iff 1e6·v < 1e-8", () => {
    const w = visibilityLossWeightsRef(Float64Array.of(0, 5e-15, 2e-14, 1e-9, 1e-6, 0.01));
    expect(Array.from(w)).toEqual([1, 1, 2e-14 * 1e6, 1e-9 * 1e6, 1e-6 * 1e6, 0.01 * 1e6]);
  });

  it("compare = 'visibility': w = 1 iff v < 1e-8", () => {
    const w = visibilityLossWeightsRef(Float64Array.of(0, 5e-9, 1e-8, 0.01), { compare: 'visibility' });
    expect(Array.from(w)).toEqual([1, 1, 1e-8 * 1e6, 0.01 * 1e6]);
  });

  it('honours factor and threshold', () => {
    expect(Array.from(visibilityLossWeightsRef([0.5, 0.01], { factor: 10, threshold: 1 }))).toEqual([5, 1]);
  });
});

describe('weighted L2 loss', () => {
  const r = rng(5);
  const pred = uniformArray(r, 12);
  const target = uniformArray(r, 12);
  const weight = uniformArray(r, 12, 0, 3);

  for (const reduction of ['mean', 'sum'] as const) {
    it(`value and gradient, reduction ${reduction}`, () => {
      const { loss, gradPred } = weightedL2LossRef(pred, target, weight, reduction);
      let expected = 0;
      for (let i = 0; i < 12; i++) expected += weight[i]! * (pred[i]! - target[i]!) ** 2;
      expect(loss).toBeCloseTo(reduction === 'mean' ? expected / 12 : expected, 14);
      expectGradientsMatch(
        (inp) => weightedL2LossRef(inp[0]!, target, weight, reduction).loss,
        [Float64Array.from(pred)],
        [gradPred],
        ['pred'],
      );
    });
  }

  it('defaults to unit weights and rejects mismatched lengths', () => {
    expect(weightedL2LossRef([1, 2], [0, 0]).loss).toBe(2.5);
    expect(() => weightedL2LossRef([1, 2], [0])).toThrow(ShapeError);
    expect(() => weightedL2LossRef([1, 2], [0, 0], [1])).toThrow(/pred has 2 elements but weight has 1/);
  });
});

describe('Poisson NLL', () => {
  it('logGamma matches known values', () => {
    expect(logGamma(1)).toBeCloseTo(0, 14);
    expect(logGamma(2)).toBeCloseTo(0, 14);
    expect(logGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 13);
    expect(logGamma(0.1)).toBeCloseTo(2.252712651734206, 12);
    expect(logGamma(11)).toBeCloseTo(Math.log(3628800), 12);
    expect(logGamma(101) / 363.73937555556347).toBeCloseTo(1, 13);
    expect(() => logGamma(0)).toThrow(InputValueError);
  });

  it('value equals the Poisson log-pmf when full', () => {
    const lam = 3.7;
    const k = 5;
    const pmf = (Math.exp(-lam) * lam ** k) / 120;
    const { loss } = poissonNllRef([lam], [k], { full: true, epsilon: 1e-300 });
    expect(loss).toBeCloseTo(-Math.log(pmf), 12);
  });

  for (const reduction of ['sum', 'mean'] as const) {
    it(`gradient matches central differences, reduction ${reduction}`, () => {
      const r = rng(9);
      const pred = uniformArray(r, 10, 0.1, 50);
      const obs = Float64Array.from({ length: 10 }, (_, i) => (i === 0 ? 0 : Math.round(r() * 60)));
      const { gradPred } = poissonNllRef(pred, obs, { reduction, full: true });
      expectGradientsMatch(
        (inp) => poissonNllRef(inp[0]!, obs, { reduction, full: true }).loss,
        [Float64Array.from(pred)],
        [gradPred],
        ['pred'],
        1e-6,
        1e-5,
      );
    });
  }

  it('stays finite as the prediction goes to 0', () => {
    const { loss, gradPred } = poissonNllRef([0, 0], [0, 3]);
    expect(Number.isFinite(loss)).toBe(true);
    expect(gradPred[0]).toBe(1);
    expect(Number.isFinite(gradPred[1]!)).toBe(true);
    expect(gradPred[1]!).toBeLessThan(0);
  });

  it('rejects negative counts and mismatched photodetector counts', () => {
    expect(() => poissonNllRef([1, -2], [1, 1])).toThrow(/pred\[1\] = -2/);
    expect(() => poissonNllRef([1, 2], [1, -1])).toThrow(/observed\[1\]/);
    expect(() => poissonNllRef([1, 2, 3], [1, 1])).toThrow(ShapeError);
  });
});

describe('coordinate normalisation', () => {
  const box = { min: [-100, -50, 0], max: [100, 150, 400] } as const;

  it('maps the box corners to ±1 and round-trips', () => {
    const p = Float64Array.of(-100, -50, 0, 100, 150, 400, 0, 50, 200);
    const u = normalizeCoordinatesRef(p, box);
    expect(Array.from(u)).toEqual([-1, -1, -1, 1, 1, 1, 0, 0, 0]);
    const q = uniformArray(rng(1), 30, 0, 100);
    expect(maxRelativeError(denormalizeCoordinatesRef(normalizeCoordinatesRef(q, box), box), q)).toBeLessThan(1e-15);
  });

  it('throws for points outside, naming row and coordinate, unless clamping', () => {
    const p = Float64Array.of(0, 0, 10, 5, 151, 10);
    expect(() => normalizeCoordinatesRef(p, box)).toThrow(InputValueError);
    expect(() => normalizeCoordinatesRef(p, box)).toThrow(/row 1 has y = 151 cm.*\[-50, 150\].*clamp/);
    const u = normalizeCoordinatesRef(p, box, 'clamp');
    expect(u[4]).toBe(1);
  });

  it('backward scales by 2/(max − min) and zeroes clamped coordinates', () => {
    const p = Float64Array.of(10, 20, 30, 200, 20, -5);
    const g = normalizeCoordinatesBackwardRef(p, box, Float64Array.of(1, 1, 1, 1, 1, 1));
    expect(Array.from(g)).toEqual([0.01, 0.01, 0.005, 0, 0.01, 0]);
    const inside = uniformArray(rng(3), 12, 1, 99);
    const gu = uniformArray(rng(4), 12);
    expectGradientsMatch(
      (inp) => dot(normalizeCoordinatesRef(inp[0]!, box), gu),
      [inside],
      [normalizeCoordinatesBackwardRef(inside, box, gu)],
      ['points'],
    );
  });

  it('rejects degenerate boxes and ragged point arrays', () => {
    expect(() => normalizeCoordinatesRef([0, 0, 0], { min: [0, 0, 0], max: [1, 0, 1] })).toThrow(
      /box y range.*min < max/,
    );
    expect(() => normalizeCoordinatesRef([0, 0], box)).toThrow(ShapeError);
  });
});

describe('visibility bias metric', () => {
  it('averages 2|p − t|/(p + t) over targets above 4.5e-5 only', () => {
    const t = Float64Array.of(1e-3, 2e-3, 4.5e-5, 1e-6);
    const p = Float64Array.of(1.1e-3, 2e-3, 1, 1);
    const { value, count } = visibilityBiasRef(p, t);
    expect(count).toBe(2);
    expect(value).toBeCloseTo((2 * 0.1e-3) / 2.1e-3 / 2, 14);
    expect(Number.isNaN(visibilityBiasRef([1], [0]).value)).toBe(true);
  });
});
