/**
 * Sparse convolution on the GPU (submanifold, strided, transposed; 2D and
 * 3D) as tape ops. WGSL: `src/wgsl/sparse/conv.wgsl`; float64 reference:
 * `conv.reference.ts` (same weight layout and offset order).
 *
 * Forward and input gradient are output-stationary over a
 * {@link GpuKernelMap} (`outputStationary` for the forward,
 * `inputStationary` with W[k]ᵀ for dX): each output row is written by one
 * invocation, with no scatter and no atomics. Three algorithms (see
 * {@link setSparseConvAlgorithm}): 'implicit-gemm' (the default; `igemm.ts`,
 * `src/wgsl/sparse/conv-igemm.wgsl`), one dispatch over all offsets on rows
 * sorted by neighbour mask; 'pairs' (`src/wgsl/sparse/conv-pairs.wgsl`), a
 * per-offset gather–GEMM–scatter over compacted pair lists; 'output-tile'
 * (`conv_gather`), tiles of unsorted rows. The weight and bias gradients are
 * two-pass reductions (per-chunk partials, then a sum in chunk order). Every
 * summation order depends only on shapes, so results are bitwise
 * reproducible run to run.
 *
 * @module
 */
import { defineOp } from '../../autodiff/tape.js';
import { checkOptionKeys, InputValueError, ShapeError, show } from '../../errors.js';
import type { KernelSpec } from '../../runtime/kernel.js';
import { empty, tensor, zeros, type Tensor } from '../../runtime/tensor.js';
import { wgsl } from '../../wgsl/index.js';
import { checkDType } from '../checks.js';
import { perAxis, type SpatialDim } from './coords.js';
import { kernelOffsets, kernelVolumeOf } from './kernel-map.reference.js';
import {
  KernelMapGpu,
  MAX_KERNEL_VOLUME,
  stridedCoordinateSet,
  stridedMap,
  submanifoldMap,
  transposedMap,
  type StridedMapGpuOptions,
} from './kernel-map.js';
import { SparseTensor, type CoordinateSet, type GpuKernelMap } from './sparse-tensor.js';
import { buildRowOrder, checkIgemmTiles, foldTiles, igemmConv, igemmWeightGradPartial, tilesFor, type IgemmTiles, type RowOrder } from './igemm.js';

const source = wgsl('sparse/conv');
const gatherSpec: KernelSpec = { name: 'sparse.conv_gather', source, entryPoint: 'conv_gather' };
const dwSpec: KernelSpec = { name: 'sparse.conv_dw_partial', source, entryPoint: 'conv_dw_partial' };
const biasSpec: KernelSpec = { name: 'sparse.bias_partial', source, entryPoint: 'bias_partial' };
const sumSpec: KernelSpec = { name: 'sparse.sum_chunks', source, entryPoint: 'sum_chunks' };
const pairsSource = wgsl('sparse/conv-pairs');
const compactSpec: KernelSpec = { name: 'sparse.pair_compact', source: pairsSource, entryPoint: 'pair_compact' };
const initSpec: KernelSpec = { name: 'sparse.conv_init', source: pairsSource, entryPoint: 'conv_init' };
const pairsSpec: KernelSpec = { name: 'sparse.conv_pairs', source: pairsSource, entryPoint: 'conv_pairs' };
const reduceSpec: KernelSpec = { name: 'sparse.conv_reduce', source: pairsSource, entryPoint: 'conv_reduce' };
const dwPairsSpec: KernelSpec = { name: 'sparse.conv_dw_pairs', source: pairsSource, entryPoint: 'conv_dw_pairs' };

/**
 * Algorithm of the sparse convolution forward and input gradient (see
 * {@link setSparseConvAlgorithm}).
 */
export type SparseConvAlgorithm = 'implicit-gemm' | 'pairs' | 'output-tile';

const ALGORITHMS: readonly SparseConvAlgorithm[] = ['implicit-gemm', 'pairs', 'output-tile'];
let convAlgorithm: SparseConvAlgorithm = 'implicit-gemm';

