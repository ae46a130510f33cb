// The 'implicit-gemm' sparse-conv algorithm (conv-igemm.wgsl over the mask
// row order of row-order.wgsl): the row order against a host sort, bitwise
// agreement with 'pairs' for every tile configuration (forward, dX, dW, db;
// submanifold, strided, transposed, 2D, 5³ kernels, odd channel counts), the
// float64 reference, determinism, caching with the map, leaks, host counts
// and option checks.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backward } from '../../src/autodiff/tape.js';
import { InputValueError } from '../../src/errors.js';
import { sizeClass } from '../../src/runtime/pool.js';
import { tensor, type Tensor } from '../../src/runtime/tensor.js';
import type { SpatialDim } from '../../src/kernels/sparse/coords.js';
import { buildRowOrder, type IgemmTiles } from '../../src/kernels/sparse/igemm.js';
import { buildSubmanifoldMap, outputStationary, transposeKernelMap } from '../../src/kernels/sparse/kernel-map.reference.js';
import {
  getSparseConvAlgorithm,
  getSparseConvAlgorithmOptions,
  setSparseConvAlgorithm,
  sparseConv,
  sparseConvFeatures,
  sparseConvTranspose,
  submanifoldConv,
  setSparseConvTuning,
  sparseConvTuning,
  tuneSparseConv,
} from '../../src/kernels/sparse/index.js';
import { stridedCoordinateSet, stridedMap, submanifoldMap } from '../../src/kernels/sparse/kernel-map.js';
import { CoordinateSet, SparseTensor, type GpuKernelMap } from '../../src/kernels/sparse/sparse-tensor.js';
import { testGpu } from '../helpers/gpu.js';
import { adversarialCoords, checkAgainstReference, checkEmptyConv, randomCase, randomMap, runConv, type Results } from './conv-cases.js';
import { convEvents, rng } from './sparse-data.js';

beforeEach(() => setSparseConvAlgorithm('implicit-gemm'));
afterEach(() => setSparseConvAlgorithm('implicit-gemm'));

/** Tile configurations that cover each field's extremes (all must give the same bits). */
const TILES: Partial<IgemmTiles>[] = [
  { wg: 16, rows: 1, nb4: 1, laneOffsets: false, dwWg: 16, dwRows: 1, dwNb4: 1 },
  { wg: 64, rows: 4, nb4: 4, laneOffsets: true, dwWg: 64, dwRows: 8, dwNb4: 4 },
  { wg: 128, rows: 8, nb4: 2, laneOffsets: false, dwWg: 32, dwRows: 3, dwNb4: 2 },
  { wg: 256, rows: 3, nb4: 3, laneOffsets: true, dwWg: 256, dwRows: 2, dwNb4: 3 },
];

/** Runs `fn` under an algorithm (and tiles), restoring the default afterwards. */
async function under<T>(algorithm: 'pairs' | 'implicit-gemm', tiles: Partial<IgemmTiles> | undefined, fn: () => Promise<T>): Promise<T> {
  setSparseConvAlgorithm(algorithm, tiles ? { tiles } : {});
  try {
    return await fn();
  } finally {
    setSparseConvAlgorithm('implicit-gemm');
  }
}

function expectSameBits(a: Results, b: Results, what: string): void {
  const names = ['forward', 'dX', 'dW', 'db'];
  a.bits.forEach((t, i) => expect(t, `${what}: ${names[i]}`).toEqual(b.bits[i]));
}

/** Host stable sort of a table's rows by the key row-order.wgsl uses. */
function hostOrder(table: Int32Array, rows: number, v: number): { perm: number[]; masks: number[][] } {
  const words = Math.ceil(v / 32);
  const key = (r: number): number => {
    let k = 0;
    for (let o = 0; o < v; o++) if (table[r * v + o]! >= 0) k |= 1 << (v > 32 ? Math.floor((32 * o) / v) : o);
    return k >>> 0;
  };
  const perm = Array.from({ length: rows }, (_, r) => r).sort((a, b) => key(a) - key(b) || a - b);
  const mask = (r: number, mirror: boolean): number[] =>
    Array.from({ length: words }, (_, w) => {
      let bits = 0;
      for (let b = 0; b < 32 && 32 * w + b < v; b++) {
        const o = 32 * w + b;
        if (table[r * v + (mirror ? v - 1 - o : o)]! >= 0) bits |= 1 << b;
      }
      return bits >>> 0;
    });
  return { perm, masks: perm.map((r) => [...mask(r, false), ...mask(r, true)]) };
}

