import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/autodiff/numeric.js';
import { InputValueError } from '../../src/errors.js';
import { EMB_ICARUS } from '../../src/kernels/drift/constants.js';
import {
  CHAIN_PARAM_NAMES,
  type ChainConfig,
  type ChainParams,
  DEFAULT_CHAIN_PARAMS,
  chainBackward,
  chainForward,
  defaultChainConfig,
} from '../../src/kernels/drift/chain.reference.js';
import { defaultGeometry } from '../../src/kernels/drift/geometry.js';
import { type SparseGridValues, blurredMseLoss } from '../../src/kernels/drift/loss.reference.js';
import { SEGMENT_FLOAT_FIELDS, type Segments, concatSegments, generateSyntheticSegments, segmentsFromObjects } from '../../src/kernels/drift/segments.js';
import { expectGradClose, randomVector } from './gradcheck.js';

const G = defaultGeometry({ nPixels: [12, 12] }); // 5.32 cm square, drift z ∈ [0, 30.27]

const EVENT_ROWS = [
  { x_start: 1.0, y_start: 1.0, z_start: 5.0, x_end: 1.6, y_end: 1.3, z_end: 5.4, dE: 1.5, dx: 0.78, t0: 1 },
  { x_start: 4.9, y_start: 2.0, z_start: 10.0, x_end: 5.8, y_end: 2.3, z_end: 10.2, dE: 2.1, dx: 1.0, t0: 0 }, // crosses u edge
  { x_start: 2.0, y_start: 1.5, z_start: 29.5, x_end: 2.3, y_end: 1.5, z_end: 31.0, dE: 6.3, dx: 1.53, t0: 3 }, // crosses cathode
  { x_start: 3.0, y_start: 4.0, z_start: 15.0, x_end: 3.2, y_end: 4.1, z_end: 15.1, dE: 3.0, dx: 0.245, t0: 2 }, // high dE/dx
  { x_start: 8.0, y_start: 1.0, z_start: 5.0, x_end: 9.0, y_end: 1.0, z_end: 5.0, dE: 2.1, dx: 1.0, t0: 0 }, // outside
];
const POINT_ROW = { x_start: 3.0, y_start: 3.0, z_start: 20.0, x_end: 3.0, y_end: 3.0, z_end: 20.0, dE: 0.4, dx: 0, t0: 0 };

function event(withPoint: boolean): Segments {
  return segmentsFromObjects(withPoint ? [...EVENT_ROWS, POINT_ROW] : EVENT_ROWS);
}

const RECOMB_DEFAULTS: Record<'box' | 'birks' | 'emb', Partial<ChainParams>> = {
  box: {},
  birks: {},
  emb: { Ab: EMB_ICARUS.alpha, kb: EMB_ICARUS.beta90, embR: EMB_ICARUS.R },
};

describe('chain forward', () => {
  it('produces finite, sorted output and consistent stats; errors propagate', () => {
    const s = concatSegments([event(true), generateSyntheticSegments({ seed: 1, nMuons: 1, nProtons: 1, volume_cm: [[0.5, 0.5, 1], [4.8, 4.8, 29]] })]);
    const r = chainForward(s, DEFAULT_CHAIN_PARAMS, defaultChainConfig({ geometry: G }));
    expect(r.output.length).toBeGreaterThan(0);
    let sum = 0;
    for (const v of r.output.value) {
      expect(Number.isFinite(v)).toBe(true);
      sum += v;
    }
    expect(sum).toBeCloseTo(r.stats.electronsCollected, 4);
    expect(r.stats.nOutside).toBe(1);
    expect(r.stats.nClipped).toBeGreaterThanOrEqual(2);
    expect(() => chainForward(s, { ...DEFAULT_CHAIN_PARAMS, lifetime: -1 }, defaultChainConfig({ geometry: G }))).toThrow(InputValueError);
    expect(() => chainForward(s, { ...DEFAULT_CHAIN_PARAMS, dT: -1 }, defaultChainConfig({ geometry: G }))).toThrow(/dT = -1/);
    const bad = segmentsFromObjects([{ ...POINT_ROW }]);
    bad.dE[0] = NaN;
    expect(() => chainForward(bad, DEFAULT_CHAIN_PARAMS, defaultChainConfig({ geometry: G }))).toThrow(/row 0 has dE = NaN/);
  });

  it('with electronics: thresholded charge, integer ADC alongside', () => {
    const r = chainForward(event(true), DEFAULT_CHAIN_PARAMS, defaultChainConfig({ geometry: G, electronics: { integrationTicks: 5 } }));
    expect(r.electronics).not.toBeNull();
    expect(r.output.value).toBe(r.electronics!.value);
    for (const a of r.electronics!.adc) expect(a >= 0 && a <= 255).toBe(true);
  });
});

