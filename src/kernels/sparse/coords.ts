/**
 * Coordinate conventions of ghostgrad sparse tensors, the 64-bit key packed
 * into two u32 words that the GPU hash table stores, the u32 hash of that key,
 * validation, quantisation and duplicate merging. Pure CPU, float64.
 *
 * A sparse tensor with spatial dimension D (2 or 3) holding N active sites:
 * - `coords`: Int32Array [N, 1 + D] row-major, columns (batch, x, y[, z]);
 * - `feats`:  Float64Array [N, C] row-major, row r belongs to coords row r.
 *
 * Ranges: every spatial coordinate in 0..{@link MAX_SPATIAL_COORD} (65535),
 * batch in 0..{@link MAX_BATCH_INDEX} (65534). Negative coordinates are
 * rejected: shift events so that their bounding box starts at 0.
 *
 * @module
 */

import { DTypeError, InputValueError, ShapeError, show } from '../../errors.js';

/** Spatial dimension of a sparse tensor: 2 (x, y) or 3 (x, y, z). */
export type SpatialDim = 2 | 3;

/** Largest spatial coordinate a key can hold (16 bits per axis). */
export const MAX_SPATIAL_COORD = 0xffff;

/**
 * Largest batch index. 65535 is reserved so that the word pair
 * (`EMPTY_KEY_WORD`, `EMPTY_KEY_WORD`) never encodes a real site
 * and can mark empty hash-table slots.
 */
export const MAX_BATCH_INDEX = 0xfffe;

/** Value of both key words in an empty hash-table slot. */
export const EMPTY_KEY_WORD = 0xffffffff;

/** A coordinate key as two u32 words (see {@link packKey}). */
export interface CoordKey {
  /** `(y << 16) | z` as u32 (z = 0 in 2D). */
  readonly w0: number;
  /** `(batch << 16) | x` as u32. */
  readonly w1: number;
}

/** Number of Int32 columns of a coords row: 1 (batch) + D. */
export function coordColumns(dim: SpatialDim): number {
  return 1 + dim;
}

/**
 * Packs a site into two u32 words:
 *
 *     w1 = (batch << 16) | x        w0 = (y << 16) | z       (z = 0 in 2D)
 *
 * so that comparing (w1, w0) as unsigned integers, w1 first, is the
 * lexicographic order of (batch, x, y, z) — "sorted by key" everywhere in
 * this module means exactly that order. The caller must have range-checked
 * the inputs: an out-of-range or negative value would alias another site
 * (x = -1 masks to 65535), so neighbour lookups check range before packing.
 */
export function packKey(batch: number, x: number, y: number, z = 0): CoordKey {
  return { w0: ((y << 16) | (z & 0xffff)) >>> 0, w1: ((batch << 16) | (x & 0xffff)) >>> 0 };
}

/** Inverse of {@link packKey}: [batch, x, y, z]. */
export function unpackKey(w0: number, w1: number): [number, number, number, number] {
  return [w1 >>> 16, w1 & 0xffff, w0 >>> 16, w0 & 0xffff];
}

/**
 * The 32-bit finaliser of MurmurHash3 ("fmix32"): a bijection on u32 with
 * full avalanche, built from xor, logical right shift and wrapping u32
 * multiply only, so WGSL reproduces it bit for bit:
 *
 *     h ^= h >> 16; h *= 0x85ebca6b; h ^= h >> 13; h *= 0xc2b2ae35; h ^= h >> 16;
 */
export function fmix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Hash of a key: `fmix32(w0 ^ fmix32(w1))`, a u32.
 *
 * For a fixed w1 (one x column of one event) the map w0 → hash is a
 * bijection, so sites differing only in (y, z) never collide in the full
 * 32-bit hash; the inner fmix32 decorrelates the columns. Hash tables use
 * `slot = hash & (capacity - 1)` with a power-of-two capacity.
 */