/**
 * Selects how sparse convolutions compute their forward, input gradient and
 * weight gradient, and with which options (process-wide; read at each
 * dispatch, so it may be changed between calls; every call sets the options
 * too, omitted ones to their defaults; unknown option keys are an
 * `InputValueError`). Weight and bias gradients are two-pass reductions
 * (per-chunk partials, then a sum in chunk order) under all three; under
 * `'implicit-gemm'` and `'pairs'` the weight gradient visits only the real
 * pairs of each offset.
 *
 * - `'implicit-gemm'` (default): one dispatch for the forward and one for
 *   dX over all offsets. Each table's rows are sorted once by their
 *   neighbour mask (a GPU radix sort, cached with the map), and an invocation
 *   multiplies its rows' offsets only, keeping a per-offset partial sum that
 *   it adds only where the row has a source: the result is bitwise that of
 *   `'pairs'`, for every tile configuration (`options.tiles`,
 *   `tuneSparseConv`). The weight gradient is one dispatch over the pair
 *   lists plus the chunk sum, again bitwise `'pairs'`'s.
 * - `'output-tile'`: output-stationary gather. A workgroup takes a
 *   tile of output rows and, for every offset that any row of the tile uses,
 *   gathers the tile's neighbour rows (zeros where a row has none) and
 *   multiplies them by W[k] in registers; one writer per output, one pass.
 *   On sparse data (LArTPC tracks: ~4.5 neighbours of 27 per voxel, but
 *   ~18–24 offsets used per tile) most of its multiply-adds are on zeros.
 * - `'pairs'`: gather–GEMM–scatter (MinkowskiEngine / spconv style). Per
 *   offset k, a compacted list of the real (input, output) pairs is built
 *   once per kernel-map table and cached with the map (freed by its
 *   `dispose()`); the output is initialised with the bias, then one dispatch
 *   per offset, in ascending k, multiplies the gathered pair rows by W[k] and
 *   adds the result to their output rows. Only real pairs are multiplied.
 *   Within one offset each output row has at most one source, so the
 *   read-add-write needs no atomics. Consecutive offsets are grouped when
 *   their products fit a 64 MiB staging buffer: one dispatch computes a
 *   group's products, a second adds them to the output in the same order,
 *   which gives the same bits with far fewer launches (`options.pairStagingBytes`
 *   sets the budget; 0 turns the grouping off). The weight gradient
 *   sums feats[in]ᵀ ⊗ grad[out] over the same lists.
 *
 * Both are deterministic: every summation order depends only on the map and
 * the shapes, so results are bitwise reproducible run to run. The two
 * algorithms add the same terms in different orders (per-offset partial sums
 * and bias first for 'pairs'), so their results differ by float32 rounding
 * only.
 */
export function setSparseConvAlgorithm(algorithm: SparseConvAlgorithm, options: SparseConvAlgorithmOptions = {}): void {
  if (!ALGORITHMS.includes(algorithm)) {
    throw new InputValueError(`setSparseConvAlgorithm: unknown algorithm ${show(algorithm)}; use one of ${show(ALGORITHMS)}`);
  }
  const staging = options.pairStagingBytes ?? DEFAULT_PAIR_STAGING_BYTES;
  if (!Number.isSafeInteger(staging) || staging < 0) {
    throw new InputValueError(
      `setSparseConvAlgorithm: options.pairStagingBytes = ${show(options.pairStagingBytes)}; pass a whole number of bytes ≥ 0 (0: one dispatch per offset; default ${DEFAULT_PAIR_STAGING_BYTES})`,
    );
  }
  checkOptionKeys('setSparseConvAlgorithm', options, ['pairStagingBytes', 'tiles']);
  const tiles = options.tiles ?? null;
  if (tiles !== null) checkIgemmTiles('setSparseConvAlgorithm', tiles, Infinity, true);
  convAlgorithm = algorithm;
  pairStagingBytes = staging;
  tileOverrides = tiles;
}

/** Options of {@link setSparseConvAlgorithm}; omitted fields take their defaults. */
export interface SparseConvAlgorithmOptions {
  /**
   * `'pairs'` only: budget in bytes of the staging buffer that lets one
   * dispatch compute the products of a group of consecutive offsets (default
   * 64 MiB, further capped by the device's largest storage binding). 0, or
   * any budget under two offsets' [rows, Cout] f32 slices, gives one
   * read-add-write dispatch per offset. Results are bitwise identical either
   * way; only the number of launches and the transient memory change.
   */
  readonly pairStagingBytes?: number;
  /**
   * `'implicit-gemm'` only: tile fields to use instead of the tuned or default
   * ones (see {@link IgemmTiles}; omitted fields keep theirs). Every tile
   * configuration gives bitwise-identical results; only the speed changes.
   */
  readonly tiles?: Partial<IgemmTiles>;
}

/** The current sparse convolution algorithm (see {@link setSparseConvAlgorithm} and {@link getSparseConvAlgorithmOptions}). */
export function getSparseConvAlgorithm(): SparseConvAlgorithm {
  return convAlgorithm;
}

const THREADS = 256;
/** Rows / channels per thread in the gather kernel. */
const MICRO = 4;
/** Rows staged per step in the dW kernel; chunks are multiples of it. */
const SLAB = 8;
/** Most chunks (and thus partial copies) a weight-gradient reduction uses. */
const MAX_CHUNKS = 64;
/** Fewest rows per chunk, so that small layers use few chunks. */
const MIN_CHUNK_ROWS = 256;
/** Memory budget of the per-chunk partials of dW. */
const MAX_PARTIAL_BYTES = 64 * 1024 * 1024;

