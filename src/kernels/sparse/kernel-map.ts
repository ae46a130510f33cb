/**
 * GPU coordinate hash tables and kernel maps (submanifold, strided,
 * transposed). WGSL: `src/wgsl/sparse/kernel-map.wgsl`; float64 reference:
 * `kernel-map.reference.ts` (same offsets, same tables).
 *
 * Everything built here is cached on a {@link CoordinateSet} (`set.cached`)
 * keyed by its parameters, so that every layer on the same sites reuses one
 * hash table and one map per (kernel size, stride, dilation, anchor); the
 * cache owns the GPU memory and `set.dispose()` frees it.
 *
 * @module
 */
import { InputValueError, show } from '../../errors.js';
import type { GpuContext } from '../../runtime/context.js';
import type { KernelSpec } from '../../runtime/kernel.js';
import { empty, tensor, zeros, type Tensor } from '../../runtime/tensor.js';
import { wgsl } from '../../wgsl/index.js';
import { checkDim, coordColumns, perAxis, type SpatialDim } from './coords.js';
import { downsampledSites, kernelOffsets, kernelVolumeOf, type KernelAnchor } from './kernel-map.reference.js';
import { CoordinateSet, type GpuKernelMap } from './sparse-tensor.js';

const WG = 256;
/** Words per hash-table slot: (w0, w1, row + 1, unused), 16 bytes. */
export const SLOT_WORDS = 4;
/** Largest kernel volume the conv kernels' offset mask holds. */
export const MAX_KERNEL_VOLUME = 512;

const spec = (entryPoint: string): KernelSpec => ({ name: `sparse.${entryPoint}`, source: wgsl('sparse/kernel-map'), entryPoint });
const hashWordsSpec = spec('hash_words');
const fillSpec = spec('fill_i32');
const insertSpec = spec('table_insert');
const submSpec = spec('subm_map');
const stridedOutSpec = spec('strided_out_map');
const stridedInSpec = spec('strided_in_map');
const countSpec = spec('count_valid');

interface MapParams {
  n: number;
  cols?: number;
  mask?: number;
  V?: number;
  half?: number;
  sx?: number;
  sy?: number;
  sz?: number;
  value?: number;
}

function params(p: MapParams): Record<string, number> {
  return { cols: 4, mask: 0, V: 1, half: 0, sx: 1, sy: 1, sz: 1, value: 0, ...p };
}

/** Dispatches a 1-D kernel over `n` invocations (nothing for n = 0). */
function run1d(ctx: GpuContext, k: KernelSpec, bindings: Record<string, Tensor | Record<string, number>>, n: number): void {
  if (n === 0) return;
  ctx.run(k, bindings, ctx.grid(n, WG));
}

/** Fills an i32 tensor with a value on the GPU. */
function fillI32(t: Tensor, value: number): void {
  run1d(t.ctx, fillSpec, { fillbuf: t, params: params({ n: t.size, value }) }, t.size);
}

/**
 * A GPU open-addressing hash table of a coordinate set's sites.
 *
 * `table` is u32 [capacity, 4]: per slot (w0, w1, row + 1, unused), row + 1 = 0
 * for an empty slot. Capacity is the smallest power of two ≥ max(16, 2n)
 * (load ≤ 1/2); slot = hashKey(w0, w1) & (capacity − 1), linear probing, the
 * key and hash of `coords.ts`. Duplicate sites keep their lowest row.
 */
export class GpuHashTable {
  constructor(
    readonly table: Tensor,
    readonly capacity: number,
  ) {}
  dispose(): void {
    this.table.dispose();
  }
}

function capacityFor(n: number): number {
  let cap = 16;
  while (cap < 2 * n) cap *= 2;
  return cap;
}

/**
 * @internal Builds a hash table of the rows of an i32 coords tensor [n, cols]
 * (no caching; duplicates allowed, the lowest row wins).
 */
export function buildHashTable(coords: Tensor, n: number, dim: SpatialDim): GpuHashTable {
  const ctx = coords.ctx;
  const capacity = capacityFor(n);
  const table = zeros(ctx, [capacity * SLOT_WORDS], 'u32', { label: 'sparse hash table' }).keep();
  run1d(ctx, insertSpec, { coords, table, params: params({ n, cols: coordColumns(dim), mask: capacity - 1 }) }, n);
  return new GpuHashTable(table, capacity);
}

/** The hash table of a coordinate set, built on first use and cached on the set. */
export function coordHashTable(set: CoordinateSet): GpuHashTable {
  return set.cached('hash', () => buildHashTable(set.gpu, set.n, set.dim));
}

/**
 * Hashes (w0, w1) word pairs on the GPU with the WGSL `hash_key` (a test hook
 * for bit-exactness against `hashKey` of coords.ts).
 *
 * @param words Uint32Array [n, 2] of (w0, w1)
 * @returns Uint32Array [n]
 */
