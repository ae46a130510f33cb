// The ReferenceOp adapters, checked the way gradcheck's first half checks them
// (reference backward vs central differences of ⟨forward, r⟩), without a GPU.
import { describe, expect, it } from 'vitest';
import type { HostTensor, ReferenceOp } from '../../src/autodiff/gradcheck.js';
import { maxRelativeError, numericGradient } from '../../src/autodiff/numeric.js';
import { sparseConvReference } from '../../src/kernels/sparse/conv.reference.js';
import { buildStridedMap, buildSubmanifoldMap, buildTransposedMap } from '../../src/kernels/sparse/kernel-map.reference.js';
import {
  addReference,
  avgPoolReference,
  batchNormReference,
  concatReference,
  crossEntropyReference,
  globalAvgPoolReference,
  leakyReluReference,
  linearReference,
  maxPoolReference,
  reluReference,
} from '../../src/kernels/sparse/ops.reference.js';
import { batchEvents, randomFeats, randomWalk, rng } from './sparse-data.js';

function host(shape: number[], data: Float64Array): HostTensor {
  return { shape, data };
}

function referenceError<A>(ref: ReferenceOp<A>, inputs: HostTensor[], attrs: A, seed: number): number {
  const r = rng(seed);
  const y = ref.forward(inputs, attrs);
  const probe = randomFeats(r, y.data.length, 1);
  const f = (xs: Float64Array[]): number => {
    const out = ref.forward(xs.map((data, i) => host([...inputs[i]!.shape], data)), attrs).data;
    let s = 0;
    for (let i = 0; i < out.length; i++) s += out[i]! * probe[i]!;
    return s;
  };
  const numeric = numericGradient(f, inputs.map((t) => Float64Array.from(t.data)));
  const analytic = ref.backward(inputs, host([...y.shape], probe), attrs);
  expect(analytic.length).toBe(inputs.length);
  return Math.max(...numeric.map((g, i) => maxRelativeError(analytic[i]!, g, 1e-8)));
}

describe('ReferenceOp adapters', () => {
  const r = rng(1);
  const coords = batchEvents([randomWalk(r, 3, 64, 40), new Int32Array(0), randomWalk(r, 3, 64, 20)], 3);
  const n = coords.length / 4;

  it('sparseConvReference: submanifold with and without bias, strided, transposed', () => {
    const map = buildSubmanifoldMap(coords, 3, 3);
    const feats = host([n, 2], randomFeats(r, n, 2));
    const w = host([27, 2, 3], randomFeats(r, 27 * 6, 1));
    const b = host([3], randomFeats(r, 3, 1));
    const attrs = { map, inChannels: 2, outChannels: 3 };
    expect(sparseConvReference.forward([feats, w, b], attrs).shape).toEqual([n, 3]);
    expect(referenceError(sparseConvReference, [feats, w, b], attrs, 2)).toBeLessThan(1e-6);
    expect(referenceError(sparseConvReference, [feats, w], attrs, 3)).toBeLessThan(1e-6);
    const { map: down, outCoords } = buildStridedMap(coords, 3, 2, 2);
    const w8 = host([8, 2, 3], randomFeats(r, 8 * 6, 1));
    expect(referenceError(sparseConvReference, [feats, w8], { map: down, inChannels: 2, outChannels: 3 }, 4)).toBeLessThan(1e-6);
    const up = buildTransposedMap(outCoords, coords, 3, 2, 2);
    const coarse = host([up.numIn, 3], randomFeats(r, up.numIn * 3, 1));
    const w8t = host([8, 3, 2], randomFeats(r, 8 * 6, 1));
    expect(referenceError(sparseConvReference, [coarse, w8t], { map: up, inChannels: 3, outChannels: 2 }, 5)).toBeLessThan(1e-6);
  });

  it('pointwise and pooling adapters', () => {
    const x = host([n, 3], randomFeats(r, n, 3).map((v) => (Math.abs(v) < 0.05 ? v + 0.1 : v)));
    const x2 = host([n, 2], randomFeats(r, n, 2));
    const gamma = host([3], randomFeats(r, 3, 1));
    const beta = host([3], randomFeats(r, 3, 1));
    expect(referenceError(batchNormReference, [x, gamma, beta], { training: true }, 6)).toBeLessThan(1e-6);
    expect(referenceError(batchNormReference, [x, gamma, beta], { training: false, runningMean: new Float64Array(3), runningVar: Float64Array.of(1, 2, 3) }, 7)).toBeLessThan(1e-6);
    expect(referenceError(reluReference, [x], null, 8)).toBeLessThan(1e-6);
    expect(referenceError(leakyReluReference, [x], { slope: 0.1 }, 9)).toBeLessThan(1e-6);
    expect(referenceError(addReference, [x, host([n, 3], randomFeats(r, n, 3))], null, 10)).toBeLessThan(1e-6);
    expect(referenceError(concatReference, [x, x2], null, 11)).toBeLessThan(1e-6);
    const { map } = buildStridedMap(coords, 3, 2, 2);
    const distinct = host([n, 3], x.data.map((v, i) => v + i * 1e-3));
    expect(referenceError(maxPoolReference, [distinct], { map }, 12)).toBeLessThan(1e-6);
    expect(referenceError(avgPoolReference, [x], { map }, 13)).toBeLessThan(1e-6);
    expect(referenceError(avgPoolReference, [x], { map, divisor: 'volume' }, 14)).toBeLessThan(1e-6);
    expect(referenceError(globalAvgPoolReference, [x], { coords, dim: 3, batchSize: 3 }, 15)).toBeLessThan(1e-6);
    const w = host([3, 4], randomFeats(r, 12, 1));
    expect(referenceError(linearReference, [x, w, host([4], randomFeats(r, 4, 1))], null, 16)).toBeLessThan(1e-6);
    const labels = Int32Array.from({ length: n }, (_, i) => i % 3);
    const ce = { labels, classWeights: Float64Array.of(1, 2, 0.5) };
    expect(crossEntropyReference.forward([x], ce).shape).toEqual([1]);
    expect(referenceError(crossEntropyReference, [x], ce, 17)).toBeLessThan(1e-6);
  });
});
