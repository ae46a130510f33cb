/**
 * Sparse pooling on the GPU: max and average pooling over a kernel map
 * (usually kernel 2, stride 2) and global average pooling per batch item.
 * Tape ops on the features; WGSL: `src/wgsl/sparse/pool.wgsl`; float64
 * reference: `ops.reference.ts` (`maxPoolForward`, `avgPoolForward`,
 * `globalAvgPoolForward` and their backwards).
 *
 * Determinism: each output element gathers its inputs in offset order, and
 * each input-gradient element gathers the outputs it fed through the
 * input-stationary table (no scatter, no atomics). Global pooling sums
 * fixed-size pieces of each batch item with a fixed tree, then the pieces in
 * order.
 *
 * @module
 */
import { InputValueError, ShapeError, show } from '../../errors.js';
import { defineOp } from '../../autodiff/tape.js';
import type { KernelSpec } from '../../runtime/kernel.js';
import { empty, tensor, type Tensor } from '../../runtime/tensor.js';
import { wgsl } from '../../wgsl/index.js';
import { coordColumns } from './coords.js';
import { columnTile } from './columns.js';
import { stridedCoordinateSet, stridedMap } from './kernel-map.js';
import { checkSparse } from './op-checks.js';
import { CoordinateSet, SparseTensor, type GpuKernelMap } from './sparse-tensor.js';

const WG = 256;
/** Rows per piece in global average pooling: bounds the serial work of one workgroup. */
const PIECE_ROWS = 1024;
/** Kernel size and stride of sparseMaxPool / sparseAvgPool. */
const POOL_KERNEL = 2;
const POOL_STRIDE = 2;

type PoolEntry =
  | 'max_pool_forward' | 'max_pool_backward' | 'avg_pool_divisor' | 'avg_pool_forward' | 'avg_pool_backward'
  | 'gap_piece_sum' | 'gap_item_mean' | 'gap_backward';
const specs = new Map<PoolEntry, KernelSpec>();
function spec(entry: PoolEntry): KernelSpec {
  let s = specs.get(entry);
  if (!s) specs.set(entry, (s = { name: `sparse.${entry}`, source: wgsl('sparse/pool'), entryPoint: entry }));
  return s;
}

/**
 * What average pooling divides by: `'active'` (default) the number of inputs
 * present in the window (a mean over active sites); `'volume'` the kernel
 * volume, absent sites counting as zeros (SparseConvNet's AveragePooling).
 * An output with no input is 0 either way.
 */
export type SparseAvgPoolDivisor = 'active' | 'volume';

interface PoolParams {
  num_in: number;
  num_out: number;
  cols: number;
  volume: number;
  divisor_mode: number;
  pieces: number;
  col_tiles: number;
  coord_cols: number;
}

function params(p: Partial<PoolParams>): PoolParams {
  return { num_in: 0, num_out: 0, cols: 0, volume: 0, divisor_mode: 0, pieces: 0, col_tiles: 0, coord_cols: 0, ...p };
}

// ---------------------------------------------------------------- max pool

const maxPoolOp = defineOp<{ map: GpuKernelMap }>({
  name: 'sparse.maxPool',
  forward: ([x], { map }, saver) => {
    const ctx = x!.ctx;
    const cols = x!.shape[1]!;
    const y = empty(ctx, [map.numOut, cols]);
    const argmax = empty(ctx, [map.numOut, cols], 'i32');
    const p = params({ num_in: map.numIn, num_out: map.numOut, cols, volume: map.kernelVolume });
    ctx.run(spec('max_pool_forward'), { x: x!, out_map: map.outputStationary, y, argmax, params: p }, ctx.grid(map.numOut * cols, WG));
    // argmax is an intermediate the tape owns when recording.
    if (saver.recording) saver.save(argmax);
    else argmax.dispose();
    return y;
  },
  vjp: ({ gradOutputs: [g], saved: [argmax], attrs: { map }, inputs: [x] }) => {
    const ctx = x!.ctx;
    const cols = x!.shape[1]!;
    const dx = empty(ctx, [map.numIn, cols]);
    const p = params({ num_in: map.numIn, num_out: map.numOut, cols, volume: map.kernelVolume });
    ctx.run(spec('max_pool_backward'), { in_map: map.inputStationary, argmax: argmax!, g: g!, dx, params: p }, ctx.grid(map.numIn * cols, WG));
    return [dx];
  },
});

