import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/autodiff/numeric.js';
import { InputValueError } from '../../src/errors.js';
import { DEFAULT_DRIFT_PARAMS, DRIFT_PARAM_NAMES, type DriftParams } from '../../src/kernels/drift/drift.reference.js';
import { defaultGeometry } from '../../src/kernels/drift/geometry.js';
import {
  type ReadoutPoints,
  type SparsePixelCharge,
  readoutPointsBackward,
  readoutPointsForward,
  readoutSegmentsBackward,
  readoutSegmentsForward,
} from '../../src/kernels/drift/readout.reference.js';
import { type Segments, segmentsFromObjects } from '../../src/kernels/drift/segments.js';
import { normalCdf } from '../../src/kernels/drift/special.js';
import { dot, expectGradClose, randomVector } from './gradcheck.js';

// 10 × 8 pixels of 4.434 mm from (0, 0): u ∈ [0, 4.434), v ∈ [0, 3.5472); drift z ∈ [0, 30.27225].
const G = defaultGeometry({ nPixels: [10, 8] });
const U_MAX = 10 * 0.4434;
const V_MAX = 8 * 0.4434;

/** Fraction of N(c, σ²) inside [lo, hi]. */
const inside = (c: number, s: number, lo: number, hi: number): number =>
  s > 0 ? normalCdf((hi - c) / s) - normalCdf((lo - c) / s) : c >= lo && c < hi ? 1 : 0;

function expectSortedUnique(c: SparsePixelCharge): void {
  for (let e = 1; e < c.length; e++) {
    const a = [c.pixelX[e - 1]!, c.pixelY[e - 1]!, c.tick[e - 1]!];
    const b = [c.pixelX[e]!, c.pixelY[e]!, c.tick[e]!];
    const cmp = a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]!;
    expect(cmp).toBeLessThan(0);
  }
}

function makePoints(rand: () => number, n: number): ReadoutPoints {
  const p: ReadoutPoints = {
    u: new Float64Array(n),
    v: new Float64Array(n),
    arrival: new Float64Array(n),
    sigmaT: new Float64Array(n),
    sigmaTime: new Float64Array(n),
    charge: new Float64Array(n),
  };
  for (let i = 0; i < n; i++) {
    // Spread over the plane and 0.3 cm beyond its edges, so edge losses are exercised.
    p.u[i] = -0.3 + (U_MAX + 0.6) * rand();
    p.v[i] = -0.3 + (V_MAX + 0.6) * rand();
    p.arrival[i] = 5 + 40 * rand();
    p.sigmaT[i] = 0.01 + 0.08 * rand();
    p.sigmaTime[i] = 0.02 + 0.3 * rand();
    p.charge[i] = 1000 + 5000 * rand();
  }
  return p;
}

