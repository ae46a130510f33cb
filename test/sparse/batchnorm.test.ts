import { describe, expect, it } from 'vitest';
import { DisposedError, DTypeError, InputValueError, ShapeError, backward, gradcheck, seededRandom, sum, tensor, maxRelativeError } from '../../src/index.js';
import { batchNormBackward, batchNormForward, batchNormLeakyReluReference, batchNormReference, type BatchNormOptions } from '../../src/kernels/sparse/ops.reference.js';
import { SparseBatchNorm, sparseBatchNorm } from '../../src/kernels/sparse/batchnorm.js';
import { CoordinateSet, SparseTensor } from '../../src/kernels/sparse/sparse-tensor.js';
import { toF32Exact, type ReferenceOp } from '../../src/autodiff/gradcheck.js';
import { randomArray, testGpu } from '../helpers/gpu.js';
import { batchedCoords, bits } from './ops-helpers.js';

const rand = seededRandom(21);

describe('sparse BatchNorm (GPU)', () => {
  // slope null: plain BatchNorm; a number: fused BatchNorm → LeakyReLU (options.leakyRelu).
  const cases = [[true, 1, null], [true, 7, null], [false, 5, null], [true, 256, null], [true, 9, 0.33], [false, 4, 0.33], [true, 70, 0]] as const;
  for (const [training, channels, slope] of cases) {
    const what = slope === null ? '' : `fused LeakyReLU (slope ${slope}), `;
    it(`${what}${training ? 'training' : 'eval'} mode, C = ${channels}: forward and backward match float64; gradcheck passes`, async () => {
      const ctx = await testGpu();
      // gradcheck's central differences cost O((N·C)²): fewer sites for wide inputs.
      const coords = channels > 64 ? batchedCoords(2, 3, 2, 4, 0.15) : batchedCoords(2, 3, 2, 5, 0.2);
      const n = coords.length / 4;
      const set = new CoordinateSet(ctx, 3, coords);
      const rmHost = Float64Array.from(randomArray(rand, channels, -0.5, 0.5), Math.fround);
      const rvHost = Float64Array.from(randomArray(rand, channels, 0.5, 2), Math.fround);
      const rm = tensor(ctx, Float32Array.from(rmHost), [channels]);
      const rv = tensor(ctx, Float32Array.from(rvHost), [channels]);
      const attrs: BatchNormOptions = training
        ? { training, eps: 1e-3, momentum: 0.25, runningMean: rmHost, runningVar: rvHost }
        : { training, eps: 1e-3, runningMean: rmHost, runningVar: rvHost };
      const act = slope === null ? {} : { leakyRelu: slope };
      const reference: ReferenceOp<BatchNormOptions & { slope: number }> = slope === null ? batchNormReference : batchNormLeakyReluReference;
      const r = await gradcheck({
        ctx,
        gpu: ([x, g, b]) =>
          sparseBatchNorm(new SparseTensor(set, x!), g!, b!, { training, eps: 1e-3, momentum: 0.25, runningMean: rm, runningVar: rv, ...act }).out.feats,
        reference,
        inputs: [
          { shape: [n, channels], data: randomArray(rand, n * channels, -2, 3) },
          { shape: [channels], data: randomArray(rand, channels, 0.5, 1.5) },
          { shape: [channels], data: randomArray(rand, channels) },
        ],
        attrs: { ...attrs, slope: slope ?? 0 },
        // Per-channel sums of N ≈ 50 terms in f32, then a normalisation: ~1e-6 relative.
        tolerance: { forward: 1e-5, gpu: 1e-4 },
      });
      // Central differences across the LeakyReLU's kink cost a little more.
      expect(r.referenceError).toBeLessThan(slope === null ? 1e-6 : 1e-5);
      expect(r.forwardError).toBeLessThan(1e-5);
      expect(r.gpuError).toBeLessThan(1e-4);
      rm.dispose();
      rv.dispose();
      set.dispose();
    });
  }

  it('many chunks (N ≈ 300k rows, items > 16 per lane): statistics, fused output and gradients match float64; three dispatches each way', async () => {
    const ctx = await testGpu();
    const n = 300_000;
    const c = 5;
    const set = new CoordinateSet(ctx, 2, Int32Array.from({ length: 3 * n }, (_, i) => (i % 3 === 0 ? 0 : i % 3 === 1 ? Math.floor(i / 3) % 1000 : Math.floor(i / 3000))));
    // A large common offset tests the variance's cancellation: std 1 on a mean of 1,000.
    const xHost = Float64Array.from(randomArray(rand, n * c, -1.7, 1.7), (v) => Math.fround(1000 + v));
    const gHost = Float64Array.from(randomArray(rand, n * c), Math.fround);
    const gammaHost = Float64Array.of(1, 0.5, 2, -1, 1.5), betaHost = Float64Array.of(0, 0.1, -0.2, 0.3, 0);
    const x = tensor(ctx, Float32Array.from(xHost), [n, c], { requiresGrad: true });
    const gamma = tensor(ctx, Float32Array.from(gammaHost), [c], { requiresGrad: true });
    const beta = tensor(ctx, Float32Array.from(betaHost), [c], { requiresGrad: true });
    const g = tensor(ctx, Float32Array.from(gHost), [n, c]);
    await ctx.sync();
    const d0 = ctx.stats().dispatches;
    const out = sparseBatchNorm(new SparseTensor(set, x), gamma, beta, { training: true, leakyRelu: 0.1 }).out;
    const d1 = ctx.stats().dispatches;
    backward(out.feats, g);
    expect([d1 - d0, ctx.stats().dispatches - d1]).toEqual([3, 3 + 1]); // + the tape's copy of the seed gradient
    const attrs = { training: true, slope: 0.1 };
    const inputs = [{ shape: [n, c], data: xHost }, { shape: [c], data: gammaHost }, { shape: [c], data: betaHost }];
    const y = await out.feats.readF64();
    // x − mean is rounded to float32 around a mean of 1,000 (~6e-5 absolute on
    // unit-scale x̂), and the statistics are chunked sums of 300k terms
    // (~1e-6 relative).
    expect(maxRelativeError(y, batchNormLeakyReluReference.forward(inputs, attrs).data)).toBeLessThan(2e-4);
    // Sites with z within that rounding of 0 may take the other side of the
    // LeakyReLU than in float64; the reference takes the mask from the GPU's
    // output so that the gradient sums compare like with like.
    const gz = Float64Array.from(gHost, (v, i) => (y[i]! > 0 ? v : 0.1 * v));
    const [rdx, rdg, rdb] = batchNormReference.backward(inputs, { shape: [n, c], data: gz }, attrs);
    expect(maxRelativeError(await gamma.grad!.readF64(), rdg!)).toBeLessThan(2e-4);
    expect(maxRelativeError(await beta.grad!.readF64(), rdb!)).toBeLessThan(1e-5);
    expect(maxRelativeError(await x.grad!.readF64(), rdx!)).toBeLessThan(2e-4);
    for (const t of [x, gamma, beta, g, out.feats]) t.dispose();
    set.dispose();
  });

  it('training updates running stats as the reference (unbiased variance, PyTorch momentum); inputs are not mutated', async () => {
    const ctx = await testGpu();
    const coords = batchedCoords(3, 2, 3, 20, 0.3);
    const n = coords.length / 3;
    const c = 13;
    const set = new CoordinateSet(ctx, 2, coords);
    const x = toF32Exact({ shape: [n, c], data: randomArray(rand, n * c, -1, 4) }).data;
    const rmHost = Float64Array.from(randomArray(rand, c), Math.fround);
    const rvHost = Float64Array.from(randomArray(rand, c, 0.5, 2), Math.fround);
    const rm = tensor(ctx, Float32Array.from(rmHost), [c]);
    const rv = tensor(ctx, Float32Array.from(rvHost), [c]);
    const gamma = tensor(ctx, new Float32Array(c).fill(1), [c]);
    const beta = tensor(ctx, new Float32Array(c), [c]);
    const res = sparseBatchNorm(new SparseTensor(set, tensor(ctx, Float32Array.from(x), [n, c])), gamma, beta, {
      training: true, momentum: 0.3, runningMean: rm, runningVar: rv,
    });
    const ref = batchNormForward(x, n, c, null, null, { training: true, momentum: 0.3, runningMean: rmHost, runningVar: rvHost });
    expect(maxRelativeError(await res.runningMean!.readF64(), ref.runningMean)).toBeLessThan(1e-5);
    expect(maxRelativeError(await res.runningVar!.readF64(), ref.runningVar)).toBeLessThan(1e-5);
    expect(maxRelativeError(await res.out.feats.readF64(), ref.out)).toBeLessThan(1e-5);
    expect(Float64Array.from(await rm.read())).toEqual(rmHost);
    expect(Float64Array.from(await rv.read())).toEqual(rvHost);
    for (const t of [rm, rv, gamma, beta, res.runningMean!, res.runningVar!, res.out.feats]) t.dispose();
    set.dispose();
  });

  it('SparseBatchNorm module: trains gamma/beta, tracks running stats, eval uses them, no leaks', async () => {
    const ctx = await testGpu();
    await ctx.sync();
    const before = ctx.stats().liveBytes;
    const coords = batchedCoords(4, 3, 2, 6, 0.25);
    const n = coords.length / 4;
    const c = 6;
    const set = new CoordinateSet(ctx, 3, coords);
    const bn = new SparseBatchNorm(ctx, c, { momentum: 0.5 });
    let rmRef: Float64Array = new Float64Array(c);
    let rvRef: Float64Array = new Float64Array(c).fill(1);
    const xs = [0, 1].map(() => toF32Exact({ shape: [n, c], data: randomArray(rand, n * c, -2, 2) }).data);
    for (const xh of xs) {
      await ctx.scope(async () => {
        const x = new SparseTensor(set, tensor(ctx, Float32Array.from(xh), [n, c], { requiresGrad: true }));
        const y = bn.forward(x);
        const g = randomArray(rand, n * c);
        backward(y.feats, tensor(ctx, Float32Array.from(g), [n, c]));
        const fwd = batchNormForward(xh, n, c, new Float64Array(c).fill(1), new Float64Array(c), { training: true, momentum: 0.5, runningMean: rmRef, runningVar: rvRef });
        const bwd = batchNormBackward(xh, Float64Array.from(g, Math.fround), n, c, new Float64Array(c).fill(1), fwd);
        expect(maxRelativeError(await y.feats.readF64(), fwd.out)).toBeLessThan(1e-5);
        expect(maxRelativeError(await x.feats.grad!.readF64(), bwd.gradX)).toBeLessThan(1e-4);
        expect(maxRelativeError(await bn.gamma.grad!.readF64(), bwd.gradGamma)).toBeLessThan(1e-4);
        expect(maxRelativeError(await bn.beta.grad!.readF64(), bwd.gradBeta)).toBeLessThan(1e-4);
        rmRef = fwd.runningMean;
        rvRef = fwd.runningVar;
        for (const p of bn.parameters()) {
          p.grad?.dispose();
          p.grad = null;
        }
      });
    }
    expect(maxRelativeError(await bn.runningMean.readF64(), rmRef)).toBeLessThan(1e-5);
    expect(maxRelativeError(await bn.runningVar.readF64(), rvRef)).toBeLessThan(1e-5);
    bn.eval();
    await ctx.scope(async () => {
      const x = new SparseTensor(set, tensor(ctx, Float32Array.from(xs[0]!), [n, c]));
      const y = bn.forward(x);
      const ref = batchNormForward(xs[0]!, n, c, null, null, { training: false, runningMean: rmRef, runningVar: rvRef });
      expect(maxRelativeError(await y.feats.readF64(), ref.out)).toBeLessThan(1e-5);
      // eval does not touch the running statistics
      expect(maxRelativeError(await bn.runningMean.readF64(), rmRef)).toBeLessThan(1e-5);
    });
    bn.dispose();
    const probe = tensor(ctx, new Float32Array(n * c), [n, c]);
    expect(() => bn.forward(new SparseTensor(set, probe))).toThrow(DisposedError);
    probe.dispose();
    set.dispose();
    await ctx.sync();
    expect(ctx.stats().liveBytes).toBe(before);
  });

  it('eval mode on an empty tensor (N = 0), and bitwise determinism in training', async () => {
    const ctx = await testGpu();
    const empty = new CoordinateSet(ctx, 3, new Int32Array(0));
    const bn = new SparseBatchNorm(ctx, 3).eval();
    const y = bn.forward(new SparseTensor(empty, tensor(ctx, new Float32Array(0), [0, 3])));
    expect(y.feats.shape).toEqual([0, 3]);
    bn.dispose();
    empty.dispose();

    const coords = batchedCoords(6, 3, 3, 24, 0.2); // ~8000 rows: several chunks per column tile
    const n = coords.length / 4;
    const c = 37;
    const set = new CoordinateSet(ctx, 3, coords);
    const x = tensor(ctx, Float32Array.from(randomArray(rand, n * c, -3, 5)), [n, c], { requiresGrad: true });
    const gamma = tensor(ctx, Float32Array.from(randomArray(rand, c)), [c], { requiresGrad: true });
    const beta = tensor(ctx, Float32Array.from(randomArray(rand, c)), [c], { requiresGrad: true });
    const g = tensor(ctx, Float32Array.from(randomArray(rand, n * c)), [n, c]);
    const run = () =>
      ctx.scope(async () => {
        const out = sparseBatchNorm(new SparseTensor(set, x), gamma, beta, { training: true }).out;
        backward(out.feats, g);
        const r = [await bits(out.feats), await bits(x.grad!), await bits(gamma.grad!), await bits(beta.grad!)];
        for (const t of [x, gamma, beta]) {
          t.grad!.dispose();
          t.grad = null;
        }
        return r;
      });
    const a = await run();
    const b = await run();
    expect(a).toEqual(b);
    // and against float64 at this size: sums of ~8000 terms, tree error ~log2(N)·2⁻²⁴ relative
    const xh = Float64Array.from(await x.read());
    const ref = batchNormForward(xh, n, c, Float64Array.from(await gamma.read()), Float64Array.from(await beta.read()), { training: true });
    expect(maxRelativeError(Float64Array.from(new Float32Array(a[0]!.buffer)), ref.out)).toBeLessThan(2e-5);
    for (const t of [x, gamma, beta, g]) t.dispose();
    set.dispose();
  });

  describe('bad input', () => {
    it('wrong channel counts, dtypes, ranges and modes are typed errors naming the argument', async () => {
      const ctx = await testGpu();
      const set = new CoordinateSet(ctx, 2, Int32Array.from([0, 1, 1, 0, 2, 2, 1, 0, 0]));
      const x = new SparseTensor(set, tensor(ctx, new Float32Array(9), [3, 3]));
      const v3 = tensor(ctx, [1, 1, 1]);
      const v2 = tensor(ctx, [1, 1]);
      expect(() => sparseBatchNorm(x, v2, v3, { training: true })).toThrow(ShapeError);
      expect(() => sparseBatchNorm(x, v2, v3, { training: true })).toThrow(/gamma has shape \[2\] but the input has 3 channels/);
      expect(() => sparseBatchNorm(x, v3, tensor(ctx, new Int32Array(3), [3], { dtype: 'i32' }), { training: true })).toThrow(DTypeError);
      expect(() => sparseBatchNorm(x, v3, v3, { training: false })).toThrow(/eval mode .* needs options.runningMean/);
      expect(() => sparseBatchNorm(x, v3, v3, { training: true, runningMean: v3 })).toThrow(/pass both options.runningMean and options.runningVar/);
      expect(() => sparseBatchNorm(x, v3, v3, { training: false, runningMean: v3, runningVar: v2 })).toThrow(/runningVar has shape \[2\]/);
      expect(() => sparseBatchNorm(x, v3, v3, { training: true, momentum: 1.5 })).toThrow(InputValueError);
      expect(() => sparseBatchNorm(x, v3, v3, { training: true, momentum: 1.5 })).toThrow(/options.momentum = 1.5/);
      expect(() => sparseBatchNorm(x, v3, v3, { training: true, eps: -1 })).toThrow(/options.eps = -1/);
      expect(() => sparseBatchNorm(x, v3, v3, { training: true, leakyRelu: -0.1 })).toThrow(/options.leakyRelu = -0.1/);
      expect(() => sparseBatchNorm(x, v3, v3, { training: true, momentun: 0.2 } as never)).toThrow(/unknown option "momentun"/);
      const one = new CoordinateSet(ctx, 2, Int32Array.from([0, 1, 1]));
      expect(() => sparseBatchNorm(new SparseTensor(one, tensor(ctx, [1, 2, 3], [1, 3])), v3, v3, { training: true })).toThrow(/N = 1 active sites/);
      expect(() => new SparseBatchNorm(ctx, 0)).toThrow(/channels = 0/);
      const bn = new SparseBatchNorm(ctx, 4);
      expect(() => bn.forward(x)).toThrow(/gamma has shape \[4\] but the input has 3 channels/);
      bn.dispose();
      one.dispose();
      set.dispose();
    });
  });
});