describe('chain gradcheck (every parameter, every segment column)', () => {
  const cfgBase = { geometry: G, readout: { nSigma: 10, pointsPerSegment: 3 } };
  for (const model of ['box', 'birks', 'emb'] as const) {
    it(model, () => {
      // EMB's angle is undefined for zero-length segments, so that case has none.
      const seg = event(model !== 'emb');
      const params: ChainParams = { ...DEFAULT_CHAIN_PARAMS, ...RECOMB_DEFAULTS[model], lifetime: 500, sigma0L: 0.004, sigma0T: 0.008 };
      const config: ChainConfig = defaultChainConfig({ ...cfgBase, model });
      const fwd = chainForward(seg, params, config);
      const rand = seededRandom(77);
      const g = randomVector(fwd.output.length, rand);
      const gOf = cellMap(fwd.output, g);
      const loss = (s: Segments, p: ChainParams): number => weighted(chainForward(s, p, config).output, gOf);
      const an = chainBackward(fwd, g);
      const names = CHAIN_PARAM_NAMES.filter((k) => k !== 'vDrift');
      const pv = Float64Array.from(names.map((k) => params[k] as number));
      expectGradClose((x) => loss(seg, { ...params, ...Object.fromEntries(names.map((k, i) => [k, x[i]!])) }), pv, names.map((k) => an.params[k]), {
        label: `${model} params`,
      });
      const ones = new Float64Array(seg.length).fill(1);
      for (const col of SEGMENT_FLOAT_FIELDS) {
        const scale = col === 'dx' ? seg.dx.map((v) => Math.max(v, 0.1)) : ones;
        const x = seg[col].slice();
        // dx = 0 (point deposit) is the edge of dx's domain: probe the others.
        const probe = col === 'dx' ? [...x.keys()].filter((i) => x[i]! > 0) : [...x.keys()];
        expectGradClose(
          (y) => {
            const full = seg[col].slice();
            probe.forEach((i, j) => (full[i] = y[j]!));
            return loss({ ...seg, [col]: full }, params);
          },
          Float64Array.from(probe, (i) => x[i]!),
          probe.map((i) => an.segments[col][i]!),
          { scale: probe.map((i) => scale[i]!), label: `${model} ${col}` },
        );
      }
    });
  }

  it('with electronics (ADC output, integration) and vDrift given', () => {
    const seg = event(true);
    const params: ChainParams = { ...DEFAULT_CHAIN_PARAMS, vDrift: 0.158, lifetime: 900 };
    const config = defaultChainConfig({
      ...cfgBase,
      model: 'birks',
      electronics: { output: 'adc', integrationTicks: 3, threshold_e: 800, thresholdWidth_e: 300 },
    });
    const fwd = chainForward(seg, params, config);
    const g = randomVector(fwd.output.length, seededRandom(9));
    const gOf = cellMap(fwd.output, g);
    const an = chainBackward(fwd, g);
    const names = ['vDrift', 'lifetime', 'dL', 'dT', 'birksA', 'birksK', 'eField'] as const;
    expectGradClose(
      (x) => weighted(chainForward(seg, { ...params, ...Object.fromEntries(names.map((k, i) => [k, x[i]!])) }, config).output, gOf),
      Float64Array.from(names.map((k) => params[k] as number)),
      names.map((k) => an.params[k]),
      { label: 'electronics chain params' },
    );
    expectGradClose((x) => weighted(chainForward({ ...seg, dE: x }, params, config).output, gOf), seg.dE.slice(), an.segments.dE, { label: 'dE' });
    expect(an.electronics).not.toBeNull();
  });
});

describe('blurred MSE loss', () => {
  const rand = seededRandom(31);
  const mk = (n: number): SparseGridValues => ({
    length: n,
    pixelX: Int32Array.from({ length: n }, () => Math.floor(5 * rand())),
    pixelY: Int32Array.from({ length: n }, () => Math.floor(5 * rand())),
    tick: Int32Array.from({ length: n }, () => 100 + Math.floor(20 * rand())),
    value: Float64Array.from({ length: n }, () => 1000 * rand()),
  });

  it('is 0 for identical images, > 0 otherwise; gradient matches central differences', () => {
    const p = mk(40);
    const t = mk(30);
    expect(blurredMseLoss(p, p).loss).toBe(0);
    const { loss, gradPred } = blurredMseLoss(p, t);
    expect(loss).toBeGreaterThan(0);
    expectGradClose((x) => blurredMseLoss({ ...p, value: x }, t).loss, p.value.slice(), gradPred, {
      scale: new Float64Array(40).fill(100),
      label: 'loss',
    });
    const hard = blurredMseLoss(p, t, { sigmaPixels: 0, sigmaTicks: 0 });
    expectGradClose((x) => blurredMseLoss({ ...p, value: x }, t, { sigmaPixels: 0, sigmaTicks: 0 }).loss, p.value.slice(), hard.gradPred, {
      scale: new Float64Array(40).fill(100),
      label: 'unblurred loss',
    });
  });

  it('blurring makes a one-tick shift visible where plain MSE saturates', () => {
    const one = (tick: number): SparseGridValues => ({
      length: 1,
      pixelX: Int32Array.of(2),
      pixelY: Int32Array.of(2),
      tick: Int32Array.of(tick),
      value: Float64Array.of(1),
    });
    const plain = [1, 3].map((d) => blurredMseLoss(one(100 + d), one(100), { sigmaPixels: 0, sigmaTicks: 0 }).loss);
    expect(plain[0]).toBe(plain[1]); // plain MSE cannot tell a 1-tick from a 3-tick shift
    const blurred = [1, 3].map((d) => blurredMseLoss(one(100 + d), one(100)).loss);
    expect(blurred[0]!).toBeLessThan(blurred[1]!);
  });
});

