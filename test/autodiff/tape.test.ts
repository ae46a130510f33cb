import { describe, expect, it } from 'vitest';
import {
  add, AutodiffError, backward, defineOp, matmul, mean, mul, noGrad, relu, scale, sin, sum, tapeOf, tensor,
} from '../../src/index.js';
import { testGpu } from '../helpers/gpu.js';

describe('tape', () => {
  it('accumulates gradients of a tensor used more than once', async () => {
    const ctx = await testGpu();
    await ctx.scope(async () => {
      const x = tensor(ctx, [1, 2, 3], [3], { requiresGrad: true });
      // L = Σ (x·x + x) → dL/dx = 2x + 1
      backward(sum(add(mul(x, x), x)));
      expect(Array.from(await x.grad!.read())).toEqual([3, 5, 7]);
      // a second forward/backward adds to .grad, as in PyTorch
      backward(sum(x));
      expect(Array.from(await x.grad!.read())).toEqual([4, 6, 8]);
    });
  });

  it('shares a passed-through gradient between inputs instead of copying it, and frees it with the last holder', async () => {
    const ctx = await testGpu();
    await ctx.sync();
    const base = ctx.stats().liveBytes;
    const x = tensor(ctx, [-1, 2, -3, 4], [4], { requiresGrad: true });
    const w1 = tensor(ctx, [1, 1, 1, 1], [4], { requiresGrad: true });
    const w2 = tensor(ctx, [2, 2, 2, 2], [4], { requiresGrad: true });
    await ctx.scope(async () => {
      // Residual shape: y = relu(x) + x, then z = y + y, and two leaves fed by one add.
      const y = add(relu(x), x);
      const z = add(y, y);
      const loss = sum(add(mul(z, add(w1, w2)), z));
      const dispatches: string[] = [];
      const run = ctx.run.bind(ctx);
      ctx.run = (spec, b, wg, c) => {
        dispatches.push(spec.name);
        run(spec, b, wg, c);
      };
      try {
        backward(loss);
      } finally {
        ctx.run = run;
      }
      // dL/dz = w1 + w2 + 1 = 4; dz/dx = 2·(relu'(x) + 1); dL/dw = z = 2·(relu(x) + x) for both leaves.
      expect(Array.from(await x.grad!.read())).toEqual([8, 16, 8, 16]);
      expect(Array.from(await w1.grad!.read())).toEqual([-2, 8, -6, 16]);
      expect(Array.from(await w2.grad!.read())).toEqual([-2, 8, -6, 16]);
      // The leaves own distinct tensors (one copy, for the second leaf of the shared gradient); no other copy.
      expect(w1.grad).not.toBe(w2.grad);
      expect(dispatches.filter((d) => d === 'core.copy').length).toBe(1);
    });
    for (const t of [x, w1, w2]) t.dispose();
    await ctx.sync();
    expect(ctx.stats().liveBytes).toBe(base);
  });

  it('flows gradients only to tensors that require them', async () => {
    const ctx = await testGpu();
    await ctx.scope(async () => {
      const w = tensor(ctx, [1, -1, 2, 0.5], [2, 2], { requiresGrad: true });
      const x = tensor(ctx, [3, 4], [1, 2]);
      backward(mean(relu(matmul(x, w))));
      expect(x.grad).toBeNull();
      // y = [3·1 + 4·2, 3·(−1) + 4·0.5] = [11, −1]; relu kills the second
      expect(Array.from(await w.grad!.read())).toEqual([1.5, 0, 2, 0]);
    });
  });

  it('releases saved tensors after backward and leaves no tape behind', async () => {
    const ctx = await testGpu();
    await ctx.sync();
    const base = ctx.stats().liveBytes;
    const x = tensor(ctx, [0.1, 0.2, 0.3], [3], { requiresGrad: true });
    ctx.scope(() => {
      backward(sum(sin(mul(x, x))));
      expect(tapeOf(ctx).size).toBe(0);
    });
    x.dispose();
    expect(ctx.stats().liveBytes).toBe(base);
  });

  it('noGrad records nothing', async () => {
    const ctx = await testGpu();
    ctx.scope(() => {
      const x = tensor(ctx, [1, 2], [2], { requiresGrad: true });
      const y = noGrad(() => sum(mul(x, x)));
      expect(y.requiresGrad).toBe(false);
      expect(tapeOf(ctx).size).toBe(0);
      expect(() => backward(y)).toThrow(/was not produced by a recorded op/);
    });
  });

  it('backward twice is an error', async () => {
    const ctx = await testGpu();
    ctx.scope(() => {
      const x = tensor(ctx, [1, 2], [2], { requiresGrad: true });
      const loss = sum(mul(x, x));
      backward(loss);
      expect(() => backward(loss)).toThrow(AutodiffError);
      expect(() => backward(loss)).toThrow(/already ran/);
    });
  });

  it('a non-scalar loss needs an explicit gradOutput', async () => {
    const ctx = await testGpu();
    ctx.scope(() => {
      const x = tensor(ctx, [1, 2], [2], { requiresGrad: true });
      expect(() => backward(mul(x, x))).toThrow(/must have one element/);
    });
  });

  it('an op with no gradient rule is a hard error naming it', async () => {
    const ctx = await testGpu();
    const opaque = defineOp<null>({ name: 'test.opaque', forward: ([x]) => relu(x!) });
    ctx.scope(() => {
      const x = tensor(ctx, [1, 2], [2], { requiresGrad: true });
      const loss = sum(opaque([x], null)[0]!);
      expect(() => backward(loss)).toThrow(/op "test.opaque" has no gradient rule/);
    });
  });

  it('a second op with a name already defined is refused, so no rule is silently replaced', () => {
    defineOp<null>({ name: 'test.unique', forward: ([x]) => relu(x!) });
    expect(() => defineOp<null>({ name: 'test.unique', forward: ([x]) => relu(x!) })).toThrow(AutodiffError);
    expect(() => defineOp<null>({ name: 'mul', forward: ([x]) => relu(x!) })).toThrow(/an op named "mul" is already defined/);
  });

  it('a gradient of the wrong shape is an error naming the op', async () => {
    const ctx = await testGpu();
    const bad = defineOp<null>({
      name: 'test.badShape',
      forward: ([x]) => relu(x!),
      vjp: ({ inputs: [x] }) => [tensor(x!.ctx, [1, 2, 3], [3])],
    });
    ctx.scope(() => {
      const x = tensor(ctx, [1, 2], [2], { requiresGrad: true });
      expect(() => backward(sum(bad([x], null)[0]!))).toThrow(/test.badShape returned shape \[3\] for input 0 of shape \[2\]/);
    });
  });
});

