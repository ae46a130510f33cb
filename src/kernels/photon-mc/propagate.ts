/**
 * Monte Carlo optical-photon propagation on the GPU: the WGSL port of
 * `propagate.reference.ts` (src/wgsl/photon-mc/propagate.wgsl), one
 * invocation per photon, with the reference's Philox stream layout, so that
 * the GPU reproduces the reference's per-photon fates up to f32 rounding.
 *
 * Work is split into dispatches of at most `photonsPerDispatch` photons
 * (a rectangle of sources × photon indices), which keeps each dispatch short
 * (no GPU watchdog timeouts) and within `maxComputeWorkgroupsPerDimension`.
 * Sources are processed in batches whose u32 counters fit a memory budget;
 * after each batch the counters are read back and added into float64 host
 * accumulators (exact integers up to 2^53). A GPU counter is per source and a
 * source emits at most 2^32 − 1 photons, so no u32 counter can wrap.
 * Because every count is an integer sum, results are bitwise identical for
 * any `photonsPerDispatch` (tested).
 *
 * Units: cm, ns.
 *
 * @module
 */

import { InputValueError, show } from '../../errors.js';
import type { GpuContext } from '../../runtime/context.js';
import type { KernelSpec } from '../../runtime/kernel.js';
import { tensor, zeros, type Tensor } from '../../runtime/tensor.js';
import { wgsl } from '../../wgsl/index.js';
import { inPlaneAxes, type Detector } from './detector.js';
import {
  DEFAULT_MAX_STEPS,
  PhotonFate,
  type PhotonRange,
  type PropagationOptions,
  type TimeHistogramSpec,
} from './propagate.reference.js';
import { MAX_SOURCES, type SourceSet } from './sources.js';

/** Threads per workgroup of the propagation kernel (see the WGSL header for why 64). */
const WG = 64;
/** Default photons per dispatch: about 0.5 s on lavapipe (2 CPU cores), about a millisecond on a discrete GPU. */
export const DEFAULT_PHOTONS_PER_DISPATCH = 1 << 20;
/**
 * Largest photons per dispatch: keeps the invocation index (source·photons +
 * photon) far from u32 overflow and each dispatch short enough for GPU
 * watchdogs (about 2 s on desktop drivers).
 */
export const MAX_PHOTONS_PER_DISPATCH = 1 << 26;
/** Bytes of u32 counters held on the GPU per source batch. */
const COUNTER_BUDGET_BYTES = 64 * 1024 * 1024;
/** Bookkeeping counters per source in the kernel's `tally` buffer: detected, bulk, wall, lost. */
const TALLY_SLOTS = 4;
/** Words per photodetector record in the geometry buffer. */
const PD_WORDS = 8;
/** Words per (volume, face) record in the geometry buffer. */
const FACE_WORDS = 4;
/** 2^24: probabilities are compared on the 24-bit grid of u32ToUnit. */
const TWO_POW_24 = 16777216;
/** First-scatter cosine the kernel records for photons that never scattered. */
const NO_SCATTER = 2;

const propagateKernel: KernelSpec = {
  name: 'photon-mc.propagate',
  source: wgsl('photon-mc/propagate'),
  entryPoint: 'propagate_photons',
};

/** Options of {@link propagateGpu}: the reference's options plus chunking and progress. */
export interface GpuPropagationOptions extends PropagationOptions {
  /**
   * Photons per dispatch (default {@link DEFAULT_PHOTONS_PER_DISPATCH}).
   * Results do not depend on it; smaller values make dispatches shorter.
   */
  readonly photonsPerDispatch?: number;
  /**
   * Most sources whose counters are held on the GPU at once (default: as many
   * as fit a 64 MiB counter budget). Results do not depend on it.
   */
  readonly sourcesPerBatch?: number;
  /** Called after each dispatch completes, with photons done and total (summed over sources). */
  readonly onProgress?: (progress: PropagationProgress) => void;
}

/** Progress report of a GPU propagation. */
export interface PropagationProgress {
  /** Photons propagated so far, summed over sources. */
  readonly photonsDone: number;
  /** Photons to propagate in total (sources × photonsPerSource). */
  readonly photonsTotal: number;
}

