import { describe, expect, it } from 'vitest';
import { maxRelativeError } from '../../src/autodiff/numeric.js';
import { ShapeError } from '../../src/errors.js';
import { type SpatialDim, boundingBox } from '../../src/kernels/sparse/coords.js';
import {
  denseConvReference,
  denseToSparse,
  mirrorWeight,
  sparseConvBackward,
  sparseConvForward,
  sparseToDense,
  transposeWeight,
} from '../../src/kernels/sparse/conv.reference.js';
import {
  type KernelMap,
  buildStridedMap,
  buildSubmanifoldMap,
  buildTransposedMap,
  kernelVolumeOf,
  transposedOutputCoords,
} from '../../src/kernels/sparse/kernel-map.reference.js';
import {
  batchEvents,
  dot,
  expectGradients,
  randomCloud,
  randomFeats,
  randomWalk,
  readF32AsF64,
  readI32,
  rng,
  straightTrack,
} from './sparse-data.js';

const FIXTURE = 'sparseconvnet-subm3';

/** Gradcheck of all three gradients of a conv on `map` with random data. */
function gradcheckConv(map: KernelMap, cin: number, cout: number, seed: number): void {
  const r = rng(seed);
  const v = map.kernelVolume;
  const feats = randomFeats(r, map.numIn, cin);
  const weight = randomFeats(r, v * cin * cout, 1);
  const bias = randomFeats(r, cout, 1);
  const gradOut = randomFeats(r, map.numOut, cout);
  const f = ([x, w, b]: Float64Array[]): number =>
    dot(sparseConvForward(x!, { map, weight: w!, bias: b!, inChannels: cin, outChannels: cout }), gradOut);
  const g = sparseConvBackward(feats, gradOut, { map, weight, bias, inChannels: cin, outChannels: cout });
  expectGradients(f, [feats, weight, bias], [g.gradFeats, g.gradWeight, g.gradBias]);
}

describe('SparseConvNet fixture (SubmanifoldConvolution(3, 5, 7, 3, bias=True))', () => {
  it('reproduces out, gfeats, gweight and gbias to 1e-5 of the largest magnitude', () => {
    const xyz = readI32(FIXTURE, 'coords.i32');
    const n = xyz.length / 3;
    expect(n).toBe(762);
    // The fixture has no batch column: every site is in batch item 0.
    const coords = new Int32Array(n * 4);
    for (let r = 0; r < n; r++) coords.set(xyz.subarray(3 * r, 3 * r + 3), 4 * r + 1);
    const feats = readF32AsF64(FIXTURE, 'feats.f32');
    const weight = readF32AsF64(FIXTURE, 'weight.f32');
    const bias = readF32AsF64(FIXTURE, 'bias.f32');
    const gradOut = readF32AsF64(FIXTURE, 'gout.f32');
    const params = { map: buildSubmanifoldMap(coords, 3, 3), weight, bias, inChannels: 5, outChannels: 7 };
    const out = sparseConvForward(feats, params);
    expect(maxRelativeError(out, readF32AsF64(FIXTURE, 'out.f32'))).toBeLessThan(1e-5);
    const g = sparseConvBackward(feats, gradOut, params);
    expect(maxRelativeError(g.gradFeats, readF32AsF64(FIXTURE, 'gfeats.f32'))).toBeLessThan(1e-5);
    expect(maxRelativeError(g.gradWeight, readF32AsF64(FIXTURE, 'gweight.f32'))).toBeLessThan(1e-5);
    expect(maxRelativeError(g.gradBias, readF32AsF64(FIXTURE, 'gbias.f32'))).toBeLessThan(1e-5);
  });
});

