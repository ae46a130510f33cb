// GPU sparse convolution (forward, dX, dW, db) vs the float64 reference
// (conv.reference.ts), on LArTPC-like point sets.
import { describe, expect, it } from 'vitest';
import { gradcheck } from '../../src/autodiff/gradcheck.js';
import { backward } from '../../src/autodiff/tape.js';
import { DisposedError, DTypeError, InputValueError, ShapeError } from '../../src/errors.js';
import { tensor, type Tensor } from '../../src/runtime/tensor.js';
import { type SpatialDim, boundingBox } from '../../src/kernels/sparse/coords.js';
import {
  type KernelMap,
  buildStridedMap,
  buildSubmanifoldMap,
  buildTransposedMap,
} from '../../src/kernels/sparse/kernel-map.reference.js';
import {
  denseConvReference,
  denseToSparse,
  sparseConvReference,
  sparseToDense,
} from '../../src/kernels/sparse/conv.reference.js';
import {
  sparseConv,
  sparseConvFeatures,
  sparseConvTranspose,
  submanifoldConv,
  submanifoldConv2d,
  submanifoldConv3d,
} from '../../src/kernels/sparse/conv.js';
import { stridedCoordinateSet, stridedMap, submanifoldMap } from '../../src/kernels/sparse/kernel-map.js';
import { CoordinateSet, SparseTensor, sparseTensor } from '../../src/kernels/sparse/sparse-tensor.js';
import { testGpu } from '../helpers/gpu.js';
import { checkAgainstReference, randomCase, runConv } from './conv-cases.js';
import {
  batchEvents,
  convEvents,
  f32,
  randomCloud,
  randomFeats,
  randomWalk,
  readF32AsF64,
  readI32,
  relToMax,
  rng,
  straightTrack,
} from './sparse-data.js';


