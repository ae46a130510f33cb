/**
 * Deterministic per-column sums of [rows, cols] matrices (WGSL:
 * `src/wgsl/sparse/columns.wgsl`): the reductions behind sparse BatchNorm and
 * the bias gradient of the sparse linear layer. Internal to the sparse family.
 *
 * @module
 */
import type { GpuContext } from '../../runtime/context.js';
import type { KernelSpec } from '../../runtime/kernel.js';
import { empty, zeros, type Tensor } from '../../runtime/tensor.js';
import { wgsl } from '../../wgsl/index.js';

const WG = 256;
/** Rows each lane adds serially per chunk (ITEMS in columns.wgsl). */
const ITEMS = 16;

type ColumnEntry = 'col_sum_partial' | 'col_centered_sq_partial' | 'col_gxhat_partial';
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

/** What the first pass adds per element (see columns.wgsl). */
export type ColumnTerm =
  | { kind: 'sum'; src: Tensor }
  | { kind: 'centeredSquare'; src: Tensor; sums: Tensor }
  | { kind: 'gradXhat'; src: Tensor; grad: Tensor; stats: Tensor };

function pass(ctx: GpuContext, entry: ColumnEntry, bindings: Record<string, Tensor>, rows: number, cols: number, count: number): Tensor {
  const cw = columnTile(cols);
  const chunkRows = (WG / cw) * ITEMS;
  const chunks = Math.ceil(rows / chunkRows);
  const colTiles = Math.ceil(cols / cw);
  const dst = empty(ctx, chunks === 1 ? [cols] : [chunks, cols]);
  ctx.run(
    spec(entry),
    { ...bindings, dst, params: { rows, cols, col_tiles: colTiles, chunks, count } },
    ctx.grid(colTiles * chunks * WG, WG),
    { CW: cw },
  );
  return dst;
}

/**
 * Σ over rows of a per-element term, one value per column, as a [cols]
 * tensor. The first pass applies the term; further passes sum partials with
 * the same fixed-shape tree, so the result depends only on (rows, cols).
 * rows = 0 gives zeros.
 */
export function columnSum(term: ColumnTerm, rows: number, cols: number): Tensor {
  const ctx = term.src.ctx;
  if (rows === 0) return zeros(ctx, [cols]);
  let out: Tensor;
  switch (term.kind) {
    case 'sum':
      out = pass(ctx, 'col_sum_partial', { src: term.src }, rows, cols, rows);
      break;
    case 'centeredSquare':
      out = pass(ctx, 'col_centered_sq_partial', { src: term.src, sums: term.sums }, rows, cols, rows);
      break;
    case 'gradXhat':
      out = pass(ctx, 'col_gxhat_partial', { src: term.src, grad: term.grad, stats: term.stats }, rows, cols, rows);
      break;
  }
  while (out.shape.length === 2) {
    const next = pass(ctx, 'col_sum_partial', { src: out }, out.shape[0]!, cols, out.shape[0]!);
    out.dispose();
    out = next;
  }
  return out;
}
