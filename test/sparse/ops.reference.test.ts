import { describe, expect, it } from 'vitest';
import { InputValueError, ShapeError } from '../../src/errors.js';
import { buildStridedMap } from '../../src/kernels/sparse/kernel-map.reference.js';
import {
  addSameCoords,
  avgPoolBackward,
  avgPoolForward,
  batchNormBackward,
  batchNormForward,
  concatBackward,
  concatFeatures,
  globalAvgPoolBackward,
  globalAvgPoolForward,
  leakyReluBackward,
  leakyReluForward,
  linearBackward,
  linearForward,
  maxPoolBackward,
  maxPoolForward,
  reluBackward,
  reluForward,
  softmaxCrossEntropyBackward,
  softmaxCrossEntropyForward,
} from '../../src/kernels/sparse/ops.reference.js';
import { batchEvents, dot, expectGradients, randomFeats, randomWalk, rng, straightTrack } from './sparse-data.js';

/** Values bounded away from 0 so kinks (ReLU) are not probed by central differences. */
function awayFromZero(x: Float64Array): Float64Array {
  return x.map((v) => (Math.abs(v) < 0.05 ? v + 0.1 : v));
}

describe('BatchNorm over active sites', () => {
  const n = 9;
  const c = 3;

  it('training: batch stats (biased) normalise; running stats use momentum and the unbiased variance', () => {
    const r = rng(1);
    const x = randomFeats(r, n, c);
    const gamma = Float64Array.from([1.5, -0.5, 2]);
    const beta = Float64Array.from([0.1, 0.2, -0.3]);
    const rm = Float64Array.from([0.5, 0, -1]);
    const rv = Float64Array.from([2, 1, 0.5]);
    const res = batchNormForward(x, n, c, gamma, beta, { training: true, eps: 1e-3, momentum: 0.2, runningMean: rm, runningVar: rv });
    for (let ch = 0; ch < c; ch++) {
      const col = Array.from({ length: n }, (_, i) => x[i * c + ch]!);
      const mean = col.reduce((s, v) => s + v, 0) / n;
      const ss = col.reduce((s, v) => s + (v - mean) ** 2, 0);
      for (let i = 0; i < n; i++) {
        const want = (gamma[ch]! * (col[i]! - mean)) / Math.sqrt(ss / n + 1e-3) + beta[ch]!;
        expect(res.out[i * c + ch]).toBeCloseTo(want, 12);
      }
      expect(res.runningMean[ch]).toBeCloseTo(0.8 * rm[ch]! + 0.2 * mean, 12);
      expect(res.runningVar[ch]).toBeCloseTo(0.8 * rv[ch]! + 0.2 * (ss / (n - 1)), 12);
    }
    // Inputs are not mutated.
    expect(Array.from(rm)).toEqual([0.5, 0, -1]);
  });

  it('eval: uses running statistics', () => {
    const x = Float64Array.from([1, 2, 3, 4]);
    const res = batchNormForward(x, 2, 2, null, null, { training: false, eps: 0, runningMean: Float64Array.from([1, 1]), runningVar: Float64Array.from([4, 1]) });
    expect(Array.from(res.out)).toEqual([0, 1, 1, 3]);
    expect(() => batchNormForward(x, 2, 2, null, null, { training: false })).toThrow(/runningMean/);
  });

  it.each([true, false])('gradcheck, training = %s', (training) => {
    const r = rng(training ? 2 : 3);
    const x = randomFeats(r, n, c);
    const gamma = randomFeats(r, c, 1);
    const beta = randomFeats(r, c, 1);
    const gradOut = randomFeats(r, n, c);
    const opts = { training, eps: 1e-2, runningMean: randomFeats(r, c, 1), runningVar: Float64Array.from([0.5, 1, 2]) };
    const f = ([xx, g, b]: Float64Array[]): number => dot(batchNormForward(xx!, n, c, g!, b!, opts).out, gradOut);
    const fwd = batchNormForward(x, n, c, gamma, beta, opts);
    const g = batchNormBackward(x, gradOut, n, c, gamma, fwd);
    expectGradients(f, [x, gamma, beta], [g.gradX, g.gradGamma, g.gradBeta]);
  });

  it('rejects training on fewer than 2 sites and bad parameters', () => {
    expect(() => batchNormForward(new Float64Array(3), 1, 3, null, null, { training: true })).toThrow(InputValueError);
    expect(() => batchNormForward(new Float64Array(3), 1, 3, null, null, { training: true })).toThrow(/n = 1.*at least 2/);
    expect(() => batchNormForward(new Float64Array(6), 2, 3, new Float64Array(2), null, { training: true })).toThrow(ShapeError);
    expect(() => batchNormForward(new Float64Array(6), 2, 3, null, null, { training: true, momentum: 2 })).toThrow(/momentum/);
  });
});

