/**
 * The 'implicit-gemm' sparse convolution (see `setSparseConvAlgorithm`):
 * one dispatch for the forward, one for the input gradient, over rows
 * sorted by their neighbour mask, and the weight gradient over the per-offset
 * pair lists in one dispatch plus the ordered chunk sum. WGSL:
 * `src/wgsl/sparse/conv-igemm.wgsl` (the kernels) and
 * `src/wgsl/sparse/row-order.wgsl` (the mask sort).
 *
 * Tile configurations ({@link IgemmTiles}) change only speed: every one adds
 * the same terms in the same order, so results are bitwise identical
 * whichever is used (and bitwise those of the 'pairs' algorithm).
 *
 * @module
 */
import { InputValueError, show } from '../../errors.js';
import type { GpuContext } from '../../runtime/context.js';
import type { KernelSpec } from '../../runtime/kernel.js';
import { empty, type Tensor } from '../../runtime/tensor.js';
import { wgsl } from '../../wgsl/index.js';

const orderSource = wgsl('sparse/row-order');
const orderCountSpec: KernelSpec = { name: 'sparse.order_count', source: orderSource, entryPoint: 'order_count' };
const orderScatterSpec: KernelSpec = { name: 'sparse.order_scatter', source: orderSource, entryPoint: 'order_scatter' };
const igemmSource = wgsl('sparse/conv-igemm');
const igemmSpec: KernelSpec = { name: 'sparse.conv_igemm', source: igemmSource, entryPoint: 'conv_igemm' };
const igemmDwSpec: KernelSpec = { name: 'sparse.conv_igemm_dw', source: igemmSource, entryPoint: 'conv_igemm_dw' };

/** Slots per workgroup of the mask sort (row-order.wgsl BLOCK). */
const ORDER_BLOCK = 2048;
/** Most key bits per radix pass (row-order.wgsl: 2^bits digits × 2048 >> bits invocations fill 8 KB). */
const MAX_ORDER_BITS = 8;
/** Largest R and RA, and NB4 (conv-igemm.wgsl MAX_R, MAX_NB4). */
const MAX_R = 8;
const MAX_NB4 = 4;

/**
 * A table's rows in ascending (neighbour mask, row) order, with the mask
 * words in that order: what the implicit-GEMM kernels tile over.
 */
export class RowOrder {
  constructor(
    /** i32 [rows]: the table row at each sorted slot. */
    readonly perm: Tensor,
    /** u32 [rows, words]: the mask words of row perm[slot]. */
    readonly rowMask: Tensor,
    /** ⌈V / 32⌉. */
    readonly words: number,
    /**
     * The order of the mirrored table (`buildRowOrder(…, mirror = true)`):
     * the same permutation with mirrored masks; a view, freed with this one.
     */
    readonly mirror: RowOrder | null = null,
    private readonly owner = true,
  ) {}
  dispose(): void {
    if (!this.owner) return;
    this.perm.dispose();
    this.rowMask.dispose();
    // The mirror is a view of `perm`; only its masks are its own.
    this.mirror?.rowMask.dispose();
  }
}

/**
 * Sorts the rows of `table` (i32 [rows, V]) by neighbour mask on the GPU
 * (stable LSD radix, up to 8 bits per pass; ⌈min(V, 32) / 8⌉ passes of
 * two dispatches). With `mirror`, the result also carries the order of the
 * mirrored table (entry (r, k) = table[r, V − 1 − k], a submanifold map's
 * other table) at no extra dispatch. The result is kept (the caller owns it).
 */
