/**
 * Float64 reference of sparse convolution (submanifold, strided, transposed;
 * 2D and 3D) forward and backward, plus a dense cross-correlation reference
 * used to check the sparse one.
 *
 * Forward, for a kernel map M (see kernel-map.reference.ts):
 *
 *     out[o, :] = bias + Σ_k Σ_{(i, o) ∈ M_k} feats[i, :] @ W[k]      W: [V, Cin, Cout]
 *
 * This is cross-correlation (no kernel flip), as in PyTorch, SparseConvNet
 * and MinkowskiEngine.
 *
 * @module
 */

import type { HostTensor, ReferenceOp } from '../../autodiff/gradcheck.js';
import { InputValueError, ShapeError, show } from '../../errors.js';
import { type SpatialDim, checkCount, checkDim, coordColumns, perAxis, showRow, validateFeatures } from './coords.js';
import { type KernelMap, kernelPosition, kernelVolumeOf, pairsOf, transposeKernelMap, validateKernelMap } from './kernel-map.reference.js';

/** Parameters of a sparse convolution. */
export interface SparseConvParams {
  /** Kernel map; its numIn / numOut fix N_in and N_out. */
  readonly map: KernelMap;
  /** Float64Array [V, Cin, Cout], V = map.kernelVolume. */
  readonly weight: Float64Array;
  /** Float64Array [Cout], or null / absent for no bias. */
  readonly bias?: Float64Array | null;
  /** Cin. */
  readonly inChannels: number;
  /** Cout. */
  readonly outChannels: number;
}

/** Gradients of a sparse convolution. */
export interface SparseConvGrads {
  /** Float64Array [N_in, Cin]. */
  readonly gradFeats: Float64Array;
  /** Float64Array [V, Cin, Cout]. */
  readonly gradWeight: Float64Array;
  /** Float64Array [Cout], Σ_o gradOut[o]; returned even when the conv has no bias. */
  readonly gradBias: Float64Array;
}

function checkParams(p: SparseConvParams): void {
  validateKernelMap(p.map);
  checkCount(p.inChannels, 'inChannels', 1);
  checkCount(p.outChannels, 'outChannels', 1);
  const v = p.map.kernelVolume;
  const need = v * p.inChannels * p.outChannels;
  if (!(p.weight instanceof Float64Array) || p.weight.length !== need) {
    throw new ShapeError(`weight has ${p.weight.length} elements but [V, Cin, Cout] = [${v}, ${p.inChannels}, ${p.outChannels}] needs ${need}; weights are laid out [kernelVolume, inChannels, outChannels] (convert other layouts with layout.ts).`);
  }
  if (p.bias != null && p.bias.length !== p.outChannels) {
    throw new ShapeError(`bias has ${p.bias.length} elements; it must be [Cout] = [${p.outChannels}] (or null for no bias).`);
  }
}

/**
 * Sparse convolution forward.
 *
 * @param feats Float64Array [N_in, Cin]
 * @returns Float64Array [N_out, Cout]
 */
export function sparseConvForward(feats: Float64Array, p: SparseConvParams): Float64Array {
  checkParams(p);
  validateFeatures(feats, p.map.numIn, p.inChannels, 'feats');
  const { map, weight, inChannels: cin, outChannels: cout } = p;
  const out = new Float64Array(map.numOut * cout);
  if (p.bias != null) {
    for (let o = 0; o < map.numOut; o++) out.set(p.bias, o * cout);
  }
  for (let k = 0; k < map.kernelVolume; k++) {
    const { inRow, outRow } = pairsOf(map, k);
    const wk = k * cin * cout;
    for (let j = 0; j < inRow.length; j++) {
      const fi = inRow[j]! * cin;
      const fo = outRow[j]! * cout;
      for (let a = 0; a < cin; a++) {
        const x = feats[fi + a]!;
        if (x === 0) continue;
        const wa = wk + a * cout;
        for (let b = 0; b < cout; b++) out[fo + b] = out[fo + b]! + x * weight[wa + b]!;
      }
    }
  }
  return out;
}

/**
 * Per-offset transpose of a weight: Float64Array [V, Cout, Cin] with
 * W'[k] = W[k]ᵀ. A transposed conv sharing weights with a strided conv
 * (PyTorch's ConvTranspose convention) uses this with the transposed map.
 */
export function transposeWeight(weight: Float64Array, kernelVolume: number, cin: number, cout: number): Float64Array {
  const out = new Float64Array(weight.length);
  for (let k = 0; k < kernelVolume; k++) {
    for (let a = 0; a < cin; a++) {
      for (let b = 0; b < cout; b++) out[(k * cout + b) * cin + a] = weight[(k * cin + a) * cout + b]!;
    }
  }
  return out;
}

/**
 * Mirrored transpose for submanifold input gradients: Float64Array
 * [V, Cout, Cin] with W'[k] = W[V − 1 − k]ᵀ. Because a submanifold map is
 * mirror-symmetric, gradFeats = sparseConvForward(gradOut, { map (the same
 * map), weight: mirrorWeight(W) }), so a GPU can reuse the forward map and kernel.
 */
