/**
 * Plain-JSON description of a liquid-argon optical detector for the Monte
 * Carlo photon propagator, and its validator.
 *
 * A detector is one or more axis-aligned boxes of liquid argon ("volumes",
 * e.g. the drift volumes of a TPC) whose six walls carry flat photodetectors
 * (rectangles or discs) and are otherwise absorbing or reflecting. Lengths are
 * in cm, times in ns. The full format is documented in docs/photon-mc.md.
 *
 * Every rule violation throws {@link InputValueError} whose message starts
 * with the field path (`photodetectors[3].center`), then the value, then how
 * to fix it.
 *
 * @module
 */

import { InputValueError, show } from '../../errors.js';

/** A point or vector in cm, (x, y, z). */
export type Vec3 = readonly [number, number, number];

/** Coordinate axis: 0 = x, 1 = y, 2 = z. */
export type Axis = 0 | 1 | 2;

/**
 * A wall of a box: the axis of its outward normal and its side. `"x-"` is the
 * plane x = min[0], `"x+"` the plane x = max[0], and so on.
 */
export type Face = 'x-' | 'x+' | 'y-' | 'y+' | 'z-' | 'z+';

/** The six faces in face-index order: index = 2·axis + (side is max ? 1 : 0). */
export const FACES: readonly Face[] = ['x-', 'x+', 'y-', 'y+', 'z-', 'z+'];

/** Index 0..5 of a face in {@link FACES}. */
export function faceIndex(face: Face): number {
  return FACES.indexOf(face);
}

/** Axis of the outward normal of a face. */
export function faceAxis(face: Face): Axis {
  return face[0] === 'x' ? 0 : face[0] === 'y' ? 1 : 2;
}

/** True for the faces on the max side of the box ("x+", "y+", "z+"). */
export function faceIsMax(face: Face): boolean {
  return face[1] === '+';
}

/**
 * The two in-plane axes (u, v) of a face whose normal is `axis`, in
 * increasing order: x-faces → (y, z), y-faces → (x, z), z-faces → (x, y).
 * A rectangle's `size` is given along (u, v) in this order.
 */
export function inPlaneAxes(axis: Axis): readonly [Axis, Axis] {
  return axis === 0 ? [1, 2] : axis === 1 ? [0, 2] : [0, 1];
}

/**
 * Surface model of the parts of a wall not covered by a photodetector.
 *
 * - `absorbing`: every photon reaching the wall is absorbed.
 * - `reflecting`: reflected with probability `reflectivity` (0..1), else
 *   absorbed; `reflection` is `specular` (mirror: the normal component of the
 *   direction flips) or `lambertian` (ideal diffuse: new direction with
 *   cos θ-weighted density about the inward normal).
 */
export type WallModel =
  | { readonly model: 'absorbing' }
  | {
      readonly model: 'reflecting';
      readonly reflectivity: number;
      readonly reflection: 'specular' | 'lambertian';
    };

/** Bulk optical properties of the liquid argon. Lengths in cm, times in ns. */
export interface Optics {
  /** Emission wavelength, nm. Informational only: the propagator is monochromatic. */
  readonly wavelengthNm: number;
  /** Refractive index at the emission wavelength. Informational (no refraction at the walls is modelled). */
  readonly refractiveIndex: number;
  /** Mean free path to Rayleigh scattering, cm; `Infinity` disables scattering. */
  readonly rayleighLengthCm: number;
  /** Mean free path to bulk absorption, cm; `Infinity` disables absorption. */
  readonly absorptionLengthCm: number;
  /** Inverse group velocity 1/v_g, ns per cm of path: arrival time = path · this. */
  readonly inverseGroupVelocityNsPerCm: number;
}