describe('submanifold conv vs float64 reference', () => {
  const cases: { dim: SpatialDim; K: number; dil: number; cin: number; cout: number; size: number }[] = [
    { dim: 3, K: 3, dil: 1, cin: 16, cout: 16, size: 3000 },
    { dim: 3, K: 1, dil: 1, cin: 5, cout: 7, size: 800 },
    { dim: 3, K: 3, dil: 2, cin: 3, cout: 37, size: 1500 },
    { dim: 3, K: 5, dil: 1, cin: 33, cout: 65, size: 600 },
    { dim: 2, K: 3, dil: 1, cin: 1, cout: 1, size: 1500 },
    { dim: 2, K: 5, dil: 2, cin: 9, cout: 4, size: 1000 },
    { dim: 3, K: 3, dil: 1, cin: 64, cout: 32, size: 1200 },
  ];
  it.each(cases)('dim $dim K $K dil $dil Cin $cin Cout $cout: forward, dX, dW, db', async ({ dim, K, dil, cin, cout, size }) => {
    const ctx = await testGpu();
    const coords = convEvents(100 + K + dil + cin, dim, dim === 3 ? 64 : 256, size);
    const refMap = buildSubmanifoldMap(coords, dim, K, dil);
    const n = refMap.numIn;
    const c = randomCase(7 + cin, n, n, refMap.kernelVolume, cin, cout);
    const set = new CoordinateSet(ctx, dim, coords);
    // forward: L = V·Cin ≤ 125·33 terms; dW sums ≲ N terms of unit size: 2e-4 of the max.
    await checkAgainstReference(refMap, c, cin, cout, (x, w, b) => submanifoldConv(new SparseTensor(set, x), w, { bias: b, dilation: dil }).feats, {
      fwd: 2e-5,
      grad: 2e-4,
    });
    set.dispose();
  });

  it('40k+ voxels (random walks and tracks in 256³, 45 events), 4 → 8 channels', async () => {
    const ctx = await testGpu();
    const r = rng(500);
    const evs = Array.from({ length: 5 }, () => randomWalk(r, 3, 256, 14000));
    evs.push(...Array.from({ length: 40 }, () => straightTrack(r, 3, 256, 300)));
    const coords = batchEvents(evs, 3);
    const refMap = buildSubmanifoldMap(coords, 3, 3);
    expect(refMap.numIn).toBeGreaterThan(40000);
    const c = randomCase(9, refMap.numIn, refMap.numIn, 27, 4, 8);
    const set = new CoordinateSet(ctx, 3, coords);
    // dW sums ~40k+ terms: 1e-3 of the max.
    await checkAgainstReference(refMap, c, 4, 8, (x, w, b) => submanifoldConv3d(new SparseTensor(set, x), w, { bias: b }).feats, {
      fwd: 2e-5,
      grad: 1e-3,
    });
    set.dispose();
  });

  it('handles 256 → 256 channels', async () => {
    const ctx = await testGpu();
    const coords = convEvents(5, 3, 32, 300);
    const refMap = buildSubmanifoldMap(coords, 3, 3);
    const c = randomCase(8, refMap.numIn, refMap.numIn, 27, 256, 256);
    const set = new CoordinateSet(ctx, 3, coords);
    await checkAgainstReference(refMap, c, 256, 256, (x, w, b) => submanifoldConv3d(new SparseTensor(set, x), w, { bias: b }).feats, {
      fwd: 5e-5,
      grad: 2e-4,
    });
    set.dispose();
  });

  it('reproduces the SparseConvNet fixture (SubmanifoldConvolution(3, 5, 7, 3, bias=True))', async () => {
    const ctx = await testGpu();
    const F = 'sparseconvnet-subm3';
    const xyz = readI32(F, 'coords.i32');
    const n = xyz.length / 3;
    const coords = new Int32Array(n * 4);
    for (let r = 0; r < n; r++) coords.set(xyz.subarray(3 * r, 3 * r + 3), 4 * r + 1);
    await ctx.scope(async () => {
      const x = sparseTensor(ctx, coords, Float32Array.from(readF32AsF64(F, 'feats.f32')), { requiresGrad: true });
      const w = tensor(ctx, Float32Array.from(readF32AsF64(F, 'weight.f32')), [27, 5, 7], { requiresGrad: true });
      const b = tensor(ctx, Float32Array.from(readF32AsF64(F, 'bias.f32')), [7], { requiresGrad: true });
      const y = submanifoldConv3d(x, w, { bias: b });
      backward(y.feats, tensor(ctx, Float32Array.from(readF32AsF64(F, 'gout.f32')), [n, 7]));
      expect(relToMax(await y.feats.readF64(), readF32AsF64(F, 'out.f32'))).toBeLessThan(1e-5);
      expect(relToMax(await x.feats.grad!.readF64(), readF32AsF64(F, 'gfeats.f32'))).toBeLessThan(1e-5);
      expect(relToMax(await w.grad!.readF64(), readF32AsF64(F, 'gweight.f32'))).toBeLessThan(1e-5);
      expect(relToMax(await b.grad!.readF64(), readF32AsF64(F, 'gbias.f32'))).toBeLessThan(1e-5);
      x.coords.dispose();
    });
  });

  it.each([
    { dim: 3 as SpatialDim, K: 3, dil: 1 },
    { dim: 3 as SpatialDim, K: 5, dil: 2 },
    { dim: 2 as SpatialDim, K: 3, dil: 2 },
  ])('equals a dense cross-correlation read back at active sites (dim $dim K $K dil $dil)', async ({ dim, K, dil }) => {
    const ctx = await testGpu();
    const r = rng(40 + K);
    const coords = batchEvents([randomCloud(r, dim, dim === 3 ? 10 : 24, 0.15)], dim);
    const n = coords.length / (dim + 1);
    const cin = 3;
    const cout = 4;
    const feats = f32(randomFeats(r, n, cin));
    const weight = f32(randomFeats(r, K ** dim * cin, cout));
    const bb = boundingBox(coords, dim)!;
    const extent = bb.max.map((m, a) => m - bb.min[a]! + 1);
    const dense = denseConvReference(sparseToDense(coords, feats, dim, cin, 0, bb.min, extent), weight, null, cout, K, dil);
    const expected = denseToSparse(dense, coords, 0, bb.min);
    const x = sparseTensor(ctx, coords, Float32Array.from(feats), { dim });
    const w = tensor(ctx, Float32Array.from(weight), [K ** dim, cin, cout]);
    const y = (dim === 3 ? submanifoldConv3d : submanifoldConv2d)(x, w, { dilation: dil });
    expect(relToMax(await y.feats.readF64(), expected)).toBeLessThan(1e-5);
    x.coords.dispose();
    x.feats.dispose();
    y.feats.dispose();
    w.dispose();
  });
});

