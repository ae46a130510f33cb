import { describe, expect, it } from 'vitest';
import { gradcheck, mean, mseLoss, seededRandom, sum, tensor } from '../../src/index.js';
import { meanReference, sumReference } from '../../src/kernels/core/reduce.reference.js';
import { mseLossReference } from '../../src/kernels/core/loss.reference.js';
import { randomArray, testGpu } from '../helpers/gpu.js';

const rand = seededRandom(3);

describe('sum, mean, mseLoss', () => {
  for (const n of [1, 7, 2048, 2049, 70_001]) {
    it(`sum and mean of ${n} elements match float64 and pass gradcheck`, async () => {
      const ctx = await testGpu();
      const data = randomArray(rand, n);
      // Tree reduction: error grows like log2(n)·2⁻²⁴·Σ|x|, so tolerance is
      // set relative to Σ|x| rather than to the (possibly cancelling) sum.
      const abs = data.reduce((s, v) => s + Math.abs(v), 0);
      const x = tensor(ctx, Float32Array.from(data));
      const exact = Float32Array.from(data).reduce((s, v) => s + v, 0);
      const s = (await sum(x).read())[0]!;
      expect(Math.abs(s - exact)).toBeLessThan(Math.log2(n + 1) * 2 ** -23 * abs + 1e-7);
      const m = (await mean(x).read())[0]!;
      expect(Math.abs(m - exact / n)).toBeLessThan((Math.log2(n + 1) * 2 ** -23 * abs) / n + 1e-7);
      if (n <= 2049) {
        for (const [op, reference] of [[sum, sumReference], [mean, meanReference]] as const) {
          const r = await gradcheck({ ctx, gpu: ([t]) => op(t!), reference, inputs: [{ shape: [n], data }], attrs: null });
          expect(r.referenceError).toBeLessThan(1e-6);
          expect(r.gpuError).toBeLessThan(1e-5);
        }
      }
    });
  }

  it('sum of an empty tensor is 0', async () => {
    const ctx = await testGpu();
    expect(Array.from(await sum(tensor(ctx, [], [0])).read())).toEqual([0]);
  });

  it('mseLoss matches float64 and passes gradcheck for both arguments', async () => {
    const ctx = await testGpu();
    const r = await gradcheck({
      ctx,
      gpu: ([p, t]) => mseLoss(p!, t!),
      reference: mseLossReference,
      inputs: [
        { shape: [33, 7], data: randomArray(rand, 231) },
        { shape: [33, 7], data: randomArray(rand, 231) },
      ],
      attrs: null,
    });
    expect(r.referenceError).toBeLessThan(1e-6);
    expect(r.forwardError).toBeLessThan(1e-5);
    expect(r.gpuError).toBeLessThan(1e-5);
  });

  it('reductions are bitwise deterministic', async () => {
    const ctx = await testGpu();
    const x = tensor(ctx, Float32Array.from(randomArray(rand, 300_000)));
    const a = (await sum(x).read())[0];
    const b = (await sum(x).read())[0];
    expect(Object.is(a, b)).toBe(true);
  });
});
