import { describe, expect, it } from 'vitest';
import { InputValueError, ShapeError } from '../../src/errors.js';
import { maxRelativeError } from '../../src/autodiff/numeric.js';
import {
  LAR_SCINTILLATION_YIELD_PER_MEV,
  flashHypothesisBackwardRef,
  flashHypothesisRef,
  flashMatchPoissonRef,
  photonsFromEnergy,
  requireMatchingPhotodetectors,
  sirenVisibilityModel,
  tableVisibilityModel,
} from '../../src/kernels/photon/flash.reference.js';
import { type PhotonLibraryMeta, createPhotonLibrary } from '../../src/kernels/photon/photon-library.reference.js';
import {
  type SirenParams,
  initSirenParams,
  sirenConfig,
  sirenForwardRef,
} from '../../src/kernels/photon/siren.reference.js';
import { logToVisibilityRef, normalizeCoordinatesRef, poissonNllRef } from '../../src/kernels/photon/visibility.reference.js';
import { dot, expectGradientsMatch, rng, uniformArray } from './util.js';

const box = { min: [-40, -20, 0], max: [40, 20, 100] } as const;
const config = sirenConfig({ inputDim: 3, hiddenWidth: 6, hiddenLayers: 2, outputDim: 4, omegaHidden: 25 });

function deposits(seed: number, n: number) {
  const r = rng(seed);
  const positions = Float64Array.from({ length: 3 * n }, (_, i) => [-30 + 50 * r(), -15 + 30 * r(), 10 + 70 * r()][i % 3]!);
  const charges = uniformArray(r, n, 100, 5000);
  return { positions, charges };
}

function tableModel(seed: number) {
  const meta: PhotonLibraryMeta = { shape: [8, 4, 10], min: [...box.min], max: [...box.max], numPhotodetectors: 4 };
  const r = rng(seed);
  const lib = createPhotonLibrary(meta, Float32Array.from({ length: 8 * 4 * 10 * 4 }, () => r() * 1e-3));
  return tableVisibilityModel(lib);
}

function flatten(p: SirenParams): Float64Array[] {
  return p.weights.flatMap((W, l) => [W, p.biases[l]!]);
}
function unflatten(arrays: Float64Array[]): SirenParams {
  return { weights: arrays.filter((_, i) => i % 2 === 0), biases: arrays.filter((_, i) => i % 2 === 1) };
}

describe('flash hypothesis', () => {
  it('is Σ_i V_d(p_i + Δ) q_i', () => {
    const model = tableModel(1);
    const { positions, charges } = deposits(2, 5);
    const shift = [3, -1, 2];
    const pe = flashHypothesisRef(model, positions, charges, shift);
    const vis = model.evaluate(positions.map((v, i) => v + shift[i % 3]!));
    for (let d = 0; d < 4; d++) {
      let s = 0;
      for (let i = 0; i < 5; i++) s += vis[i * 4 + d]! * charges[i]!;
      expect(pe[d]).toBeCloseTo(s, 10);
    }
  });

  it('SIREN model: V = inverse log transform of SIREN(normalised p), with output scale', () => {
    const params = initSirenParams(config, 3);
    const scale = Float64Array.of(1, 0.9, 1.1, 0.95);
    const model = sirenVisibilityModel(config, params, box, { outputScale: scale });
    const { positions } = deposits(4, 3);
    const y = sirenForwardRef(config, params, normalizeCoordinatesRef(positions, box)).output;
    const expected = logToVisibilityRef(y.map((v, i) => v * scale[i % 4]!), { sinOut: true });
    expect(maxRelativeError(model.evaluate(positions), expected)).toBeLessThan(1e-15);
  });

  const cases = [
    ['voxel table', () => tableModel(5)],
    ['SIREN', () => sirenVisibilityModel(config, initSirenParams(config, 6), box, { outputScale: Float64Array.of(1, 0.8, 1.2, 1) })],
  ] as const;
  for (const [label, make] of cases) {
    it(`gradients for shift, charges and positions match central differences (${label})`, () => {
      const model = make();
      const { positions, charges } = deposits(7, 4);
      const shift = Float64Array.of(1.3, -0.7, 2.1);
      const gradPE = uniformArray(rng(8), 4);
      const g = flashHypothesisBackwardRef(model, positions, charges, shift, gradPE);
      expectGradientsMatch(
        (inp) => dot(flashHypothesisRef(model, inp[1]!, inp[2]!, inp[0]!), gradPE),
        [shift, positions, charges],
        [g.shift, g.positions, g.charges],
        ['shift', 'positions', 'charges'],
        1e-6,
        1e-5,
      );
    });
  }

  it('gradients reach the SIREN weights and biases', () => {
    const params = initSirenParams(config, 9);
    const { positions, charges } = deposits(10, 3);
    const shift = Float64Array.of(0.5, 0, 0);
    const gradPE = uniformArray(rng(11), 4);
    const g = flashHypothesisBackwardRef(sirenVisibilityModel(config, params, box), positions, charges, shift, gradPE);
    const analytic = flatten(g.parameters);
    expectGradientsMatch(
      (inp) => dot(flashHypothesisRef(sirenVisibilityModel(config, unflatten(inp), box), positions, charges, shift), gradPE),
      flatten(params),
      analytic,
      analytic.map((_, i) => `${i % 2 ? 'b' : 'W'}${i >> 1}`),
    );
  });

  it('a shift that leaves the box throws naming the row, unless the model clamps', () => {
    const params = initSirenParams(config, 12);
    const positions = Float64Array.of(0, 0, 50, 35, 0, 50);
    const charges = Float64Array.of(10, 10);
    expect(() => flashHypothesisRef(sirenVisibilityModel(config, params, box), positions, charges, [10, 0, 0])).toThrow(
      /row 1 has x = 45 cm.*\[-40, 40\]/,
    );
    const clamped = sirenVisibilityModel(config, params, box, { outside: 'clamp' });
    const g = flashHypothesisBackwardRef(clamped, positions, charges, [10, 0, 0], Float64Array.of(1, 1, 1, 1));
    expect(g.positions[3]).toBe(0);
  });
});

