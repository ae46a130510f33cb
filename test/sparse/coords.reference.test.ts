import { describe, expect, it } from 'vitest';
import { DTypeError, InputValueError, ShapeError } from '../../src/errors.js';
import {
  CoordHashTable,
  EMPTY_KEY_WORD,
  MAX_BATCH_INDEX,
  MAX_SPATIAL_COORD,
  buildCoordTable,
  deduplicate,
  fmix32,
  hashKey,
  packKey,
  quantize,
  sortPermutation,
  unpackKey,
  validateCoords,
} from '../../src/kernels/sparse/coords.js';
import { rng, randInt, randomFeats, randomWalk, shuffleRows } from './sparse-data.js';

// Independent BigInt model of the hash (exact u32 arithmetic), so a slip in
// the Math.imul / >>> 0 handling cannot hide behind a matching pinned value.
function fmix32Big(x: number): number {
  const M = 0xffffffffn;
  let h = BigInt(x >>> 0);
  h ^= h >> 16n;
  h = (h * 0x85ebca6bn) & M;
  h ^= h >> 13n;
  h = (h * 0xc2b2ae35n) & M;
  h ^= h >> 16n;
  return Number(h);
}

function expectThrow(fn: () => unknown, cls: new (...a: never[]) => Error, ...parts: (string | RegExp)[]): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(cls);
  const msg = (caught as Error).message;
  for (const p of parts) {
    if (typeof p === 'string') expect(msg).toContain(p);
    else expect(msg).toMatch(p);
  }
}

describe('key packing and hash', () => {
  it('packs (batch, x, y, z) into w1 = batch<<16 | x, w0 = y<<16 | z and back', () => {
    const k = packKey(127, 767, 5, 700);
    expect(k.w1).toBe(127 * 65536 + 767);
    expect(k.w0).toBe(5 * 65536 + 700);
    expect(unpackKey(k.w0, k.w1)).toEqual([127, 767, 5, 700]);
    const top = packKey(MAX_BATCH_INDEX, MAX_SPATIAL_COORD, MAX_SPATIAL_COORD, MAX_SPATIAL_COORD);
    expect(top.w1).toBe(0xfffeffff);
    expect(top.w0).toBe(0xffffffff);
    // The reserved batch index keeps the empty-slot sentinel unreachable.
    expect(top.w1).not.toBe(EMPTY_KEY_WORD);
  });

  it('orders (w1, w0) as unsigned pairs exactly like lexicographic (batch, x, y, z)', () => {
    const r = rng(7);
    const rows: number[] = [];
    for (let i = 0; i < 300; i++) {
      rows.push(randInt(r, 0, 130), randInt(r, 0, 65535), randInt(r, 0, 65535), randInt(r, 0, 65535));
    }
    const coords = Int32Array.from(rows);
    const perm = sortPermutation(coords, 3);
    for (let i = 1; i < perm.length; i++) {
      const a = Array.from(coords.subarray(perm[i - 1]! * 4, perm[i - 1]! * 4 + 4));
      const b = Array.from(coords.subarray(perm[i]! * 4, perm[i]! * 4 + 4));
      const cmp = a.findIndex((v, j) => v !== b[j]);
      if (cmp >= 0) expect(a[cmp]!).toBeLessThan(b[cmp]!);
    }
  });

  it('sortPermutation is the stable comparison sort by (batch, x, y[, z]): duplicates keep input order, 2D and 3D, narrow and full ranges', () => {
    const r = rng(19);
    for (const [dim, n, hi] of [[3, 0, 9], [3, 1, 9], [3, 2000, 6], [3, 700, 65535], [2, 1500, 40], [2, 300, 65535], [3, 400, 0]] as const) {
      const c = dim + 1;
      const coords = Int32Array.from({ length: n * c }, (_, i) => (i % c === 0 ? randInt(r, 0, Math.min(hi, 300)) : randInt(r, 0, hi)));
      const expected = Array.from({ length: n }, (_, i) => i).sort((a, b) => {
        for (let j = 0; j < c; j++) {
          const d = coords[a * c + j]! - coords[b * c + j]!;
          if (d !== 0) return d;
        }
        return a - b;
      });
      expect(Array.from(sortPermutation(coords, dim)), `dim ${dim}, n ${n}, range ${hi}`).toEqual(expected);
    }
  });

  it('fmix32 and hashKey match the exact u32 model and pinned vectors', () => {
    const r = rng(11);
    for (let i = 0; i < 2000; i++) {
      const x = Math.floor(r() * 2 ** 32);
      expect(fmix32(x)).toBe(fmix32Big(x));
      const y = Math.floor(r() * 2 ** 32);
      expect(hashKey(x, y)).toBe(fmix32Big((x ^ fmix32Big(y)) >>> 0));
    }
    // Pinned for the WGSL port: fmix32(1) is MurmurHash3's published finaliser value.
    expect(fmix32(0)).toBe(0);
    expect(fmix32(1)).toBe(0x514e28b7);
    expect(fmix32(0xdeadbeef)).toBe(0x0de5c6a9);
    expect(fmix32(0xffffffff)).toBe(0x81f16f39);
    const pin = (b: number, x: number, y: number, z: number): number => {
      const k = packKey(b, x, y, z);
      return hashKey(k.w0, k.w1);
    };
    expect(pin(0, 0, 0, 0)).toBe(0x00000000);
    expect(pin(0, 1, 2, 3)).toBe(0x401919e8);
    expect(pin(1, 0, 0, 0)).toBe(0xfef9af8d);
    expect(pin(127, 767, 767, 767)).toBe(0xa67c82f8);
    expect(pin(5, 100, 200, 300)).toBe(0xd32be095);
  });

  it('spreads a dense 32^3 block evenly: short linear probes at load 1/2', () => {
    const n = 32 ** 3;
    const table = new CoordHashTable(n);
    expect(table.capacity).toBe(2 * n);
    let probes = 0;
    let worst = 0;
    for (let x = 0; x < 32; x++) {
      for (let y = 0; y < 32; y++) {
        for (let z = 0; z < 32; z++) {
          const k = packKey(3, x, y, z);
          table.insert(k.w0, k.w1, probes);
          let s = hashKey(k.w0, k.w1) & (table.capacity - 1);
          let len = 1;
          while (table.keys[2 * s] !== k.w0 || table.keys[2 * s + 1] !== k.w1) {
            s = (s + 1) & (table.capacity - 1);
            len++;
          }
          probes += len;
          worst = Math.max(worst, len);
        }
      }
    }
    // Uniform hashing with linear probing at load 1/2 expects ~1.5 probes per hit.
    expect(probes / n).toBeLessThan(2);
    expect(worst).toBeLessThan(40);
    expect(table.find(3, 31, 31, 31)).toBeGreaterThanOrEqual(0);
    expect(table.find(3, -1, 0, 0)).toBe(-1);
    expect(table.find(4, 0, 0, 0)).toBe(-1);
  });

  it('looks up every row of a table built from coords', () => {
    const coords = randomWalk(rng(3), 3, 64, 400);
    const table = buildCoordTable(coords, 3);
    for (let r = 0; r < coords.length / 4; r++) {
      expect(table.find(coords[4 * r]!, coords[4 * r + 1]!, coords[4 * r + 2]!, coords[4 * r + 3]!)).toBe(r);
    }
  });
});

