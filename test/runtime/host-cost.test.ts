import { describe, expect, it } from 'vitest';
import { add, createGpu, InputValueError, mul, scale, sum, tensor, zeros, type GpuContext } from '../../src/index.js';
import { testGpu } from '../helpers/gpu.js';

/** Counter deltas of `fn` (after it has run once to warm the caches). */
async function countsOf(ctx: GpuContext, fn: () => Promise<void> | void) {
  await fn();
  await ctx.sync();
  const a = ctx.stats();
  await fn();
  await ctx.sync();
  const b = ctx.stats();
  return {
    dispatches: b.dispatches - a.dispatches,
    submits: b.submits - a.submits,
    bindGroups: b.bindGroupsCreated - a.bindGroupsCreated,
    buffers: b.buffersCreated - a.buffersCreated,
    pipelines: b.pipelinesCreated - a.pipelinesCreated,
    uploads: b.uploads - a.uploads,
    bytesUploaded: b.bytesUploaded - a.bytesUploaded,
    readbacks: b.readbacks - a.readbacks,
  };
}

describe('host cost: uploads, bind groups, pool', () => {
  it('uploads do not split the batch: tensor() and Tensor.write() record no submit', async () => {
    const ctx = await testGpu();
    await ctx.sync();
    const s0 = ctx.stats().submits;
    const a = tensor(ctx, [1, 2, 3]);
    const b = add(a, a);
    const c = tensor(ctx, [10, 20, 30]);
    a.write([5, 6, 7]);
    const d = add(a, c);
    expect(ctx.stats().submits).toBe(s0);
    // The write lands between the two adds, in command order.
    expect(Array.from(await b.read())).toEqual([2, 4, 6]);
    expect(Array.from(await d.read())).toEqual([15, 26, 37]);
    for (const t of [a, b, c, d]) t.dispose();
  });

  it('a buffer released and reused within one batch keeps every result intact', async () => {
    const ctx = await testGpu();
    await ctx.sync();
    const x = tensor(ctx, Float32Array.from({ length: 1000 }, (_, i) => i));
    const kept = [];
    for (let k = 1; k <= 5; k++) {
      // The intermediate's buffer goes back to the pool at once and the next
      // iteration's intermediate (same size class) reuses it before any submit.
      const tmp = scale(x, k);
      kept.push(add(tmp, x));
      tmp.dispose();
      // A new tensor on a recycled buffer: its upload must be ordered after
      // the commands that used that buffer for the old tensor.
      const fresh = tensor(ctx, new Float32Array(1000).fill(k));
      kept.push(add(fresh, fresh));
      fresh.dispose();
    }
    for (let k = 1; k <= 5; k++) {
      const r = await kept[2 * (k - 1)]!.read();
      expect(r[10]).toBe(10 * (k + 1));
      expect(r[999]).toBe(999 * (k + 1));
      const f = await kept[2 * (k - 1) + 1]!.read();
      expect(f[0]).toBe(2 * k);
    }
    x.dispose();
    for (const t of kept) t.dispose();
  });

  it('a repeated step creates no bind groups, buffers or pipelines and submits once', async () => {
    const ctx = await testGpu();
    const w = tensor(ctx, Float32Array.from({ length: 4096 }, (_, i) => Math.sin(i)));
    const host = new Float32Array(4096).fill(0.5);
    const step = async () => {
      await ctx.scope(async () => {
        const x = tensor(ctx, host);
        const y = sum(mul(add(x, w), w));
        await y.read();
      });
    };
    const c = await countsOf(ctx, step);
    expect(c).toMatchObject({ submits: 1, bindGroups: 0, buffers: 0, pipelines: 0, uploads: 1, bytesUploaded: 4096 * 4, readbacks: 1 });
    expect(c.dispatches).toBeGreaterThanOrEqual(3);
    w.dispose();
  });

  it('tensors of different sizes in one size class share cached bind groups', async () => {
    const ctx = await testGpu();
    const run = async (n: number) => {
      await ctx.scope(async () => {
        const x = tensor(ctx, new Float32Array(n).fill(1));
        await add(x, x).read();
      });
    };
    await run(3000);
    await ctx.sync();
    const before = ctx.stats().bindGroupsCreated;
    await run(2900); // same 16 KiB size class as 3000 floats
    expect(ctx.stats().bindGroupsCreated).toBe(before);
  });

  it('trims idle pooled memory by the policy and reports it', async () => {
    const ctx = await createGpu({ pool: { maxIdleBytes: 1 << 20 } });
    try {
      expect(ctx.poolPolicy).toEqual({ maxIdleBytes: 1 << 20, maxIdleSubmits: 64 });
      const big = Array.from({ length: 8 }, () => zeros(ctx, [256 * 1024])); // 8 × 1 MiB
      await ctx.sync();
      for (const t of big) t.dispose();
      expect(ctx.stats().pooledBytes).toBe(8 << 20);
      await ctx.sync(); // the next submit applies the policy
      const s = ctx.stats();
      expect(s.pooledBytes).toBeLessThanOrEqual(1 << 20);
      expect(s.buffersTrimmed).toBe(7);
      expect(s.bytesTrimmed).toBe(7 << 20);
      // Age: a buffer idle for more than maxIdleSubmits submits goes too.
      ctx.setPoolPolicy({ maxIdleSubmits: 2 });
      for (let i = 0; i < 3; i++) {
        zeros(ctx, [1]).dispose();
        await ctx.sync();
      }
      expect(ctx.stats().pooledBytes).toBeLessThan(1 << 20);
      expect(() => ctx.setPoolPolicy({ maxIdleByte: 1 } as never)).toThrow(InputValueError);
      expect(() => ctx.setPoolPolicy({ maxIdleBytes: -1 })).toThrow(/maxIdleBytes = -1/);
      expect(ctx.poolPolicy.maxIdleSubmits).toBe(2);
    } finally {
      await ctx.dispose();
    }
  });

  it('rejects a bad pool policy at createGpu', async () => {
    await expect(createGpu({ pool: { maxIdleSubmits: 1.5 } })).rejects.toThrow(/maxIdleSubmits = 1.5/);
  });

  it('a destroyed pooled buffer leaves no bind group behind', async () => {
    const ctx = await testGpu();
    await ctx.scope(async () => {
      const x = tensor(ctx, new Float32Array(70000).fill(2));
      await add(x, x).read();
    });
    await ctx.sync();
    const cached = ctx.stats().bindGroupsCached;
    ctx.trimPool();
    expect(ctx.stats().bindGroupsCached).toBeLessThan(cached);
    // And work still runs (new buffers, new bind groups).
    const y = tensor(ctx, new Float32Array(70000).fill(3));
    expect((await add(y, y).read())[69999]).toBe(6);
    y.dispose();
  });
});