describe('activations, add, concat', () => {
  it('ReLU and LeakyReLU forward/backward and gradcheck', () => {
    const r = rng(4);
    const x = awayFromZero(randomFeats(r, 20, 3));
    const g = randomFeats(r, 20, 3);
    expect(Array.from(reluForward(Float64Array.from([-1, 0, 2])))).toEqual([0, 0, 2]);
    expect(Array.from(reluBackward(Float64Array.from([-1, 0, 2]), Float64Array.from([5, 5, 5])))).toEqual([0, 0, 5]);
    expect(Array.from(leakyReluForward(Float64Array.from([-1, 2]), 0.1))).toEqual([-0.1, 2]);
    expect(Array.from(leakyReluBackward(Float64Array.from([-1, 0, 2]), Float64Array.from([1, 1, 1]), 0.1))).toEqual([0.1, 0.1, 1]);
    expectGradients(([v]) => dot(reluForward(v!), g), [x], [reluBackward(x, g)]);
    expectGradients(([v]) => dot(leakyReluForward(v!, 0.2), g), [x], [leakyReluBackward(x, g, 0.2)]);
  });

  it('add on the same coords (gradient: both inputs get gradOut) and rejects differing rows', () => {
    const r = rng(5);
    const coords = randomWalk(r, 3, 64, 50);
    const n = coords.length / 4;
    const a = randomFeats(r, n, 2);
    const b = randomFeats(r, n, 2);
    const g = randomFeats(r, n, 2);
    expectGradients(([p, q]) => dot(addSameCoords(coords, p!, coords, q!, 3, 2), g), [a, b], [g, g]);
    const other = coords.slice();
    other[4 * 3 + 2]! += 100;
    expect(() => addSameCoords(coords, a, other, b, 3, 2)).toThrow(InputValueError);
    expect(() => addSameCoords(coords, a, other, b, 3, 2)).toThrow(/row 3 differs/);
    expect(() => addSameCoords(coords, a, coords.subarray(4), b, 3, 2)).toThrow(ShapeError);
  });

  it('concat forward/backward gradcheck', () => {
    const r = rng(6);
    const a = randomFeats(r, 7, 2);
    const b = randomFeats(r, 7, 3);
    const g = randomFeats(r, 7, 5);
    const out = concatFeatures(a, 2, b, 3, 7);
    expect(Array.from(out.subarray(5, 10))).toEqual([...a.subarray(2, 4), ...b.subarray(3, 6)]);
    const back = concatBackward(g, 2, 3, 7);
    expectGradients(([p, q]) => dot(concatFeatures(p!, 2, q!, 3, 7), g), [a, b], [back.gradA, back.gradB]);
  });
});

