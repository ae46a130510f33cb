import { describe, expect, it } from 'vitest';
import { InputValueError, ShapeError, backward, gradcheck, maxRelativeError, seededRandom, sum, tensor } from '../../src/index.js';
import {
  avgPoolForward,
  avgPoolReference,
  globalAvgPoolReference,
  maxPoolForward,
  maxPoolReference,
} from '../../src/kernels/sparse/ops.reference.js';
import {
  sparseAvgPool,
  sparseAvgPoolWithMap,
  sparseGlobalAvgPool,
  sparseMaxPool,
  sparseMaxPoolWithMap,
} from '../../src/kernels/sparse/pool.js';
import { CoordinateSet, SparseTensor } from '../../src/kernels/sparse/sparse-tensor.js';
import type { SpatialDim } from '../../src/kernels/sparse/coords.js';
import { randomArray, testGpu } from '../helpers/gpu.js';
import { batchedCoords, bits, hostStridedMap } from './ops-helpers.js';

const rand = seededRandom(31);
// Pooling sums ≤ 8 terms, global pooling ≤ a few thousand: f32 relative error ≲ 1e-6.
const TOL = { forward: 1e-5, gpu: 1e-5 };

describe('sparse pooling (GPU)', () => {
  for (const [dim, channels] of [[2, 1], [3, 5], [3, 67], [2, 256]] as [SpatialDim, number][]) {
    it(`max and average pooling (kernel 2, stride 2) over a host-built map, ${dim}D, C = ${channels}: gradcheck passes`, async () => {
      const ctx = await testGpu();
      const coords = batchedCoords(dim + channels, dim, 2, dim === 2 ? 9 : 5, channels > 60 ? 0.15 : 0.3);
      const set = new CoordinateSet(ctx, dim, coords);
      const m = hostStridedMap(ctx, coords, dim);
      const out = new CoordinateSet(ctx, dim, m.outCoords);
      const inputs = [{ shape: [set.n, channels], data: randomArray(rand, set.n * channels) }];
      const reports = [
        await gradcheck({
          ctx, gpu: ([x]) => sparseMaxPoolWithMap(new SparseTensor(set, x!), m.gpu, out).feats,
          reference: maxPoolReference, inputs, attrs: { map: m.map }, tolerance: TOL,
        }),
        await gradcheck({
          ctx, gpu: ([x]) => sparseAvgPoolWithMap(new SparseTensor(set, x!), m.gpu, out).feats,
          reference: avgPoolReference, inputs, attrs: { map: m.map }, tolerance: TOL,
        }),
        await gradcheck({
          ctx, gpu: ([x]) => sparseAvgPoolWithMap(new SparseTensor(set, x!), m.gpu, out, { divisor: 'volume' }).feats,
          reference: avgPoolReference, inputs, attrs: { map: m.map, divisor: 'volume' as const }, tolerance: TOL,
        }),
      ];
      for (const r of reports) expect(r).toMatchObject({ passed: true });
      m.dispose();
      out.dispose();
      set.dispose();
    });
  }

  it('max pooling ties go to the lowest input row, and so does the gradient', async () => {
    const ctx = await testGpu();
    // One 2×2 window, rows listed out of offset order: offsets (1,1),(0,0),(1,0),(0,1).
    const coords = Int32Array.from([0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
    const set = new CoordinateSet(ctx, 2, coords);
    const m = hostStridedMap(ctx, coords, 2);
    const out = new CoordinateSet(ctx, 2, m.outCoords);
    // channel 0: rows 0 and 2 tie at 5 (row 0 wins); channel 1: rows 1, 2, 3 tie at 2 (row 1 wins)
    const xh = [5, 1, 1, 2, 5, 2, 3, 2];
    await ctx.scope(async () => {
      const x = new SparseTensor(set, tensor(ctx, xh, [4, 2], { requiresGrad: true }));
      const y = sparseMaxPoolWithMap(x, m.gpu, out);
      expect(Array.from(await y.feats.read())).toEqual([5, 2]);
      backward(y.feats, tensor(ctx, [10, 20], [1, 2]));
      expect(Array.from(await x.feats.grad!.read())).toEqual([10, 0, 0, 20, 0, 0, 0, 0]);
      const ref = maxPoolForward(Float64Array.from(xh), m.map, 2);
      expect(Array.from(ref.argmax)).toEqual([0, 1]);
    });
    m.dispose();
    out.dispose();
    set.dispose();
  });

  it('public sparseMaxPool / sparseAvgPool (GPU-built map) match the float64 reference', async () => {
    const ctx = await testGpu();
    const coords = batchedCoords(77, 3, 3, 8, 0.2);
    const set = new CoordinateSet(ctx, 3, coords);
    const c = 6;
    const xh = Float64Array.from(randomArray(rand, set.n * c), Math.fround);
    const m = hostStridedMap(ctx, coords, 3);
    await ctx.scope(async () => {
      const x = new SparseTensor(set, tensor(ctx, Float32Array.from(xh), [set.n, c]));
      const ym = sparseMaxPool(x);
      const ya = sparseAvgPool(x, { divisor: 'volume' });
      expect(ym.coords).toBe(ya.coords);
      expect(ym.coords.stride).toBe(2);
      expect(Array.from(ym.coords.host)).toEqual(Array.from(m.outCoords));
      expect(maxRelativeError(await ym.feats.readF64(), maxPoolForward(xh, m.map, c).out)).toBeLessThan(1e-6);
      expect(maxRelativeError(await ya.feats.readF64(), avgPoolForward(xh, m.map, c, 'volume').out)).toBeLessThan(1e-6);
    });
    m.dispose();
    set.dispose();
  });

  for (const [dim, channels, events, extent, density] of [
    [3, 3, 3, 6, 0.3],
    [2, 70, 4, 8, 0.4],
  ] as [SpatialDim, number, number, number, number][]) {
    it(`global average pooling (${dim}D, C = ${channels}, an empty batch item, rows interleaved): gradcheck passes`, async () => {
      const ctx = await testGpu();
      const coords = batchedCoords(channels, dim, events, extent, density, true);
      const set = new CoordinateSet(ctx, dim, coords);
      for (const batchSize of [events, events + 2]) {
        const r = await gradcheck({
          ctx,
          gpu: ([x], a) => sparseGlobalAvgPool(new SparseTensor(set, x!), { batchSize: a.batchSize }),
          reference: globalAvgPoolReference,
          inputs: [{ shape: [set.n, channels], data: randomArray(rand, set.n * channels) }],
          attrs: { coords, dim, batchSize },
          tolerance: TOL,
        });
        expect(r).toMatchObject({ passed: true });
      }
      set.dispose();
    });
  }

  it('global average pooling over several pieces per item is accurate and bitwise deterministic', async () => {
    const ctx = await testGpu();
    const coords = batchedCoords(9, 3, 2, 22, 0.2); // ~2100 rows per item: 3 pieces each
    const set = new CoordinateSet(ctx, 3, coords);
    const c = 19;
    const xh = randomArray(rand, set.n * c, -1, 3);
    const x = tensor(ctx, Float32Array.from(xh), [set.n, c], { requiresGrad: true });
    const run = () =>
      ctx.scope(async () => {
        const y = sparseGlobalAvgPool(new SparseTensor(set, x));
        backward(sum(y));
        const r = [await bits(y), await bits(x.grad!)];
        x.grad!.dispose();
        x.grad = null;
        return r;
      });
    const a = await run();
    expect(await run()).toEqual(a);
    const ref = globalAvgPoolReference.forward([{ shape: [set.n, c], data: Float64Array.from(xh, Math.fround) }], { coords, dim: 3, batchSize: 2 });
    // f32 sums of ~2000 terms: error ≲ (log2(256) + pieces)·2⁻²⁴ of Σ|x| / count.
    expect(maxRelativeError(Float64Array.from(new Float32Array(a[0]!.buffer)), ref.data)).toBeLessThan(1e-5);
    x.dispose();
    set.dispose();
  });

  it('max pooling is bitwise deterministic', async () => {
    const ctx = await testGpu();
    const coords = batchedCoords(12, 3, 2, 12, 0.3);
    const set = new CoordinateSet(ctx, 3, coords);
    const x = tensor(ctx, Float32Array.from(randomArray(rand, set.n * 9)), [set.n, 9], { requiresGrad: true });
    const run = () =>
      ctx.scope(async () => {
        const y = sparseAvgPool(sparseMaxPool(new SparseTensor(set, x)));
        backward(sum(y.feats));
        const r = [await bits(y.feats), await bits(x.grad!)];
        x.grad!.dispose();
        x.grad = null;
        return r;
      });
    expect(await run()).toEqual(await run());
    x.dispose();
    set.dispose();
  });

  it('empty tensors (N = 0): pooling gives [0, C], global pooling [B, C] zeros', async () => {
    const ctx = await testGpu();
    const set = new CoordinateSet(ctx, 3, new Int32Array(0));
    const m = hostStridedMap(ctx, new Int32Array(0), 3);
    const out = new CoordinateSet(ctx, 3, m.outCoords);
    await ctx.scope(async () => {
      const x = new SparseTensor(set, tensor(ctx, new Float32Array(0), [0, 4], { requiresGrad: true }));
      expect(sparseMaxPoolWithMap(x, m.gpu, out).feats.shape).toEqual([0, 4]);
      expect(sparseAvgPool(x).feats.shape).toEqual([0, 4]);
      expect(sparseGlobalAvgPool(x).shape).toEqual([0, 4]);
      const y = sparseGlobalAvgPool(x, { batchSize: 2 });
      expect(Array.from(await y.read())).toEqual(new Array(8).fill(0));
      backward(sum(y));
      expect(x.feats.grad!.shape).toEqual([0, 4]);
    });
    m.dispose();
    out.dispose();
    set.dispose();
  });

  it('frees everything: liveBytes returns to baseline', async () => {
    const ctx = await testGpu();
    await ctx.sync();
    const before = ctx.stats().liveBytes;
    const coords = batchedCoords(13, 2, 3, 10, 0.3, true);
    const set = new CoordinateSet(ctx, 2, coords);
    const m = hostStridedMap(ctx, coords, 2);
    const out = new CoordinateSet(ctx, 2, m.outCoords);
    await ctx.scope(async () => {
      const x = new SparseTensor(set, tensor(ctx, Float32Array.from(randomArray(rand, set.n * 5)), [set.n, 5], { requiresGrad: true }));
      const a = sparseGlobalAvgPool(sparseMaxPoolWithMap(x, m.gpu, out));
      const b = sparseGlobalAvgPool(sparseAvgPool(x));
      backward(sum(a));
      backward(sum(b));
      await x.feats.grad!.read();
    });
    m.dispose();
    out.dispose();
    set.dispose(); // also frees the cached GPU map, pooled set and batch pieces
    await ctx.sync();
    expect(ctx.stats().liveBytes).toBe(before);
  });

  describe('bad input', () => {
    it('maps that do not fit the tensors, wrong dims, batch sizes and divisors are typed errors', async () => {
      const ctx = await testGpu();
      const coords = batchedCoords(14, 2, 2, 6, 0.4);
      const set = new CoordinateSet(ctx, 2, coords);
      const m = hostStridedMap(ctx, coords, 2);
      const out = new CoordinateSet(ctx, 2, m.outCoords);
      const other = new CoordinateSet(ctx, 2, Int32Array.from([0, 0, 0]));
      const out3 = new CoordinateSet(ctx, 3, Int32Array.from([0, 0, 0, 0]));
      const x = new SparseTensor(set, tensor(ctx, new Float32Array(set.n * 2), [set.n, 2]));
      const y = new SparseTensor(other, tensor(ctx, [1, 2], [1, 2]));
      expect(() => sparseMaxPoolWithMap(y, m.gpu, out)).toThrow(ShapeError);
      expect(() => sparseMaxPoolWithMap(y, m.gpu, out)).toThrow(/map.numIn = \d+ but x has 1 sites/);
      expect(() => sparseAvgPoolWithMap(x, m.gpu, other)).toThrow(/map.numOut = \d+ but outCoords has 1 sites/);
      expect(() => sparseAvgPoolWithMap(x, m.gpu, out3)).toThrow(/outCoords is 3D but x is 2D/);
      const f32Table = tensor(ctx, new Float32Array(m.gpu.outputStationary.size), m.gpu.outputStationary.shape);
      expect(() => sparseMaxPoolWithMap(x, { ...m.gpu, outputStationary: f32Table }, out)).toThrow(/map.outputStationary must be i32/);
      expect(() => sparseAvgPoolWithMap(x, m.gpu, out, { divisor: 'mean' as 'active' })).toThrow(InputValueError);
      expect(() => sparseAvgPoolWithMap(x, m.gpu, out, { divisor: 'mean' as 'active' })).toThrow(/options.divisor = "mean"/);
      expect(() => sparseGlobalAvgPool(x, { batchSize: 1 })).toThrow(/batchSize = 1 but x has batch index 1/);
      expect(() => sparseGlobalAvgPool(x, { batchSize: -1 })).toThrow(InputValueError);
      expect(() => sparseMaxPool({} as SparseTensor)).toThrow(/x must be a SparseTensor/);
      f32Table.dispose();
      for (const s of [set, out, other, out3]) s.dispose();
      m.dispose();
    });
  });
});