interface ConvUniform {
  rows: number;
  cin: number;
  cout: number;
  V: number;
  hasBias?: number;
  chunkRows?: number;
  numChunks?: number;
  total?: number;
  ex?: number;
  ey?: number;
  ez?: number;
}

function uniform(p: ConvUniform): Record<string, number> {
  return { hasBias: 0, chunkRows: 0, numChunks: 0, total: 0, ex: 1, ey: 1, ez: 1, ...p };
}

/** Threads along output channels: narrow layers use taller tiles. */
function threadsX(cout: number): 4 | 8 | 16 {
  return cout <= 16 ? 4 : cout <= 32 ? 8 : 16;
}

/** Per-offset pair lists of one kernel-map table (see conv-pairs.wgsl). */
class PairLists {
  constructor(
    /** i32 [V, rows]: output rows with a source at offset k, ascending (first pairCount[k] valid). */
    readonly pairsOut: Tensor,
    /** i32 [V, rows]: the matching source rows. */
    readonly pairsIn: Tensor,
    /** u32 [V]. */
    readonly pairCount: Tensor,
  ) {}
  dispose(): void {
    this.pairsOut.dispose();
    this.pairsIn.dispose();
    this.pairCount.dispose();
  }
}

/** Compacts a table i32 [rows, V] into per-offset pair lists on the GPU (kept: the caller owns them). */
function buildPairLists(table: Tensor, rows: number, kernelVolume: number): PairLists {
  const ctx = table.ctx;
  const pairsOut = empty(ctx, [kernelVolume, rows], 'i32', { label: 'sparse conv pairs (out rows)' }).keep();
  const pairsIn = empty(ctx, [kernelVolume, rows], 'i32', { label: 'sparse conv pairs (in rows)' }).keep();
  const pairCount = empty(ctx, [kernelVolume], 'u32', { label: 'sparse conv pair counts' }).keep();
  const lists = new PairLists(pairsOut, pairsIn, pairCount);
  try {
    ctx.run(
      compactSpec,
      { params: pairsUniform({ rows, cin: 0, cout: 0, V: kernelVolume }), table, pairsOut, pairsIn, pairCount },
      [kernelVolume],
    );
  } catch (e) {
    lists.dispose();
    throw e;
  }
  return lists;
}

function pairsUniform(p: {
  rows: number;
  cin: number;
  cout: number;
  V: number;
  k?: number;
  hasBias?: number;
  total?: number;
  chunkRows?: number;
  groupSize?: number;
  tilesZ?: number;
}): Record<string, number> {
  return { k: 0, hasBias: 0, total: 0, chunkRows: 0, groupSize: 0, tilesZ: 1, ...p };
}

/** Default budget of the staging buffer of the staged 'pairs' conv (see conv-pairs.wgsl). */
const DEFAULT_PAIR_STAGING_BYTES = 64 * 1024 * 1024;
let pairStagingBytes = DEFAULT_PAIR_STAGING_BYTES;
let tileOverrides: Partial<IgemmTiles> | null = null;

/** The current options of the sparse convolution (see {@link setSparseConvAlgorithm}). */
export function getSparseConvAlgorithmOptions(): Required<SparseConvAlgorithmOptions> {
  return { pairStagingBytes, tiles: { ...tileOverrides } };
}

/**
 * The pair lists of `table` (one of `map`'s tables): cached on the map when it
 * can hold them (maps built by kernel-map.ts), otherwise built for this call
 * only; `release` frees them in the second case.
 */
function pairListsOf(table: Tensor, rows: number, kernelVolume: number, map: GpuKernelMap | undefined): { lists: PairLists; release(): void } {
  if (map instanceof KernelMapGpu) {
    return { lists: map.derivedFor(table, 'pair-lists', () => buildPairLists(table, rows, kernelVolume)), release: () => {} };
  }
  const lists = buildPairLists(table, rows, kernelVolume);
  return { lists, release: () => lists.dispose() };
}

/** The mask row order of `table` for the implicit GEMM, cached on `map` like {@link pairListsOf}. */
function rowOrderOf(table: Tensor, rows: number, kernelVolume: number, map: GpuKernelMap | undefined): { order: RowOrder; release(): void } {
  if (map instanceof KernelMapGpu) {
    if (map.mirrored) {
      // Both tables of a submanifold map share one sort (see buildRowOrder).
      const os = map.outputStationary;
      const order = map.derivedFor(os, 'row-order', () => buildRowOrder(os, rows, kernelVolume, true));
      return { order: table === os ? order : order.mirror!, release: () => {} };
    }
    return { order: map.derivedFor(table, 'row-order', () => buildRowOrder(table, rows, kernelVolume)), release: () => {} };
  }
  const order = buildRowOrder(table, rows, kernelVolume);
  return { order, release: () => order.dispose() };
}