export function buildRowOrder(table: Tensor, rows: number, kernelVolume: number, mirror = false): RowOrder {
  const ctx = table.ctx;
  const words = Math.ceil(kernelVolume / 32);
  const numBlocks = Math.max(1, Math.ceil(rows / ORDER_BLOCK));
  const keyBits = Math.min(kernelVolume, 32);
  const passes = Math.ceil(keyBits / MAX_ORDER_BITS);
  const bits = Math.ceil(keyBits / passes);
  const constants = { DIGIT_BITS: bits, THREADS: ORDER_BLOCK >> bits, PER_THREAD: 1 << bits };
  const n = Math.max(rows, 1);
  const perm = empty(ctx, [rows], 'i32', { label: 'sparse conv row order' }).keep();
  const rowMask = empty(ctx, [rows * words], 'u32', { label: 'sparse conv row masks' }).keep();
  const mirrorMask = mirror ? empty(ctx, [rows * words], 'u32', { label: 'sparse conv row masks (mirrored)' }).keep() : null;
  const order = new RowOrder(perm, rowMask, words, mirrorMask ? new RowOrder(perm, mirrorMask, words, null, false) : null);
  if (rows === 0) return order;
  // Ping-pong key/row buffers; the last pass writes its rows into `perm`.
  const keys = [empty(ctx, [n], 'u32'), empty(ctx, [n], 'u32')];
  const vals = [empty(ctx, [n], 'i32'), empty(ctx, [n], 'i32')];
  const counts = empty(ctx, [(1 << bits) * numBlocks], 'u32');
  // Bound as mirrorMask when there is none (a writable binding may not alias another).
  const noMirror = empty(ctx, [1], 'u32');
  try {
    for (let pass = 0; pass < passes; pass++) {
      const last = pass === passes - 1;
      const inI = pass % 2;
      const outI = 1 - inI;
      const params = { rows, V: kernelVolume, words, numBlocks, shift: bits * pass, first: pass === 0 ? 1 : 0, last: last ? 1 : 0, mirror: mirrorMask ? 1 : 0 };
      const inputs = { params, table, keysIn: keys[inI]!, valsIn: vals[inI]!, counts };
      ctx.run(orderCountSpec, inputs, [numBlocks], constants);
      ctx.run(orderScatterSpec, { ...inputs, keysOut: keys[outI]!, valsOut: last ? perm : vals[outI]!, rowMask, mirrorMask: mirrorMask ?? noMirror }, [numBlocks], constants);
    }
  } catch (e) {
    order.dispose();
    throw e;
  } finally {
    for (const t of [...keys, ...vals, counts, noMirror]) t.dispose();
  }
  return order;
}

/**
 * Tile configuration of the implicit-GEMM kernels. Every configuration gives
 * bitwise-identical results; only the speed differs, by adapter and shape.
 */
export interface IgemmTiles {
  /** Invocations per workgroup (forward / input gradient). */
  readonly wg: number;
  /** Sorted rows per invocation, 1–8. */
  readonly rows: number;
  /** Output channels per invocation, in fours: 1–4 (4–16 channels). */
  readonly nb4: number;
  /**
   * True: each invocation visits only the offsets its own rows use (on a CPU
   * adapter every weight load is a gather anyway, so per-invocation offsets
   * cost nothing and skip the workgroup's other rows' offsets); false: the
   * workgroup visits the offsets any of its rows uses, so W[k] addresses are
   * uniform (broadcast loads on a GPU).
   */
  readonly laneOffsets: boolean;
  /** Weight gradient: invocations per workgroup. */
  readonly dwWg: number;
  /** Weight gradient: input channels per invocation, 1–8. */
  readonly dwRows: number;
  /** Weight gradient: output channels per invocation, in fours: 1–4. */
  readonly dwNb4: number;
}

/**
 * Default tiles for an adapter: on a CPU adapter (lavapipe), 4 rows × 8
 * channels per invocation, each invocation on its own rows' offsets (every
 * load inside a loop is a gather there, so FMAs per load and skipped offsets
 * decide; measured in docs/benchmarks.md); on a GPU, one row × 16 channels
 * per invocation in workgroups of 128 on the workgroup's offsets (not yet
 * measured on a GPU). `tuneSparseConv` measures instead.
 */
export function defaultIgemmTiles(ctx: GpuContext, cout: number): IgemmTiles {
  const quads = Math.max(1, Math.ceil(cout / 4));
  if (ctx.adapter.isSoftware) {
    return { wg: 64, rows: 4, nb4: Math.min(2, quads), laneOffsets: true, dwWg: 64, dwRows: 8, dwNb4: Math.min(MAX_NB4, quads) };
  }
  return { wg: 128, rows: 1, nb4: Math.min(MAX_NB4, quads), laneOffsets: false, dwWg: 64, dwRows: 2, dwNb4: Math.min(MAX_NB4, quads) };
}

/** The three implicit-GEMM passes of a conv, tuned separately. */
export type IgemmPass = 'forward' | 'inputGrad' | 'weightGrad';

/**
 * Shape class of one implicit-GEMM call, the key of tuned tiles: pass,
 * kernel volume, gathered and output channels, and rows rounded up to a
 * power of two.
 */
export function shapeClassKey(pass: IgemmPass, kernelVolume: number, rows: number, cin: number, cout: number): string {
  return `${pass}:V${kernelVolume}:rows${rowsClass(rows)}:${cin}->${cout}`;
}

/** ⌈log2 rows⌉ (0 for one row or none). */
export function rowsClass(rows: number): number {
  return rows <= 1 ? 0 : Math.ceil(Math.log2(rows));
}

/** Tuned tiles per context, by shape class (see `tuneSparseConv`). */
const tunedTiles = new WeakMap<GpuContext, Map<string, IgemmTiles>>();

