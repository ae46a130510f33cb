/**
 * Deterministic per-column sums of [rows, cols] matrices (WGSL:
 * `src/wgsl/sparse/columns.wgsl`, shapes in `common/column-chunks.wgsl`):
 * the bias gradient of the sparse linear layer, and the chunking that sparse
 * BatchNorm shares. Internal to the sparse family.
 *
 * @module
 */
import type { KernelSpec } from '../../runtime/kernel.js';
import { empty, zeros, type Tensor } from '../../runtime/tensor.js';
import { wgsl } from '../../wgsl/index.js';

const WG = 256;
/** Rows each lane adds serially per chunk at least (amortises the tree's barriers). */
const MIN_ITEMS = 16;
/** Most chunks of a reduction: the merge pass adds them in one workgroup per 16 columns. */
const MAX_CHUNKS = 1024;
/** Columns per merge workgroup (MERGE_CW in common/column-chunks.wgsl). */
export const MERGE_CW = 16;

type ColumnEntry = 'col_sum_partial' | 'col_sum_merge';
const specs = new Map<ColumnEntry, KernelSpec>();
function spec(entry: ColumnEntry): KernelSpec {
  let s = specs.get(entry);
  if (!s) specs.set(entry, (s = { name: `sparse.${entry}`, source: wgsl('sparse/columns'), entryPoint: entry }));
  return s;
}

/** Columns per workgroup: wide enough to coalesce, narrow enough not to idle threads on few channels. */
export function columnTile(cols: number): number {
  return cols >= 64 ? 64 : cols >= 16 ? 16 : 4;
}

/** How a reduction over `rows` splits into chunks (the uniforms of the chunk kernels). */
export interface ChunkPlan {
  /** Columns per chunk workgroup (the CW override). */
  readonly cw: number;
  readonly colTiles: number;
  /** Rows each lane adds serially. */
  readonly items: number;
  readonly chunks: number;
  /** Workgroups of the chunk pass, and of the merge pass. */
  readonly chunkGroups: number;
  readonly mergeGroups: number;
}

/** The chunking of a [rows, cols] reduction: at most MAX_CHUNKS chunks, each lane at least MIN_ITEMS rows. */
export function chunkPlan(rows: number, cols: number): ChunkPlan {
  const cw = columnTile(cols);
  const lanes = WG / cw;
  const items = Math.max(MIN_ITEMS, Math.ceil(rows / (lanes * MAX_CHUNKS)));
  const chunks = Math.max(1, Math.ceil(rows / (lanes * items)));
  const colTiles = Math.ceil(cols / cw);
  return { cw, colTiles, items, chunks, chunkGroups: colTiles * chunks, mergeGroups: Math.ceil(cols / MERGE_CW) };
}

/**
 * Σ over rows of `src` [rows, cols], one value per column, as a [cols]
 * tensor, in two dispatches. The order of additions depends only on
 * (rows, cols), so the result is bitwise reproducible. rows = 0 gives zeros.
 */
export function columnSum(src: Tensor, rows: number, cols: number): Tensor {
  const ctx = src.ctx;
  if (rows === 0) return zeros(ctx, [cols]);
  const plan = chunkPlan(rows, cols);
  const params = { rows, cols, col_tiles: plan.colTiles, chunks: plan.chunks, items: plan.items };
  const partial = empty(ctx, [plan.chunks, cols]);
  ctx.run(spec('col_sum_partial'), { src, partial, params }, ctx.grid(plan.chunkGroups * WG, WG), { CW: plan.cw });
  const dst = empty(ctx, [cols]);
  ctx.run(spec('col_sum_merge'), { partial_in: partial, dst, params }, plan.mergeGroups);
  partial.dispose();
  return dst;
}
