/**
 * Argument checks shared by the GPU sparse ops (batchnorm, pool, ops, loss).
 * Each throws a typed error naming the op, the argument, the value and the fix.
 *
 * @module
 */
import { DTypeError, InputValueError, ShapeError, show } from '../../errors.js';
import { describeValue as describe } from '../../errors.js';
import type { Tensor } from '../../runtime/tensor.js';
import { SparseTensor } from './sparse-tensor.js';

/** Checks that `x` is a live SparseTensor (coordinates and features not disposed). */
export function checkSparse(op: string, arg: string, x: SparseTensor): void {
  if (!(x instanceof SparseTensor)) {
    throw new InputValueError(`${op}: ${arg} must be a SparseTensor (see sparseTensor()); got ${describe(x)}`);
  }
  x.coords.check();
  void x.feats.buffer; // DisposedError naming the features
}

/** Checks a per-channel f32 vector [channels]. */
export function checkChannelVector(op: string, arg: string, t: Tensor, channels: number): void {
  if (t === null || typeof t !== 'object' || (t as { isTensor?: boolean }).isTensor !== true) {
    throw new InputValueError(`${op}: ${arg} must be an f32 Tensor [${channels}]; got ${describe(t)}`);
  }
  if (t.dtype !== 'f32') throw new DTypeError(`${op}: ${arg} has dtype ${t.dtype}, expected f32 [${channels}]; convert it before the call`);
  if (t.shape.length !== 1 || t.shape[0] !== channels) {
    throw new ShapeError(`${op}: ${arg} has shape ${show(t.shape)} but the input has ${channels} channels; pass a tensor of shape [${channels}]`);
  }
  void t.buffer;
}

/** Checks a finite number within [lo, hi]. */
export function checkRange(op: string, arg: string, v: number, lo: number, hi: number, fix: string): void {
  if (typeof v !== 'number' || !(v >= lo && v <= hi)) {
    throw new InputValueError(`${op}: ${arg} = ${show(v)} must be a number in [${lo}, ${hi}]; ${fix}`);
  }
}

export { describe };