/** The 'pairs' algorithm of {@link gatherConv}. */
function pairsConv(
  src: Tensor,
  table: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  rows: number,
  cin: number,
  cout: number,
  kernelVolume: number,
  transW: boolean,
  map: GpuKernelMap | undefined,
  out: Tensor,
): void {
  const ctx = src.ctx;
  const total = rows * cout;
  const hasBias = bias ? 1 : 0;
  const tx = threadsX(cout);
  const bm = (MICRO * THREADS) / tx;
  const maxPerDim = ctx.limits.maxComputeWorkgroupsPerDimension;
  const [y, z] = foldTiles(maxPerDim, Math.ceil(rows / bm));
  // Offsets per staged group: as many [rows, cout] slices as the budget (and
  // one binding, and the z grid) holds; fewer than two gains nothing over the
  // per-offset read-add-write, which gives the same bits.
  const slice = 4 * rows * cout;
  const budget = Math.min(pairStagingBytes, ctx.limits.maxStorageBufferBindingSize);
  const group = cin === 0 ? 0 : Math.min(kernelVolume, Math.floor(budget / slice), Math.floor(maxPerDim / z));
  if (group < 2) {
    ctx.run(
      initSpec,
      { params: pairsUniform({ rows, cin, cout, V: kernelVolume, hasBias, total }), bias: bias ?? weight, out },
      ctx.grid(total, THREADS),
    );
  }
  if (cin === 0) return;
  const { lists, release } = pairListsOf(table, rows, kernelVolume, map);
  try {
    if (group >= 2) {
      const staged = empty(ctx, [group * rows * cout], 'f32', { label: 'sparse conv staged products' });
      try {
        for (let k0 = 0; k0 < kernelVolume; k0 += group) {
          const groupSize = Math.min(group, kernelVolume - k0);
          const p = { rows, cin, cout, V: kernelVolume, k: k0, hasBias, total, groupSize, tilesZ: z };
          ctx.run(
            pairsSpec,
            { params: pairsUniform(p), listOut: lists.pairsOut, listIn: lists.pairsIn, listCount: lists.pairCount, src, weight, out: staged },
            [Math.ceil(cout / (MICRO * tx)), y, z * groupSize],
            { TX: tx, TY: THREADS / tx, TRANS_W: transW, STAGED: true },
          );
          ctx.run(reduceSpec, { params: pairsUniform(p), table, src: staged, bias: bias ?? weight, out }, ctx.grid(total, THREADS));
        }
      } finally {
        staged.dispose();
      }
      return;
    }
    for (let k = 0; k < kernelVolume; k++) {
      ctx.run(
        pairsSpec,
        {
          params: pairsUniform({ rows, cin, cout, V: kernelVolume, k }),
          listOut: lists.pairsOut,
          listIn: lists.pairsIn,
          listCount: lists.pairCount,
          src,
          weight,
          out,
        },
        [Math.ceil(cout / (MICRO * tx)), y, z],
        { TX: tx, TY: THREADS / tx, TRANS_W: transW, STAGED: false },
      );
    }
  } finally {
    release();
  }
}

/**
 * @internal out[o] = bias + Σ_k src[table[o, k]] @ W[k] (or W[k]ᵀ when
 * `transW`), without recording. `cin` is the gathered channel count, `cout`
 * the output one; returns f32 [rows, cout]. `map` (the map `table` belongs
 * to) lets the 'pairs' algorithm cache its pair lists on it.
 */
export function gatherConv(
  src: Tensor,
  table: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  rows: number,
  cin: number,
  cout: number,
  kernelVolume: number,
  transW: boolean,
  map?: GpuKernelMap,
): Tensor {
  const ctx = src.ctx;
  const out = empty(ctx, [rows, cout]);
  if (rows === 0 || cout === 0) return out;
  if (convAlgorithm === 'implicit-gemm') {
    let release = (): void => {};
    try {
      const tiles = tilesFor(ctx, transW ? 'inputGrad' : 'forward', kernelVolume, rows, cin, cout, tileOverrides);
      const ordered = rowOrderOf(table, rows, kernelVolume, map);
      release = ordered.release;
      igemmConv(src, table, ordered.order, weight, bias, rows, cin, cout, kernelVolume, transW, tiles, out);
    } catch (e) {
      out.dispose();
      throw e;
    } finally {
      release();
    }
    return out;
  }
  if (convAlgorithm === 'pairs') {
    pairsConv(src, table, weight, bias, rows, cin, cout, kernelVolume, transW, map, out);
    return out;
  }
  const tx = threadsX(cout);
  const bm = (MICRO * THREADS) / tx;
  const bn = MICRO * tx;
  const [y, z] = foldTiles(ctx.limits.maxComputeWorkgroupsPerDimension, Math.ceil(rows / bm));
  ctx.run(
    gatherSpec,
    {
      params: uniform({ rows, cin, cout, V: kernelVolume, hasBias: bias ? 1 : 0 }),
      src,
      table,
      weight,
      bias: bias ?? weight,
      out,
      offsets: table,
    },
    [Math.ceil(cout / bn), y, z],
    { TX: tx, TY: THREADS / tx, TRANS_W: transW, DENSE: false },
  );
  return out;
}

