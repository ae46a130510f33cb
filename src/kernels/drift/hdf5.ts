/**
 * Reader for larnd-sim's input HDF5 file: the compound `segments` dataset that
 * larnd-sim's edep-sim converter writes, into a {@link Segments} table.
 *
 * The reader uses `h5wasm` (HDF5 compiled to WebAssembly), an optional peer
 * dependency (`npm install h5wasm`). In Node it is imported on the first
 * call; elsewhere the caller passes the module (`options.h5wasm`), so that
 * bundles that never read HDF5 never contain it.
 *
 * Units are taken as larnd-sim stores them: positions and `dx` in cm, `dE` in
 * MeV, `t0` in µs. No conversion is applied.
 *
 * @module
 */

import { checkOptionKeys, GhostgradError, InputValueError, show } from '../../errors.js';
import { allocateSegments, validateSegments } from './segments.js';
import type { Segments } from './segments.js';
import { platform } from '#platform';

type H5Module = typeof import('h5wasm');
type H5File = InstanceType<H5Module['File']>;
type H5Dataset = InstanceType<H5Module['Dataset']>;
type H5Group = InstanceType<H5Module['Group']>;

/** Options of {@link loadLarndSimSegments}. */
export interface LarndSimSegmentsOptions {
  /** Path of the compound dataset inside the file. Default `'segments'`. */
  dataset?: string;
  /**
   * Keep only the rows of this event (matched against the `event_id` /
   * `eventID` / `eventId` field). An id with no rows gives an empty table.
   * Throws InputValueError if the dataset has no event id field.
   */
  eventId?: number;
  /**
   * Swap the x and z columns (start and end), as larnd-sim does on input
   * (`swap_coordinates`), so that the result is in larnd-sim's internal
   * frame, which drifts along z (`driftAxis: 'z'`). Default false: the
   * edep-sim (detector) frame is kept, drifting along x (`driftAxis: 'x'`).
   */
  driftAxisSwap?: boolean;
  /**
   * The h5wasm module (`await import('h5wasm')`), needed outside Node, where
   * the package cannot load it itself without pulling h5wasm into every
   * bundle. In Node the package loads h5wasm's Node build when this is
   * absent. h5wasm is an optional peer dependency: `npm install h5wasm`.
   */
  h5wasm?: unknown;
}

/** Result of {@link loadLarndSimSegments}. */
export interface LarndSimSegments {
  /** The validated segment table (cm, MeV, µs). */
  segments: Segments;
  /** Event id of each returned row, or null when the dataset has no event id field. */
  eventIds: Int32Array | null;
  /** Names of all members of the compound dataset, in file order. */
  fields: string[];
}

/** Accepted member names of each column, in order of preference. */
const FIELD_NAMES = {
  xStart: ['x_start'],
  yStart: ['y_start'],
  zStart: ['z_start'],
  xEnd: ['x_end'],
  yEnd: ['y_end'],
  zEnd: ['z_end'],
  dE: ['dE'],
  dx: ['dx'],
  t0: ['t0', 't0_start', 't'],
  trackId: ['traj_id', 'trackID', 'track_id', 'trackId'],
  pdgId: ['pdg_id', 'pdgId', 'pdgID'],
  eventId: ['event_id', 'eventID', 'eventId'],
} as const;

type Column = keyof typeof FIELD_NAMES;
const REQUIRED: readonly Column[] = ['xStart', 'yStart', 'zStart', 'xEnd', 'yEnd', 'zEnd', 'dE', 'dx', 't0'];
/** Optional columns; trackId and pdgId default to 0, a missing eventId gives `eventIds: null`. */
const OPTIONAL: readonly Column[] = ['trackId', 'pdgId', 'eventId'];

/** HDF5 type classes h5wasm reports for numeric members. */
const H5T_INTEGER = 0;
const H5T_FLOAT = 1;

/** HDF5 superblock signature, at byte 0 of a file without a user block. */
const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a] as const;

let memfsCounter = 0;

const OPTION_KEYS = ['dataset', 'eventId', 'driftAxisSwap', 'h5wasm'] as const;

function isH5Module(m: unknown): m is H5Module {
  const x = m as Partial<H5Module> | null;
  return typeof x === 'object' && x !== null && typeof x.File === 'function' && x.ready instanceof Promise;
}