describe('sparse conv gradients (central differences)', () => {
  const subm: { dim: SpatialDim; K: number; dil: number }[] = [
    { dim: 3, K: 1, dil: 1 },
    { dim: 3, K: 3, dil: 1 },
    { dim: 3, K: 3, dil: 2 },
    { dim: 3, K: 5, dil: 1 },
    { dim: 2, K: 3, dil: 1 },
    { dim: 2, K: 5, dil: 2 },
  ];

  it.each(subm)('submanifold dim $dim K $K dilation $dil', ({ dim, K, dil }) => {
    const r = rng(200 + 10 * K + dil + dim);
    const coords = batchEvents([randomCloud(r, dim, dim === 3 ? 4 : 6, 0.35), new Int32Array(0), randomWalk(r, dim, 6, 8)], dim);
    gradcheckConv(buildSubmanifoldMap(coords, dim, K, dil), 2, 3, 300 + K);
  });

  it.each([2, 3] as const)('strided (K 2 s 2, K 3 s 2) and transposed, dim %i', (dim) => {
    const r = rng(400 + dim);
    const fine = batchEvents([randomCloud(r, dim, dim === 3 ? 5 : 8, 0.3), new Int32Array(0)], dim);
    for (const K of [2, 3]) {
      const { map, outCoords } = buildStridedMap(fine, dim, K, 2);
      gradcheckConv(map, 2, 3, 500 + K);
      gradcheckConv(buildTransposedMap(outCoords, fine, dim, K, 2), 3, 2, 600 + K);
    }
  });

  it('mirrored-weight backward on the forward map equals the transposed-map backward', () => {
    for (const dim of [2, 3] as const) {
      for (const K of [3, 5]) {
        const r = rng(700 + K + dim);
        const coords = randomWalk(r, dim, 64, 300);
        const map = buildSubmanifoldMap(coords, dim, K, 2);
        const v = K ** dim;
        const weight = randomFeats(r, v * 3 * 4, 1);
        const feats = randomFeats(r, map.numIn, 3);
        const gradOut = randomFeats(r, map.numOut, 4);
        const g = sparseConvBackward(feats, gradOut, { map, weight, inChannels: 3, outChannels: 4 });
        const viaMirror = sparseConvForward(gradOut, { map, weight: mirrorWeight(weight, v, 3, 4), inChannels: 4, outChannels: 3 });
        expect(maxRelativeError(viaMirror, g.gradFeats)).toBeLessThan(1e-13);
      }
    }
  });
});

describe('sparse conv against dense cross-correlation', () => {
  const cases: { dim: SpatialDim; K: number; dil: number; kind: string }[] = [];
  for (const kind of ['walk', 'track']) {
    for (const K of [1, 3, 5]) for (const dil of [1, 2]) cases.push({ dim: 3, K, dil, kind });
  }
  cases.push({ dim: 2, K: 3, dil: 1, kind: 'walk' }, { dim: 2, K: 5, dil: 2, kind: 'track' });

  it.each(cases)('submanifold = dense read back at active sites: $kind, dim $dim K $K dil $dil, batched', ({ dim, K, dil, kind }) => {
    const r = rng(800 + K * 7 + dil + dim + kind.length);
    const gen = kind === 'walk'
      ? (b: number) => randomWalk(r, dim, 64, 250, b)
      : (b: number) => straightTrack(r, dim, 64, 60, b);
    const coords = batchEvents([gen(0), new Int32Array(0), gen(2)], dim);
    const cin = 2;
    const cout = 3;
    const v = K ** dim;
    const feats = randomFeats(r, coords.length / (1 + dim), cin);
    const weight = randomFeats(r, v * cin * cout, 1);
    const bias = randomFeats(r, cout, 1);
    const sparse = sparseConvForward(feats, { map: buildSubmanifoldMap(coords, dim, K, dil), weight, bias, inChannels: cin, outChannels: cout });
    const bb = boundingBox(coords, dim)!;
    const extent = bb.max.map((m, a) => m - bb.min[a]! + 1);
    for (const b of [0, 2]) {
      const grid = sparseToDense(coords, feats, dim, cin, b, bb.min, extent);
      const dense = denseConvReference(grid, weight, bias, cout, K, dil);
      const back = denseToSparse(dense, coords, b, bb.min);
      const cols = 1 + dim;
      for (let row = 0; row < coords.length / cols; row++) {
        if (coords[row * cols] !== b) continue;
        for (let c = 0; c < cout; c++) expect(sparse[row * cout + c]).toBeCloseTo(back[row * cout + c]!, 12);
      }
    }
  });

  it('strided conv with K = s = 2 equals the dense stride-2 conv on the active windows', () => {
    const r = rng(900);
    const dim = 3;
    const coords = randomWalk(r, dim, 16, 200);
    const cin = 2;
    const cout = 2;
    const feats = randomFeats(r, coords.length / 4, cin);
    const weight = randomFeats(r, 8 * cin * cout, 1);
    const { map, outCoords } = buildStridedMap(coords, dim, 2, 2);
    const out = sparseConvForward(feats, { map, weight, inChannels: cin, outChannels: cout });
    const grid = sparseToDense(coords, feats, dim, cin, 0, [0, 0, 0], [16, 16, 16]);
    for (let o = 0; o < map.numOut; o++) {
      const q = [1, 2, 3].map((a) => outCoords[4 * o + a]!);
      for (let b = 0; b < cout; b++) {
        let s = 0;
        for (let k = 0; k < 8; k++) {
          const p = [(k >> 2) & 1, (k >> 1) & 1, k & 1].map((d, a) => 2 * q[a]! + d);
          for (let a = 0; a < cin; a++) s += grid.data[((p[0]! * 16 + p[1]!) * 16 + p[2]!) * cin + a]! * weight[(k * cin + a) * cout + b]!;
        }
        expect(out[o * cout + b]).toBeCloseTo(s, 12);
      }
    }
  });
});