describe('strided and transposed conv vs float64 reference', () => {
  it.each([
    { dim: 3 as SpatialDim, K: 2, s: 2, cin: 8, cout: 16 },
    { dim: 3 as SpatialDim, K: 3, s: 2, cin: 5, cout: 3 },
    { dim: 2 as SpatialDim, K: 2, s: 2, cin: 4, cout: 40 },
  ])('dim $dim K $K stride $s: sparseConv and sparseConvTranspose', async ({ dim, K, s, cin, cout }) => {
    const ctx = await testGpu();
    const fine = convEvents(60 + K + dim, dim, dim === 3 ? 128 : 256, 2000);
    const fineSet = new CoordinateSet(ctx, dim, fine);
    const { map, outCoords } = buildStridedMap(fine, dim, K, s);
    const v = K ** dim;
    const c = randomCase(70 + K, map.numIn, map.numOut, v, cin, cout);
    await checkAgainstReference(map, c, cin, cout, (x, w, b) => {
      const y = sparseConv(new SparseTensor(fineSet, x), w, { stride: s, bias: b });
      expect(Array.from(y.coords.host)).toEqual(Array.from(outCoords));
      expect(y.coords.stride).toBe(s);
      return y.feats;
    }, { fwd: 2e-5, grad: 2e-4 });
    const coarseSet = stridedCoordinateSet(fineSet, s);
    const tmap = buildTransposedMap(outCoords, fine, dim, K, s);
    const ct = randomCase(80 + K, tmap.numIn, tmap.numOut, v, cout, cin);
    await checkAgainstReference(tmap, ct, cout, cin, (x, w, b) => {
      const y = sparseConvTranspose(new SparseTensor(coarseSet, x), w, { stride: s, bias: b, outCoords: fineSet });
      expect(y.coords).toBe(fineSet);
      return y.feats;
    }, { fwd: 2e-5, grad: 2e-4 });
    fineSet.dispose();
  });
});

describe('gradcheck', () => {
  it.each([
    { kind: 'submanifold', dim: 3 as SpatialDim },
    { kind: 'submanifold', dim: 2 as SpatialDim },
    { kind: 'strided', dim: 3 as SpatialDim },
    { kind: 'transposed', dim: 3 as SpatialDim },
  ])('$kind dim $dim', async ({ kind, dim }) => {
    const ctx = await testGpu();
    const r = rng(90 + dim);
    const fine = batchEvents([randomCloud(r, dim, dim === 3 ? 5 : 8, 0.3), new Int32Array(0), randomWalk(r, dim, 8, 10)], dim);
    const fineSet = new CoordinateSet(ctx, dim, fine);
    let refMap: KernelMap;
    let gpuMap;
    if (kind === 'submanifold') {
      refMap = buildSubmanifoldMap(fine, dim, 3);
      gpuMap = submanifoldMap(fineSet, 3);
    } else {
      const coarse = stridedCoordinateSet(fineSet, 2);
      const m = buildStridedMap(fine, dim, 3, 2).map;
      gpuMap = stridedMap(fineSet, 3, 2);
      if (kind === 'strided') refMap = m;
      else {
        refMap = buildTransposedMap(coarse.host, fine, dim, 3, 2);
        gpuMap = gpuMap.transposed();
      }
    }
    const cin = 3;
    const cout = 2;
    const report = await gradcheck({
      ctx,
      gpu: ([f, w, b]) => sparseConvFeatures(f!, w!, b!, gpuMap),
      reference: sparseConvReference,
      inputs: [
        { shape: [refMap.numIn, cin], data: randomFeats(r, refMap.numIn, cin) },
        { shape: [refMap.kernelVolume, cin, cout], data: randomFeats(r, refMap.kernelVolume * cin, cout) },
        { shape: [cout], data: randomFeats(r, 1, cout) },
      ],
      attrs: { map: refMap, inChannels: cin, outChannels: cout },
      tolerance: { forward: 1e-4, gpu: 1e-4 },
    });
    expect(report.referenceError).toBeLessThan(1e-6);
    expect(report.forwardError).toBeLessThan(1e-4);
    expect(report.gpuError).toBeLessThan(1e-4);
    fineSet.dispose();
  });
});

