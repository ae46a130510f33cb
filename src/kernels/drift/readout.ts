/**
 * GPU clipping + line quadrature and pixel–tick readout, as tape ops, with
 * their integer planning passes.
 *
 * Pipeline (see `src/wgsl/drift/quadrature.wgsl`, `readout.wgsl`):
 * 1. {@link planQuadrature}: clip every segment to the active box and count its
 *    midpoint-rule points; exclusive scan → point offsets (one readback: m).
 * 2. {@link samplePoints} (op): place the points [u, v, w, t0, q0].
 * 3. drift (see `drift.ts`).
 * 4. {@link planReadout}: count the ±nσ window cells of every point, scan, emit
 *    one (cell key, entry) per point–cell pair (each point's entries are a
 *    sorted run), merge-sort the runs stably by (pixel, tick), flag and scan
 *    cell starts (readbacks: entries, cells, bounds).
 * 5. {@link pixelReadout} (op): per-entry erf-difference charges, then per cell
 *    a serial sum in sorted order, i.e. in (segment, point) order: no float
 *    atomics, bitwise reproducible.
 *
 * The plans hold integer structure that is piecewise constant in the inputs
 * (point counts, windows, cell keys) and carry no gradient; the ops recompute
 * every float from their differentiable inputs.
 *
 * @module
 */
import { InputValueError, ShapeError, show } from '../../errors.js';
import { defineOp } from '../../autodiff/tape.js';
import type { KernelSpec } from '../../runtime/kernel.js';
import { empty, tensor, zeros, type Tensor } from '../../runtime/tensor.js';
import { wgsl } from '../../wgsl/index.js';
import { reduceSum } from '../core/reduce.js';
import { DRIFTED_COLUMNS, POINT_COLUMNS } from './drift.js';
import { type DetectorGeometry, activeBox, uvwAxes, validateGeometry } from './geometry.js';
import { columnSums, exclusiveScan, mergeSortRuns } from './primitives.js';
import { DEFAULT_READOUT_OPTIONS, resolveReadoutOptions, type ReadoutOptions, type ReadoutStats } from './readout.reference.js';
import { SEGMENT_STRIDE } from './segments.js';
import { checkSegmentsTensor } from './tensors.js';

const WG = 256;
const quadSource = wgsl('drift/quadrature');
const roSource = wgsl('drift/special') + '\n' + wgsl('drift/readout');
const quad = (entryPoint: string): KernelSpec => ({ name: `drift.${entryPoint}`, source: quadSource, entryPoint });
const ro = (entryPoint: string): KernelSpec => ({ name: `drift.${entryPoint}`, source: roSource, entryPoint });
const quadCount = quad('quad_count');
const quadPoints = quad('quad_points');
const quadBackward = quad('quad_backward');
const roCount = ro('ro_count');
const roKeys = ro('ro_keys');
const roFlags = ro('ro_flags');
const roCells = ro('ro_cells');
const roValues = ro('ro_values');
const roMerge = ro('ro_merge');
const roBackward = ro('ro_backward');

/** Columns of the per-segment bookkeeping rows reduced into {@link ReadoutStats}. */
const SROW = 8;
/** Ticks are limited to ±2^20 (as the reference's keys). */
const TICK_LIMIT = 2 ** 20;

/** A range of 32-bit words of a tensor, to read back with others in one round trip. */
interface WordRange {
  readonly tensor: Tensor;
  readonly index: number;
  readonly count: number;
}

/** Reads word ranges of tensors in one readback (one submit, one map). */
async function readWords(ranges: readonly WordRange[]): Promise<ArrayBuffer[]> {
  const ctx = ranges[0]!.tensor.ctx;
  return ctx.readBuffers(ranges.map((r) => ({ buffer: r.tensor.buffer, offset: r.tensor.byteOffset + r.index * 4, bytes: r.count * 4 })));
}

// ------------------------------------------------------------ quadrature

/** Clipping and point counts of a segment batch (integer structure, no gradient). */
export interface QuadraturePlan {
  readonly nSegments: number;
  /** Total quadrature points m. */
  readonly nPoints: number;
  /** Segments wholly outside the active volume (they deposit nothing). */
  readonly nOutside: number;
  /** f32 [n, 4]: t_enter, t_exit, enter axis, exit axis (−1: end inside). */
  readonly clip: Tensor;
  /** u32 [n + 1]: first point of each segment; starts[n] = m. */
  readonly starts: Tensor;
  /** f32 [n, 8]: inside, clipped, outside, dE, f·dE, n_e, f·n_e, points (for stats). */
  readonly segmentRows: Tensor;
  /** @internal */
  readonly uniforms: Readonly<Record<string, number | readonly number[]>>;
  /** Frees the plan's tensors. */
  dispose(): void;
}

