// Segments outside the active volume are reported, never silently dropped
// (issue: a larnd-sim file simulated with the default geometry gave 0 cells
// and no warning).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { testGpu } from '../helpers/gpu.js';
import { InputValueError } from '../../src/errors.js';
import { defaultChainConfig, physicsTensor, segmentsFromObjects, segmentsTensor, segmentsToPacked, simulateCharge } from '../../src/kernels/drift/index.js';
import { tensor } from '../../src/runtime/tensor.js';

/** Two segments inside the default 2x2-like volume and `outside` beyond it (x = 500 cm). */
function rows(inside: number, outside: number) {
  const r = [];
  for (let i = 0; i < inside; i++) r.push({ x_start: 5 + i, y_start: 5, z_start: 10, x_end: 5.3 + i, y_end: 5.2, z_end: 10.1, dE: 0.5, dx: 0.4, t0: 0 });
  for (let i = 0; i < outside; i++) r.push({ x_start: 500, y_start: 500, z_start: 500 + i, x_end: 500.3, y_end: 500, z_end: 500.1 + i, dE: 0.5, dx: 0.4, t0: 0 });
  return segmentsFromObjects(r);
}

afterEach(() => vi.restoreAllMocks());

describe('simulateCharge: segments outside the active volume', () => {
  it("warns once per segments tensor by default, naming the count and the volume; 'drop' is silent; 'error' throws", async () => {
    const ctx = await testGpu();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const segments = segmentsTensor(ctx, rows(2, 3));
    const physics = physicsTensor(ctx);
    const first = await simulateCharge(segments, physics);
    expect(first.length).toBeGreaterThan(0);
    first.dispose();
    (await simulateCharge(segments, physics)).dispose();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toMatch(/3 of 5 segment\(s\) lie wholly outside the active volume \[.*\] … \[.*\] cm \(drift axis z\)/);
    const again = segmentsTensor(ctx, rows(2, 3));
    (await simulateCharge(again, physics, { onOutside: 'drop' })).dispose();
    expect(warn).toHaveBeenCalledTimes(1);
    await expect(simulateCharge(again, physics, { onOutside: 'error' })).rejects.toThrow(/3 of 5 segment\(s\) lie wholly outside/);
    await expect(simulateCharge(again, physics, { onOutside: 'ignore' } as never)).rejects.toThrow(/onOutside = "ignore"/);
    for (const t of [segments, again, physics]) t.dispose();
  });

  it('throws when every segment is outside, whatever onOutside says, freeing what it made', async () => {
    const ctx = await testGpu();
    await ctx.sync();
    const base = ctx.stats().liveBytes;
    const segments = segmentsTensor(ctx, rows(0, 4));
    const physics = physicsTensor(ctx);
    for (const onOutside of ['warn', 'drop', 'error'] as const) {
      const run = simulateCharge(segments, physics, { onOutside });
      await expect(run).rejects.toThrow(InputValueError);
    }
    await expect(simulateCharge(segments, physics)).rejects.toThrow(/all 4 of 4 segment\(s\) lie wholly outside .*check the geometry/);
    segments.dispose();
    physics.dispose();
    await ctx.sync();
    expect(ctx.stats().liveBytes).toBe(base);
    expect(defaultChainConfig().onOutside).toBe('warn');
  });
});

describe('simulateCharge: segments tensors made without validation', () => {
  it('a raw tensor with a NaN position or a negative dE is refused on the GPU, naming the row, in the readback it already makes', async () => {
    const ctx = await testGpu();
    await ctx.sync();
    const base = ctx.stats().liveBytes;
    const physics = physicsTensor(ctx);
    const packed = segmentsToPacked(rows(3, 0));
    for (const [row, col, value] of [[1, 0, NaN], [2, 6, -0.5], [0, 7, Infinity]] as const) {
      const bad = Float32Array.from(packed);
      bad[row * 11 + col] = value;
      const raw = tensor(ctx, bad, [3, 11]);
      await expect(simulateCharge(raw, physics)).rejects.toThrow(new RegExp(`segments row ${row} is not a valid segment \\(found on the GPU`));
      raw.dispose();
    }
    physics.dispose();
    await ctx.sync();
    expect(ctx.stats().liveBytes).toBe(base);
  });

  it('a float64 value beyond float32 (dE = 1e39) is refused on the host, before it becomes Inf', () => {
    expect(() => segmentsFromObjects([{ x_start: 1, y_start: 1, z_start: 1, x_end: 1.1, y_end: 1, z_end: 1, dE: 1e39, dx: 0.1, t0: 0 }])).toThrow(
      /row 0 has dE = 1e\+39 MeV; dE must be a finite, non-negative float32 energy/,
    );
  });
});