export function hashKey(w0: number, w1: number): number {
  return fmix32((w0 ^ fmix32(w1)) >>> 0);
}

/** Reads row `row` of a coords array as a key (no range check). */
export function keyOfRow(coords: Int32Array, dim: SpatialDim, row: number): CoordKey {
  const c = coordColumns(dim);
  const o = row * c;
  return packKey(coords[o]!, coords[o + 1]!, coords[o + 2]!, dim === 3 ? coords[o + 3]! : 0);
}

/**
 * Open-addressing hash table from keys to row indices, the CPU twin of the
 * GPU table: power-of-two capacity ≥ 2·capacityHint (at least 16), slot =
 * `hashKey(w0, w1) & (capacity − 1)`, linear probing (slot + 1) mod capacity,
 * empty slots hold ({@link EMPTY_KEY_WORD}, {@link EMPTY_KEY_WORD}).
 * Insertion keeps the first row for a key (the lowest row when rows are
 * inserted in order), which makes duplicate detection report that row.
 */
export class CoordHashTable {
  /** Number of slots, a power of two. */
  readonly capacity: number;
  /** Interleaved [capacity, 2] words (w0, w1) per slot. */
  readonly keys: Uint32Array;
  /** Row stored in each slot, −1 when empty. */
  readonly values: Int32Array;
  private readonly mask: number;

  constructor(capacityHint: number) {
    let cap = 16;
    while (cap < 2 * capacityHint) cap *= 2;
    this.capacity = cap;
    this.mask = cap - 1;
    this.keys = new Uint32Array(2 * cap).fill(EMPTY_KEY_WORD);
    this.values = new Int32Array(cap).fill(-1);
  }

  /** Inserts (key → row) unless the key is present; returns the row stored for the key. */
  insert(w0: number, w1: number, row: number): number {
    let s = hashKey(w0, w1) & this.mask;
    for (;;) {
      const k0 = this.keys[2 * s]!;
      const k1 = this.keys[2 * s + 1]!;
      if (k0 === EMPTY_KEY_WORD && k1 === EMPTY_KEY_WORD) {
        this.keys[2 * s] = w0;
        this.keys[2 * s + 1] = w1;
        this.values[s] = row;
        return row;
      }
      if (k0 === w0 && k1 === w1) return this.values[s]!;
      s = (s + 1) & this.mask;
    }
  }

  /** Row stored for the key, or −1. */
  lookup(w0: number, w1: number): number {
    let s = hashKey(w0, w1) & this.mask;
    for (;;) {
      const k0 = this.keys[2 * s]!;
      const k1 = this.keys[2 * s + 1]!;
      if (k0 === w0 && k1 === w1) return this.values[s]!;
      if (k0 === EMPTY_KEY_WORD && k1 === EMPTY_KEY_WORD) return -1;
      s = (s + 1) & this.mask;
    }
  }

  /**
   * Row of site (batch, x, y, z), or −1 when absent or out of the key range;
   * the range check comes first because packing would alias out-of-range values.
   */
  find(batch: number, x: number, y: number, z = 0): number {
    if (
      x < 0 || y < 0 || z < 0 ||
      x > MAX_SPATIAL_COORD || y > MAX_SPATIAL_COORD || z > MAX_SPATIAL_COORD ||
      batch < 0 || batch > MAX_BATCH_INDEX
    ) {
      return -1;
    }
    const k = packKey(batch, x, y, z);
    return this.lookup(k.w0, k.w1);
  }
}

/** Builds a {@link CoordHashTable} of all rows (assumes valid coords; first row wins). */
export function buildCoordTable(coords: Int32Array, dim: SpatialDim): CoordHashTable {
  const n = coords.length / coordColumns(dim);
  const table = new CoordHashTable(n);
  for (let r = 0; r < n; r++) {
    const k = keyOfRow(coords, dim, r);
    table.insert(k.w0, k.w1, r);
  }
  return table;
}

