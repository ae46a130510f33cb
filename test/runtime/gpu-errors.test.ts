import { describe, expect, it } from 'vitest';
import { add, createGpu, DeviceLostError, GpuValidationError, tensor, type GhostgradError } from '../../src/index.js';

describe('asynchronous GPU errors surface as typed errors', () => {
  it('an uncaptured validation error is thrown at the next sync point and passed to onError', async () => {
    const seen: GhostgradError[] = [];
    const ctx = await createGpu({ onError: (e) => seen.push(e) });
    try {
      // Invalid on purpose: MAP_READ may only be combined with COPY_DST.
      ctx.device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
      await expect(ctx.sync()).rejects.toThrow(GpuValidationError);
      expect(seen.some((e) => e instanceof GpuValidationError)).toBe(true);
      // the error was reported once, not swallowed and not repeated
      await ctx.sync();
    } finally {
      await ctx.dispose();
    }
  });

  it('device loss becomes a DeviceLostError on the next call', async () => {
    const ctx = await createGpu();
    const a = tensor(ctx, [1, 2]);
    ctx.device.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(() => add(a, a)).toThrow(DeviceLostError);
    await ctx.dispose();
  });
});