export async function hashKeysGpu(ctx: GpuContext, words: Uint32Array): Promise<Uint32Array> {
  const n = words.length / 2;
  if (n === 0) return new Uint32Array(0);
  return ctx.scope(async () => {
    const w = tensor(ctx, words, [2 * n], { dtype: 'u32' });
    const hashes = empty(ctx, [n], 'u32');
    run1d(ctx, hashWordsSpec, { words: w, hashes, params: params({ n }) }, n);
    return (await hashes.read()) as Uint32Array;
  });
}

/**
 * Looks sites up in a set's GPU hash table: the row of each query site in
 * `set`, or −1 (absent, or a site of another batch item).
 *
 * @param queries Int32Array [m, 1 + dim], validated ranges
 * @returns Int32Array [m]
 */
export async function lookupSites(set: CoordinateSet, queries: Int32Array): Promise<Int32Array> {
  set.check();
  return queryTable(coordHashTable(set), set.dim, queries);
}

/** @internal Looks sites up in a hash table (see {@link lookupSites}). */
export async function queryTable(h: GpuHashTable, dim: SpatialDim, queries: Int32Array): Promise<Int32Array> {
  const ctx = h.table.ctx;
  const cols = coordColumns(dim);
  const m = queries.length / cols;
  if (m === 0) return new Int32Array(0);
  return ctx.scope(async () => {
    const q = tensor(ctx, queries, [m, cols], { dtype: 'i32' });
    const offsets = tensor(ctx, new Int32Array(3), [1, 3], { dtype: 'i32' });
    const os = empty(ctx, [m], 'i32');
    run1d(
      ctx,
      stridedOutSpec,
      { coords: q, table: h.table, offsets, os, params: params({ n: m, cols, mask: h.capacity - 1, V: 1 }) },
      m,
    );
    return (await os.read()) as Int32Array;
  });
}

/**
 * A kernel map on the GPU (see {@link GpuKernelMap}); owns its tables unless
 * it is a view (the transposed view of a strided map).
 */
export class KernelMapGpu implements GpuKernelMap {
  private pairsCache: number | null = null;
  constructor(
    readonly kernelVolume: number,
    readonly numIn: number,
    readonly numOut: number,
    readonly outputStationary: Tensor,
    readonly inputStationary: Tensor,
    private readonly owner: boolean,
    /** Structures derived from one of the tables, shared with transposed views, freed by the owner. */
    private readonly derived: Map<Tensor, Map<string, { dispose(): void }>> = new Map(),
    /** True for submanifold maps: inputStationary[r, k] = outputStationary[r, V − 1 − k]. */
    readonly mirrored = false,
  ) {}

  /**
   * @internal A structure derived from `table` (one of this map's two
   * tables) and named by `kind`, built by `make` on first use and cached:
   * the per-offset pair lists and the mask row order of the sparse conv
   * algorithms. Shared with the map's transposed views
   * (which reuse the same tables) and disposed with the owning map; `make`
   * must `keep()` the tensors it creates so that scopes leave them alone.
   */
  derivedFor<T extends { dispose(): void }>(table: Tensor, kind: string, make: () => T): T {
    if (table !== this.outputStationary && table !== this.inputStationary) {
      throw new InputValueError('KernelMapGpu.derivedFor: the table is not one of this map\'s tables');
    }
    let byKind = this.derived.get(table);
    if (!byKind) {
      byKind = new Map();
      this.derived.set(table, byKind);
    }
    let v = byKind.get(kind) as T | undefined;
    if (!v) {
      v = make();
      byKind.set(kind, v);
    }
    return v;
  }

  /**
   * Number of (input, output) pairs, i.e. real neighbour pairs (for FLOP
   * counts: a conv does 2·pairs·Cin·Cout FLOPs). Counted on the GPU on first
   * call (integer atomics, exact), then cached.
   */
  async countPairs(): Promise<number> {
    if (this.pairsCache !== null) return this.pairsCache;
    const ctx = this.outputStationary.ctx;
    const n = this.numOut * this.kernelVolume;
    const counter = zeros(ctx, [1], 'u32');
    try {
      run1d(ctx, countSpec, { vals: this.outputStationary, counter, params: params({ n }) }, n);
      this.pairsCache = (await counter.read())[0]!;
    } finally {
      counter.dispose();
    }
    return this.pairsCache;
  }

  /** Both tables on the host: Int32Array [numOut, V] and [numIn, V]. */
  async read(): Promise<{ outputStationary: Int32Array; inputStationary: Int32Array }> {
    return {
      outputStationary: (await this.outputStationary.read()) as Int32Array,
      inputStationary: (await this.inputStationary.read()) as Int32Array,
    };
  }

