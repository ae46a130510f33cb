/** GPU flash hypothesis vs the float64 reference, for a table and a SIREN model. */
import { describe, expect, it } from 'vitest';
import {
  ShapeError, backward, gradcheck, maxRelativeError, seededRandom, tensor, type ReferenceOp,
} from '../../src/index.js';
import { type Box3, type PhotonLibraryMeta, createPhotonLibrary, createSiren, flashHypothesis, flashMatchLoss, flashSum, initSirenParams, shiftPoints, sirenConfig, sirenVisibilityModel, sirenVisibilityModelGpu, tableVisibilityModel, tableVisibilityModelGpu, uploadPhotonLibrary } from '../../src/kernels/photon/index.js';
import { flashHypothesisBackwardRef, flashHypothesisRef } from '../../src/reference.js';
import { randomArray, testGpu } from '../helpers/gpu.js';

const rand = seededRandom(77);
const meta: PhotonLibraryMeta = { shape: [8, 4, 4], min: [0, 0, 0], max: [32, 16, 16], numPhotodetectors: 5 };
const data = Float32Array.from({ length: 8 * 4 * 4 * 5 }, () => 1e-4 + rand() * 1e-3);
const lib = createPhotonLibrary(meta, data);
const N = 37;

function deposits(lo: number[], hi: number[]) {
  const positions = Float64Array.from({ length: N * 3 }, (_, i) => Math.fround(lo[i % 3]! + (hi[i % 3]! - lo[i % 3]!) * rand()));
  const charges = Float64Array.from({ length: N }, () => Math.fround(1000 + 5000 * rand()));
  return { positions, charges };
}