/**
 * Clips segments to the active volume of `geometry` and counts their
 * quadrature points (step rule or fixed `pointsPerSegment`, as the reference).
 * One readback (the total). Not differentiable; `electrons` only feeds the
 * bookkeeping of {@link readoutStats}.
 */
export async function planQuadrature(
  segments: Tensor,
  electrons: Tensor,
  geometry: DetectorGeometry,
  options: Partial<ReadoutOptions> = {},
): Promise<QuadraturePlan> {
  return (await planQuadratureReading(segments, electrons, geometry, options, null)).plan;
}

/**
 * @internal {@link planQuadrature}, reading `alsoRead` (f32) back in the same
 * round trip as the point count (the chain validates its physics tensor so).
 */
export async function planQuadratureReading(
  segments: Tensor,
  electrons: Tensor,
  geometry: DetectorGeometry,
  options: Partial<ReadoutOptions>,
  alsoRead: Tensor | null,
): Promise<{ plan: QuadraturePlan; alsoRead: Float32Array | null }> {
  const n = checkSegmentsTensor('planQuadrature', segments);
  if (electrons.size !== n || electrons.dtype !== 'f32') {
    throw new ShapeError(`planQuadrature: electrons has shape ${show(electrons.shape)} (${electrons.dtype}); it must be f32 [${n}], one per segment`);
  }
  validateGeometry(geometry);
  const o = resolveReadoutOptions(options);
  const ctx = segments.ctx;
  const [iu, iv, iw] = uvwAxes(geometry);
  const box = activeBox(geometry);
  const uniforms = {
    n,
    iu,
    iv,
    iw,
    box_min: box.min,
    box_max: box.max,
    fixed_points: o.pointsPerSegment ?? 0,
    max_points: o.maxPointsPerSegment,
    step_t: o.maxStepTransverse_cm,
    step_d: o.maxStepDrift_cm,
  };
  const clip = empty(ctx, [n, 4], 'f32', { label: 'drift.clip' });
  const segmentRows = empty(ctx, [n, SROW], 'f32', { label: 'drift.segmentRows' });
  const counts = empty(ctx, [n], 'u32');
  // [outside count, n − first invalid row (0: none)]: zeros start both, no upload.
  const outsideTotal = zeros(ctx, [2], 'u32', { label: 'drift.outsideTotal' });
  ctx.run(quadCount, { seg: segments, electrons, clip, counts, srow: segmentRows, outside_total: outsideTotal, params: uniforms }, ctx.grid(n, WG));
  const starts = exclusiveScan(counts);
  counts.dispose();
  let nPoints: number;
  let nOutside: number;
  let extra: Float32Array | null = null;
  try {
    // The point count, the outside count and what the caller asked for, in one round trip.
    const ranges: WordRange[] = [
      { tensor: starts, index: n, count: 1 },
      { tensor: outsideTotal, index: 0, count: 2 },
    ];
    if (alsoRead) ranges.push({ tensor: alsoRead, index: 0, count: alsoRead.size });
    const [total, outside, other] = await readWords(ranges);
    nPoints = new Uint32Array(total!)[0]!;
    const [outsideCount, badFromEnd] = new Uint32Array(outside!);
    nOutside = outsideCount!;
    if (badFromEnd! > 0) {
      throw new InputValueError(
        `planQuadrature: segments row ${n - badFromEnd!} is not a valid segment (found on the GPU: a position or t0 that is not finite, or dE or dx negative or not finite); ` +
          'build the tensor with segmentsTensor(), which validates on the host and names the field, or fix the row',
      );
    }
    if (other) extra = new Float32Array(other, 0, alsoRead!.size);
  } catch (e) {
    clip.dispose();
    segmentRows.dispose();
    starts.dispose();
    throw e;
  } finally {
    outsideTotal.dispose();
  }
  const plan: QuadraturePlan = {
    nSegments: n,
    nPoints,
    nOutside,
    clip,
    starts,
    segmentRows,
    uniforms,
    dispose() {
      clip.dispose();
      starts.dispose();
      segmentRows.dispose();
    },
  };
  return { plan, alsoRead: extra };
}