describe('transposed conv is the adjoint of strided conv', () => {
  const cases: { dim: SpatialDim; K: number; s: number; anchor: 'corner' | 'center' }[] = [
    { dim: 3, K: 2, s: 2, anchor: 'corner' },
    { dim: 3, K: 3, s: 2, anchor: 'corner' },
    { dim: 3, K: 3, s: 2, anchor: 'center' },
    { dim: 2, K: 2, s: 2, anchor: 'corner' },
    { dim: 2, K: 5, s: 3, anchor: 'center' },
  ];

  it.each(cases)('<conv(x), y> = <x, convT(y)> with shared weights: dim $dim K $K s $s $anchor', ({ dim, K, s, anchor }) => {
    const r = rng(1000 + K * s + dim);
    const fine = batchEvents([randomWalk(r, dim, 64, 300), new Int32Array(0), straightTrack(r, dim, 64, 50)], dim);
    const { map, outCoords } = buildStridedMap(fine, dim, K, s, { anchor });
    const mapT = buildTransposedMap(outCoords, fine, dim, K, s, { anchor });
    const v = kernelVolumeOf(map.kernelSize);
    const cin = 3;
    const cout = 2;
    const weight = randomFeats(r, v * cin * cout, 1);
    const x = randomFeats(r, map.numIn, cin);
    const y = randomFeats(r, map.numOut, cout);
    const convX = sparseConvForward(x, { map, weight, inChannels: cin, outChannels: cout });
    const convTY = sparseConvForward(y, { map: mapT, weight: transposeWeight(weight, v, cin, cout), inChannels: cout, outChannels: cin });
    const lhs = dot(convX, y);
    const rhs = dot(x, convTY);
    expect(Math.abs(lhs - rhs)).toBeLessThan(1e-10 * Math.max(1, Math.abs(lhs)));
    // The transposed conv's output equals the strided conv's input gradient.
    const g = sparseConvBackward(x, y, { map, weight, inChannels: cin, outChannels: cout });
    expect(maxRelativeError(convTY, g.gradFeats)).toBeLessThan(1e-13);
  });

  it('generative transposed conv: every coarse feature reaches its 2^D children', () => {
    const dim = 2;
    const coarse = Int32Array.from([0, 3, 4, 1, 0, 0]);
    const fine = transposedOutputCoords(coarse, dim, 2, 2);
    const map = buildTransposedMap(coarse, fine, dim, 2, 2);
    const w = Float64Array.from([1, 10, 100, 1000]); // [V = 4, Cin = 1, Cout = 1]
    const out = sparseConvForward(Float64Array.from([1, 2]), { map, weight: w, inChannels: 1, outChannels: 1 });
    // Rows are sorted by key: batch 0 children of (3, 4) first, then batch 1 children of (0, 0).
    expect(Array.from(fine)).toEqual([0, 6, 8, 0, 6, 9, 0, 7, 8, 0, 7, 9, 1, 0, 0, 1, 0, 1, 1, 1, 0, 1, 1, 1]);
    expect(Array.from(out)).toEqual([1, 10, 100, 1000, 2, 20, 200, 2000]);
  });
});