describe('flash hypothesis on the GPU', () => {
  it('table model: PE and gradients for Δ, q, p match the reference (split table)', async () => {
    const ctx = await testGpu();
    const gpuLib = uploadPhotonLibrary(ctx, meta, data, { maxSlabBytes: 3 * 4 * 4 * 5 * 4 });
    const model = tableVisibilityModelGpu(gpuLib);
    const { positions, charges } = deposits([4, 2, 2], [26, 14, 14]);
    const shiftH = Float64Array.of(1.5, -0.25, 0.5);
    const gpe = randomArray(rand, 5).map(Math.fround);
    await ctx.scope(async () => {
      const p = tensor(ctx, Float32Array.from(positions), [N, 3], { requiresGrad: true });
      const q = tensor(ctx, Float32Array.from(charges), [N], { requiresGrad: true });
      const s = tensor(ctx, Float32Array.from(shiftH), [3], { requiresGrad: true });
      const pe = await flashHypothesis(model, p, q, s);
      const refModel = tableVisibilityModel(lib);
      // N-term sums of products: N · 2⁻²⁴ relative, well below 1e-5
      expect(maxRelativeError(await pe.readF64(), flashHypothesisRef(refModel, positions, charges, shiftH))).toBeLessThan(1e-5);
      backward(pe, tensor(ctx, Float32Array.from(gpe), [5]));
      const ref = flashHypothesisBackwardRef(refModel, positions, charges, shiftH, gpe);
      expect(maxRelativeError(await s.grad!.readF64(), ref.shift)).toBeLessThan(1e-5);
      expect(maxRelativeError(await q.grad!.readF64(), ref.charges)).toBeLessThan(1e-5);
      expect(maxRelativeError(await p.grad!.readF64(), ref.positions)).toBeLessThan(1e-5);
    });
    gpuLib.dispose();
  });

  it('SIREN model: PE and gradients for Δ, q, p and the SIREN weights match the reference', async () => {
    const ctx = await testGpu();
    const box: Box3 = { min: [-50, -20, 0], max: [50, 20, 80] };
    const cfg = sirenConfig({ inputDim: 3, hiddenWidth: 16, hiddenLayers: 2, outputDim: 6, omegaFirst: 5, omegaHidden: 5 });
    const params = initSirenParams(cfg, 8);
    params.weights.forEach((w) => w.set(w.map(Math.fround)));
    params.biases.forEach((b) => b.set(b.map(Math.fround)));
    const { positions, charges } = deposits([-40, -15, 5], [40, 15, 70]);
    const shiftH = Float64Array.of(2);
    const gpe = randomArray(rand, 6).map(Math.fround);
    const refModel = sirenVisibilityModel(cfg, params, box);
    const shift3 = [2, 0, 0];
    const before = ctx.stats().liveBytes;
    await ctx.scope(async () => {
      const net = createSiren(ctx, cfg, { params });
      const model = sirenVisibilityModelGpu(net, box);
      const p = tensor(ctx, Float32Array.from(positions), [N, 3], { requiresGrad: true });
      const q = tensor(ctx, Float32Array.from(charges), [N], { requiresGrad: true });
      const s = tensor(ctx, Float32Array.from(shiftH), [1], { requiresGrad: true });
      const pe = await flashHypothesis(model, p, q, s);
      // V spans decades through 10^(7·y): f32 relative error ~1e-5 of the largest PE
      expect(maxRelativeError(await pe.readF64(), flashHypothesisRef(refModel, positions, charges, shift3))).toBeLessThan(1e-4);
      backward(pe, tensor(ctx, Float32Array.from(gpe), [6]));
      const ref = flashHypothesisBackwardRef(refModel, positions, charges, shift3, gpe);
      expect(maxRelativeError(await s.grad!.readF64(), ref.shift.subarray(0, 1))).toBeLessThan(1e-4);
      expect(maxRelativeError(await q.grad!.readF64(), ref.charges)).toBeLessThan(1e-4);
      expect(maxRelativeError(await p.grad!.readF64(), ref.positions)).toBeLessThan(1e-4);
      for (let l = 0; l < 3; l++) {
        expect(maxRelativeError(await net.weights[l]!.grad!.readF64(), ref.parameters.weights[l]!), `W${l}`).toBeLessThan(1e-4);
        expect(maxRelativeError(await net.biases[l]!.grad!.readF64(), ref.parameters.biases[l]!), `b${l}`).toBeLessThan(1e-4);
      }
      net.dispose();
    });
    expect(ctx.stats().liveBytes).toBe(before);
  });

  it('gradcheck: flashSum and shiftPoints', async () => {
    const ctx = await testGpu();
    const n = 300; // more than one 256-row tile: two reduction passes
    const sumRef: ReferenceOp<null> = {
      forward: ([v, q]) => {
        const npd = v!.shape[1]!;
        const out = new Float64Array(npd);
        for (let i = 0; i < n; i++) for (let d = 0; d < npd; d++) out[d] = out[d]! + v!.data[i * npd + d]! * q!.data[i]!;
        return { shape: [npd], data: out };
      },
      backward: ([v, q], g) => {
        const npd = v!.shape[1]!;
        const gv = new Float64Array(n * npd);
        const gq = new Float64Array(n);
        for (let i = 0; i < n; i++) for (let d = 0; d < npd; d++) {
          gv[i * npd + d] = g.data[d]! * q!.data[i]!;
          gq[i] = gq[i]! + g.data[d]! * v!.data[i * npd + d]!;
        }
        return [gv, gq];
      },
    };
    const r = await gradcheck({ ctx, gpu: ([v, q]) => flashSum(v!, q!), reference: sumRef, inputs: [{ shape: [n, 3], data: randomArray(rand, 3 * n) }, { shape: [n], data: randomArray(rand, n) }], attrs: null });
    expect(r.forwardError).toBeLessThan(1e-5);
    expect(r.gpuError).toBeLessThan(1e-4);
    const shiftRef: ReferenceOp<null> = {
      forward: ([p, s]) => ({ shape: p!.shape, data: p!.data.map((v, i) => v + s!.data[i % 3]!) }),
      backward: ([p], g) => {
        const gs = new Float64Array(3);
        for (let i = 0; i < g.data.length; i++) gs[i % 3] = gs[i % 3]! + g.data[i]!;
        return [Float64Array.from(g.data), gs];
      },
    };
    const r2 = await gradcheck({ ctx, gpu: ([p, s]) => shiftPoints(p!, s!), reference: shiftRef, inputs: [{ shape: [n, 3], data: randomArray(rand, 3 * n) }, { shape: [3], data: randomArray(rand, 3) }], attrs: null });
    expect(r2.forwardError).toBeLessThan(1e-6);
    expect(r2.gpuError).toBeLessThan(1e-4);
  });

  it('is bitwise deterministic', async () => {
    const ctx = await testGpu();
    const gpuLib = uploadPhotonLibrary(ctx, meta, data);
    const { positions, charges } = deposits([4, 2, 2], [26, 14, 14]);
    const run = async () =>
      ctx.scope(async () => {
        const p = tensor(ctx, Float32Array.from(positions), [N, 3]);
        const q = tensor(ctx, Float32Array.from(charges), [N]);
        const s = tensor(ctx, Float32Array.of(0.3), [1], { requiresGrad: true });
        const obs = tensor(ctx, new Float32Array(5).fill(100), [5]);
        const { loss } = await flashMatchLoss(tableVisibilityModelGpu(gpuLib), p, q, s, obs);
        backward(loss);
        return [new Uint32Array((await loss.read()).buffer), new Uint32Array((await s.grad!.read()).buffer)];
      });
    expect(await run()).toEqual(await run());
    gpuLib.dispose();
  });

  it('rejects mismatched photodetector counts and deposit shapes', async () => {
    const ctx = await testGpu();
    const gpuLib = uploadPhotonLibrary(ctx, meta, data);
    const model = tableVisibilityModelGpu(gpuLib);
    await ctx.scope(async () => {
      const p = tensor(ctx, new Float32Array(6).fill(5), [2, 3]);
      const q = tensor(ctx, Float32Array.of(1, 2), [2]);
      const obs = tensor(ctx, new Float32Array(4), [4]);
      await expect(flashMatchLoss(model, p, q, undefined, obs)).rejects.toThrow(ShapeError);
      await expect(flashMatchLoss(model, p, q, undefined, obs)).rejects.toThrow(/5 photodetectors/);
      await expect(flashHypothesis(model, p, tensor(ctx, Float32Array.of(1, 2, 3), [3]))).rejects.toThrow(/one photon count per deposit/);
      expect(() => shiftPoints(p, tensor(ctx, Float32Array.of(1, 2), [2]))).toThrow(ShapeError);
    });
    gpuLib.dispose();
  });
});