const quadratureOp = defineOp<{ plan: QuadraturePlan }>({
  name: 'drift.quadrature',
  forward: ([seg, elec], { plan }, saver) => {
    saver.save(seg!, elec!);
    const ctx = seg!.ctx;
    const pts = empty(ctx, [plan.nPoints, POINT_COLUMNS.length], 'f32', { label: 'drift.points' });
    ctx.run(
      quadPoints,
      { seg: seg!, electrons: elec!, starts: plan.starts, clip_in: plan.clip, pts, params: plan.uniforms },
      ctx.grid(plan.nPoints, WG),
    );
    return pts;
  },
  vjp: ({ gradOutputs: [g], saved: [seg, elec], attrs: { plan }, needsGrad }) => {
    const ctx = seg!.ctx;
    const n = plan.nSegments;
    const gseg = empty(ctx, [n, SEGMENT_STRIDE]);
    const gelec = empty(ctx, [n]);
    ctx.run(
      quadBackward,
      { seg: seg!, electrons: elec!, starts: plan.starts, clip_in: plan.clip, gpts: g!, gseg, gelec, params: plan.uniforms },
      ctx.grid(n, WG),
    );
    return [needsGrad[0] ? gseg : null, needsGrad[1] ? gelec : null];
  },
});

/**
 * Midpoint-rule quadrature points of the clipped segments, f32 [m, 5] rows
 * [u, v, w, t0, q0] (cm, cm, cm, µs, electrons before lifetime): point k of a
 * segment with n points sits at s = (k + ½)/n of its clipped part and
 * carries n_e·f/n electrons (f the clipped fraction). Differentiable w.r.t.
 * the segment endpoints (including the clip faces), t0 and `electrons`.
 */
export function samplePoints(segments: Tensor, electrons: Tensor, plan: QuadraturePlan): Tensor {
  const n = checkSegmentsTensor('samplePoints', segments);
  if (n !== plan.nSegments || electrons.size !== n) {
    throw new ShapeError(`samplePoints: segments (${n} rows), electrons (${electrons.size}) and plan (${plan.nSegments}) disagree; plan the same batch`);
  }
  return quadratureOp([segments, electrons], { plan })[0]!;
}

// ------------------------------------------------------------ readout

/** Inclusive ranges of the cells present in a sparse image. */
export interface CellBounds {
  pixelX: [number, number];
  pixelY: [number, number];
  tick: [number, number];
}

/** Window and merge structure of a readout (integer, no gradient). */
export interface ReadoutPlan {
  readonly nPoints: number;
  /** Point–cell entries C. */
  readonly nEntries: number;
  /** Distinct cells E (the output length). */
  readonly nCells: number;
  /** i32 [E, 3]: (pixelX, pixelY, tick) per cell, sorted lexicographically. */
  readonly cells: Tensor;
  /** Bounds of `cells`, or null when there are none. */
  readonly bounds: CellBounds | null;
  /** @internal */
  readonly tensors: {
    desc: Tensor;
    cstart: Tensor;
    keyIdx: Tensor;
    entryPt: Tensor;
    cellFirst: Tensor;
    entryCell: Tensor;
  };
  /** @internal */
  readonly uniforms: Readonly<Record<string, number>>;
  /** Frees the plan's tensors except `cells` when `keepCells`. */
  dispose(keepCells?: boolean): void;
}

function readoutUniforms(geometry: DetectorGeometry, nSigma: number, m: number, c: number, e: number): Record<string, number> {
  return {
    m,
    c,
    e,
    n_u: geometry.nPixels[0],
    n_v: geometry.nPixels[1],
    u0: geometry.pixelOrigin_cm[0],
    v0: geometry.pixelOrigin_cm[1],
    pitch: geometry.pixelPitch_cm,
    tick: geometry.tick_us,
    nsigma: nSigma,
  };
}

/**
 * Builds the window/merge structure of the readout of drifted points
 * (f32 [m, 6] from `driftPoints`). Not differentiable.
 *
 * @throws InputValueError when a charge arrives beyond ±2^20 ticks or a window
 *   is unphysically large (σ far above the pitch)
 */