/** Renders coords row `row` as "(b, x, y, z)" for error messages. */
export function showRow(coords: Int32Array, dim: SpatialDim, row: number): string {
  const c = coordColumns(dim);
  return `(${Array.from(coords.subarray(row * c, row * c + c)).join(', ')})`;
}

const AXIS_NAMES = ['batch', 'x', 'y', 'z'] as const;

/** Throws unless `dim` is 2 or 3. */
export function checkDim(dim: number, argName = 'dim'): asserts dim is SpatialDim {
  if (dim !== 2 && dim !== 3) {
    throw new InputValueError(`${argName} = ${show(dim)} is not a supported spatial dimension; pass 2 (batch, x, y) or 3 (batch, x, y, z).`);
  }
}

/** Throws unless `n` is a non-negative integer (a channel count, a row count). */
export function checkCount(n: number, argName: string, min = 0): void {
  if (!Number.isInteger(n) || n < min) {
    throw new InputValueError(`${argName} = ${show(n)} must be an integer ≥ ${min}.`);
  }
}

/**
 * Checks the layout and ranges of a coords array without looking for
 * duplicates; returns N. See {@link validateCoords}.
 */
export function validateCoordRanges(coords: Int32Array, dim: SpatialDim, argName = 'coords'): number {
  checkDim(dim);
  if (!(coords instanceof Int32Array)) {
    const got = (coords as object | null)?.constructor?.name ?? typeof coords;
    throw new DTypeError(`${argName} must be an Int32Array [N, ${1 + dim}] of (batch, x, y${dim === 3 ? ', z' : ''}) rows; got ${got}. Convert with Int32Array.from(...).`);
  }
  const c = coordColumns(dim);
  if (coords.length % c !== 0) {
    throw new ShapeError(`${argName} has ${coords.length} elements, not a multiple of ${c} columns (batch + ${dim} spatial); a ${dim}D sparse tensor needs coords of shape [N, ${c}]. Check dim or the column count.`);
  }
  const n = coords.length / c;
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < c; j++) {
      const v = coords[r * c + j]!;
      const max = j === 0 ? MAX_BATCH_INDEX : MAX_SPATIAL_COORD;
      if (v < 0) {
        const fix = j === 0
          ? 'batch indices must be ≥ 0'
          : 'coordinates must be ≥ 0; shift the event so that its bounding box starts at 0 (subtract the per-axis minimum)';
        throw new InputValueError(`${argName} row ${r} ${showRow(coords, dim, r)}: ${AXIS_NAMES[j]} = ${v} is negative; ${fix}.`);
      }
      if (v > max) {
        const fix = j === 0
          ? `batch indices must be ≤ ${MAX_BATCH_INDEX}; split the batch`
          : `spatial coordinates must be ≤ ${MAX_SPATIAL_COORD} (16 bits per axis in the packed key); use a coarser voxel size or crop the event`;
        throw new InputValueError(`${argName} row ${r} ${showRow(coords, dim, r)}: ${AXIS_NAMES[j]} = ${v} is out of range; ${fix}.`);
      }
    }
  }
  return n;
}

/**
 * Validates sparse-tensor coordinates and returns N (0 is valid).
 *
 * @param coords Int32Array [N, 1 + dim], rows (batch, x, y[, z])
 * @param dim spatial dimension, 2 or 3
 * @param argName name used in error messages
 * @throws DTypeError if coords is not an Int32Array
 * @throws ShapeError if the length is not a multiple of 1 + dim
 * @throws InputValueError naming the row for a negative or out-of-range value,
 *   and naming both rows for a duplicated site
 */
