// GPU hash table and kernel maps vs the float64/CPU reference
// (kernel-map.reference.ts). Maps are integer tables: compared exactly.
import { describe, expect, it } from 'vitest';
import { tensor } from '../../src/runtime/tensor.js';
import { type SpatialDim, hashKey, packKey } from '../../src/kernels/sparse/coords.js';
import {
  buildStridedMap,
  buildSubmanifoldMap,
  buildTransposedMap,
  outputStationary,
  stridedOutputCoords,
  transposeKernelMap,
} from '../../src/kernels/sparse/kernel-map.reference.js';
import {
  buildHashTable,
  countPairs,
  coordHashTable,
  hashKeysGpu,
  lookupSites,
  queryTable,
  stridedCoordinateSet,
  stridedMap,
  submanifoldMap,
  transposedMap,
} from '../../src/kernels/sparse/kernel-map.js';
import { CoordinateSet } from '../../src/kernels/sparse/sparse-tensor.js';
import { testGpu } from '../helpers/gpu.js';
import { batchEvents, randInt, randomWalk, rng, shuffleRows, straightTrack } from './sparse-data.js';

/** A batch of LArTPC-like events (walks and tracks) with an empty event, rows shuffled. */
function events(seed: number, dim: SpatialDim, extent: number, size: number): Int32Array {
  const r = rng(seed);
  const evs = [
    randomWalk(r, dim, extent, size),
    new Int32Array(0),
    straightTrack(r, dim, extent, size / 2),
    randomWalk(r, dim, extent, size / 2),
  ];
  return shuffleRows(r, batchEvents(evs, dim), dim + 1).coords;
}

describe('GPU coordinate hash', () => {
  it('hash_key is bit-identical to hashKey on pinned and random keys', async () => {
    const ctx = await testGpu();
    const pinned: [number, number, number, number, number][] = [
      [0, 0, 0, 0, 0x00000000],
      [0, 1, 2, 3, 0x401919e8],
      [1, 0, 0, 0, 0xfef9af8d],
      [127, 767, 767, 767, 0xa67c82f8],
      [5, 100, 200, 300, 0xd32be095],
    ];
    const r = rng(1);
    const words: number[] = [];
    const expected: number[] = [];
    for (const [b, x, y, z, h] of pinned) {
      const k = packKey(b, x, y, z);
      words.push(k.w0, k.w1);
      expected.push(h);
    }
    for (let i = 0; i < 2000; i++) {
      const w0 = Math.floor(r() * 2 ** 32) >>> 0;
      const w1 = Math.floor(r() * 2 ** 32) >>> 0;
      words.push(w0, w1);
      expected.push(hashKey(w0, w1));
    }
    const got = await hashKeysGpu(ctx, Uint32Array.from(words));
    expect(Array.from(got)).toEqual(expected);
  });

  it('finds every row, misses absent and other-batch sites', async () => {
    const ctx = await testGpu();
    const dim = 3;
    const coords = events(2, dim, 64, 3000);
    const set = new CoordinateSet(ctx, dim, coords);
    const n = set.n;
    const rows = await lookupSites(set, coords);
    expect(Array.from(rows)).toEqual(Array.from({ length: n }, (_, i) => i));
    // Shift each site by +1000 in x (never present), and move batch to 9 (absent).
    const absent = coords.slice();
    for (let i = 0; i < n; i++) {
      if (i % 2) absent[4 * i + 1] = absent[4 * i + 1]! + 1000;
      else absent[4 * i] = 9;
    }
    expect(Array.from(await lookupSites(set, absent)).every((v) => v === -1)).toBe(true);
    set.dispose();
  });

  it('concurrent inserts of the same key keep the lowest row', async () => {
    const ctx = await testGpu();
    // 4096 rows over 37 distinct sites: many threads race on each key.
    const r = rng(3);
    const sites = Array.from({ length: 37 }, (_, i) => [i % 3, randInt(r, 0, 500), randInt(r, 0, 500), i]);
    const rows = Array.from({ length: 4096 }, (_, i) => sites[(i * 7919) % 37]!);
    const first = new Map<string, number>();
    rows.forEach((s, i) => {
      if (!first.has(s.join())) first.set(s.join(), i);
    });
    const coords = tensor(ctx, Int32Array.from(rows.flat()), [4096, 4], { dtype: 'i32' });
    const h = buildHashTable(coords, 4096, 3);
    const got = await queryTable(h, 3, Int32Array.from(sites.flat()));
    expect(Array.from(got)).toEqual(sites.map((s) => first.get(s.join())));
    h.dispose();
    coords.dispose();
  });
});

async function expectMap(
  got: { read(): Promise<{ outputStationary: Int32Array; inputStationary: Int32Array }> },
  ref: ReturnType<typeof buildSubmanifoldMap>,
): Promise<void> {
  const { outputStationary: os, inputStationary: is } = await got.read();
  expect(Array.from(os)).toEqual(Array.from(outputStationary(ref)));
  expect(Array.from(is)).toEqual(Array.from(outputStationary(transposeKernelMap(ref))));
}