/**
 * Reads larnd-sim's `segments` table from an HDF5 file.
 *
 * larnd-sim's converter writes one compound record per energy deposit with
 * (among others) `x_start, y_start, z_start, x_end, y_end, z_end` (cm), `dE`
 * (MeV), `dx` (cm), `t0` (µs), an event id, a track id and a PDG code. This
 * reader tolerates the spellings used by different larnd-sim versions:
 *
 * | column | accepted member names (first found wins) |
 * | --- | --- |
 * | t0 (µs) | `t0`, `t0_start`, `t` |
 * | trackId | `traj_id`, `trackID`, `track_id`, `trackId` |
 * | pdgId | `pdg_id`, `pdgId`, `pdgID` |
 * | event id | `event_id`, `eventID`, `eventId` |
 *
 * The position columns, `dE`, `dx` and a time column are required; trackId and
 * pdgId default to 0 when absent. All other members (`dEdx`, `n_electrons`,
 * …) are ignored. Values are widened to float64 as stored (float32 in
 * larnd-sim files, so e.g. 0.1 reads as 0.10000000149).
 *
 * In Node, `source` is a file path, or the file's bytes (written to a
 * temporary file that is removed afterwards). In a browser, `source` must be
 * the bytes, or a path in h5wasm's in-memory filesystem.
 *
 * @param source Path of the HDF5 file, or its contents.
 * @param options See {@link LarndSimSegmentsOptions}.
 * @returns The validated table, the per-row event ids, and the member names.
 * @throws InputValueError if the file does not exist or is not HDF5, the
 *   dataset is missing (the message lists the datasets present) or not a 1-D
 *   compound, a required member is missing (the message names it and the
 *   file), `eventId` is given but the dataset has no event id member, an id does
 *   not fit in int32, or a row fails {@link validateSegments} (NaN or negative
 *   dE, non-finite coordinate, …; the message names the row).
 * @throws InputValueError if the package `h5wasm` cannot be loaded, or
 *   outside Node when `options.h5wasm` is not given.
 */
