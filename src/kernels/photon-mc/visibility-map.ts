/**
 * Visibility maps from the GPU photon propagator, in the layout of the
 * photon library (`photon/photon-library.reference.ts`), and a small file
 * format to store them.
 *
 * Grid order: the propagator's `gridSources` numbers voxels x fastest
 * (source = ix + nx·(iy + ny·iz)), and that number keys each voxel's random
 * stream. The photon library is x slowest ([nx, ny, nz, numPD], entry
 * ((ix·ny + iy)·nz + iz)·numPD + d). {@link generateVisibilityMap} keeps the
 * source numbering (so its counts equal `propagateReference(detector,
 * gridSources(...))` photon for photon) and transposes when it writes the
 * table. Both use voxel centres min + (i + ½)·Δ.
 *
 * Units: cm, ns.
 *
 * @module
 */

import { InputValueError, show } from '../../errors.js';
import type { GpuContext } from '../../runtime/context.js';
import { createPhotonLibrary, type PhotonLibrary, type PhotonLibraryMeta } from '../photon/photon-library.reference.js';
import { validateDetector, type Detector, type Vec3 } from './detector.js';
import { isValidatedDetector, propagateGpu, type GpuPropagationResult, type PropagationProgress } from './propagate.js';
import type { TimeHistogramSpec } from './propagate.reference.js';
import { gridSources, pointSources, type SourceSet } from './sources.js';
import { platform } from '#platform';

/** Options of {@link generateVisibilityMap}: give exactly one of `grid` and `points`. */
export interface VisibilityMapOptions {
  /** Voxel counts [nx, ny, nz] over volume `volume`: one source at each voxel centre. */
  readonly grid?: readonly [number, number, number];
  /** Volume the grid spans (default 0). Only with `grid`. */
  readonly volume?: number;
  /** Arbitrary emission points, cm (each inside a volume). */
  readonly points?: readonly Vec3[];
  /** Photons emitted per voxel / point, 1 … 2^32 − 1. */
  readonly photonsPerSource: number;
  /** u32 seed (default 0). */
  readonly seed?: number;
  /** Segments per photon before it counts as lost (default 1000). */
  readonly maxSteps?: number;
  /** Also record arrival-time histograms per (voxel, photodetector). */
  readonly timeHistogram?: TimeHistogramSpec;
  /** Photons per GPU dispatch (default 2^20); results do not depend on it. */
  readonly photonsPerDispatch?: number;
  /** Sources whose counters are held on the GPU at once (default: a 64 MiB budget); results do not depend on it. */
  readonly sourcesPerBatch?: number;
  /** Called after each dispatch with photons done / total. */
  readonly onProgress?: (progress: PropagationProgress) => void;
}

/** Arrival-time distributions of a visibility table, as fractions of the photons emitted. */
export interface VisibilityTimeTable {
  readonly bins: number;
  readonly binWidthNs: number;
  readonly startNs: number;
  /** [sources, numPD, bins] in the table's source order: P(detected by pd with arrival time in bin). */
  readonly data: Float32Array;
  /** [sources, numPD]: P(detected earlier than startNs). */
  readonly underflow: Float32Array;
  /** [sources, numPD]: P(detected at or after the last bin's end). */
  readonly overflow: Float32Array;
}

/**
 * A visibility table. For a grid, `meta` and `data` form a photon library
 * as is: `createPhotonLibrary(table.meta, table.data)`.
 */
export interface VisibilityTable {
  /** Photon-library geometry (box of the volume, voxel counts, photodetectors); null for point sources. */
  readonly meta: PhotonLibraryMeta | null;
  /**
   * Visibilities (detected / emitted, efficiency included), f32. Grid:
   * [nx, ny, nz, numPD], x slowest, photodetector fastest. Points:
   * [points, numPD] in the order given.
   */
  readonly data: Float32Array;
  /** Point-source positions x, y, z (cm) for point tables, else null. */
  readonly points: Float64Array | null;
  /** Detector name. */
  readonly detector: string;
  /** Volume of the grid, or null for point tables. */
  readonly volume: number | null;
  /** Photodetector names, one per table column (every photodetector of the detector, in order). */
  readonly photodetectors: readonly string[];
  readonly photonsPerSource: number;
  readonly seed: number;
  readonly maxSteps: number;
  readonly time: VisibilityTimeTable | null;
  /** Integer counts in propagation (random-stream) order; null for a table loaded from a file. */
  readonly counts: GpuPropagationResult | null;
}

