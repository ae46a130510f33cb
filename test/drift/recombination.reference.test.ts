import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/autodiff/numeric.js';
import { InputValueError } from '../../src/errors.js';
import { BOX_BETA_ARGONEUT, EMB_ICARUS, W_ION_MEV } from '../../src/kernels/drift/constants.js';
import {
  DEFAULT_RECOMBINATION_PARAMS,
  RECOMBINATION_PARAM_NAMES,
  type RecombinationModel,
  type RecombinationParams,
  cos2PhiBackward,
  cos2PhiToAxis,
  recombinationBackward,
  recombinationFactor,
  recombinationForward,
} from '../../src/kernels/drift/recombination.reference.js';
import { generateSyntheticSegments, type Segments } from '../../src/kernels/drift/segments.js';
import { RECOMBINATION_TABLE as TABLE } from './cases.js';
import { dot, expectGradClose, randomVector } from './gradcheck.js';

const P = DEFAULT_RECOMBINATION_PARAMS;
const EMB: RecombinationParams = { ...P, Ab: EMB_ICARUS.alpha, kb: EMB_ICARUS.beta90, embR: EMB_ICARUS.R };


describe('recombination: values', () => {
  it('matches the table of larnd-sim / ArgoNeuT / ICARUS formula values', () => {
    for (const r of TABLE) {
      expect(recombinationFactor('box', r.dEdx, P)).toBeCloseTo(r.box, 13);
      expect(recombinationFactor('box', r.dEdx, { ...P, kb: BOX_BETA_ARGONEUT })).toBeCloseTo(r.boxArgoneut, 13);
      expect(recombinationFactor('birks', r.dEdx, P)).toBeCloseTo(r.birks, 13);
      expect(recombinationFactor('emb', r.dEdx, EMB, 0)).toBeCloseTo(r.emb0, 13);
      expect(recombinationFactor('emb', r.dEdx, EMB, 1)).toBeCloseTo(r.emb1, 13);
      expect(recombinationFactor('emb', r.dEdx, EMB, 0.5)).toBeCloseTo(r.embHalf, 13);
    }
    // Field dependence (same formulas): Box at 0.25 kV/cm, Birks at 1 kV/cm, dE/dx = 2.1.
    expect(recombinationFactor('box', 2.1, { ...P, eField: 0.25 })).toBeCloseTo(0.6221440824034995, 13);
    expect(recombinationFactor('birks', 2.1, { ...P, eField: 1.0 })).toBeCloseTo(0.7449091129913769, 13);
  });

  it('n_e = R·dE/W_ion with W_ion = 23.6 eV (1.05 MeV MIP step → 29 909 e⁻)', () => {
    const r = recombinationForward('box', Float64Array.of(1.05), Float64Array.of(0.5), null, P);
    expect(r.dEdx[0]).toBeCloseTo(2.1, 14);
    expect(r.electrons[0]).toBeCloseTo((0.7058505099388027 * 1.05) / W_ION_MEV, 8);
    expect(r.electrons[0]! / 1.05).toBeCloseTo(29908.91991266113, 6);
  });

  it('EMB with R = 1 is the Box model; at φ = 0 it is Box with β = R·β₉₀', () => {
    for (const d of [1.7, 4, 20]) {
      expect(recombinationFactor('emb', d, { ...P, embR: 1 }, 0.7)).toBeCloseTo(recombinationFactor('box', d, P), 14);
      expect(recombinationFactor('emb', d, EMB, 1)).toBeCloseTo(recombinationFactor('box', d, { ...EMB, kb: EMB.kb * EMB.embR }), 14);
    }
  });

  it('Box is clamped at 0 at low dE/dx; dE = 0 and dx = 0 give no NaN', () => {
    expect(recombinationFactor('box', 0.1, P)).toBe(0);
    expect(recombinationFactor('box', 0, P)).toBe(0);
    expect(recombinationFactor('box', 0, { ...P, Ab: 1 })).toBe(1);
    expect(recombinationFactor('birks', 0, P)).toBe(0.8);
    const dE = Float64Array.of(0, 0.3, 0, 0.01);
    const dx = Float64Array.of(0.5, 0, 0, 0.5);
    for (const m of ['box', 'birks', 'emb'] as const) {
      const r = recombinationForward(m, dE, dx, new Float64Array(4), P);
      for (const v of [...r.electrons, ...r.R, ...r.dEdx]) expect(Number.isFinite(v)).toBe(true);
      expect(r.electrons[0]).toBe(0);
      // Point deposit: dE/dx defaults to 2.1 MeV/cm.
      expect(r.dEdx[1]).toBe(2.1);
      expect(r.electrons[1]).toBeCloseTo((recombinationFactor(m, 2.1, P) * 0.3) / W_ION_MEV, 8);
      const g = recombinationBackward(m, dE, dx, new Float64Array(4), P, Float64Array.of(1, 1, 1, 1));
      for (const v of [...g.dE, ...g.dx, ...g.cos2Phi, ...Object.values(g.params)]) expect(Number.isFinite(v)).toBe(true);
    }
    expect(recombinationForward('box', dE, dx, null, P, { pointDEdx_MeV_per_cm: 10 }).dEdx[1]).toBe(10);
  });
});