export function mirrorWeight(weight: Float64Array, kernelVolume: number, cin: number, cout: number): Float64Array {
  const out = new Float64Array(weight.length);
  for (let k = 0; k < kernelVolume; k++) {
    const m = kernelVolume - 1 - k;
    for (let a = 0; a < cin; a++) {
      for (let b = 0; b < cout; b++) out[(k * cout + b) * cin + a] = weight[(m * cin + a) * cout + b]!;
    }
  }
  return out;
}

/**
 * Sparse convolution backward.
 *
 *     gradFeats[i]  = Σ_k Σ_{(i, o) ∈ M_k} gradOut[o] @ W[k]ᵀ   (a forward conv with the transposed map)
 *     gradWeight[k] = Σ_{(i, o) ∈ M_k} feats[i]ᵀ ⊗ gradOut[o]
 *     gradBias      = Σ_o gradOut[o]
 *
 * @param feats Float64Array [N_in, Cin], the forward input
 * @param gradOut Float64Array [N_out, Cout]
 */
export function sparseConvBackward(feats: Float64Array, gradOut: Float64Array, p: SparseConvParams): SparseConvGrads {
  checkParams(p);
  validateFeatures(feats, p.map.numIn, p.inChannels, 'feats');
  validateFeatures(gradOut, p.map.numOut, p.outChannels, 'gradOut');
  const { map, weight, inChannels: cin, outChannels: cout } = p;
  const v = map.kernelVolume;
  const gradFeats = sparseConvForward(gradOut, {
    map: transposeKernelMap(map),
    weight: transposeWeight(weight, v, cin, cout),
    inChannels: cout,
    outChannels: cin,
  });
  const gradWeight = new Float64Array(weight.length);
  for (let k = 0; k < v; k++) {
    const { inRow, outRow } = pairsOf(map, k);
    const wk = k * cin * cout;
    for (let j = 0; j < inRow.length; j++) {
      const fi = inRow[j]! * cin;
      const go = outRow[j]! * cout;
      for (let a = 0; a < cin; a++) {
        const x = feats[fi + a]!;
        const wa = wk + a * cout;
        for (let b = 0; b < cout; b++) gradWeight[wa + b] = gradWeight[wa + b]! + x * gradOut[go + b]!;
      }
    }
  }
  const gradBias = new Float64Array(cout);
  for (let o = 0; o < map.numOut; o++) {
    for (let b = 0; b < cout; b++) gradBias[b] = gradBias[b]! + gradOut[o * cout + b]!;
  }
  return { gradFeats, gradWeight, gradBias };
}

/** A dense grid [X, Y(, Z), C] row-major (x slowest, channel fastest). */
export interface DenseGrid {
  /** Spatial dimension. */
  readonly dim: SpatialDim;
  /** Per-axis extent [X, Y] or [X, Y, Z]. */
  readonly extent: readonly number[];
  /** Channels C. */
  readonly channels: number;
  /** Float64Array [X·Y(·Z)·C]. */
  readonly data: Float64Array;
}

function gridCells(extent: readonly number[]): number {
  return extent.reduce((a, b) => a * b, 1);
}

function cellIndex(extent: readonly number[], p: readonly number[]): number {
  let idx = 0;
  for (let a = 0; a < extent.length; a++) idx = idx * extent[a]! + p[a]!;
  return idx;
}

/**
 * Dense cross-correlation with zero padding dilation·floor(K/2) per axis
 * ("same" size for odd K):
 *
 *     out[p] = bias + Σ_k in[p + d_k] @ W[k],   d_k = (i − floor(K/2))·dilation
 *
 * with k in the offset order of kernel-map.reference.ts. Works for 2D and 3D.
 *
 * @param input dense grid [extent..., Cin]
 * @param weight Float64Array [V, Cin, Cout]
 * @returns dense grid [extent..., Cout]
 */
