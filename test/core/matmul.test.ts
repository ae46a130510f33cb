import { describe, expect, it } from 'vitest';
import { gradcheck, matmul, seededRandom, tensor } from '../../src/index.js';
import { matmulReference } from '../../src/kernels/core/matmul.reference.js';
import { randomArray, testGpu } from '../helpers/gpu.js';

const rand = seededRandom(11);

describe('matmul', () => {
  // Shapes straddle the 64-wide tile and the 16-deep K slab, including 1s.
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [3, 5, 2],
    [64, 16, 64],
    [65, 17, 63],
    [37, 130, 29],
    [128, 33, 1],
    [1, 200, 70],
  ];
  for (const [M, K, N] of shapes) {
    it(`[${M}, ${K}] x [${K}, ${N}]: forward, dA, dB match float64; gradcheck passes`, async () => {
      const ctx = await testGpu();
      // f32 dot products of length K with |terms| ≤ 1: error ≲ K·2⁻²⁴ relative
      // to the sum of |terms|; 1e-5 relative to the largest output covers K ≤ 200.
      const report = await gradcheck({
        ctx,
        gpu: ([a, b]) => matmul(a!, b!),
        reference: matmulReference,
        inputs: [
          { shape: [M, K], data: randomArray(rand, M * K) },
          { shape: [K, N], data: randomArray(rand, K * N) },
        ],
        attrs: null,
        tolerance: { forward: 2e-5, gpu: 2e-5 },
      });
      expect(report.referenceError).toBeLessThan(1e-6);
      expect(report.forwardError).toBeLessThan(2e-5);
      expect(report.gpuError).toBeLessThan(2e-5);
    });
  }

  it('is bitwise deterministic', async () => {
    const ctx = await testGpu();
    const a = tensor(ctx, Float32Array.from(randomArray(rand, 100 * 300)), [100, 300]);
    const b = tensor(ctx, Float32Array.from(randomArray(rand, 300 * 90)), [300, 90]);
    const r1 = new Uint32Array((await matmul(a, b).read()).buffer);
    const r2 = new Uint32Array((await matmul(a, b).read()).buffer);
    expect(r1).toEqual(r2);
  });

  it('a tall matrix past the grid limit of one dimension ([9e6, 1]·[1, 2]) folds its row tiles into z, exactly', async () => {
    const ctx = await testGpu();
    const M = 9_000_000;
    const aHost = new Float32Array(M).map((_, i) => (i % 1000) - 500);
    const a = tensor(ctx, aHost, [M, 1]);
    const b = tensor(ctx, [2, -0.5], [1, 2]);
    const product = matmul(a, b);
    const c = await product.read();
    // Products of small integers and 2 or −0.5 are exact in f32.
    for (const i of [0, 1, 127, 128, 65_535 * 128 - 1, 65_535 * 128, M - 1]) {
      expect([c[2 * i], c[2 * i + 1]], String(i)).toEqual([2 * aHost[i]!, -0.5 * aHost[i]!]);
    }
    product.dispose();
    a.dispose();
    b.dispose();
  });
});