/**
 * Default optics of liquid argon for its own scintillation light.
 *
 * - wavelength 128 nm: peak of the LAr second-excimer emission, the
 *   wavelength at which Babicz et al. measured the quantities below.
 * - n = 1.358 ± 0.003 at 128 nm: M. Babicz et al., "A measurement of the group
 *   velocity of scintillation light in liquid argon", JINST 15 (2020) P09009,
 *   arXiv:2002.09346 (derived from their group-velocity measurement).
 * - Rayleigh scattering length 99.1 ± 2.3 cm at 128 nm: same paper.
 * - 1/v_g = 7.46 ± 0.08 ns/m = 0.0746 ns/cm: same paper (the direct measurement).
 * - absorption length 20 m = 2000 cm: not a property of pure argon but of its
 *   impurities. Jones et al., JINST 8 (2013) P07011, arXiv:1306.4605, measured
 *   absorption by dissolved N2 of 1.51e-4 cm⁻¹ per ppm (≈ 30 m at 2 ppm N2);
 *   Neumeier et al., EPL 111 (2015) 12001, arXiv:1511.07725, found no
 *   attenuation of pure LAr over 11.6 cm (lower limit 1.10 m). 20 m is a
 *   conservative value for ppm-level purity; set it for your detector.
 */
export const DEFAULT_OPTICS: Optics = Object.freeze({
  wavelengthNm: 128,
  refractiveIndex: 1.358,
  rayleighLengthCm: 99.1,
  absorptionLengthCm: 2000,
  inverseGroupVelocityNsPerCm: 0.0746,
});

/** The default wall model: absorbing. */
export const DEFAULT_WALL: WallModel = Object.freeze({ model: 'absorbing' });

/**
 * How far (cm) a photodetector centre may be from its face plane, and how far
 * its edge may stick out of the face, before validation rejects it. 1 µm:
 * far below any detector feature, far above float64 rounding of cm values.
 */
export const PLANE_TOLERANCE_CM = 1e-4;

/** One liquid-argon box, resolved: every face has its wall model. */
export interface Volume {
  /** Name from the JSON, or `volume<i>`. */
  readonly name: string;
  /** Lower corner, cm. */
  readonly min: Vec3;
  /** Upper corner, cm (strictly greater than `min` on every axis). */
  readonly max: Vec3;
  /** Wall model of each face, indexed like {@link FACES}. */
  readonly walls: readonly WallModel[];
}

interface PhotodetectorCommon {
  /** Name from the JSON, or `pd<i>`. */
  readonly name: string;
  /** Index of the volume whose wall carries it. */
  readonly volume: number;
  /** The wall. */
  readonly face: Face;
  /** Index of `face` in {@link FACES}. */
  readonly faceIndex: number;
  /** Normal axis of `face`. */
  readonly axis: Axis;
  /** Centre, cm, exactly on the face plane (snapped to it by the validator). */
  readonly center: Vec3;
  /** Probability that a photon hitting it is detected, 0..1. */
  readonly efficiency: number;
}

/** A rectangle on a wall, sides along the face's in-plane axes. */
export interface RectanglePhotodetector extends PhotodetectorCommon {
  readonly shape: 'rectangle';
  /** Full side lengths (cm) along the in-plane axes (u, v) of {@link inPlaneAxes}. */
  readonly size: readonly [number, number];
}

/** A disc on a wall. */
export interface DiscPhotodetector extends PhotodetectorCommon {
  readonly shape: 'disc';
  /** Radius, cm. */
  readonly radius: number;
}

/** A photodetector: flat, lying on one wall of one volume. */
export type Photodetector = RectanglePhotodetector | DiscPhotodetector;

/** A validated detector. Build with {@link parseDetector} or {@link validateDetector}. */
export interface Detector {
  readonly name: string;
  readonly volumes: readonly Volume[];
  readonly photodetectors: readonly Photodetector[];
  readonly optics: Optics;
}

// ---------------------------------------------------------------------------
// JSON input types (what a user writes). Lengths in cm.

/** JSON form of a wall model. */
export type WallModelSpec =
  | { model: 'absorbing' }
  | { model: 'reflecting'; reflectivity: number; reflection: 'specular' | 'lambertian' };

/** JSON form of one volume. */
export interface VolumeSpec {
  name?: string;
  /** Lower corner [x, y, z], cm. */
  min: [number, number, number];
  /** Upper corner [x, y, z], cm. */
  max: [number, number, number];
  /** Wall model for all six faces of this volume (overrides the detector-level `walls`). */
  walls?: WallModelSpec;
  /** Per-face wall model (overrides `walls`). */
  faces?: Partial<Record<Face, WallModelSpec>>;
}

/** JSON form of the optics; every field optional (defaults: {@link DEFAULT_OPTICS}). */
export interface OpticsSpec {
  wavelengthNm?: number;
  refractiveIndex?: number;
  /** cm, or null for no Rayleigh scattering. */
  rayleighLengthCm?: number | null;
  /** cm, or null for no bulk absorption. */
  absorptionLengthCm?: number | null;
  inverseGroupVelocityNsPerCm?: number;
}

