import { describe, expect, it } from 'vitest';
import {
  add, exp, gradcheck, leakyRelu, log, mul, relu, scale, seededRandom, sigmoid, sin, sub, tensor,
  type HostTensor, type ReferenceOp, type Tensor,
} from '../../src/index.js';
import { elementwiseReference as ref } from '../../src/kernels/core/elementwise.reference.js';
import { randomArray, testGpu } from '../helpers/gpu.js';

const rand = seededRandom(7);
const shape = [37, 29]; // not a multiple of the workgroup size
const n = 37 * 29;
const host = (lo = -3, hi = 3): HostTensor => ({ shape, data: randomArray(rand, n, lo, hi) });

// Each case: GPU op, reference, inputs, attrs. Elementwise f32 ops are
// correctly rounded or within a few ulp (sin/exp/log), so 1e-5 relative to
// the array's largest magnitude is a comfortable forward tolerance; the
// backward adds one product, hence 1e-4.
const cases: [string, (xs: Tensor[], a: number) => Tensor, ReferenceOp<number>, () => HostTensor[], number][] = [
  ['add', ([a, b]) => add(a!, b!), ref.add, () => [host(), host()], 0],
  ['sub', ([a, b]) => sub(a!, b!), ref.sub, () => [host(), host()], 0],
  ['mul', ([a, b]) => mul(a!, b!), ref.mul, () => [host(), host()], 0],
  ['scale', ([a], s) => scale(a!, s), ref.scale, () => [host()], -1.75],
  ['relu', ([a]) => relu(a!), ref.relu, () => [avoidZero(host())], 0],
  ['leakyRelu', ([a], s) => leakyRelu(a!, s), ref.leakyRelu, () => [avoidZero(host())], 0.33],
  ['sin', ([a]) => sin(a!), ref.sin, () => [host()], 0],
  ['exp', ([a]) => exp(a!), ref.exp, () => [host(-2, 2)], 0],
  ['log', ([a]) => log(a!), ref.log, () => [host(0.2, 4)], 0],
  ['sigmoid', ([a]) => sigmoid(a!), ref.sigmoid, () => [host(-8, 8)], 0],
];

/** Keeps central differences away from the kink at 0. */
function avoidZero(t: HostTensor): HostTensor {
  return { shape: t.shape, data: t.data.map((v) => (Math.abs(v) < 1e-3 ? 0.5 : v)) };
}

describe('elementwise ops', () => {
  for (const [name, gpu, reference, inputs, attrs] of cases) {
    it(`${name}: forward and backward match the float64 reference; gradcheck passes`, async () => {
      const ctx = await testGpu();
      const report = await gradcheck({ ctx, gpu, reference, inputs: inputs(), attrs, tolerance: { forward: 1e-5, gpu: 1e-4 } });
      expect(report.referenceError).toBeLessThan(1e-6);
      expect(report.forwardError).toBeLessThan(1e-5);
      expect(report.gpuError).toBeLessThan(1e-4);
      expect(report.passed).toBe(true);
    });
  }

  it('sigmoid saturates without overflow', async () => {
    const ctx = await testGpu();
    const y = Array.from(await sigmoid(tensor(ctx, [-200, -90, 0, 90, 200])).read());
    // e^-90 ≈ 8e-40 is subnormal in f32; devices may flush it to zero.
    expect(y[0]).toBe(0);
    expect(y[1]).toBeLessThan(1e-38);
    expect(y.slice(2)).toEqual([0.5, 1, 1]);
  });

  it('is bitwise deterministic across runs', async () => {
    const ctx = await testGpu();
    const x = tensor(ctx, Float32Array.from(randomArray(rand, 5000)), [5000]);
    const run = async () => new Uint32Array((await sigmoid(mul(sin(x), exp(x))).read()).buffer);
    expect(await run()).toEqual(await run());
  });

  it('chunks operands larger than one storage binding', async () => {
    const ctx = await testGpu();
    const maxElems = ctx.limits.maxStorageBufferBindingSize / 4;
    const n = maxElems + 1000;
    // 128 MiB + a bit on lavapipe; still a few hundred MB of host memory at most.
    const a = tensor(ctx, new Float32Array(n).fill(1.5));
    const b = scale(a, 2);
    const tail = new Float32Array(await b.read()).subarray(n - 5);
    expect(Array.from(tail)).toEqual([3, 3, 3, 3, 3]);
    a.dispose();
    b.dispose();
  });
});
