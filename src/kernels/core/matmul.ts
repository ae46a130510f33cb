/**
 * Dense matrix multiply and its backward. WGSL: `src/wgsl/core/matmul.wgsl`
 * (128×128 tiles, 8×8 register blocking per thread); reference: `matmul.reference.ts`.
 *
 * @module
 */
import { ShapeError, show } from '../../errors.js';
import { defineOp } from '../../autodiff/tape.js';
import type { KernelSpec } from '../../runtime/kernel.js';
import { empty, type Tensor } from '../../runtime/tensor.js';
import { wgsl } from '../../wgsl/index.js';
import { checkDType, checkRank } from '../checks.js';

const TILE = 128;
const matmulSpec: KernelSpec = { name: 'core.matmul', source: wgsl('core/matmul'), entryPoint: 'matmul' };

/**
 * C = op(A)·op(B) without recording. `transA` means A is stored [K, M];
 * `transB` means B is stored [N, K].
 */
export function matmulRaw(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
  const [ar, ac] = a.shape as [number, number];
  const [br, bc] = b.shape as [number, number];
  const M = transA ? ac : ar;
  const K = transA ? ar : ac;
  const Kb = transB ? bc : br;
  const N = transB ? br : bc;
  if (K !== Kb) {
    throw new ShapeError(
      `matmul: inner dimensions differ: a is ${show(a.shape)}${transA ? 'ᵀ' : ''}, b is ${show(b.shape)}${transB ? 'ᵀ' : ''} (${K} vs ${Kb}); ` +
        'a must be [M, K] and b [K, N]',
    );
  }
  const ctx = a.ctx;
  const c = empty(ctx, [M, N]);
  if (M * N === 0) return c;
  if (K === 0) {
    ctx.commandEncoder().clearBuffer(c.buffer, c.byteOffset, Math.ceil(c.byteLength / 4) * 4);
    return c;
  }
  // Row tiles beyond the per-dimension grid limit fold into z (tall matrices, e.g. [9e6, 1]·[1, 2]).
  const rowTiles = Math.ceil(M / TILE);
  const perDim = ctx.limits.maxComputeWorkgroupsPerDimension;
  const y = Math.min(rowTiles, perDim);
  ctx.run(
    matmulSpec,
    { a, b, c, params: { M, N, K } },
    [Math.ceil(N / TILE), y, Math.ceil(rowTiles / y)],
    { TRANS_A: transA, TRANS_B: transB },
  );
  return c;
}

const matmulOp = defineOp<null>({
  name: 'matmul',
  forward: ([a, b], _, saver) => {
    saver.save(a!, b!);
    return matmulRaw(a!, b!);
  },
  // dA = dC · Bᵀ, dB = Aᵀ · dC
  vjp: ({ gradOutputs: [g], saved: [a, b], needsGrad }) => [
    needsGrad[0] ? matmulRaw(g!, b!, false, true) : null,
    needsGrad[1] ? matmulRaw(a!, g!, true, false) : null,
  ],
});

/** Matrix product of a [M, K] and b [K, N] → [M, N], f32 accumulation in a fixed order. */
export function matmul(a: Tensor, b: Tensor): Tensor<'f32'> {
  checkDType('matmul', 'a', a);
  checkDType('matmul', 'b', b);
  checkRank('matmul', 'a', a, 2);
  checkRank('matmul', 'b', b, 2);
  if (a.shape[1] !== b.shape[0]) {
    throw new ShapeError(
      `matmul: a has shape ${show(a.shape)} and b has shape ${show(b.shape)}; a's columns (${a.shape[1]}) must equal b's rows (${b.shape[0]})`,
    );
  }
  return matmulOp([a, b], null)[0]! as Tensor<'f32'>;
}