export function denseConvReference(
  input: DenseGrid,
  weight: Float64Array,
  bias: Float64Array | null,
  outChannels: number,
  kernelSize: number | readonly number[],
  dilation: number | readonly number[] = 1,
): DenseGrid {
  const { dim, extent, channels: cin } = input;
  checkDim(dim);
  const ks = perAxis(kernelSize, dim, 'kernelSize');
  const dil = perAxis(dilation, dim, 'dilation');
  const v = kernelVolumeOf(ks);
  const cout = outChannels;
  if (weight.length !== v * cin * cout) {
    throw new ShapeError(`weight has ${weight.length} elements but [V, Cin, Cout] = [${v}, ${cin}, ${cout}] needs ${v * cin * cout}.`);
  }
  const cells = gridCells(extent);
  if (input.data.length !== cells * cin) {
    throw new ShapeError(`input.data has ${input.data.length} elements; extent ${show([...extent])} with ${cin} channels needs ${cells * cin}.`);
  }
  const out = new Float64Array(cells * cout);
  const p = new Array<number>(dim).fill(0);
  const q = new Array<number>(dim).fill(0);
  const taps = Array.from({ length: v }, (_, k) => kernelPosition(k, ks).map((i, a) => (i - Math.floor(ks[a]! / 2)) * dil[a]!));
  for (let cell = 0; cell < cells; cell++) {
    let rest = cell;
    for (let a = dim - 1; a >= 0; a--) {
      p[a] = rest % extent[a]!;
      rest = Math.floor(rest / extent[a]!);
    }
    const ob = cell * cout;
    if (bias) for (let b = 0; b < cout; b++) out[ob + b] = bias[b]!;
    for (let k = 0; k < v; k++) {
      let inside = true;
      for (let a = 0; a < dim; a++) {
        q[a] = p[a]! + taps[k]![a]!;
        if (q[a]! < 0 || q[a]! >= extent[a]!) inside = false;
      }
      if (!inside) continue;
      const ib = cellIndex(extent, q) * cin;
      for (let c = 0; c < cin; c++) {
        const x = input.data[ib + c]!;
        if (x === 0) continue;
        const wb = (k * cin + c) * cout;
        for (let b = 0; b < cout; b++) out[ob + b] = out[ob + b]! + x * weight[wb + b]!;
      }
    }
  }
  return { dim, extent: [...extent], channels: cout, data: out };
}

/**
 * Scatters the rows of one batch item into a zero dense grid whose cell 0 is
 * at `origin`. Rows of other batch items are ignored.
 *
 * @throws InputValueError if a row of that batch item falls outside the grid
 */
export function sparseToDense(
  coords: Int32Array,
  feats: Float64Array,
  dim: SpatialDim,
  channels: number,
  batch: number,
  origin: readonly number[],
  extent: readonly number[],
): DenseGrid {
  const cols = coordColumns(dim);
  const n = coords.length / cols;
  validateFeatures(feats, n, channels, 'feats');
  const data = new Float64Array(gridCells(extent) * channels);
  const p = new Array<number>(dim).fill(0);
  for (let r = 0; r < n; r++) {
    if (coords[r * cols] !== batch) continue;
    for (let a = 0; a < dim; a++) {
      p[a] = coords[r * cols + 1 + a]! - origin[a]!;
      if (p[a]! < 0 || p[a]! >= extent[a]!) {
        throw new InputValueError(`coords row ${r} ${showRow(coords, dim, r)} lies outside the dense grid (origin ${show([...origin])}, extent ${show([...extent])}); enlarge the grid to the bounding box (boundingBox()).`);
      }
    }
    data.set(feats.subarray(r * channels, (r + 1) * channels), cellIndex(extent, p) * channels);
  }
  return { dim, extent: [...extent], channels, data };
}

/**
 * Reads a dense grid back at the rows of one batch item: Float64Array
 * [N, C] with rows of other batch items left zero.
 */
export function denseToSparse(grid: DenseGrid, coords: Int32Array, batch: number, origin: readonly number[]): Float64Array {
  const { dim, extent, channels } = grid;
  const cols = coordColumns(dim);
  const n = coords.length / cols;
  const out = new Float64Array(n * channels);
  const p = new Array<number>(dim).fill(0);
  for (let r = 0; r < n; r++) {
    if (coords[r * cols] !== batch) continue;
    for (let a = 0; a < dim; a++) p[a] = coords[r * cols + 1 + a]! - origin[a]!;
    const base = cellIndex(extent, p) * channels;
    out.set(grid.data.subarray(base, base + channels), r * channels);
  }
  return out;
}

/** Attributes of {@link sparseConvReference}. */
export interface SparseConvAttrs {
  /** Kernel map (submanifold, strided or transposed). */
  readonly map: KernelMap;
  /** Cin. */
  readonly inChannels: number;
  /** Cout. */
  readonly outChannels: number;
}

/**
 * {@link sparseConvForward} / {@link sparseConvBackward} as a `ReferenceOp` for
 * `gradcheck`. Inputs: feats [N_in, Cin], weight [V, Cin, Cout] and optionally
 * bias [Cout] (two inputs mean no bias). Output: [N_out, Cout].
 */
export const sparseConvReference: ReferenceOp<SparseConvAttrs> = {
  forward([feats, weight, bias], attrs): HostTensor {
    const out = sparseConvForward(feats!.data, { ...attrs, weight: weight!.data, bias: bias?.data ?? null });
    return { shape: [attrs.map.numOut, attrs.outChannels], data: out };
  },
  backward([feats, weight, bias], gradOutput, attrs) {
    const g = sparseConvBackward(feats!.data, gradOutput.data, { ...attrs, weight: weight!.data });
    return bias ? [g.gradFeats, g.gradWeight, g.gradBias] : [g.gradFeats, g.gradWeight];
  },
};
