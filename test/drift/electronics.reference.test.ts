import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/autodiff/numeric.js';
import { InputValueError } from '../../src/errors.js';
import {
  DEFAULT_ELECTRONICS_PARAMS,
  type ElectronicsParams,
  electronicsBackward,
  electronicsForward,
} from '../../src/kernels/drift/electronics.reference.js';
import type { SparsePixelCharge } from '../../src/kernels/drift/readout.reference.js';
import { dot, expectGradClose, randomVector } from './gradcheck.js';

function sparse(entries: [number, number, number, number][]): SparsePixelCharge {
  return {
    length: entries.length,
    pixelX: Int32Array.from(entries, (e) => e[0]),
    pixelY: Int32Array.from(entries, (e) => e[1]),
    tick: Int32Array.from(entries, (e) => e[2]),
    charge: Float64Array.from(entries, (e) => e[3]),
  };
}

describe('electronics: values', () => {
  it('ADC follows larnd-sim fee.digitize with its default voltages', () => {
    /*
     * adc = min(around(max(Q·g + V_ped − V_cm, 0)·N/(V_ref − V_cm)), N − 1), larnd-sim
     * fee.py `digitize`, constants consts/detector.py: g = 4e-3 mV/e, V_ped = 580 mV,
     * V_cm = 478.1 mV, V_ref = 1568 mV, N = 256. Expected values from numpy.
     */
    const r = electronicsForward(sparse([[0, 0, 0, 0], [0, 0, 5, 5000], [0, 1, 0, 50000], [1, 0, 0, 1e5], [2, 0, 0, 3e5]]), {
      applyThreshold: false,
    });
    expect(Array.from(r.adc)).toEqual([24, 29, 71, 118, 255]);
    expect(r.adcContinuous[2]).toBeCloseTo(70.91145976695108, 10);
    expect(r.adcContinuous[0]).toBeCloseTo(23.934672905771166, 10);
    // Differentiable output: charge by default; pedestal-subtracted ADC on request.
    expect(r.value[2]).toBe(50000);
    const a = electronicsForward(sparse([[0, 0, 0, 50000]]), { applyThreshold: false, output: 'adc' });
    expect(a.value[0]).toBeCloseTo(70.91145976695108 - 23.934672905771166, 10);
  });

  it('relaxed threshold: sigmoid around θ, hard step at width 0', () => {
    const q = sparse([[0, 0, 0, 1000], [0, 0, 1, 5000], [0, 0, 2, 20000]]);
    const soft = electronicsForward(q);
    expect(soft.thresholded[0]!).toBeLessThan(1000 * 0.01);
    expect(soft.thresholded[1]).toBeCloseTo(2500, 10);
    expect(soft.thresholded[2]!).toBeGreaterThan(0.99999 * 20000);
    const hard = electronicsForward(q, { thresholdWidth_e: 0 });
    expect(Array.from(hard.thresholded)).toEqual([0, 5000, 20000]);
  });

  it('integration sums a causal W-tick window per pixel', () => {
    const r = electronicsForward(sparse([[0, 0, 10, 1], [0, 0, 11, 2], [3, 1, 0, 4]]), { integrationTicks: 3, applyThreshold: false });
    const rows = Array.from({ length: r.length }, (_, i) => [r.pixelX[i], r.pixelY[i], r.tick[i], r.integrated[i]]);
    expect(rows).toEqual([
      [0, 0, 10, 1],
      [0, 0, 11, 3],
      [0, 0, 12, 3],
      [0, 0, 13, 2],
      [3, 1, 0, 4],
      [3, 1, 1, 4],
      [3, 1, 2, 4],
    ]);
  });

  it('noise is off by default, seeded when on', () => {
    const q = sparse(Array.from({ length: 4000 }, (_, i) => [i % 50, Math.floor(i / 50), 0, 10000] as [number, number, number, number]));
    expect(Array.from(electronicsForward(q).noise).every((x) => x === 0)).toBe(true);
    const a = electronicsForward(q, { noiseSeed: 5 });
    const b = electronicsForward(q, { noiseSeed: 5 });
    expect(Array.from(a.integrated)).toEqual(Array.from(b.integrated));
    let s2 = 0;
    for (const x of a.noise) s2 += x * x;
    expect(Math.sqrt(s2 / 4000)).toBeGreaterThan(470);
    expect(Math.sqrt(s2 / 4000)).toBeLessThan(530);
  });

  it('rejects invalid settings', () => {
    const q = sparse([[0, 0, 0, 1]]);
    expect(() => electronicsForward(q, { integrationTicks: 0 })).toThrow(InputValueError);
    expect(() => electronicsForward(q, { vRef_mV: 100 })).toThrow(/vRef_mV = 100/);
    expect(() => electronicsForward(q, { thresholdWidth_e: -1 })).toThrow(InputValueError);
    expect(() => electronicsForward(q, { gain_mV_per_e: 0 })).toThrow(InputValueError);
  });
});

describe('electronics: gradcheck', () => {
  const rand = seededRandom(12);
  const n = 30;
  const input = sparse(
    Array.from({ length: n }, (_, i) => [Math.floor(i / 10), 0, 3 * (i % 10) + (i % 3), 2000 + 8000 * rand()] as [number, number, number, number]),
  );
  const names = ['threshold_e', 'thresholdWidth_e', 'gain_mV_per_e', 'vRef_mV', 'vCm_mV', 'vPedestal_mV'] as const;
  const cases: [string, Partial<ElectronicsParams>][] = [
    ['charge output', {}],
    ['adc output with integration and noise', { output: 'adc', integrationTicks: 4, noiseSeed: 3 }],
    ['no threshold', { applyThreshold: false, output: 'adc' }],
  ];
  for (const [label, over] of cases) {
    it(label, () => {
      const p: ElectronicsParams = { ...DEFAULT_ELECTRONICS_PARAMS, ...over };
      const fwd = electronicsForward(input, p);
      const g = randomVector(fwd.length, rand);
      const an = electronicsBackward(fwd, g);
      const loss = (q: Float64Array, pp: ElectronicsParams): number => dot(g, electronicsForward({ ...input, charge: q }, pp).value);
      expectGradClose((x) => loss(x, p), input.charge.slice(), an.charge, { label: `${label} charge` });
      const pv = Float64Array.from(names.map((k) => p[k]));
      expectGradClose((x) => loss(input.charge, { ...p, ...Object.fromEntries(names.map((k, i) => [k, x[i]!])) }), pv, names.map((k) => an.params[k]), {
        label: `${label} params`,
      });
    });
  }
});
