/**
 * Kernel offsets and kernel maps (rule books) for submanifold, strided and
 * transposed sparse convolution: the float64/CPU ground truth that the GPU
 * map builders are tested against.
 *
 * Offset index. A kernel of per-axis sizes (K0, K1[, K2]) has V = K0·K1·K2
 * offsets; the per-axis kernel positions (i0, i1, i2), i_a in [0, K_a), have
 * index
 *
 *     k = (i0 · K1 + i1) · K2 + i2         (2D: k = i0 · K1 + i1)
 *
 * i.e. x slowest, z fastest. Submanifold offsets are centred,
 * d_a = (i_a − r_a) · dilation_a with r_a = (K_a − 1) / 2, which gives
 * k = ((dx+r)·K + (dy+r))·K + (dz+r) for cubic kernels, the SparseConvNet
 * order (k = (dx+1)·9 + (dy+1)·3 + (dz+1) for K = 3).
 *
 * A map lists, per offset k, the (input row, output row) pairs in which
 * input row i contributes `feats[i] @ W[k]` to output row o. Pairs of one k
 * are sorted by output row (then input row), so maps are deterministic.
 *
 * @module
 */

import { InputValueError, ShapeError, show } from '../../errors.js';
import {
  type SpatialDim,
  MAX_SPATIAL_COORD,
  buildCoordTable,
  checkDim,
  coordColumns,
  perAxis,
  sortPermutation,
  validateCoordRanges,
  validateCoords,
} from './coords.js';

/**
 * A kernel map in CSR form, ready to upload as three u32/i32 buffers.
 *
 * Pairs of offset k are `inRow[j], outRow[j]` for j in
 * [pairStart[k], pairStart[k + 1]), sorted by outRow, then inRow.
 */
export interface KernelMap {
  /** Spatial dimension. */
  readonly dim: SpatialDim;
  /** Per-axis kernel size (length dim). */
  readonly kernelSize: readonly number[];
  /** V = product of kernelSize, the number of offsets. */
  readonly kernelVolume: number;
  /** Number of input rows (N_in). */
  readonly numIn: number;
  /** Number of output rows (N_out). */
  readonly numOut: number;
  /** Int32Array [V + 1], prefix offsets into inRow / outRow. */
  readonly pairStart: Int32Array;
  /** Int32Array [P], input row of each pair. */
  readonly inRow: Int32Array;
  /** Int32Array [P], output row of each pair. */
  readonly outRow: Int32Array;
}

/** Where the offsets of a strided / transposed kernel start. */
export type KernelAnchor = 'corner' | 'center';

/** Options shared by strided and transposed maps. */
export interface StridedMapOptions {
  /** Spacing of kernel taps in input-grid units, scalar or per axis; default 1. */
  readonly dilation?: number | readonly number[];
  /**
   * 'corner' (default): tap offsets i_a · dilation, i_a in [0, K_a) (SparseConvNet
   * `Convolution`, and MinkowskiEngine for even kernel sizes).
   * 'center': (i_a − (K_a − 1)/2) · dilation, odd K_a only (MinkowskiEngine for odd sizes).
   */
  readonly anchor?: KernelAnchor;
}

/** Options of {@link buildStridedMap}. */
export interface BuildStridedMapOptions extends StridedMapOptions {
  /**
   * Int32Array [M, 1 + dim] output sites on the coarse grid. Default:
   * {@link stridedOutputCoords} (unique floor(coord / stride), sorted by key).
   */
  readonly outCoords?: Int32Array;
}

/** Product of per-axis kernel sizes. */
export function kernelVolumeOf(kernelSize: readonly number[]): number {
  return kernelSize.reduce((a, b) => a * b, 1);
}

/** Offset index of the mirror tap (−d) of index k in a kernel of volume V: V − 1 − k. */
export function mirrorOffsetIndex(k: number, kernelVolume: number): number {
  return kernelVolume - 1 - k;
}

function checkPositiveInts(values: readonly number[], argName: string): void {
  values.forEach((v, a) => {
    if (!Number.isInteger(v) || v < 1) {
      throw new InputValueError(`${argName}[${a}] = ${show(v)} must be an integer ≥ 1.`);
    }
  });
}

