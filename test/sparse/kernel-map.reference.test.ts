import { describe, expect, it } from 'vitest';
import { InputValueError } from '../../src/errors.js';
import { type SpatialDim, validateCoords } from '../../src/kernels/sparse/coords.js';
import {
  type KernelMap,
  buildStridedMap,
  buildSubmanifoldMap,
  buildTransposedMap,
  kernelIndex,
  kernelOffsets,
  kernelPosition,
  mirrorOffsetIndex,
  outputStationary,
  pairsOf,
  stridedOutputCoords,
  submanifoldOffsets,
  transposeKernelMap,
  transposedOutputCoords,
} from '../../src/kernels/sparse/kernel-map.reference.js';
import { batchEvents, randomCloud, randomWalk, rng, straightTrack } from './sparse-data.js';

function pairList(map: KernelMap, k: number): [number, number][] {
  const p = pairsOf(map, k);
  return Array.from(p.inRow, (i, j) => [i, p.outRow[j]!]);
}

/** All pairs by exhaustive search: pair (i, o) at k iff `inCoord(i) == target(o, k)`. */
function bruteForce(
  inCoords: Int32Array,
  outCoords: Int32Array,
  dim: SpatialDim,
  v: number,
  target: (out: number[], k: number) => number[],
): [number, number][][] {
  const cols = 1 + dim;
  const nIn = inCoords.length / cols;
  const nOut = outCoords.length / cols;
  const lists: [number, number][][] = Array.from({ length: v }, () => []);
  for (let o = 0; o < nOut; o++) {
    const oc = Array.from(outCoords.subarray(o * cols, o * cols + cols));
    for (let k = 0; k < v; k++) {
      const t = target(oc, k);
      for (let i = 0; i < nIn; i++) {
        let same = true;
        for (let j = 0; j < cols; j++) if (inCoords[i * cols + j] !== t[j]) same = false;
        if (same) lists[k]!.push([i, o]);
      }
    }
  }
  return lists;
}

function expectSortedByOutput(map: KernelMap): void {
  for (let k = 0; k < map.kernelVolume; k++) {
    const l = pairList(map, k);
    for (let j = 1; j < l.length; j++) {
      const [i0, o0] = l[j - 1]!;
      const [i1, o1] = l[j]!;
      expect(o0 < o1 || (o0 === o1 && i0 < i1)).toBe(true);
    }
  }
}