export function validateCoords(coords: Int32Array, dim: SpatialDim, argName = 'coords'): number {
  const n = validateCoordRanges(coords, dim, argName);
  const table = new CoordHashTable(n);
  for (let r = 0; r < n; r++) {
    const k = keyOfRow(coords, dim, r);
    const first = table.insert(k.w0, k.w1, r);
    if (first !== r) {
      throw new InputValueError(`${argName} rows ${first} and ${r} are both ${showRow(coords, dim, r)}; a sparse tensor holds each site once. Merge duplicates with deduplicate(coords, feats, dim, channels, 'sum' | 'mean' | 'max') first.`);
    }
  }
  return n;
}

/**
 * Checks that `feats` is a Float64Array [n, channels].
 *
 * @throws DTypeError if not a Float64Array
 * @throws ShapeError if the length is not n · channels
 */
export function validateFeatures(feats: Float64Array, n: number, channels: number, argName = 'feats'): void {
  if (!(feats instanceof Float64Array)) {
    const got = (feats as object | null)?.constructor?.name ?? typeof feats;
    throw new DTypeError(`${argName} must be a Float64Array [N, C] (float64 reference layer); got ${got}. Convert with Float64Array.from(...).`);
  }
  if (feats.length !== n * channels) {
    throw new ShapeError(`${argName} has ${feats.length} elements but [N, C] = [${n}, ${channels}] needs ${n * channels}; pass features with one row of ${channels} channels per coordinate row.`);
  }
}

/**
 * Row permutation that sorts coords by key, i.e. lexicographically by
 * (batch, x, y, z); ties (duplicates) keep their input order. Expects
 * in-range coords (see {@link validateCoordRanges}): every column is read as
 * its low 16 bits, which is the key's order for valid rows.
 *
 * A stable LSD radix sort over bytes, least significant column first, that
 * skips a byte on which all rows agree: O(N) per pass instead of a
 * comparison sort's O(N log N) calls into a comparator. Training builds the
 * coarse coordinate sets of every event on the host each step, so this is
 * on the critical path of a step.
 */
export function sortPermutation(coords: Int32Array, dim: SpatialDim): Int32Array {
  const c = coordColumns(dim);
  const n = coords.length / c;
  let perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  if (n < 2) return perm;
  let next = new Int32Array(n);
  const column = new Uint16Array(n);
  const counts = new Int32Array(512); // low byte at 0, high byte at 256
  for (let col = c - 1; col >= 0; col--) {
    counts.fill(0);
    for (let r = 0, o = col; r < n; r++, o += c) {
      const v = coords[o]! & 0xffff;
      column[r] = v;
      counts[v & 0xff]!++;
      counts[256 + (v >>> 8)]!++;
    }
    for (let shift = 0; shift < 16; shift += 8) {
      const base = shift === 0 ? 0 : 256;
      if (counts[base + ((column[0]! >>> shift) & 0xff)] === n) continue; // one digit for all rows
      let sum = 0;
      for (let d = base; d < base + 256; d++) {
        const k = counts[d]!;
        counts[d] = sum;
        sum += k;
      }
      for (let i = 0; i < n; i++) {
        const r = perm[i]!;
        next[counts[base + ((column[r]! >>> shift) & 0xff)]!++] = r;
      }
      [perm, next] = [next, perm];
    }
  }
  return perm;
}

/** Rows of a row-major [N, width] array gathered in the order of `perm` (same array type). */
export function permuteRows<T extends Int32Array | Float64Array>(data: T, width: number, perm: Int32Array): T {
  const out = new (data.constructor as new (n: number) => T)(perm.length * width);
  for (let r = 0; r < perm.length; r++) {
    const src = perm[r]! * width;
    for (let j = 0; j < width; j++) out[r * width + j] = data[src + j]!;
  }
  return out;
}

/** How {@link deduplicate} merges the features of rows with the same site. */
export type DedupMode = 'sum' | 'mean' | 'max';

