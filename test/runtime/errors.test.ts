import { describe, expect, it } from 'vitest';
import {
  add, BindingError, createGpu, DeviceLimitError, DeviceLostError, DisposedError, DTypeError, matmul, NoAdapterError,
  ShaderCompileError, ShapeError, tensor, zeros, type KernelSpec,
} from '../../src/index.js';
import { testGpu } from '../helpers/gpu.js';

const probe: KernelSpec = {
  name: 'test.probe',
  source: `
struct Params { n: u32, alpha: f32 }
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < params.n) { dst[g.x] = src[g.x] * params.alpha; }
}`,
};

describe('bad input gets typed errors that name the problem', () => {
  it('shape mismatch', async () => {
    const ctx = await testGpu();
    const a = tensor(ctx, [1, 2, 3, 4, 5, 6], [2, 3]);
    const b = tensor(ctx, [1, 2, 3, 4, 5, 6], [3, 2]);
    expect(() => add(a, b)).toThrow(ShapeError);
    expect(() => add(a, b)).toThrow(/a has shape \[2, 3\] but b has shape \[3, 2\]/);
    expect(() => matmul(a, a)).toThrow(/a's columns \(3\) must equal b's rows \(2\)/);
    expect(() => tensor(ctx, [1, 2, 3], [2, 2])).toThrow(/data has 3 elements but shape \[2, 2\] needs 4/);
  });

  it('wrong dtype', async () => {
    const ctx = await testGpu();
    const i = tensor(ctx, Int32Array.of(1, 2));
    const f = tensor(ctx, [1, 2]);
    expect(() => add(i, f)).toThrow(DTypeError);
    expect(() => add(i, f)).toThrow(/add: a has dtype i32, expected f32/);
    expect(() => tensor(ctx, [1.5], [1], { dtype: 'i32' })).toThrow(/\[0\] = 1.5 is not an int32/);
    // a mis-typed binding at the pipeline level
    expect(() => ctx.run(probe, { src: i, dst: f, params: { n: 2, alpha: 1 } }, 1)).toThrow(BindingError);
    expect(() => ctx.run(probe, { src: i, dst: f, params: { n: 2, alpha: 1 } }, 1)).toThrow(/binding src expects f32 elements but got a tensor of dtype i32/);
  });

  it('disposed tensor', async () => {
    const ctx = await testGpu();
    const a = tensor(ctx, [1, 2], [2], { label: 'weights' });
    a.dispose();
    expect(() => add(a, a)).toThrow(DisposedError);
    expect(() => add(a, a)).toThrow(/weights \(shape \[2\]\) was used after dispose/);
    await expect(a.read()).rejects.toThrow(DisposedError);
  });

  it('missing, extra and mis-typed bindings in a pipeline call', async () => {
    const ctx = await testGpu();
    const src = tensor(ctx, [1, 2]);
    const dst = zeros(ctx, [2]);
    expect(() => ctx.run(probe, { src, params: { n: 2, alpha: 1 } }, 1)).toThrow(BindingError);
    expect(() => ctx.run(probe, { src, params: { n: 2, alpha: 1 } }, 1)).toThrow(/binding "dst" \(storage\) is missing/);
    expect(() => ctx.run(probe, { src, dst, extra: src, params: { n: 2, alpha: 1 } }, 1)).toThrow(/binding "extra" does not exist/);
    expect(() => ctx.run(probe, { src, dst, params: { n: 2 } }, 1)).toThrow(/uniform params.alpha \(f32\) is missing/);
    expect(() => ctx.run(probe, { src, dst, params: { n: 2, alpha: 1, beta: 2 } }, 1)).toThrow(/has no member "beta"/);
    expect(() => ctx.run(probe, { src, dst, params: src }, 1)).toThrow(/uniform struct; pass a plain object/);
    ctx.run(probe, { src, dst, params: { n: 2, alpha: 3 } }, 1);
    expect(Array.from(await dst.read())).toEqual([3, 6]);
  });

  it('a tensor larger than maxStorageBufferBindingSize', async () => {
    const ctx = await testGpu();
    const limit = ctx.limits.maxStorageBufferBindingSize;
    const rows = Math.floor(limit / 4 / 1024) + 1;
    const big = zeros(ctx, [rows, 1024], 'f32', { label: 'big' });
    const small = zeros(ctx, [1024, 1]);
    expect(() => matmul(big, small)).toThrow(DeviceLimitError);
    expect(() => matmul(big, small)).toThrow(new RegExp(`over this device's maxStorageBufferBindingSize of ${limit} bytes`));
    big.dispose();
    small.dispose();
  });

  it('a tensor larger than maxBufferSize', async () => {
    const ctx = await testGpu();
    const tooMany = Math.floor(ctx.limits.maxBufferSize / 4) + 1;
    expect(() => zeros(ctx, [tooMany])).toThrow(DeviceLimitError);
  });

  it('no adapter (simulated)', async () => {
    const fakeGpu = { requestAdapter: async () => null } as unknown as GPU;
    await expect(createGpu({ gpu: fakeGpu })).rejects.toThrow(NoAdapterError);
    await expect(createGpu({ gpu: fakeGpu })).rejects.toThrow(/lavapipe/);
    // The advice names a command an installed package has, not a repository script.
    await expect(createGpu({ gpu: fakeGpu })).rejects.toThrow(/npx ghostgrad provision/);
    await expect(createGpu({ gpu: fakeGpu })).rejects.not.toThrow(/scripts\//);
  });

  it('an adapter name that does not match', async () => {
    await expect(createGpu({ adapterName: 'no-such-gpu-xyz' })).rejects.toThrow(NoAdapterError);
  });

  it('WGSL compile errors report line and column', async () => {
    const ctx = await testGpu();
    const broken: KernelSpec = {
      name: 'test.broken',
      source: '@group(0) @binding(0) var<storage, read_write> x: array<f32>;\n@compute @workgroup_size(1) fn main() {\n  x[0] = undefined_thing;\n}\n',
    };
    const err = await ctx.compile(broken).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShaderCompileError);
    expect((err as ShaderCompileError).diagnostics.some((d) => d.line === 3 && d.column > 0)).toBe(true);
    expect(String(err)).toMatch(/3:\d+: .*undefined_thing/);
  });
});