function resolveDetector(detector: unknown): Detector {
  return isValidatedDetector(detector) ? detector : validateDetector(detector);
}

/**
 * Runs the GPU propagator for a voxel grid (or point list) and returns the
 * visibility table.
 *
 * @param ctx GPU context
 * @param detector a validated Detector, or a detector description (validated here; errors name the field)
 * @throws InputValueError for a bad detector, grid, points or options
 *
 * @example
 * const table = await generateVisibilityMap(ctx, detector, { grid: [8, 16, 8], photonsPerSource: 100000, seed: 1 });
 * const lib = createPhotonLibrary(table.meta!, table.data);
 */
export async function generateVisibilityMap(
  ctx: GpuContext,
  detector: Detector | object,
  options: VisibilityMapOptions,
): Promise<VisibilityTable> {
  const det = resolveDetector(detector);
  if (typeof options !== 'object' || options === null) {
    throw new InputValueError(`options: expected { grid | points, photonsPerSource, ... }, got ${show(options)}`);
  }
  const hasGrid = options.grid !== undefined;
  const hasPoints = options.points !== undefined;
  if (hasGrid === hasPoints) {
    throw new InputValueError(
      `options.grid / options.points: give exactly one of them, got ${hasGrid ? 'both' : 'neither'}; ` +
        'e.g. { grid: [nx, ny, nz] } for a photon library or { points: [[x, y, z], ...] }',
    );
  }
  if (!hasGrid && options.volume !== undefined) {
    throw new InputValueError(`options.volume: only used with options.grid, got ${show(options.volume)} with points; omit it`);
  }
  const volume = options.volume ?? 0;
  let sources: SourceSet;
  if (hasGrid) {
    const g: unknown = options.grid;
    if (!Array.isArray(g) || g.length !== 3) {
      throw new InputValueError(`options.grid: expected [nx, ny, nz] voxel counts, got ${show(g)}; give three positive integers`);
    }
    g.forEach((n: unknown, a) => {
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
        throw new InputValueError(`options.grid[${a}]: voxel count must be a positive integer, got ${show(n)}; give at least 1 voxel per axis`);
      }
    });
    if (!Number.isInteger(volume) || volume < 0 || volume >= det.volumes.length) {
      throw new InputValueError(
        `options.volume: no volume ${show(volume)} in detector "${det.name}" (it has ${det.volumes.length}); give an index 0..${det.volumes.length - 1}`,
      );
    }
    sources = gridSources(det, volume, g as [number, number, number]);
  } else {
    sources = pointSources(det, options.points!);
  }
  const run: Parameters<typeof propagateGpu>[3] = {
    photonsPerSource: options.photonsPerSource,
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    ...(options.maxSteps !== undefined ? { maxSteps: options.maxSteps } : {}),
    ...(options.timeHistogram !== undefined ? { timeHistogram: options.timeHistogram } : {}),
    ...(options.photonsPerDispatch !== undefined ? { photonsPerDispatch: options.photonsPerDispatch } : {}),
    ...(options.sourcesPerBatch !== undefined ? { sourcesPerBatch: options.sourcesPerBatch } : {}),
    ...(options.onProgress !== undefined ? { onProgress: options.onProgress } : {}),
  };
  const counts = await propagateGpu(ctx, det, sources, run);
  const np = det.photodetectors.length;
  const ns = sources.count;
  // order[t] = propagation (random-stream) index of table row t.
  const order = new Uint32Array(ns);
  let meta: PhotonLibraryMeta | null = null;
  if (hasGrid) {
    const [nx, ny, nz] = options.grid!;
    const v = det.volumes[volume]!;
    meta = { min: [...v.min], max: [...v.max], shape: [nx, ny, nz], numPhotodetectors: np } as PhotonLibraryMeta;
    for (let ix = 0; ix < nx; ix++) {
      for (let iy = 0; iy < ny; iy++) {
        for (let iz = 0; iz < nz; iz++) order[(ix * ny + iy) * nz + iz] = ix + nx * (iy + ny * iz);
      }
    }
  } else {
    for (let i = 0; i < ns; i++) order[i] = i;
  }
  const data = new Float32Array(ns * np);
  for (let t = 0; t < ns; t++) {
    const s = order[t]!;
    const e = counts.emitted[s]!;
    for (let p = 0; p < np; p++) data[t * np + p] = counts.detected[s * np + p]! / e;
  }
  let time: VisibilityTimeTable | null = null;
  if (counts.time) {
    const ct = counts.time;
    const td = new Float32Array(ns * np * ct.bins);
    const under = new Float32Array(ns * np);
    const over = new Float32Array(ns * np);
    for (let t = 0; t < ns; t++) {
      const s = order[t]!;
      const e = counts.emitted[s]!;
      for (let p = 0; p < np; p++) {
        under[t * np + p] = ct.underflow[s * np + p]! / e;
        over[t * np + p] = ct.overflow[s * np + p]! / e;
        for (let b = 0; b < ct.bins; b++) td[(t * np + p) * ct.bins + b] = ct.counts[(s * np + p) * ct.bins + b]! / e;
      }
    }
    time = { bins: ct.bins, binWidthNs: ct.binWidthNs, startNs: ct.startNs, data: td, underflow: under, overflow: over };
  }
  return {
    meta,
    data,
    points: hasGrid ? null : Float64Array.from(sources.positions),
    detector: det.name,
    volume: hasGrid ? volume : null,
    photodetectors: det.photodetectors.map((p) => p.name),
    photonsPerSource: counts.photonsPerSource,
    seed: counts.seed,
    maxSteps: counts.maxSteps,
    time,
    counts,
  };
}