/** Result of {@link deduplicate}. */
export interface DedupResult {
  /** Int32Array [M, 1 + dim], unique sites sorted by key (batch, x, y, z). */
  readonly coords: Int32Array;
  /** Float64Array [M, C], merged features. */
  readonly feats: Float64Array;
  /** Int32Array [N]: output row of each input row. */
  readonly inverse: Int32Array;
  /** Int32Array [M]: number of input rows merged into each output row. */
  readonly counts: Int32Array;
}

/**
 * Merges rows that share a site. Output rows are the unique sites sorted by
 * key, i.e. lexicographically by (batch, x, y, z), independent of the input
 * order (so GPU and CPU agree without a stable sort). Per channel, 'sum'
 * adds, 'mean' adds then divides by the count, 'max' takes the maximum (NaN
 * propagates). Returns the inverse map, so `feats_out[inverse[i]]` is where
 * input row i went (e.g. to broadcast labels or gradients back).
 *
 * @param coords Int32Array [N, 1 + dim]; ranges are validated, duplicates allowed
 * @param feats Float64Array [N, channels]
 */
export function deduplicate(
  coords: Int32Array,
  feats: Float64Array,
  dim: SpatialDim,
  channels: number,
  mode: DedupMode,
): DedupResult {
  const n = validateCoordRanges(coords, dim, 'coords');
  checkCount(channels, 'channels');
  validateFeatures(feats, n, channels, 'feats');
  if (mode !== 'sum' && mode !== 'mean' && mode !== 'max') {
    throw new InputValueError(`mode = ${show(mode)} is not a dedup mode; pass 'sum', 'mean' or 'max'.`);
  }
  const cols = coordColumns(dim);
  const perm = sortPermutation(coords, dim);
  const inverse = new Int32Array(n);
  const outRowOfSorted = new Int32Array(n);
  let m = 0;
  for (let s = 0; s < n; s++) {
    const r = perm[s]!;
    let same = s > 0;
    if (same) {
      const p = perm[s - 1]!;
      for (let j = 0; j < cols; j++) {
        if (coords[r * cols + j] !== coords[p * cols + j]) {
          same = false;
          break;
        }
      }
    }
    if (!same) m++;
    outRowOfSorted[s] = m - 1;
    inverse[r] = m - 1;
  }
  const outCoords = new Int32Array(m * cols);
  const outFeats = new Float64Array(m * channels);
  const counts = new Int32Array(m);
  if (mode === 'max') outFeats.fill(-Infinity);
  for (let s = 0; s < n; s++) {
    const r = perm[s]!;
    const o = outRowOfSorted[s]!;
    if (counts[o] === 0) {
      for (let j = 0; j < cols; j++) outCoords[o * cols + j] = coords[r * cols + j]!;
    }
    counts[o]!++;
    for (let c = 0; c < channels; c++) {
      const v = feats[r * channels + c]!;
      const idx = o * channels + c;
      if (mode === 'max') {
        const cur = outFeats[idx]!;
        // NaN must win (like torch.max); a plain `v > cur` test would drop it.
        outFeats[idx] = Number.isNaN(cur) || Number.isNaN(v) ? NaN : Math.max(cur, v);
      } else {
        outFeats[idx] = outFeats[idx]! + v;
      }
    }
  }
  if (mode === 'mean') {
    for (let o = 0; o < m; o++) {
      for (let c = 0; c < channels; c++) outFeats[o * channels + c] = outFeats[o * channels + c]! / counts[o]!;
    }
  }
  return { coords: outCoords, feats: outFeats, inverse, counts };
}

/** Options of {@link quantize}. */
export interface QuantizeOptions {
  /** Per-axis origin subtracted before dividing; default 0. */
  readonly origin?: number | readonly number[];
  /** Int32Array [N] batch index of each point; default all 0. */
  readonly batch?: Int32Array;
}

