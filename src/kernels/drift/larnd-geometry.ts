/**
 * Detector geometry and drift physics from larnd-sim's own description: a
 * detector-properties YAML (`larndsim/detector_properties/*.yaml`) plus a
 * pixel-layout YAML (`larndsim/pixel_layouts/*.yaml`), read the way
 * larnd-sim's `consts.detector.set_detector_properties` reads them.
 *
 * What is read:
 * - pixel layout: `pixel_pitch` (mm), `chip_channel_to_position` (pixel
 *   indices of each channel within a tile), `tile_positions` (tile centres,
 *   mm, as [drift coordinate, y, x] of larnd-sim's internal frame),
 *   `tile_orientations` (first entry: the direction of the cathode from the
 *   anode, ±1), `tile_indeces` (first entry: the anode the tile belongs to)
 *   and the optional `drift_length` (mm; otherwise half the distance between
 *   the outermost anodes).
 * - detector properties: `tpc_offsets` (cm, one per module, in the
 *   edep-sim/detector frame), `module_to_tpcs`, and the drift physics
 *   `e_field` (kV/cm), `temperature` (K), `lifetime` (µs), `long_diff` and
 *   `tran_diff` (cm²/µs). `e_field` and `lifetime` may be lists with one value
 *   per module. `clock_cycle` (µs, LArPix default 0.1) sets the tick.
 *
 * Each TPC (module offset × anode, in larnd-sim's order: modules outer,
 * anodes inner) becomes one {@link DetectorGeometry}: the anode plane spanned
 * by its tiles (tile extent: the channel grid plus one pitch, centred on the
 * tile), the cathode one drift length away in the cathode direction.
 *
 * Frames: larnd-sim drifts along its internal z after swapping the x and z
 * columns of the edep-sim input. `frame: 'edep-sim'` (default) gives
 * geometries in the detector frame, drifting along x, which matches
 * {@link loadLarndSimSegments} without `driftAxisSwap`; `frame: 'larnd-sim'`
 * gives larnd-sim's internal frame, drifting along z (`driftAxisSwap: true`).
 *
 * @module
 */
import { parse } from 'yaml';
import { platform } from '#platform';
import { checkOptionKeys, InputValueError, show } from '../../errors.js';
import type { ChainParams } from './chain.reference.js';
import { TIME_TICK_US } from './constants.js';
import { type DetectorGeometry, validateGeometry } from './geometry.js';

/** One drift volume of a larnd-sim detector. */
export interface LarndSimTpc {
  /** larnd-sim's TPC index (module offset × number of anodes + anode position). */
  readonly index: number;
  /** Module id (a key of `module_to_tpcs`), or null when the file maps none to this TPC. */
  readonly module: number | null;
  /** Anode id of the pixel layout (`tile_indeces[tile][0]`). */
  readonly anode: number;
  readonly geometry: DetectorGeometry;
  /** Drift physics of this TPC's module, in ghostgrad's units (pass to physicsTensor). */
  readonly physics: Pick<ChainParams, 'eField' | 'temperature' | 'lifetime' | 'dL' | 'dT'>;
}

/** A detector read from larnd-sim's YAML files. */
export interface LarndSimDetector {
  readonly tpcs: readonly LarndSimTpc[];
  readonly frame: 'edep-sim' | 'larnd-sim';
  readonly pixelPitch_cm: number;
  readonly driftLength_cm: number;
  readonly tick_us: number;
}

/** Options of {@link larndSimGeometry}. */
export interface LarndSimGeometryOptions {
  /** Frame of the geometries (see the module comment); default `'edep-sim'`. */
  readonly frame?: 'edep-sim' | 'larnd-sim';
}

/** Where a value came from, for messages. */
interface Source {
  readonly name: string;
  readonly data: Record<string, unknown>;
}