describe('mask row order (row-order.wgsl)', () => {
  it.each([
    { name: 'submanifold 3³, several blocks', dim: 3 as SpatialDim, K: 3, size: 5000 },
    { name: 'submanifold 5³ (V = 125: folded key, 4 mask words)', dim: 3 as SpatialDim, K: 5, size: 1200 },
    { name: 'submanifold 3² (2D)', dim: 2 as SpatialDim, K: 3, size: 3000 },
    { name: 'adversarial sites', dim: 3 as SpatialDim, K: 3, size: 0 },
  ])('$name: a stable sort by (key, row), mask words and mirrored masks in that order', async ({ dim, K, size }) => {
    const ctx = await testGpu();
    const coords = size === 0 ? adversarialCoords(3) : convEvents(40 + K, dim, dim === 3 ? 64 : 256, size);
    const set = new CoordinateSet(ctx, dim, coords);
    const map = submanifoldMap(set, K);
    const v = map.kernelVolume;
    const table = (await map.outputStationary.read()) as Int32Array;
    const order = buildRowOrder(map.outputStationary, set.n, v, true);
    const [perm, mask, mirror] = await Promise.all([order.perm.read(), order.rowMask.read(), order.mirror!.rowMask.read()]);
    const want = hostOrder(table, set.n, v);
    expect(Array.from(perm)).toEqual(want.perm);
    const words = order.words;
    const got = want.perm.map((_, s) => [...Array.from(mask.slice(s * words, (s + 1) * words)), ...Array.from(mirror.slice(s * words, (s + 1) * words))]);
    expect(got).toEqual(want.masks);
    order.dispose();
    set.dispose();
  });

  it('rows without any neighbour and a table of one offset', async () => {
    const ctx = await testGpu();
    const r = rng(8);
    for (const [rows, v, density] of [[4100, 8, 0.3], [2049, 1, 0.5], [1, 27, 0.5], [3000, 64, 0.02]] as const) {
      const m = randomMap(r, Math.max(rows, 1), rows, v, density);
      const host = outputStationary(m);
      const table = tensor(ctx, host, [rows, v], { dtype: 'i32' });
      const order = buildRowOrder(table, rows, v);
      expect(Array.from(await order.perm.read()), `rows ${rows}, V ${v}`).toEqual(hostOrder(host, rows, v).perm);
      order.dispose();
      table.dispose();
    }
  });
});

