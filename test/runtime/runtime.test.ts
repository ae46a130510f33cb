import { describe, expect, it } from 'vitest';
import { add, createGpu, mul, relu, sum, tensor, zeros } from '../../src/index.js';
import { testGpu } from '../helpers/gpu.js';

describe('runtime', () => {
  it('reports the adapter and optional features', async () => {
    const ctx = await testGpu();
    expect(typeof ctx.adapter.description).toBe('string');
    for (const f of ctx.adapter.features) expect(['shader-f16', 'subgroups', 'timestamp-query']).toContain(f);
    expect(ctx.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
  });

  it('uploads and downloads f32, i32, u32 and f16 without touching the input', async () => {
    const ctx = await testGpu();
    const input = Float32Array.of(1.5, -2, 3.25);
    const copy = input.slice();
    expect(Array.from(await tensor(ctx, input).read())).toEqual([1.5, -2, 3.25]);
    expect(input).toEqual(copy);
    expect(Array.from(await tensor(ctx, Int32Array.of(-7, 8)).read())).toEqual([-7, 8]);
    expect(Array.from(await tensor(ctx, Uint32Array.of(4294967295, 1)).read())).toEqual([4294967295, 1]);
    if (ctx.has('shader-f16')) {
      const h = await tensor(ctx, [1, 0.5, 65504, 1e-8], [4], { dtype: 'f16' }).read();
      expect(Array.from(h)).toEqual([1, 0.5, 65504, 0]);
    }
  });

  it('rejects f16 tensors when the device lacks shader-f16', async () => {
    const ctx = await createGpu({ disableFeatures: ['shader-f16'] });
    try {
      expect(() => tensor(ctx, [1], [1], { dtype: 'f16' })).toThrow(/needs the device feature shader-f16/);
    } finally {
      await ctx.dispose();
    }
  });

  it('batches dispatches into one submit per readback', async () => {
    const ctx = await testGpu();
    const x = tensor(ctx, new Float32Array(1000).fill(1));
    await x.read();
    const before = ctx.stats();
    const y = sum(relu(mul(add(x, x), x)));
    expect(ctx.stats().submits).toBe(before.submits);
    expect((await y.read())[0]).toBe(2000);
    expect(ctx.stats().submits).toBe(before.submits + 1);
  });

  it('recycles buffers through the pool and counts live bytes', async () => {
    const ctx = await testGpu();
    await ctx.sync();
    const base = ctx.stats().liveBytes;
    const a = zeros(ctx, [1000]);
    expect(ctx.stats().liveBytes).toBe(base + 4096);
    a.dispose();
    expect(ctx.stats().liveBytes).toBe(base);
    await ctx.sync();
    const pooled = ctx.stats().pooledBuffers;
    const b = zeros(ctx, [900]);
    expect(ctx.stats().pooledBuffers).toBe(pooled - 1);
    b.dispose();
  });

  it('scope() disposes intermediates and keeps what it returns', async () => {
    const ctx = await testGpu();
    await ctx.sync();
    const base = ctx.stats().liveBytes;
    const x = tensor(ctx, [1, 2, 3]);
    const y = ctx.scope(() => relu(mul(add(x, x), x)));
    expect(ctx.stats().liveBytes).toBe(base + 2 * 256);
    expect(Array.from(await y.read())).toEqual([2, 8, 18]);
    x.dispose();
    y.dispose();
    expect(ctx.stats().liveBytes).toBe(base);
  });

  it('profiles kernel time with timestamp queries', async () => {
    const ctx = await testGpu();
    if (!ctx.profiler.enable()) return;
    const x = tensor(ctx, new Float32Array(4096).fill(1));
    await sum(add(x, x)).read();
    const report = await ctx.profiler.report();
    ctx.profiler.disable();
    const names = report.map((r) => r.name);
    expect(names).toContain('core.add');
    expect(names).toContain('core.sum_tiles');
    for (const r of report) expect(r.totalMs).toBeGreaterThanOrEqual(0);
  });

  it('dispose() releases the device; later use is a DisposedError', async () => {
    const ctx = await createGpu();
    const t = tensor(ctx, [1]);
    await ctx.dispose();
    expect(() => ctx.device).toThrow(/used after dispose/);
    expect(() => tensor(ctx, [1])).toThrow(/used after dispose/);
    void t;
  });
});