describe('tape across scopes', () => {
  it('a tensor returned from a scope keeps its history: gradients reach the weights through disposed intermediates', async () => {
    const ctx = await testGpu();
    await ctx.sync();
    const base = ctx.stats().liveBytes;
    const inp = tensor(ctx, [1, 2, 3, 4], [2, 2]);
    const W = tensor(ctx, [0.5, -1, 2, 0.25], [2, 2], { requiresGrad: true });
    await ctx.scope(async () => {
      // The matmul output is created and disposed inside the inner scope; only h leaves it.
      const h = ctx.scope(() => scale(matmul(inp, W), 1.5));
      backward(mean(h));
      // d mean(1.5 · inp·W) / dW[k, j] = 1.5 / 4 · Σ_i inp[i, k] = 0.375 · (column sums 4, 6)
      expect(Array.from(await W.grad!.read())).toEqual([1.5, 1.5, 2.25, 2.25]);
    });
    // The same with the whole loss returned from a scope and backward outside it.
    W.grad!.dispose();
    W.grad = null;
    const loss = ctx.scope(() => mean(scale(matmul(inp, W), 1.5)));
    backward(loss);
    expect(Array.from(await W.grad!.read())).toEqual([1.5, 1.5, 2.25, 2.25]);
    loss.dispose();
    W.grad!.dispose();
    W.grad = null;
    expect(tapeOf(ctx).size).toBe(0);
    inp.dispose();
    W.dispose();
    await ctx.sync();
    expect(ctx.stats().liveBytes).toBe(base);
  });

  it('a scope whose results are all dropped leaves no tape behind', async () => {
    const ctx = await testGpu();
    const W = tensor(ctx, [1, 2], [2], { requiresGrad: true });
    const before = tapeOf(ctx).size;
    const h = ctx.scope(() => ctx.scope(() => sin(mul(W, W))));
    expect(tapeOf(ctx).size).toBe(before + 2);
    ctx.scope(() => void mean(h));
    expect(tapeOf(ctx).size).toBe(before + 2);
    h.dispose();
    // Closing any scope drops nodes no live tensor can reach.
    ctx.scope(() => undefined);
    expect(tapeOf(ctx).size).toBe(before);
    W.dispose();
  });

  it('a gradient rule that needs a disposed intermediate is a typed error naming it, and frees what backward made', async () => {
    const ctx = await testGpu();
    await ctx.sync();
    const base = ctx.stats().liveBytes;
    const W = tensor(ctx, [1, 2], [2], { requiresGrad: true, label: 'W' });
    // mul's gradient needs both inputs; the product w·w is disposed with its scope.
    const y = ctx.scope(() => {
      const ww = mul(W, W);
      return mul(ww, ww);
    });
    const loss = sum(y);
    expect(() => backward(loss)).toThrow(AutodiffError);
    expect(() => backward(loss)).toThrow(/tensor#\d+, saved by op mul for its gradient, was disposed before backward ran \(by the scope\(\) that created it/);
    expect(W.grad).toBeNull();
    loss.dispose();
    y.dispose();
    ctx.scope(() => undefined);
    W.dispose();
    await ctx.sync();
    expect(ctx.stats().liveBytes).toBe(base);
  });
});

describe('noGrad and concurrent work', () => {
  it("the library's asynchronous inference does not stop recording in work that runs during its awaits", async () => {
    const ctx = await testGpu();
    const { UResNet, predict } = await import('../../src/models/index.js');
    const { generateEvent } = await import('../../src/events/index.js');
    const model = new UResNet(ctx, { depth: 2, filters: 4 });
    const e = generateEvent({ preset: 'small', volumeVoxels: 24, seed: 1 });
    const W = tensor(ctx, [1, 2], [2], { requiresGrad: true });
    const pending = predict(model, { coords: e.coords, energy: e.energy });
    // Recorded while predict awaits its readback.
    const y = sum(mul(W, W));
    backward(y);
    expect(Array.from(await W.grad!.read())).toEqual([2, 4]);
    await pending;
    y.dispose();
    W.dispose();
    model.dispose();
  });
});