/** JSON form of a photodetector. */
export type PhotodetectorSpec =
  | {
      name?: string;
      volume: number;
      face: Face;
      shape: 'rectangle';
      center: [number, number, number];
      size: [number, number];
      efficiency: number;
    }
  | {
      name?: string;
      volume: number;
      face: Face;
      shape: 'disc';
      center: [number, number, number];
      radius: number;
      efficiency: number;
    };

/** JSON form of a detector (the top-level object of a detector file). */
export interface DetectorSpec {
  name?: string;
  /** Optional; when present must be "cm". */
  units?: 'cm';
  volumes: VolumeSpec[];
  /** Default wall model of every face (default absorbing). */
  walls?: WallModelSpec;
  optics?: OpticsSpec;
  photodetectors: PhotodetectorSpec[];
}

// ---------------------------------------------------------------------------
// Validation helpers. Each names the path, the value and the fix.

function render(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'object' && !Array.isArray(value)) {
    let text: string;
    try {
      text = JSON.stringify(value);
    } catch {
      text = String(value);
    }
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  }
  const text = show(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function fail(path: string, value: unknown, problem: string, fix: string): never {
  throw new InputValueError(`${path}: ${problem}, got ${render(value)}; ${fix}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function expectRecord(value: unknown, path: string, what: string): Record<string, unknown> {
  if (!isRecord(value)) fail(path, value, `expected ${what} (a JSON object)`, `write it as { ... }`);
  return value;
}

function expectKeys(obj: Record<string, unknown>, path: string, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      fail(
        `${path}.${key}`,
        obj[key],
        'unknown field',
        `remove it or use one of ${allowed.map((k) => JSON.stringify(k)).join(', ')}`,
      );
    }
  }
}

function expectPresent(obj: Record<string, unknown>, key: string, path: string, what: string): unknown {
  if (!(key in obj) || obj[key] === undefined) {
    fail(`${path}.${key}`, undefined, `missing required field (${what})`, `add "${key}"`);
  }
  return obj[key];
}

function expectFinite(value: unknown, path: string, what: string): number {
  if (typeof value !== 'number') fail(path, value, `expected ${what} (a number)`, 'write a JSON number');
  if (!Number.isFinite(value)) fail(path, value, `expected a finite ${what}`, 'write a finite number');
  return value;
}

function expectPositive(value: unknown, path: string, what: string, unit: string): number {
  const x = expectFinite(value, path, what);
  if (!(x > 0)) fail(path, value, `${what} must be positive`, `give a length > 0 ${unit}`);
  return x;
}

/** Positive length, or null / Infinity meaning "never". */
function expectLengthOrNull(value: unknown, path: string, what: string): number {
  if (value === null || value === Number.POSITIVE_INFINITY) return Number.POSITIVE_INFINITY;
  if (typeof value !== 'number' || Number.isNaN(value)) {
    fail(path, value, `expected ${what} in cm (a number) or null`, 'write a positive number, or null to disable');
  }
  if (!(value > 0) || !Number.isFinite(value)) {
    fail(path, value, `${what} must be a positive length in cm`, 'give a length > 0, or null to disable the process');
  }
  return value;
}

function expectUnitInterval(value: unknown, path: string, what: string): number {
  const x = expectFinite(value, path, what);
  if (x < 0 || x > 1) fail(path, value, `${what} must lie in [0, 1]`, 'give a probability between 0 and 1');
  return x;
}

function expectString(value: unknown, path: string, what: string): string {
  if (typeof value !== 'string') fail(path, value, `expected ${what} (a string)`, 'write a JSON string');
  return value;
}

function expectVec3(value: unknown, path: string, what: string): Vec3 {
  if (!Array.isArray(value) || value.length !== 3) {
    fail(path, value, `expected ${what} as [x, y, z] in cm`, 'write an array of three numbers');
  }
  const out = value.map((v: unknown, i: number) => expectFinite(v, `${path}[${i}]`, `${what} coordinate`));
  return [out[0]!, out[1]!, out[2]!];
}

function expectArray(value: unknown, path: string, what: string): unknown[] {
  if (!Array.isArray(value)) fail(path, value, `expected ${what} (a JSON array)`, 'write it as [ ... ]');
  return value;
}

function expectFace(value: unknown, path: string): Face {
  if (typeof value !== 'string' || !(FACES as readonly string[]).includes(value)) {
    fail(path, value, 'unknown face', `use one of ${FACES.map((f) => JSON.stringify(f)).join(', ')}`);
  }
  return value as Face;
}

function parseWall(value: unknown, path: string): WallModel {
  const obj = expectRecord(value, path, 'a wall model');
  const model = expectPresent(obj, 'model', path, '"absorbing" or "reflecting"');
  if (model === 'absorbing') {
    expectKeys(obj, path, ['model']);
    return DEFAULT_WALL;
  }
  if (model !== 'reflecting') {
    fail(`${path}.model`, model, 'unknown wall model', 'use "absorbing" or "reflecting"');
  }
  expectKeys(obj, path, ['model', 'reflectivity', 'reflection']);
  const reflectivity = expectUnitInterval(
    expectPresent(obj, 'reflectivity', path, 'probability of reflection, 0..1'),
    `${path}.reflectivity`,
    'reflectivity',
  );
  const reflection = expectPresent(obj, 'reflection', path, '"specular" or "lambertian"');
  if (reflection !== 'specular' && reflection !== 'lambertian') {
    fail(`${path}.reflection`, reflection, 'unknown reflection kind', 'use "specular" or "lambertian"');
  }
  return Object.freeze({ model: 'reflecting', reflectivity, reflection });
}

function parseOptics(value: unknown, path: string): Optics {
  if (value === undefined) return DEFAULT_OPTICS;
  const obj = expectRecord(value, path, 'the optics');
  expectKeys(obj, path, [
    'wavelengthNm',
    'refractiveIndex',
    'rayleighLengthCm',
    'absorptionLengthCm',
    'inverseGroupVelocityNsPerCm',
  ]);
  const wavelengthNm =
    obj['wavelengthNm'] === undefined
      ? DEFAULT_OPTICS.wavelengthNm
      : expectPositive(obj['wavelengthNm'], `${path}.wavelengthNm`, 'wavelength', 'nm');
  let refractiveIndex = DEFAULT_OPTICS.refractiveIndex;
  if (obj['refractiveIndex'] !== undefined) {
    refractiveIndex = expectFinite(obj['refractiveIndex'], `${path}.refractiveIndex`, 'refractive index');
    if (!(refractiveIndex >= 1)) {
      fail(`${path}.refractiveIndex`, refractiveIndex, 'refractive index must be ≥ 1', 'give n ≥ 1 (LAr: 1.358)');
    }
  }
  const rayleighLengthCm =
    obj['rayleighLengthCm'] === undefined
      ? DEFAULT_OPTICS.rayleighLengthCm
      : expectLengthOrNull(obj['rayleighLengthCm'], `${path}.rayleighLengthCm`, 'Rayleigh scattering length');
  const absorptionLengthCm =
    obj['absorptionLengthCm'] === undefined
      ? DEFAULT_OPTICS.absorptionLengthCm
      : expectLengthOrNull(obj['absorptionLengthCm'], `${path}.absorptionLengthCm`, 'absorption length');
  const inverseGroupVelocityNsPerCm =
    obj['inverseGroupVelocityNsPerCm'] === undefined
      ? DEFAULT_OPTICS.inverseGroupVelocityNsPerCm
      : expectPositive(
          obj['inverseGroupVelocityNsPerCm'],
          `${path}.inverseGroupVelocityNsPerCm`,
          'inverse group velocity',
          'ns/cm (LAr: 0.0746)',
        );
  return Object.freeze({
    wavelengthNm,
    refractiveIndex,
    rayleighLengthCm,
    absorptionLengthCm,
    inverseGroupVelocityNsPerCm,
  });
}

function parseVolume(value: unknown, path: string, index: number, defaultWall: WallModel): Volume {
  const obj = expectRecord(value, path, 'a volume');
  expectKeys(obj, path, ['name', 'min', 'max', 'walls', 'faces']);
  const name = obj['name'] === undefined ? `volume${index}` : expectString(obj['name'], `${path}.name`, 'a name');
  const min = expectVec3(expectPresent(obj, 'min', path, 'lower corner [x, y, z] in cm'), `${path}.min`, 'lower corner');
  const max = expectVec3(expectPresent(obj, 'max', path, 'upper corner [x, y, z] in cm'), `${path}.max`, 'upper corner');
  for (let a = 0; a < 3; a++) {
    if (!(max[a]! > min[a]!)) {
      const axis = 'xyz'[a]!;
      fail(
        `${path}.max[${a}]`,
        max[a],
        `the ${axis} length max − min = ${max[a]! - min[a]!} cm is not positive (min[${a}] = ${min[a]})`,
        `make max.${axis} greater than min.${axis}`,
      );
    }
  }
  const volumeWall = obj['walls'] === undefined ? defaultWall : parseWall(obj['walls'], `${path}.walls`);
  const walls: WallModel[] = FACES.map(() => volumeWall);
  if (obj['faces'] !== undefined) {
    const faces = expectRecord(obj['faces'], `${path}.faces`, 'per-face wall models');
    expectKeys(faces, `${path}.faces`, FACES);
    for (const [i, face] of FACES.entries()) {
      if (faces[face] !== undefined) walls[i] = parseWall(faces[face], `${path}.faces["${face}"]`);
    }
  }
  return Object.freeze({ name, min, max, walls: Object.freeze(walls) });
}

function parsePhotodetector(value: unknown, path: string, index: number, volumes: readonly Volume[]): Photodetector {
  const obj = expectRecord(value, path, 'a photodetector');
  const shape = expectPresent(obj, 'shape', path, '"rectangle" or "disc"');
  if (shape !== 'rectangle' && shape !== 'disc') {
    fail(`${path}.shape`, shape, 'unknown photodetector shape', 'use "rectangle" or "disc"');
  }
  expectKeys(
    obj,
    path,
    shape === 'rectangle'
      ? ['name', 'volume', 'face', 'shape', 'center', 'size', 'efficiency']
      : ['name', 'volume', 'face', 'shape', 'center', 'radius', 'efficiency'],
  );
  const name = obj['name'] === undefined ? `pd${index}` : expectString(obj['name'], `${path}.name`, 'a name');
  const volumeRaw = expectPresent(obj, 'volume', path, 'index of the volume whose wall carries it');
  if (typeof volumeRaw !== 'number' || !Number.isInteger(volumeRaw) || volumeRaw < 0 || volumeRaw >= volumes.length) {
    fail(
      `${path}.volume`,
      volumeRaw,
      `expected a volume index (integer 0..${volumes.length - 1})`,
      `refer to one of the ${volumes.length} entries of "volumes" by its 0-based index`,
    );
  }
  const volume = volumes[volumeRaw]!;
  const face = expectFace(expectPresent(obj, 'face', path, 'wall, e.g. "x-"'), `${path}.face`);
  const axis = faceAxis(face);
  const [ua, va] = inPlaneAxes(axis);
  const centerIn = expectVec3(expectPresent(obj, 'center', path, 'centre [x, y, z] in cm'), `${path}.center`, 'centre');
  const efficiency = expectUnitInterval(
    expectPresent(obj, 'efficiency', path, 'detection probability 0..1'),
    `${path}.efficiency`,
    'efficiency',
  );

  const axisName = 'xyz'[axis]!;
  const plane = faceIsMax(face) ? volume.max[axis] : volume.min[axis];
  if (Math.abs(centerIn[axis] - plane) > PLANE_TOLERANCE_CM) {
    fail(
      `${path}.center`,
      centerIn,
      `centre is not on face "${face}" of volumes[${volumeRaw}] (the plane ${axisName} = ${plane} cm; ` +
        `off by ${centerIn[axis] - plane} cm)`,
      `set center[${axis}] to ${plane}, or choose the face the photodetector lies on`,
    );
  }
  // Snap onto the plane so that hit tests see an exactly coplanar detector.
  const center: [number, number, number] = [centerIn[0], centerIn[1], centerIn[2]];
  center[axis] = plane;

  // In-plane half extents along (u, v), for the "inside the face" check.
  let halfU: number;
  let halfV: number;
  let pd: Photodetector;
  const faceIdx = faceIndex(face);
  if (shape === 'rectangle') {
    const sizeRaw = expectPresent(obj, 'size', path, '[u, v] side lengths in cm');
    if (!Array.isArray(sizeRaw) || sizeRaw.length !== 2) {
      fail(
        `${path}.size`,
        sizeRaw,
        `expected [${'xyz'[ua]}, ${'xyz'[va]}] side lengths in cm (face "${face}" spans ${'xyz'[ua]} and ${'xyz'[va]})`,
        'write an array of two positive numbers',
      );
    }
    const su = expectPositive(sizeRaw[0], `${path}.size[0]`, `${'xyz'[ua]} side length`, 'cm');
    const sv = expectPositive(sizeRaw[1], `${path}.size[1]`, `${'xyz'[va]} side length`, 'cm');
    halfU = su / 2;
    halfV = sv / 2;
    pd = Object.freeze({
      name,
      volume: volumeRaw,
      face,
      faceIndex: faceIdx,
      axis,
      center: Object.freeze(center) as Vec3,
      efficiency,
      shape: 'rectangle',
      size: Object.freeze([su, sv] as const),
    });
  } else {
    const radius = expectPositive(expectPresent(obj, 'radius', path, 'radius in cm'), `${path}.radius`, 'radius', 'cm');
    halfU = radius;
    halfV = radius;
    pd = Object.freeze({
      name,
      volume: volumeRaw,
      face,
      faceIndex: faceIdx,
      axis,
      center: Object.freeze(center) as Vec3,
      efficiency,
      shape: 'disc',
      radius,
    });
  }
  for (const [k, a, half] of [
    [0, ua, halfU],
    [1, va, halfV],
  ] as const) {
    const lo = center[a] - half;
    const hi = center[a] + half;
    if (lo < volume.min[a] - PLANE_TOLERANCE_CM || hi > volume.max[a] + PLANE_TOLERANCE_CM) {
      const an = 'xyz'[a]!;
      fail(
        `${path}.${shape === 'rectangle' ? `size[${k}]` : 'radius'}`,
        shape === 'rectangle' ? 2 * half : half,
        `the photodetector spans ${an} ∈ [${lo}, ${hi}] cm, beyond face "${face}" of volumes[${volumeRaw}] ` +
          `(${an} ∈ [${volume.min[a]}, ${volume.max[a]}] cm)`,
        `shrink it or move center[${a}] so that it lies inside the face`,
      );
    }
  }
  return pd;
}

/** Do two photodetectors on the same face overlap with positive area? (Touching is allowed.) */
function photodetectorsOverlap(a: Photodetector, b: Photodetector): boolean {
  const [ua, va] = inPlaneAxes(a.axis);
  const du = b.center[ua] - a.center[ua];
  const dv = b.center[va] - a.center[va];
  const eps = 1e-9;
  if (a.shape === 'rectangle' && b.shape === 'rectangle') {
    return (
      Math.abs(du) < (a.size[0] + b.size[0]) / 2 - eps && Math.abs(dv) < (a.size[1] + b.size[1]) / 2 - eps
    );
  }
  if (a.shape === 'disc' && b.shape === 'disc') {
    return Math.hypot(du, dv) < a.radius + b.radius - eps;
  }
  const rect = (a.shape === 'rectangle' ? a : b) as RectanglePhotodetector;
  const disc = (a.shape === 'disc' ? a : b) as DiscPhotodetector;
  // Distance from the disc centre to the nearest point of the rectangle.
  const ex = Math.max(Math.abs(disc.center[ua] - rect.center[ua]) - rect.size[0] / 2, 0);
  const ey = Math.max(Math.abs(disc.center[va] - rect.center[va]) - rect.size[1] / 2, 0);
  return Math.hypot(ex, ey) < disc.radius - eps;
}

/**
 * Validate a detector description (the value of a parsed JSON file, or an
 * object literal typed as {@link DetectorSpec}) and resolve defaults.
 *
 * Rules: at least one volume; every volume has max > min on all axes;
 * volumes do not overlap (sharing a face is fine); every photodetector names
 * an existing volume and a face, its centre lies on that face's plane (within
 * {@link PLANE_TOLERANCE_CM}) and it does not extend beyond the face; sizes
 * and radii are positive; efficiencies and reflectivities lie in [0, 1];
 * photodetectors on one face do not overlap; optics lengths are positive (or
 * null to disable a process); unknown fields are rejected so that typos do not
 * pass silently.
 *
 * @throws InputValueError naming the offending field path
 */
export function validateDetector(value: unknown): Detector {
  const root = expectRecord(value, 'detector', 'a detector description');
  expectKeys(root, 'detector', ['name', 'units', 'volumes', 'walls', 'optics', 'photodetectors']);
  const name = root['name'] === undefined ? 'detector' : expectString(root['name'], 'name', 'a name');
  if (root['units'] !== undefined && root['units'] !== 'cm') {
    fail('units', root['units'], 'only centimetres are supported', 'remove "units" or set it to "cm"');
  }
  const defaultWall = root['walls'] === undefined ? DEFAULT_WALL : parseWall(root['walls'], 'walls');
  const volumesRaw = expectArray(expectPresent(root, 'volumes', 'detector', 'list of boxes'), 'volumes', 'the volumes');
  if (volumesRaw.length === 0) {
    fail('volumes', volumesRaw, 'no volume given', 'add at least one { "min": [..], "max": [..] } box');
  }
  const volumes = volumesRaw.map((v, i) => parseVolume(v, `volumes[${i}]`, i, defaultWall));
  for (let i = 0; i < volumes.length; i++) {
    for (let j = i + 1; j < volumes.length; j++) {
      const a = volumes[i]!;
      const b = volumes[j]!;
      let overlap = true;
      for (let k = 0; k < 3; k++) {
        if (Math.min(a.max[k]!, b.max[k]!) - Math.max(a.min[k]!, b.min[k]!) <= PLANE_TOLERANCE_CM) overlap = false;
      }
      if (overlap) {
        fail(
          `volumes[${j}]`,
          { min: b.min, max: b.max },
          `overlaps volumes[${i}] (min ${show(a.min)}, max ${show(a.max)})`,
          'volumes are optically independent boxes: make them disjoint (sharing a face is allowed)',
        );
      }
    }
  }
  const optics = parseOptics(root['optics'], 'optics');
  const pdsRaw = expectArray(
    expectPresent(root, 'photodetectors', 'detector', 'list of photodetectors (may be empty)'),
    'photodetectors',
    'the photodetectors',
  );
  const photodetectors = pdsRaw.map((p, i) => parsePhotodetector(p, `photodetectors[${i}]`, i, volumes));
  for (let i = 0; i < photodetectors.length; i++) {
    for (let j = i + 1; j < photodetectors.length; j++) {
      const a = photodetectors[i]!;
      const b = photodetectors[j]!;
      if (a.volume === b.volume && a.face === b.face && photodetectorsOverlap(a, b)) {
        fail(
          `photodetectors[${j}]`,
          b.center,
          `overlaps photodetectors[${i}] on face "${a.face}" of volumes[${a.volume}]`,
          'move or shrink one of them: a wall point may belong to at most one photodetector',
        );
      }
    }
  }
  return Object.freeze({
    name,
    volumes: Object.freeze(volumes),
    photodetectors: Object.freeze(photodetectors),
    optics,
  });
}

/**
 * Parse and validate a detector from JSON text (e.g. the content of
 * examples/detectors/*.json).
 *
 * @throws InputValueError on malformed JSON or any rule of {@link validateDetector}
 */
export function parseDetector(json: string): Detector {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (e: unknown) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new InputValueError(`detector JSON: malformed JSON (${msg}); fix the syntax of the detector file`);
  }
  return validateDetector(value);
}

/**
 * Index of the volume that contains `point` (closed box), or -1. When the
 * point is on a face shared by two volumes the first one listed wins.
 */
export function findVolume(detector: Detector, point: Vec3): number {
  for (const [i, v] of detector.volumes.entries()) {
    if (
      point[0] >= v.min[0] &&
      point[0] <= v.max[0] &&
      point[1] >= v.min[1] &&
      point[1] <= v.max[1] &&
      point[2] >= v.min[2] &&
      point[2] <= v.max[2]
    ) {
      return i;
    }
  }
  return -1;
}

/**
 * Return a copy of `detector` with some optics replaced (e.g. to switch off
 * scattering in a test). `null` / `Infinity` lengths disable the process.
 *
 * @throws InputValueError on invalid values (same rules as the JSON `optics`)
 */
export function withOptics(detector: Detector, optics: OpticsSpec): Detector {
  const merged = parseOptics({ ...detector.optics, ...optics }, 'optics');
  return Object.freeze({ ...detector, optics: merged });
}