describe('kernel offsets', () => {
  it('uses k = (dx+1)*9 + (dy+1)*3 + (dz+1) for K = 3 (SparseConvNet order)', () => {
    const off = submanifoldOffsets(3, 3);
    expect(off.length).toBe(27 * 3);
    for (let dx = -1; dx <= 1; dx++) {
      for (let dy = -1; dy <= 1; dy++) {
        for (let dz = -1; dz <= 1; dz++) {
          const k = (dx + 1) * 9 + (dy + 1) * 3 + (dz + 1);
          expect([off[3 * k], off[3 * k + 1], off[3 * k + 2]]).toEqual([dx, dy, dz]);
        }
      }
    }
  });

  it('uses k = ((dx+r)K + (dy+r))K + (dz+r) times dilation in 3D and k = (dx+r)K + (dy+r) in 2D', () => {
    for (const K of [1, 3, 5, 7]) {
      const r = (K - 1) / 2;
      for (const dil of [1, 2]) {
        const o3 = submanifoldOffsets(3, K, dil);
        const o2 = submanifoldOffsets(2, K, dil);
        for (let k = 0; k < K ** 3; k++) {
          const [dx, dy, dz] = [o3[3 * k]! / dil, o3[3 * k + 1]! / dil, o3[3 * k + 2]! / dil];
          expect(((dx + r) * K + (dy + r)) * K + (dz + r)).toBe(k);
        }
        for (let k = 0; k < K ** 2; k++) expect((o2[2 * k]! / dil + r) * K + (o2[2 * k + 1]! / dil + r)).toBe(k);
      }
    }
  });

  it('mirror symmetry: offsets k and V-1-k are negatives; the centre is its own mirror', () => {
    for (const dim of [2, 3] as const) {
      for (const K of [1, 3, 5]) {
        const v = K ** dim;
        const off = submanifoldOffsets(dim, K, 2);
        for (let k = 0; k < v; k++) {
          const m = mirrorOffsetIndex(k, v);
          for (let a = 0; a < dim; a++) expect(off[m * dim + a]! + off[k * dim + a]!).toBe(0);
        }
        const c = (v - 1) / 2;
        expect(mirrorOffsetIndex(c, v)).toBe(c);
        for (let a = 0; a < dim; a++) expect(off[c * dim + a]).toBe(0);
      }
    }
  });

  it('kernelPosition and kernelIndex are inverse, also for anisotropic kernels', () => {
    const ks = [2, 3, 4];
    for (let k = 0; k < 24; k++) expect(kernelIndex(kernelPosition(k, ks), ks)).toBe(k);
    expect(kernelPosition(23, ks)).toEqual([1, 2, 3]);
    const corner = kernelOffsets(3, ks, [1, 2, 1], 'corner');
    expect(Array.from(corner.subarray(23 * 3, 24 * 3))).toEqual([1, 4, 3]);
  });

  it('rejects even submanifold kernels and bad sizes', () => {
    expect(() => submanifoldOffsets(3, 2)).toThrow(InputValueError);
    expect(() => submanifoldOffsets(3, 2)).toThrow(/kernelSize\[0\] = 2 is even/);
    expect(() => submanifoldOffsets(3, 3, 0)).toThrow(/dilation\[0\] = 0/);
    expect(() => kernelOffsets(2, [3, 0], 1, 'corner')).toThrow(/kernelSize\[1\] = 0/);
  });
});

describe('submanifold map', () => {
  const cases: { dim: SpatialDim; K: number; dil: number }[] = [];
  for (const dim of [2, 3] as const) for (const K of [1, 3, 5]) for (const dil of [1, 2]) cases.push({ dim, K, dil });

  it.each(cases)('matches exhaustive search, dim $dim K $K dilation $dil (batched, with an empty event)', ({ dim, K, dil }) => {
    const r = rng(100 + dim * 10 + K + dil);
    const coords = batchEvents([randomCloud(r, dim, dim === 3 ? 6 : 12, 0.3), new Int32Array(0), randomWalk(r, dim, 8, 40)], dim);
    const map = buildSubmanifoldMap(coords, dim, K, dil);
    const off = submanifoldOffsets(dim, K, dil);
    const ref = bruteForce(coords, coords, dim, K ** dim, (oc, k) => oc.map((v, j) => (j === 0 ? v : v + off[k * dim + j - 1]!)));
    for (let k = 0; k < K ** dim; k++) expect(pairList(map, k)).toEqual(ref[k]);
    expect(map.numIn).toBe(coords.length / (1 + dim));
    expect(map.numOut).toBe(map.numIn);
    expectSortedByOutput(map);
  });

  it('centre offset is the identity and the map never crosses batch items', () => {
    const dim = 3;
    const ev = randomWalk(rng(4), dim, 64, 500);
    // The same event twice in different batch items: pairs must stay within an item.
    const coords = batchEvents([ev, ev], dim);
    const map = buildSubmanifoldMap(coords, dim, 3);
    const n = coords.length / 4;
    expect(pairList(map, 13)).toEqual(Array.from({ length: n }, (_, i) => [i, i]));
    for (let k = 0; k < 27; k++) {
      for (const [i, o] of pairList(map, k)) expect(coords[4 * i]).toBe(coords[4 * o]);
    }
  });

  it('mirror: the list of V-1-k is the list of k with in/out swapped', () => {
    for (const dim of [2, 3] as const) {
      const coords = straightTrack(rng(9 + dim), dim, 64, 80);
      for (const K of [3, 5]) {
        const map = buildSubmanifoldMap(coords, dim, K, 2);
        const t = transposeKernelMap(map);
        const v = K ** dim;
        for (let k = 0; k < v; k++) expect(pairList(t, k)).toEqual(pairList(map, mirrorOffsetIndex(k, v)));
      }
    }
  });

  it('skips neighbours that would leave the 0..65535 key range', () => {
    const coords = Int32Array.from([0, 0, 0, 0, 0, 65535, 65535, 65535]);
    const map = buildSubmanifoldMap(coords, 3, 3);
    expect(map.inRow.length).toBe(2);
  });

  it('accepts empty tensors', () => {
    const map = buildSubmanifoldMap(new Int32Array(0), 3, 3);
    expect(map.numIn).toBe(0);
    expect(map.pairStart.length).toBe(28);
    expect(map.inRow.length).toBe(0);
    expect(outputStationary(map).length).toBe(0);
  });

  it('output-stationary form agrees with the CSR pairs', () => {
    const coords = randomWalk(rng(21), 3, 64, 300);
    const map = buildSubmanifoldMap(coords, 3, 3);
    const os = outputStationary(map);
    let count = 0;
    for (let k = 0; k < 27; k++) for (const [i, o] of pairList(map, k)) expect(os[o * 27 + k]).toBe(i);
    for (const v of os) if (v >= 0) count++;
    expect(count).toBe(map.inRow.length);
  });
});

