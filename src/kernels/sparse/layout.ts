/**
 * Weight-layout converters between ghostgrad's sparse-conv layout
 * [V, Cin, Cout] (offset index k with x slowest, z fastest; see
 * kernel-map.reference.ts) and the layouts of SparseConvNet,
 * MinkowskiEngine and spconv. All arrays are flat, row-major Float64Array.
 *
 * Facts these converters rely on (SparseConvNet: its fixture in
 * test/fixtures/sparseconvnet-subm3; MinkowskiEngine: the tap iteration of
 * its kernel region; spconv: its documented weight layouts):
 * - SparseConvNet stores [V, groups, Cin/groups, Cout/groups] with the same
 *   offset order as ghostgrad (k = (dx+1)·9 + (dy+1)·3 + (dz+1) for K = 3).
 * - MinkowskiEngine (v0.5, HYPER_CUBE region) stores [V, Cin, Cout] but
 *   enumerates kernel taps with the FIRST spatial axis fastest:
 *   k_ME = (i2·K1 + i1)·K0 + i0, whereas ghostgrad's k = (i0·K1 + i1)·K2 + i2.
 *   Its tap positions start at −(K−1)/2 for odd K and at 0 for even K.
 * - spconv 2.x stores [Cout, K0, K1, K2, Cin] ("KRSC"), spconv 1.x
 *   [K0, K1, K2, Cin, Cout]; kernel axis a pairs with index column 1 + a,
 *   and the operation follows torch.nn.Conv3d (cross-correlation). No spconv
 *   fixture checks this here; treat it as the stated assumption.
 *
 * @module
 */

import { InputValueError, ShapeError, show } from '../../errors.js';
import { type SpatialDim, checkCount, checkDim, perAxis } from './coords.js';
import { kernelIndex, kernelPosition, kernelVolumeOf } from './kernel-map.reference.js';

/** Which axis of the kernel varies fastest along a flat offset index. */
export type OffsetOrder =
  /** ghostgrad and SparseConvNet: k = (i0·K1 + i1)·K2 + i2 (last spatial axis fastest). */
  | 'last-axis-fastest'
  /** MinkowskiEngine: k = (i2·K1 + i1)·K0 + i0 (first spatial axis fastest). */
  | 'first-axis-fastest';

/** Layout of a spconv weight. */
export type SpconvLayout =
  /** spconv 2.x default ("KRSC"): [Cout, K0, K1(, K2), Cin]. */
  | 'out-kernel-in'
  /** spconv 1.x: [K0, K1(, K2), Cin, Cout]. */
  | 'kernel-in-out';

/** Options of the spconv converters. */
export interface SpconvOptions {
  /** Default 'out-kernel-in' (spconv 2.x). */
  readonly layout?: SpconvLayout;
  /**
   * 'same' (default): ghostgrad coordinate column 1 + a is spconv index
   * column 1 + a. 'reversed': ghostgrad columns are spconv's in reverse
   * (e.g. spconv indices (b, z, y, x) fed to ghostgrad as (b, x, y, z)), so
   * kernel axes are reversed too.
   */
  readonly axes?: 'same' | 'reversed';
}

function checkWeight(weight: Float64Array, need: number, argName: string, layout: string): void {
  if (!(weight instanceof Float64Array) || weight.length !== need) {
    throw new ShapeError(`${argName} has ${weight.length} elements but ${layout} needs ${need}; check kernelSize, inChannels and outChannels.`);
  }
}

function setup(dim: SpatialDim, kernelSize: number | readonly number[], cin: number, cout: number): { ks: number[]; v: number } {
  checkDim(dim);
  checkCount(cin, 'inChannels', 1);
  checkCount(cout, 'outChannels', 1);
  const ks = perAxis(kernelSize, dim, 'kernelSize');
  ks.forEach((k, a) => {
    if (!Number.isInteger(k) || k < 1) throw new InputValueError(`kernelSize[${a}] = ${show(k)} must be an integer ≥ 1.`);
  });
  return { ks, v: kernelVolumeOf(ks) };
}

