/**
 * Autotuning of the implicit-GEMM sparse convolution's tiles: run a workload
 * once, record each distinct shape class of its conv calls (pass, kernel
 * volume, rows rounded up to a power of two, channels), time every candidate
 * tile configuration on a copy of that call's inputs, and keep the fastest
 * per shape class on the context. Every tile configuration adds the same
 * terms in the same order, so tuning changes speed, never results.
 *
 * @module
 */
import { checkOptionKeys, InputValueError, show } from '../../errors.js';
import type { GpuContext } from '../../runtime/context.js';
import {
  checkIgemmTiles,
  defaultIgemmTiles,
  setIgemmRecorder,
  tunedTilesOf,
  type IgemmCall,
  type IgemmPass,
  type IgemmTiles,
} from './igemm.js';

/** One tuned shape class (JSON-safe: save it and restore it with {@link setSparseConvTuning}). */
export interface SparseConvTuningEntry {
  /** Shape class: `pass:V<kernel volume>:rows<⌈log2 rows⌉>:<cin>-><cout>`. */
  readonly key: string;
  readonly pass: IgemmPass;
  /** The fastest tiles measured. */
  readonly tiles: IgemmTiles;
  /** Its time per call, ms (wall clock around a sync, averaged over the repetitions). */
  readonly ms: number;
  /** The adapter's default tiles' time per call, ms, measured the same way. */
  readonly defaultMs: number;
  /** Number of configurations timed. */
  readonly candidates: number;
}

/** Options of {@link tuneSparseConv}. */
export interface TuneSparseConvOptions {
  /** Least total time per candidate, ms (more repetitions for fast calls); default 20. */
  readonly minMs?: number;
  /** Most repetitions per candidate; default 20. */
  readonly maxReps?: number;
}

/** Candidate tiles for one call on `ctx` (a small grid per adapter kind). */
function candidates(ctx: GpuContext, pass: IgemmPass, cout: number): IgemmTiles[] {
  const base = defaultIgemmTiles(ctx, cout);
  const quads = Math.max(1, Math.ceil(cout / 4));
  // Channel quads per invocation: no more than the layer has.
  const nb4s = [1, 2, 4].filter((q) => q === 1 || q <= quads);
  const out: IgemmTiles[] = [];
  if (pass === 'weightGrad') {
    for (const dwRows of [2, 4, 8]) for (const dwNb4 of nb4s) out.push({ ...base, dwRows, dwNb4 });
    return out;
  }
  if (ctx.adapter.isSoftware) {
    for (const rows of [2, 4]) for (const nb4 of nb4s) out.push({ ...base, rows, nb4, laneOffsets: true });
    return out;
  }
  for (const laneOffsets of [false, true]) for (const rows of [1, 2, 4]) for (const nb4 of nb4s) out.push({ ...base, wg: 128, rows, nb4, laneOffsets });
  return out;
}

/**
 * Ms per call of `call` with `tiles`: the best of three trials, each of
 * enough repetitions to last minMs (at most maxReps) and one sync.
 */
async function timeCall(ctx: GpuContext, call: IgemmCall, tiles: IgemmTiles, minMs: number, maxReps: number): Promise<number> {
  call.run(tiles);
  await ctx.sync(); // pipeline creation outside the timing
  let reps = 1;
  let best = Infinity;
  for (let trial = 0; trial < 3; ) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) call.run(tiles);
    await ctx.sync();
    const ms = performance.now() - t0;
    if (ms < minMs && reps < maxReps) {
      reps = Math.min(maxReps, Math.max(reps * 2, Math.ceil((reps * minMs) / Math.max(ms, 1e-3))));
      continue;
    }
    best = Math.min(best, ms / reps);
    trial++;
  }
  return best;
}

/** A candidate replaces the default only when faster by this fraction (timing noise). */
const MIN_GAIN = 0.05;

/**
 * Runs `workload` once (any sparse-conv work under the 'implicit-gemm'
 * algorithm: a training step, a forward pass), then times the candidate
 * tiles of each shape class it used and keeps the fastest on `ctx`, where
 * every later conv of that class uses them. Classes tuned before are kept
 * unless the workload meets them again. Results do not change: every tile
 * configuration gives the same bits.
 *
 * Costs one run of the workload plus, per shape class, a copy of one call's
 * inputs and three timed trials of each candidate (wall clock around
 * `ctx.sync()`, so run it on an otherwise idle device); a candidate must
 * beat the adapter's default by 5 % to replace it. Seconds on a GPU; on a
 * CPU adapter a U-ResNet step takes about a minute, and the defaults were
 * tuned there already.
 *
 * @returns the entries tuned by this call, slowest default first
 */
