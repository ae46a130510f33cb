import { describe, expect, it } from 'vitest';
import { DRIFT_TABLE, VELOCITY_TABLE } from './cases.js';
import { seededRandom } from '../../src/autodiff/numeric.js';
import { InputValueError } from '../../src/errors.js';
import {
  DEFAULT_DRIFT_PARAMS,
  DRIFT_PARAM_NAMES,
  type DriftParams,
  driftBackward,
  driftForward,
  driftVelocity,
  driftVelocityWithGrad,
  electronMobility,
} from '../../src/kernels/drift/drift.reference.js';
import { defaultGeometry } from '../../src/kernels/drift/geometry.js';
import { dot, expectGradClose, randomVector } from './gradcheck.js';

const G = defaultGeometry(); // anode z = 0, cathode z = 30.27225
const P = DEFAULT_DRIFT_PARAMS;

describe('drift velocity (BNL / Walkowiak mobility, larnd-sim electron_mobility)', () => {
  it('gives 0.1596 cm/µs at 0.5 kV/cm, 87.17 K', () => {
    expect(driftVelocity(0.5, 87.17)).toBeCloseTo(0.1596, 4);
    expect(electronMobility(0.5, 87.17)).toBeCloseTo(319.2904964308574, 9); // cm²/(V·s)
  });

  it('matches the parametrisation at other fields and temperatures', () => {
    const table = VELOCITY_TABLE;
    for (const [E, T, v] of table) expect(driftVelocity(E, T)).toBeCloseTo(v, 14);
  });

  it('analytic ∂v/∂E and ∂v/∂T', () => {
    const { dv_dE, dv_dT } = driftVelocityWithGrad(0.5, 87.17);
    const h = 1e-6;
    expect(dv_dE).toBeCloseTo((driftVelocity(0.5 + h, 87.17) - driftVelocity(0.5 - h, 87.17)) / (2 * h), 8);
    expect(dv_dT).toBeCloseTo((driftVelocity(0.5, 87.17 + h) - driftVelocity(0.5, 87.17 - h)) / (2 * h), 8);
  });
});

describe('drift: values', () => {
  it('matches drift time, lifetime and diffusion computed from larnd-sim formulas', () => {
    const table = DRIFT_TABLE;
    const w = Float64Array.from(table.map((r) => r[0]!));
    const t0 = Float64Array.of(0, 5, -2);
    const r = driftForward(w, t0, P, G);
    table.forEach((row, i) => {
      expect(r.tDrift[i]).toBeCloseTo(row[1]!, 10);
      expect(r.arrival[i]).toBeCloseTo(row[1]! + t0[i]!, 10);
      expect(r.attenuation[i]).toBeCloseTo(row[2]!, 14);
      expect(r.sigmaT[i]).toBeCloseTo(row[3]!, 14);
      expect(r.sigmaL[i]).toBeCloseTo(row[4]!, 14);
      expect(r.sigmaTime[i]).toBeCloseTo(row[5]!, 13);
    });
  });

  it('drift direction: the anode may sit at larger coordinate; vDrift override; σ0 in quadrature', () => {
    const flipped = defaultGeometry({ driftAxis: 'x', anode_cm: 50, cathode_cm: 20 });
    const r = driftForward(Float64Array.of(40), Float64Array.of(0), { ...P, vDrift: 0.2, sigma0T: 0.03 }, flipped);
    expect(r.distance[0]).toBe(10);
    expect(r.tDrift[0]).toBeCloseTo(50, 12);
    expect(r.sigmaT[0]).toBeCloseTo(Math.sqrt(2 * 8.8e-6 * 50 + 0.03 ** 2), 14);
    const z = driftForward(Float64Array.of(0), Float64Array.of(0), P, G);
    expect([z.tDrift[0], z.attenuation[0], z.sigmaT[0], z.sigmaTime[0]]).toEqual([0, 1, 0, 0]);
  });

  it('rejects τ ≤ 0, D < 0 and other non-physical parameters', () => {
    const one = Float64Array.of(1);
    const bad: [Partial<DriftParams>, RegExp][] = [
      [{ lifetime: 0 }, /lifetime = 0 µs is non-physical/],
      [{ lifetime: -5 }, /lifetime = -5/],
      [{ dL: -1 }, /dL = -1 cm²\/s/],
      [{ dT: -0.1 }, /dT = -0.1/],
      [{ eField: 0 }, /eField/],
      [{ temperature: NaN }, /temperature = NaN/],
      [{ vDrift: -0.1 }, /vDrift/],
      [{ sigma0T: -1 }, /sigma0T/],
    ];
    for (const [over, re] of bad) {
      expect(() => driftForward(one, one, { ...P, ...over }, G)).toThrow(InputValueError);
      expect(() => driftForward(one, one, { ...P, ...over }, G)).toThrow(re);
    }
    expect(() => driftForward(one, one, { ...P, lifetime: Infinity }, G)).not.toThrow();
  });
});

describe('drift: gradcheck', () => {
  const rand = seededRandom(5);
  const n = 10;
  const w = Float64Array.from({ length: n }, () => 0.5 + 29 * rand());
  const t0 = Float64Array.from({ length: n }, () => 10 * rand());
  const up = {
    arrival: randomVector(n, rand),
    attenuation: randomVector(n, rand),
    sigmaT: randomVector(n, rand).map((x) => 30 * x),
    sigmaL: randomVector(n, rand).map((x) => 10 * x),
    sigmaTime: randomVector(n, rand),
  };
  const scalar = (ws: Float64Array, ts: Float64Array, p: DriftParams): number => {
    const r = driftForward(ws, ts, p, G);
    return dot(up.arrival, r.arrival) + dot(up.attenuation, r.attenuation) + dot(up.sigmaT, r.sigmaT) + dot(up.sigmaL, r.sigmaL) + dot(up.sigmaTime, r.sigmaTime);
  };
  const cases: [string, DriftParams][] = [
    ['mobility', { ...P, lifetime: 300, sigma0L: 0.01, sigma0T: 0.02 }],
    ['vDrift given', { ...P, vDrift: 0.155, lifetime: 300, sigma0L: 0.01, sigma0T: 0.02 }],
  ];
  for (const [label, p] of cases) {
    it(`${label}: w, t0 and every parameter`, () => {
      const fwd = driftForward(w, t0, p, G);
      const an = driftBackward(w, p, G, fwd, up);
      expectGradClose((x) => scalar(x, t0, p), w.slice(), an.w, { label: 'w' });
      expectGradClose((x) => scalar(w, x, p), t0.slice(), an.t0, { label: 't0' });
      const names = DRIFT_PARAM_NAMES.filter((k) => k !== 'vDrift' || p.vDrift !== null);
      const pv = Float64Array.from(names.map((k) => p[k] as number));
      expectGradClose((x) => scalar(w, t0, { ...p, ...Object.fromEntries(names.map((k, i) => [k, x[i]!])) }), pv, names.map((k) => an.params[k]), {
        label: `${label} params`,
      });
      if (p.vDrift !== null) {
        expect(an.params.eField).toBe(0);
        expect(an.params.temperature).toBe(0);
      }
    });
  }
});
