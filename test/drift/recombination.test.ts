import { describe, expect, it } from 'vitest';
import { testGpu } from '../helpers/gpu.js';
import { InputValueError, backward, gradcheck, sum, tensor } from '../../src/index.js';
import { type ChainParamName, EMB_ICARUS, type RecombinationModel, SEGMENT_STRIDE, W_ION_MEV, cos2PhiToAxis, generateSyntheticSegments, physicsTensor, recombination, scaledPhysics, segmentsFromObjects, segmentsTensor, segmentsToPacked, validatePhysicsTensor } from '../../src/kernels/drift/index.js';
import { cos2PhiBackward, recombinationBackward, recombinationForward } from '../../src/reference.js';
import { RECOMBINATION_TABLE } from './cases.js';
import { NOMINAL, bits, host, liveBytes, packSegmentGrads, scaledParams, thetaGrad, unpackSegments, type ReferenceOp } from './gpu-helpers.js';

const NAMES: Record<RecombinationModel, ChainParamName[]> = {
  box: ['Ab', 'kb', 'eField', 'density', 'wIon'],
  birks: ['birksA', 'birksK', 'eField', 'density', 'wIon'],
  emb: ['Ab', 'kb', 'embR', 'eField', 'density', 'wIon'],
};

function nominalFor(model: RecombinationModel) {
  return model === 'emb' ? { ...NOMINAL, Ab: EMB_ICARUS.alpha, kb: EMB_ICARUS.beta90, embR: EMB_ICARUS.R } : NOMINAL;
}

/** Reference of θ ↦ n_e with inputs [segments n×11, θ]. */
function reference(model: RecombinationModel): ReferenceOp<null> {
  const names = NAMES[model];
  const nominal = nominalFor(model);
  return {
    forward([seg, theta]) {
      const s = unpackSegments(seg!.data);
      const p = scaledParams(nominal, names, theta!.data);
      return host(recombinationForward(model, s.dE, s.dx, cos2PhiToAxis(s, 'z'), p).electrons);
    },
    backward([seg, theta], g) {
      const s = unpackSegments(seg!.data);
      const p = scaledParams(nominal, names, theta!.data);
      const c2 = cos2PhiToAxis(s, 'z');
      const r = recombinationBackward(model, s.dE, s.dx, c2, p, g.data);
      const pos = {
        xStart: new Float64Array(s.length),
        yStart: new Float64Array(s.length),
        zStart: new Float64Array(s.length),
        xEnd: new Float64Array(s.length),
        yEnd: new Float64Array(s.length),
        zEnd: new Float64Array(s.length),
      };
      if (model === 'emb') cos2PhiBackward(s, 'z', r.cos2Phi, pos);
      return [packSegmentGrads(s.length, { ...pos, dE: r.dE, dx: r.dx }), thetaGrad(nominal, names, r.params)];
    },
  };
}

/** A muon and a stopping proton (dE/dx from 2 to ~30 MeV/cm), plus a point deposit. */
function testSegments(withPoint: boolean) {
  const tracks = generateSyntheticSegments({ seed: 5, nMuons: 2, nProtons: 1, muonLength_cm: [2, 2], protonEnergy_MeV: [25, 25], step_cm: 0.4 });
  const packed = Array.from(segmentsToPacked(tracks, 'float64'));
  // A zero-length point deposit with dx = 0: a kink of dE/dx (and of the EMB
  // angle), so it is left out of the central differences.
  if (withPoint) packed.push(10, 10, 10, 10, 10, 10, 0.3, 0, 0, 9, 11);
  return host(packed, [packed.length / SEGMENT_STRIDE, SEGMENT_STRIDE]);
}