export async function tuneSparseConv(
  ctx: GpuContext,
  workload: () => unknown,
  options: TuneSparseConvOptions = {},
): Promise<SparseConvTuningEntry[]> {
  checkOptionKeys('tuneSparseConv', options, ['minMs', 'maxReps']);
  const minMs = options.minMs ?? 20;
  const maxReps = options.maxReps ?? 20;
  if (!(minMs >= 0) || !Number.isFinite(minMs)) throw new InputValueError(`tuneSparseConv: options.minMs = ${show(options.minMs)}; pass a finite number of ms ≥ 0`);
  if (!Number.isInteger(maxReps) || maxReps < 1) throw new InputValueError(`tuneSparseConv: options.maxReps = ${show(options.maxReps)}; pass a whole number ≥ 1`);
  if (typeof workload !== 'function') throw new InputValueError(`tuneSparseConv: workload = ${show(workload)}; pass a function that runs the sparse convs to tune`);
  const calls = new Map<string, IgemmCall>();
  setIgemmRecorder(ctx, (make, key) => {
    if (!calls.has(key)) calls.set(key, make());
  });
  try {
    try {
      await workload();
    } finally {
      setIgemmRecorder(ctx, null);
    }
    const entries: SparseConvTuningEntry[] = [];
    const table = tunedTilesOf(ctx);
    for (const [key, call] of calls) {
      const base = defaultIgemmTiles(ctx, call.cout);
      const defaultMs = await timeCall(ctx, call, base, minMs, maxReps);
      let best = { tiles: base, ms: defaultMs };
      const list = candidates(ctx, call.pass, call.cout);
      for (const tiles of list) {
        const ms = await timeCall(ctx, call, tiles, minMs, maxReps);
        if (ms < best.ms && ms < defaultMs * (1 - MIN_GAIN)) best = { tiles, ms };
      }
      table.set(key, best.tiles);
      entries.push({ key, pass: call.pass, tiles: best.tiles, ms: best.ms, defaultMs, candidates: list.length + 1 });
    }
    return entries.sort((a, b) => b.defaultMs - a.defaultMs);
  } finally {
    for (const call of calls.values()) call.release();
  }
}

/** The tuned tiles of `ctx`, by shape class (what {@link tuneSparseConv} found; JSON-safe). */
export function sparseConvTuning(ctx: GpuContext): { key: string; tiles: IgemmTiles }[] {
  return [...tunedTilesOf(ctx)].map(([key, tiles]) => ({ key, tiles: { ...tiles } }));
}

const KEY = /^(forward|inputGrad|weightGrad):V\d+:rows\d+:\d+->\d+$/;

/**
 * Replaces the tuned tiles of `ctx` with `entries` (for instance saved from
 * {@link sparseConvTuning} on the same adapter), or clears them with null.
 * Validated whole before anything changes.
 */
export function setSparseConvTuning(ctx: GpuContext, entries: readonly { key: string; tiles: IgemmTiles }[] | null): void {
  if (entries !== null && !Array.isArray(entries)) {
    throw new InputValueError(`setSparseConvTuning: entries = ${show(entries)}; pass an array of { key, tiles } (from sparseConvTuning) or null`);
  }
  const next = new Map<string, IgemmTiles>();
  for (const [i, e] of (entries ?? []).entries()) {
    if (typeof e?.key !== 'string' || !KEY.test(e.key)) {
      throw new InputValueError(`setSparseConvTuning: entries[${i}].key = ${show(e?.key)}; expected a shape class such as "forward:V27:rows13:16->16"`);
    }
    checkIgemmTiles(`setSparseConvTuning: entries[${i}]`, e.tiles, ctx.limits.maxComputeInvocationsPerWorkgroup);
    next.set(e.key, { ...e.tiles });
  }
  const table = tunedTilesOf(ctx);
  table.clear();
  for (const [k, v] of next) table.set(k, v);
}
