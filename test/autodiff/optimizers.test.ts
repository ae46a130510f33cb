import { describe, expect, it } from 'vitest';
import { Adam, add, backward, matmul, mseLoss, seededRandom, SGD, sigmoid, tensor } from '../../src/index.js';
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
});