/** Arrival-time histograms of a GPU run, counts as float64 (exact integers). */
export interface GpuTimeHistogram {
  readonly bins: number;
  readonly binWidthNs: number;
  readonly startNs: number;
  /** Counts at [(source·nPd + pd)·bins + bin]; bin b covers [start + b·width, start + (b+1)·width) ns. */
  readonly counts: Float64Array;
  /** Detections earlier than `startNs`, at [source·nPd + pd]. */
  readonly underflow: Float64Array;
  /** Detections at or after the end of the last bin, at [source·nPd + pd]. */
  readonly overflow: Float64Array;
}

/**
 * Result of {@link propagateGpu}: the fields of the reference's
 * `PropagationResult`, with counts in Float64Array (exact integers below
 * 2^53, so sums over billions of photons stay exact).
 */
export interface GpuPropagationResult {
  readonly sourceCount: number;
  readonly photodetectorCount: number;
  readonly photonsPerSource: number;
  readonly seed: number;
  readonly maxSteps: number;
  /** Photons emitted per source. */
  readonly emitted: Float64Array;
  /** Detected photons at [source·nPd + pd]. */
  readonly detected: Float64Array;
  /** Detected photons per source. */
  readonly detectedTotal: Float64Array;
  /** Photons absorbed in the liquid, per source. */
  readonly absorbedBulk: Float64Array;
  /** Photons absorbed on walls (including photodetectors that did not register them), per source. */
  readonly absorbedWall: Float64Array;
  /** Photons alive after maxSteps segments, per source. */
  readonly lost: Float64Array;
  readonly time: GpuTimeHistogram | null;
}

/** Per-photon outcome recorded by {@link tracePhotonsGpu}, photon-fastest: index (source − first)·n + (photon − start). */
export interface GpuPhotonRecords {
  /** {@link PhotonFate} codes. */
  readonly fate: Uint8Array;
  /** Photodetector that registered or absorbed the photon, −1 otherwise. */
  readonly photodetector: Int32Array;
  /** Total path length (f32 arithmetic), cm. */
  readonly pathCm: Float32Array;
  /** cos θ between the directions before and after the first Rayleigh scattering; NaN if none. */
  readonly firstScatterCos: Float32Array;
}

// ---------------------------------------------------------------------------
// Validation

interface ResolvedRun {
  readonly photonsPerSource: number;
  readonly seed: number;
  readonly maxSteps: number;
  readonly time: { bins: number; binWidthNs: number; startNs: number } | null;
  readonly photonsPerDispatch: number;
  readonly sourcesPerBatch: number;
}

function checkU32(value: unknown, path: string, min: number, what: string, fix: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > 0xffffffff) {
    throw new InputValueError(`${path}: ${what} must be an integer in [${min}, 4294967295], got ${show(value)}; ${fix}`);
  }
  return value;
}

/** Validates run options with the reference's rules and messages. */
function resolveGpuOptions(options: GpuPropagationOptions): ResolvedRun {
  if (typeof options !== 'object' || options === null) {
    throw new InputValueError(`options: expected an object, got ${show(options)}; pass { photonsPerSource, ... }`);
  }
  if (options.photonsPerSource === 0) {
    throw new InputValueError('options.photonsPerSource: zero photons requested, got 0; ask for at least 1 photon per source');
  }
  const photonsPerSource = checkU32(options.photonsPerSource, 'options.photonsPerSource', 1, 'photons per source', 'ask for 1 ≤ N ≤ 2^32 − 1 photons');
  const seed = checkU32(options.seed ?? 0, 'options.seed', 0, 'the seed', 'use an unsigned 32-bit integer');
  const maxSteps = checkU32(options.maxSteps ?? DEFAULT_MAX_STEPS, 'options.maxSteps', 1, 'the step limit', 'allow at least one segment per photon');
  const ppd = options.photonsPerDispatch ?? DEFAULT_PHOTONS_PER_DISPATCH;
  if (typeof ppd !== 'number' || !Number.isInteger(ppd) || ppd < 1 || ppd > MAX_PHOTONS_PER_DISPATCH) {
    throw new InputValueError(
      `options.photonsPerDispatch: expected an integer in [1, ${MAX_PHOTONS_PER_DISPATCH}], got ${show(ppd)}; ` +
        `omit it for the default ${DEFAULT_PHOTONS_PER_DISPATCH}`,
    );
  }
  const spb = options.sourcesPerBatch ?? MAX_SOURCES;
  if (typeof spb !== 'number' || !Number.isInteger(spb) || spb < 1) {
    throw new InputValueError(`options.sourcesPerBatch: expected a positive integer, got ${show(spb)}; omit it for the memory-bounded default`);
  }
  return { photonsPerSource, seed, maxSteps, time: resolveTime(options.timeHistogram), photonsPerDispatch: ppd, sourcesPerBatch: spb };
}