/**
 * The photon library of a grid table (validated by `createPhotonLibrary`).
 *
 * @throws InputValueError for a point table (no grid)
 */
export function visibilityTableToLibrary(table: VisibilityTable): PhotonLibrary {
  if (table.meta === null) {
    throw new InputValueError('table.meta: a point-source table has no voxel grid; generate the table with options.grid');
  }
  return createPhotonLibrary(table.meta, table.data);
}

// ---------------------------------------------------------------------------
// File format

/** First 8 bytes of a table file. */
export const VISIBILITY_TABLE_MAGIC = 'GGVTAB1\n';
/** Value of the header's `format` field. */
export const VISIBILITY_TABLE_FORMAT = 'ghostgrad-visibility-table';
/** Current format version. */
export const VISIBILITY_TABLE_VERSION = 1;

interface TableHeader {
  format: string;
  version: number;
  layout: string;
  detector: string;
  volume: number | null;
  meta: { min: number[]; max: number[]; shape: number[]; numPhotodetectors: number } | null;
  points: number[] | null;
  photodetectors: string[];
  photonsPerSource: number;
  seed: number;
  maxSteps: number;
  time: { bins: number; binWidthNs: number; startNs: number } | null;
  /** Payload sections in file order, each `length` little-endian f32 values. */
  sections: { name: string; dtype: 'f32'; length: number }[];
}

/**
 * Serialises a table: 8-byte magic `GGVTAB1\n`, u32 little-endian header
 * length H (a multiple of 4), H bytes of UTF-8 JSON (space-padded), then the
 * payload sections listed in the header, each little-endian f32 (docs/photon-mc.md).
 */
export function encodeVisibilityTable(table: VisibilityTable): Uint8Array {
  const sections: { name: string; values: Float32Array }[] = [{ name: 'visibility', values: table.data }];
  if (table.time) {
    sections.push({ name: 'time', values: table.time.data });
    sections.push({ name: 'timeUnderflow', values: table.time.underflow });
    sections.push({ name: 'timeOverflow', values: table.time.overflow });
  }
  const header: TableHeader = {
    format: VISIBILITY_TABLE_FORMAT,
    version: VISIBILITY_TABLE_VERSION,
    layout:
      table.meta !== null
        ? 'visibility [nx, ny, nz, numPhotodetectors], x slowest, photodetector fastest, values at voxel centres min + (i + 1/2)(max - min)/n; time [nx, ny, nz, numPhotodetectors, bins]'
        : 'visibility [points, numPhotodetectors]; time [points, numPhotodetectors, bins]',
    detector: table.detector,
    volume: table.volume,
    meta:
      table.meta === null
        ? null
        : { min: [...table.meta.min], max: [...table.meta.max], shape: [...table.meta.shape], numPhotodetectors: table.meta.numPhotodetectors },
    points: table.points === null ? null : Array.from(table.points),
    photodetectors: [...table.photodetectors],
    photonsPerSource: table.photonsPerSource,
    seed: table.seed,
    maxSteps: table.maxSteps,
    time: table.time === null ? null : { bins: table.time.bins, binWidthNs: table.time.binWidthNs, startNs: table.time.startNs },
    sections: sections.map((s) => ({ name: s.name, dtype: 'f32', length: s.values.length })),
  };
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 4) * 4;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const payload = sections.reduce((n, s) => n + 4 * s.values.length, 0);
  const out = new Uint8Array(12 + padded + payload);
  out.set(new TextEncoder().encode(VISIBILITY_TABLE_MAGIC), 0);
  const view = new DataView(out.buffer);
  view.setUint32(8, padded, true);
  out.set(json, 12);
  let at = 12 + padded;
  for (const s of sections) {
    for (let i = 0; i < s.values.length; i++, at += 4) view.setFloat32(at, s.values[i]!, true);
  }
  return out;
}