// ---------------------------------------------------------------- avg pool

const avgPoolOp = defineOp<{ map: GpuKernelMap; divisor: SparseAvgPoolDivisor }>({
  name: 'sparse.avgPool',
  forward: ([x], { map, divisor }, saver) => {
    const ctx = x!.ctx;
    const cols = x!.shape[1]!;
    const p = params({ num_in: map.numIn, num_out: map.numOut, cols, volume: map.kernelVolume, divisor_mode: divisor === 'volume' ? 1 : 0 });
    const div = empty(ctx, [map.numOut]);
    ctx.run(spec('avg_pool_divisor'), { out_map: map.outputStationary, divisor: div, params: p }, ctx.grid(map.numOut, WG));
    const y = empty(ctx, [map.numOut, cols]);
    ctx.run(spec('avg_pool_forward'), { x: x!, out_map: map.outputStationary, divisor: div, y, params: p }, ctx.grid(map.numOut * cols, WG));
    if (saver.recording) saver.save(div);
    else div.dispose();
    return y;
  },
  vjp: ({ gradOutputs: [g], saved: [div], attrs: { map, divisor }, inputs: [x] }) => {
    const ctx = x!.ctx;
    const cols = x!.shape[1]!;
    const p = params({ num_in: map.numIn, num_out: map.numOut, cols, volume: map.kernelVolume, divisor_mode: divisor === 'volume' ? 1 : 0 });
    const dx = empty(ctx, [map.numIn, cols]);
    ctx.run(spec('avg_pool_backward'), { in_map: map.inputStationary, divisor: div!, g: g!, dx, params: p }, ctx.grid(map.numIn * cols, WG));
    return [dx];
  },
});

function checkMap(op: string, x: SparseTensor, map: GpuKernelMap, outCoords: CoordinateSet): void {
  checkSparse(op, 'x', x);
  if (!(outCoords instanceof CoordinateSet)) throw new InputValueError(`${op}: outCoords must be a CoordinateSet (the pooled sites)`);
  outCoords.check();
  if (outCoords.dim !== x.dim) {
    throw new ShapeError(`${op}: outCoords is ${outCoords.dim}D but x is ${x.dim}D; pool within one spatial dimension`);
  }
  if (typeof map !== 'object' || map === null || !Number.isInteger(map.kernelVolume) || map.kernelVolume < 1) {
    throw new InputValueError(`${op}: map must be a GpuKernelMap with kernelVolume ≥ 1; got ${show(map?.kernelVolume)}`);
  }
  if (map.numIn !== x.n) {
    throw new ShapeError(`${op}: map.numIn = ${map.numIn} but x has ${x.n} sites; build the map from x's coordinate set`);
  }
  if (map.numOut !== outCoords.n) {
    throw new ShapeError(`${op}: map.numOut = ${map.numOut} but outCoords has ${outCoords.n} sites; pass the output coordinates the map was built for`);
  }
  const v = map.kernelVolume;
  for (const [name, t, rows] of [['outputStationary', map.outputStationary, map.numOut], ['inputStationary', map.inputStationary, map.numIn]] as const) {
    if (t.dtype !== 'i32' || t.shape.length !== 2 || t.shape[0] !== rows || t.shape[1] !== v) {
      throw new ShapeError(`${op}: map.${name} must be i32 [${rows}, ${v}]; got ${t.dtype} ${show(t.shape)}`);
    }
    void t.buffer;
  }
}

/**
 * Max pooling over a kernel map: `out[o, c] = max over inputs i of o of x[i, c]`.
 * Ties go to the lowest input row; an output with no input is 0. The
 * gradient goes to the winning input row only.
 *
 * @param x sparse tensor [N_in, C]
 * @param map GPU kernel map from x's sites to outCoords: `outputStationary` [N_out, V] feeds the
 *   forward, `inputStationary` [N_in, V] (the output each input feeds per offset) the backward;
 *   each holds at most one row per entry, as strided maps do
 * @param outCoords the pooled sites, N_out rows
 * @returns sparse tensor [N_out, C] on outCoords
 */
