// The 'pairs' sparse-conv algorithm (per-offset gather–GEMM–scatter,
// conv-pairs.wgsl) vs the float64 reference: submanifold, strided and
// transposed convs, forward, dX, dW, db; adversarial maps; bitwise
// determinism; agreement with 'output-tile'; pair-list caching and leaks.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backward } from '../../src/autodiff/tape.js';
import { InputValueError } from '../../src/errors.js';
import { sizeClass } from '../../src/runtime/pool.js';
import { tensor, type Tensor } from '../../src/runtime/tensor.js';
import type { SpatialDim } from '../../src/kernels/sparse/coords.js';
import {
  buildStridedMap,
  buildSubmanifoldMap,
  buildTransposedMap,
  outputStationary,
  transposeKernelMap,
} from '../../src/kernels/sparse/kernel-map.reference.js';
import {
  getSparseConvAlgorithm,
  getSparseConvAlgorithmOptions,
  setSparseConvAlgorithm,
  sparseConv,
  sparseConvFeatures,
  sparseConvTranspose,
  submanifoldConv,
  type SparseConvAlgorithm,
} from '../../src/kernels/sparse/index.js';
import { stridedCoordinateSet, submanifoldMap } from '../../src/kernels/sparse/kernel-map.js';
import { CoordinateSet, SparseTensor, type GpuKernelMap } from '../../src/kernels/sparse/sparse-tensor.js';
import { testGpu } from '../helpers/gpu.js';
import { adversarialCoords, checkAgainstReference, checkEmptyConv, randomCase, randomMap, runConv } from './conv-cases.js';
import { convEvents, relToMax, rng } from './sparse-data.js';

beforeEach(() => setSparseConvAlgorithm('pairs'));
afterEach(() => setSparseConvAlgorithm('pairs'));


/** Runs `fn` under an algorithm, restoring 'pairs' afterwards. */
async function under<T>(a: SparseConvAlgorithm, fn: () => Promise<T>): Promise<T> {
  setSparseConvAlgorithm(a);
  try {
    return await fn();
  } finally {
    setSparseConvAlgorithm('pairs');
  }
}

describe("algorithm selection", () => {
  it("switches between 'pairs' and 'output-tile' and rejects unknown names", () => {
    expect(getSparseConvAlgorithm()).toBe('pairs');
    setSparseConvAlgorithm('output-tile');
    expect(getSparseConvAlgorithm()).toBe('output-tile');
    setSparseConvAlgorithm('pairs');
    expect(getSparseConvAlgorithm()).toBe('pairs');
    expect(() => setSparseConvAlgorithm('scatter' as SparseConvAlgorithm)).toThrow(InputValueError);
    setSparseConvAlgorithm('output-tile', { pairStagingBytes: 0 });
    for (const bad of [-1, 1.5, NaN, Infinity]) {
      expect(() => setSparseConvAlgorithm('pairs', { pairStagingBytes: bad })).toThrow(/options.pairStagingBytes = .*whole number of bytes ≥ 0/);
    }
    // A refused call changes nothing; a call without options restores the defaults.
    expect([getSparseConvAlgorithm(), getSparseConvAlgorithmOptions()]).toEqual(['output-tile', { pairStagingBytes: 0, tiles: {} }]);
    setSparseConvAlgorithm('pairs');
    expect([getSparseConvAlgorithm(), getSparseConvAlgorithmOptions()]).toEqual(['pairs', { pairStagingBytes: 64 * 1024 * 1024, tiles: {} }]);
  });
});

describe("'pairs' submanifold conv vs float64 reference", () => {
  it.each([
    { dim: 3 as SpatialDim, K: 3, cin: 16, cout: 16, size: 3000 },
    { dim: 3 as SpatialDim, K: 3, cin: 1, cout: 1, size: 1500 },
    { dim: 3 as SpatialDim, K: 3, cin: 3, cout: 5, size: 1500 },
    { dim: 3 as SpatialDim, K: 3, cin: 5, cout: 33, size: 1000 },
    { dim: 3 as SpatialDim, K: 3, cin: 33, cout: 3, size: 1000 },
    { dim: 3 as SpatialDim, K: 5, cin: 7, cout: 65, size: 500 },
    { dim: 2 as SpatialDim, K: 3, cin: 4, cout: 9, size: 1500 },
  ])('dim $dim K $K Cin $cin Cout $cout: forward, dX, dW, db', async ({ dim, K, cin, cout, size }) => {
    const ctx = await testGpu();
    const coords = convEvents(300 + K + cin + cout, dim, dim === 3 ? 64 : 256, size);
    const refMap = buildSubmanifoldMap(coords, dim, K);
    const c = randomCase(17 + cin, refMap.numIn, refMap.numIn, refMap.kernelVolume, cin, cout);
    const set = new CoordinateSet(ctx, dim, coords);
    await checkAgainstReference(refMap, c, cin, cout, (x, w, b) => submanifoldConv(new SparseTensor(set, x), w, { bias: b }).feats);
    set.dispose();
  });

  it('adversarial sites: dense 3³/4³/5³ blocks, isolated voxels, a track (Cin 3, Cout 5)', async () => {
    const ctx = await testGpu();
    const coords = adversarialCoords(5);
    const refMap = buildSubmanifoldMap(coords, 3, 3);
    const c = randomCase(23, refMap.numIn, refMap.numIn, 27, 3, 5);
    const set = new CoordinateSet(ctx, 3, coords);
    await checkAgainstReference(refMap, c, 3, 5, (x, w, b) => submanifoldConv(new SparseTensor(set, x), w, { bias: b }).feats);
    set.dispose();
  });
});