/** Flat offset index of ghostgrad kernel position `pos` under `order`. */
export function offsetIndexIn(order: OffsetOrder, pos: readonly number[], kernelSize: readonly number[]): number {
  if (order === 'last-axis-fastest') return kernelIndex(pos, kernelSize);
  if (order === 'first-axis-fastest') return kernelIndex([...pos].reverse(), [...kernelSize].reverse());
  throw new InputValueError(`offsetOrder = ${show(order)} is not valid; pass 'last-axis-fastest' (ghostgrad, SparseConvNet) or 'first-axis-fastest' (MinkowskiEngine).`);
}

/**
 * SparseConvNet [V, 1, Cin, Cout] → ghostgrad [V, Cin, Cout]: the unit groups
 * dimension is dropped, the offset order is already the same (a copy).
 */
export function fromSparseConvNet(weight: Float64Array, kernelVolume: number, cin: number, cout: number): Float64Array {
  checkCount(kernelVolume, 'kernelVolume', 1);
  checkWeight(weight, kernelVolume * cin * cout, 'weight', `SparseConvNet [V, 1, Cin, Cout] = [${kernelVolume}, 1, ${cin}, ${cout}] (groups = 1 only)`);
  return Float64Array.from(weight);
}

/** ghostgrad [V, Cin, Cout] → SparseConvNet [V, 1, Cin, Cout] (a copy). */
export function toSparseConvNet(weight: Float64Array, kernelVolume: number, cin: number, cout: number): Float64Array {
  checkCount(kernelVolume, 'kernelVolume', 1);
  checkWeight(weight, kernelVolume * cin * cout, 'weight', `ghostgrad [V, Cin, Cout] = [${kernelVolume}, ${cin}, ${cout}]`);
  return Float64Array.from(weight);
}

function reorder(weight: Float64Array, ks: readonly number[], block: number, srcIndexOfK: (k: number) => number): Float64Array {
  const v = kernelVolumeOf(ks);
  const out = new Float64Array(weight.length);
  for (let k = 0; k < v; k++) out.set(weight.subarray(srcIndexOfK(k) * block, (srcIndexOfK(k) + 1) * block), k * block);
  return out;
}

/**
 * MinkowskiEngine [V, Cin, Cout] → ghostgrad [V, Cin, Cout], permuting offsets
 * from `offsetOrder` (default 'first-axis-fastest', MinkowskiEngine v0.5) to
 * ghostgrad's order. Kernel sizes are per ghostgrad axis (x, y, z), which
 * are MinkowskiEngine's coordinate columns 1..D in the same order.
 */
export function fromMinkowski(
  weight: Float64Array,
  dim: SpatialDim,
  kernelSize: number | readonly number[],
  cin: number,
  cout: number,
  offsetOrder: OffsetOrder = 'first-axis-fastest',
): Float64Array {
  const { ks, v } = setup(dim, kernelSize, cin, cout);
  checkWeight(weight, v * cin * cout, 'weight', `MinkowskiEngine [V, Cin, Cout] = [${v}, ${cin}, ${cout}]`);
  return reorder(weight, ks, cin * cout, (k) => offsetIndexIn(offsetOrder, kernelPosition(k, ks), ks));
}

/** ghostgrad [V, Cin, Cout] → MinkowskiEngine [V, Cin, Cout] (inverse of {@link fromMinkowski}). */
export function toMinkowski(
  weight: Float64Array,
  dim: SpatialDim,
  kernelSize: number | readonly number[],
  cin: number,
  cout: number,
  offsetOrder: OffsetOrder = 'first-axis-fastest',
): Float64Array {
  const { ks, v } = setup(dim, kernelSize, cin, cout);
  checkWeight(weight, v * cin * cout, 'weight', `ghostgrad [V, Cin, Cout] = [${v}, ${cin}, ${cout}]`);
  const out = new Float64Array(weight.length);
  const block = cin * cout;
  for (let k = 0; k < v; k++) {
    const dst = offsetIndexIn(offsetOrder, kernelPosition(k, ks), ks);
    out.set(weight.subarray(k * block, (k + 1) * block), dst * block);
  }
  return out;
}