export function sparseMaxPoolWithMap(x: SparseTensor, map: GpuKernelMap, outCoords: CoordinateSet): SparseTensor {
  checkMap('sparseMaxPoolWithMap', x, map, outCoords);
  const y = maxPoolOp([x.feats], { map })[0]!;
  return new SparseTensor(outCoords, y);
}

/**
 * Average pooling over a kernel map: `out[o] = Σ_{i→o} x[i] / divisor(o)`,
 * summed in offset order and divided once. See {@link SparseAvgPoolDivisor}.
 *
 * @param x sparse tensor [N_in, C]
 * @returns sparse tensor [N_out, C] on outCoords
 */
export function sparseAvgPoolWithMap(
  x: SparseTensor,
  map: GpuKernelMap,
  outCoords: CoordinateSet,
  options: { divisor?: SparseAvgPoolDivisor } = {},
): SparseTensor {
  checkMap('sparseAvgPoolWithMap', x, map, outCoords);
  const divisor = options.divisor ?? 'active';
  if (divisor !== 'active' && divisor !== 'volume') {
    throw new InputValueError(`sparseAvgPoolWithMap: options.divisor = ${show(divisor)} is not valid; pass 'active' or 'volume'`);
  }
  const y = avgPoolOp([x.feats], { map, divisor })[0]!;
  return new SparseTensor(outCoords, y);
}

/**
 * The kernel-2, stride-2, corner-anchored map of a coordinate set and its
 * output sites: both built on the GPU by `kernel-map.ts` and cached on (owned
 * by) the input set.
 */
function strided2Map(coords: CoordinateSet): { map: GpuKernelMap; outCoords: CoordinateSet } {
  const outCoords = stridedCoordinateSet(coords, POOL_STRIDE);
  const map = stridedMap(coords, POOL_KERNEL, POOL_STRIDE, { coarse: outCoords });
  return { map, outCoords };
}

/**
 * Max pooling with kernel 2 and stride 2: output sites are the unique
 * floor(coord / 2) per batch item, sorted by key; each gathers its up to 2^D
 * children. The map and the output coordinate set are built on the GPU
 * (`stridedMap`, `stridedCoordinateSet`) and cached on (owned by) x's
 * coordinate set: disposing x's set disposes the pooled set too.
 */
export function sparseMaxPool(x: SparseTensor): SparseTensor {
  checkSparse('sparseMaxPool', 'x', x);
  const { map, outCoords } = strided2Map(x.coords);
  return sparseMaxPoolWithMap(x, map, outCoords);
}

/** Average pooling with kernel 2 and stride 2 (see {@link sparseMaxPool}, {@link SparseAvgPoolDivisor}). */
export function sparseAvgPool(x: SparseTensor, options: { divisor?: SparseAvgPoolDivisor } = {}): SparseTensor {
  checkSparse('sparseAvgPool', 'x', x);
  const { map, outCoords } = strided2Map(x.coords);
  return sparseAvgPoolWithMap(x, map, outCoords, options);
}

// ------------------------------------------------------- global avg pool

/** Rows of each batch item, cut into pieces of at most PIECE_ROWS rows; cached on the coordinate set. */
interface BatchPieces {
  readonly items: number;
  readonly pieces: number;
  readonly order: Tensor;
  readonly pieceStart: Tensor;
  readonly itemPieces: Tensor;
  dispose(): void;
}

function batchPieces(coords: CoordinateSet, items: number): BatchPieces {
  return coords.cached<BatchPieces>(`ops.batchPieces:${items}`, () => {
    const ctx = coords.ctx;
    const cols = coordColumns(coords.dim);
    const n = coords.n;
    const counts = new Int32Array(items);
    for (let r = 0; r < n; r++) counts[coords.host[r * cols]!]!++;
    const itemStart = new Int32Array(items + 1);
    for (let b = 0; b < items; b++) itemStart[b + 1] = itemStart[b]! + counts[b]!;
    // Counting sort: rows of each item in ascending row order.
    const order = new Int32Array(n);
    const fill = itemStart.slice(0, items);
    for (let r = 0; r < n; r++) order[fill[coords.host[r * cols]!]!++] = r;
    const pieceStart: number[] = [];
    const itemPieces = new Int32Array(items + 1);
    for (let b = 0; b < items; b++) {
      itemPieces[b] = pieceStart.length;
      for (let s = itemStart[b]!; s < itemStart[b + 1]!; s += PIECE_ROWS) pieceStart.push(s);
    }
    itemPieces[items] = pieceStart.length;
    const pieces = pieceStart.length;
    pieceStart.push(n);
    const t = {
      items,
      pieces,
      order: tensor(ctx, order, [n], { dtype: 'i32', label: 'gap.order' }).keep(),
      pieceStart: tensor(ctx, Int32Array.from(pieceStart), [pieces + 1], { dtype: 'i32', label: 'gap.pieceStart' }).keep(),
      itemPieces: tensor(ctx, itemPieces, [items + 1], { dtype: 'i32', label: 'gap.itemPieces' }).keep(),
    };
    return { ...t, dispose: () => [t.order, t.pieceStart, t.itemPieces].forEach((x) => x.dispose()) };
  });
}