export async function loadLarndSimSegments(
  source: string | Uint8Array,
  options: LarndSimSegmentsOptions = {},
): Promise<LarndSimSegments> {
  checkOptionKeys('loadLarndSimSegments', options, OPTION_KEYS);
  const datasetPath = options.dataset ?? 'segments';
  const { eventId, driftAxisSwap = false } = options;
  if (eventId !== undefined && !Number.isInteger(eventId)) {
    throw new InputValueError(`loadLarndSimSegments: options.eventId = ${show(eventId)} must be an integer event id`);
  }
  // A given module is used as it is (its own in-memory filesystem); without
  // one, Node loads h5wasm's Node build, which reads host files (NODERAWFS).
  const node = options.h5wasm === undefined && platform.kind === 'node';
  const label = typeof source === 'string' ? source : `<${source.byteLength}-byte buffer>`;

  let h5: unknown = options.h5wasm;
  if (h5 === undefined) {
    try {
      h5 = await platform.loadH5wasm();
    } catch (e) {
      if (e instanceof InputValueError) throw new InputValueError(`loadLarndSimSegments: ${e.message}`);
      throw new InputValueError(
        `loadLarndSimSegments: the optional package 'h5wasm' failed to load (${(e as Error).message}); run 'npm install h5wasm'`,
      );
    }
  }
  if (!isH5Module(h5)) {
    const got = typeof h5 === 'object' && h5 !== null ? `an object with keys ${show(Object.keys(h5))}` : show(h5);
    throw new InputValueError(`loadLarndSimSegments: options.h5wasm must be the h5wasm module (await import('h5wasm')), got ${got}`);
  }
  const Module = await h5.ready;

  // Resolve the source to a path h5wasm can open and read its first bytes;
  // `cleanup` removes temporaries.
  let path: string;
  let head: Uint8Array;
  let cleanup: () => Promise<void> = async () => {};
  if (typeof source === 'string') {
    path = source;
    if (node) {
      const fileHead = await platform.readHead(path, 8);
      if (!fileHead) {
        throw new InputValueError(`loadLarndSimSegments: HDF5 file ${show(path)} does not exist or is not a file; give the path of larnd-sim's input .h5 file`);
      }
      head = fileHead;
    } else {
      if (!Module.FS.analyzePath(path).exists) {
        throw new InputValueError(
          `loadLarndSimSegments: ${show(path)} is not in h5wasm's in-memory filesystem; in a browser pass the file's bytes (Uint8Array) instead of a path`,
        );
      }
      head = Module.FS.readFile(path, { encoding: 'binary' }).subarray(0, 8);
    }
  } else {
    head = source.subarray(0, 8);
    if (node) {
      const temp = await platform.tempFile(source, 'source.h5');
      path = temp.path;
      cleanup = temp.remove;
    } else {
      const p = `/ghostgrad-segments-${++memfsCounter}.h5`;
      path = p;
      Module.FS.writeFile(p, source);
      cleanup = async () => Module.FS.unlink(p);
    }
  }

  try {
    if (!(head.length === 8 && HDF5_SIGNATURE.every((v, i) => head[i] === v))) {
      throw new InputValueError(
        `loadLarndSimSegments: ${show(label)} is not an HDF5 file (no HDF5 signature at byte 0; files with a user block are not supported)`,
      );
    }
    // HDF5 errors throw (with the diagnostics as their message) instead of
    // printing pages of HDF5-DIAG to stderr; the default handler comes back after.
    const errors = Module as unknown as { activate_throwing_error_handler?(): number; deactivate_throwing_error_handler?(): number };
    errors.activate_throwing_error_handler?.();
    let file: H5File;
    try {
      try {
        file = new h5.File(path, 'r');
      } catch (e) {
        throw new InputValueError(`loadLarndSimSegments: could not open ${show(label)} as HDF5: ${hdf5Reason(e)}; the file is corrupt or truncated`);
      }
      try {
        return readSegments(h5, file, datasetPath, label, eventId, driftAxisSwap);
      } catch (e) {
        if (e instanceof GhostgradError) throw e;
        throw new InputValueError(
          `loadLarndSimSegments: HDF5 could not read dataset ${show(datasetPath)} of ${show(label)}: ${hdf5Reason(e)}; the file is corrupt or truncated`,
        );
      } finally {
        file.close();
      }
    } finally {
      errors.deactivate_throwing_error_handler?.();
    }
  } finally {
    await cleanup();
  }
}

/**
 * The gist of an HDF5 error stack, for a one-line message: the outermost and
 * innermost "in Function(): reason" entries of its diagnostics.
 */
function hdf5Reason(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  const steps = [...text.matchAll(/ in (\w+)\(\): ([^\n]+)/g)].map((m) => `${m[1]}: ${m[2]!.trim()}`);
  if (steps.length === 0) return text.split('\n')[0]!.slice(0, 200) || 'unknown HDF5 error';
  return steps.length === 1 ? steps[0]! : `${steps[0]} … ${steps[steps.length - 1]}`;
}

function listDatasets(h5: H5Module, group: H5Group, prefix: string, out: string[], limit: number): void {
  for (const key of group.keys()) {
    if (out.length >= limit) return;
    const child = group.get(key);
    const p = `${prefix}${key}`;
    if (child instanceof h5.Dataset) out.push(p);
    else if (child instanceof h5.Group) listDatasets(h5, child, `${p}/`, out, limit);
  }
}