function checkOdd(kernelSize: readonly number[], argName: string, why: string): void {
  kernelSize.forEach((k, a) => {
    if (k % 2 !== 1) {
      throw new InputValueError(`${argName}[${a}] = ${k} is even; ${why} needs odd kernel sizes (1, 3, 5, 7, ...) so that the kernel has a centre tap.`);
    }
  });
}

/** Per-axis kernel position (i0, i1[, i2]) of offset index k. */
export function kernelPosition(k: number, kernelSize: readonly number[]): number[] {
  const pos = new Array<number>(kernelSize.length);
  let rest = k;
  for (let a = kernelSize.length - 1; a >= 0; a--) {
    const ka = kernelSize[a]!;
    pos[a] = rest % ka;
    rest = Math.floor(rest / ka);
  }
  return pos;
}

/** Offset index of per-axis kernel position `pos` (inverse of {@link kernelPosition}). */
export function kernelIndex(pos: readonly number[], kernelSize: readonly number[]): number {
  let k = 0;
  for (let a = 0; a < kernelSize.length; a++) k = k * kernelSize[a]! + pos[a]!;
  return k;
}

/**
 * Table of spatial tap displacements in input-grid units, Int32Array [V, dim],
 * row k = displacement of offset index k.
 *
 * @param anchor 'center': (i_a − r_a)·dilation_a (odd sizes only); 'corner': i_a·dilation_a
 */
export function kernelOffsets(
  dim: SpatialDim,
  kernelSize: number | readonly number[],
  dilation: number | readonly number[] = 1,
  anchor: KernelAnchor = 'center',
): Int32Array {
  checkDim(dim);
  const ks = perAxis(kernelSize, dim, 'kernelSize');
  const dil = perAxis(dilation, dim, 'dilation');
  checkPositiveInts(ks, 'kernelSize');
  checkPositiveInts(dil, 'dilation');
  if (anchor !== 'center' && anchor !== 'corner') {
    throw new InputValueError(`anchor = ${show(anchor)} is not valid; pass 'corner' or 'center'.`);
  }
  if (anchor === 'center') checkOdd(ks, 'kernelSize', "a centred kernel (submanifold, or anchor 'center')");
  const v = kernelVolumeOf(ks);
  const out = new Int32Array(v * dim);
  for (let k = 0; k < v; k++) {
    const pos = kernelPosition(k, ks);
    for (let a = 0; a < dim; a++) {
      const shift = anchor === 'center' ? (ks[a]! - 1) / 2 : 0;
      out[k * dim + a] = (pos[a]! - shift) * dil[a]!;
    }
  }
  return out;
}

/**
 * Submanifold offsets, Int32Array [K^dim, dim]: d = (i − r)·dilation, offset
 * index k = ((dx/dil + r)·K + (dy/dil + r))·K + (dz/dil + r). Offsets k and
 * K^dim − 1 − k are negatives of each other.
 */
export function submanifoldOffsets(
  dim: SpatialDim,
  kernelSize: number | readonly number[],
  dilation: number | readonly number[] = 1,
): Int32Array {
  return kernelOffsets(dim, kernelSize, dilation, 'center');
}

/**
 * Builds a CSR map from an output-stationary lookup: for each output row in
 * order, each offset k, `lookup(o, k)` returns the input row or −1. Iterating
 * outputs in the outer loop is what makes every offset's list sorted by output row.
 */
function gatherMap(
  dim: SpatialDim,
  kernelSize: readonly number[],
  numIn: number,
  numOut: number,
  lookup: (o: number, k: number) => number,
): KernelMap {
  const v = kernelVolumeOf(kernelSize);
  const ins: number[][] = Array.from({ length: v }, () => []);
  const outs: number[][] = Array.from({ length: v }, () => []);
  for (let o = 0; o < numOut; o++) {
    for (let k = 0; k < v; k++) {
      const i = lookup(o, k);
      if (i >= 0) {
        ins[k]!.push(i);
        outs[k]!.push(o);
      }
    }
  }
  return fromLists(dim, kernelSize, numIn, numOut, ins, outs);
}

function fromLists(
  dim: SpatialDim,
  kernelSize: readonly number[],
  numIn: number,
  numOut: number,
  ins: number[][],
  outs: number[][],
): KernelMap {
  const v = kernelVolumeOf(kernelSize);
  const pairStart = new Int32Array(v + 1);
  for (let k = 0; k < v; k++) pairStart[k + 1] = pairStart[k]! + ins[k]!.length;
  const total = pairStart[v]!;
  const inRow = new Int32Array(total);
  const outRow = new Int32Array(total);
  for (let k = 0; k < v; k++) {
    inRow.set(ins[k]!, pairStart[k]!);
    outRow.set(outs[k]!, pairStart[k]!);
  }
  return { dim, kernelSize: [...kernelSize], kernelVolume: v, numIn, numOut, pairStart, inRow, outRow };
}