function parseYaml(text: string, name: string): Source {
  if (typeof text !== 'string') throw new InputValueError(`larndSimGeometry: ${name} must be the YAML text (a string); got ${show(text)}`);
  let data: unknown;
  try {
    data = parse(text);
  } catch (e) {
    throw new InputValueError(`larndSimGeometry: ${name} is not valid YAML (${(e as Error).message.split('\n')[0]})`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new InputValueError(`larndSimGeometry: ${name} must be a YAML mapping`);
  return { name, data: data as Record<string, unknown> };
}

function need(src: Source, key: string): unknown {
  const v = src.data[key];
  if (v === undefined || v === null) throw new InputValueError(`larndSimGeometry: ${src.name} lacks ${show(key)}, which larnd-sim's format requires`);
  return v;
}

function num(src: Source, what: string, v: unknown, ok: (x: number) => boolean = Number.isFinite): number {
  const x = typeof v === 'string' ? Number(v) : v;
  if (typeof x !== 'number' || !ok(x)) throw new InputValueError(`larndSimGeometry: ${src.name} ${what} = ${show(v)} is not a valid number`);
  return x;
}

function vector(src: Source, what: string, v: unknown, length: number): number[] {
  if (!Array.isArray(v) || v.length < length) throw new InputValueError(`larndSimGeometry: ${src.name} ${what} = ${show(v)} must be a list of ${length} numbers`);
  return v.slice(0, length).map((x, i) => num(src, `${what}[${i}]`, x));
}

function mapping(src: Source, key: string): Record<string, unknown> {
  const v = need(src, key);
  if (typeof v !== 'object' || Array.isArray(v)) throw new InputValueError(`larndSimGeometry: ${src.name} ${key} must be a mapping`);
  return v as Record<string, unknown>;
}

/** A per-module value: a number, or a list with one value or one per module. */
function perModule(src: Source, key: string, fallback: number, moduleIndex: number, modules: number): number {
  const v = src.data[key];
  if (v === undefined || v === null) return fallback;
  if (!Array.isArray(v)) return num(src, key, v);
  if (v.length !== 1 && v.length !== modules) {
    throw new InputValueError(`larndSimGeometry: ${src.name} ${key} lists ${v.length} values for ${modules} module(s); give one value, or one per module`);
  }
  return num(src, `${key}[${v.length === 1 ? 0 : moduleIndex}]`, v[v.length === 1 ? 0 : moduleIndex]);
}

/**
 * Builds the TPC geometries and drift physics of a larnd-sim detector from
 * the texts of its detector-properties and pixel-layout YAML files.
 *
 * @throws InputValueError naming the file and key for a missing or bad entry,
 *   tiles of one anode with different drift directions, or tiles that do not
 *   tile a whole number of pixels
 */
export function larndSimGeometry(detectorProperties: string, pixelLayout: string, options: LarndSimGeometryOptions = {}): LarndSimDetector {
  checkOptionKeys('larndSimGeometry options', options, ['frame']);
  const frame = options.frame ?? 'edep-sim';
  if (frame !== 'edep-sim' && frame !== 'larnd-sim') throw new InputValueError(`larndSimGeometry: options.frame = ${show(frame)}; use 'edep-sim' (default) or 'larnd-sim'`);
  const det = parseYaml(detectorProperties, 'detector properties');
  const layout = parseYaml(pixelLayout, 'pixel layout');

  const pitch = num(layout, 'pixel_pitch', need(layout, 'pixel_pitch'), (x) => x > 0) / 10;
  const channels = Object.entries(mapping(layout, 'chip_channel_to_position'));
  if (channels.length === 0) throw new InputValueError('larndSimGeometry: pixel layout chip_channel_to_position is empty');
  let maxIx = 0;
  let maxIy = 0;
  for (const [key, v] of channels) {
    const [ix, iy] = vector(layout, `chip_channel_to_position[${key}]`, v, 2);
    maxIx = Math.max(maxIx, ix!);
    maxIy = Math.max(maxIy, iy!);
  }
  // A tile spans its channel grid plus one pitch, centred on its position.
  const halfX = (maxIx * pitch + pitch) / 2;
  const halfY = (maxIy * pitch + pitch) / 2;

  const positions = mapping(layout, 'tile_positions');
  const orientations = mapping(layout, 'tile_orientations');
  const indices = mapping(layout, 'tile_indeces');
  const anodes = new Map<number, { tiles: number[][]; direction: number }>();
  for (const [tile, index] of Object.entries(indices)) {
    const anode = vector(layout, `tile_indeces[${tile}]`, index, 1)[0]!;
    const position = vector(layout, `tile_positions[${tile}]`, positions[tile], 3).map((mm) => mm / 10);
    const direction = vector(layout, `tile_orientations[${tile}]`, orientations[tile], 1)[0]!;
    if (direction !== 1 && direction !== -1) {
      throw new InputValueError(`larndSimGeometry: pixel layout tile_orientations[${tile}][0] = ${show(direction)}; the cathode direction must be 1 or -1`);
    }
    const entry = anodes.get(anode) ?? { tiles: [], direction };
    if (entry.direction !== direction) {
      throw new InputValueError(`larndSimGeometry: pixel layout: tiles of anode ${anode} have different drift directions (tile ${tile}: ${direction})`);
    }
    entry.tiles.push(position);
    anodes.set(anode, entry);
  }
  if (anodes.size === 0) throw new InputValueError('larndSimGeometry: pixel layout tile_indeces is empty');
  const anodeIds = [...anodes.keys()].sort((a, b) => a - b);
  let driftLength: number;
  if (layout.data['drift_length'] !== undefined && layout.data['drift_length'] !== null) {
    driftLength = num(layout, 'drift_length', layout.data['drift_length'], (x) => x > 0) / 10;
  } else {
    const planes = [...anodes.values()].flatMap((a) => a.tiles.map((t) => t[0]!));
    driftLength = 0.5 * (Math.max(...planes) - Math.min(...planes));
    if (!(driftLength > 0)) throw new InputValueError('larndSimGeometry: pixel layout has no drift_length and one anode plane, so the drift length is unknown');
  }

  const offsetsRaw = need(det, 'tpc_offsets');
  if (!Array.isArray(offsetsRaw) || offsetsRaw.length === 0) throw new InputValueError('larndSimGeometry: detector properties tpc_offsets must be a list of [x, y, z] (cm)');
  // In the detector frame; larnd-sim swaps x and z into its internal frame.
  const offsets = offsetsRaw.map((o, i) => {
    const [x, y, z] = vector(det, `tpc_offsets[${i}]`, o, 3);
    return [z!, y!, x!] as const;
  });
  const tpcToModule = new Map<number, number>();
  const moduleIds: number[] = [];
  const moduleToTpcs = det.data['module_to_tpcs'];
  if (moduleToTpcs !== undefined && moduleToTpcs !== null) {
    for (const [module, tpcs] of Object.entries(mapping(det, 'module_to_tpcs'))) {
      const id = num(det, `module_to_tpcs key`, module);
      moduleIds.push(id);
      if (!Array.isArray(tpcs)) throw new InputValueError(`larndSimGeometry: detector properties module_to_tpcs[${module}] must be a list of TPC indices`);
      for (const t of tpcs) tpcToModule.set(num(det, `module_to_tpcs[${module}]`, t), id);
    }
  }
  moduleIds.sort((a, b) => a - b);
  const tick = det.data['clock_cycle'] === undefined ? TIME_TICK_US : num(det, 'clock_cycle', det.data['clock_cycle'], (x) => x > 0);
  const temperature = det.data['temperature'] === undefined ? 87.17 : num(det, 'temperature', det.data['temperature'], (x) => x > 0);
  const longDiff = det.data['long_diff'] === undefined ? 4.0e-6 : num(det, 'long_diff', det.data['long_diff'], (x) => x >= 0);
  const tranDiff = det.data['tran_diff'] === undefined ? 8.8e-6 : num(det, 'tran_diff', det.data['tran_diff'], (x) => x >= 0);

  const tpcs: LarndSimTpc[] = [];
  offsets.forEach((offset, it) => {
    anodeIds.forEach((anodeId, ia) => {
      const { tiles, direction } = anodes.get(anodeId)!;
      const index = it * anodeIds.length + ia;
      const xs = tiles.map((t) => t[2]!);
      const ys = tiles.map((t) => t[1]!);
      const xMin = Math.min(...xs) - halfX + offset[0];
      const xMax = Math.max(...xs) + halfX + offset[0];
      const yMin = Math.min(...ys) - halfY + offset[1];
      const yMax = Math.max(...ys) + halfY + offset[1];
      const planes = new Set(tiles.map((t) => t[0]!));
      if (planes.size !== 1) throw new InputValueError(`larndSimGeometry: pixel layout: the tiles of anode ${anodeId} lie in different planes (${[...planes].join(', ')} cm)`);
      const anodePlane = tiles[0]![0]! + offset[2];
      const nx = wholePixels(xMax - xMin, pitch, anodeId, 'x');
      const ny = wholePixels(yMax - yMin, pitch, anodeId, 'y');
      const module = tpcToModule.get(index) ?? null;
      const moduleIndex = module === null ? 0 : Math.max(0, moduleIds.indexOf(module));
      const modules = Math.max(1, moduleIds.length);
      // Internal frame: drift along z, pixels along (x, y). Detector frame:
      // drift along x, pixels along (u, v) = (y, z) = (internal y, internal x).
      const geometry: DetectorGeometry =
        frame === 'larnd-sim'
          ? { driftAxis: 'z', anode_cm: anodePlane, cathode_cm: anodePlane + direction * driftLength, pixelOrigin_cm: [xMin, yMin], nPixels: [nx, ny], pixelPitch_cm: pitch, tick_us: tick }
          : { driftAxis: 'x', anode_cm: anodePlane, cathode_cm: anodePlane + direction * driftLength, pixelOrigin_cm: [yMin, xMin], nPixels: [ny, nx], pixelPitch_cm: pitch, tick_us: tick };
      validateGeometry(geometry, `larndSimGeometry TPC ${index}`);
      tpcs.push({
        index,
        module,
        anode: anodeId,
        geometry,
        physics: {
          eField: perModule(det, 'e_field', 0.5, moduleIndex, modules),
          temperature,
          lifetime: perModule(det, 'lifetime', 2200, moduleIndex, modules),
          // cm²/µs in larnd-sim, cm²/s here.
          dL: longDiff * 1e6,
          dT: tranDiff * 1e6,
        },
      });
    });
  });
  return { tpcs, frame, pixelPitch_cm: pitch, driftLength_cm: driftLength, tick_us: tick };
}

function wholePixels(extent: number, pitch: number, anode: number, axis: string): number {
  const n = Math.round(extent / pitch);
  if (n < 1 || Math.abs(extent / pitch - n) > 1e-3) {
    throw new InputValueError(`larndSimGeometry: the tiles of anode ${anode} span ${extent.toFixed(4)} cm along ${axis}, not a whole number of ${pitch} cm pixels`);
  }
  return n;
}

/** {@link larndSimGeometry} from the two files' paths (Node). */
export async function loadLarndSimGeometry(detectorPropertiesPath: string, pixelLayoutPath: string, options: LarndSimGeometryOptions = {}): Promise<LarndSimDetector> {
  const text = async (path: string): Promise<string> => {
    try {
      return new TextDecoder().decode(await platform.readFile(path));
    } catch (e) {
      if (e instanceof InputValueError) throw e;
      throw new InputValueError(`loadLarndSimGeometry: cannot read ${show(path)} (${(e as { code?: string }).code ?? (e as Error).message})`);
    }
  };
  return larndSimGeometry(await text(detectorPropertiesPath), await text(pixelLayoutPath), options);
}