describe('submanifold map', () => {
  const cases: { dim: SpatialDim; K: number; dil: number }[] = [
    { dim: 3, K: 1, dil: 1 },
    { dim: 3, K: 3, dil: 1 },
    { dim: 3, K: 3, dil: 2 },
    { dim: 3, K: 5, dil: 1 },
    { dim: 2, K: 3, dil: 1 },
    { dim: 2, K: 5, dil: 2 },
    { dim: 2, K: 7, dil: 1 },
  ];
  it.each(cases)('dim $dim K $K dilation $dil equals the reference', async ({ dim, K, dil }) => {
    const ctx = await testGpu();
    const coords = events(10 + K + dil + dim, dim, dim === 3 ? 64 : 256, 1500);
    const set = new CoordinateSet(ctx, dim, coords);
    const ref = buildSubmanifoldMap(coords, dim, K, dil);
    const map = submanifoldMap(set, K, dil);
    await expectMap(map, ref);
    expect(await countPairs(map)).toBe(ref.inRow.length);
    set.dispose();
  });

  it('per-axis kernel [3, 1, 5] and dilation [1, 2, 1] equal the reference', async () => {
    const ctx = await testGpu();
    const coords = events(17, 3, 48, 1500);
    const set = new CoordinateSet(ctx, 3, coords);
    await expectMap(submanifoldMap(set, [3, 1, 5], [1, 2, 1]), buildSubmanifoldMap(coords, 3, [3, 1, 5], [1, 2, 1]));
    set.dispose();
  });

  it('is cached per (set, kernel, dilation) and freed with the set', async () => {
    const ctx = await testGpu();
    const base = ctx.stats().liveBytes;
    const set = new CoordinateSet(ctx, 3, events(20, 3, 64, 400));
    const a = submanifoldMap(set, 3);
    expect(submanifoldMap(set, 3, 1)).toBe(a);
    expect(submanifoldMap(set, [3, 3, 3], [1, 1, 1])).toBe(a);
    expect(submanifoldMap(set, 3, 2)).not.toBe(a);
    expect(coordHashTable(set)).toBe(coordHashTable(set));
    await a.read();
    set.dispose();
    expect(ctx.stats().liveBytes).toBe(base);
  });

  it('handles an empty set and rejects even kernels', async () => {
    const ctx = await testGpu();
    const set = new CoordinateSet(ctx, 3, new Int32Array(0));
    const map = submanifoldMap(set, 3);
    expect(map.numOut).toBe(0);
    expect(await countPairs(map)).toBe(0);
    expect(() => submanifoldMap(set, 2)).toThrow(/even/);
    set.dispose();
  });
});

describe('strided and transposed maps', () => {
  const cases: { dim: SpatialDim; K: number; s: number; anchor: 'corner' | 'center'; dil: number }[] = [
    { dim: 3, K: 2, s: 2, anchor: 'corner', dil: 1 },
    { dim: 3, K: 3, s: 2, anchor: 'corner', dil: 1 },
    { dim: 3, K: 3, s: 2, anchor: 'center', dil: 1 },
    { dim: 3, K: 2, s: 3, anchor: 'corner', dil: 2 },
    { dim: 2, K: 2, s: 2, anchor: 'corner', dil: 1 },
    { dim: 2, K: 3, s: 3, anchor: 'center', dil: 1 },
  ];
  it.each(cases)('dim $dim K $K stride $s $anchor dilation $dil equals the reference', async ({ dim, K, s, anchor, dil }) => {
    const ctx = await testGpu();
    const fine = events(30 + K + s + dim, dim, dim === 3 ? 128 : 256, 2000);
    const fineSet = new CoordinateSet(ctx, dim, fine);
    const coarseSet = stridedCoordinateSet(fineSet, s);
    expect(Array.from(coarseSet.host)).toEqual(Array.from(stridedOutputCoords(fine, dim, s)));
    expect(coarseSet.stride).toBe(s);
    expect(stridedCoordinateSet(fineSet, s)).toBe(coarseSet);
    const opts = { anchor, dilation: dil };
    const ref = buildStridedMap(fine, dim, K, s, { ...opts, outCoords: coarseSet.host }).map;
    const map = stridedMap(fineSet, K, s, opts);
    await expectMap(map, ref);
    expect(await countPairs(map)).toBe(ref.inRow.length);
    const tref = buildTransposedMap(coarseSet.host, fine, dim, K, s, opts);
    await expectMap(transposedMap(coarseSet, fineSet, K, s, opts), tref);
    fineSet.dispose();
    expect(coarseSet.disposed).toBe(true);
  });

  it('per-axis stride [2, 1, 3] and kernel [2, 1, 3] equal the reference', async () => {
    const ctx = await testGpu();
    const fine = events(41, 3, 96, 1500);
    const fineSet = new CoordinateSet(ctx, 3, fine);
    const coarseSet = stridedCoordinateSet(fineSet, [2, 1, 3]);
    expect(Array.from(coarseSet.host)).toEqual(Array.from(stridedOutputCoords(fine, 3, [2, 1, 3])));
    const ref = buildStridedMap(fine, 3, [2, 1, 3], [2, 1, 3], { outCoords: coarseSet.host }).map;
    await expectMap(stridedMap(fineSet, [2, 1, 3], [2, 1, 3]), ref);
    fineSet.dispose();
  });
});