describe("'implicit-gemm' is bitwise 'pairs' for every tile configuration", () => {
  it.each([
    { dim: 3 as SpatialDim, K: 3, cin: 16, cout: 24, size: 3000 },
    { dim: 3 as SpatialDim, K: 3, cin: 3, cout: 5, size: 1500 },
    { dim: 3 as SpatialDim, K: 3, cin: 5, cout: 33, size: 1000 },
    { dim: 3 as SpatialDim, K: 3, cin: 36, cout: 4, size: 1000 },
    { dim: 3 as SpatialDim, K: 5, cin: 7, cout: 12, size: 500 },
    { dim: 2 as SpatialDim, K: 3, cin: 4, cout: 9, size: 1500 },
  ])('submanifold dim $dim K $K Cin $cin Cout $cout', async ({ dim, K, cin, cout, size }) => {
    const ctx = await testGpu();
    const coords = convEvents(500 + K + cin, dim, dim === 3 ? 64 : 256, size);
    const set = new CoordinateSet(ctx, dim, coords);
    const v = K ** dim;
    const c = randomCase(60 + cout, set.n, set.n, v, cin, cout);
    const run = (x: Tensor, w: Tensor, b: Tensor): Tensor => submanifoldConv(new SparseTensor(set, x), w, { bias: b }).feats;
    const pairs = await under('pairs', undefined, () => runConv(set.n, set.n, v, cin, cout, c, run));
    for (const tiles of TILES) {
      const got = await under('implicit-gemm', tiles, () => runConv(set.n, set.n, v, cin, cout, c, run));
      expectSameBits(got, pairs, JSON.stringify(tiles));
    }
    set.dispose();
  });

  it.each([
    { dim: 3 as SpatialDim, K: 2, s: 2, cin: 8, cout: 16 },
    { dim: 3 as SpatialDim, K: 3, s: 2, cin: 5, cout: 3 },
    { dim: 2 as SpatialDim, K: 2, s: 2, cin: 4, cout: 20 },
  ])('strided and transposed dim $dim K $K stride $s Cin $cin Cout $cout', async ({ dim, K, s, cin, cout }) => {
    const ctx = await testGpu();
    const fine = new CoordinateSet(ctx, dim, convEvents(90 + K, dim, dim === 3 ? 128 : 256, 2000));
    const coarse = stridedCoordinateSet(fine, s);
    const v = K ** dim;
    const down = randomCase(91, fine.n, coarse.n, v, cin, cout);
    const up = randomCase(92, coarse.n, fine.n, v, cout, cin);
    const runDown = (x: Tensor, w: Tensor, b: Tensor): Tensor => sparseConv(new SparseTensor(fine, x), w, { stride: s, bias: b }).feats;
    const runUp = (x: Tensor, w: Tensor, b: Tensor): Tensor =>
      sparseConvTranspose(new SparseTensor(coarse, x), w, { stride: s, bias: b, outCoords: fine }).feats;
    const pd = await under('pairs', undefined, () => runConv(fine.n, coarse.n, v, cin, cout, down, runDown));
    const pu = await under('pairs', undefined, () => runConv(coarse.n, fine.n, v, cout, cin, up, runUp));
    for (const tiles of [TILES[0]!, TILES[2]!]) {
      expectSameBits(await under('implicit-gemm', tiles, () => runConv(fine.n, coarse.n, v, cin, cout, down, runDown)), pd, 'strided');
      expectSameBits(await under('implicit-gemm', tiles, () => runConv(coarse.n, fine.n, v, cout, cin, up, runUp)), pu, 'transposed');
    }
    fine.dispose();
  });
});