describe('validateCoords', () => {
  it('accepts valid 2D and 3D coords and the empty tensor', () => {
    expect(validateCoords(new Int32Array(0), 3, 'coords')).toBe(0);
    expect(validateCoords(new Int32Array(0), 2, 'coords')).toBe(0);
    expect(validateCoords(Int32Array.from([0, 1, 2, 3, 1, 1, 2, 3]), 3)).toBe(2);
    expect(validateCoords(Int32Array.from([0, 65535, 0, MAX_BATCH_INDEX, 0, 65535]), 2)).toBe(2);
  });

  it('rejects a non-Int32Array with DTypeError', () => {
    expectThrow(() => validateCoords(new Float64Array(4) as unknown as Int32Array, 3, 'inCoords'), DTypeError, 'inCoords', 'Int32Array', 'Float64Array');
  });

  it('rejects a wrong column count with ShapeError', () => {
    expectThrow(() => validateCoords(new Int32Array(6), 3, 'coords'), ShapeError, 'coords', '6 elements', '[N, 4]');
    expectThrow(() => validateCoords(new Int32Array(4), 2, 'coords'), ShapeError, '[N, 3]');
  });

  it('rejects an unsupported dim', () => {
    expectThrow(() => validateCoords(new Int32Array(0), 4 as 3, 'coords'), InputValueError, 'dim = 4', 'pass 2');
  });

  it('rejects negative coordinates naming row, axis, value and the fix', () => {
    const coords = Int32Array.from([0, 1, 2, 3, 0, 4, -2, 6]);
    expectThrow(() => validateCoords(coords, 3, 'coords'), InputValueError, 'row 1', '(0, 4, -2, 6)', 'y = -2', 'shift the event');
    expectThrow(() => validateCoords(Int32Array.from([-1, 0, 0]), 2, 'c2'), InputValueError, 'c2 row 0', 'batch = -1');
  });

  it('rejects out-of-range coordinates and batch indices', () => {
    expectThrow(() => validateCoords(Int32Array.from([0, 0, 0, 65536]), 3), InputValueError, 'row 0', 'z = 65536', '65535', 'voxel size');
    expectThrow(() => validateCoords(Int32Array.from([0, 0, 0, 0, 65535, 0, 0, 0]), 3), InputValueError, 'row 1', 'batch = 65535', `${MAX_BATCH_INDEX}`);
  });

  it('rejects duplicates naming both rows and the site', () => {
    const coords = Int32Array.from([0, 1, 2, 3, 0, 5, 5, 5, 1, 1, 2, 3, 0, 5, 5, 5]);
    expectThrow(() => validateCoords(coords, 3, 'coords'), InputValueError, 'rows 1 and 3', '(0, 5, 5, 5)', 'deduplicate');
  });
});