const globalAvgPoolOp = defineOp<{ pieces: BatchPieces; coords: CoordinateSet }>({
  name: 'sparse.globalAvgPool',
  forward: ([x], { pieces }) => {
    const ctx = x!.ctx;
    const [n, cols] = x!.shape as [number, number];
    const cw = columnTile(cols);
    const colTiles = Math.ceil(cols / cw);
    const p = params({ num_in: n, num_out: pieces.items, cols, pieces: pieces.pieces, col_tiles: colTiles });
    const partial = empty(ctx, [pieces.pieces, cols]);
    ctx.run(
      spec('gap_piece_sum'),
      { x: x!, order: pieces.order, piece_start: pieces.pieceStart, partial, params: p },
      ctx.grid(colTiles * pieces.pieces * WG, WG),
      { CW: cw },
    );
    const y = empty(ctx, [pieces.items, cols]);
    ctx.run(
      spec('gap_item_mean'),
      { partial, piece_start: pieces.pieceStart, item_pieces: pieces.itemPieces, y, params: p },
      ctx.grid(pieces.items * cols, WG),
    );
    partial.dispose();
    return y;
  },
  vjp: ({ gradOutputs: [g], attrs: { pieces, coords }, inputs: [x] }) => {
    const ctx = x!.ctx;
    const [n, cols] = x!.shape as [number, number];
    const dx = empty(ctx, [n, cols]);
    const p = params({ num_in: n, num_out: pieces.items, cols, coord_cols: coordColumns(coords.dim) });
    ctx.run(
      spec('gap_backward'),
      { coords: coords.gpu, piece_start: pieces.pieceStart, item_pieces: pieces.itemPieces, g: g!, dx, params: p },
      ctx.grid(n * cols, WG),
    );
    return [dx];
  },
});

/** Largest batch index of a set (−1 when empty), cached on the set. */
function maxBatchIndex(coords: CoordinateSet): number {
  return coords.cached('ops.maxBatch', () => {
    const cols = coordColumns(coords.dim);
    let value = -1;
    for (let r = 0; r < coords.n; r++) value = Math.max(value, coords.host[r * cols]!);
    return { value, dispose: () => {} };
  }).value;
}

/**
 * Global average pooling per batch item: `out[b, c]` = mean of x's features
 * over the rows with batch index b; 0 for a batch item without rows.
 *
 * @param x sparse tensor [N, C]
 * @param options.batchSize B; default max batch index + 1 (0 for N = 0)
 * @returns dense f32 tensor [B, C]
 */
export function sparseGlobalAvgPool(x: SparseTensor, options: { batchSize?: number } = {}): Tensor {
  const op = 'sparseGlobalAvgPool';
  checkSparse(op, 'x', x);
  const maxB = maxBatchIndex(x.coords);
  const items = options.batchSize ?? maxB + 1;
  if (!Number.isInteger(items) || items < 0) {
    throw new InputValueError(`${op}: options.batchSize = ${show(items)} must be a non-negative integer`);
  }
  if (maxB >= items) {
    throw new InputValueError(`${op}: options.batchSize = ${items} but x has batch index ${maxB}; pass batchSize ≥ ${maxB + 1} or omit it`);
  }
  const pieces = batchPieces(x.coords, items);
  return globalAvgPoolOp([x.feats], { pieces, coords: x.coords })[0]!;
}