/** Chunking of a row reduction; depends only on the shapes (determinism). */
function chunking(rows: number, elementsPerChunk: number): { chunkRows: number; numChunks: number } {
  const byMemory = Math.max(1, Math.floor(MAX_PARTIAL_BYTES / (4 * Math.max(1, elementsPerChunk))));
  const want = Math.max(1, Math.min(MAX_CHUNKS, byMemory, Math.ceil(rows / MIN_CHUNK_ROWS)));
  const chunkRows = Math.ceil(Math.ceil(rows / want) / SLAB) * SLAB;
  return { chunkRows, numChunks: Math.ceil(rows / chunkRows) };
}

function sumChunks(partial: Tensor, total: number, numChunks: number, shape: readonly number[]): Tensor {
  const ctx = partial.ctx;
  const dst = empty(ctx, shape);
  ctx.run(
    sumSpec,
    { params: uniform({ rows: 0, cin: 0, cout: 0, V: 1, total, numChunks }), partial, dst },
    ctx.grid(total, THREADS),
  );
  return dst;
}

/**
 * @internal dW[k] = Σ_o feats[table[o, k]]ᵀ ⊗ grad[o], f32 [V, cin, cout],
 * in a fixed order: per-chunk partials, then a sum over chunks in order.
 * Under the 'pairs' algorithm it walks the per-offset pair lists of `table`
 * (cached on `map`; conv_dw_pairs), otherwise every row of the table per
 * offset (conv_dw_partial).
 */
export function weightGrad(
  feats: Tensor,
  grad: Tensor,
  table: Tensor,
  rows: number,
  cin: number,
  cout: number,
  kernelVolume: number,
  map?: GpuKernelMap,
): Tensor {
  const ctx = feats.ctx;
  const total = kernelVolume * cin * cout;
  if (rows === 0 || total === 0) return zeros(ctx, [kernelVolume, cin, cout]);
  // Chunks cut the rows (output-tile) or the pair index (pairs, whose counts
  // are bounded by `rows`): the same shape-only chunking either way.
  const { chunkRows, numChunks } = chunking(rows, total);
  const tc = Math.max(cin, cout) <= 16 ? 16 : Math.max(cin, cout) <= 32 ? 32 : 64;
  const grid: [number, number, number] = [Math.ceil(cout / tc), Math.ceil(cin / tc), kernelVolume * numChunks];
  const partial = empty(ctx, [numChunks * total]);
  try {
    if (convAlgorithm === 'implicit-gemm') {
      const { lists, release } = pairListsOf(table, rows, kernelVolume, map);
      try {
        const tiles = tilesFor(ctx, 'weightGrad', kernelVolume, rows, cin, cout, tileOverrides);
        igemmWeightGradPartial(feats, grad, lists, rows, cin, cout, kernelVolume, chunkRows, numChunks, tiles, partial);
      } finally {
        release();
      }
    } else if (convAlgorithm === 'pairs') {
      const { lists, release } = pairListsOf(table, rows, kernelVolume, map);
      try {
        ctx.run(
          dwPairsSpec,
          {
            params: pairsUniform({ rows, cin, cout, V: kernelVolume, chunkRows }),
            listOut: lists.pairsOut,
            listIn: lists.pairsIn,
            listCount: lists.pairCount,
            src: feats,
            grad,
            partial,
          },
          grid,
          { TC: tc, TT: tc / 4 },
        );
      } finally {
        release();
      }
    } else {
      ctx.run(
        dwSpec,
        { params: uniform({ rows, cin, cout, V: kernelVolume, chunkRows, numChunks }), feats, grad, table, partial },
        grid,
        { TC: tc, TT: tc / 4 },
      );
    }
    return sumChunks(partial, total, numChunks, [kernelVolume, cin, cout]);
  } finally {
    partial.dispose();
  }
}

/** @internal db = Σ_o grad[o], f32 [cout], per-chunk partials then a sum in order. */
export function biasGrad(grad: Tensor, rows: number, cout: number): Tensor {
  const ctx = grad.ctx;
  if (rows === 0) return zeros(ctx, [cout]);
  const { chunkRows, numChunks } = chunking(rows, cout);
  const partial = empty(ctx, [numChunks * cout]);
  ctx.run(
    biasSpec,
    { params: uniform({ rows, cin: 0, cout, V: 1, chunkRows, numChunks }), grad, partial },
    [Math.ceil(cout / THREADS), numChunks],
  );
  const db = sumChunks(partial, cout, numChunks, [cout]);
  partial.dispose();
  return db;
}

interface ConvAttrs {
  readonly map: GpuKernelMap;
  readonly cin: number;
  readonly cout: number;
}

