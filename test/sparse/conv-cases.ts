// Shared by the sparse-conv GPU tests (conv.test.ts, conv-pairs.test.ts): a
// random f32-representable case, a GPU run with gradients, and the
// comparison of forward, dX, dW and db with the float64 reference.
import { expect } from 'vitest';
import { backward } from '../../src/autodiff/tape.js';
import { tensor, type Tensor } from '../../src/runtime/tensor.js';
import type { KernelMap } from '../../src/kernels/sparse/kernel-map.reference.js';
import { sparseConvBackward, sparseConvForward } from '../../src/kernels/sparse/conv.reference.js';
import { testGpu } from '../helpers/gpu.js';
import { f32, randomFeats, relToMax, rng } from './sparse-data.js';

/** Inputs of one conv test, values exactly representable in f32. */
export interface Case {
  feats: Float64Array;
  weight: Float64Array;
  bias: Float64Array;
  gradOut: Float64Array;
}

export function randomCase(seed: number, nIn: number, nOut: number, v: number, cin: number, cout: number): Case {
  const r = rng(seed);
  return {
    feats: f32(randomFeats(r, nIn, cin)),
    weight: f32(randomFeats(r, v * cin, cout)),
    bias: f32(randomFeats(r, 1, cout)),
    gradOut: f32(randomFeats(r, nOut, cout)),
  };
}

/** Forward, dX, dW, db of one GPU run, as float64 and as f32 bit patterns. */
export interface Results {
  out: Float64Array;
  dX: Float64Array;
  dW: Float64Array;
  db: Float64Array;
  bits: Uint32Array[];
}

/** Runs a conv with gradients (under the current algorithm). */
export async function runConv(
  numIn: number,
  numOut: number,
  v: number,
  cin: number,
  cout: number,
  c: Case,
  run: (x: Tensor, w: Tensor, b: Tensor) => Tensor,
): Promise<Results> {
  const ctx = await testGpu();
  return ctx.scope(async () => {
    const x = tensor(ctx, Float32Array.from(c.feats), [numIn, cin], { requiresGrad: true });
    const w = tensor(ctx, Float32Array.from(c.weight), [v, cin, cout], { requiresGrad: true });
    const b = tensor(ctx, Float32Array.from(c.bias), [cout], { requiresGrad: true });
    const y = run(x, w, b);
    backward(y, tensor(ctx, Float32Array.from(c.gradOut), [numOut, cout]));
    const all = [y, x.grad!, w.grad!, b.grad!];
    const bits = await Promise.all(all.map(async (t) => new Uint32Array(Float32Array.from((await t.read()) as Float32Array).buffer)));
    const [out, dX, dW, db] = await Promise.all(all.map((t) => t.readF64()));
    return { out: out!, dX: dX!, dW: dW!, db: db!, bits };
  });
}

/**
 * Runs a GPU conv with gradients and compares all four results with the
 * float64 reference on `refMap`: forward and dX within `tol.fwd`, dW and db
 * within `tol.grad`, relative to the largest reference magnitude.
 */
export async function checkAgainstReference(
  refMap: KernelMap,
  c: Case,
  cin: number,
  cout: number,
  run: (x: Tensor, w: Tensor, b: Tensor) => Tensor,
  tol = { fwd: 2e-5, grad: 2e-4 },
): Promise<Results> {
  const params = { map: refMap, weight: c.weight, bias: c.bias, inChannels: cin, outChannels: cout };
  const refOut = sparseConvForward(c.feats, params);
  const refG = sparseConvBackward(c.feats, c.gradOut, params);
  const got = await runConv(refMap.numIn, refMap.numOut, refMap.kernelVolume, cin, cout, c, run);
  expect(relToMax(got.out, refOut), 'forward').toBeLessThan(tol.fwd);
  expect(relToMax(got.dX, refG.gradFeats), 'dX').toBeLessThan(tol.fwd);
  expect(relToMax(got.dW, refG.gradWeight), 'dW').toBeLessThan(tol.grad);
  expect(relToMax(got.db, refG.gradBias), 'db').toBeLessThan(tol.grad);
  return got;
}
