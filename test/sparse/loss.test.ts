import { describe, expect, it } from 'vitest';
import { DTypeError, InputValueError, ShapeError, backward, gradcheck, maxRelativeError, seededRandom, tensor } from '../../src/index.js';
import { crossEntropyReference, softmaxCrossEntropyBackward, softmaxCrossEntropyForward } from '../../src/kernels/sparse/ops.reference.js';
import { sparseCrossEntropy } from '../../src/kernels/sparse/loss.js';
import { CoordinateSet, SparseTensor } from '../../src/kernels/sparse/sparse-tensor.js';
import { randomArray, testGpu } from '../helpers/gpu.js';
import { batchedCoords, bits } from './ops-helpers.js';

const rand = seededRandom(41);

function randomLabels(n: number, c: number, ignoreEvery = 0, ignoreIndex = -100): Int32Array {
  return Int32Array.from({ length: n }, (_, r) => (ignoreEvery && r % ignoreEvery === 0 ? ignoreIndex : Math.floor(rand() * c)));
}

describe('sparse softmax cross-entropy (GPU)', () => {
  for (const [classes, weighted, ignoreIndex] of [[1, false, -100], [5, true, -100], [13, false, 3], [256, true, -1]] as const) {
    it(`C = ${classes}, ${weighted ? 'class weights' : 'unweighted'}, ignoreIndex ${ignoreIndex}: forward/backward match float64; gradcheck passes`, async () => {
      const ctx = await testGpu();
      const coords = batchedCoords(classes, 3, 2, 5, 0.2);
      const set = new CoordinateSet(ctx, 3, coords);
      const n = set.n;
      const labels = randomLabels(n, classes, 4, ignoreIndex);
      const classWeights = weighted ? Float64Array.from(randomArray(rand, classes, 0.2, 2), Math.fround) : undefined;
      const attrs = { labels, ignoreIndex, ...(classWeights ? { classWeights } : {}) };
      const r = await gradcheck({
        ctx,
        gpu: ([x]) => sparseCrossEntropy(new SparseTensor(set, x!), labels, { ignoreIndex, ...(classWeights ? { classWeights } : {}) }),
        reference: crossEntropyReference,
        inputs: [{ shape: [n, classes], data: randomArray(rand, n * classes, -4, 4) }],
        attrs,
        // Row log-sum-exp over ≤ 256 terms and two tree sums over N rows, in f32.
        tolerance: { forward: 1e-5, gpu: 1e-4 },
      });
      expect(r).toMatchObject({ passed: true });
      set.dispose();
    });
  }

  it('labels and class weights as GPU tensors; caller tensors survive backward', async () => {
    const ctx = await testGpu();
    const coords = batchedCoords(3, 2, 2, 8, 0.3);
    const set = new CoordinateSet(ctx, 2, coords);
    const n = set.n;
    const c = 4;
    const xh = Float64Array.from(randomArray(rand, n * c, -3, 3), Math.fround);
    const labels = randomLabels(n, c, 5);
    const wh = Float64Array.from([0.5, 1, 2, 0.25]);
    const labelsT = tensor(ctx, labels, [n], { dtype: 'i32' });
    const weightsT = tensor(ctx, Float32Array.from(wh), [c]);
    await ctx.scope(async () => {
      const x = new SparseTensor(set, tensor(ctx, Float32Array.from(xh), [n, c], { requiresGrad: true }));
      const loss = sparseCrossEntropy(x, labelsT, { classWeights: weightsT });
      backward(loss);
      const ref = softmaxCrossEntropyForward(xh, labels, n, c, { classWeights: wh });
      expect(Math.abs((await loss.read())[0]! - ref.loss)).toBeLessThan(1e-5 * Math.abs(ref.loss));
      const g = softmaxCrossEntropyBackward(xh, labels, n, c, { classWeights: wh });
      expect(maxRelativeError(await x.feats.grad!.readF64(), g)).toBeLessThan(1e-5);
    });
    expect(labelsT.disposed).toBe(false);
    expect(weightsT.disposed).toBe(false);
    labelsT.dispose();
    weightsT.dispose();
    set.dispose();
  });

  it('is numerically stable for huge logits (max subtraction)', async () => {
    const ctx = await testGpu();
    const set = new CoordinateSet(ctx, 2, Int32Array.from([0, 0, 0, 0, 0, 1, 0, 1, 0]));
    const xh = Float64Array.from([1e4, 0, -1e4, 200, 100, 100.5, -3e4, -3e4 + 1, -3e4 + 2]);
    const labels = Int32Array.from([0, 1, 2]);
    await ctx.scope(async () => {
      const x = new SparseTensor(set, tensor(ctx, Float32Array.from(xh), [3, 3], { requiresGrad: true }));
      const loss = sparseCrossEntropy(x, labels);
      backward(loss);
      const ref = softmaxCrossEntropyForward(xh, labels, 3, 3);
      const got = (await loss.read())[0]!;
      expect(Number.isFinite(got)).toBe(true);
      expect(Math.abs(got - ref.loss)).toBeLessThan(1e-5 * Math.abs(ref.loss));
      const g = await x.feats.grad!.readF64();
      expect(g.every(Number.isFinite)).toBe(true);
      expect(maxRelativeError(g, softmaxCrossEntropyBackward(xh, labels, 3, 3))).toBeLessThan(1e-5);
    });
    set.dispose();
  });

  it('NaN when nothing is counted (N = 0, or every label ignored), as PyTorch; gradients are 0', async () => {
    const ctx = await testGpu();
    const empty = new CoordinateSet(ctx, 3, new Int32Array(0));
    const set = new CoordinateSet(ctx, 2, Int32Array.from([0, 0, 0, 0, 0, 1]));
    await ctx.scope(async () => {
      const e = new SparseTensor(empty, tensor(ctx, new Float32Array(0), [0, 3], { requiresGrad: true }));
      const l0 = sparseCrossEntropy(e, new Int32Array(0));
      expect(Number.isNaN((await l0.read())[0])).toBe(true);
      backward(l0);
      expect(e.feats.grad!.shape).toEqual([0, 3]);
      const x = new SparseTensor(set, tensor(ctx, [1, 2, 3, 4], [2, 2], { requiresGrad: true }));
      const l1 = sparseCrossEntropy(x, Int32Array.from([-100, -100]));
      expect(Number.isNaN((await l1.read())[0])).toBe(true);
      backward(l1);
      expect(Array.from(await x.feats.grad!.read())).toEqual([0, 0, 0, 0]);
    });
    empty.dispose();
    set.dispose();
  });

  it('a GPU label out of range poisons the loss with NaN instead of reading out of bounds', async () => {
    const ctx = await testGpu();
    const set = new CoordinateSet(ctx, 2, Int32Array.from([0, 0, 0, 0, 0, 1]));
    await ctx.scope(async () => {
      const x = new SparseTensor(set, tensor(ctx, [1, 2, 3, 4], [2, 2]));
      const loss = sparseCrossEntropy(x, tensor(ctx, Int32Array.from([0, 7]), [2], { dtype: 'i32' }));
      expect(Number.isNaN((await loss.read())[0])).toBe(true);
    });
    set.dispose();
  });

  it('is bitwise deterministic and frees everything', async () => {
    const ctx = await testGpu();
    await ctx.sync();
    const before = ctx.stats().liveBytes;
    const coords = batchedCoords(8, 3, 3, 20, 0.2); // ~5000 rows: multi-tile row sums
    const set = new CoordinateSet(ctx, 3, coords);
    const n = set.n;
    const c = 7;
    const x = tensor(ctx, Float32Array.from(randomArray(rand, n * c, -5, 5)), [n, c], { requiresGrad: true });
    const labels = randomLabels(n, c, 9);
    const run = () =>
      ctx.scope(async () => {
        const loss = sparseCrossEntropy(new SparseTensor(set, x), labels, { classWeights: [1, 2, 3, 0.5, 1, 1, 4] });
        backward(loss);
        const r = [await bits(loss), await bits(x.grad!)];
        x.grad!.dispose();
        x.grad = null;
        return r;
      });
    expect(await run()).toEqual(await run());
    x.dispose();
    set.dispose();
    await ctx.sync();
    expect(ctx.stats().liveBytes).toBe(before);
  });

  describe('bad input', () => {
    it('wrong label dtype / shape, labels out of range, class-weight length mismatch are typed errors', async () => {
      const ctx = await testGpu();
      const set = new CoordinateSet(ctx, 2, Int32Array.from([0, 0, 0, 0, 0, 1, 0, 1, 1]));
      const x = new SparseTensor(set, tensor(ctx, new Float32Array(9), [3, 3]));
      expect(() => sparseCrossEntropy(x, Float32Array.from([0, 1, 2]) as unknown as Int32Array)).toThrow(DTypeError);
      expect(() => sparseCrossEntropy(x, Float32Array.from([0, 1, 2]) as unknown as Int32Array)).toThrow(/labels must be an Int32Array or an i32 Tensor \[3\]; got Float32Array/);
      expect(() => sparseCrossEntropy(x, tensor(ctx, [0, 1, 2], [3]))).toThrow(/labels has dtype f32, expected i32 \[3\]/);
      expect(() => sparseCrossEntropy(x, Int32Array.from([0, 1]))).toThrow(ShapeError);
      expect(() => sparseCrossEntropy(x, Int32Array.from([0, 1]))).toThrow(/labels has 2 entries but logits has 3 sites/);
      expect(() => sparseCrossEntropy(x, tensor(ctx, Int32Array.from([0, 1, 2, 0]), [2, 2], { dtype: 'i32' }))).toThrow(/labels has shape \[2, 2\]/);
      expect(() => sparseCrossEntropy(x, Int32Array.from([0, 3, 1]))).toThrow(InputValueError);
      expect(() => sparseCrossEntropy(x, Int32Array.from([0, 3, 1]))).toThrow(/labels\[1\] = 3 is not a class in 0..2 nor ignoreIndex \(-100\)/);
      expect(() => sparseCrossEntropy(x, Int32Array.from([0, -1, 1]))).toThrow(/labels\[1\] = -1/);
      expect(sparseCrossEntropy(x, Int32Array.from([0, -1, 1]), { ignoreIndex: -1 }).shape).toEqual([1]);
      expect(() => sparseCrossEntropy(x, Int32Array.from([0, 1, 2]), { classWeights: [1, 2] })).toThrow(ShapeError);
      expect(() => sparseCrossEntropy(x, Int32Array.from([0, 1, 2]), { classWeights: [1, 2] })).toThrow(/classWeights has 2 entries but logits has 3 classes/);
      expect(() => sparseCrossEntropy(x, Int32Array.from([0, 1, 2]), { classWeights: tensor(ctx, [1, 2, 3, 4]) })).toThrow(/classWeights has shape \[4\] but logits has 3 classes/);
      expect(() => sparseCrossEntropy(x, Int32Array.from([0, 1, 2]), { classWeights: [1, -2, 3] })).toThrow(/classWeights\[1\] = -2/);
      expect(() => sparseCrossEntropy(x, Int32Array.from([0, 1, 2]), { ignoreIndex: 0.5 })).toThrow(/ignoreIndex = 0.5/);
      set.dispose();
    });
  });
});