const sparseConvOp = defineOp<ConvAttrs>({
  name: 'sparseConv',
  forward: ([feats, weight, bias], { map, cin, cout }, saver) => {
    saver.save(feats!, weight!);
    return gatherConv(feats!, map.outputStationary, weight!, bias ?? null, map.numOut, cin, cout, map.kernelVolume, false, map);
  },
  // dX = gather over inputStationary with W[k]ᵀ; dW, db two-pass reductions.
  vjp: ({ gradOutputs: [g], saved: [feats, weight], attrs: { map, cin, cout }, needsGrad, inputs }) => {
    if (!g) return inputs.map(() => null);
    const v = map.kernelVolume;
    const grads: (Tensor | null)[] = [
      needsGrad[0] ? gatherConv(g, map.inputStationary, weight!, null, map.numIn, cout, cin, v, true, map) : null,
      needsGrad[1] ? weightGrad(feats!, g, map.outputStationary, map.numOut, cin, cout, v, map) : null,
    ];
    if (inputs.length > 2) grads.push(needsGrad[2] ? biasGrad(g, map.numOut, cout) : null);
    return grads;
  },
});

function checkWeight(op: string, feats: Tensor, weight: Tensor, bias: Tensor | null | undefined, kernelVolume: number, kernelDesc: string): void {
  checkDType(op, 'weight', weight);
  if (weight.ctx !== feats.ctx) {
    throw new InputValueError(`${op}: weight lives on another GpuContext than the features; create both with the same context`);
  }
  if (weight.shape.length !== 3 || weight.shape.some((d) => d < 1)) {
    throw new ShapeError(
      `${op}: weight has shape ${show(weight.shape)}; it must be [kernelVolume, Cin, Cout] = [${kernelVolume}, ${feats.shape[1]}, Cout] with Cout ≥ 1 (convert other layouts with layout.ts)`,
    );
  }
  if (weight.shape[0] !== kernelVolume) {
    throw new ShapeError(
      `${op}: weight has shape ${show(weight.shape)} but ${kernelDesc} has ${kernelVolume} offsets; weight must be [${kernelVolume}, Cin, Cout]`,
    );
  }
  if (weight.shape[1] !== feats.shape[1]) {
    throw new ShapeError(
      `${op}: input has ${feats.shape[1]} channels but weight ${show(weight.shape)} expects Cin = ${weight.shape[1]}; pass features with ${weight.shape[1]} channels or a weight [${kernelVolume}, ${feats.shape[1]}, Cout]`,
    );
  }
  if (bias != null) {
    checkDType(op, 'bias', bias);
    if (bias.shape.length !== 1 || bias.shape[0] !== weight.shape[2]) {
      throw new ShapeError(`${op}: bias has shape ${show(bias.shape)}; it must be [Cout] = [${weight.shape[2]}] (or null for no bias)`);
    }
    if (bias.ctx !== feats.ctx) throw new InputValueError(`${op}: bias lives on another GpuContext than the features`);
  }
}

/**
 * Sparse convolution of features over an explicit kernel map (the tape op
 * behind every public conv): `out[o] = bias + Σ_k feats[os[o, k]] @ W[k]`.
 *
 * @param feats f32 [map.numIn, Cin]
 * @param weight f32 [map.kernelVolume, Cin, Cout]
 * @param bias f32 [Cout] or null
 * @returns f32 [map.numOut, Cout]
 */
export function sparseConvFeatures(feats: Tensor, weight: Tensor, bias: Tensor | null, map: GpuKernelMap): Tensor {
  checkDType('sparseConvFeatures', 'feats', feats);
  if (feats.shape.length !== 2 || feats.shape[0] !== map.numIn) {
    throw new ShapeError(`sparseConvFeatures: feats has shape ${show(feats.shape)}; the map needs [${map.numIn}, Cin]`);
  }
  checkWeight('sparseConvFeatures', feats, weight, bias, map.kernelVolume, 'the kernel map');
  const attrs: ConvAttrs = { map, cin: weight.shape[1]!, cout: weight.shape[2]! };
  return sparseConvOp(bias ? [feats, weight, bias] : [feats, weight], attrs)[0]!;
}

/** Per-axis kernel size: given, or inferred from a cubic weight's first dimension. */
function kernelSizeOf(op: string, dim: SpatialDim, weight: Tensor, kernelSize: number | readonly number[] | undefined): number[] {
  if (kernelSize !== undefined) return perAxis(kernelSize, dim, 'kernelSize');
  const v = weight.shape[0] ?? 0;
  const k = Math.round(v ** (1 / dim));
  if (weight.shape.length !== 3 || k ** dim !== v) {
    throw new ShapeError(
      `${op}: cannot infer a cubic kernel size from weight shape ${show(weight.shape)} (first dimension must be K^${dim}); pass options.kernelSize`,
    );
  }
  return perAxis(k, dim, 'kernelSize');
}

