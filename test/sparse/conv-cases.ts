// Shared by the sparse-conv GPU tests (conv.test.ts, conv-pairs.test.ts,
// conv-igemm.test.ts): a random f32-representable case, a GPU run with
// gradients, the comparison of forward, dX, dW and db with the float64
// reference, adversarial sites and random maps.
import { expect } from 'vitest';
import { backward } from '../../src/autodiff/tape.js';
import { tensor, type Tensor } from '../../src/runtime/tensor.js';
import type { KernelMap } from '../../src/kernels/sparse/kernel-map.reference.js';
import { sparseConvBackward, sparseConvForward } from '../../src/kernels/sparse/conv.reference.js';
import { submanifoldConv } from '../../src/kernels/sparse/conv.js';
import { CoordinateSet, SparseTensor } from '../../src/kernels/sparse/sparse-tensor.js';
import { testGpu } from '../helpers/gpu.js';
import { batchEvents, f32, randomCloud, randomFeats, relToMax, rng, shuffleRows, straightTrack, type Rng } from './sparse-data.js';

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

/** Sites at cube corners of 3×3×3 (fully dense) blocks, isolated voxels and a track, one batch item each. */
export function adversarialCoords(seed: number): Int32Array {
  const r = rng(seed);
  const block = (x0: number, y0: number, z0: number, e: number): number[] => {
    const rows: number[] = [];
    for (let x = 0; x < e; x++) for (let y = 0; y < e; y++) for (let z = 0; z < e; z++) rows.push(0, x0 + x, y0 + y, z0 + z);
    return rows;
  };
  const dense = Int32Array.from([...block(10, 10, 10, 3), ...block(20, 10, 10, 4), ...block(30, 30, 30, 5)]);
  // Isolated voxels: on a lattice of spacing 4, no two within reach of a 3×3×3 kernel.
  const iso: number[] = [];
  for (let i = 0; i < 60; i++) iso.push(0, 4 * (i % 8), 4 * Math.floor(i / 8), 40);
  const evs = [dense, Int32Array.from(iso), straightTrack(r, 3, 48, 40), randomCloud(r, 3, 12, 0.05)];
  return shuffleRows(r, batchEvents(evs, 3), 4).coords;
}

/** A random map with at most one pair per (output, offset) and per (input, offset); many rows have none. */
export function randomMap(r: Rng, numIn: number, numOut: number, v: number, density: number): KernelMap {
  const pairStart = new Int32Array(v + 1);
  const ins: number[] = [];
  const outs: number[] = [];
  for (let k = 0; k < v; k++) {
    const perm = Array.from({ length: numIn }, (_, i) => i);
    for (let i = numIn - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    let next = 0;
    for (let o = 0; o < numOut && next < numIn; o++) {
      if (r() < density) {
        ins.push(perm[next++]!);
        outs.push(o);
      }
    }
    pairStart[k + 1] = ins.length;
  }
  return { dim: 3, kernelSize: [v, 1, 1], kernelVolume: v, numIn, numOut, pairStart, inRow: Int32Array.from(ins), outRow: Int32Array.from(outs) };
}

/** An empty tensor (N = 0) through a submanifold conv with bias: [0, Cout] out, zero weight gradients. */
export async function checkEmptyConv(): Promise<void> {
  const ctx = await testGpu();
  await ctx.scope(async () => {
    const set = new CoordinateSet(ctx, 3, new Int32Array(0));
    const x = new SparseTensor(set, tensor(ctx, new Float32Array(0), [0, 4], { requiresGrad: true }));
    const w = tensor(ctx, new Float32Array(27 * 4 * 3).fill(1), [27, 4, 3], { requiresGrad: true });
    const b = tensor(ctx, new Float32Array(3).fill(1), [3], { requiresGrad: true });
    const y = submanifoldConv(x, w, { bias: b });
    expect(y.feats.shape).toEqual([0, 3]);
    backward(y.feats, tensor(ctx, new Float32Array(0), [0, 3]));
    expect(Array.from(await w.grad!.read()).every((v) => v === 0)).toBe(true);
    set.dispose();
  });
}