describe('sparse cross-entropy with no counted row', () => {
  it("is NaN by default (PyTorch's 0/0) and 0 with zero gradients under emptyLoss: 'zero'; a bad emptyLoss is refused", async () => {
    const ctx = await testGpu();
    const set = new CoordinateSet(ctx, 3, batchedCoords(4, 3, 1, 4, 0.5));
    const n = set.n;
    const labels = new Int32Array(n); // all class 0, whose weight is 0
    const classWeights = [0, 1, 1, 1];
    const x = tensor(ctx, randomArray(rand, n * 4, -2, 2), [n, 4], { requiresGrad: true });
    const nan = sparseCrossEntropy(new SparseTensor(set, x), labels, { classWeights });
    expect(Number.isNaN((await nan.read())[0])).toBe(true);
    const zero = sparseCrossEntropy(new SparseTensor(set, x), labels, { classWeights, emptyLoss: 'zero' });
    backward(zero);
    expect(Array.from(await zero.read())).toEqual([0]);
    expect((await x.grad!.read()).every((g) => g === 0)).toBe(true);
    expect(() => sparseCrossEntropy(new SparseTensor(set, x), labels, { emptyLoss: 'skip' } as never)).toThrow(InputValueError);
    expect(() => sparseCrossEntropy(new SparseTensor(set, x), labels, { ignoreIdx: 3 } as never)).toThrow(/did you mean "ignoreIndex"/);
    nan.dispose();
    zero.dispose();
    x.dispose();
  });
});