function resolveTime(th: TimeHistogramSpec | undefined): ResolvedRun['time'] {
  if (th === undefined) return null;
  if (typeof th !== 'object' || th === null) {
    throw new InputValueError(`options.timeHistogram: expected { bins, binWidthNs, startNs? }, got ${show(th)}; pass an object or omit it`);
  }
  const bins = checkU32(th.bins, 'options.timeHistogram.bins', 1, 'the bin count', 'ask for at least one bin');
  if (typeof th.binWidthNs !== 'number' || !Number.isFinite(th.binWidthNs) || !(th.binWidthNs > 0)) {
    throw new InputValueError(`options.timeHistogram.binWidthNs: bin width must be a positive number of ns, got ${show(th.binWidthNs)}; give e.g. 1`);
  }
  const startNs = th.startNs ?? 0;
  if (typeof startNs !== 'number' || !Number.isFinite(startNs)) {
    throw new InputValueError(`options.timeHistogram.startNs: expected a finite time in ns, got ${show(startNs)}; give e.g. 0`);
  }
  return { bins, binWidthNs: th.binWidthNs, startNs };
}

/** True for a detector produced by parseDetector / validateDetector / withOptics (resolved walls and faces). */
export function isValidatedDetector(value: unknown): value is Detector {
  if (typeof value !== 'object' || value === null || !Object.isFrozen(value)) return false;
  const d = value as Partial<Detector>;
  return (
    Array.isArray(d.volumes) &&
    d.volumes.every((v) => Array.isArray(v.walls) && v.walls.length === 6) &&
    Array.isArray(d.photodetectors) &&
    d.photodetectors.every((p) => typeof p.faceIndex === 'number' && typeof p.axis === 'number') &&
    typeof d.optics === 'object'
  );
}

function checkDetector(detector: unknown): Detector {
  if (!isValidatedDetector(detector)) {
    throw new InputValueError(
      `detector: expected a validated Detector, got ${show(detector)}; build it with parseDetector(jsonText) or validateDetector(spec)`,
    );
  }
  return detector;
}