/** The (inRow, outRow) pairs of offset k, as views into the map's arrays. */
export function pairsOf(map: KernelMap, k: number): { inRow: Int32Array; outRow: Int32Array } {
  const s = map.pairStart[k]!;
  const e = map.pairStart[k + 1]!;
  return { inRow: map.inRow.subarray(s, e), outRow: map.outRow.subarray(s, e) };
}

/**
 * Submanifold map: outputs are the input sites themselves (numOut = numIn,
 * same row order); pair (i, o) at offset k iff coord(i) = coord(o) + d_k in
 * the same batch item. Neighbours outside 0..65535 are simply absent.
 *
 * Mirror symmetry: (i, o) is a pair at k iff (o, i) is a pair at V − 1 − k,
 * so the list of the mirror offset is this list with inRow and outRow swapped
 * (then re-sorted by the new output row). The input gradient can therefore
 * reuse this very map, with weights W'[k] = W[V − 1 − k]ᵀ (see `mirrorWeight`).
 *
 * @param coords Int32Array [N, 1 + dim], validated (ranges and duplicates)
 * @param kernelSize odd, scalar or per axis (1, 3, 5, 7 are the tested sizes)
 * @param dilation ≥ 1, scalar or per axis
 */
export function buildSubmanifoldMap(
  coords: Int32Array,
  dim: SpatialDim,
  kernelSize: number | readonly number[],
  dilation: number | readonly number[] = 1,
): KernelMap {
  const n = validateCoords(coords, dim, 'coords');
  const ks = perAxis(kernelSize, dim, 'kernelSize');
  const offsets = submanifoldOffsets(dim, ks, dilation);
  const table = buildCoordTable(coords, dim);
  const cols = coordColumns(dim);
  return gatherMap(dim, ks, n, n, (o, k) => {
    const b = o * cols;
    const x = coords[b + 1]! + offsets[k * dim]!;
    const y = coords[b + 2]! + offsets[k * dim + 1]!;
    const z = dim === 3 ? coords[b + 3]! + offsets[k * dim + 2]! : 0;
    return table.find(coords[b]!, x, y, z);
  });
}

/**
 * Output sites of a strided convolution: unique (batch, floor(x / s_x),
 * floor(y / s_y)[, floor(z / s_z)]) over all input rows, sorted by key
 * (lexicographic (batch, x, y, z)). Int32Array [M, 1 + dim].
 */
export function stridedOutputCoords(
  coords: Int32Array,
  dim: SpatialDim,
  stride: number | readonly number[],
): Int32Array {
  validateCoordRanges(coords, dim, 'coords');
  const st = perAxis(stride, dim, 'stride');
  checkPositiveInts(st, 'stride');
  return downsampledSites(coords, dim, st);
}

/**
 * {@link stridedOutputCoords} of coords already validated (a coordinate
 * set's host copy) with validated per-axis strides.
 */
export function downsampledSites(coords: Int32Array, dim: SpatialDim, stride: readonly number[]): Int32Array {
  const cols = coordColumns(dim);
  const down = new Int32Array(coords.length);
  for (let i = 0; i < coords.length; i++) {
    const a = i % cols;
    // Coordinates are non-negative, so truncating division is floor division.
    down[i] = a === 0 ? coords[i]! : Math.floor(coords[i]! / stride[a - 1]!);
  }
  return uniqueSorted(down, dim);
}

function uniqueSorted(coords: Int32Array, dim: SpatialDim): Int32Array {
  const cols = coordColumns(dim);
  const perm = sortPermutation(coords, dim);
  const out = new Int32Array(coords.length);
  let m = 0;
  for (let s = 0; s < perm.length; s++) {
    const r = perm[s]! * cols;
    if (s > 0) {
      // Sorted, so a duplicate equals the last row kept.
      const last = (m - 1) * cols;
      let dup = true;
      for (let j = 0; dup && j < cols; j++) dup = coords[r + j] === out[last + j];
      if (dup) continue;
    }
    for (let j = 0; j < cols; j++) out[m * cols + j] = coords[r + j]!;
    m++;
  }
  return out.slice(0, m * cols);
}

