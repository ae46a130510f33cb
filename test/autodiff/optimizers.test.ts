import { describe, expect, it } from 'vitest';
import { Adam, add, backward, DisposedError, matmul, mseLoss, seededRandom, SGD, sigmoid, tensor } from '../../src/index.js';
import { randomArray, testGpu } from '../helpers/gpu.js';

const rand = seededRandom(5);

/** Float64 reference of one parameter's trajectory under f(p) = Σ (p − t)² / n. */
function referenceTrajectory(p0: Float64Array, target: Float64Array, steps: number, update: (p: Float64Array, g: Float64Array, t: number) => void) {
  const p = p0.slice();
  const n = p.length;
  for (let t = 1; t <= steps; t++) {
    const g = p.map((v, i) => (2 * (v - target[i]!)) / n);
    update(p, g, t);
  }
  return p;
}

describe('optimizers', () => {
  it('SGD with momentum matches the float64 update rule', async () => {
    const ctx = await testGpu();
    const p0 = Float64Array.from(randomArray(rand, 10), Math.fround);
    const target = Float64Array.from(randomArray(rand, 10), Math.fround);
    const lr = 0.1, mu = 0.9;
    const v = new Float64Array(10);
    const expected = referenceTrajectory(p0, target, 20, (p, g, t) => {
      for (let i = 0; i < p.length; i++) {
        v[i] = t === 1 ? g[i]! : mu * v[i]! + g[i]!;
        p[i]! -= lr * v[i]!;
      }
    });
    const p = tensor(ctx, Float32Array.from(p0), [10], { requiresGrad: true });
    const tgt = tensor(ctx, Float32Array.from(target));
    const opt = new SGD([p], { lr, momentum: mu });
    for (let s = 0; s < 20; s++) {
      ctx.scope(() => {
        opt.zeroGrad();
        backward(mseLoss(p, tgt));
        opt.step();
      });
    }
    const got = await p.read();
    got.forEach((g, i) => expect(g).toBeCloseTo(expected[i]!, 5));
    opt.dispose();
  });

  it('Adam with bias correction matches the float64 update rule', async () => {
    const ctx = await testGpu();
    const p0 = Float64Array.from(randomArray(rand, 10), Math.fround);
    const target = Float64Array.from(randomArray(rand, 10), Math.fround);
    const lr = 0.05, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    const m = new Float64Array(10), v = new Float64Array(10);
    const expected = referenceTrajectory(p0, target, 25, (p, g, t) => {
      for (let i = 0; i < p.length; i++) {
        m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
        v[i] = b2 * v[i]! + (1 - b2) * g[i]! ** 2;
        p[i]! -= (lr * (m[i]! / (1 - b1 ** t))) / (Math.sqrt(v[i]! / (1 - b2 ** t)) + eps);
      }
    });
    const p = tensor(ctx, Float32Array.from(p0), [10], { requiresGrad: true });
    const tgt = tensor(ctx, Float32Array.from(target));
    const opt = new Adam([p], { lr });
    for (let s = 0; s < 25; s++) {
      ctx.scope(() => {
        opt.zeroGrad();
        backward(mseLoss(p, tgt));
        opt.step();
      });
    }
    const got = await p.read();
    got.forEach((g, i) => expect(g).toBeCloseTo(expected[i]!, 4));
    opt.dispose();
  });

  it('1,000 Adam steps of a small MLP leave live GPU bytes at baseline', async () => {
    const ctx = await testGpu();
    await ctx.sync();
    const baseline = ctx.stats().liveBytes;
    // 2-layer MLP fitting y = sin-ish target on 64 points
    const x = tensor(ctx, Float32Array.from(randomArray(rand, 64 * 4)), [64, 4]);
    const y = tensor(ctx, Float32Array.from(randomArray(rand, 64 * 2, 0.2, 0.8)), [64, 2]);
    const w1 = tensor(ctx, Float32Array.from(randomArray(rand, 4 * 16, -0.5, 0.5)), [4, 16], { requiresGrad: true });
    const w2 = tensor(ctx, Float32Array.from(randomArray(rand, 16 * 2, -0.5, 0.5)), [16, 2], { requiresGrad: true });
    const opt = new Adam([w1, w2], { lr: 0.01 });
    let first = 0, last = 0;
    for (let step = 0; step < 1000; step++) {
      const loss = ctx.scope(() => {
        opt.zeroGrad();
        const h = sigmoid(matmul(x, w1));
        const out = sigmoid(add(matmul(h, w2), matmul(h, w2)));
        const l = mseLoss(out, y);
        backward(l);
        opt.step();
        return step === 0 || step === 999 ? l : null;
      });
      if (loss) {
        const v = (await loss.read())[0]!;
        if (step === 0) first = v; else last = v;
        loss.dispose();
      }
    }
    expect(last).toBeLessThan(first * 0.7);
    opt.zeroGrad();
    opt.dispose();
    for (const t of [x, y, w1, w2]) t.dispose();
    await ctx.sync();
    expect(ctx.stats().liveBytes).toBe(baseline);
  });

  it('one Adam dispatch updates many parameters of odd sizes exactly as separate float64 updates, skipping those without a gradient', async () => {
    const ctx = await testGpu();
    const sizes = [1, 65, 300, 7];
    const p0 = sizes.map((n) => Float64Array.from(randomArray(rand, n), Math.fround));
    const targets = sizes.map((n) => Float64Array.from(randomArray(rand, n), Math.fround));
    const lr = 0.03, b1 = 0.9, b2 = 0.999, eps = 1e-8, steps = 12;
    // Parameter 2 gets no gradient on even steps: PyTorch leaves it and its moments alone.
    const active = (i: number, t: number) => i !== 2 || t % 2 === 1;
    const ref = p0.map((p) => p.slice());
    const m = sizes.map((n) => new Float64Array(n)), v = sizes.map((n) => new Float64Array(n));
    for (let t = 1; t <= steps; t++) {
      ref.forEach((p, i) => {
        if (!active(i, t)) return;
        for (let k = 0; k < p.length; k++) {
          const g = (2 * (p[k]! - targets[i]![k]!)) / p.length;
          m[i]![k] = b1 * m[i]![k]! + (1 - b1) * g;
          v[i]![k] = b2 * v[i]![k]! + (1 - b2) * g * g;
          p[k]! -= (lr * (m[i]![k]! / (1 - b1 ** t))) / (Math.sqrt(v[i]![k]! / (1 - b2 ** t)) + eps);
        }
      });
    }
    const ps = p0.map((p, i) => tensor(ctx, Float32Array.from(p), [sizes[i]!], { requiresGrad: true, label: `p${i}` }));
    const tg = targets.map((t) => tensor(ctx, Float32Array.from(t)));
    const opt = new Adam(ps, { lr });
    const dispatches: number[] = [];
    for (let t = 1; t <= steps; t++) {
      ctx.scope(() => {
        opt.zeroGrad();
        let loss = mseLoss(ps[0]!, tg[0]!);
        for (let i = 1; i < sizes.length; i++) if (active(i, t)) loss = add(loss, mseLoss(ps[i]!, tg[i]!));
        backward(loss);
        const d0 = ctx.stats().dispatches;
        opt.step();
        dispatches.push(ctx.stats().dispatches - d0);
      });
    }
    // One dispatch when every parameter has a gradient; two when the third splits the run.
    expect(dispatches).toEqual(Array.from({ length: steps }, (_, k) => ((k + 1) % 2 === 1 ? 1 : 2)));
    for (let i = 0; i < sizes.length; i++) {
      const got = await ps[i]!.read();
      got.forEach((g, k) => expect(g).toBeCloseTo(ref[i]![k]!, 5));
    }
    opt.zeroGrad();
    opt.dispose();
    // The parameters outlive the optimizer, values intact.
    expect((await ps[1]!.read())[3]).toBeCloseTo(ref[1]![3]!, 5);
    for (const t of [...ps, ...tg]) t.dispose();
  });

  it('SGD momentum starts each parameter\'s buffer at its own first gradient', async () => {
    const ctx = await testGpu();
    const a0 = Float64Array.from(randomArray(rand, 5), Math.fround), b0 = Float64Array.from(randomArray(rand, 5), Math.fround);
    const lr = 0.1, mu = 0.9;
    const ref = [a0.slice(), b0.slice()], vel = [new Float64Array(5), new Float64Array(5)], started = [false, false];
    const a = tensor(ctx, Float32Array.from(a0), [5], { requiresGrad: true }), b = tensor(ctx, Float32Array.from(b0), [5], { requiresGrad: true });
    const zero = tensor(ctx, new Float32Array(5));
    const opt = new SGD([a, b], { lr, momentum: mu });
    for (let t = 1; t <= 6; t++) {
      const withB = t >= 3; // b joins the loss at step 3
      ref.forEach((p, i) => {
        if (i === 1 && !withB) return;
        for (let k = 0; k < 5; k++) {
          const g = (2 * p[k]!) / 5;
          vel[i]![k] = started[i] ? mu * vel[i]![k]! + g : g;
          p[k]! -= lr * vel[i]![k]!;
        }
        started[i] = true;
      });
      ctx.scope(() => {
        opt.zeroGrad();
        backward(withB ? add(mseLoss(a, zero), mseLoss(b, zero)) : mseLoss(a, zero));
        opt.step();
      });
    }
    for (const [t, r] of [[a, ref[0]!], [b, ref[1]!]] as const) (await t.read()).forEach((g, k) => expect(g).toBeCloseTo(r[k]!, 5));
    opt.zeroGrad();
    opt.dispose();
    for (const t of [a, b, zero]) t.dispose();
  });

  it('plain SGD (no momentum, one-element velocity stand-in) updates p ← p − lr·(g + λp) over several parameters', async () => {
    const ctx = await testGpu();
    const a0 = Float64Array.from(randomArray(rand, 70), Math.fround), b0 = Float64Array.from(randomArray(rand, 3), Math.fround);
    const a = tensor(ctx, Float32Array.from(a0), [70], { requiresGrad: true }), b = tensor(ctx, Float32Array.from(b0), [3], { requiresGrad: true });
    const zero70 = tensor(ctx, new Float32Array(70)), zero3 = tensor(ctx, new Float32Array(3));
    const lr = 0.2, wd = 0.05;
    const opt = new SGD([a, b], { lr, weightDecay: wd });
    const ref = [a0.slice(), b0.slice()];
    for (let t = 0; t < 4; t++) {
      for (const p of ref) for (let k = 0; k < p.length; k++) p[k]! -= lr * ((2 * p[k]!) / p.length + wd * p[k]!);
      ctx.scope(() => {
        opt.zeroGrad();
        backward(add(mseLoss(a, zero70), mseLoss(b, zero3)));
        opt.step();
      });
    }
    for (const [t, r] of [[a, ref[0]!], [b, ref[1]!]] as const) (await t.read()).forEach((g, k) => expect(g).toBeCloseTo(r[k]!, 6));
    opt.zeroGrad();
    opt.dispose();
    for (const t of [a, b, zero70, zero3]) t.dispose();
  });

  it('rejects unknown options, repeated parameters and disposed ones, leaving the parameters as they were', async () => {
    const ctx = await testGpu();
    const p = tensor(ctx, [1, 2, 3], [3], { requiresGrad: true });
    expect(() => new Adam([p], { lr: 0.1, betas1: 0.8 } as never)).toThrow(/unknown option "betas1"/);
    expect(() => new SGD([p], { lr: 0.1, moment: 0.9 } as never)).toThrow(/unknown option "moment"/);
    expect(() => new Adam([p, p])).toThrow(/listed twice/);
    const q = tensor(ctx, [1], [1], { requiresGrad: true });
    q.dispose();
    expect(() => new Adam([p, q])).toThrow(/disposed/);
    expect(p.ownsBuffer).toBe(true);
    expect(Array.from(await p.read())).toEqual([1, 2, 3]);
    // A second optimizer over the same tensor takes it over; the first then refuses to step.
    const first = new Adam([p], { lr: 0.1 });
    const second = new SGD([p], { lr: 0.1 });
    expect(() => first.step()).toThrow(/now belongs to another optimizer/);
    expect(Array.from(await p.read())).toEqual([1, 2, 3]);
    first.dispose();
    second.dispose();
    // A parameter disposed after the optimizer was made: step() refuses, changing nothing.
    const r = tensor(ctx, [1, 2], [2], { requiresGrad: true });
    const s = tensor(ctx, [3], [1], { requiresGrad: true });
    const opt = new Adam([r, s], { lr: 0.1 });
    r.grad = tensor(ctx, [1, 1]);
    s.dispose();
    expect(() => opt.step()).toThrow(DisposedError);
    expect(() => opt.step()).toThrow(/parameter tensor#\d+ was disposed after the optimizer was made/);
    expect(opt.steps).toBe(0);
    expect(Array.from(await r.read())).toEqual([1, 2]);
    opt.dispose();
    r.dispose();
    p.dispose();
  });

  it('nonFiniteGradientCount counts NaN and ±Inf over the gradients step() would apply, in one dispatch, and step() then copies nothing', async () => {
    const ctx = await testGpu();
    const a = tensor(ctx, [1, 2, 3], [3], { requiresGrad: true });
    const b = tensor(ctx, [4, 5], [2], { requiresGrad: true });
    const opt = new Adam([a, b], { lr: 0.1 });
    a.grad = tensor(ctx, [0, NaN, 1]);
    b.grad = tensor(ctx, [Infinity, -Infinity]);
    let dispatches = ctx.stats().dispatches;
    const count = opt.nonFiniteGradientCount();
    expect(ctx.stats().dispatches - dispatches).toBe(1);
    expect(Array.from(await count.read())).toEqual([3]);
    count.dispose();
    a.grad.write([0, 0.5, 1]);
    b.grad.write([1, -1]);
    const again = opt.nonFiniteGradientCount();
    expect(Array.from(await again.read())).toEqual([0]);
    again.dispose();
    dispatches = ctx.stats().dispatches;
    opt.step();
    expect(ctx.stats().dispatches - dispatches).toBe(1); // the Adam update alone: the gradients are in place
    expect(opt.steps).toBe(1);
    opt.dispose();
    a.dispose();
    b.dispose();
  });
});