function checkInput(op: string, x: SparseTensor): void {
  if (!(x instanceof SparseTensor)) {
    throw new InputValueError(`${op}: x must be a SparseTensor (create one with sparseTensor(ctx, coords, feats)); got ${show(x)}`);
  }
  x.coords.check();
}

/** Options of {@link submanifoldConv}. */
export interface SubmanifoldConvOptions {
  /** f32 [Cout], or null / absent for no bias. */
  readonly bias?: Tensor | null;
  /** Odd kernel size, scalar or per axis; default: inferred from weight [K^dim, Cin, Cout]. */
  readonly kernelSize?: number | readonly number[];
  /** Tap spacing ≥ 1, scalar or per axis; default 1. */
  readonly dilation?: number | readonly number[];
}

/**
 * Submanifold sparse convolution: outputs on the input's own sites,
 *
 *     out[o] = bias + Σ_k x[o + d_k] @ W[k]     (active neighbours only)
 *
 * with centred taps d_k in the offset order of docs/sparse.md §4
 * (cross-correlation, SparseConvNet's order for K = 3). The kernel map is
 * built on the GPU once per (sites, kernel size, dilation) and cached on the
 * coordinate set. Differentiable in x's features, weight and bias.
 *
 * @param x sparse tensor, features f32 [N, Cin]
 * @param weight f32 [K^dim, Cin, Cout] (ghostgrad layout; see layout.ts)
 * @returns sparse tensor on the same coordinate set, features f32 [N, Cout]
 */
export function submanifoldConv(x: SparseTensor, weight: Tensor, options: SubmanifoldConvOptions = {}): SparseTensor {
  checkInput('submanifoldConv', x);
  const ks = kernelSizeOf('submanifoldConv', x.dim, weight, options.kernelSize);
  const v = kernelVolumeOf(ks);
  // Validates odd sizes and dilation before any GPU work.
  kernelOffsets(x.dim, ks, options.dilation ?? 1, 'center');
  checkVolumeLimit('submanifoldConv', v);
  checkWeight('submanifoldConv', x.feats, weight, options.bias, v, `kernel ${ks.join('×')}`);
  const map = submanifoldMap(x.coords, ks, options.dilation ?? 1);
  return x.withFeats(sparseConvFeatures(x.feats, weight, options.bias ?? null, map));
}

function checkVolumeLimit(op: string, v: number): void {
  if (v > MAX_KERNEL_VOLUME) {
    throw new InputValueError(`${op}: kernel volume ${v} exceeds ${MAX_KERNEL_VOLUME}; use a smaller kernel`);
  }
}

function checkDimIs(op: string, x: SparseTensor, dim: SpatialDim): void {
  if (x.dim !== dim) {
    throw new InputValueError(`${op}: x is a ${x.dim}D sparse tensor; use submanifoldConv${x.dim}d (or submanifoldConv)`);
  }
}

/** {@link submanifoldConv} for 3D tensors (coords (batch, x, y, z)); weight [K³, Cin, Cout]. */
export function submanifoldConv3d(x: SparseTensor, weight: Tensor, options: SubmanifoldConvOptions = {}): SparseTensor {
  checkInput('submanifoldConv3d', x);
  checkDimIs('submanifoldConv3d', x, 3);
  return submanifoldConv(x, weight, options);
}

/** {@link submanifoldConv} for 2D tensors (coords (batch, x, y)); weight [K², Cin, Cout]. */
export function submanifoldConv2d(x: SparseTensor, weight: Tensor, options: SubmanifoldConvOptions = {}): SparseTensor {
  checkInput('submanifoldConv2d', x);
  checkDimIs('submanifoldConv2d', x, 2);
  return submanifoldConv(x, weight, options);
}

/** Options of {@link sparseConv}. */
export interface SparseConvOptions extends StridedMapGpuOptions {
  /** Stride ≥ 1, scalar or per axis. */
  readonly stride: number | readonly number[];
  /** Kernel size, scalar or per axis; default: inferred from weight [K^dim, Cin, Cout]. */
  readonly kernelSize?: number | readonly number[];
  /** f32 [Cout], or null / absent for no bias. */
  readonly bias?: Tensor | null;
}

/**
 * Strided (downsampling) sparse convolution. Output sites are the unique
 * ⌊site / stride⌋ of x's sites, sorted by key (`stridedCoordinateSet`, cached
 * on x's coordinate set, with `stride` multiplied); output q receives input i
 * at offset k iff site(i) = q·stride + d_k (corner anchor by default: kernel 2
 * stride 2 is the usual 2×2×2 downsampling).
 *
 * @param x features f32 [N, Cin]
 * @param weight f32 [V, Cin, Cout]
 * @returns sparse tensor on the coarse set, features f32 [M, Cout]
 */