describe('deduplicate', () => {
  const coords = Int32Array.from([
    1, 0, 0, // row 0
    0, 2, 1, // row 1
    1, 0, 0, // row 2 = row 0
    0, 0, 5, // row 3
    1, 0, 0, // row 4 = row 0
  ]);
  const feats = Float64Array.from([1, -1, 2, 2, 4, 3, 5, 5, -3, 10]);

  it('sorts unique sites by key and returns the inverse map and counts', () => {
    const d = deduplicate(coords, feats, 2, 2, 'sum');
    expect(Array.from(d.coords)).toEqual([0, 0, 5, 0, 2, 1, 1, 0, 0]);
    expect(Array.from(d.inverse)).toEqual([2, 1, 2, 0, 2]);
    expect(Array.from(d.counts)).toEqual([1, 1, 3]);
  });

  it('merges with sum, mean and max', () => {
    expect(Array.from(deduplicate(coords, feats, 2, 2, 'sum').feats)).toEqual([5, 5, 2, 2, 2, 12]);
    expect(Array.from(deduplicate(coords, feats, 2, 2, 'mean').feats)).toEqual([5, 5, 2, 2, 2 / 3, 4]);
    expect(Array.from(deduplicate(coords, feats, 2, 2, 'max').feats)).toEqual([5, 5, 2, 2, 4, 10]);
  });

  it('does not depend on the input row order', () => {
    const r = rng(5);
    const base = randomWalk(r, 3, 16, 300);
    // Triple every site so there are many duplicates, then shuffle.
    const rows = new Int32Array(base.length * 3);
    rows.set(base, 0);
    rows.set(base, base.length);
    rows.set(base, 2 * base.length);
    const f = randomFeats(r, rows.length / 4, 3);
    const a = deduplicate(rows, f, 3, 3, 'sum');
    const { coords: shuffled, perm } = shuffleRows(r, rows, 4);
    const f2 = new Float64Array(f.length);
    perm.forEach((src, dst) => f2.set(f.subarray(src * 3, src * 3 + 3), dst * 3));
    const b = deduplicate(shuffled, f2, 3, 3, 'max');
    const c = deduplicate(shuffled, f2, 3, 3, 'sum');
    expect(Array.from(b.coords)).toEqual(Array.from(a.coords));
    expect(Array.from(a.coords)).toEqual(Array.from(base));
    for (let i = 0; i < a.feats.length; i++) expect(c.feats[i]).toBeCloseTo(a.feats[i]!, 12);
    perm.forEach((src, dst) => expect(b.inverse[dst]).toBe(a.inverse[src]));
  });

  it('handles empty input and rejects bad arguments', () => {
    const d = deduplicate(new Int32Array(0), new Float64Array(0), 3, 4, 'mean');
    expect(d.coords.length).toBe(0);
    expect(d.feats.length).toBe(0);
    expectThrow(() => deduplicate(coords, feats, 2, 3, 'sum'), ShapeError, 'feats', '[5, 3]');
    expectThrow(() => deduplicate(coords, feats, 2, 2, 'min' as 'sum'), InputValueError, "'sum', 'mean' or 'max'");
    expectThrow(() => deduplicate(Int32Array.from([0, -1, 0]), new Float64Array(2), 2, 2, 'sum'), InputValueError, 'row 0', 'x = -1');
  });
});

describe('quantize', () => {
  it('floors (p − origin) / voxel and prepends the batch column', () => {
    const points = Float64Array.from([0.1, 0.9, 2.5, 1.0, 1.99, 0.0, 7.4, 3.3, 0.2]);
    const c = quantize(points, 3, 0.5, { batch: Int32Array.from([0, 2, 1]), origin: [0, 0, 0] });
    expect(Array.from(c)).toEqual([0, 0, 1, 5, 2, 2, 3, 0, 1, 14, 6, 0]);
    const c2 = quantize(Float64Array.from([-3, 4]), 2, [1, 2], { origin: [-3.5, 0] });
    expect(Array.from(c2)).toEqual([0, 0, 2]);
  });

  it('rejects non-finite points, bad voxel sizes and out-of-range voxels', () => {
    expectThrow(() => quantize(Float64Array.from([0, NaN]), 2, 1), InputValueError, 'row 0', 'y = NaN');
    expectThrow(() => quantize(Float64Array.from([0, 0]), 2, 0), InputValueError, 'voxelSize[0]');
    expectThrow(() => quantize(Float64Array.from([-1, 0]), 2, 1), InputValueError, 'row 0', 'voxel index -1', 'origin');
    expectThrow(() => quantize(Float64Array.from([0, 0, 0]), 2, 1), ShapeError, 'multiple of dim = 2');
  });
});