function readSegments(
  h5: H5Module,
  file: H5File,
  datasetPath: string,
  label: string,
  eventId: number | undefined,
  swap: boolean,
): LarndSimSegments {
  const entity = file.get(datasetPath);
  if (!(entity instanceof h5.Dataset)) {
    const present: string[] = [];
    listDatasets(h5, file, '', present, 50);
    const what = entity === null ? 'has no dataset' : 'has an object that is not a dataset at';
    throw new InputValueError(
      `loadLarndSimSegments: ${show(label)} ${what} ${show(datasetPath)}; datasets present: ` +
        `${present.length ? present.map((p) => show(p)).join(', ') : '(none)'}; pass options.dataset`,
    );
  }
  const ds: H5Dataset = entity;
  const members = ds.metadata.compound_type?.members;
  const shape = ds.shape;
  if (!members || !shape || shape.length !== 1) {
    throw new InputValueError(
      `loadLarndSimSegments: dataset ${show(datasetPath)} in ${show(label)} must be a 1-D compound table ` +
        `(larnd-sim's segment records); it has shape ${show(shape)}${members ? '' : ' and no compound members'}`,
    );
  }
  const fields = members.map((m) => m.name);

  const index: Partial<Record<Column, number>> = {};
  const missing: string[] = [];
  for (const col of [...REQUIRED, ...OPTIONAL]) {
    const names: readonly string[] = FIELD_NAMES[col];
    const i = fields.findIndex((f) => names.includes(f));
    if (i < 0) {
      if (REQUIRED.includes(col)) missing.push(names.length > 1 ? names.map((n) => show(n)).join(' or ') : show(names[0]));
      continue;
    }
    const m = members[i]!;
    if ((m.type !== H5T_INTEGER && m.type !== H5T_FLOAT) || m.shape?.length) {
      throw new InputValueError(
        `loadLarndSimSegments: member ${show(m.name)} of ${show(datasetPath)} in ${show(label)} must be a scalar integer or float`,
      );
    }
    index[col] = i;
  }
  if (missing.length) {
    throw new InputValueError(
      `loadLarndSimSegments: dataset ${show(datasetPath)} in ${show(label)} lacks the required field(s) ${missing.join(', ')}; ` +
        `it has ${fields.map((f) => show(f)).join(', ')}`,
    );
  }
  if (eventId !== undefined && index.eventId === undefined) {
    throw new InputValueError(
      `loadLarndSimSegments: options.eventId = ${eventId} was given but dataset ${show(datasetPath)} in ${show(label)} ` +
        `has no event id field (${FIELD_NAMES.eventId.map((n) => show(n)).join(', ')}); drop options.eventId`,
    );
  }

  const n = shape[0]!;
  const raw = n === 0 ? [] : ds.value;
  if (!Array.isArray(raw) || raw.length !== n) {
    throw new InputValueError(`loadLarndSimSegments: could not read the rows of ${show(datasetPath)} in ${show(label)}`);
  }
  const rows = raw as unknown[][];

  const num = (row: unknown[], r: number, col: Column): number => {
    const v = row[index[col]!];
    return typeof v === 'bigint' ? Number(v) : (v as number);
  };
  const int32 = (row: unknown[], r: number, col: Column): number => {
    const v = num(row, r, col);
    if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) {
      throw new InputValueError(
        `loadLarndSimSegments: row ${r} of ${show(datasetPath)} in ${show(label)} has ${fields[index[col]!]} = ${show(v)}, which does not fit in int32`,
      );
    }
    return v;
  };

  let selected: number[] | null = null;
  if (eventId !== undefined) {
    selected = [];
    for (let r = 0; r < n; r++) if (num(rows[r]!, r, 'eventId') === eventId) selected.push(r);
  }
  const m = selected ? selected.length : n;
  const s = allocateSegments(m);
  const eventIds = index.eventId === undefined ? null : new Int32Array(m);
  const [xs, zs, xe, ze] = swap ? [s.zStart, s.xStart, s.zEnd, s.xEnd] : [s.xStart, s.zStart, s.xEnd, s.zEnd];
  for (let k = 0; k < m; k++) {
    const r = selected ? selected[k]! : k;
    const row = rows[r]!;
    xs[k] = num(row, r, 'xStart');
    s.yStart[k] = num(row, r, 'yStart');
    zs[k] = num(row, r, 'zStart');
    xe[k] = num(row, r, 'xEnd');
    s.yEnd[k] = num(row, r, 'yEnd');
    ze[k] = num(row, r, 'zEnd');
    s.dE[k] = num(row, r, 'dE');
    s.dx[k] = num(row, r, 'dx');
    s.t0[k] = num(row, r, 't0');
    if (index.trackId !== undefined) s.trackId[k] = int32(row, r, 'trackId');
    if (index.pdgId !== undefined) s.pdgId[k] = int32(row, r, 'pdgId');
    if (eventIds) eventIds[k] = int32(row, r, 'eventId');
  }
  const where = `${show(label)}:${datasetPath}${selected ? ` (event ${eventId}; row numbers count the selected rows)` : ''}`;
  validateSegments(s, where);
  return { segments: s, eventIds, fields };
}