describe('recombination: errors', () => {
  const one = Float64Array.of(1);
  it('NaN or negative dE, negative dx', () => {
    expect(() => recombinationForward('box', Float64Array.of(NaN), one, null)).toThrow(/dE\[0\] = NaN MeV/);
    expect(() => recombinationForward('box', Float64Array.of(-1), one, null)).toThrow(InputValueError);
    expect(() => recombinationForward('box', one, Float64Array.of(-1), null)).toThrow(/dx\[0\] = -1 cm/);
  });
  it('non-physical parameters', () => {
    const bad: [RecombinationModel, Partial<RecombinationParams>, RegExp][] = [
      ['box', { Ab: 1.2 }, /Ab = 1.2/],
      ['box', { Ab: 0 }, /Ab = 0/],
      ['box', { kb: 0 }, /kb = 0/],
      ['box', { eField: 0 }, /eField = 0 kV\/cm/],
      ['box', { density: -1 }, /density/],
      ['birks', { birksA: 1.5 }, /birksA/],
      ['birks', { birksK: -0.1 }, /birksK/],
      ['emb', { embR: 0 }, /embR/],
      ['box', { wIon: NaN }, /wIon = NaN/],
    ];
    for (const [m, over, re] of bad) {
      expect(() => recombinationForward(m, one, one, one, { ...P, ...over })).toThrow(InputValueError);
      expect(() => recombinationForward(m, one, one, one, { ...P, ...over })).toThrow(re);
    }
    expect(() => recombinationForward('emb', one, one, null, P)).toThrow(/needs cos2Phi/);
  });
});

describe('recombination: gradcheck', () => {
  const rand = seededRandom(11);
  const n = 12;
  const dE = new Float64Array(n);
  const dx = new Float64Array(n);
  const c2 = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    dx[i] = 0.05 + rand();
    dE[i] = dx[i]! * (1.6 + 40 * rand() * rand()); // 1.6 … 40 MeV/cm, avoids the Box clamp kink
    c2[i] = rand();
  }
  dx[n - 1] = 0; // point deposit
  const g = randomVector(n, rand);

  for (const model of ['box', 'birks', 'emb'] as const) {
    const base = model === 'emb' ? EMB : P;
    it(`${model}: dE, dx, cos²φ and every parameter`, () => {
      const loss = (e: Float64Array, l: Float64Array, c: Float64Array, p: RecombinationParams): number =>
        dot(g, recombinationForward(model, e, l, c, p).electrons);
      const an = recombinationBackward(model, dE, dx, c2, base, g);
      expectGradClose((x) => loss(x, dx, c2, base), dE.slice(), an.dE, { label: `${model} dE` });
      const dxProbe = dx.slice(0, n - 1);
      expectGradClose(
        (x) => loss(dE, Float64Array.from([...x, 0]), c2, base),
        dxProbe,
        an.dx.slice(0, n - 1),
        { label: `${model} dx` },
      );
      expect(an.dx[n - 1]).toBe(0);
      if (model === 'emb') expectGradClose((x) => loss(dE, dx, x, base), c2.slice(), an.cos2Phi, { label: 'emb cos2' });
      const names = RECOMBINATION_PARAM_NAMES;
      const pv = Float64Array.from(names.map((k) => base[k]));
      expectGradClose(
        (x) => loss(dE, dx, c2, { ...base, ...Object.fromEntries(names.map((k, i) => [k, x[i]!])) }),
        pv,
        names.map((k) => an.params[k]),
        { label: `${model} params` },
      );
    });
  }

  it('cos²φ from segment directions, and its position gradient', () => {
    const s: Segments = generateSyntheticSegments({ seed: 2, nMuons: 1, nProtons: 0, step_cm: 1 });
    const gc = randomVector(s.length, rand);
    for (const axis of ['x', 'y', 'z'] as const) {
      const c = cos2PhiToAxis(s, axis);
      for (const v of c) expect(v >= 0 && v <= 1).toBe(true);
      const acc = {
        xStart: new Float64Array(s.length),
        yStart: new Float64Array(s.length),
        zStart: new Float64Array(s.length),
        xEnd: new Float64Array(s.length),
        yEnd: new Float64Array(s.length),
        zEnd: new Float64Array(s.length),
      };
      cos2PhiBackward(s, axis, gc, acc);
      for (const col of ['xStart', 'zEnd'] as const) {
        expectGradClose((x) => dot(gc, cos2PhiToAxis({ ...s, [col]: x }, axis)), s[col].slice(), acc[col], {
          scale: new Float64Array(s.length).fill(1),
          label: `cos2 ${axis} ${col}`,
        });
      }
    }
    const z = cos2PhiToAxis({ ...s, xEnd: s.xStart, yEnd: s.yStart, zEnd: s.zStart }, 'z');
    expect(Array.from(z).every((v) => v === 0)).toBe(true);
  });
});
