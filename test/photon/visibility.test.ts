/** GPU visibility utilities vs the float64 references: values, gradcheck, bad input. */
import { describe, expect, it } from 'vitest';
import {
  InputValueError, ShapeError, backward, gradcheck, maxRelativeError, seededRandom, tensor,
  type HostTensor, type ReferenceOp, type Tensor,
} from '../../src/index.js';
import { type Box3, checkPointsInBox, logToVisibility, normalizeCoordinates, normalizeCoordinatesUnchecked, poissonNll, visibilityLossWeights, visibilityToLog, weightedL2Loss } from '../../src/kernels/photon/index.js';
import { logToVisibilityDerivativeRef, logToVisibilityRef, normalizeCoordinatesBackwardRef, normalizeCoordinatesRef, poissonNllRef, visibilityLossWeightsRef, visibilityToLogDerivativeRef, visibilityToLogRef, weightedL2LossRef } from '../../src/reference.js';
import { randomArray, testGpu } from '../helpers/gpu.js';

const rand = seededRandom(99);
const scalar = (x: number): HostTensor => ({ shape: [1], data: Float64Array.of(x) });
const box: Box3 = { min: [-100, -50, 0], max: [100, 50, 300] };

describe('visibility transforms', () => {
  // log10/exp2 in f32 are within a few ulp; the forward tolerance is 1e-5 of the largest magnitude.
  it('visibilityToLog (sinOut and plain) passes gradcheck', async () => {
    const ctx = await testGpu();
    for (const sinOut of [false, true]) {
      const reference: ReferenceOp<null> = {
        forward: ([v]) => ({ shape: v!.shape, data: visibilityToLogRef(v!.data, { sinOut }) }),
        backward: ([v], g) => [visibilityToLogDerivativeRef(v!.data, { sinOut }).map((d, i) => d * g.data[i]!)],
      };
      // visibilities spanning decades, away from 0 so central differences stay on the positive side
      const v = Float64Array.from({ length: 40 }, () => 10 ** (-6 * rand() - 0.5));
      const r = await gradcheck({ ctx, gpu: ([x]) => visibilityToLog(x!, { sinOut }), reference, inputs: [{ shape: [8, 5], data: v }], attrs: null, h: 1e-9, tolerance: { reference: 1e-4 } });
      expect(r.forwardError).toBeLessThan(1e-5);
      expect(r.gpuError).toBeLessThan(1e-4);
      expect(r.referenceError).toBeLessThan(1e-4);
    }
  });

  it('logToVisibility passes gradcheck and inverts visibilityToLog', async () => {
    const ctx = await testGpu();
    const reference: ReferenceOp<null> = {
      forward: ([y]) => ({ shape: y!.shape, data: logToVisibilityRef(y!.data, { sinOut: true }) }),
      backward: ([y], g) => [logToVisibilityDerivativeRef(y!.data, { sinOut: true }).map((d, i) => d * g.data[i]!)],
    };
    const r = await gradcheck({ ctx, gpu: ([y]) => logToVisibility(y!, { sinOut: true }), reference, inputs: [{ shape: [30], data: randomArray(rand, 30, -1, 1) }], attrs: null });
    // exp2 of values up to ~16 (ln-scale) in f32: relative error ~1e-6·16 of the largest magnitude.
    expect(r.forwardError).toBeLessThan(2e-5);
    expect(r.gpuError).toBeLessThan(1e-4);
    const v = tensor(ctx, Float32Array.of(0, 1e-6, 1e-3, 0.5));
    const back = await logToVisibility(visibilityToLog(v)).readF64();
    expect(maxRelativeError(back, [0, 1e-6, 1e-3, 0.5])).toBeLessThan(1e-5);
  });

  it('loss weights follow both threshold conventions', async () => {
    const ctx = await testGpu();
    const v = Float64Array.of(0, 1e-15, 1e-13, 1e-9, 1e-7, 1e-3);
    const t = tensor(ctx, Float32Array.from(v));
    for (const compare of ['weight', 'visibility'] as const) {
      const got = await visibilityLossWeights(t, { compare }).readF64();
      expect(maxRelativeError(got, visibilityLossWeightsRef(Float32Array.from(v), { compare }))).toBeLessThan(1e-6);
    }
  });
});