describe('wrong kinds of argument', () => {
  it('a host array where a tensor belongs is a DTypeError that says how to wrap it', async () => {
    const ctx = await testGpu();
    const w = tensor(ctx, [1, 2, 3, 4], [2, 2]);
    expect(() => matmul(new Float32Array(4) as never, w)).toThrow(DTypeError);
    expect(() => matmul(new Float32Array(4) as never, w)).toThrow('matmul: a must be a GPU Tensor; got Float32Array(4). Wrap host data with tensor(ctx, data, shape)');
    expect(() => add(w, [1, 2] as never)).toThrow(/got Array\(2\)/);
    w.dispose();
  });

  it('tensor() refuses data of other types, naming them (BigInt64Array with a conversion hint)', async () => {
    const ctx = await testGpu();
    expect(() => tensor(ctx, new BigInt64Array(3) as never)).toThrow(DTypeError);
    expect(() => tensor(ctx, new BigInt64Array(3) as never)).toThrow(/got BigInt64Array\(3\) \(64-bit integers: convert with Int32Array\.from\(data, Number\)/);
    expect(() => tensor(ctx, 'abc' as never)).toThrow(/got string "abc"/);
    expect(() => tensor(ctx, new Uint8Array(3) as never)).toThrow(/got Uint8Array\(3\)/);
  });
});

describe('device loss', () => {
  it('pending and later reads, sync() and new work reject with DeviceLostError carrying the reason', async () => {
    const ctx = await createGpu();
    try {
      const t = tensor(ctx, [1, 2, 3]);
      await ctx.sync();
      const pending = t.read();
      ctx.device.destroy();
      await expect(pending).rejects.toThrow(DeviceLostError);
      await expect(t.read()).rejects.toThrow(/GPU device lost \(reason: destroyed/);
      await expect(ctx.sync()).rejects.toThrow(DeviceLostError);
      expect(() => add(t, t)).toThrow(DeviceLostError);
    } finally {
      await ctx.dispose();
    }
  });
});