describe('strided and transposed maps', () => {
  it('output coords are the unique floor(coord / stride) per batch item, sorted by key', () => {
    const dim = 3;
    const coords = batchEvents([randomWalk(rng(1), dim, 64, 400), new Int32Array(0), straightTrack(rng(2), dim, 64, 60)], dim);
    const out = stridedOutputCoords(coords, dim, 2);
    expect(validateCoords(out, dim)).toBe(out.length / 4);
    const expected = new Set<string>();
    for (let r = 0; r < coords.length / 4; r++) {
      expected.add([coords[4 * r]!, ...[1, 2, 3].map((a) => Math.floor(coords[4 * r + a]! / 2))].join(','));
    }
    const got: string[] = [];
    for (let r = 0; r < out.length / 4; r++) got.push(Array.from(out.subarray(4 * r, 4 * r + 4)).join(','));
    expect(new Set(got)).toEqual(expected);
    for (let r = 1; r < out.length / 4; r++) {
      const a = Array.from(out.subarray(4 * r - 4, 4 * r));
      const b = Array.from(out.subarray(4 * r, 4 * r + 4));
      const j = a.findIndex((v, t) => v !== b[t]);
      expect(a[j]!).toBeLessThan(b[j]!);
    }
  });

  it('kernel 2 stride 2: every input lands in exactly one output, at floor(coord/2), offset = coord mod 2', () => {
    for (const dim of [2, 3] as const) {
      const coords = randomWalk(rng(30 + dim), dim, 64, 500);
      const { map, outCoords } = buildStridedMap(coords, dim, 2, 2);
      const cols = 1 + dim;
      const seen = new Int32Array(map.numIn);
      for (let k = 0; k < map.kernelVolume; k++) {
        const pos = kernelPosition(k, map.kernelSize);
        for (const [i, o] of pairList(map, k)) {
          seen[i]!++;
          for (let a = 0; a < dim; a++) {
            expect(outCoords[o * cols + 1 + a]).toBe(Math.floor(coords[i * cols + 1 + a]! / 2));
            expect(coords[i * cols + 1 + a]! % 2).toBe(pos[a]);
          }
        }
      }
      expect(Array.from(seen).every((s) => s === 1)).toBe(true);
      expectSortedByOutput(map);
    }
  });

  const stridedCases: { dim: SpatialDim; K: number; s: number; anchor: 'corner' | 'center'; dil: number }[] = [
    { dim: 3, K: 2, s: 2, anchor: 'corner', dil: 1 },
    { dim: 3, K: 3, s: 2, anchor: 'corner', dil: 1 },
    { dim: 3, K: 3, s: 2, anchor: 'center', dil: 1 },
    { dim: 2, K: 3, s: 3, anchor: 'corner', dil: 2 },
    { dim: 2, K: 4, s: 2, anchor: 'corner', dil: 1 },
    { dim: 2, K: 1, s: 2, anchor: 'center', dil: 1 },
  ];

  it.each(stridedCases)('strided map matches i = o*stride + d_k: dim $dim K $K stride $s $anchor dil $dil', ({ dim, K, s, anchor, dil }) => {
    const r = rng(40 + K * s + dim);
    const coords = batchEvents([randomCloud(r, dim, dim === 3 ? 7 : 14, 0.25), new Int32Array(0), randomWalk(r, dim, 10, 30)], dim);
    const { map, outCoords } = buildStridedMap(coords, dim, K, s, { anchor, dilation: dil });
    const off = kernelOffsets(dim, K, dil, anchor);
    const ref = bruteForce(coords, outCoords, dim, K ** dim, (oc, k) => oc.map((v, j) => (j === 0 ? v : v * s + off[k * dim + j - 1]!)));
    for (let k = 0; k < K ** dim; k++) expect(pairList(map, k)).toEqual(ref[k]);
    expectSortedByOutput(map);
    // The transposed map is exactly the strided map with roles swapped.
    const t = buildTransposedMap(outCoords, coords, dim, K, s, { anchor, dilation: dil });
    const swapped = transposeKernelMap(map);
    for (let k = 0; k < K ** dim; k++) expect(pairList(t, k)).toEqual(pairList(swapped, k));
    expect(t.numIn).toBe(map.numOut);
    expect(t.numOut).toBe(map.numIn);
    expectSortedByOutput(t);
    // And transposing twice is the identity.
    const back = transposeKernelMap(swapped);
    expect(Array.from(back.inRow)).toEqual(Array.from(map.inRow));
    expect(Array.from(back.outRow)).toEqual(Array.from(map.outRow));
  });

  it('accepts explicit output coords; outputs reached by no input get no pairs', () => {
    const coords = Int32Array.from([0, 4, 4, 0, 5, 5]);
    const outCoords = Int32Array.from([0, 2, 2, 0, 9, 9]);
    const { map } = buildStridedMap(coords, 2, 2, 2, { outCoords });
    expect(map.numOut).toBe(2);
    expect(map.inRow.length).toBe(2);
    const os = outputStationary(map);
    expect(Array.from(os.subarray(4, 8))).toEqual([-1, -1, -1, -1]);
    expect(os[0]).toBe(0);
    expect(os[3]).toBe(1);
  });

  it('generative transposed output coords cover every tap and contain the strided inputs', () => {
    const dim = 3;
    const fine = randomWalk(rng(50), dim, 64, 200);
    const coarse = stridedOutputCoords(fine, dim, 2);
    const gen = transposedOutputCoords(coarse, dim, 2, 2);
    expect(gen.length / 4).toBe((coarse.length / 4) * 8);
    const t = buildTransposedMap(coarse, gen, dim, 2, 2);
    // Every generated site is reached by exactly one coarse site.
    expect(t.inRow.length).toBe(gen.length / 4);
    const set = new Set<string>();
    for (let r = 0; r < gen.length / 4; r++) set.add(Array.from(gen.subarray(4 * r, 4 * r + 4)).join(','));
    for (let r = 0; r < fine.length / 4; r++) expect(set.has(Array.from(fine.subarray(4 * r, 4 * r + 4)).join(','))).toBe(true);
    // Centred taps below 0 are dropped rather than wrapped.
    const edge = transposedOutputCoords(Int32Array.from([0, 0, 0]), 2, 3, 2, { anchor: 'center' });
    expect(edge.length / 3).toBe(4);
  });

  it('rejects a centred anchor with an even kernel', () => {
    expect(() => buildStridedMap(Int32Array.from([0, 1, 1]), 2, 2, 2, { anchor: 'center' })).toThrow(/even/);
  });
});
