/**
 * Argument checks shared by every kernel wrapper. Each throws a typed error
 * whose message names the op, the argument, the value and the fix.
 *
 * @module
 */
import { describeValue, DTypeError, ShapeError, show } from '../errors.js';
import type { DType } from '../runtime/dtype.js';
import type { Tensor } from '../runtime/tensor.js';

export function checkDType(op: string, arg: string, t: Tensor, dtype: DType = 'f32'): void {
  if ((t as { isTensor?: unknown } | null)?.isTensor !== true) {
    throw new DTypeError(
      `${op}: ${arg} must be a GPU Tensor; got ${describeValue(t)}. Wrap host data with tensor(ctx, data, shape)`,
    );
  }
  if (t.dtype !== dtype) {
    throw new DTypeError(`${op}: ${arg} has dtype ${t.dtype}, expected ${dtype}; convert it before the call`);
  }
}

export function checkSameShape(op: string, argA: string, a: Tensor, argB: string, b: Tensor): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new ShapeError(
      `${op}: ${argA} has shape ${show(a.shape)} but ${argB} has shape ${show(b.shape)}; elementwise ops need equal shapes`,
    );
  }
}

export function checkRank(op: string, arg: string, t: Tensor, rank: number): void {
  if (t.shape.length !== rank) {
    throw new ShapeError(`${op}: ${arg} must have rank ${rank}, got shape ${show(t.shape)}`);
  }
}

export function checkFinite(op: string, arg: string, value: number): void {
  if (!Number.isFinite(value)) {
    throw new ShapeError(`${op}: ${arg} = ${show(value)} must be a finite number`);
  }
}
