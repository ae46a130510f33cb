/**
 * Photon emission points ("sources") for the photon propagator: the centres of
 * a voxel grid over a volume, or arbitrary points. Each source emits
 * isotropically; its index in the set keys its random stream.
 *
 * @module
 */

import { InputValueError, show } from '../../errors.js';
import { findVolume, type Detector, type Vec3 } from './detector.js';

/** A set of emission points, each inside one volume of a detector. */
export interface SourceSet {
  /** Number of sources. */
  readonly count: number;
  /** Positions, cm: x, y, z of source i at [3i, 3i+1, 3i+2]. */
  readonly positions: Float64Array;
  /** Index of the volume each source emits into. */
  readonly volumes: Uint32Array;
}

function isFiniteVec3(p: unknown): boolean {
  return Array.isArray(p) && p.length === 3 && p.every((c: unknown) => typeof c === 'number' && Number.isFinite(c));
}

/** Largest number of sources: the source index is one u32 key word. */
export const MAX_SOURCES = 0xffffffff;

function checkDivisions(divisions: unknown, path: string): readonly [number, number, number] {
  if (!Array.isArray(divisions) || divisions.length !== 3) {
    throw new InputValueError(
      `${path}: expected [nx, ny, nz] voxel counts, got ${show(divisions)}; give three positive integers`,
    );
  }
  for (let a = 0; a < 3; a++) {
    const n: unknown = divisions[a];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
      throw new InputValueError(
        `${path}[${a}]: voxel count must be a positive integer, got ${show(n)}; give at least 1 voxel per axis`,
      );
    }
  }
  return divisions as unknown as readonly [number, number, number];
}

/**
 * Sources at the centres of an nx × ny × nz voxel grid spanning volume
 * `volume`. Source index = ix + nx·(iy + ny·iz) (x fastest); the centre of
 * voxel (ix, iy, iz) is min + (i + ½)·(max − min)/n on each axis.
 *
 * @param detector validated detector
 * @param volume volume index
 * @param divisions voxel counts [nx, ny, nz] (positive integers)
 * @throws InputValueError for a bad volume index or voxel count
 */
export function gridSources(detector: Detector, volume: number, divisions: readonly [number, number, number]): SourceSet {
  if (!Number.isInteger(volume) || volume < 0 || volume >= detector.volumes.length) {
    throw new InputValueError(
      `sources.volume: no volume ${show(volume)} in detector "${detector.name}" ` +
        `(it has ${detector.volumes.length}); give an index 0..${detector.volumes.length - 1}`,
    );
  }
  const [nx, ny, nz] = checkDivisions(divisions, 'sources.divisions');
  const count = nx * ny * nz;
  if (count > MAX_SOURCES) {
    throw new InputValueError(
      `sources.divisions: ${count} voxels exceed the ${MAX_SOURCES} sources a u32 index can address; use fewer voxels`,
    );
  }
  const v = detector.volumes[volume]!;
  const positions = new Float64Array(3 * count);
  const step = [(v.max[0] - v.min[0]) / nx, (v.max[1] - v.min[1]) / ny, (v.max[2] - v.min[2]) / nz] as const;
  let i = 0;
  for (let iz = 0; iz < nz; iz++) {
    for (let iy = 0; iy < ny; iy++) {
      for (let ix = 0; ix < nx; ix++) {
        positions[3 * i] = v.min[0] + (ix + 0.5) * step[0];
        positions[3 * i + 1] = v.min[1] + (iy + 0.5) * step[1];
        positions[3 * i + 2] = v.min[2] + (iz + 0.5) * step[2];
        i++;
      }
    }
  }
  return { count, positions, volumes: new Uint32Array(count).fill(volume) };
}

/**
 * Sources at arbitrary points. Each point must lie inside (or on the surface
 * of) a volume; with `volumes` given, inside that volume, else the first
 * volume containing it is used.
 *
 * @param detector validated detector
 * @param points positions in cm
 * @param volumes optional volume index per point
 * @throws InputValueError for an empty list, a non-finite coordinate, or a point outside its volume
 */
export function pointSources(detector: Detector, points: readonly Vec3[], volumes?: readonly number[]): SourceSet {
  if (!Array.isArray(points) || points.length === 0) {
    throw new InputValueError(`sources.points: no points given, got ${show(points)}; give at least one [x, y, z]`);
  }
  if (volumes !== undefined && volumes.length !== points.length) {
    throw new InputValueError(
      `sources.volumes: ${volumes.length} volume indices for ${points.length} points; give one per point or omit it`,
    );
  }
  const count = points.length;
  const positions = new Float64Array(3 * count);
  const vols = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const p = points[i]!;
    if (!isFiniteVec3(p)) {
      throw new InputValueError(`sources.points[${i}]: expected [x, y, z] in cm, got ${show(p)}; give three finite numbers`);
    }
    let vol: number;
    if (volumes !== undefined) {
      vol = volumes[i]!;
      const box = detector.volumes[vol];
      if (!Number.isInteger(vol) || box === undefined) {
        throw new InputValueError(
          `sources.volumes[${i}]: no volume ${show(vol)}; give an index 0..${detector.volumes.length - 1}`,
        );
      }
      for (let a = 0; a < 3; a++) {
        if (p[a]! < box.min[a]! || p[a]! > box.max[a]!) {
          throw new InputValueError(
            `sources.points[${i}]: ${show(p)} is outside volumes[${vol}] (min ${show(box.min)}, max ${show(box.max)}); ` +
              'move the point inside or name the volume that contains it',
          );
        }
      }
    } else {
      vol = findVolume(detector, p);
      if (vol < 0) {
        throw new InputValueError(
          `sources.points[${i}]: ${show(p)} is outside every volume of detector "${detector.name}"; ` +
            'move the point into a liquid-argon volume',
        );
      }
    }
    positions[3 * i] = p[0];
    positions[3 * i + 1] = p[1];
    positions[3 * i + 2] = p[2];
    vols[i] = vol;
  }
  return { count, positions, volumes: vols };
}

/** Concatenate source sets; indices of later sets are shifted by the counts before them. */
export function concatSources(...sets: readonly SourceSet[]): SourceSet {
  const count = sets.reduce((n, s) => n + s.count, 0);
  const positions = new Float64Array(3 * count);
  const volumes = new Uint32Array(count);
  let at = 0;
  for (const s of sets) {
    positions.set(s.positions, 3 * at);
    volumes.set(s.volumes, at);
    at += s.count;
  }
  return { count, positions, volumes };
}