describe('determinism, empty tensors, leaks', () => {
  it('forward and all gradients are bitwise identical across runs', async () => {
    const ctx = await testGpu();
    const coords = convEvents(11, 3, 64, 3000);
    const set = new CoordinateSet(ctx, 3, coords);
    const c = randomCase(12, set.n, set.n, 27, 16, 24);
    const run = (x: Tensor, w: Tensor, b: Tensor): Tensor => submanifoldConv(new SparseTensor(set, x), w, { bias: b }).feats;
    const once = async (): Promise<Uint32Array[]> => (await runConv(set.n, set.n, 27, 16, 24, c, run)).bits;
    const a = await once();
    const b = await once();
    a.forEach((t, i) => expect(t).toEqual(b[i]));
  });

  it('empty tensors: N = 0 gives [0, Cout] and zero weight gradients', async () => {
    const ctx = await testGpu();
    await ctx.scope(async () => {
      const x = sparseTensor(ctx, new Int32Array(0), new Float32Array(0), { channels: 4, requiresGrad: true });
      const w = tensor(ctx, new Float32Array(27 * 4 * 3).fill(1), [27, 4, 3], { requiresGrad: true });
      const b = tensor(ctx, new Float32Array(3).fill(1), [3], { requiresGrad: true });
      const y = submanifoldConv(x, w, { bias: b });
      expect(y.feats.shape).toEqual([0, 3]);
      const down = sparseConv(x, tensor(ctx, new Float32Array(8 * 4 * 3), [8, 4, 3]), { stride: 2 });
      expect(down.n).toBe(0);
      backward(y.feats, tensor(ctx, new Float32Array(0), [0, 3]));
      expect(Array.from(await w.grad!.read()).every((v) => v === 0)).toBe(true);
      expect(Array.from(await b.grad!.read())).toEqual([0, 0, 0]);
      x.coords.dispose();
    });
  });

  it('frees everything: liveBytes returns to baseline after disposing', async () => {
    const ctx = await testGpu();
    await ctx.sync();
    const base = ctx.stats().liveBytes;
    await ctx.scope(async () => {
      const x = sparseTensor(ctx, convEvents(13, 3, 64, 1000), new Float32Array(0), { channels: 0 }).coords;
      const feats = tensor(ctx, new Float32Array(x.n * 8).fill(0.5), [x.n, 8], { requiresGrad: true });
      const st = new SparseTensor(x, feats);
      const w = tensor(ctx, new Float32Array(27 * 8 * 8).fill(0.1), [27, 8, 8], { requiresGrad: true });
      const w2 = tensor(ctx, new Float32Array(8 * 8 * 8).fill(0.1), [8, 8, 8], { requiresGrad: true });
      const y = submanifoldConv(st, w);
      const d = sparseConv(y, w2, { stride: 2 });
      const u = sparseConvTranspose(d, w2, { stride: 2, outCoords: x });
      backward(u.feats, tensor(ctx, new Float32Array(x.n * 8).fill(1), [x.n, 8]));
      await w.grad!.read();
      x.dispose();
    });
    await ctx.sync();
    expect(ctx.stats().liveBytes).toBe(base);
  });
});

/** Asserts both the error class and a message fragment. */
function expectError(fn: () => unknown, cls: new (...args: never[]) => Error, message: RegExp): void {
  let caught: unknown = null;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(cls);
  expect((caught as Error).message).toMatch(message);
}