describe("'implicit-gemm' vs float64 reference, determinism, caching, leaks", () => {
  it('adversarial sites and an uneven tile configuration match the float64 reference', async () => {
    const ctx = await testGpu();
    const coords = adversarialCoords(5);
    const refMap = buildSubmanifoldMap(coords, 3, 3);
    const c = randomCase(23, refMap.numIn, refMap.numIn, 27, 6, 10);
    const set = new CoordinateSet(ctx, 3, coords);
    await under('implicit-gemm', TILES[3], () =>
      checkAgainstReference(refMap, c, 6, 10, (x, w, b) => submanifoldConv(new SparseTensor(set, x), w, { bias: b }).feats),
    );
    set.dispose();
  });

  it.each([
    { numIn: 700, numOut: 1300, v: 27, density: 0.1, cin: 5, cout: 7 },
    { numIn: 2100, numOut: 90, v: 8, density: 0.6, cin: 33, cout: 1 },
    { numIn: 50, numOut: 3000, v: 5, density: 0.01, cin: 3, cout: 12 },
  ])('host-built GpuKernelMap (orders built per call, freed): $numIn → $numOut, V $v', async ({ numIn, numOut, v, density, cin, cout }) => {
    const ctx = await testGpu();
    const refMap = randomMap(rng(numIn + v), numIn, numOut, v, density);
    const os = tensor(ctx, outputStationary(refMap), [numOut, v], { dtype: 'i32' });
    const is = tensor(ctx, outputStationary(transposeKernelMap(refMap)), [numIn, v], { dtype: 'i32' });
    const gpu: GpuKernelMap = { kernelVolume: v, numIn, numOut, outputStationary: os, inputStationary: is, countPairs: async () => refMap.inRow.length };
    await ctx.sync();
    const base = ctx.stats().liveBytes;
    await checkAgainstReference(refMap, randomCase(31 + v, numIn, numOut, v, cin, cout), cin, cout, (x, w, b) => sparseConvFeatures(x, w, b, gpu));
    await ctx.sync();
    expect(ctx.stats().liveBytes).toBe(base);
    os.dispose();
    is.dispose();
  });

  it('is bitwise reproducible run to run', async () => {
    const ctx = await testGpu();
    const set = new CoordinateSet(ctx, 3, convEvents(11, 3, 64, 3000));
    const c = randomCase(12, set.n, set.n, 27, 16, 16);
    const run = (x: Tensor, w: Tensor, b: Tensor): Tensor => submanifoldConv(new SparseTensor(set, x), w, { bias: b }).feats;
    expectSameBits(await runConv(set.n, set.n, 27, 16, 16, c, run), await runConv(set.n, set.n, 27, 16, 16, c, run), 'rerun');
    set.dispose();
  });

  it('caches one row order per map (both submanifold tables share it), frees it with the map; one dispatch per forward', async () => {
    const ctx = await testGpu();
    await ctx.sync();
    const base = ctx.stats().liveBytes;
    const x = new CoordinateSet(ctx, 3, convEvents(13, 3, 64, 1000));
    const pass = async (): Promise<void> => {
      await ctx.scope(async () => {
        const feats = tensor(ctx, new Float32Array(x.n * 8).fill(0.5), [x.n, 8], { requiresGrad: true });
        const w = tensor(ctx, new Float32Array(27 * 8 * 8).fill(0.1), [27, 8, 8], { requiresGrad: true });
        const w2 = tensor(ctx, new Float32Array(8 * 8 * 8).fill(0.1), [8, 8, 8], { requiresGrad: true });
        const y = submanifoldConv(new SparseTensor(x, feats), w);
        const d = sparseConv(y, w2, { stride: 2 });
        const u = sparseConvTranspose(d, w2, { stride: 2, outCoords: x });
        backward(u.feats, tensor(ctx, new Float32Array(x.n * 8).fill(1), [x.n, 8]));
        await w.grad!.read();
      });
      await ctx.sync();
    };
    await under('pairs', undefined, pass);
    const pairsBytes = ctx.stats().liveBytes;
    await pass();
    const first = ctx.stats().liveBytes;
    const n = x.n;
    const m = stridedCoordinateSet(x, 2).n;
    // Per order: i32 perm [rows] and u32 masks [rows] (one word for V ≤ 32);
    // the submanifold map's order also holds the mirrored masks. Strided map:
    // one order per table, shared with its transposed view.
    const order = (rows: number, masks: number): number => sizeClass(4 * rows) * (1 + masks);
    expect(first - pairsBytes).toBe(order(n, 2) + order(m, 1) + order(n, 1));
    await pass();
    expect(ctx.stats().liveBytes).toBe(first);
    // Forward only, map and order cached: one dispatch, nothing created.
    await ctx.scope(async () => {
      const feats = tensor(ctx, new Float32Array(x.n * 8).fill(0.5), [x.n, 8]);
      const w = tensor(ctx, new Float32Array(27 * 8 * 8).fill(0.1), [27, 8, 8]);
      await ctx.sync();
      const before = ctx.stats();
      const y = submanifoldConv(new SparseTensor(x, feats), w);
      const after = ctx.stats();
      expect(after.dispatches - before.dispatches).toBe(1);
      expect(after.buffersCreated - before.buffersCreated).toBe(0);
      await y.feats.read();
    });
    expect(stridedMap(x, 2, 2).kernelVolume).toBe(8);
    x.dispose();
    await ctx.sync();
    expect(ctx.stats().liveBytes).toBe(base);
  });

  it('empty tensors: N = 0 gives [0, Cout] and zero weight gradients', () => checkEmptyConv());
});