export function sparseConv(x: SparseTensor, weight: Tensor, options: SparseConvOptions): SparseTensor {
  checkInput('sparseConv', x);
  const ks = kernelSizeOf('sparseConv', x.dim, weight, options.kernelSize);
  const v = kernelVolumeOf(ks);
  kernelOffsets(x.dim, ks, options.dilation ?? 1, options.anchor ?? 'corner');
  checkVolumeLimit('sparseConv', v);
  checkWeight('sparseConv', x.feats, weight, options.bias, v, `kernel ${ks.join('×')}`);
  const coarse = stridedCoordinateSet(x.coords, options.stride);
  const map = stridedMap(x.coords, ks, options.stride, { ...mapOptions(options), coarse });
  return new SparseTensor(coarse, sparseConvFeatures(x.feats, weight, options.bias ?? null, map));
}

function mapOptions(o: StridedMapGpuOptions): StridedMapGpuOptions {
  const r: { dilation?: number | readonly number[]; anchor?: NonNullable<StridedMapGpuOptions['anchor']> } = {};
  if (o.dilation !== undefined) r.dilation = o.dilation;
  if (o.anchor !== undefined) r.anchor = o.anchor;
  return r;
}

/** Options of {@link sparseConvTranspose}. */
export interface SparseConvTransposeOptions extends SparseConvOptions {
  /** The fine coordinate set to return to (usually the input set of the matching `sparseConv`). */
  readonly outCoords: CoordinateSet;
}

/**
 * Transposed (upsampling) sparse convolution from x's coarse sites back to
 * `options.outCoords`: input i at coarse site q feeds output o at fine site p
 * at offset k iff p = q·stride + d_k. The map is the cached strided map
 * fine → coarse with its tables exchanged. The weight is this layer's own
 * [V, Cin, Cout] (to share a strided conv's weight W, pass W[k]ᵀ, see
 * `transposeWeight`).
 *
 * @param x features f32 [M, Cin] on the coarse set
 * @returns sparse tensor on `options.outCoords`, features f32 [N, Cout]
 */
export function sparseConvTranspose(x: SparseTensor, weight: Tensor, options: SparseConvTransposeOptions): SparseTensor {
  checkInput('sparseConvTranspose', x);
  const fine = options.outCoords;
  if (!fine || typeof (fine as { check?: unknown }).check !== 'function') {
    throw new InputValueError('sparseConvTranspose: options.outCoords must be the fine CoordinateSet (e.g. the input coords of the matching sparseConv)');
  }
  fine.check();
  if (fine.dim !== x.dim || fine.ctx !== x.ctx) {
    throw new InputValueError(`sparseConvTranspose: options.outCoords is ${fine.dim}D; it must match x (${x.dim}D) and live on the same GpuContext`);
  }
  const ks = kernelSizeOf('sparseConvTranspose', x.dim, weight, options.kernelSize);
  const v = kernelVolumeOf(ks);
  kernelOffsets(x.dim, ks, options.dilation ?? 1, options.anchor ?? 'corner');
  checkVolumeLimit('sparseConvTranspose', v);
  checkWeight('sparseConvTranspose', x.feats, weight, options.bias, v, `kernel ${ks.join('×')}`);
  const map = transposedMap(x.coords, fine, ks, options.stride, mapOptions(options));
  return new SparseTensor(fine, sparseConvFeatures(x.feats, weight, options.bias ?? null, map));
}

/**
 * @internal Dense "same" cross-correlation on a grid [ex, ey, ez] of voxels
 * (x slowest), features f32 [ex·ey·ez, Cin] → [ex·ey·ez, Cout], with the
 * very tiling of the sparse gather kernel but neighbours computed from the
 * grid: the benchmark's dense baseline. Not differentiable.
 */
export function denseConvBaseline(
  input: Tensor,
  weight: Tensor,
  extent: readonly [number, number, number],
  kernelSize: number,
  dilation = 1,
): Tensor {
  const ctx = input.ctx;
  const [ex, ey, ez] = extent;
  const rows = ex * ey * ez;
  const cin = input.shape[1]!;
  const cout = weight.shape[2]!;
  const v = kernelSize ** 3;
  const offsets = kernelOffsets(3, kernelSize, dilation, 'center');
  const off = tensor(ctx, offsets, [v, 3], { dtype: 'i32' });
  const out = empty(ctx, [rows, cout]);
  const tx = threadsX(cout);
  const bm = (MICRO * THREADS) / tx;
  const [y, z] = foldTiles(ctx.limits.maxComputeWorkgroupsPerDimension, Math.ceil(rows / bm));
  ctx.run(
    gatherSpec,
    {
      params: uniform({ rows, cin, cout, V: v, ex, ey, ez }),
      src: input,
      table: off,
      weight,
      bias: weight,
      out,
      offsets: off,
    },
    [Math.ceil(cout / (MICRO * tx)), y, z],
    { TX: tx, TY: THREADS / tx, TRANS_W: false, DENSE: true },
  );
  off.dispose();
  return out;
}
