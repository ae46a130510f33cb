import { describe, expect, it } from 'vitest';
import { DTypeError, InputValueError, ShapeError, backward, createGpu, gradcheck, noGrad, seededRandom, sparseTensor, sum, tensor, type Tensor } from '../../src/index.js';
import {
  addReference,
  concatReference,
  leakyReluReference,
  linearReference,
  reluReference,
} from '../../src/kernels/sparse/ops.reference.js';
import { sparseAdd, sparseConcat, sparseLeakyRelu, sparseLinear, sparseRelu } from '../../src/kernels/sparse/ops.js';
import { SparseBatchNorm } from '../../src/kernels/sparse/batchnorm.js';
import { sparseAvgPool, sparseGlobalAvgPool, sparseMaxPool } from '../../src/kernels/sparse/pool.js';
import { sparseCrossEntropy } from '../../src/kernels/sparse/loss.js';
import { CoordinateSet, SparseTensor } from '../../src/kernels/sparse/sparse-tensor.js';
import { randomArray, testGpu } from '../helpers/gpu.js';
import { batchedCoords, bits } from './ops-helpers.js';

const rand = seededRandom(11);
const coords3 = batchedCoords(1, 3, 3, 5, 0.1); // a few dozen sites over 3 items (gradcheck cost grows as (N·C)²)
const n3 = coords3.length / 4;

/** Keeps central differences away from the kink of (leaky) ReLU at 0. */
function awayFromZero(d: Float64Array): Float64Array {
  return d.map((v) => (Math.abs(v) < 1e-2 ? 0.5 : v));
}

/** Tolerances: single products or sums of ≤ Cin = 67 terms in f32, relative to the largest magnitude. */
const TOL = { forward: 1e-5, gpu: 1e-4 };