describe('algorithm selection and tile options', () => {
  it("defaults to 'implicit-gemm'; tiles are validated, unknown options refused, a refused call changes nothing", () => {
    setSparseConvAlgorithm('implicit-gemm');
    expect(getSparseConvAlgorithm()).toBe('implicit-gemm');
    setSparseConvAlgorithm('implicit-gemm', { tiles: { rows: 2 } });
    expect(getSparseConvAlgorithmOptions().tiles).toEqual({ rows: 2 });
    const bad: [unknown, RegExp][] = [
      [{ rows: 0 }, /tiles.rows = 0; pass a whole number in \[1, 8\]/],
      [{ rows: 9 }, /tiles.rows = 9/],
      [{ nb4: 1.5 }, /tiles.nb4 = 1.5/],
      [{ wg: 8 }, /tiles.wg = 8/],
      [{ dwRows: -1 }, /tiles.dwRows = -1/],
      [{ laneOffsets: 1 }, /tiles.laneOffsets = 1; pass true or false/],
      [{ colums: 4 }, /unknown tile field "colums"/],
      [5, /tiles = 5; pass an object/],
    ];
    for (const [tiles, message] of bad) {
      expect(() => setSparseConvAlgorithm('implicit-gemm', { tiles: tiles as Partial<IgemmTiles> })).toThrow(message);
    }
    expect(() => setSparseConvAlgorithm('implicit-gemm', { tile: {} } as never)).toThrow(/unknown option "tile"/);
    expect(() => setSparseConvAlgorithm('implicit-gemm', { tiles: { wg: 1 << 20 } })).not.toThrow();
    expect(getSparseConvAlgorithmOptions().tiles).toEqual({ wg: 1 << 20 });
    setSparseConvAlgorithm('implicit-gemm', { tiles: { rows: 2 } });
    expect(() => setSparseConvAlgorithm('implicit-gemm', { tiles: { rows: 0 } })).toThrow(InputValueError);
    expect(getSparseConvAlgorithmOptions().tiles).toEqual({ rows: 2 });
    setSparseConvAlgorithm('implicit-gemm');
    expect(getSparseConvAlgorithmOptions()).toEqual({ pairStagingBytes: 64 * 1024 * 1024, tiles: {} });
  });

  it('a workgroup beyond the adapter limit is refused at the call that would use it', async () => {
    const ctx = await testGpu();
    const set = new CoordinateSet(ctx, 3, convEvents(3, 3, 32, 200));
    setSparseConvAlgorithm('implicit-gemm', { tiles: { wg: ctx.limits.maxComputeInvocationsPerWorkgroup * 2 } });
    const w = tensor(ctx, new Float32Array(27 * 4 * 4).fill(0.1), [27, 4, 4]);
    const f = tensor(ctx, new Float32Array(set.n * 4).fill(1), [set.n, 4]);
    submanifoldMap(set, 3); // built first, so that only the refused conv is measured
    await ctx.sync();
    const live = ctx.stats().liveBytes;
    expect(() => submanifoldConv(new SparseTensor(set, f), w)).toThrow(/tiles.wg = \d+; pass a whole number in \[16, \d+\]/);
    await ctx.sync();
    expect(ctx.stats().liveBytes).toBe(live); // the output it had allocated is freed
    setSparseConvAlgorithm('implicit-gemm');
    w.dispose();
    f.dispose();
    set.dispose();
  });
});