function bad(what: string, fix: string): never {
  throw new InputValueError(`visibility table file: ${what}; ${fix}`);
}

/**
 * Parses a table file written by {@link encodeVisibilityTable}. The result
 * has `counts: null` (the file keeps visibilities, not raw counts).
 *
 * @throws InputValueError for a wrong magic, an unknown version, a malformed header or a truncated payload
 */
export function decodeVisibilityTable(bytes: Uint8Array): VisibilityTable {
  if (!(bytes instanceof Uint8Array) || bytes.length < 12) bad(`${show(bytes?.length)} bytes is too short for a header`, 'pass the whole file');
  const magic = new TextDecoder().decode(bytes.subarray(0, 8));
  if (magic !== VISIBILITY_TABLE_MAGIC) bad(`magic ${show(magic)} is not ${show(VISIBILITY_TABLE_MAGIC)}`, 'this is not a ghostgrad visibility table');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = view.getUint32(8, true);
  if (12 + h > bytes.length) bad(`header length ${h} runs past the end of the ${bytes.length}-byte file`, 'the file is truncated');
  let header: TableHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + h))) as TableHeader;
  } catch (e) {
    bad(`header is not JSON (${(e as Error).message})`, 'the file is corrupt');
  }
  if (header.format !== VISIBILITY_TABLE_FORMAT) bad(`header.format is ${show(header.format)}`, `expected ${VISIBILITY_TABLE_FORMAT}`);
  if (header.version !== VISIBILITY_TABLE_VERSION) {
    bad(`header.version is ${show(header.version)}`, `this ghostgrad reads version ${VISIBILITY_TABLE_VERSION}; regenerate the table`);
  }
  const values = new Map<string, Float32Array>();
  let at = 12 + h;
  for (const s of header.sections ?? []) {
    if (s.dtype !== 'f32' || !Number.isInteger(s.length) || s.length < 0) bad(`section ${show(s)} is malformed`, 'the file is corrupt');
    if (at + 4 * s.length > bytes.length) bad(`section ${s.name} runs past the end of the file`, 'the file is truncated');
    const v = new Float32Array(s.length);
    for (let i = 0; i < s.length; i++, at += 4) v[i] = view.getFloat32(at, true);
    values.set(s.name, v);
  }
  const data = values.get('visibility') ?? bad('no visibility section', 'the file is corrupt');
  const np = header.photodetectors.length;
  const rows = header.meta ? header.meta.shape[0]! * header.meta.shape[1]! * header.meta.shape[2]! : (header.points?.length ?? 0) / 3;
  if (data.length !== rows * np) bad(`visibility has ${data.length} values, header describes ${rows} × ${np}`, 'the file is corrupt');
  const meta: PhotonLibraryMeta | null = header.meta
    ? ({ min: header.meta.min, max: header.meta.max, shape: header.meta.shape, numPhotodetectors: header.meta.numPhotodetectors } as unknown as PhotonLibraryMeta)
    : null;
  let time: VisibilityTimeTable | null = null;
  if (header.time) {
    const td = values.get('time');
    const under = values.get('timeUnderflow');
    const over = values.get('timeOverflow');
    if (!td || !under || !over || td.length !== rows * np * header.time.bins) bad('time sections missing or of the wrong length', 'the file is corrupt');
    time = { ...header.time, data: td, underflow: under, overflow: over };
  }
  return {
    meta,
    data,
    points: header.points ? Float64Array.from(header.points) : null,
    detector: header.detector,
    volume: header.volume,
    photodetectors: header.photodetectors,
    photonsPerSource: header.photonsPerSource,
    seed: header.seed,
    maxSteps: header.maxSteps,
    time,
    counts: null,
  };
}

/** Writes a table file (Node only; see {@link encodeVisibilityTable} for the format), through a temporary file and a rename, so a failed write keeps the previous file whole. */
export async function saveVisibilityTable(path: string, table: VisibilityTable): Promise<void> {
  await platform.writeFileAtomic(path, encodeVisibilityTable(table));
}

/** Reads a table file (Node only). */
export async function loadVisibilityTable(path: string): Promise<VisibilityTable> {
  return decodeVisibilityTable(await platform.readFile(path));
}
