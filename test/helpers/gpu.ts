import { afterAll } from 'vitest';
import { createGpu, type GpuContext } from '../../src/index.js';

let ctxPromise: Promise<GpuContext> | null = null;

/** One GPU context per test file, disposed after the file's tests. */
export function testGpu(): Promise<GpuContext> {
  if (!ctxPromise) {
    ctxPromise = createGpu();
    afterAll(async () => {
      const ctx = await ctxPromise!;
      await ctx.dispose();
      ctxPromise = null;
    });
  }
  return ctxPromise;
}

/** Float64 random array in [lo, hi). */
export function randomArray(rand: () => number, n: number, lo = -1, hi = 1): Float64Array {
  return Float64Array.from({ length: n }, () => lo + (hi - lo) * rand());
}