describe('point readout', () => {
  it('an undiffused point lands in one pixel and tick with all its charge', () => {
    const one = (x: number): Float64Array => Float64Array.of(x);
    const r = readoutPointsForward(
      { u: one(1.0), v: one(0.5), arrival: one(12.34), sigmaT: one(0), sigmaTime: one(0), charge: one(777) },
      G,
    );
    expect(r.charge.length).toBe(1);
    expect([r.charge.pixelX[0], r.charge.pixelY[0], r.charge.tick[0], r.charge.charge[0]]).toEqual([2, 1, 123, 777]);
    const off = readoutPointsForward(
      { u: one(-0.1), v: one(0.5), arrival: one(1), sigmaT: one(0), sigmaTime: one(0), charge: one(5) },
      G,
    );
    expect(off.charge.length).toBe(0);
    expect(off.totalIn - off.collected).toBe(5);
  });

  it('conserves charge: Σ output = charge landing on the plane, edges included', () => {
    const rand = seededRandom(21);
    const pts = makePoints(rand, 300);
    let expected = 0;
    for (let i = 0; i < 300; i++) {
      expected += pts.charge[i]! * inside(pts.u[i]!, pts.sigmaT[i]!, 0, U_MAX) * inside(pts.v[i]!, pts.sigmaT[i]!, 0, V_MAX);
    }
    const tight = readoutPointsForward(pts, G, 10);
    let sum = 0;
    for (const c of tight.charge.charge) sum += c;
    expect(sum).toBe(tight.collected);
    expect(Math.abs(sum - expected) / expected).toBeLessThan(1e-12);
    expect(tight.totalIn - tight.collected).toBeGreaterThan(0.02 * tight.totalIn); // some charge really falls off
    // At the default 4σ window the lumped tails differ from the exact Gaussian by < 2Φ(−4) per axis.
    const r4 = readoutPointsForward(pts, G);
    expect(Math.abs(r4.collected - expected) / expected).toBeLessThan(2e-4);
    expectSortedUnique(r4.charge);
    expect(r4.charge.length).toBeLessThan(tight.charge.length);
  });

  it('gradcheck: u, v, arrival, σ_T, σ_t and charge', () => {
    const rand = seededRandom(4);
    const pts = makePoints(rand, 6);
    pts.sigmaT[5] = 0; // an undiffused point: zero position gradient
    pts.sigmaTime[5] = 0;
    const fwd = readoutPointsForward(pts, G, 10);
    const g = randomVector(fwd.charge.length, rand);
    // The loss looks up g by cell so it stays aligned if the support changed.
    const gOf = new Map<string, number>();
    for (let e = 0; e < fwd.charge.length; e++) gOf.set(`${fwd.charge.pixelX[e]},${fwd.charge.pixelY[e]},${fwd.charge.tick[e]}`, g[e]!);
    const loss = (p: ReadoutPoints): number => {
      const c = readoutPointsForward(p, G, 10).charge;
      let s = 0;
      for (let e = 0; e < c.length; e++) s += (gOf.get(`${c.pixelX[e]},${c.pixelY[e]},${c.tick[e]}`) ?? 0) * c.charge[e]!;
      return s;
    };
    const an = readoutPointsBackward(pts, G, fwd, g, 10);
    for (const k of ['u', 'v', 'arrival', 'sigmaT', 'sigmaTime', 'charge'] as const) {
      const scale = new Float64Array(6).fill(k === 'charge' ? 1000 : 0.01);
      if (k === 'sigmaT' || k === 'sigmaTime') {
        // σ = 0 is a boundary of the domain; probe only the diffused points.
        const x = pts[k].slice(0, 5);
        expectGradClose((y) => loss({ ...pts, [k]: Float64Array.from([...y, 0]) }), x, an[k].slice(0, 5), { scale, label: k });
      } else {
        expectGradClose((y) => loss({ ...pts, [k]: y }), pts[k].slice(), an[k], { scale, label: k });
      }
    }
    expect(an.u[5]).toBe(0);
  });
});

// --------------------------------------------------------------- segments

const rows = [
  // 0: inside
  { x_start: 1.0, y_start: 1.0, z_start: 5.0, x_end: 1.6, y_end: 1.3, z_end: 5.4, dE: 1.5, dx: 0.78 },
  // 1: crosses the u = 4.434 edge of the pixel plane (clipped, f = 0.434)
  { x_start: 4.0, y_start: 2.0, z_start: 10.0, x_end: 5.0, y_end: 2.0, z_end: 10.0, dE: 2.1, dx: 1.0 },
  // 2: crosses the cathode z = 30.27225 (clipped, f = 1.27225/3)
  { x_start: 2.0, y_start: 1.5, z_start: 29.0, x_end: 2.0, y_end: 1.5, z_end: 32.0, dE: 6.3, dx: 3.0 },
  // 3: fully outside (beyond the plane in x)
  { x_start: 10.0, y_start: 1.0, z_start: 5.0, x_end: 11.0, y_end: 1.0, z_end: 5.0, dE: 2.1, dx: 1.0 },
  // 4: zero-length point deposit inside
  { x_start: 3.0, y_start: 3.0, z_start: 20.0, x_end: 3.0, y_end: 3.0, z_end: 20.0, dE: 0.4, dx: 0 },
  // 5: zero-length outside
  { x_start: 3.0, y_start: 9.0, z_start: 20.0, x_end: 3.0, y_end: 9.0, z_end: 20.0, dE: 0.2, dx: 0 },
  // 6: behind the anode (z < 0): outside
  { x_start: 1.0, y_start: 1.0, z_start: -1.0, x_end: 1.0, y_end: 1.2, z_end: -0.5, dE: 1.0, dx: 0.54 },
  // 7: oblique, enters through the anode plane and leaves through y = 0
  { x_start: 2.2, y_start: 0.3, z_start: -0.2, x_end: 2.5, y_end: -0.2, z_end: 0.6, dE: 2.0, dx: 0.99 },
];