/** @internal The tuned-tile table of `ctx` (created empty on first use). */
export function tunedTilesOf(ctx: GpuContext): Map<string, IgemmTiles> {
  let m = tunedTiles.get(ctx);
  if (!m) {
    m = new Map();
    tunedTiles.set(ctx, m);
  }
  return m;
}

/** One implicit-GEMM call as the tuner replays it: `run` dispatches it with the given tiles. */
export interface IgemmCall {
  readonly pass: IgemmPass;
  readonly cout: number;
  /** Dispatches the call with `tiles` into a scratch output it owns. */
  run(tiles: IgemmTiles): void;
  /** Frees the call's copies of its inputs. */
  release(): void;
}

/** Per-context recorders of implicit-GEMM calls (set while `tuneSparseConv` runs its workload). */
const recorders = new WeakMap<GpuContext, (call: () => IgemmCall, key: string) => void>();

/** @internal Installs (or with null removes) the recorder of `ctx`'s implicit-GEMM calls. */
export function setIgemmRecorder(ctx: GpuContext, recorder: ((call: () => IgemmCall, key: string) => void) | null): void {
  if (recorder) recorders.set(ctx, recorder);
  else recorders.delete(ctx);
}

/** A copy of `t` in command order, kept (the caller disposes it). */
function snapshot(t: Tensor): Tensor {
  const c = empty(t.ctx, t.shape, t.dtype, { label: `${t.label} (tuning copy)` }).keep();
  const bytes = Math.ceil(t.byteLength / 4) * 4;
  if (bytes > 0) t.ctx.commandEncoder().copyBufferToBuffer(t.buffer, t.byteOffset, c.buffer, c.byteOffset, bytes);
  return c;
}

/**
 * Tiles for one implicit-GEMM call on `ctx`: the tuned ones of its shape
 * class when `tuneSparseConv` found some, else the adapter's defaults; then
 * the user's overrides (`setSparseConvAlgorithm(…, { tiles })`).
 */
export function tilesFor(
  ctx: GpuContext,
  pass: IgemmPass,
  kernelVolume: number,
  rows: number,
  cin: number,
  cout: number,
  overrides: Partial<IgemmTiles> | null,
): IgemmTiles {
  const base = tunedTiles.get(ctx)?.get(shapeClassKey(pass, kernelVolume, rows, cin, cout)) ?? defaultIgemmTiles(ctx, cout);
  if (!overrides) return base;
  const tiles = { ...base, ...overrides };
  checkIgemmTiles('sparse conv tiles', tiles, ctx.limits.maxComputeInvocationsPerWorkgroup);
  return tiles;
}

const TILE_FIELDS = ['wg', 'rows', 'nb4', 'laneOffsets', 'dwWg', 'dwRows', 'dwNb4'] as const;

/**
 * Checks a tile configuration's fields (from the user or a tuning table);
 * with `partial`, missing fields are allowed.
 */
export function checkIgemmTiles(where: string, t: Partial<IgemmTiles>, maxWorkgroup: number, partial = false): void {
  if (t === null || typeof t !== 'object' || Array.isArray(t)) {
    throw new InputValueError(`${where}: tiles = ${show(t)}; pass an object with some of ${TILE_FIELDS.join(', ')}`);
  }
  for (const key of Object.keys(t)) {
    if (!(TILE_FIELDS as readonly string[]).includes(key)) {
      throw new InputValueError(`${where}: unknown tile field ${show(key)}; the fields are ${TILE_FIELDS.join(', ')}`);
    }
  }
  if (!(partial && t.laneOffsets === undefined) && typeof t.laneOffsets !== 'boolean') {
    throw new InputValueError(`${where}: tiles.laneOffsets = ${show(t.laneOffsets)}; pass true or false`);
  }
  const check = (key: 'wg' | 'rows' | 'nb4' | 'dwWg' | 'dwRows' | 'dwNb4', lo: number, hi: number): void => {
    const v = t[key];
    if (v === undefined && partial) return;
    if (v === undefined || !Number.isInteger(v) || v < lo || v > hi) {
      throw new InputValueError(`${where}: tiles.${key} = ${show(v)}; pass a whole number in [${lo}, ${hi === Infinity ? "the adapter's workgroup limit" : hi}]`);
    }
  };
  check('wg', 16, maxWorkgroup);
  check('dwWg', 16, maxWorkgroup);
  check('rows', 1, MAX_R);
  check('dwRows', 1, MAX_R);
  check('nb4', 1, MAX_NB4);
  check('dwNb4', 1, MAX_NB4);
}

/** Workgroups for `tiles` row tiles: y up to the device limit, the rest in z (shared with conv.ts). */
export function foldTiles(maxPerDim: number, tiles: number): [number, number] {
  const y = Math.max(1, Math.min(tiles, maxPerDim));
  return [y, Math.ceil(tiles / y)];
}

