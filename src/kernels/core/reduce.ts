/**
 * Deterministic full reductions: `sum` and `mean`, with their backward (a
 * broadcast). WGSL: `src/wgsl/core/reduce.wgsl`; reference:
 * `reduce.reference.ts`.
 *
 * @module
 */
import { defineOp } from '../../autodiff/tape.js';
import type { KernelSpec } from '../../runtime/kernel.js';
import { empty, type Tensor } from '../../runtime/tensor.js';
import { wgsl } from '../../wgsl/index.js';
import { checkDType } from '../checks.js';

const WG = 256;
/** Elements reduced per workgroup: WG threads × ITEMS (see reduce.wgsl). */
const TILE = WG * 8;

const sumTiles: KernelSpec = { name: 'core.sum_tiles', source: wgsl('core/reduce'), entryPoint: 'sum_tiles' };
const broadcastScalar: KernelSpec = { name: 'core.broadcast_scalar', source: wgsl('core/reduce'), entryPoint: 'broadcast_scalar' };

/**
 * Σ x · scale as a [1] tensor, by passes of fixed-shape tile sums. The order
 * of additions depends only on x.size, so results are bitwise reproducible.
 */
export function reduceSum(x: Tensor, scale = 1): Tensor {
  const ctx = x.ctx;
  let src = x;
  let n = x.size;
  if (n === 0) {
    const out = empty(ctx, [1]);
    ctx.run(broadcastScalar, { src: x, dst: out, params: { n: 1, scale: 0 } }, 1);
    return out;
  }
  for (;;) {
    const tiles = Math.ceil(n / TILE);
    const last = tiles === 1;
    const dst = empty(ctx, [tiles]);
    const groups = ctx.grid(tiles * WG, WG);
    ctx.run(sumTiles, { src, dst, params: { n, scale: last ? scale : 1 } }, groups);
    if (src !== x) src.dispose();
    if (last) return dst;
    src = dst;
    n = tiles;
  }
}

/** A tensor of `shape` filled with g[0] · scale. */
export function broadcast(g: Tensor, shape: readonly number[], scale = 1): Tensor {
  const out = empty(g.ctx, shape);
  if (out.size > 0) out.ctx.run(broadcastScalar, { src: g, dst: out, params: { n: out.size, scale } }, out.ctx.grid(out.size, WG));
  return out;
}

const sumOp = defineOp<null>({
  name: 'sum',
  forward: ([x]) => reduceSum(x!),
  vjp: ({ gradOutputs: [g], inputs: [x] }) => [broadcast(g!, x!.shape)],
});

/** Σ of all elements, as a tensor of shape [1]. Deterministic (no atomics). */
export function sum(x: Tensor): Tensor<'f32'> {
  checkDType('sum', 'x', x);
  return sumOp([x], null)[0]! as Tensor<'f32'>;
}

const meanOp = defineOp<null>({
  name: 'mean',
  forward: ([x]) => reduceSum(x!, x!.size === 0 ? NaN : 1 / x!.size),
  vjp: ({ gradOutputs: [g], inputs: [x] }) => [broadcast(g!, x!.shape, 1 / x!.size)],
});

/** Mean of all elements, as a tensor of shape [1] (NaN for an empty tensor, like PyTorch). */
export function mean(x: Tensor): Tensor<'f32'> {
  checkDType('mean', 'x', x);
  return meanOp([x], null)[0]! as Tensor<'f32'>;
}