describe('sparse site-preserving ops (GPU)', () => {
  it('sites are shared: relu, leakyRelu, add, concat, linear keep the coordinate set', async () => {
    const ctx = await testGpu();
    const set = new CoordinateSet(ctx, 3, coords3);
    const x = new SparseTensor(set, tensor(ctx, Float32Array.from(randomArray(rand, n3 * 5)), [n3, 5]));
    for (const y of [sparseRelu(x), sparseLeakyRelu(x, 0.2), sparseAdd(x, x), sparseConcat([x, x])]) expect(y.coords).toBe(set);
    set.dispose();
  });

  for (const channels of [1, 3, 67]) {
    it(`relu / leakyRelu / add / concat forward+backward match float64 (C = ${channels}); gradcheck passes`, async () => {
      const ctx = await testGpu();
      const set = new CoordinateSet(ctx, 3, coords3);
      const shape = [n3, channels];
      const host = () => ({ shape, data: awayFromZero(randomArray(rand, n3 * channels, -2, 2)) });
      const st = (t: Tensor) => new SparseTensor(set, t);
      const reports = [
        await gradcheck({ ctx, gpu: ([a]) => sparseRelu(st(a!)).feats, reference: reluReference, inputs: [host()], attrs: null, tolerance: TOL }),
        await gradcheck({
          ctx, gpu: ([a], { slope }) => sparseLeakyRelu(st(a!), slope).feats, reference: leakyReluReference,
          inputs: [host()], attrs: { slope: 0.07 }, tolerance: TOL,
        }),
        await gradcheck({ ctx, gpu: ([a, b]) => sparseAdd(st(a!), st(b!)).feats, reference: addReference, inputs: [host(), host()], attrs: null, tolerance: TOL }),
        await gradcheck({
          ctx, gpu: ([a, b]) => sparseConcat([st(a!), st(b!)]).feats, reference: concatReference,
          inputs: [host(), { shape: [n3, 2], data: randomArray(rand, n3 * 2) }], attrs: null, tolerance: TOL,
        }),
      ];
      for (const r of reports) expect(r).toMatchObject({ passed: true });
      set.dispose();
    });
  }

  for (const [cin, cout] of [[3, 5], [67, 13], [256, 4]] as const) {
    it(`linear [N, ${cin}] @ [${cin}, ${cout}] + bias matches float64; gradcheck passes for x, weight and bias`, async () => {
      const ctx = await testGpu();
      const set = new CoordinateSet(ctx, 3, coords3);
      const r = await gradcheck({
        ctx,
        gpu: ([x, w, b]) => sparseLinear(new SparseTensor(set, x!), w!, b!).feats,
        reference: linearReference,
        inputs: [
          { shape: [n3, cin], data: randomArray(rand, n3 * cin) },
          { shape: [cin, cout], data: randomArray(rand, cin * cout) },
          { shape: [cout], data: randomArray(rand, cout) },
        ],
        attrs: null,
        // dW sums N terms and dx sums Cout terms; f32 with ≤ 256 terms: ~256·2⁻²⁴ ≈ 2e-5 of Σ|terms|.
        tolerance: { forward: 1e-4, gpu: 1e-4 },
      });
      expect(r).toMatchObject({ passed: true });
      set.dispose();
    });
  }

  it('linear without bias, and concat of three with a middle input not requiring gradients', async () => {
    const ctx = await testGpu();
    const set = new CoordinateSet(ctx, 3, coords3);
    const xs = [4, 2, 3].map((c) => tensor(ctx, Float32Array.from(randomArray(rand, n3 * c)), [n3, c], { requiresGrad: c !== 2 }));
    const w = tensor(ctx, Float32Array.from(randomArray(rand, 9 * 2)), [9, 2], { requiresGrad: true });
    await ctx.scope(async () => {
      const cat = sparseConcat(xs.map((t) => new SparseTensor(set, t)));
      expect(cat.channels).toBe(9);
      const y = sparseLinear(cat, w);
      backward(sum(y.feats));
      // d/dx of Σ(x @ W) = row sums of W broadcast over rows, split by columns.
      const wh = Float64Array.from(await w.read());
      const rowSum = Array.from({ length: 9 }, (_, a) => wh[2 * a]! + wh[2 * a + 1]!);
      const g0 = await xs[0]!.grad!.read();
      const g2 = await xs[2]!.grad!.read();
      expect(xs[1]!.grad).toBeNull();
      for (let r = 0; r < n3; r++) {
        for (let c = 0; c < 4; c++) expect(g0[r * 4 + c]).toBeCloseTo(rowSum[c]!, 5);
        for (let c = 0; c < 3; c++) expect(g2[r * 3 + c]).toBeCloseTo(rowSum[6 + c]!, 5);
      }
    });
    for (const t of [...xs, w]) t.dispose();
    set.dispose();
  });

  it('empty tensors (N = 0) pass through every op', async () => {
    const ctx = await testGpu();
    const set = new CoordinateSet(ctx, 2, new Int32Array(0));
    const x = new SparseTensor(set, tensor(ctx, new Float32Array(0), [0, 5], { requiresGrad: true }));
    const w = tensor(ctx, Float32Array.from(randomArray(rand, 10 * 3)), [10, 3], { requiresGrad: true });
    const b = tensor(ctx, [1, 2, 3], [3], { requiresGrad: true });
    await ctx.scope(async () => {
      const y = sparseLinear(sparseConcat([sparseRelu(x), sparseLeakyRelu(sparseAdd(x, x))]), w, b);
      expect(y.feats.shape).toEqual([0, 3]);
      backward(sum(y.feats));
      expect(Array.from(await w.grad!.read())).toEqual(new Array(30).fill(0));
      expect(Array.from(await b.grad!.read())).toEqual([0, 0, 0]);
      expect(x.feats.grad!.shape).toEqual([0, 5]);
    });
    for (const t of [x.feats, w, b]) t.dispose();
    set.dispose();
  });

  it('is bitwise deterministic (linear with bias gradient over many rows)', async () => {
    const ctx = await testGpu();
    const coords = batchedCoords(5, 3, 4, 16, 0.2);
    const n = coords.length / 4;
    const set = new CoordinateSet(ctx, 3, coords);
    const x = tensor(ctx, Float32Array.from(randomArray(rand, n * 19)), [n, 19]);
    const w = tensor(ctx, Float32Array.from(randomArray(rand, 19 * 7)), [19, 7]);
    const b = tensor(ctx, Float32Array.from(randomArray(rand, 7)), [7], { requiresGrad: true });
    const run = async () =>
      ctx.scope(async () => {
        const y = sparseLinear(sparseRelu(new SparseTensor(set, x)), w, b);
        const g = tensor(ctx, Float32Array.from(randomArray(seededRandom(3), n * 7)), [n, 7]);
        backward(y.feats, g);
        const out = [await bits(y.feats), await bits(b.grad!)];
        b.grad!.dispose();
        b.grad = null;
        return out;
      });
    expect(await run()).toEqual(await run());
    for (const t of [x, w, b]) t.dispose();
    set.dispose();
  });

  it('frees everything: liveBytes returns to baseline after forward + backward', async () => {
    const ctx = await testGpu();
    await ctx.sync();
    const before = ctx.stats().liveBytes;
    const set = new CoordinateSet(ctx, 3, coords3);
    await ctx.scope(async () => {
      const x = new SparseTensor(set, tensor(ctx, Float32Array.from(randomArray(rand, n3 * 6)), [n3, 6], { requiresGrad: true }));
      const w = tensor(ctx, Float32Array.from(randomArray(rand, 12 * 4)), [12, 4], { requiresGrad: true });
      const b = tensor(ctx, [0, 0, 0, 0], [4], { requiresGrad: true });
      const y = sparseLinear(sparseConcat([sparseRelu(x), sparseLeakyRelu(sparseAdd(x, x))]), w, b);
      backward(sum(y.feats));
      await w.grad!.read();
    });
    set.dispose();
    expect(ctx.stats().liveBytes).toBe(before);
  });

  it('inference (noGrad) frees every intermediate: only the returned tensors stay live', async () => {
    const ctx = await testGpu();
    await ctx.sync();
    const before = ctx.stats().liveBytes;
    const set = new CoordinateSet(ctx, 3, coords3);
    const bn = new SparseBatchNorm(ctx, 6);
    const w = tensor(ctx, Float32Array.from(randomArray(rand, 12 * 4)), [12, 4]);
    const b = tensor(ctx, [0, 1, 0, 1], [4]);
    // No scope here: a scope would free leaked intermediates too and hide them.
    const x = new SparseTensor(set, tensor(ctx, Float32Array.from(randomArray(rand, n3 * 6)), [n3, 6]));
    const outs: Tensor[] = [x.feats];
    const keep = <T extends { feats: Tensor }>(t: T): T => (outs.push(t.feats), t);
    // bn's gamma and beta require gradients: noGrad() stops the tape from keeping saved tensors.
    noGrad(() => {
      const h = keep(sparseConcat([keep(sparseRelu(keep(bn.forward(x)))), keep(sparseLeakyRelu(keep(bn.eval().forward(x))))]));
      const logits = keep(sparseLinear(keep(sparseAvgPool(keep(sparseMaxPool(h)))), w, b));
      const labels = Int32Array.from({ length: logits.n }, (_, r) => r % 4);
      outs.push(sparseCrossEntropy(logits, labels, { classWeights: [1, 2, 1, 2] }), sparseGlobalAvgPool(h));
    });
    await outs[outs.length - 1]!.read();
    for (const t of outs) t.dispose();
    bn.dispose();
    w.dispose();
    b.dispose();
    set.dispose();
    await ctx.sync();
    expect(ctx.stats().liveBytes).toBe(before);
  });

  describe('bad input', () => {
    it('add / concat on different coordinate sets is an InputValueError naming both sets', async () => {
      const ctx = await testGpu();
      const a = new CoordinateSet(ctx, 2, Int32Array.from([0, 1, 1, 0, 2, 2]));
      const b = new CoordinateSet(ctx, 2, Int32Array.from([0, 1, 1, 0, 2, 3]));
      const same = new CoordinateSet(ctx, 2, Int32Array.from([0, 1, 1, 0, 2, 2]));
      const c = new CoordinateSet(ctx, 2, Int32Array.from([0, 1, 1]));
      const f = (s: CoordinateSet, ch = 2) => new SparseTensor(s, tensor(ctx, new Float32Array(s.n * ch), [s.n, ch]));
      expect(() => sparseAdd(f(a), f(b))).toThrow(InputValueError);
      expect(() => sparseAdd(f(a), f(b))).toThrow(/different coordinate sets .*coordinate row 1 differs/);
      expect(() => sparseAdd(f(a), f(c))).toThrow(/a has 2 sites and b has 1/);
      expect(() => sparseConcat([f(a), f(b)])).toThrow(/xs\[1\] is on coordinate set/);
      // identical coordinates in another set object are accepted
      expect(sparseAdd(f(a), f(same)).coords).toBe(a);
      expect(() => sparseAdd(f(a, 2), f(same, 3))).toThrow(ShapeError);
      expect(() => sparseAdd(f(a, 2), f(same, 3))).toThrow(/a has 2 channels but b has 3/);
      for (const s of [a, b, same, c]) s.dispose();
    });

    it('linear with wrong weight / bias shapes or dtypes is a typed error naming the argument', async () => {
      const ctx = await testGpu();
      const s = new CoordinateSet(ctx, 2, Int32Array.from([0, 1, 1, 0, 2, 2]));
      const x = new SparseTensor(s, tensor(ctx, new Float32Array(6), [2, 3]));
      expect(() => sparseLinear(x, tensor(ctx, new Float32Array(8), [4, 2]))).toThrow(ShapeError);
      expect(() => sparseLinear(x, tensor(ctx, new Float32Array(8), [4, 2]))).toThrow(/weight has shape \[4, 2\] but x has 3 channels/);
      expect(() => sparseLinear(x, tensor(ctx, new Int32Array(6), [3, 2], { dtype: 'i32' }))).toThrow(DTypeError);
      expect(() => sparseLinear(x, tensor(ctx, new Float32Array(6), [3, 2]), tensor(ctx, [1, 2, 3]))).toThrow(/bias has shape \[3\] but the input has 2 channels/);
      expect(() => sparseConcat([])).toThrow(InputValueError);
      s.dispose();
    });
  });
});