describe('drift GPU: recombination', () => {
  for (const model of ['box', 'birks', 'emb'] as const) {
    it(`${model}: forward and backward match the float64 reference (gradcheck)`, async () => {
      const ctx = await testGpu();
      const names = NAMES[model];
      const sp = scaledPhysics(ctx, names, nominalFor(model), { model });
      const report = await gradcheck({
        ctx,
        gpu: ([seg, theta]) => recombination(seg!, sp.apply(theta!), { model }),
        reference: reference(model),
        inputs: [testSegments(false), host(new Float64Array(names.length).fill(1))],
        attrs: null,
        // f32 kernel vs float64: single-expression math per segment (log, division),
        // relative error ~1e-6; the parameter sums add ≤ 40 terms (40·2⁻²⁴ ≈ 2.4e-6).
        tolerance: { reference: 1e-6, forward: 1e-5, gpu: 2e-5 },
      });
      sp.dispose();
      expect(report.referenceError).toBeLessThan(1e-6);
      expect(report.forwardError).toBeLessThan(1e-5);
      expect(report.gpuError).toBeLessThan(2e-5);
    });
  }

  it('reproduces the larnd-sim / ArgoNeuT / ICARUS value table', async () => {
    const ctx = await testGpu();
    // One 1 cm segment per (dE/dx, angle): perpendicular (cos²φ = 0), along the field (1), 45° (0.5).
    const dirs = [
      [1, 0, 0],
      [0, 0, 1],
      [Math.SQRT1_2, 0, Math.SQRT1_2],
    ];
    const rows = RECOMBINATION_TABLE.flatMap((r) =>
      dirs.map(([dx, dy, dz]) => ({ x_start: 5, y_start: 5, z_start: 5, x_end: 5 + dx!, y_end: 5 + dy!, z_end: 5 + dz!, dE: r.dEdx, dx: 1 })),
    );
    const seg = segmentsTensor(ctx, segmentsFromObjects(rows));
    const run = async (model: RecombinationModel, params = {}) => {
      const phys = physicsTensor(ctx, params, { model });
      const e = recombination(seg, phys, { model });
      const out = await e.readF64();
      e.dispose();
      phys.dispose();
      // R = n_e·W/dE
      return Array.from(out, (n, i) => (n * W_ION_MEV) / rows[i]!.dE);
    };
    const box = await run('box');
    const argoneut = await run('box', { kb: 0.212 });
    const birks = await run('birks');
    const emb = await run('emb', { Ab: EMB_ICARUS.alpha, kb: EMB_ICARUS.beta90, embR: EMB_ICARUS.R });
    // f32 kernel: ~1e-6 relative (log of a sum and one division).
    const close = (got: number, want: number) => expect(Math.abs(got - want) / want).toBeLessThan(3e-6);
    RECOMBINATION_TABLE.forEach((r, k) => {
      for (let d = 0; d < 3; d++) {
        close(box[3 * k + d]!, r.box);
        close(argoneut[3 * k + d]!, r.boxArgoneut);
        close(birks[3 * k + d]!, r.birks);
      }
      close(emb[3 * k]!, r.emb0);
      close(emb[3 * k + 1]!, r.emb1);
      close(emb[3 * k + 2]!, r.embHalf);
    });
    seg.dispose();
  });

  it('is bitwise deterministic, leak-free, NaN-free on zero-length segments', async () => {
    const ctx = await testGpu();
    const base = await liveBytes(ctx);
    const segs = testSegments(true);
    const runOnce = async () =>
      ctx.scope(async () => {
        const seg = tensor(ctx, Float32Array.from(segs.data), segs.shape, { requiresGrad: true });
        const phys = physicsTensor(ctx, {}, { model: 'emb', requiresGrad: true });
        const e = recombination(seg, phys, { model: 'emb' });
        backward(sum(e));
        return { e: await bits(e), gs: await bits(seg.grad!), gp: await bits(phys.grad!), ef: await e.read(), gsf: await seg.grad!.read() };
      });
    const a = await runOnce();
    const b = await runOnce();
    expect(b.e).toEqual(a.e);
    expect(b.gs).toEqual(a.gs);
    expect(b.gp).toEqual(a.gp);
    expect(Array.from(a.ef).every(Number.isFinite)).toBe(true);
    expect(Array.from(a.gsf).every(Number.isFinite)).toBe(true);
    expect(await liveBytes(ctx)).toBe(base);
  });

  it('rejects bad inputs with typed errors', async () => {
    const ctx = await testGpu();
    const good = { x_start: 1, y_start: 1, z_start: 1, x_end: 1, y_end: 1, z_end: 2 };
    const s = (dE: number) => {
      const t = generateSyntheticSegments({ nMuons: 1, nProtons: 0 });
      t.dE[0] = dE;
      return t;
    };
    expect(() => segmentsTensor(ctx, s(NaN))).toThrow(InputValueError);
    expect(() => segmentsTensor(ctx, s(-1))).toThrow(/dE = -1 MeV/);
    expect(() => segmentsFromObjects([{ ...good, dE: -2 }])).toThrow(InputValueError);
    expect(() => physicsTensor(ctx, { lifetime: 0 })).toThrow(/lifetime = 0/);
    expect(() => physicsTensor(ctx, { lifetime: -5 })).toThrow(InputValueError);
    expect(() => physicsTensor(ctx, { dT: -1 })).toThrow(/dT = -1/);
    expect(() => physicsTensor(ctx, { dL: -0.1 })).toThrow(InputValueError);
    expect(() => physicsTensor(ctx, { Ab: 1.5 })).toThrow(/Ab = 1.5/);
    const bad = tensor(ctx, Float32Array.from(await physicsTensor(ctx).read()).map((v, i) => (i === 10 ? -1 : v)));
    await expect(validatePhysicsTensor(bad)).rejects.toThrow(/lifetime = -1/);
    bad.dispose();
    const wrong = tensor(ctx, new Float32Array(4));
    expect(() => recombination(wrong, wrong)).toThrow(/segments has shape \[4\]/);
    wrong.dispose();
  });
});