describe("'pairs' strided and transposed conv vs float64 reference", () => {
  it.each([
    { dim: 3 as SpatialDim, K: 2, s: 2, cin: 8, cout: 16, seed: 1 },
    { dim: 3 as SpatialDim, K: 3, s: 2, cin: 5, cout: 3, seed: 2 },
    { dim: 3 as SpatialDim, K: 2, s: 2, cin: 1, cout: 33, seed: 3 },
    { dim: 2 as SpatialDim, K: 2, s: 2, cin: 4, cout: 40, seed: 4 },
  ])('dim $dim K $K stride $s Cin $cin Cout $cout: sparseConv and sparseConvTranspose', async ({ dim, K, s, cin, cout, seed }) => {
    const ctx = await testGpu();
    const fine = seed === 2 ? adversarialCoords(9) : convEvents(60 + seed, dim, dim === 3 ? 128 : 256, 2000);
    const fineSet = new CoordinateSet(ctx, dim, fine);
    const { map, outCoords } = buildStridedMap(fine, dim, K, s);
    const v = K ** dim;
    const c = randomCase(70 + seed, map.numIn, map.numOut, v, cin, cout);
    await checkAgainstReference(map, c, cin, cout, (x, w, b) => sparseConv(new SparseTensor(fineSet, x), w, { stride: s, bias: b }).feats);
    const coarseSet = stridedCoordinateSet(fineSet, s);
    const tmap = buildTransposedMap(outCoords, fine, dim, K, s);
    const ct = randomCase(80 + seed, tmap.numIn, tmap.numOut, v, cout, cin);
    await checkAgainstReference(tmap, ct, cout, cin, (x, w, b) =>
      sparseConvTranspose(new SparseTensor(coarseSet, x), w, { stride: s, bias: b, outCoords: fineSet }).feats,
    );
    fineSet.dispose();
  });
});

describe("'pairs' on a host-built GpuKernelMap (pair lists built per call, not cached)", () => {
  it.each([
    { numIn: 700, numOut: 1300, v: 27, density: 0.1, cin: 5, cout: 7 },
    { numIn: 2100, numOut: 90, v: 8, density: 0.6, cin: 33, cout: 1 },
    { numIn: 50, numOut: 3000, v: 5, density: 0.01, cin: 3, cout: 12 },
  ])('rows without neighbours, $numIn → $numOut, V $v, Cin $cin, Cout $cout', async ({ numIn, numOut, v, density, cin, cout }) => {
    const ctx = await testGpu();
    const r = rng(numIn + numOut);
    const refMap = randomMap(r, numIn, numOut, v, density);
    const os = tensor(ctx, outputStationary(refMap), [numOut, v], { dtype: 'i32' });
    const is = tensor(ctx, outputStationary(transposeKernelMap(refMap)), [numIn, v], { dtype: 'i32' });
    const gpu: GpuKernelMap = {
      kernelVolume: v,
      numIn,
      numOut,
      outputStationary: os,
      inputStationary: is,
      countPairs: async () => refMap.inRow.length,
    };
    await ctx.sync();
    const base = ctx.stats().liveBytes;
    const c = randomCase(31 + v, numIn, numOut, v, cin, cout);
    await checkAgainstReference(refMap, c, cin, cout, (x, w, b) => sparseConvFeatures(x, w, b, gpu));
    await ctx.sync();
    expect(ctx.stats().liveBytes).toBe(base);
    os.dispose();
    is.dispose();
  });
});