  /** The map with the roles of input and output exchanged (a non-owning view). */
  transposed(): KernelMapGpu {
    return new KernelMapGpu(this.kernelVolume, this.numOut, this.numIn, this.inputStationary, this.outputStationary, false, this.derived);
  }

  dispose(): void {
    if (!this.owner) return;
    for (const byKind of this.derived.values()) for (const v of byKind.values()) v.dispose();
    this.derived.clear();
    this.outputStationary.dispose();
    this.inputStationary.dispose();
  }
}

/**
 * Number of (input, output) pairs of a map (for FLOP counts: a conv does
 * 2·pairs·Cin·Cout FLOPs); same as `map.countPairs()`.
 */
export async function countPairs(map: GpuKernelMap): Promise<number> {
  return map.countPairs();
}

/**
 * Kernel offsets as an i32 tensor [V, 3] (z = 0 in 2D), for the map kernels:
 * uploaded once per context and offset table, owned by the context (do not
 * dispose).
 */
function offsetsTensor(ctx: GpuContext, dim: SpatialDim, ks: readonly number[], dil: readonly number[], anchor: KernelAnchor): Tensor {
  return ctx.constant(`sparse.offsets:${dim}:${key(ks)}:${key(dil)}:${anchor}`, () => {
    const offsets = kernelOffsets(dim, ks, dil, anchor);
    const v = offsets.length / dim;
    const o3 = new Int32Array(Math.max(v, 1) * 3);
    for (let k = 0; k < v; k++) for (let a = 0; a < dim; a++) o3[3 * k + a] = offsets[k * dim + a]!;
    return tensor(ctx, o3, [Math.max(v, 1), 3], { dtype: 'i32', label: 'kernel offsets' });
  });
}

function checkVolume(v: number, what: string): void {
  if (v > MAX_KERNEL_VOLUME) {
    throw new InputValueError(
      `${what}: kernel volume ${v} exceeds ${MAX_KERNEL_VOLUME}, the most the GPU conv kernels support; use a smaller kernel (7³ = 343 fits)`,
    );
  }
}

function key(values: readonly number[]): string {
  return values.join('x');
}

/**
 * Submanifold kernel map of a coordinate set: outputs are the input sites
 * (same rows), and (i, o) is a pair at offset k iff site(i) = site(o) + d_k,
 * d_k = (i_a − (K_a − 1)/2)·dilation_a in the offset order of docs/sparse.md §4.
 * Built on the GPU querying only half the offsets (mirror symmetry: (i, o) at
 * k ⇔ (o, i) at V − 1 − k, so each found pair fills four table entries) and
 * cached on the set.
 *
 * `outputStationary` [N, V] and `inputStationary` [N, V] are i32, −1 = none;
 * for this map `inputStationary[i, k] = outputStationary[i, V − 1 − k]`.
 *
 * @param kernelSize odd, scalar or per axis (1, 3, 5, 7 …)
 * @param dilation ≥ 1, scalar or per axis
 */
export function submanifoldMap(
  set: CoordinateSet,
  kernelSize: number | readonly number[],
  dilation: number | readonly number[] = 1,
): KernelMapGpu {
  set.check();
  const dim = set.dim;
  const ks = perAxis(kernelSize, dim, 'kernelSize');
  const dil = perAxis(dilation, dim, 'dilation');
  const v = kernelVolumeOf(ks);
  checkVolume(v, 'submanifoldMap');
  return set.cached(`subm:${key(ks)}:${key(dil)}`, () => {
    const ctx = set.ctx;
    const n = set.n;
    const h = coordHashTable(set);
    const os = empty(ctx, [n, v], 'i32', { label: 'subm map (output-stationary)' }).keep();
    const ins = empty(ctx, [n, v], 'i32', { label: 'subm map (input-stationary)' }).keep();
    fillI32(os, -1);
    fillI32(ins, -1);
    const half = (v - 1) / 2;
    const off = offsetsTensor(ctx, dim, ks, dil, 'center');
    run1d(
      ctx,
      submSpec,
      {
        coords: set.gpu,
        table: h.table,
        offsets: off,
        os,
        ins,
        params: params({ n, cols: coordColumns(dim), mask: h.capacity - 1, V: v, half }),
      },
      n * Math.max(half, 1),
    );
    return new KernelMapGpu(v, n, n, os, ins, true, new Map(), true);
  });
}

/**
 * The coarse coordinate set of a strided conv: unique (batch, ⌊x/s_x⌋,
 * ⌊y/s_y⌋[, ⌊z/s_z⌋]) over the rows of `set`, **sorted by key**
 * (lexicographic (batch, x, y, z)), exactly `stridedOutputCoords` of the
 * reference. Derived on the host (a CoordinateSet keeps a host copy; a
 * radix sort makes it O(N)) and cached on `set`,
 * which owns it: `set.dispose()` disposes it too. Its `stride` is
 * `set.stride · s` (first axis for anisotropic strides).
 */
