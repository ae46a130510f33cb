import { describe, expect, it } from 'vitest';
import { InputValueError, ShapeError } from '../../src/errors.js';
import {
  SEGMENT_COLUMNS,
  SEGMENT_STRIDE,
  generateSyntheticSegments,
  protonEnergyAtRange,
  protonRange,
  segmentLength,
  segmentsFromObjects,
  segmentsFromPacked,
  segmentsToPacked,
} from '../../src/kernels/drift/segments.js';

const row = (over: Partial<Record<(typeof SEGMENT_COLUMNS)[number], number>> = {}): number[] => {
  const base = { x_start: 1, y_start: 2, z_start: 3, x_end: 1.5, y_end: 2, z_end: 3, dE: 1.05, dx: 0.5, t0: 4, trackId: 7, pdgId: 13, ...over };
  return SEGMENT_COLUMNS.map((c) => base[c]);
};

describe('segments', () => {
  it('packed layout is [x_start,y_start,z_start,x_end,y_end,z_end,dE,dx,t0,trackId,pdgId] and round-trips', () => {
    expect(SEGMENT_STRIDE).toBe(11);
    const packed = Float64Array.from([...row(), ...row({ dE: 0, x_end: 1, pdgId: 2212, trackId: 8 })]);
    const s = segmentsFromPacked(packed);
    expect(s.length).toBe(2);
    expect([s.xStart[0], s.yStart[0], s.zStart[0], s.xEnd[0], s.dE[0], s.dx[0], s.t0[0], s.trackId[0], s.pdgId[0]]).toEqual([
      1, 2, 3, 1.5, 1.05, 0.5, 4, 7, 13,
    ]);
    expect(s.pdgId[1]).toBe(2212);
    expect(Array.from(segmentsToPacked(s, 'float64'))).toEqual(Array.from(packed));
    const f32 = segmentsToPacked(s);
    expect(f32).toBeInstanceOf(Float32Array);
    expect(segmentsFromPacked(f32).dE[0]).toBeCloseTo(1.05, 6);
  });

  it('from objects: dx defaults to the endpoint distance, t0/trackId/pdgId to 0', () => {
    const s = segmentsFromObjects([{ x_start: 0, y_start: 0, z_start: 0, x_end: 3, y_end: 4, z_end: 0, dE: 1 }]);
    expect(s.dx[0]).toBe(5);
    expect(segmentLength(s, 0)).toBe(5);
    expect(s.t0[0]).toBe(0);
    expect(s.pdgId[0]).toBe(0);
  });

  it('zero-length segments and dE = 0 are valid', () => {
    const s = segmentsFromPacked(Float64Array.from([...row({ x_end: 1, dx: 0 }), ...row({ dE: 0 })]));
    expect(segmentLength(s, 0)).toBe(0);
  });

  it('NaN or negative dE throws InputValueError naming the row', () => {
    const bad = Float64Array.from([...row(), ...row(), ...row({ dE: NaN })]);
    expect(() => segmentsFromPacked(bad)).toThrow(InputValueError);
    expect(() => segmentsFromPacked(bad)).toThrow(/row 2 has dE = NaN MeV/);
    const neg = Float64Array.from([...row({ dE: -0.1 })]);
    expect(() => segmentsFromPacked(neg)).toThrow(/row 0 has dE = -0.1 MeV; dE must be a finite, non-negative/);
    expect(() => segmentsFromPacked(Float64Array.from(row({ y_end: Infinity })))).toThrow(/row 0 has yEnd = Infinity/);
    expect(() => segmentsFromPacked(Float64Array.from(row({ dx: -1 })))).toThrow(InputValueError);
    expect(() =>
      segmentsFromObjects([{ x_start: 0, y_start: 0, z_start: 0, x_end: 0, y_end: 0, z_end: 0, dE: -1 }]),
    ).toThrow(InputValueError);
  });

  it('a packed array that is not whole rows throws ShapeError', () => {
    expect(() => segmentsFromPacked(new Float32Array(12))).toThrow(ShapeError);
  });

  it('proton range–energy rule', () => {
    expect(protonRange(100)).toBeCloseTo(7.7, 12);
    expect(protonEnergyAtRange(protonRange(42))).toBeCloseTo(42, 10);
    // dE/dx ≈ 17.8 MeV/cm at 1 cm residual range (cf. the 17·R^-0.42 template).
    const h = 1e-6;
    const dEdx1 = (protonEnergyAtRange(1 + h) - protonEnergyAtRange(1 - h)) / (2 * h);
    expect(dEdx1).toBeGreaterThan(16);
    expect(dEdx1).toBeLessThan(19);
  });

  it('synthetic generator: seeded, MIP muons, stopping protons with a Bragg peak', () => {
    const opts = { seed: 3, nMuons: 2, nProtons: 2, step_cm: 0.25 };
    const a = generateSyntheticSegments(opts);
    const b = generateSyntheticSegments(opts);
    expect(Array.from(a.xStart)).toEqual(Array.from(b.xStart));
    expect(Array.from(generateSyntheticSegments({ ...opts, seed: 4 }).xStart)).not.toEqual(Array.from(a.xStart));
    for (let i = 0; i < a.length; i++) {
      expect(a.dx[i]!).toBeLessThanOrEqual(0.25 + 1e-12);
      expect(segmentLength(a, i)).toBeCloseTo(a.dx[i]!, 10);
      for (const c of [a.xStart, a.yStart, a.zStart, a.xEnd, a.yEnd, a.zEnd]) {
        expect(c[i]!).toBeGreaterThanOrEqual(2 - 1e-9);
        expect(c[i]!).toBeLessThanOrEqual(28 + 1e-9);
      }
      if (a.pdgId[i] === 13) expect(a.dE[i]! / a.dx[i]!).toBeCloseTo(2.1, 12);
    }
    for (const tid of [2, 3]) {
      const rows = [...Array(a.length).keys()].filter((i) => a.trackId[i] === tid);
      expect(a.pdgId[rows[0]!]).toBe(2212);
      const R = rows.reduce((s, i) => s + a.dx[i]!, 0);
      const T = rows.reduce((s, i) => s + a.dE[i]!, 0);
      expect(T).toBeCloseTo(protonEnergyAtRange(R), 9);
      const first = rows[0]!;
      const lastFull = rows[rows.length - 2]!;
      expect(a.dE[lastFull]! / a.dx[lastFull]!).toBeGreaterThan(2 * (a.dE[first]! / a.dx[first]!));
    }
  });

  it('synthetic muon fluctuations average to the MIP dE/dx', () => {
    const s = generateSyntheticSegments({ seed: 9, nMuons: 20, nProtons: 0, fluctuations: true, step_cm: 0.5 });
    let E = 0;
    let L = 0;
    let varies = false;
    for (let i = 0; i < s.length; i++) {
      E += s.dE[i]!;
      L += s.dx[i]!;
      if (Math.abs(s.dE[i]! / s.dx[i]! - 2.1) > 0.01) varies = true;
    }
    expect(varies).toBe(true);
    expect(E / L).toBeGreaterThan(1.9);
    expect(E / L).toBeLessThan(2.3);
  });
});