describe("'pairs' determinism, agreement with 'output-tile', caching, leaks", () => {
  it("is bitwise reproducible and agrees with 'output-tile' to float32 rounding", async () => {
    const ctx = await testGpu();
    const coords = convEvents(11, 3, 64, 3000);
    const set = new CoordinateSet(ctx, 3, coords);
    const c = randomCase(12, set.n, set.n, 27, 16, 24);
    const run = (x: Tensor, w: Tensor, b: Tensor): Tensor => submanifoldConv(new SparseTensor(set, x), w, { bias: b }).feats;
    const a = await runConv(set.n, set.n, 27, 16, 24, c, run);
    const b = await runConv(set.n, set.n, 27, 16, 24, c, run);
    a.bits.forEach((t, i) => expect(t).toEqual(b.bits[i]));
    const tile = await under('output-tile', () => runConv(set.n, set.n, 27, 16, 24, c, run));
    // Same terms, other order: L = 27·16 terms of unit size.
    expect(relToMax(a.out, tile.out)).toBeLessThan(1e-5);
    expect(relToMax(a.dX, tile.dX)).toBeLessThan(1e-5);
    // dW: the same per-offset sums over ≤ 3000 pairs, cut into other chunks
    // (pair index instead of row index): rounding of sums of that length,
    // a few ulps times √L for random signs.
    expect(relToMax(a.dW, tile.dW)).toBeLessThan(2e-5);
    // The bias gradient does not depend on the algorithm.
    expect(a.bits[3]).toEqual(tile.bits[3]);
    set.dispose();
  });

  it('staged offset groups and the per-offset read-add-write give identical bits', async () => {
    const ctx = await testGpu();
    const coords = convEvents(17, 3, 64, 2500);
    const set = new CoordinateSet(ctx, 3, coords);
    const [cin, cout] = [12, 20];
    const c = randomCase(18, set.n, set.n, 27, cin, cout);
    const run = (x: Tensor, w: Tensor, b: Tensor): Tensor => submanifoldConv(new SparseTensor(set, x), w, { bias: b }).feats;
    const staged = await runConv(set.n, set.n, 27, cin, cout, c, run);
    try {
      // 0: one dispatch per offset; 5 slices of the wider side: groups of 5 and 8
      // offsets (27 = 5·5 + 2 and 3·8 + 3), so uneven last groups are covered.
      for (const budget of [0, 5 * 4 * set.n * cout]) {
        setSparseConvAlgorithm('pairs', { pairStagingBytes: budget });
        expect(getSparseConvAlgorithmOptions()).toEqual({ pairStagingBytes: budget, tiles: {} });
        const other = await runConv(set.n, set.n, 27, cin, cout, c, run);
        other.bits.forEach((t, i) => expect(t, `budget ${budget}, output ${i}`).toEqual(staged.bits[i]));
      }
    } finally {
      setSparseConvAlgorithm('pairs');
      set.dispose();
    }
  });

  it('caches pair lists on the map (shared with transposed views) and frees them with it', async () => {
    const ctx = await testGpu();
    await ctx.sync();
    const base = ctx.stats().liveBytes;
    const x = new CoordinateSet(ctx, 3, convEvents(13, 3, 64, 1000));
    const pass = async (): Promise<number> => {
      await ctx.scope(async () => {
        const feats = tensor(ctx, new Float32Array(x.n * 8).fill(0.5), [x.n, 8], { requiresGrad: true });
        const st = new SparseTensor(x, feats);
        const w = tensor(ctx, new Float32Array(27 * 8 * 8).fill(0.1), [27, 8, 8], { requiresGrad: true });
        const w2 = tensor(ctx, new Float32Array(8 * 8 * 8).fill(0.1), [8, 8, 8], { requiresGrad: true });
        const y = submanifoldConv(st, w);
        const d = sparseConv(y, w2, { stride: 2 });
        const u = sparseConvTranspose(d, w2, { stride: 2, outCoords: x });
        backward(u.feats, tensor(ctx, new Float32Array(x.n * 8).fill(1), [x.n, 8]));
        await w.grad!.read();
      });
      await ctx.sync();
      return ctx.stats().liveBytes;
    };
    // 'output-tile' first: maps, hash tables and the coarse set are built and
    // stay cached; 'pairs' then adds only the pair lists.
    const tile = await under('output-tile', pass);
    const first = await pass();
    const n = x.n;
    const m = stridedCoordinateSet(x, 2).n;
    // Two i32 [V, rows] lists and a u32 [V] count per table, in pool size classes.
    const lists = (rows: number, v: number): number => 2 * sizeClass(v * rows * 4) + sizeClass(v * 4);
    // Submanifold map: both tables; strided map: both tables, each shared by
    // the transposed view (its forward uses the strided dX table and back).
    const expected = 2 * lists(n, 27) + lists(m, 8) + lists(n, 8);
    expect(first - tile).toBe(expected);
    expect(submanifoldMap(x, 3).numIn).toBe(n);
    const second = await pass();
    expect(second).toBe(first);
    x.dispose();
    await ctx.sync();
    expect(ctx.stats().liveBytes).toBe(base);
  });

  it('empty tensors: N = 0 gives [0, Cout] and zero weight gradients', () => checkEmptyConv());
});