function checkSourceSet(detector: Detector, sources: SourceSet): void {
  if (typeof sources !== 'object' || sources === null) {
    throw new InputValueError(`sources: expected a SourceSet, got ${show(sources)}; build it with gridSources or pointSources`);
  }
  const n = sources.count;
  if (!Number.isInteger(n) || n < 1 || n > MAX_SOURCES) {
    throw new InputValueError(`sources.count: expected 1..${MAX_SOURCES} sources, got ${show(n)}; give at least one source`);
  }
  if (sources.positions?.length !== 3 * n || sources.volumes?.length !== n) {
    throw new InputValueError(
      `sources: ${n} sources need ${3 * n} coordinates and ${n} volume indices, got ` +
        `${show(sources.positions?.length)} and ${show(sources.volumes?.length)}; build the set with gridSources or pointSources`,
    );
  }
  for (let i = 0; i < n; i++) {
    const v = detector.volumes[sources.volumes[i]!];
    if (v === undefined) {
      throw new InputValueError(
        `sources.volumes[${i}]: no volume ${sources.volumes[i]} in detector "${detector.name}"; give an index 0..${detector.volumes.length - 1}`,
      );
    }
    for (let a = 0; a < 3; a++) {
      const c = sources.positions[3 * i + a]!;
      if (!(c >= v.min[a]! && c <= v.max[a]!)) {
        throw new InputValueError(
          `sources.positions[${3 * i + a}]: source ${i} has ${'xyz'[a]} = ${show(c)} cm, outside volumes[${sources.volumes[i]}] ` +
            `(${'xyz'[a]} ∈ [${v.min[a]}, ${v.max[a]}]); move the source inside its volume`,
        );
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Geometry packing (layout documented in the WGSL header)

/** Integer threshold T with (w >> 8) < T ⇔ u32ToUnit(w) < p, exact for every p ∈ [0, 1]. */
export function probabilityThreshold(p: number): number {
  // p·2^24 is exact in float64; for an integer m, m < y ⇔ m < ⌈y⌉.
  return Math.ceil(p * TWO_POW_24);
}

interface PackedGeometry {
  readonly words: Uint32Array;
  readonly faceBase: number;
  readonly listBase: number;
  readonly pdBase: number;
}

const WALL_CODES = { absorbing: 0, specular: 1, lambertian: 2 } as const;

function packGeometry(detector: Detector): PackedGeometry {
  const nv = detector.volumes.length;
  const pds = detector.photodetectors;
  const np = pds.length;
  const faceBase = 6 * nv;
  const listBase = faceBase + FACE_WORDS * 6 * nv;
  const pdBase = listBase + np;
  const words = new Uint32Array(pdBase + PD_WORDS * np);
  const f = new Float32Array(words.buffer);
  const perFace: number[][] = Array.from({ length: 6 * nv }, () => []);
  pds.forEach((p, i) => perFace[6 * p.volume + p.faceIndex]!.push(i));
  let at = 0;
  detector.volumes.forEach((v, i) => {
    for (let a = 0; a < 3; a++) {
      f[6 * i + a] = v.min[a]!;
      f[6 * i + 3 + a] = v.max[a]!;
    }
    for (let face = 0; face < 6; face++) {
      const k = 6 * i + face;
      const w = v.walls[face]!;
      const base = faceBase + FACE_WORDS * k;
      if (w.model === 'absorbing') {
        words[base] = WALL_CODES.absorbing;
        words[base + 1] = 0;
      } else {
        words[base] = WALL_CODES[w.reflection];
        words[base + 1] = probabilityThreshold(w.reflectivity);
      }
      words[base + 2] = at;
      for (const p of perFace[k]!) words[listBase + at++] = p;
      words[base + 3] = at;
    }
  });
  pds.forEach((p, i) => {
    const base = pdBase + PD_WORDS * i;
    const [ua, va] = inPlaneAxes(p.axis);
    words[base] = p.shape === 'rectangle' ? 0 : 1;
    f[base + 1] = p.center[ua];
    f[base + 2] = p.center[va];
    if (p.shape === 'rectangle') {
      f[base + 3] = p.size[0] / 2;
      f[base + 4] = p.size[1] / 2;
    } else {
      f[base + 3] = p.radius * p.radius;
    }
    words[base + 5] = probabilityThreshold(p.efficiency);
  });
  return { words, faceBase, listBase, pdBase };
}

// ---------------------------------------------------------------------------
// Dispatch

interface RunSetup {
  readonly ctx: GpuContext;
  readonly detector: Detector;
  readonly o: ResolvedRun;
  readonly geometry: Tensor;
  readonly geo: PackedGeometry;
  /** Bound to `time_hist` when no histogram is asked for. */
  readonly dummy: Tensor;
  /** Bound to `records` outside recording mode (a separate buffer: never the same writable buffer twice). */
  readonly dummyRecords: Tensor;
}

interface BatchBuffers {
  readonly sources: Tensor;
  readonly detected: Tensor;
  readonly tally: Tensor;
  readonly timeHist: Tensor;
}

function setup(ctx: GpuContext, detector: Detector, o: ResolvedRun): RunSetup {
  const geo = packGeometry(detector);
  const geometry = tensor(ctx, geo.words, [geo.words.length], { dtype: 'u32', label: 'photon-mc geometry' });
  return {
    ctx,
    detector,
    o,
    geo,
    geometry,
    dummy: zeros(ctx, [4], 'u32', { label: 'photon-mc unused time_hist' }),
    dummyRecords: zeros(ctx, [4], 'u32', { label: 'photon-mc unused records' }),
  };
}

function disposeSetup(s: RunSetup): void {
  s.geometry.dispose();
  s.dummy.dispose();
  s.dummyRecords.dispose();
}

function allocateBatch(s: RunSetup, sources: SourceSet, first: number, count: number): BatchBuffers {
  const data = new Float32Array(4 * count);
  for (let i = 0; i < count; i++) {
    const k = first + i;
    data[4 * i] = sources.positions[3 * k]!;
    data[4 * i + 1] = sources.positions[3 * k + 1]!;
    data[4 * i + 2] = sources.positions[3 * k + 2]!;
    data[4 * i + 3] = sources.volumes[k]!;
  }
  const npBound = Math.max(1, s.detector.photodetectors.length);
  const bins = s.o.time?.bins ?? 0;
  const ctx = s.ctx;
  const t = tensor(ctx, data, [count, 4], { label: 'photon-mc sources' });
  return {
    sources: t,
    detected: zeros(ctx, [count * npBound], 'u32', { label: 'photon-mc detected' }),
    tally: zeros(ctx, [count * TALLY_SLOTS], 'u32', { label: 'photon-mc tally' }),
    timeHist: s.o.time ? zeros(ctx, [count * npBound * (bins + 2)], 'u32', { label: 'photon-mc time' }) : s.dummy,
  };
}

function disposeBatch(s: RunSetup, b: BatchBuffers): void {
  b.sources.dispose();
  b.detected.dispose();
  b.tally.dispose();
  if (b.timeHist !== s.dummy) b.timeHist.dispose();
}

/**
 * One dispatch: batch-local sources [offset, offset + count) (global index
 * batchStart + local) × photons [range.start, range.end).
 */
function dispatch(
  s: RunSetup,
  b: BatchBuffers,
  batchStart: number,
  offset: number,
  count: number,
  range: PhotonRange,
  records: Tensor | null,
): void {
  const { ctx, detector, o, geo } = s;
  const optics = detector.optics;
  const scatterOn = Number.isFinite(optics.rayleighLengthCm);
  const absorbOn = Number.isFinite(optics.absorptionLengthCm);
  const photonCount = range.end - range.start;
  ctx.run(
    propagateKernel,
    {
      geometry: s.geometry,
      sources: b.sources,
      detected: b.detected,
      tally: b.tally,
      time_hist: b.timeHist,
      records: records ?? s.dummyRecords,
      params: {
        seed: o.seed,
        photon_start: range.start,
        photon_count: photonCount,
        source_start: batchStart,
        source_offset: offset,
        source_count: count,
        max_steps: o.maxSteps,
        num_pd: Math.max(1, detector.photodetectors.length),
        face_base: geo.faceBase,
        list_base: geo.listBase,
        pd_base: geo.pdBase,
        time_bins: o.time?.bins ?? 0,
        scatter_on: scatterOn ? 1 : 0,
        absorb_on: absorbOn ? 1 : 0,
        rayleigh_cm: scatterOn ? optics.rayleighLengthCm : 0,
        absorption_cm: absorbOn ? optics.absorptionLengthCm : 0,
        inv_group_velocity: optics.inverseGroupVelocityNsPerCm,
        time_start_ns: o.time?.startNs ?? 0,
        bin_width_ns: o.time?.binWidthNs ?? 1,
      },
    },
    ctx.grid(count * photonCount, WG),
    { WG, RECORD: records !== null },
  );
}

/**
 * Sources per batch: the counters of one batch (detected, tally, time
 * histogram) stay within the binding limit and a 64 MiB budget.
 */
function batchSize(s: RunSetup, ns: number): number {
  const npBound = Math.max(1, s.detector.photodetectors.length);
  const bins = s.o.time?.bins ?? 0;
  const largestPerSource = 4 * Math.max(4 * TALLY_SLOTS, npBound, s.o.time ? npBound * (bins + 2) : 0);
  const budget = Math.min(s.ctx.limits.maxStorageBufferBindingSize, COUNTER_BUDGET_BYTES);
  return Math.max(1, Math.min(ns, s.o.sourcesPerBatch, Math.floor(budget / largestPerSource)));
}

/** Reads a batch's counters and adds them into the float64 accumulators. */
async function accumulate(s: RunSetup, b: BatchBuffers, result: GpuPropagationResult, first: number, count: number): Promise<void> {
  const np = result.photodetectorCount;
  const npBound = Math.max(1, np);
  const tally = await b.tally.read();
  const detected = await b.detected.read();
  for (let i = 0; i < count; i++) {
    const k = first + i;
    result.emitted[k]! += s.o.photonsPerSource;
    result.detectedTotal[k]! += tally[TALLY_SLOTS * i + PhotonFate.Detected]!;
    result.absorbedBulk[k]! += tally[TALLY_SLOTS * i + PhotonFate.AbsorbedBulk]!;
    result.absorbedWall[k]! += tally[TALLY_SLOTS * i + PhotonFate.AbsorbedWall]!;
    result.lost[k]! += tally[TALLY_SLOTS * i + PhotonFate.Lost]!;
    for (let p = 0; p < np; p++) result.detected[k * np + p]! += detected[i * npBound + p]!;
  }
  const t = result.time;
  if (t) {
    const h = await b.timeHist.read();
    const stride = t.bins + 2;
    for (let i = 0; i < count; i++) {
      for (let p = 0; p < np; p++) {
        const src = (i * npBound + p) * stride;
        const dst = (first + i) * np + p;
        t.underflow[dst]! += h[src]!;
        t.overflow[dst]! += h[src + t.bins + 1]!;
        for (let bin = 0; bin < t.bins; bin++) t.counts[dst * t.bins + bin]! += h[src + 1 + bin]!;
      }
    }
  }
}

/**
 * Propagate `photonsPerSource` photons from every source on the GPU and
 * return the integer counts: same semantics, options and random streams as
 * `propagateReference`.
 *
 * f32 arithmetic on the GPU can flip rare borderline events (a wall hit
 * within rounding of a photodetector edge, a free path within rounding of
 * the wall distance), so the GPU reproduces the reference's fate for the vast
 * majority of photons and agrees statistically overall (docs/photon-mc.md).
 *
 * Work: dispatches of at most `photonsPerDispatch` photons (all photons of
 * ⌊D/N⌋ sources, or D photons of one source when N ≥ D), each awaited
 * before the next, so that no dispatch runs long and progress is reported.
 *
 * @param ctx GPU context
 * @param detector validated detector (parseDetector / validateDetector)
 * @param sources emission points (gridSources / pointSources); the source index keys its random stream
 * @param options photonsPerSource, seed, maxSteps, timeHistogram, photonsPerDispatch, onProgress
 * @throws InputValueError for an invalid detector, sources or options
 */
export async function propagateGpu(
  ctx: GpuContext,
  detector: Detector,
  sources: SourceSet,
  options: GpuPropagationOptions,
): Promise<GpuPropagationResult> {
  const det = checkDetector(detector);
  const o = resolveGpuOptions(options);
  checkSourceSet(det, sources);
  const ns = sources.count;
  const np = det.photodetectors.length;
  const bins = o.time?.bins ?? 0;
  const result: GpuPropagationResult = {
    sourceCount: ns,
    photodetectorCount: np,
    photonsPerSource: o.photonsPerSource,
    seed: o.seed,
    maxSteps: o.maxSteps,
    emitted: new Float64Array(ns),
    detected: new Float64Array(ns * np),
    detectedTotal: new Float64Array(ns),
    absorbedBulk: new Float64Array(ns),
    absorbedWall: new Float64Array(ns),
    lost: new Float64Array(ns),
    time:
      o.time === null
        ? null
        : { ...o.time, counts: new Float64Array(ns * np * bins), underflow: new Float64Array(ns * np), overflow: new Float64Array(ns * np) },
  };
  const N = o.photonsPerSource;
  const D = o.photonsPerDispatch;
  const total = ns * N;
  let done = 0;
  const report = (photons: number): void => {
    done += photons;
    options.onProgress?.({ photonsDone: done, photonsTotal: total });
  };
  const s = setup(ctx, det, o);
  try {
    const batch = batchSize(s, ns);
    for (let b0 = 0; b0 < ns; b0 += batch) {
      const bn = Math.min(batch, ns - b0);
      const buffers = allocateBatch(s, sources, b0, bn);
      try {
        if (N >= D) {
          for (let i = 0; i < bn; i++) {
            for (let start = 0; start < N; start += D) {
              const end = Math.min(N, start + D);
              dispatch(s, buffers, b0, i, 1, { start, end }, null);
              await ctx.sync();
              report(end - start);
            }
          }
        } else {
          const k = Math.floor(D / N);
          for (let i = 0; i < bn; i += k) {
            const m = Math.min(k, bn - i);
            dispatch(s, buffers, b0, i, m, { start: 0, end: N }, null);
            await ctx.sync();
            report(m * N);
          }
        }
        await accumulate(s, buffers, result, b0, bn);
      } finally {
        disposeBatch(s, buffers);
      }
    }
  } finally {
    disposeSetup(s);
  }
  return result;
}

/**
 * Per-photon outcomes of photons [range.start, range.end) of sources
 * [firstSource, firstSource + sourceCount), computed by the GPU kernel in
 * its recording mode: for checking the kernel photon by photon against
 * `tracePhoton`, and for the first-scattering angle distribution. One
 * dispatch; at most 2^22 photons in total.
 *
 * @throws InputValueError for invalid arguments
 */
export async function tracePhotonsGpu(
  ctx: GpuContext,
  detector: Detector,
  sources: SourceSet,
  options: PropagationOptions,
  range: PhotonRange,
  firstSource = 0,
  sourceCount = 1,
): Promise<GpuPhotonRecords> {
  const det = checkDetector(detector);
  const { timeHistogram: _unused, ...rest } = options;
  void _unused;
  const o = resolveGpuOptions(rest);
  checkSourceSet(det, sources);
  const { start, end } = range ?? ({} as PhotonRange);
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > o.photonsPerSource || !(end > start)) {
    throw new InputValueError(
      `range: expected integers 0 ≤ start < end ≤ ${o.photonsPerSource}, got [${show(start)}, ${show(end)}); give a non-empty photon range`,
    );
  }
  if (!Number.isInteger(firstSource) || !Number.isInteger(sourceCount) || firstSource < 0 || sourceCount < 1 || firstSource + sourceCount > sources.count) {
    throw new InputValueError(
      `firstSource, sourceCount: expected a non-empty source range inside 0..${sources.count - 1}, got ${show(firstSource)}, ${show(sourceCount)}`,
    );
  }
  const n = (end - start) * sourceCount;
  if (n > MAX_TRACE_PHOTONS) {
    throw new InputValueError(`range: ${n} photons exceed the ${MAX_TRACE_PHOTONS} one trace call records; trace fewer photons per call`);
  }
  const s = setup(ctx, det, o);
  const b = allocateBatch(s, sources, firstSource, sourceCount);
  const rec = zeros(ctx, [4 * n], 'u32', { label: 'photon-mc records' });
  try {
    dispatch(s, b, firstSource, 0, sourceCount, range, rec);
    const words = await rec.read();
    const f = new Float32Array(words.buffer, words.byteOffset, words.length);
    const out: GpuPhotonRecords = {
      fate: new Uint8Array(n),
      photodetector: new Int32Array(n),
      pathCm: new Float32Array(n),
      firstScatterCos: new Float32Array(n),
    };
    for (let i = 0; i < n; i++) {
      out.fate[i] = words[4 * i]!;
      out.photodetector[i] = words[4 * i + 1]! | 0;
      out.pathCm[i] = f[4 * i + 2]!;
      const c = f[4 * i + 3]!;
      out.firstScatterCos[i] = c === NO_SCATTER ? Number.NaN : c;
    }
    return out;
  } finally {
    rec.dispose();
    disposeBatch(s, b);
    disposeSetup(s);
  }
}

/** Most photons one {@link tracePhotonsGpu} call records (16 bytes each). */
export const MAX_TRACE_PHOTONS = 1 << 22;