/**
 * out = bias + Σ_k src[table[o, k]] @ W[k] (W[k]ᵀ when `transW`) over the
 * sorted rows of `order`, into `out` f32 [rows, cout]; one dispatch.
 */
export function igemmConv(
  src: Tensor,
  table: Tensor,
  order: RowOrder,
  weight: Tensor,
  bias: Tensor | null,
  rows: number,
  cin: number,
  cout: number,
  kernelVolume: number,
  transW: boolean,
  tiles: IgemmTiles,
  out: Tensor,
): void {
  const ctx = src.ctx;
  const pass: IgemmPass = transW ? 'inputGrad' : 'forward';
  // Only while tuneSparseConv records: the key and the copies are not built otherwise.
  recorders.get(ctx)?.(() => {
    // Copies of everything the call reads: the workload may free the originals.
    const copies = [src, table, order.perm, order.rowMask, weight, ...(bias ? [bias] : [])].map(snapshot);
    const [s2, t2, p2, m2, w2, b2] = copies;
    const order2 = new RowOrder(p2!, m2!, order.words, null, false);
    const scratch = empty(ctx, [rows, cout], 'f32').keep();
    return {
      pass,
      cout,
      run: (t) => igemmConv(s2!, t2!, order2, w2!, b2 ?? null, rows, cin, cout, kernelVolume, transW, t, scratch),
      release: () => [...copies, scratch].forEach((c) => c.dispose()),
    };
  }, shapeClassKey(pass, kernelVolume, rows, cin, cout));
  const [y, z] = foldTiles(ctx.limits.maxComputeWorkgroupsPerDimension, Math.ceil(rows / (tiles.wg * tiles.rows)));
  ctx.run(
    igemmSpec,
    {
      params: { rows, cin, cout, V: kernelVolume, hasBias: bias ? 1 : 0, words: order.words, chunkRows: 0, numChunks: 0 },
      src,
      table,
      perm: order.perm,
      rowMask: order.rowMask,
      weight,
      weight4: weight,
      bias: bias ?? weight,
      out,
    },
    [Math.ceil(cout / (4 * tiles.nb4)), y, z],
    { WG: tiles.wg, R: tiles.rows, NB4: tiles.nb4, CIN: cin, TRANS_W: transW, VEC_W: !transW && cout % 4 === 0, QUAD_W: transW && cin % 4 === 0, LANE_K: tiles.laneOffsets },
  );
}

/**
 * Per-chunk partial weight gradients over pair lists, bitwise those of the
 * 'pairs' algorithm's conv_dw_pairs: partial f32 [numChunks, V, cin, cout].
 */
export function igemmWeightGradPartial(
  feats: Tensor,
  grad: Tensor,
  lists: { readonly pairsOut: Tensor; readonly pairsIn: Tensor; readonly pairCount: Tensor },
  rows: number,
  cin: number,
  cout: number,
  kernelVolume: number,
  chunkRows: number,
  numChunks: number,
  tiles: IgemmTiles,
  partial: Tensor,
): void {
  const ctx = feats.ctx;
  recorders.get(ctx)?.(() => {
    const copies = [feats, grad, lists.pairsOut, lists.pairsIn, lists.pairCount].map(snapshot);
    const [f2, g2, po, pi, pc] = copies;
    const scratch = empty(ctx, partial.shape, 'f32').keep();
    const lists2 = { pairsOut: po!, pairsIn: pi!, pairCount: pc! };
    return {
      pass: 'weightGrad',
      cout,
      run: (t) => igemmWeightGradPartial(f2!, g2!, lists2, rows, cin, cout, kernelVolume, chunkRows, numChunks, t, scratch),
      release: () => [...copies, scratch].forEach((c) => c.dispose()),
    };
  }, shapeClassKey('weightGrad', kernelVolume, rows, cin, cout));
  const items = numChunks * kernelVolume * Math.ceil(cin / tiles.dwRows) * Math.ceil(cout / (4 * tiles.dwNb4));
  const groups = Math.ceil(items / tiles.dwWg);
  const [x, y] = foldTiles(ctx.limits.maxComputeWorkgroupsPerDimension, groups);
  ctx.run(
    igemmDwSpec,
    {
      params: { rows, cin, cout, V: kernelVolume, hasBias: 0, words: 0, chunkRows, numChunks },
      src: feats,
      pairsOut: lists.pairsOut,
      pairsIn: lists.pairsIn,
      pairCount: lists.pairCount,
      grad,
      grad4: grad,
      partial,
    },
    [x, y],
    { WG: tiles.dwWg, RA: tiles.dwRows, NB4: tiles.dwNb4, VEC_G: cout % 4 === 0 },
  );
}