export function stridedCoordinateSet(set: CoordinateSet, stride: number | readonly number[]): CoordinateSet {
  set.check();
  const st = perAxis(stride, set.dim, 'stride');
  st.forEach((s, a) => {
    if (!Number.isInteger(s) || s < 1) throw new InputValueError(`stride[${a}] = ${show(s)} must be an integer ≥ 1.`);
  });
  return set.cached(`coarse:${key(st)}`, () => {
    const coarse = downsampledSites(set.host, set.dim, st);
    return new CoordinateSet(set.ctx, set.dim, coarse, { stride: set.stride * st[0]!, validate: false });
  });
}

/** Options of strided and transposed maps. */
export interface StridedMapGpuOptions {
  /** Tap spacing in fine-grid units, scalar or per axis; default 1. */
  readonly dilation?: number | readonly number[];
  /** 'corner' (default): taps q·s + i·dilation; 'center': q·s + (i − (K−1)/2)·dilation (odd K). */
  readonly anchor?: KernelAnchor;
}

/**
 * Strided (downsampling) map from `fine` to `coarse`: coarse row o at site q
 * receives fine row i at offset k iff site(i) = q·stride + d_k (same batch
 * item), as `buildStridedMap` of the reference. `outputStationary` is
 * [coarse.n, V] (fine row or −1), `inputStationary` [fine.n, V] (coarse row or
 * −1). Both are gathers (no scatter): the first queries the fine set's hash
 * table, the second the coarse set's. Cached on `fine`.
 *
 * @param options `coarse`: the coarse set (default {@link stridedCoordinateSet}(fine, stride))
 */
export function stridedMap(
  fine: CoordinateSet,
  kernelSize: number | readonly number[],
  stride: number | readonly number[],
  options: StridedMapGpuOptions & { coarse?: CoordinateSet } = {},
): KernelMapGpu {
  fine.check();
  const dim = fine.dim;
  checkDim(dim);
  const ks = perAxis(kernelSize, dim, 'kernelSize');
  const st = perAxis(stride, dim, 'stride');
  const dil = perAxis(options.dilation ?? 1, dim, 'dilation');
  const anchor = options.anchor ?? 'corner';
  const v = kernelVolumeOf(ks);
  checkVolume(v, 'stridedMap');
  const coarse = options.coarse ?? stridedCoordinateSet(fine, st);
  coarse.check();
  if (coarse.dim !== dim || coarse.ctx !== fine.ctx) {
    throw new InputValueError(
      `stridedMap: the coarse set (dim ${coarse.dim}) must have the fine set's dim (${dim}) and GPU context; derive it with stridedCoordinateSet(fine, stride)`,
    );
  }
  return fine.cached(`strided:${coarse.id}:${key(ks)}:${key(st)}:${key(dil)}:${anchor}`, () => {
    const ctx = fine.ctx;
    const cols = coordColumns(dim);
    const hf = coordHashTable(fine);
    const hc = coordHashTable(coarse);
    const os = empty(ctx, [coarse.n, v], 'i32', { label: 'strided map (output-stationary)' }).keep();
    const ins = empty(ctx, [fine.n, v], 'i32', { label: 'strided map (input-stationary)' }).keep();
    const off = offsetsTensor(ctx, dim, ks, dil, anchor);
    const s = { sx: st[0]!, sy: st[1]!, sz: dim === 3 ? st[2]! : 1 };
    run1d(
      ctx,
      stridedOutSpec,
      { coords: coarse.gpu, table: hf.table, offsets: off, os, params: params({ n: coarse.n, cols, mask: hf.capacity - 1, V: v, ...s }) },
      coarse.n * v,
    );
    run1d(
      ctx,
      stridedInSpec,
      { coords: fine.gpu, table: hc.table, offsets: off, os: ins, params: params({ n: fine.n, cols, mask: hc.capacity - 1, V: v, ...s }) },
      fine.n * v,
    );
    return new KernelMapGpu(v, fine.n, coarse.n, os, ins, true);
  });
}

/**
 * Transposed (upsampling) map from `coarse` back to `fine`: the strided map
 * fine → coarse with the two tables exchanged (a view sharing the cached
 * strided map's memory; disposing the view frees nothing). Input row i
 * (coarse site q) feeds output row o (fine site p) at offset k iff
 * p = q·stride + d_k, as `buildTransposedMap` of the reference.
 */
export function transposedMap(
  coarse: CoordinateSet,
  fine: CoordinateSet,
  kernelSize: number | readonly number[],
  stride: number | readonly number[],
  options: StridedMapGpuOptions = {},
): KernelMapGpu {
  return stridedMap(fine, kernelSize, stride, { ...options, coarse }).transposed();
}