export async function planReadout(drifted: Tensor, geometry: DetectorGeometry, nSigma = DEFAULT_READOUT_OPTIONS.nSigma): Promise<ReadoutPlan> {
  if (drifted.rank !== 2 || drifted.shape[1] !== DRIFTED_COLUMNS.length || drifted.dtype !== 'f32') {
    throw new ShapeError(`planReadout: drifted has shape ${show(drifted.shape)} (${drifted.dtype}); it must be f32 [m, 6] from driftPoints()`);
  }
  validateGeometry(geometry);
  if (!(nSigma > 0) || !Number.isFinite(nSigma)) throw new InputValueError(`planReadout: nSigma = ${show(nSigma)} must be a finite number > 0 (default 4)`);
  const ctx = drifted.ctx;
  const m = drifted.shape[0]!;
  // Planning launches raw kernels only (no tape ops), so it records nothing: no noGrad, which held across its awaits would stop recording in concurrent work.
  return (async () => {
    const temps: Tensor[] = [];
    const tmp = (t: Tensor): Tensor => {
      temps.push(t);
      return t;
    };
    const kept: Tensor[] = [];
    const keep = (t: Tensor): Tensor => {
      kept.push(t);
      return t;
    };
    try {
      const desc = keep(empty(ctx, [m * 8], 'i32'));
      const counts = tmp(empty(ctx, [m], 'u32'));
      const errors = tmp(zeros(ctx, [2], 'u32'));
      const u0 = readoutUniforms(geometry, nSigma, m, 0, 0);
      ctx.run(roCount, { pts: drifted, desc, counts, errors, params: u0 }, ctx.grid(m, WG));
      const cstart = keep(exclusiveScan(counts));
      // One round trip for the error counts and the entry count C.
      const [errs, cTotal] = await readWords([{ tensor: errors, index: 0, count: 2 }, { tensor: cstart, index: m, count: 1 }]);
      const [errTick, errWindow] = new Uint32Array(errs!);
      if (errTick) {
        throw new InputValueError(
          `readout: ${errTick} point(s) arrive beyond ±2^20 ticks (±${(TICK_LIMIT * geometry.tick_us) / 1e3} ms); shift t0 so that arrival times lie within that range of 0`,
        );
      }
      if (errWindow) {
        throw new InputValueError(
          `readout: ${errWindow} point(s) have a ±${nSigma}σ window of more than 2^20 cells; σ is unphysically large for this grid (check dL, dT, sigma0 and the drift velocity)`,
        );
      }
      const C = new Uint32Array(cTotal!)[0]!;
      const keyHi0 = empty(ctx, [C], 'u32');
      const keyLo0 = empty(ctx, [C], 'u32');
      const keyIdx0 = empty(ctx, [C], 'u32');
      const entryPt = keep(empty(ctx, [C], 'u32'));
      // The cells are the distinct entry keys, so the entries' bounds are the cells' (integer atomics: order-free).
      const big = 2 ** 31 - 1;
      const boundsT = tmp(tensor(ctx, Int32Array.of(big, -big - 1, big, -big - 1, big, -big - 1)));
      const u1 = readoutUniforms(geometry, nSigma, m, C, 0);
      ctx.run(
        roKeys,
        { cstart, key_hi: keyHi0, key_lo: keyLo0, key_idx: keyIdx0, entry_pt: entryPt, desc_in: desc, bounds: boundsT, params: u1 },
        ctx.grid(C, WG),
      );
      // Each point's entries are one sorted run; merge them (stable).
      const sorted = mergeSortRuns(keyHi0, keyLo0, keyIdx0, entryPt, cstart, m);
      const keyHi = tmp(sorted.hi);
      const keyLo = tmp(sorted.lo);
      const keyIdx = keep(sorted.idx);
      const flags = tmp(empty(ctx, [C], 'u32'));
      ctx.run(roFlags, { key_hi: keyHi, key_lo: keyLo, flags, params: u1 }, ctx.grid(C, WG));
      const cellExcl = tmp(exclusiveScan(flags));
      // One round trip for the cell count E and the bounds.
      const [eTotal, boundWords] = await readWords([{ tensor: cellExcl, index: C, count: 1 }, { tensor: boundsT, index: 0, count: 6 }]);
      const E = new Uint32Array(eTotal!)[0]!;
      const cellFirst = keep(empty(ctx, [E + 1], 'u32'));
      const cells = keep(empty(ctx, [E, 3], 'i32', { label: 'drift.cells' }));
      const entryCell = keep(empty(ctx, [C], 'u32'));
      const u2 = readoutUniforms(geometry, nSigma, m, C, E);
      ctx.run(
        roCells,
        { flags, cell_excl: cellExcl, key_idx_in: keyIdx, cell_first: cellFirst, key_hi: keyHi, key_lo: keyLo, cells, entry_cell: entryCell, params: u2 },
        ctx.grid(C, WG),
      );
      let bounds: CellBounds | null = null;
      if (E > 0) {
        const b = new Int32Array(boundWords!);
        bounds = { pixelX: [b[0]!, b[1]!], pixelY: [b[2]!, b[3]!], tick: [b[4]!, b[5]!] };
      }
      for (const t of temps) t.dispose();
      return {
        nPoints: m,
        nEntries: C,
        nCells: E,
        cells,
        bounds,
        tensors: { desc, cstart, keyIdx, entryPt, cellFirst, entryCell },
        uniforms: u2,
        dispose(keepCells = false) {
          for (const t of [desc, cstart, keyIdx, entryPt, cellFirst, entryCell]) t.dispose();
          if (!keepCells) cells.dispose();
        },
      };
    } catch (e) {
      for (const t of [...temps, ...kept]) t.dispose();
      throw e;
    }
  })();
}