describe('flash matching (Poisson)', () => {
  it('loss equals the Poisson NLL of the hypothesis and all gradients match', () => {
    const params = initSirenParams(config, 13);
    const model = sirenVisibilityModel(config, params, box);
    const { positions, charges } = deposits(14, 3);
    const observed = Float64Array.of(3, 0, 12, 7);
    const shift = Float64Array.of(-2, 1, 0.5);
    const res = flashMatchPoissonRef(model, positions, charges, shift, observed, { full: true });
    expect(res.loss).toBeCloseTo(poissonNllRef(res.hypothesis, observed, { full: true }).loss, 12);
    expectGradientsMatch(
      (inp) => flashMatchPoissonRef(model, inp[1]!, inp[2]!, inp[0]!, observed).loss,
      [shift, positions, charges],
      [res.shift, res.positions, res.charges],
      ['shift', 'positions', 'charges'],
      1e-6,
      1e-5,
    );
  });

  it('rejects mismatched photodetector counts between model and observation', () => {
    const model = tableModel(15);
    const { positions, charges } = deposits(16, 2);
    expect(() => flashMatchPoissonRef(model, positions, charges, [0, 0, 0], new Float64Array(5))).toThrow(ShapeError);
    expect(() => flashMatchPoissonRef(model, positions, charges, [0, 0, 0], new Float64Array(5))).toThrow(
      /observed has 5 photodetector entries but the visibility model has 4/,
    );
    expect(() => requireMatchingPhotodetectors(model, [1, 2, 3])).toThrow(ShapeError);
    expect(() => flashHypothesisBackwardRef(model, positions, charges, [0, 0, 0], new Float64Array(3))).toThrow(
      /gradPE has 3/,
    );
  });

  it('rejects malformed deposits and model options', () => {
    const model = tableModel(17);
    expect(() => flashHypothesisRef(model, new Float64Array(6), new Float64Array(3))).toThrow(/charges has 3 entries but positions has 2 rows/);
    expect(() => flashHypothesisRef(model, new Float64Array(3), Float64Array.of(-1))).toThrow(InputValueError);
    expect(() => flashHypothesisRef(model, new Float64Array(3), Float64Array.of(1), [0, 0])).toThrow(/shift/);
    const params = initSirenParams(config, 1);
    expect(() => sirenVisibilityModel(config, params, box, { outputScale: new Float64Array(3) })).toThrow(/outputScale.*\[4\]/);
    const c2 = sirenConfig({ inputDim: 2, hiddenWidth: 4, hiddenLayers: 1, outputDim: 4 });
    expect(() => sirenVisibilityModel(c2, initSirenParams(c2, 1), box)).toThrow(/inputDim must be 3, got 2/);
  });
});

describe('photon yield', () => {
  it('q = lightYield · dE with a configurable yield', () => {
    expect(LAR_SCINTILLATION_YIELD_PER_MEV).toBe(40_000);
    expect(Array.from(photonsFromEnergy([0, 0.5, 2]))).toEqual([0, 20_000, 80_000]);
    expect(Array.from(photonsFromEnergy([1], 24_000))).toEqual([24_000]);
    expect(() => photonsFromEnergy([-1])).toThrow(/energyMeV\[0\] = -1/);
    expect(() => photonsFromEnergy([1], 0)).toThrow(/lightYield/);
  });
});