/**
 * Voxelises continuous positions: coordinate = floor((p − origin) / voxelSize)
 * per axis, with a batch column prepended. Duplicates are kept; pass the
 * result to {@link deduplicate}.
 *
 * @param points Float64Array [N, dim] positions
 * @param voxelSize positive voxel edge, scalar or per axis
 * @returns Int32Array [N, 1 + dim]
 * @throws InputValueError for a non-finite position, a non-positive voxel
 *   size, or a voxel index outside 0..65535 (naming the row)
 */
export function quantize(
  points: Float64Array,
  dim: SpatialDim,
  voxelSize: number | readonly number[],
  options: QuantizeOptions = {},
): Int32Array {
  checkDim(dim);
  if (!(points instanceof Float64Array)) {
    throw new DTypeError(`points must be a Float64Array [N, ${dim}]; got ${(points as object | null)?.constructor?.name ?? typeof points}.`);
  }
  if (points.length % dim !== 0) {
    throw new ShapeError(`points has ${points.length} elements, not a multiple of dim = ${dim}; pass positions of shape [N, ${dim}].`);
  }
  const n = points.length / dim;
  const size = perAxis(voxelSize, dim, 'voxelSize');
  const origin = perAxis(options.origin ?? 0, dim, 'options.origin');
  size.forEach((s, a) => {
    if (!(s > 0) || !Number.isFinite(s)) {
      throw new InputValueError(`voxelSize[${a}] = ${show(s)} must be a finite positive number.`);
    }
  });
  const batch = options.batch;
  if (batch !== undefined && batch.length !== n) {
    throw new ShapeError(`options.batch has ${batch.length} entries but points has ${n} rows; pass one batch index per point.`);
  }
  const cols = 1 + dim;
  const out = new Int32Array(n * cols);
  for (let r = 0; r < n; r++) {
    const b = batch ? batch[r]! : 0;
    if (b < 0 || b > MAX_BATCH_INDEX) {
      throw new InputValueError(`options.batch[${r}] = ${b} is out of range; batch indices must be in 0..${MAX_BATCH_INDEX}.`);
    }
    out[r * cols] = b;
    for (let a = 0; a < dim; a++) {
      const p = points[r * dim + a]!;
      if (!Number.isFinite(p)) {
        throw new InputValueError(`points row ${r}, axis ${AXIS_NAMES[a + 1]} = ${show(p)} is not finite; drop or fix the point before quantising.`);
      }
      const v = Math.floor((p - origin[a]!) / size[a]!);
      if (v < 0 || v > MAX_SPATIAL_COORD) {
        throw new InputValueError(`points row ${r}, axis ${AXIS_NAMES[a + 1]} = ${p} gives voxel index ${v}, outside 0..${MAX_SPATIAL_COORD}; lower options.origin below the smallest position or use a larger voxelSize.`);
      }
      out[r * cols + 1 + a] = v;
    }
  }
  return out;
}

/** Expands a scalar or per-axis parameter to `dim` numbers. */
export function perAxis(value: number | readonly number[], dim: SpatialDim, argName: string): number[] {
  if (typeof value === 'number') return Array.from({ length: dim }, () => value);
  if (value.length !== dim) {
    throw new ShapeError(`${argName} = ${show([...value])} has ${value.length} entries; pass a number or one entry per spatial axis (${dim}).`);
  }
  return [...value];
}

/**
 * Bounding box of the spatial coordinates: min and max per axis over all rows
 * (all batch items together). Null for an empty tensor.
 */
export function boundingBox(coords: Int32Array, dim: SpatialDim): { min: number[]; max: number[] } | null {
  const cols = coordColumns(dim);
  const n = coords.length / cols;
  if (n === 0) return null;
  const min = Array.from({ length: dim }, () => Infinity);
  const max = Array.from({ length: dim }, () => -Infinity);
  for (let r = 0; r < n; r++) {
    for (let a = 0; a < dim; a++) {
      const v = coords[r * cols + 1 + a]!;
      if (v < min[a]!) min[a] = v;
      if (v > max[a]!) max[a] = v;
    }
  }
  return { min, max };
}