describe('loss ∘ chain', () => {
  const seg = event(true);
  // 6σ windows: the lumped tails (Φ(−6) ≈ 1e-9) cannot move by a cell within a probe step.
  const config = defaultChainConfig({ geometry: G, readout: { nSigma: 6, pointsPerSegment: 3 } });

  it('∂loss/∂(Ab, kb, eField, lifetime, dL, dT) match central differences', () => {
    const target = chainForward(seg, { ...DEFAULT_CHAIN_PARAMS, lifetime: 700, dT: 12 }, config).output;
    const params: ChainParams = { ...DEFAULT_CHAIN_PARAMS };
    const fwd = chainForward(seg, params, config);
    const { gradPred } = blurredMseLoss(fwd.output, target);
    const an = chainBackward(fwd, gradPred);
    const names = ['Ab', 'kb', 'eField', 'lifetime', 'dL', 'dT'] as const;
    expectGradClose(
      (x) => blurredMseLoss(chainForward(seg, { ...params, ...Object.fromEntries(names.map((k, i) => [k, x[i]!])) }, config).output, target).loss,
      Float64Array.from(names.map((k) => params[k])),
      names.map((k) => an.params[k]),
      { label: 'loss params', tol: 1e-4 },
    );
  });

  it('closure: plain gradient descent on ln τ recovers the lifetime', () => {
    // Short tracks spread over the drift length, so the charge-vs-drift-time slope sets τ.
    const rows = Array.from({ length: 6 }, (_, k) => {
      const z = 2 + 5 * k;
      return { x_start: 1 + 0.5 * k, y_start: 1.2, z_start: z, x_end: 1.4 + 0.5 * k, y_end: 1.5, z_end: z + 0.2, dE: 1.1, dx: 0.53 };
    });
    const s = segmentsFromObjects(rows);
    const cfg = defaultChainConfig({ geometry: G, readout: { maxStepDrift_cm: 0.02, maxStepTransverse_cm: 0.05 } });
    const tauTrue = 800;
    const target = chainForward(s, { ...DEFAULT_CHAIN_PARAMS, lifetime: tauTrue }, cfg).output;
    let theta = Math.log(2200); // start from the larnd-sim default
    const lr = 40;
    let loss = Infinity;
    for (let it = 0; it < 60; it++) {
      const tau = Math.exp(theta);
      const fwd = chainForward(s, { ...DEFAULT_CHAIN_PARAMS, lifetime: tau }, cfg);
      const l = blurredMseLoss(fwd.output, target);
      loss = l.loss;
      const gTau = chainBackward(fwd, l.gradPred).params.lifetime;
      theta -= lr * gTau * tau; // ∂L/∂lnτ = τ ∂L/∂τ
      if (Math.abs(tau - tauTrue) < 1e-3 * tauTrue) break;
    }
    expect(Math.abs(Math.exp(theta) - tauTrue) / tauTrue).toBeLessThan(5e-3);
    expect(loss).toBeLessThan(1e-6);
  });
});

function key(x: SparseGridValues, e: number): string {
  return `${x.pixelX[e]},${x.pixelY[e]},${x.tick[e]}`;
}

function cellMap(x: SparseGridValues, g: Float64Array): Map<string, number> {
  const m = new Map<string, number>();
  for (let e = 0; e < x.length; e++) m.set(key(x, e), g[e]!);
  return m;
}

/** Σ g(cell)·value(cell), aligned by cell so a changed support cannot misalign it. */
function weighted(x: SparseGridValues, g: Map<string, number>): number {
  let s = 0;
  for (let e = 0; e < x.length; e++) s += (g.get(key(x, e)) ?? 0) * x.value[e]!;
  return s;
}