describe('sparseTensor input checks', () => {
  it('refuses non-finite features (unless told not to check) and features from another context, freeing what it made', async () => {
    const ctx = await testGpu();
    await ctx.sync();
    const base = ctx.stats().liveBytes;
    const coords = Int32Array.of(0, 1, 1, 1, 0, 2, 1, 1);
    for (const bad of [NaN, Infinity, 1e39]) {
      expect(() => sparseTensor(ctx, coords, Float64Array.of(1, bad))).toThrow(InputValueError);
    }
    expect(() => sparseTensor(ctx, coords, Float64Array.of(1, NaN))).toThrow(/feats\[1\] \(site 1, channel 0\) = NaN; features must be finite/);
    const unchecked = sparseTensor(ctx, coords, Float32Array.of(1, NaN), { checkFinite: false });
    unchecked.feats.dispose();
    unchecked.coords.dispose();
    const other = await createGpu();
    try {
      const foreign = tensor(other, [1, 2], [2, 1]);
      expect(() => sparseTensor(ctx, coords, foreign)).toThrow(/feats live on another GpuContext/);
      foreign.dispose();
    } finally {
      await other.dispose();
    }
    expect(() => sparseTensor(ctx, coords, Float32Array.of(1, 2), { chanels: 1 } as never)).toThrow(/did you mean "channels"/);
    await ctx.sync();
    expect(ctx.stats().liveBytes).toBe(base);
  });

  it('a tensor on an existing coordinate set shares it; dispose() frees the features, and the set only when asked', async () => {
    const ctx = await testGpu();
    await ctx.sync();
    const base = ctx.stats().liveBytes;
    const coords = Int32Array.of(0, 1, 1, 1, 0, 2, 1, 1, 0, 2, 2, 1);
    const a = sparseTensor(ctx, coords, Float32Array.of(1, 2, 3));
    const b = sparseTensor(a.coords, Float32Array.of(4, 5, 6, 7, 8, 9), { channels: 2 });
    expect(b.coords).toBe(a.coords);
    expect([b.n, b.channels]).toEqual([3, 2]);
    expect(Array.from(await b.feats.read())).toEqual([4, 5, 6, 7, 8, 9]);
    expect(() => sparseTensor(a.coords, Float32Array.of(1, 2))).toThrow(ShapeError);
    expect(() => sparseTensor(a.coords, Float32Array.of(1, 2, 3), { dim: 3 } as never)).toThrow(/unknown option "dim"/);
    b.dispose();
    expect(b.feats.disposed).toBe(true);
    expect(a.coords.n).toBe(3); // the set is still usable
    a.dispose({ coordinates: true });
    expect(() => sparseTensor(a.coords, Float32Array.of(1, 2, 3))).toThrow(/used after dispose/);
    await ctx.sync();
    expect(ctx.stats().liveBytes).toBe(base);
  });
});