describe('tuneSparseConv', () => {
  it('records each shape class of a workload, keeps the fastest tiles, and results stay bitwise the same', async () => {
    const ctx = await testGpu();
    setSparseConvTuning(ctx, null);
    const set = new CoordinateSet(ctx, 3, convEvents(21, 3, 64, 1500));
    const c = randomCase(22, set.n, set.n, 27, 8, 12);
    const run = (x: Tensor, w: Tensor, b: Tensor): Tensor => submanifoldConv(new SparseTensor(set, x), w, { bias: b }).feats;
    const before = await runConv(set.n, set.n, 27, 8, 12, c, run);
    await ctx.sync();
    const live = ctx.stats().liveBytes;
    const entries = await tuneSparseConv(ctx, () => runConv(set.n, set.n, 27, 8, 12, c, run), { minMs: 0, maxReps: 1 });
    await ctx.sync();
    expect(ctx.stats().liveBytes).toBe(live); // the input copies are freed
    const rows = Math.ceil(Math.log2(set.n));
    expect(entries.map((e) => e.key).sort()).toEqual(
      [`forward:V27:rows${rows}:8->12`, `inputGrad:V27:rows${rows}:12->8`, `weightGrad:V27:rows${rows}:8->12`].sort(),
    );
    for (const e of entries) {
      expect(e.candidates).toBeGreaterThan(1);
      expect(e.ms).toBeLessThanOrEqual(e.defaultMs);
    }
    expect(sparseConvTuning(ctx).map((e) => e.key).sort()).toEqual(entries.map((e) => e.key).sort());
    // Tuned or not, the same bits.
    expectSameBits(await runConv(set.n, set.n, 27, 8, 12, c, run), before, 'tuned');
    // Any table (here: every class on the smallest tiles) gives them too.
    const smallest = { wg: 16, rows: 1, nb4: 1, laneOffsets: false, dwWg: 16, dwRows: 1, dwNb4: 1 };
    setSparseConvTuning(ctx, entries.map((e) => ({ key: e.key, tiles: smallest })));
    expect(sparseConvTuning(ctx).every((e) => JSON.stringify(e.tiles) === JSON.stringify(smallest))).toBe(true);
    expectSameBits(await runConv(set.n, set.n, 27, 8, 12, c, run), before, 'restored table');
    setSparseConvTuning(ctx, null);
    expect(sparseConvTuning(ctx)).toEqual([]);
    set.dispose();
  });

  it('refuses bad tables and options without changing anything', async () => {
    const ctx = await testGpu();
    const good = { key: 'forward:V27:rows10:16->16', tiles: { wg: 64, rows: 4, nb4: 2, laneOffsets: true, dwWg: 64, dwRows: 8, dwNb4: 4 } };
    setSparseConvTuning(ctx, [good]);
    expect(() => setSparseConvTuning(ctx, [good, { key: 'fwd:27', tiles: good.tiles }])).toThrow(/entries\[1\].key = "fwd:27"/);
    expect(() => setSparseConvTuning(ctx, [{ key: good.key, tiles: { ...good.tiles, rows: 0 } }])).toThrow(/entries\[0\]: tiles.rows = 0/);
    expect(() => setSparseConvTuning(ctx, [{ key: good.key, tiles: { wg: 64 } as IgemmTiles }])).toThrow(/tiles.laneOffsets = undefined/);
    expect(() => setSparseConvTuning(ctx, {} as never)).toThrow(/pass an array/);
    expect(sparseConvTuning(ctx)).toEqual([good]);
    setSparseConvTuning(ctx, null);
    await expect(tuneSparseConv(ctx, () => {}, { reps: 3 } as never)).rejects.toThrow(/unknown option "reps"/);
    await expect(tuneSparseConv(ctx, () => {}, { maxReps: 0 })).rejects.toThrow(/options.maxReps = 0/);
    await expect(tuneSparseConv(ctx, 5 as never)).rejects.toThrow(/workload = 5/);
    // A workload that throws: the error comes through, nothing is tuned, nothing leaks.
    await ctx.sync();
    const live = ctx.stats().liveBytes;
    await expect(tuneSparseConv(ctx, () => { throw new Error('boom'); })).rejects.toThrow('boom');
    expect(sparseConvTuning(ctx)).toEqual([]);
    await ctx.sync();
    expect(ctx.stats().liveBytes).toBe(live);
  });
});