function stridedSetup(
  dim: SpatialDim,
  kernelSize: number | readonly number[],
  stride: number | readonly number[],
  options: StridedMapOptions,
): { ks: number[]; st: number[]; offsets: Int32Array } {
  checkDim(dim);
  const ks = perAxis(kernelSize, dim, 'kernelSize');
  const st = perAxis(stride, dim, 'stride');
  checkPositiveInts(st, 'stride');
  const offsets = kernelOffsets(dim, ks, options.dilation ?? 1, options.anchor ?? 'corner');
  return { ks, st, offsets };
}

/**
 * Strided (downsampling) convolution map. Output row o at coarse site q
 * receives input row i at offset index k iff, per axis,
 *
 *     coord(i) = q · stride + d_k,   d_k = i_a · dilation ('corner', i_a in [0, K_a))
 *                                    d_k = (i_a − r_a) · dilation ('center')
 *
 * in the same batch item. With kernel = stride and 'corner' anchor every
 * input lands in exactly one output, the one at floor(coord / stride).
 * Outputs listed in outCoords but reached by no input get no pairs.
 *
 * @param inCoords Int32Array [N, 1 + dim], validated
 * @returns the map (numIn = N, numOut = M) and the output coords [M, 1 + dim]
 */
export function buildStridedMap(
  inCoords: Int32Array,
  dim: SpatialDim,
  kernelSize: number | readonly number[],
  stride: number | readonly number[],
  options: BuildStridedMapOptions = {},
): { map: KernelMap; outCoords: Int32Array } {
  const nIn = validateCoords(inCoords, dim, 'inCoords');
  const { ks, st, offsets } = stridedSetup(dim, kernelSize, stride, options);
  const outCoords = options.outCoords ?? stridedOutputCoords(inCoords, dim, st);
  const nOut = validateCoords(outCoords, dim, 'options.outCoords');
  const table = buildCoordTable(inCoords, dim);
  const cols = coordColumns(dim);
  const map = gatherMap(dim, ks, nIn, nOut, (o, k) => {
    const b = o * cols;
    const x = outCoords[b + 1]! * st[0]! + offsets[k * dim]!;
    const y = outCoords[b + 2]! * st[1]! + offsets[k * dim + 1]!;
    const z = dim === 3 ? outCoords[b + 3]! * st[2]! + offsets[k * dim + 2]! : 0;
    return table.find(outCoords[b]!, x, y, z);
  });
  return { map, outCoords };
}

/**
 * Transposed (upsampling) convolution map: the strided map with the roles of
 * input and output swapped. Input row i at coarse site q contributes to
 * output row o at fine site p at offset index k iff p = q · stride + d_k
 * (same d_k as {@link buildStridedMap}). Equals
 * `transposeKernelMap(buildStridedMap(outCoords, …, { outCoords: inCoords }).map)`.
 *
 * @param inCoords Int32Array [N, 1 + dim], coarse sites
 * @param outCoords Int32Array [M, 1 + dim], fine sites: usually the input
 *   sites of the matching strided conv, or {@link transposedOutputCoords}
 */
export function buildTransposedMap(
  inCoords: Int32Array,
  outCoords: Int32Array,
  dim: SpatialDim,
  kernelSize: number | readonly number[],
  stride: number | readonly number[],
  options: StridedMapOptions = {},
): KernelMap {
  const nIn = validateCoords(inCoords, dim, 'inCoords');
  const nOut = validateCoords(outCoords, dim, 'outCoords');
  const { ks, st, offsets } = stridedSetup(dim, kernelSize, stride, options);
  const table = buildCoordTable(inCoords, dim);
  const cols = coordColumns(dim);
  const q = [0, 0, 0];
  return gatherMap(dim, ks, nIn, nOut, (o, k) => {
    for (let a = 0; a < dim; a++) {
      const diff = outCoords[o * cols + 1 + a]! - offsets[k * dim + a]!;
      // Only fine sites that sit exactly on tap k of some coarse site qualify.
      if (diff < 0 || diff % st[a]! !== 0) return -1;
      q[a] = diff / st[a]!;
    }
    return table.find(outCoords[o * cols]!, q[0]!, q[1]!, dim === 3 ? q[2]! : 0);
  });
}