const readoutOp = defineOp<{ plan: ReadoutPlan }>({
  name: 'drift.pixelReadout',
  forward: ([pts], { plan }, saver) => {
    saver.save(pts!);
    const ctx = pts!.ctx;
    const t = plan.tensors;
    const values = empty(ctx, [plan.nEntries]);
    ctx.run(roValues, { entry_pt_in: t.entryPt, desc_in: t.desc, pts: pts!, cstart: t.cstart, values, params: plan.uniforms }, ctx.grid(plan.nEntries, WG));
    const charge = empty(ctx, [plan.nCells], 'f32', { label: 'drift.charge' });
    ctx.run(roMerge, { cell_first_in: t.cellFirst, values, key_idx_in: t.keyIdx, charge, params: plan.uniforms }, ctx.grid(plan.nCells, WG));
    values.dispose();
    return charge;
  },
  vjp: ({ gradOutputs: [g], saved: [pts], attrs: { plan } }) => {
    const ctx = pts!.ctx;
    const t = plan.tensors;
    const gpts = empty(ctx, [plan.nPoints, DRIFTED_COLUMNS.length]);
    ctx.run(
      roBackward,
      { pts: pts!, cstart: t.cstart, gcell: g!, entry_cell_in: t.entryCell, desc_in: t.desc, gpts, params: plan.uniforms },
      ctx.grid(plan.nPoints, WG),
    );
    return [gpts];
  },
});

/**
 * Charge per pixel–tick cell, f32 [E] (electrons), aligned with `plan.cells`
 * (sorted by pixelX, pixelY, tick; one entry per cell). Each point's charge is
 * split over its ±nσ window by exact Gaussian cell integrals (erf
 * differences; window tails lumped into the outermost cells, pixel-plane
 * edges hard), and each cell sums its contributions in (segment, point)
 * order. Differentiable w.r.t. every column of `drifted`.
 */
export function pixelReadout(drifted: Tensor, plan: ReadoutPlan): Tensor {
  if (drifted.rank !== 2 || drifted.shape[0] !== plan.nPoints || drifted.shape[1] !== DRIFTED_COLUMNS.length) {
    throw new ShapeError(`pixelReadout: drifted has shape ${show(drifted.shape)} but the plan was made for [${plan.nPoints}, 6]; plan the same tensor`);
  }
  return readoutOp([drifted], { plan })[0]!;
}

/**
 * Where the charge went (counts, MeV, electrons), from fixed-order GPU sums
 * (see `ReadoutStats`): produced = active + outside, drifted = collected + offPlane.
 *
 * @param charge the {@link pixelReadout} output (collected charge)
 */
export async function readoutStats(plan: QuadraturePlan, drifted: Tensor, charge: Tensor): Promise<ReadoutStats> {
  // Raw kernels only (no tape ops): nothing records, so no noGrad, which held across the awaits would stop recording elsewhere.
  return (async () => {
    const seg = columnSums(plan.segmentRows, plan.nSegments, SROW);
    const pts = columnSums(drifted, drifted.shape[0]!, DRIFTED_COLUMNS.length);
    const col = reduceSum(charge);
    try {
      const [sw, pw, cw] = await readWords([
        { tensor: seg, index: 0, count: seg.size },
        { tensor: pts, index: 0, count: pts.size },
        { tensor: col, index: 0, count: 1 },
      ]);
      const s = new Float32Array(sw!, 0, seg.size);
      const p = new Float32Array(pw!, 0, pts.size);
      const collected = new Float32Array(cw!)[0]!;
      const drift = p[5]!;
      return {
        nSegments: plan.nSegments,
        nInside: Math.round(s[0]!),
        nClipped: Math.round(s[1]!),
        nOutside: Math.round(s[2]!),
        nPoints: plan.nPoints,
        dETotal_MeV: s[3]!,
        dEActive_MeV: s[4]!,
        dEOutside_MeV: s[3]! - s[4]!,
        electronsProduced: s[5]!,
        electronsActive: s[6]!,
        electronsOutside: s[5]! - s[6]!,
        electronsDrifted: drift,
        electronsCollected: collected,
        electronsOffPlane: drift - collected,
      };
    } finally {
      seg.dispose();
      pts.dispose();
      col.dispose();
    }
  })();
}
