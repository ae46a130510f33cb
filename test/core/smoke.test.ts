import { describe, expect, it } from 'vitest';
import { tensor, add, matmul, sum, backward } from '../../src/index.js';
import { testGpu } from '../helpers/gpu.js';

describe('smoke', () => {
  it('runs add, matmul, sum and backward', async () => {
    const ctx = await testGpu();
    const a = tensor(ctx, [1, 2, 3, 4], [2, 2], { requiresGrad: true });
    const b = tensor(ctx, [5, 6, 7, 8], [2, 2], { requiresGrad: true });
    const c = matmul(a, b);
    expect(Array.from(await c.read())).toEqual([19, 22, 43, 50]);
    const s = sum(add(c, a));
    expect(Array.from(await s.read())).toEqual([19 + 22 + 43 + 50 + 10]);
    backward(s);
    expect(Array.from(await a.grad!.read())).toEqual([12, 16, 12, 16]);
    expect(Array.from(await b.grad!.read())).toEqual([4, 4, 6, 6]);
  });
});