describe('losses', () => {
  it('weighted L2 (mean and sum, with and without weights) passes gradcheck', async () => {
    const ctx = await testGpu();
    for (const reduction of ['mean', 'sum'] as const) {
      for (const weighted of [false, true]) {
        const reference: ReferenceOp<null> = {
          forward: ([p, t, w]) => scalar(weightedL2LossRef(p!.data, t!.data, w?.data, reduction).loss),
          backward: ([p, t, w], g) => {
            const r = weightedL2LossRef(p!.data, t!.data, w?.data, reduction);
            const gp = r.gradPred.map((x) => x * g.data[0]!);
            return [gp, gp.map((x) => -x), ...(w ? [null] : [])];
          },
        };
        const n = 300;
        const inputs: HostTensor[] = [
          { shape: [n], data: randomArray(rand, n) },
          { shape: [n], data: randomArray(rand, n) },
          ...(weighted ? [{ shape: [n], data: randomArray(rand, n, 0, 3) }] : []),
        ];
        const r = await gradcheck({
          ctx,
          gpu: ([p, t, w]) => weightedL2Loss(p!, t!, w, reduction),
          reference,
          inputs,
          attrs: null,
          differentiable: weighted ? [true, true, false] : [true, true],
        });
        // a 300-term f32 sum: 300 · 2⁻²⁴ ≈ 2e-5 relative
        expect(r.forwardError).toBeLessThan(5e-5);
        expect(r.gpuError).toBeLessThan(1e-4);
        expect(r.referenceError).toBeLessThan(1e-6);
      }
    }
  });

  it('Poisson NLL (sum/mean, full) passes gradcheck', async () => {
    const ctx = await testGpu();
    for (const options of [{}, { reduction: 'mean' as const }, { full: true }]) {
      const reference: ReferenceOp<null> = {
        forward: ([p, k]) => scalar(poissonNllRef(p!.data, k!.data, options).loss),
        backward: ([p, k], g) => [poissonNllRef(p!.data, k!.data, options).gradPred.map((x) => x * g.data[0]!), null],
      };
      const n = 48;
      const lam = randomArray(rand, n, 0.5, 40);
      const k = Float64Array.from(lam, (l) => Math.round(l * (0.5 + rand())));
      const r = await gradcheck({
        ctx, gpu: ([p, o]) => poissonNll(p!, o!, options), reference,
        inputs: [{ shape: [n], data: lam }, { shape: [n], data: k }], attrs: null, differentiable: [true, false],
      });
      // λ − k ln λ terms of size ~100 cancel partially; ln Γ(k+1) up to ~250: 1e-5 of the largest magnitude
      expect(r.forwardError).toBeLessThan(1e-5);
      expect(r.gpuError).toBeLessThan(1e-4);
    }
  });

  it('rejects mismatched photodetector counts and shapes', async () => {
    const ctx = await testGpu();
    const a = tensor(ctx, new Float32Array(48));
    const b = tensor(ctx, new Float32Array(47));
    expect(() => poissonNll(a, b)).toThrow(ShapeError);
    expect(() => poissonNll(a, b)).toThrow(/same photodetectors/);
    expect(() => weightedL2Loss(a, b)).toThrow(ShapeError);
    expect(() => poissonNll(a, a, { epsilon: -1 })).toThrow(InputValueError);
    a.dispose();
    b.dispose();
  });
});

describe('coordinate normalisation', () => {
  it('matches the reference, clamps with zero gradient, passes gradcheck', async () => {
    const ctx = await testGpu();
    const pts = Float64Array.from({ length: 60 }, (_, i) => {
      const a = i % 3;
      return box.min[a]! + (box.max[a]! - box.min[a]!) * (1.2 * rand() - 0.1);
    });
    const reference: ReferenceOp<null> = {
      forward: ([p]) => ({ shape: p!.shape, data: normalizeCoordinatesRef(p!.data, box, 'clamp') }),
      backward: ([p], g) => [normalizeCoordinatesBackwardRef(p!.data, box, g.data)],
    };
    const r = await gradcheck({ ctx, gpu: ([p]) => normalizeCoordinatesUnchecked(p!, box), reference, inputs: [{ shape: [20, 3], data: pts }], attrs: null, h: 1e-4 });
    expect(r.forwardError).toBeLessThan(1e-6);
    expect(r.gpuError).toBeLessThan(1e-5);
  });

  it("throws for points outside the box (naming row, axis, value) unless outside = 'clamp'", async () => {
    const ctx = await testGpu();
    const before = ctx.stats().liveBytes;
    const p = tensor(ctx, Float32Array.of(0, 0, 10, 5, 60, 20, 1, 2, 3), [3, 3]);
    await expect(normalizeCoordinates(p, box)).rejects.toThrow(InputValueError);
    await expect(normalizeCoordinates(p, box)).rejects.toThrow(/row 1 has y = 60 cm/);
    const u = await normalizeCoordinates(p, box, 'clamp');
    expect(Array.from(await u.read())[4]).toBe(1);
    const nan = tensor(ctx, Float32Array.of(0, Number.NaN, 10), [1, 3]);
    await expect(checkPointsInBox(nan, box)).rejects.toThrow(/NaN/);
    const flat = tensor(ctx, new Float32Array(4), [2, 2]);
    await expect(normalizeCoordinates(flat, box)).rejects.toThrow(ShapeError);
    await expect(normalizeCoordinates(p, { min: [0, 0, 0], max: [1, -1, 1] })).rejects.toThrow(InputValueError);
    for (const t of [p, u, nan, flat]) t.dispose();
    expect(ctx.stats().liveBytes).toBe(before);
  });

  it('is deterministic and the loss pipeline backpropagates to positions', async () => {
    const ctx = await testGpu();
    const p = tensor(ctx, Float32Array.from(randomArray(rand, 30, 1, 45)), [10, 3], { requiresGrad: true });
    const t = tensor(ctx, Float32Array.from(randomArray(rand, 30)), [10, 3]);
    const run = async (): Promise<Tensor> => {
      p.grad?.dispose();
      p.grad = null;
      const loss = weightedL2Loss(await normalizeCoordinates(p, box), t);
      backward(loss);
      return loss;
    };
    const a = new Uint32Array((await (await run()).read()).buffer);
    const ga = new Uint32Array((await p.grad!.read()).buffer);
    const b = new Uint32Array((await (await run()).read()).buffer);
    const gb = new Uint32Array((await p.grad!.read()).buffer);
    expect(a).toEqual(b);
    expect(ga).toEqual(gb);
  });
});