describe('edge cases', () => {
  it('empty tensors give empty outputs and zero weight gradients', () => {
    for (const dim of [2, 3] as const) {
      const map = buildSubmanifoldMap(new Int32Array(0), dim, 3);
      const v = 3 ** dim;
      const weight = randomFeats(rng(1), v * 2 * 3, 1);
      const params = { map, weight, bias: Float64Array.from([1, 2, 3]), inChannels: 2, outChannels: 3 };
      expect(sparseConvForward(new Float64Array(0), params).length).toBe(0);
      const g = sparseConvBackward(new Float64Array(0), new Float64Array(0), params);
      expect(g.gradFeats.length).toBe(0);
      expect(g.gradWeight.every((x) => x === 0)).toBe(true);
      expect(Array.from(g.gradBias)).toEqual([0, 0, 0]);
      const { map: sm } = buildStridedMap(new Int32Array(0), dim, 2, 2);
      expect(sm.numOut).toBe(0);
    }
  });

  it('a batched conv equals the per-event convs', () => {
    const dim = 3;
    const r = rng(77);
    const events = [randomWalk(r, dim, 64, 200), new Int32Array(0), straightTrack(r, dim, 64, 40), randomWalk(r, dim, 64, 100)];
    const coords = batchEvents(events, dim);
    const weight = randomFeats(r, 27 * 2 * 2, 1);
    const feats = randomFeats(r, coords.length / 4, 2);
    const all = sparseConvForward(feats, { map: buildSubmanifoldMap(coords, dim, 3), weight, inChannels: 2, outChannels: 2 });
    let row = 0;
    for (const ev of events) {
      const n = ev.length / 4;
      const one = sparseConvForward(feats.subarray(row * 2, (row + n) * 2).slice(), { map: buildSubmanifoldMap(ev, dim, 3), weight, inChannels: 2, outChannels: 2 });
      expect(Array.from(all.subarray(row * 2, (row + n) * 2))).toEqual(Array.from(one));
      row += n;
    }
  });

  it('rejects mismatched weight, bias and feature shapes with ShapeError naming the layout', () => {
    const map = buildSubmanifoldMap(Int32Array.from([0, 1, 1, 1]), 3, 3);
    const w = new Float64Array(27 * 2 * 3);
    expect(() => sparseConvForward(new Float64Array(2), { map, weight: new Float64Array(10), inChannels: 2, outChannels: 3 })).toThrow(ShapeError);
    expect(() => sparseConvForward(new Float64Array(2), { map, weight: new Float64Array(10), inChannels: 2, outChannels: 3 })).toThrow(/\[kernelVolume, inChannels, outChannels\]/);
    expect(() => sparseConvForward(new Float64Array(2), { map, weight: w, bias: new Float64Array(2), inChannels: 2, outChannels: 3 })).toThrow(/bias/);
    expect(() => sparseConvForward(new Float64Array(3), { map, weight: w, inChannels: 2, outChannels: 3 })).toThrow(/feats has 3 elements/);
  });
});