describe('pooling', () => {
  it.each([2, 3] as const)('max pool (kernel 2 stride 2) gradcheck, dim %i', (dim) => {
    const r = rng(10 + dim);
    const coords = batchEvents([randomWalk(r, dim, 64, 60), new Int32Array(0), straightTrack(r, dim, 64, 20)], dim);
    const { map } = buildStridedMap(coords, dim, 2, 2);
    // Distinct values so the max is unique and differentiable.
    const x = randomFeats(r, map.numIn, 3).map((v, i) => v + i * 1e-3);
    const g = randomFeats(r, map.numOut, 3);
    const { argmax } = maxPoolForward(x, map, 3);
    expectGradients(([v]) => dot(maxPoolForward(v!, map, 3).out, g), [x], [maxPoolBackward(g, argmax, map.numIn, 3)]);
  });

  it('max pool ties: the lowest input row wins', () => {
    // Rows 0..3 all fall in output (0, 0); rows 1 and 3 tie on channel 0, rows 0 and 2 on channel 1.
    const coords = Int32Array.from([0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
    const { map } = buildStridedMap(coords, 2, 2, 2);
    const x = Float64Array.from([1, 7, 5, 2, 3, 7, 5, 0]);
    const { out, argmax } = maxPoolForward(x, map, 2);
    expect(Array.from(out)).toEqual([5, 7]);
    expect(Array.from(argmax)).toEqual([1, 0]);
    expect(Array.from(maxPoolBackward(Float64Array.from([1, 1]), argmax, 4, 2))).toEqual([0, 1, 1, 0, 0, 0, 0, 0]);
  });

  it.each(['active', 'volume'] as const)('average pool gradcheck, divisor %s', (divisor) => {
    const r = rng(20);
    const coords = randomWalk(r, 3, 64, 60);
    const { map } = buildStridedMap(coords, 3, 2, 2);
    const x = randomFeats(r, map.numIn, 2);
    const g = randomFeats(r, map.numOut, 2);
    const fwd = avgPoolForward(x, map, 2, divisor);
    expectGradients(([v]) => dot(avgPoolForward(v!, map, 2, divisor).out, g), [x], [avgPoolBackward(g, map, 2, fwd.divisor)]);
    if (divisor === 'volume') expect(fwd.divisor.every((d) => d === 8)).toBe(true);
  });

  it('average pool values: mean over active inputs, or over the kernel volume', () => {
    const coords = Int32Array.from([0, 0, 0, 0, 1, 1, 0, 5, 5]);
    const { map } = buildStridedMap(coords, 2, 2, 2);
    const x = Float64Array.from([2, 4, 6]);
    expect(Array.from(avgPoolForward(x, map, 1, 'active').out)).toEqual([3, 6]);
    expect(Array.from(avgPoolForward(x, map, 1, 'volume').out)).toEqual([1.5, 1.5]);
  });

  it('global average pool per batch item, empty events give 0, gradcheck', () => {
    const r = rng(30);
    const coords = batchEvents([randomWalk(r, 3, 64, 30), new Int32Array(0), straightTrack(r, 3, 64, 10)], 3);
    const n = coords.length / 4;
    const x = randomFeats(r, n, 2);
    const { out, counts } = globalAvgPoolForward(coords, x, 3, 2, 4);
    expect(counts[1]).toBe(0);
    expect(counts[3]).toBe(0);
    expect(Array.from(out.subarray(2, 4))).toEqual([0, 0]);
    const n0 = counts[0]!;
    let s = 0;
    for (let i = 0; i < n0; i++) s += x[2 * i]!;
    expect(out[0]).toBeCloseTo(s / n0, 12);
    const g = randomFeats(r, 4, 2);
    expectGradients(([v]) => dot(globalAvgPoolForward(coords, v!, 3, 2, 4).out, g), [x], [globalAvgPoolBackward(g, coords, 3, 2, counts)]);
    expect(() => globalAvgPoolForward(coords, x, 3, 2, 2)).toThrow(/batchSize = 2.*batch index 2/);
    expect(globalAvgPoolForward(new Int32Array(0), new Float64Array(0), 3, 2).out.length).toBe(0);
  });
});

describe('linear', () => {
  it('forward equals x @ W + b; gradcheck', () => {
    const r = rng(40);
    const x = randomFeats(r, 6, 3);
    const w = randomFeats(r, 3, 4);
    const b = randomFeats(r, 4, 1);
    const g = randomFeats(r, 6, 4);
    const out = linearForward(x, 6, 3, 4, w, b);
    expect(out[4 * 2 + 1]).toBeCloseTo(b[1]! + x[6]! * w[1]! + x[7]! * w[5]! + x[8]! * w[9]!, 12);
    const back = linearBackward(x, g, 6, 3, 4, w);
    expectGradients(([xx, ww, bb]) => dot(linearForward(xx!, 6, 3, 4, ww!, bb!), g), [x, w, b], [back.gradX, back.gradWeight, back.gradBias]);
    expect(() => linearForward(x, 6, 3, 4, new Float64Array(5), null)).toThrow(ShapeError);
  });
});

describe('softmax cross-entropy', () => {
  const n = 8;
  const c = 4;

  it('unweighted mean equals mean of −log softmax[y]', () => {
    const r = rng(50);
    const logits = randomFeats(r, n, c).map((v) => 3 * v);
    const labels = Int32Array.from({ length: n }, (_, i) => i % c);
    let s = 0;
    for (let i = 0; i < n; i++) {
      const row = Array.from(logits.subarray(i * c, (i + 1) * c));
      s += Math.log(row.reduce((a, v) => a + Math.exp(v), 0)) - row[labels[i]!]!;
    }
    expect(softmaxCrossEntropyForward(logits, labels, n, c).loss).toBeCloseTo(s / n, 12);
  });

  it('weighted mean is Σ w_y·nll / Σ w_y (PyTorch), ignoreIndex rows excluded', () => {
    const logits = Float64Array.from([0, 0, 0, 0, 0, 0, Math.log(2), 0, 0]);
    const labels = Int32Array.from([0, 1, -100]);
    const w = Float64Array.from([1, 3, 5]);
    const nll = Math.log(3);
    const res = softmaxCrossEntropyForward(logits, labels, 3, 3, { classWeights: w });
    expect(res.weightSum).toBe(4);
    expect(res.loss).toBeCloseTo((1 * nll + 3 * nll) / 4, 12);
  });

  it.each([false, true])('gradcheck, class weights %s, with ignored rows', (weighted) => {
    const r = rng(weighted ? 51 : 52);
    const logits = randomFeats(r, n, c).map((v) => 2 * v);
    const labels = Int32Array.from({ length: n }, (_, i) => (i === 3 ? 7 : (i * 3) % c));
    const opts = weighted ? { classWeights: Float64Array.from([0.5, 2, 1, 3]), ignoreIndex: 7 } : { ignoreIndex: 7 };
    const grad = softmaxCrossEntropyBackward(logits, labels, n, c, opts, 1.7);
    expectGradients(([v]) => 1.7 * softmaxCrossEntropyForward(v!, labels, n, c, opts).loss, [logits], [grad]);
    expect(Array.from(grad.subarray(3 * c, 4 * c))).toEqual([0, 0, 0, 0]);
  });

  it('rejects labels outside 0..C-1 naming the row, and a wrong weight length', () => {
    const logits = new Float64Array(2 * 3);
    expect(() => softmaxCrossEntropyForward(logits, Int32Array.from([0, 3]), 2, 3)).toThrow(InputValueError);
    expect(() => softmaxCrossEntropyForward(logits, Int32Array.from([0, 3]), 2, 3)).toThrow(/labels\[1\] = 3/);
    expect(() => softmaxCrossEntropyForward(logits, Int32Array.from([0, 1]), 2, 3, { classWeights: new Float64Array(2) })).toThrow(ShapeError);
    expect(() => softmaxCrossEntropyForward(logits, Int32Array.from([0]), 2, 3)).toThrow(/labels must be an Int32Array \[N\] = \[2\]/);
  });

  it('is NaN (0/0, as PyTorch) when every row is ignored', () => {
    const res = softmaxCrossEntropyForward(new Float64Array(4), Int32Array.from([-100, -100]), 2, 2);
    expect(res.loss).toBeNaN();
  });
});