/**
 * Generative output sites of a transposed conv: every q · stride + d_k over
 * input sites q and offsets k that lies in 0..65535, unique, sorted by key.
 * Int32Array [M, 1 + dim].
 */
export function transposedOutputCoords(
  inCoords: Int32Array,
  dim: SpatialDim,
  kernelSize: number | readonly number[],
  stride: number | readonly number[],
  options: StridedMapOptions = {},
): Int32Array {
  const n = validateCoordRanges(inCoords, dim, 'inCoords');
  const { ks, st, offsets } = stridedSetup(dim, kernelSize, stride, options);
  const v = kernelVolumeOf(ks);
  const cols = coordColumns(dim);
  const rows: number[] = [];
  for (let r = 0; r < n; r++) {
    for (let k = 0; k < v; k++) {
      let ok = true;
      const row = [inCoords[r * cols]!];
      for (let a = 0; a < dim; a++) {
        const p = inCoords[r * cols + 1 + a]! * st[a]! + offsets[k * dim + a]!;
        if (p < 0 || p > MAX_SPATIAL_COORD) ok = false;
        row.push(p);
      }
      if (ok) rows.push(...row);
    }
  }
  return uniqueSorted(Int32Array.from(rows), dim);
}

/**
 * Swaps the roles of input and output in every offset's list, re-sorted by
 * the new output row (then input row). For a strided map this gives the
 * matching transposed map; for a submanifold map the list of k becomes the
 * original list of V − 1 − k. The input gradient of a conv with map M and
 * weights W is a forward conv with transposeKernelMap(M) and W[k]ᵀ.
 */
export function transposeKernelMap(map: KernelMap): KernelMap {
  const ins: number[][] = [];
  const outs: number[][] = [];
  for (let k = 0; k < map.kernelVolume; k++) {
    const p = pairsOf(map, k);
    const idx = Array.from({ length: p.inRow.length }, (_, j) => j);
    idx.sort((a, b) => p.inRow[a]! - p.inRow[b]! || p.outRow[a]! - p.outRow[b]!);
    ins.push(idx.map((j) => p.outRow[j]!));
    outs.push(idx.map((j) => p.inRow[j]!));
  }
  return fromLists(map.dim, map.kernelSize, map.numOut, map.numIn, ins, outs);
}

/**
 * Output-stationary form of a map: Int32Array [numOut, V], entry (o, k) is
 * the input row that reaches output o through offset k, or −1. Every map
 * built here has at most one input per (o, k).
 *
 * @throws InputValueError if a map has two inputs for one (o, k)
 */
export function outputStationary(map: KernelMap): Int32Array {
  const v = map.kernelVolume;
  const table = new Int32Array(map.numOut * v).fill(-1);
  for (let k = 0; k < v; k++) {
    const p = pairsOf(map, k);
    for (let j = 0; j < p.inRow.length; j++) {
      const o = p.outRow[j]!;
      const prev = table[o * v + k]!;
      if (prev !== -1) {
        throw new InputValueError(`map offset ${k} sends input rows ${prev} and ${p.inRow[j]} to output row ${o}; the output-stationary form holds one input per (output, offset). Use the CSR pairs directly for such maps.`);
      }
      table[o * v + k] = p.inRow[j]!;
    }
  }
  return table;
}

/** Checks that a map's arrays are consistent (used by the conv references). */
export function validateKernelMap(map: KernelMap, argName = 'map'): void {
  const v = map.kernelVolume;
  if (map.pairStart.length !== v + 1) {
    throw new ShapeError(`${argName}.pairStart has ${map.pairStart.length} entries; a map with kernelVolume ${v} needs ${v + 1}.`);
  }
  const total = map.pairStart[v]!;
  if (map.inRow.length !== total || map.outRow.length !== total) {
    throw new ShapeError(`${argName}.inRow / outRow have ${map.inRow.length} / ${map.outRow.length} entries but pairStart[${v}] = ${total}; rebuild the map.`);
  }
  for (let j = 0; j < total; j++) {
    const i = map.inRow[j]!;
    const o = map.outRow[j]!;
    if (i < 0 || i >= map.numIn || o < 0 || o >= map.numOut) {
      throw new InputValueError(`${argName} pair ${j} = (in ${i}, out ${o}) is outside [0, ${map.numIn}) × [0, ${map.numOut}); the map does not belong to these tensors.`);
    }
  }
}