describe('segment readout', () => {
  const seg = segmentsFromObjects(rows.map((r, i) => ({ ...r, t0: i })));
  const electrons = Float64Array.from(rows, (r) => r.dE * 30000);

  it('clips to the active volume and accounts for every electron', () => {
    const r = readoutSegmentsForward(seg, electrons, DEFAULT_DRIFT_PARAMS, G);
    const s = r.stats;
    expect([s.nSegments, s.nInside, s.nClipped, s.nOutside]).toEqual([8, 2, 3, 3]);
    expect(r.tape.tExit[1]! - r.tape.tEnter[1]!).toBeCloseTo(0.434, 12);
    expect(r.tape.tExit[2]! - r.tape.tEnter[2]!).toBeCloseTo(1.27225 / 3, 12);
    expect(s.dETotal_MeV).toBeCloseTo(rows.reduce((a, x) => a + x.dE, 0), 12);
    expect(s.dEActive_MeV + s.dEOutside_MeV).toBeCloseTo(s.dETotal_MeV, 12);
    expect(s.dEOutside_MeV).toBeCloseTo(2.1 * 0.566 + 6.3 * (1 - 1.27225 / 3) + 2.1 + 0.2 + 1.0 + 2.0 * (1 - (r.tape.tExit[7]! - r.tape.tEnter[7]!)), 10);
    expect(s.electronsActive + s.electronsOutside).toBeCloseTo(s.electronsProduced, 6);
    expect(s.electronsDrifted).toBeLessThan(s.electronsActive);
    expect(s.electronsCollected + s.electronsOffPlane).toBeCloseTo(s.electronsDrifted, 6);
    let sum = 0;
    for (const c of r.charge.charge) {
      expect(Number.isFinite(c)).toBe(true);
      sum += c;
    }
    expect(sum).toBeCloseTo(s.electronsCollected, 6);
    expectSortedUnique(r.charge);
    // Points never leave the active box.
    for (const w of r.tape.wPoint) expect(w >= 0 && w <= 30.27225).toBe(true);
  });

  it('charge near the plane edges falls partially outside, and the total matches the Gaussian integral', () => {
    const r = readoutSegmentsForward(seg, electrons, DEFAULT_DRIFT_PARAMS, G, { nSigma: 10 });
    const p = r.tape.points;
    let expected = 0;
    for (let i = 0; i < p.u.length; i++) {
      expected += p.charge[i]! * inside(p.u[i]!, p.sigmaT[i]!, 0, U_MAX) * inside(p.v[i]!, p.sigmaT[i]!, 0, V_MAX);
    }
    expect(r.stats.electronsOffPlane).toBeGreaterThan(0);
    expect(Math.abs(r.stats.electronsCollected - expected) / expected).toBeLessThan(1e-12);
  });

  it('zero-length segments act as points; nothing is NaN', () => {
    const only = segmentsFromObjects([rows[4]!]);
    const r = readoutSegmentsForward(only, Float64Array.of(12000), DEFAULT_DRIFT_PARAMS, G);
    expect(r.stats.nPoints).toBe(1);
    expect(r.stats.electronsCollected).toBeCloseTo(r.stats.electronsDrifted, 6);
    const back = readoutSegmentsBackward(r, new Float64Array(r.charge.length).fill(1));
    for (const col of Object.values(back.segments)) for (const v of col) expect(Number.isFinite(v)).toBe(true);
  });

  it('rejects bad options and out-of-range ticks', () => {
    expect(() => readoutSegmentsForward(seg, electrons, DEFAULT_DRIFT_PARAMS, G, { nSigma: 0 })).toThrow(InputValueError);
    expect(() => readoutSegmentsForward(seg, electrons, DEFAULT_DRIFT_PARAMS, G, { pointsPerSegment: 0 })).toThrow(InputValueError);
    const late = segmentsFromObjects([{ ...rows[0]!, t0: 1e6 }]);
    expect(() => readoutSegmentsForward(late, Float64Array.of(1), DEFAULT_DRIFT_PARAMS, G)).toThrow(/outside ±2\^20 ticks/);
  });

  const posCols = ['xStart', 'yStart', 'zStart', 'xEnd', 'yEnd', 'zEnd', 't0'] as const;

  for (const [label, opts] of [
    ['fixed 5-point quadrature', { nSigma: 10, pointsPerSegment: 5 }],
    ['step-rule quadrature', { nSigma: 10 }],
  ] as const) {
    it(`gradcheck (${label}): positions, t0, electrons and drift parameters`, () => {
      const rand = seededRandom(8);
      const params: DriftParams = { ...DEFAULT_DRIFT_PARAMS, lifetime: 400, sigma0L: 0.005, sigma0T: 0.01 };
      const fwd = readoutSegmentsForward(seg, electrons, params, G, opts);
      const g = randomVector(fwd.charge.length, rand);
      const gOf = new Map<number, number>();
      for (let e = 0; e < fwd.charge.length; e++) gOf.set(cellId(fwd.charge, e), g[e]!);
      const loss = (s: Segments, el: Float64Array, p: DriftParams): number => {
        const c = readoutSegmentsForward(s, el, p, G, opts).charge;
        let acc = 0;
        for (let e = 0; e < c.length; e++) acc += (gOf.get(cellId(c, e)) ?? 0) * c.charge[e]!;
        return acc;
      };
      const an = readoutSegmentsBackward(fwd, g);
      const ones = new Float64Array(seg.length).fill(1);
      // Step-rule point counts are piecewise constant in the positions; probe positions only with fixed counts.
      if (opts.pointsPerSegment !== undefined) {
        for (const col of posCols) {
          expectGradClose((x) => loss({ ...seg, [col]: x }, electrons, params), seg[col].slice(), an.segments[col], { scale: ones, label: col });
        }
      }
      expectGradClose((x) => loss(seg, x, params), electrons.slice(), an.electrons, { scale: ones.map(() => 1e4), label: 'electrons' });
      const names = DRIFT_PARAM_NAMES.filter((k) => k !== 'vDrift');
      const pv = Float64Array.from(names.map((k) => params[k] as number));
      expectGradClose((x) => loss(seg, electrons, { ...params, ...Object.fromEntries(names.map((k, i) => [k, x[i]!])) }), pv, names.map((k) => an.drift[k]), {
        label: 'drift params',
      });
      // Fully-outside segments get no gradient.
      expect([an.segments.xStart[3], an.electrons[3], an.electrons[5], an.electrons[6]]).toEqual([0, 0, 0, 0]);
    });
  }
});

