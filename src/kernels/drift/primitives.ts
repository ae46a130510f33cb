/**
 * Deterministic GPU building blocks of the drift family
 * (`src/wgsl/drift/sort.wgsl`): exclusive scan of u32 counts, a stable merge
 * sort of pre-sorted runs of (hi, lo) keys, and column sums of a row-major
 * f32 matrix.
 * Internal: the drift wrappers use them; they are not tape ops.
 *
 * @module
 */
import type { KernelSpec } from '../../runtime/kernel.js';
import { empty, zeros, type Tensor } from '../../runtime/tensor.js';
import { wgsl } from '../../wgsl/index.js';

const WG = 256;
/** Rows per colsum workgroup: WG threads × ITEMS (see sort.wgsl). */
const COL_TILE = WG * 8;

const spec = (entryPoint: string): KernelSpec => ({ name: `drift.${entryPoint}`, source: wgsl('drift/sort'), entryPoint });
const scanTiles = spec('scan_tiles');
const scanAdd = spec('scan_add');
const scanFinish = spec('scan_finish');
const mergePass = spec('merge_pass');
const colsumTiles = spec('colsum_tiles');

/**
 * Exclusive prefix sums of u32 `src` [n] as a new u32 tensor [n + 1] whose last
 * element is the total. Integer sums are exact, so the result does not depend
 * on the order of additions.
 */
export function exclusiveScan(src: Tensor): Tensor {
  const ctx = src.ctx;
  const n = src.size;
  const dst = empty(ctx, [n + 1], 'u32', { label: 'drift.scan' });
  if (n > 0) {
    const tiles = Math.ceil(n / WG);
    const sums = empty(ctx, [tiles], 'u32');
    ctx.run(scanTiles, { scan_src: src, scan_dst: dst, scan_sums: sums, scan_params: { n } }, ctx.grid(tiles * WG, WG));
    if (tiles > 1) {
      const off = exclusiveScan(sums);
      ctx.run(scanAdd, { scan_dst: dst, scan_off: off, scan_params: { n } }, ctx.grid(n, WG));
      off.dispose();
    }
    sums.dispose();
  }
  ctx.run(scanFinish, { scan_src: src, scan_dst: dst, scan_params: { n } }, 1);
  return dst;
}

/** Sorted keys and payload returned by {@link mergeSortRuns}. */
export interface SortedKeys {
  hi: Tensor;
  lo: Tensor;
  idx: Tensor;
}

/**
 * Stable sort of C (hi, lo) u32 keys with a u32 payload `idx`, when the input
 * is a concatenation of `units` sorted runs (unit u spans
 * [runStart[u], runStart[u + 1])) and `unit[e]` is the unit of element e.
 * Bottom-up merge: ⌈log₂ units⌉ passes, each element placed by its rank
 * (one binary search in the partner run), so O(C log C) work in few
 * dispatches. Equal keys keep input order. Consumes (disposes) the inputs.
 */
export function mergeSortRuns(hi: Tensor, lo: Tensor, idx: Tensor, unit: Tensor, runStart: Tensor, units: number): SortedKeys {
  const ctx = hi.ctx;
  const c = hi.size;
  let src = { hi, lo, idx, run: unit };
  for (let level = 0; 2 ** level < units; level++) {
    const dst = { hi: empty(ctx, [c], 'u32'), lo: empty(ctx, [c], 'u32'), idx: empty(ctx, [c], 'u32'), run: empty(ctx, [c], 'u32') };
    ctx.run(
      mergePass,
      {
        src_hi: src.hi,
        src_lo: src.lo,
        src_idx: src.idx,
        src_run: src.run,
        dst_hi: dst.hi,
        dst_lo: dst.lo,
        dst_idx: dst.idx,
        dst_run: dst.run,
        run_start: runStart,
        merge_params: { c, units, level },
      },
      ctx.grid(c, WG),
    );
    if (src.run !== unit) src.run.dispose();
    if (src.hi !== hi) {
      src.hi.dispose();
      src.lo.dispose();
      src.idx.dispose();
    }
    src = dst;
  }
  if (src.hi !== hi) {
    hi.dispose();
    lo.dispose();
    idx.dispose();
  }
  if (src.run !== unit) src.run.dispose();
  return { hi: src.hi, lo: src.lo, idx: src.idx };
}

/**
 * Column sums of a row-major f32 matrix `mat` viewed as [rows, cols], as a
 * new [cols] tensor, by passes of fixed-shape tile sums: the order of
 * additions depends only on (rows, cols), so results are bitwise reproducible.
 */
export function columnSums(mat: Tensor, rows: number, cols: number): Tensor {
  const ctx = mat.ctx;
  if (rows === 0) return zeros(ctx, [cols]);
  let src = mat;
  let n = rows;
  for (;;) {
    const tiles = Math.ceil(n / COL_TILE);
    const dst = empty(ctx, tiles === 1 ? [cols] : [tiles, cols]);
    ctx.run(colsumTiles, { mat: src, col_out: dst, col_params: { rows: n, cols } }, [tiles, cols]);
    if (src !== mat) src.dispose();
    if (tiles === 1) return dst;
    src = dst;
    n = tiles;
  }
}