describe('bad input', () => {
  it('rejects duplicate, negative and out-of-range coordinates naming the row, and non-Int32 coords', async () => {
    const ctx = await testGpu();
    const feats = new Float32Array(3 * 2);
    const dup = Int32Array.from([0, 1, 2, 3, 0, 4, 5, 6, 0, 1, 2, 3]);
    expectError(() => sparseTensor(ctx, dup, feats), InputValueError, /rows 0 and 2 are both \(0, 1, 2, 3\).*deduplicate/);
    const neg = Int32Array.from([0, 1, 2, 3, 0, 4, -5, 6, 0, 1, 2, 4]);
    expectError(() => sparseTensor(ctx, neg, feats), InputValueError, /row 1 \(0, 4, -5, 6\): y = -5 is negative/);
    const big = Int32Array.from([0, 1, 2, 3, 0, 4, 5, 6, 0, 1, 70000, 4]);
    expectError(() => sparseTensor(ctx, big, feats), InputValueError, /row 2 .*y = 70000 is out of range/);
    expectError(() => sparseTensor(ctx, Float32Array.from([0, 1, 2, 3]) as unknown as Int32Array, feats), DTypeError, /Int32Array/);
  });

  it('rejects wrong weight shapes, channel counts, dtypes, kernel sizes, strides and disposed sets', async () => {
    const ctx = await testGpu();
    await ctx.scope(async () => {
      const x = sparseTensor(ctx, Int32Array.from([0, 1, 2, 3, 0, 1, 2, 4]), new Float32Array(2 * 4));
      const wOk = tensor(ctx, new Float32Array(27 * 4 * 2), [27, 4, 2]);
      // channel count vs weight
      expectError(() => submanifoldConv(x, tensor(ctx, new Float32Array(27 * 5 * 2), [27, 5, 2])), ShapeError, /input has 4 channels but weight \[27, 5, 2\] expects Cin = 5/);
      // weight rank / volume
      expectError(() => submanifoldConv(x, tensor(ctx, new Float32Array(27 * 8), [27, 8])), ShapeError, /cannot infer a cubic kernel size/);
      expectError(() => submanifoldConv(x, tensor(ctx, new Float32Array(27 * 8), [27, 8]), { kernelSize: 3 }), ShapeError, /\[kernelVolume, Cin, Cout\]/);
      expectError(() => submanifoldConv(x, wOk, { kernelSize: 5 }), ShapeError, /kernel 5×5×5 has 125 offsets/);
      // dtype
      expectError(() => submanifoldConv(x, tensor(ctx, new Int32Array(27 * 4 * 2), [27, 4, 2], { dtype: 'i32' })), DTypeError, /weight has dtype i32, expected f32/);
      expectError(() => submanifoldConv(x, wOk, { bias: tensor(ctx, new Int32Array(2), [2], { dtype: 'i32' }) }), DTypeError, /bias has dtype i32/);
      // bias shape
      expectError(() => submanifoldConv(x, wOk, { bias: tensor(ctx, new Float32Array(3), [3]) }), ShapeError, /bias has shape \[3\]; it must be \[Cout\] = \[2\]/);
      // kernel size, dilation, stride, dimension
      expectError(() => submanifoldConv(x, tensor(ctx, new Float32Array(8 * 4 * 2), [8, 4, 2])), InputValueError, /kernelSize\[0\] = 2 is even/);
      expectError(() => submanifoldConv(x, wOk, { dilation: 0 }), InputValueError, /dilation\[0\] = 0 must be an integer ≥ 1/);
      expectError(() => sparseConv(x, wOk, { stride: 0 }), InputValueError, /stride\[0\] = 0 must be an integer ≥ 1/);
      expectError(() => submanifoldConv2d(x, wOk), InputValueError, /x is a 3D sparse tensor/);
      expectError(() => sparseConvTranspose(x, wOk, { stride: 2 } as never), InputValueError, /outCoords must be the fine CoordinateSet/);
      // disposed coordinate set
      x.coords.dispose();
      expectError(() => submanifoldConv(x, wOk), DisposedError, /used after dispose/);
    });
  });
});
