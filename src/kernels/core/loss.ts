/**
 * Mean-squared-error loss. WGSL: `src/wgsl/core/loss.wgsl`; reference:
 * `loss.reference.ts`.
 *
 * @module
 */
import { defineOp } from '../../autodiff/tape.js';
import type { KernelSpec } from '../../runtime/kernel.js';
import { empty, type Tensor } from '../../runtime/tensor.js';
import { wgsl } from '../../wgsl/index.js';
import { checkDType, checkSameShape } from '../checks.js';
import { reduceSum } from './reduce.js';

const WG = 256;
const squaredError: KernelSpec = { name: 'core.squared_error', source: wgsl('core/loss'), entryPoint: 'squared_error' };
const mseBackward: KernelSpec = { name: 'core.mse_backward', source: wgsl('core/loss'), entryPoint: 'mse_backward' };

const mseOp = defineOp<null>({
  name: 'mseLoss',
  forward: ([pred, target], _, saver) => {
    saver.save(pred!, target!);
    const ctx = pred!.ctx;
    const n = pred!.size;
    const sq = empty(ctx, pred!.shape);
    ctx.run(squaredError, { pred: pred!, target_values: target!, out: sq, params: { n, factor: 0 } }, ctx.grid(n, WG));
    const loss = reduceSum(sq, 1 / n);
    sq.dispose();
    return loss;
  },
  vjp: ({ gradOutputs: [g], saved: [pred, target], needsGrad }) => {
    const ctx = pred!.ctx;
    const n = pred!.size;
    const grad = (factor: number) => {
      const out = empty(ctx, pred!.shape);
      ctx.run(mseBackward, { pred: pred!, target_values: target!, grad: g!, out, params: { n, factor } }, ctx.grid(n, WG));
      return out;
    };
    return [needsGrad[0] ? grad(2 / n) : null, needsGrad[1] ? grad(-2 / n) : null];
  },
});

/** L = mean((pred − target)²), a [1] tensor. Both arguments may require gradients. */
export function mseLoss(pred: Tensor, target: Tensor): Tensor<'f32'> {
  checkDType('mseLoss', 'pred', pred);
  checkDType('mseLoss', 'target', target);
  checkSameShape('mseLoss', 'pred', pred, 'target', target);
  return mseOp([pred, target], null)[0]! as Tensor<'f32'>;
}