function cellId(c: SparsePixelCharge, e: number): number {
  return (c.pixelX[e]! * 1000 + c.pixelY[e]!) * 1e7 + c.tick[e]!;
}

describe('segment readout with vDrift given', () => {
  it('∂/∂vDrift matches central differences; eField gets none', () => {
    const seg = segmentsFromObjects([rows[0]!, rows[2]!]);
    const el = Float64Array.of(40000, 90000);
    const p: DriftParams = { ...DEFAULT_DRIFT_PARAMS, vDrift: 0.16 };
    const fwd = readoutSegmentsForward(seg, el, p, G, { nSigma: 10, pointsPerSegment: 4 });
    const g = randomVector(fwd.charge.length, seededRandom(3));
    const an = readoutSegmentsBackward(fwd, g);
    const loss = (v: number): number => {
      const c = readoutSegmentsForward(seg, el, { ...p, vDrift: v }, G, { nSigma: 10, pointsPerSegment: 4 }).charge;
      const m = new Map<number, number>();
      for (let e = 0; e < fwd.charge.length; e++) m.set(cellId(fwd.charge, e), g[e]!);
      let s = 0;
      for (let e = 0; e < c.length; e++) s += (m.get(cellId(c, e)) ?? 0) * c.charge[e]!;
      return s;
    };
    expectGradClose((x) => loss(x[0]!), Float64Array.of(0.16), [an.drift.vDrift], { label: 'vDrift' });
    expect(an.drift.eField).toBe(0);
    expect(dot(g, fwd.charge.charge)).toBeCloseTo(loss(0.16), 8);
  });
});