/**
 * Index of element (spconv kernel flat index ks, cin a, cout b) in a spconv
 * weight. `kSp` enumerates spconv's kernel axes with the last fastest.
 */
function spconvIndex(layout: SpconvLayout, v: number, cin: number, cout: number, kSp: number, a: number, b: number): number {
  return layout === 'out-kernel-in' ? (b * v + kSp) * cin + a : (kSp * cin + a) * cout + b;
}

function spconvSetup(options: SpconvOptions): { layout: SpconvLayout; reversed: boolean } {
  const layout = options.layout ?? 'out-kernel-in';
  const axes = options.axes ?? 'same';
  if (layout !== 'out-kernel-in' && layout !== 'kernel-in-out') {
    throw new InputValueError(`options.layout = ${show(layout)} is not valid; pass 'out-kernel-in' (spconv 2.x, [Cout, K..., Cin]) or 'kernel-in-out' (spconv 1.x, [K..., Cin, Cout]).`);
  }
  if (axes !== 'same' && axes !== 'reversed') {
    throw new InputValueError(`options.axes = ${show(axes)} is not valid; pass 'same' or 'reversed'.`);
  }
  return { layout, reversed: axes === 'reversed' };
}

/** spconv flat kernel index of ghostgrad kernel position `pos`. */
function spconvK(pos: readonly number[], ks: readonly number[], reversed: boolean): number {
  return reversed ? kernelIndex([...pos].reverse(), [...ks].reverse()) : kernelIndex(pos, ks);
}

/**
 * spconv weight → ghostgrad [V, Cin, Cout]. `kernelSize` is per ghostgrad
 * axis; with axes 'reversed' spconv's kernel shape is its reverse.
 */
export function fromSpconv(
  weight: Float64Array,
  dim: SpatialDim,
  kernelSize: number | readonly number[],
  cin: number,
  cout: number,
  options: SpconvOptions = {},
): Float64Array {
  const { ks, v } = setup(dim, kernelSize, cin, cout);
  const { layout, reversed } = spconvSetup(options);
  checkWeight(weight, v * cin * cout, 'weight', `spconv ${layout} with V = ${v}, Cin = ${cin}, Cout = ${cout}`);
  const out = new Float64Array(weight.length);
  for (let k = 0; k < v; k++) {
    const kSp = spconvK(kernelPosition(k, ks), ks, reversed);
    for (let a = 0; a < cin; a++) {
      for (let b = 0; b < cout; b++) out[(k * cin + a) * cout + b] = weight[spconvIndex(layout, v, cin, cout, kSp, a, b)]!;
    }
  }
  return out;
}

/** ghostgrad [V, Cin, Cout] → spconv weight (inverse of {@link fromSpconv}). */
export function toSpconv(
  weight: Float64Array,
  dim: SpatialDim,
  kernelSize: number | readonly number[],
  cin: number,
  cout: number,
  options: SpconvOptions = {},
): Float64Array {
  const { ks, v } = setup(dim, kernelSize, cin, cout);
  const { layout, reversed } = spconvSetup(options);
  checkWeight(weight, v * cin * cout, 'weight', `ghostgrad [V, Cin, Cout] = [${v}, ${cin}, ${cout}]`);
  const out = new Float64Array(weight.length);
  for (let k = 0; k < v; k++) {
    const kSp = spconvK(kernelPosition(k, ks), ks, reversed);
    for (let a = 0; a < cin; a++) {
      for (let b = 0; b < cout; b++) out[spconvIndex(layout, v, cin, cout, kSp, a, b)] = weight[(k * cin + a) * cout + b]!;
    }
  }
  return out;
}
