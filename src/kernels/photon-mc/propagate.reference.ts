/**
 * Float64 reference Monte Carlo propagator for liquid-argon scintillation
 * photons: the ground truth the WGSL kernel will be checked against.
 *
 * Each photon is emitted isotropically from its source at t = 0 and moves in
 * straight segments. Per segment two exponential free paths are drawn, to
 * Rayleigh scattering (mean `rayleighLengthCm`) and to bulk absorption (mean
 * `absorptionLengthCm`), and compared with the distance to the wall of its
 * volume along the current direction; the nearest of the three happens:
 *
 * - wall: if the hit point lies on a photodetector of that face, the photon
 *   is detected with the photodetector's efficiency, else absorbed by it;
 *   elsewhere the wall model applies (absorbed, or reflected specularly or
 *   diffusely with probability `reflectivity`).
 * - absorption: the photon ends, counted as absorbed in the bulk.
 * - scattering: new direction at polar angle θ to the old one with density
 *   ∝ 1 + cos²θ (unpolarised Rayleigh), uniform azimuth.
 *
 * A photon still alive after `maxSteps` segments is counted as lost. Volumes
 * are optically independent: every wall is opaque, a photon never crosses
 * into another volume (no optical contact between drift volumes).
 *
 * Random numbers: Philox4x32-10 with key (seed, source index) and counter
 * (photon index, step, lane, 0). Lane 2 at step 0 gives the emission
 * direction; lane 0 at step s the two free paths and the scattering angles;
 * lane 1 at step s the surface decisions. Because a photon's draws depend
 * only on (seed, source, photon, step), results are identical however the
 * photon range is split into chunks, and a GPU thread per photon can
 * reproduce every uniform bit for bit.
 *
 * Units: cm, ns.
 *
 * @module
 */

import { InputValueError, show } from '../../errors.js';
import { inPlaneAxes, type Axis, type Detector } from './detector.js';
import { philox4x32, u32ToUnit, u32ToUnitPositive } from './philox.js';
import { MAX_SOURCES, type SourceSet } from './sources.js';

/** Counter lane (third counter word) of the transport draws: free paths and scattering angles. */
export const LANE_TRANSPORT = 0;
/** Counter lane of the surface draws: detection / reflection decision and diffuse direction. */
export const LANE_SURFACE = 1;
/** Counter lane of the emission draws (used at step 0 only). */
export const LANE_EMISSION = 2;

/** Default cap on segments per photon before it is counted as lost. */
export const DEFAULT_MAX_STEPS = 1000;

/** Largest photon count per source: the photon index is one u32 counter word and counts are u32. */
export const MAX_PHOTONS_PER_SOURCE = 0xffffffff;

/** How a photon ended. Numeric codes, shared with the GPU kernel. */
export const PhotonFate = {
  /** Registered by a photodetector. */
  Detected: 0,
  /** Absorbed in the liquid (bulk absorption). */
  AbsorbedBulk: 1,
  /** Absorbed on a wall, including photodetectors that did not register it. */
  AbsorbedWall: 2,
  /** Still alive after `maxSteps` segments. */
  Lost: 3,
} as const;
/** One of the {@link PhotonFate} codes. */
export type PhotonFate = (typeof PhotonFate)[keyof typeof PhotonFate];

/** Binning of the arrival-time histogram (ns). */
export interface TimeHistogramSpec {
  /** Number of bins (≥ 1). */
  readonly bins: number;
  /** Bin width, ns (> 0). */
  readonly binWidthNs: number;
  /** Lower edge of bin 0, ns (default 0: emission time). */
  readonly startNs?: number;
}

/** Options of a propagation run. */
export interface PropagationOptions {
  /** Photons emitted per source, 1 ≤ N ≤ 2^32 − 1. */
  readonly photonsPerSource: number;
  /** u32 seed, first key word (default 0). */
  readonly seed?: number;
  /** Segments per photon before it is counted as lost (default {@link DEFAULT_MAX_STEPS}). */
  readonly maxSteps?: number;
  /** Record arrival times at each photodetector in this binning (default: none). */
  readonly timeHistogram?: TimeHistogramSpec;
}

/** A photon index range [start, end) processed for every source. */
export interface PhotonRange {
  readonly start: number;
  readonly end: number;
}

/** Arrival-time histograms, one per (source, photodetector). */
export interface TimeHistogram {
  readonly bins: number;
  readonly binWidthNs: number;
  readonly startNs: number;
  /** Counts at [(source·nPd + pd)·bins + bin]; bin b covers [start + b·width, start + (b+1)·width) ns. */
  readonly counts: Uint32Array;
  /** Detections earlier than `startNs`, at [source·nPd + pd]. */
  readonly underflow: Uint32Array;
  /** Detections at or after the end of the last bin, at [source·nPd + pd]. */
  readonly overflow: Uint32Array;
}

/**
 * Output of a propagation: integer counts, accumulated over chunks. For every
 * source, detectedTotal + absorbedBulk + absorbedWall + lost = emitted.
 */
export interface PropagationResult {
  readonly sourceCount: number;
  readonly photodetectorCount: number;
  readonly photonsPerSource: number;
  readonly seed: number;
  readonly maxSteps: number;
  /** Photons emitted so far per source (sum of the chunk lengths). */
  readonly emitted: Uint32Array;
  /** Detected photons at [source·nPd + pd]. */
  readonly detected: Uint32Array;
  /** Detected photons per source (sum over photodetectors). */
  readonly detectedTotal: Uint32Array;
  /** Photons absorbed in the liquid, per source. */
  readonly absorbedBulk: Uint32Array;
  /** Photons absorbed on walls (incl. photodetectors that did not register them), per source. */
  readonly absorbedWall: Uint32Array;
  /** Photons still alive after maxSteps segments, per source. */
  readonly lost: Uint32Array;
  /** Arrival-time histograms, or null when not requested. */
  readonly time: TimeHistogram | null;
}

// ---------------------------------------------------------------------------
// Sampling primitives (exported so that tests and the GPU port can use them).

const TWO_PI = 2 * Math.PI;

/** A writable 3-vector: a `[x, y, z]` tuple, a Float64Array view or `{0, 1, 2}`. */
export interface Vec3Out {
  0: number;
  1: number;
  2: number;
}

/**
 * cos θ of a Rayleigh scattering, density (3/8)(1 + cos²θ) on [−1, 1], by
 * exact inversion of the CDF.
 *
 * F(μ) = (3/8)(μ + μ³/3) + 1/2 = u  ⇔  μ³ + 3μ − 2q = 0 with q = 4u − 2.
 * The cubic is monotonic (one real root); with μ = 2 sinh w the identity
 * sinh 3w = 3 sinh w + 4 sinh³ w turns it into sinh 3w = q, so
 * μ = 2 sinh(asinh(q) / 3). This is exact, branch-free and has no
 * cancellation (unlike Cardano's sum of two cube roots for q < 0).
 *
 * @param u uniform in [0, 1]
 * @returns cos θ in [−1, 1]
 */
export function sampleRayleighCosTheta(u: number): number {
  const mu = 2 * Math.sinh(Math.asinh(4 * u - 2) / 3);
  return mu > 1 ? 1 : mu < -1 ? -1 : mu;
}

/**
 * Turn unit vector `d` by polar angle θ (given as cos θ) and azimuth φ about
 * itself, writing the unit result into `out` (may alias `d`).
 *
 * The frame (t1, t2, d) is the branch-light orthonormal basis of Duff et al.,
 * "Building an Orthonormal Basis, Revisited", JCGT 6(1) 2017: no special case
 * near the poles other than the sign of d_z.
 */
export function rotateDirection(
  d: Readonly<Vec3Out>,
  cosTheta: number,
  phi: number,
  out: Vec3Out,
): void {
  const dx = d[0];
  const dy = d[1];
  const dz = d[2];
  const sinTheta = Math.sqrt(Math.max(0, 1 - cosTheta * cosTheta));
  const cp = Math.cos(phi) * sinTheta;
  const sp = Math.sin(phi) * sinTheta;
  const s = dz >= 0 ? 1 : -1;
  const a = -1 / (s + dz);
  const b = dx * dy * a;
  // t1 = (1 + s·dx²·a, s·b, −s·dx), t2 = (b, s + dy²·a, −dy)
  let nx = cp * (1 + s * dx * dx * a) + sp * b + cosTheta * dx;
  let ny = cp * (s * b) + sp * (s + dy * dy * a) + cosTheta * dy;
  let nz = cp * (-s * dx) + sp * -dy + cosTheta * dz;
  // Renormalise so that rounding does not accumulate over many scatters.
  const inv = 1 / Math.sqrt(nx * nx + ny * ny + nz * nz);
  nx *= inv;
  ny *= inv;
  nz *= inv;
  out[0] = nx;
  out[1] = ny;
  out[2] = nz;
}

/**
 * Isotropic unit vector from two uniforms: cos θ = 1 − 2·u1 (u1 ∈ [0,1) gives
 * cos θ ∈ (−1, 1]), φ = 2π·u2.
 */
export function isotropicDirection(u1: number, u2: number, out: Vec3Out): void {
  const c = 1 - 2 * u1;
  const s = Math.sqrt(Math.max(0, 1 - c * c));
  const phi = TWO_PI * u2;
  out[0] = s * Math.cos(phi);
  out[1] = s * Math.sin(phi);
  out[2] = c;
}

/**
 * Lambertian (ideal diffuse) direction off a wall whose normal is `axis`:
 * cos θ = √u1 to the inward normal (density 2 cos θ sin θ, i.e. radiance
 * independent of angle), φ = 2π·u2 in the plane. `inwardSign` is +1 when the
 * inside of the box is on the + side of the wall (a "-" face), −1 otherwise.
 * With u1 ∈ (0, 1] the result always points strictly inward.
 */
export function lambertianDirection(
  axis: Axis,
  inwardSign: 1 | -1,
  u1: number,
  u2: number,
  out: Vec3Out,
): void {
  const c = Math.sqrt(u1);
  const s = Math.sqrt(Math.max(0, 1 - u1));
  const phi = TWO_PI * u2;
  const [ua, va] = inPlaneAxes(axis);
  out[axis] = inwardSign * c;
  out[ua] = s * Math.cos(phi);
  out[va] = s * Math.sin(phi);
}

// ---------------------------------------------------------------------------
// Geometry prepared for the inner loop: flat typed arrays.

const SHAPE_RECT = 0;
const SHAPE_DISC = 1;
const WALL_ABSORB = 0;
const WALL_SPECULAR = 1;
const WALL_LAMBERT = 2;

interface Prepared {
  /** min x, y, z, max x, y, z per volume. */
  readonly box: Float64Array;
  /** per (volume·6 + face): wall kind and reflectivity. */
  readonly wallKind: Uint8Array;
  readonly wallReflectivity: Float64Array;
  /** per (volume·6 + face): photodetector indices on it, as [start, end) into `faceList`. */
  readonly faceStart: Uint32Array;
  readonly faceList: Uint32Array;
  /** per photodetector: shape, in-plane centre (u, v), half sizes (rect) or r² (disc), efficiency. */
  readonly pdShape: Uint8Array;
  readonly pdU: Float64Array;
  readonly pdV: Float64Array;
  readonly pdA: Float64Array;
  readonly pdB: Float64Array;
  readonly pdEff: Float64Array;
  readonly rayleighLength: number;
  readonly absorptionLength: number;
  readonly invGroupVelocity: number;
}

function prepare(detector: Detector): Prepared {
  const nv = detector.volumes.length;
  const box = new Float64Array(6 * nv);
  const wallKind = new Uint8Array(6 * nv);
  const wallReflectivity = new Float64Array(6 * nv);
  for (const [i, v] of detector.volumes.entries()) {
    box.set(v.min, 6 * i);
    box.set(v.max, 6 * i + 3);
    for (let f = 0; f < 6; f++) {
      const w = v.walls[f]!;
      if (w.model === 'absorbing') {
        wallKind[6 * i + f] = WALL_ABSORB;
      } else {
        wallKind[6 * i + f] = w.reflection === 'specular' ? WALL_SPECULAR : WALL_LAMBERT;
        wallReflectivity[6 * i + f] = w.reflectivity;
      }
    }
  }
  const pds = detector.photodetectors;
  const np = pds.length;
  const pdShape = new Uint8Array(np);
  const pdU = new Float64Array(np);
  const pdV = new Float64Array(np);
  const pdA = new Float64Array(np);
  const pdB = new Float64Array(np);
  const pdEff = new Float64Array(np);
  const perFace: number[][] = Array.from({ length: 6 * nv }, () => []);
  for (const [i, p] of pds.entries()) {
    const [ua, va] = inPlaneAxes(p.axis);
    pdU[i] = p.center[ua];
    pdV[i] = p.center[va];
    pdEff[i] = p.efficiency;
    if (p.shape === 'rectangle') {
      pdShape[i] = SHAPE_RECT;
      pdA[i] = p.size[0] / 2;
      pdB[i] = p.size[1] / 2;
    } else {
      pdShape[i] = SHAPE_DISC;
      pdA[i] = p.radius * p.radius;
    }
    perFace[6 * p.volume + p.faceIndex]!.push(i);
  }
  const faceStart = new Uint32Array(6 * nv + 1);
  const faceList = new Uint32Array(np);
  let at = 0;
  for (let k = 0; k < 6 * nv; k++) {
    faceStart[k] = at;
    for (const i of perFace[k]!) faceList[at++] = i;
  }
  faceStart[6 * nv] = at;
  return {
    box,
    wallKind,
    wallReflectivity,
    faceStart,
    faceList,
    pdShape,
    pdU,
    pdV,
    pdA,
    pdB,
    pdEff,
    rayleighLength: detector.optics.rayleighLengthCm,
    absorptionLength: detector.optics.absorptionLengthCm,
    invGroupVelocity: detector.optics.inverseGroupVelocityNsPerCm,
  };
}

/** Final state of one photon, filled by {@link runPhoton}. */
interface PhotonEnd {
  fate: PhotonFate;
  /** Photodetector index when detected, else the one absorbing it or -1. */
  photodetector: number;
  /** Path length, cm. */
  path: number;
  /** Segments used. */
  steps: number;
  scatters: number;
  reflections: number;
  x: number;
  y: number;
  z: number;
}

const block = new Uint32Array(4);
const dir: [number, number, number] = [0, 0, 0];

/**
 * Propagate one photon. The hot loop keeps position and direction in locals;
 * `vertices`, when given, receives every vertex (emission, interactions, end).
 */
function runPhoton(
  g: Prepared,
  seed: number,
  source: number,
  photon: number,
  x0: number,
  y0: number,
  z0: number,
  volume: number,
  maxSteps: number,
  end: PhotonEnd,
  vertices: number[] | null,
): void {
  const box = g.box;
  const b6 = 6 * volume;
  const minX = box[b6]!;
  const minY = box[b6 + 1]!;
  const minZ = box[b6 + 2]!;
  const maxX = box[b6 + 3]!;
  const maxY = box[b6 + 4]!;
  const maxZ = box[b6 + 5]!;
  const lR = g.rayleighLength;
  const lA = g.absorptionLength;
  const scatterOn = Number.isFinite(lR);
  const absorbOn = Number.isFinite(lA);

  philox4x32(photon, 0, LANE_EMISSION, 0, seed, source, block);
  isotropicDirection(u32ToUnit(block[0]!), u32ToUnit(block[1]!), dir);
  let dx = dir[0];
  let dy = dir[1];
  let dz = dir[2];
  let x = x0;
  let y = y0;
  let z = z0;
  let path = 0;
  let scatters = 0;
  let reflections = 0;
  if (vertices) vertices.push(x, y, z);

  end.photodetector = -1;
  for (let step = 0; step < maxSteps; step++) {
    philox4x32(photon, step, LANE_TRANSPORT, 0, seed, source, block);
    // −ln(u) with u ∈ (0, 1] is finite and ≥ 0.
    const dS = scatterOn ? -Math.log(u32ToUnitPositive(block[0]!)) * lR : Infinity;
    const dA = absorbOn ? -Math.log(u32ToUnitPositive(block[1]!)) * lA : Infinity;

    // Distance to the wall along the direction: the first plane crossed.
    let tW = Infinity;
    let axis: Axis = 0;
    let atMax = false;
    if (dx > 0) {
      tW = (maxX - x) / dx;
      atMax = true;
    } else if (dx < 0) {
      tW = (minX - x) / dx;
    }
    if (dy !== 0) {
      const t = dy > 0 ? (maxY - y) / dy : (minY - y) / dy;
      if (t < tW) {
        tW = t;
        axis = 1;
        atMax = dy > 0;
      }
    }
    if (dz !== 0) {
      const t = dz > 0 ? (maxZ - z) / dz : (minZ - z) / dz;
      if (t < tW) {
        tW = t;
        axis = 2;
        atMax = dz > 0;
      }
    }
    if (tW < 0) tW = 0; // only from rounding when sitting on the wall

    if (tW <= dS && tW <= dA) {
      // Wall hit. Snap onto the plane and clamp the in-plane coordinates so
      // that rounding can never place the photon outside its box.
      x += tW * dx;
      y += tW * dy;
      z += tW * dz;
      x = x < minX ? minX : x > maxX ? maxX : x;
      y = y < minY ? minY : y > maxY ? maxY : y;
      z = z < minZ ? minZ : z > maxZ ? maxZ : z;
      if (axis === 0) x = atMax ? maxX : minX;
      else if (axis === 1) y = atMax ? maxY : minY;
      else z = atMax ? maxZ : minZ;
      path += tW;
      if (vertices) vertices.push(x, y, z);

      philox4x32(photon, step, LANE_SURFACE, 0, seed, source, block);
      const uDecide = u32ToUnit(block[0]!);
      const face = 2 * axis + (atMax ? 1 : 0);
      const fk = b6 + face;
      // In-plane coordinates (u, v) of the hit, axes as in inPlaneAxes.
      const hu = axis === 0 ? y : x;
      const hv = axis === 2 ? y : z;
      let hit = -1;
      for (let k = g.faceStart[fk]!, e = g.faceStart[fk + 1]!; k < e; k++) {
        const p = g.faceList[k]!;
        const du = hu - g.pdU[p]!;
        const dv = hv - g.pdV[p]!;
        if (g.pdShape[p] === SHAPE_RECT) {
          if (Math.abs(du) <= g.pdA[p]! && Math.abs(dv) <= g.pdB[p]!) {
            hit = p;
            break;
          }
        } else if (du * du + dv * dv <= g.pdA[p]!) {
          hit = p;
          break;
        }
      }
      if (hit >= 0) {
        // A photodetector either registers the photon or absorbs it: no
        // reflection off photodetectors is modelled.
        end.photodetector = hit;
        end.fate = uDecide < g.pdEff[hit]! ? PhotonFate.Detected : PhotonFate.AbsorbedWall;
        end.steps = step + 1;
        break;
      }
      const kind = g.wallKind[fk]!;
      if (kind === WALL_ABSORB || !(uDecide < g.wallReflectivity[fk]!)) {
        end.fate = PhotonFate.AbsorbedWall;
        end.steps = step + 1;
        break;
      }
      reflections++;
      if (kind === WALL_SPECULAR) {
        if (axis === 0) dx = -dx;
        else if (axis === 1) dy = -dy;
        else dz = -dz;
      } else {
        lambertianDirection(axis, atMax ? -1 : 1, u32ToUnitPositive(block[1]!), u32ToUnit(block[2]!), dir);
        dx = dir[0];
        dy = dir[1];
        dz = dir[2];
      }
    } else if (dA < dS) {
      x += dA * dx;
      y += dA * dy;
      z += dA * dz;
      path += dA;
      if (vertices) vertices.push(x, y, z);
      end.fate = PhotonFate.AbsorbedBulk;
      end.steps = step + 1;
      break;
    } else {
      x += dS * dx;
      y += dS * dy;
      z += dS * dz;
      path += dS;
      if (vertices) vertices.push(x, y, z);
      scatters++;
      dir[0] = dx;
      dir[1] = dy;
      dir[2] = dz;
      rotateDirection(dir, sampleRayleighCosTheta(u32ToUnit(block[2]!)), TWO_PI * u32ToUnit(block[3]!), dir);
      dx = dir[0];
      dy = dir[1];
      dz = dir[2];
    }
    if (step === maxSteps - 1) {
      end.fate = PhotonFate.Lost;
      end.steps = maxSteps;
    }
  }
  end.path = path;
  end.scatters = scatters;
  end.reflections = reflections;
  end.x = x;
  end.y = y;
  end.z = z;
}

// ---------------------------------------------------------------------------
// Validation of the run arguments.

function checkU32(value: unknown, path: string, min: number, what: string, fix: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > 0xffffffff) {
    throw new InputValueError(`${path}: ${what} must be an integer in [${min}, 4294967295], got ${show(value)}; ${fix}`);
  }
  return value;
}

interface Resolved {
  readonly photonsPerSource: number;
  readonly seed: number;
  readonly maxSteps: number;
  readonly time: { bins: number; binWidthNs: number; startNs: number } | null;
}

function resolveOptions(options: PropagationOptions): Resolved {
  if (typeof options !== 'object' || options === null) {
    throw new InputValueError(`options: expected an object, got ${show(options)}; pass { photonsPerSource, ... }`);
  }
  const n = options.photonsPerSource;
  if (n === 0) {
    throw new InputValueError('options.photonsPerSource: zero photons requested, got 0; ask for at least 1 photon per source');
  }
  const photonsPerSource = checkU32(n, 'options.photonsPerSource', 1, 'photons per source', 'ask for 1 ≤ N ≤ 2^32 − 1 photons');
  const seed = checkU32(options.seed ?? 0, 'options.seed', 0, 'the seed', 'use an unsigned 32-bit integer');
  const maxSteps = checkU32(
    options.maxSteps ?? DEFAULT_MAX_STEPS,
    'options.maxSteps',
    1,
    'the step limit',
    'allow at least one segment per photon',
  );
  let time: Resolved['time'] = null;
  const th = options.timeHistogram;
  if (th !== undefined) {
    if (typeof th !== 'object' || th === null) {
      throw new InputValueError(
        `options.timeHistogram: expected { bins, binWidthNs, startNs? }, got ${show(th)}; pass an object or omit it`,
      );
    }
    const bins = checkU32(th.bins, 'options.timeHistogram.bins', 1, 'the bin count', 'ask for at least one bin');
    if (typeof th.binWidthNs !== 'number' || !Number.isFinite(th.binWidthNs) || !(th.binWidthNs > 0)) {
      throw new InputValueError(
        `options.timeHistogram.binWidthNs: bin width must be a positive number of ns, got ${show(th.binWidthNs)}; give e.g. 1`,
      );
    }
    const startNs = th.startNs ?? 0;
    if (typeof startNs !== 'number' || !Number.isFinite(startNs)) {
      throw new InputValueError(
        `options.timeHistogram.startNs: expected a finite time in ns, got ${show(startNs)}; give e.g. 0`,
      );
    }
    time = { bins, binWidthNs: th.binWidthNs, startNs };
  }
  return { photonsPerSource, seed, maxSteps, time };
}

function checkSources(detector: Detector, sources: SourceSet): void {
  const n = sources.count;
  if (!Number.isInteger(n) || n < 1 || n > MAX_SOURCES) {
    throw new InputValueError(`sources.count: expected 1..${MAX_SOURCES} sources, got ${show(n)}; give at least one source`);
  }
  if (sources.positions.length !== 3 * n || sources.volumes.length !== n) {
    throw new InputValueError(
      `sources: ${n} sources need ${3 * n} coordinates and ${n} volume indices, got ` +
        `${sources.positions.length} and ${sources.volumes.length}; build the set with gridSources or pointSources`,
    );
  }
  for (let i = 0; i < n; i++) {
    const v = detector.volumes[sources.volumes[i]!];
    if (v === undefined) {
      throw new InputValueError(
        `sources.volumes[${i}]: no volume ${sources.volumes[i]} in detector "${detector.name}"; ` +
          `give an index 0..${detector.volumes.length - 1}`,
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

/**
 * An empty result (all counts zero) to accumulate chunks into.
 *
 * @throws InputValueError for invalid options or sources
 */
export function createPropagationResult(
  detector: Detector,
  sources: SourceSet,
  options: PropagationOptions,
): PropagationResult {
  const o = resolveOptions(options);
  checkSources(detector, sources);
  const ns = sources.count;
  const np = detector.photodetectors.length;
  return {
    sourceCount: ns,
    photodetectorCount: np,
    photonsPerSource: o.photonsPerSource,
    seed: o.seed,
    maxSteps: o.maxSteps,
    emitted: new Uint32Array(ns),
    detected: new Uint32Array(ns * np),
    detectedTotal: new Uint32Array(ns),
    absorbedBulk: new Uint32Array(ns),
    absorbedWall: new Uint32Array(ns),
    lost: new Uint32Array(ns),
    time:
      o.time === null
        ? null
        : {
            bins: o.time.bins,
            binWidthNs: o.time.binWidthNs,
            startNs: o.time.startNs,
            counts: new Uint32Array(ns * np * o.time.bins),
            underflow: new Uint32Array(ns * np),
            overflow: new Uint32Array(ns * np),
          },
  };
}

/**
 * Propagate photons [range.start, range.end) of every source and add the
 * counts into `into` (created with {@link createPropagationResult} from the
 * same detector, sources and options; a new one when omitted). Running
 * disjoint ranges that cover [0, photonsPerSource) gives exactly the result
 * of one {@link propagateReference} call, whatever the split.
 *
 * @returns `into`
 * @throws InputValueError for an empty or out-of-bounds range, a result built
 *   for other options, or a range that would emit more than photonsPerSource
 */
export function propagateChunk(
  detector: Detector,
  sources: SourceSet,
  options: PropagationOptions,
  range: PhotonRange,
  into?: PropagationResult,
): PropagationResult {
  const o = resolveOptions(options);
  checkSources(detector, sources);
  const result = into ?? createPropagationResult(detector, sources, options);
  if (
    result.sourceCount !== sources.count ||
    result.photodetectorCount !== detector.photodetectors.length ||
    result.photonsPerSource !== o.photonsPerSource ||
    result.seed !== o.seed ||
    result.maxSteps !== o.maxSteps ||
    (result.time === null) !== (o.time === null) ||
    (result.time !== null &&
      o.time !== null &&
      (result.time.bins !== o.time.bins ||
        result.time.binWidthNs !== o.time.binWidthNs ||
        result.time.startNs !== o.time.startNs))
  ) {
    throw new InputValueError(
      'into: the result was created for other sources, photodetectors or options; ' +
        'create it with createPropagationResult(detector, sources, options) using the same arguments',
    );
  }
  const { start, end } = range;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > o.photonsPerSource || end < start) {
    throw new InputValueError(
      `range: expected integers 0 ≤ start ≤ end ≤ ${o.photonsPerSource}, got [${show(start)}, ${show(end)}); ` +
        'give a photon range inside [0, photonsPerSource)',
    );
  }
  if (end === start) {
    throw new InputValueError(
      `range: zero photons requested, got [${start}, ${end}); give a range with end > start`,
    );
  }
  for (let s = 0; s < sources.count; s++) {
    if (result.emitted[s]! + (end - start) > o.photonsPerSource) {
      throw new InputValueError(
        `range: source ${s} would emit ${result.emitted[s]! + (end - start)} photons, more than photonsPerSource = ` +
          `${o.photonsPerSource}; run each photon range once`,
      );
    }
  }

  const g = prepare(detector);
  const np = detector.photodetectors.length;
  const t = result.time;
  const inv = g.invGroupVelocity;
  const endState: PhotonEnd = {
    fate: PhotonFate.Lost,
    photodetector: -1,
    path: 0,
    steps: 0,
    scatters: 0,
    reflections: 0,
    x: 0,
    y: 0,
    z: 0,
  };
  const pos = sources.positions;
  for (let s = 0; s < sources.count; s++) {
    const x0 = pos[3 * s]!;
    const y0 = pos[3 * s + 1]!;
    const z0 = pos[3 * s + 2]!;
    const vol = sources.volumes[s]!;
    let det = 0;
    let bulk = 0;
    let wall = 0;
    let lost = 0;
    for (let p = start; p < end; p++) {
      runPhoton(g, o.seed, s, p, x0, y0, z0, vol, o.maxSteps, endState, null);
      switch (endState.fate) {
        case PhotonFate.Detected: {
          det++;
          const k = s * np + endState.photodetector;
          result.detected[k]!++;
          if (t !== null) {
            const time = endState.path * inv;
            const bin = Math.floor((time - t.startNs) / t.binWidthNs);
            if (bin < 0) t.underflow[k]!++;
            else if (bin >= t.bins) t.overflow[k]!++;
            else t.counts[k * t.bins + bin]!++;
          }
          break;
        }
        case PhotonFate.AbsorbedBulk:
          bulk++;
          break;
        case PhotonFate.AbsorbedWall:
          wall++;
          break;
        default:
          lost++;
      }
    }
    result.emitted[s]! += end - start;
    result.detectedTotal[s]! += det;
    result.absorbedBulk[s]! += bulk;
    result.absorbedWall[s]! += wall;
    result.lost[s]! += lost;
  }
  return result;
}

/**
 * Propagate `photonsPerSource` photons from every source. With `chunkSize`
 * the photon range is processed in pieces (same result, shown by tests).
 *
 * @param chunkSize photons per chunk (default: all at once)
 * @throws InputValueError for invalid options, sources or chunk size
 */
export function propagateReference(
  detector: Detector,
  sources: SourceSet,
  options: PropagationOptions,
  chunkSize?: number,
): PropagationResult {
  const result = createPropagationResult(detector, sources, options);
  const n = result.photonsPerSource;
  const size = chunkSize ?? n;
  if (!Number.isInteger(size) || size < 1) {
    throw new InputValueError(`chunkSize: expected a positive integer, got ${show(chunkSize)}; give e.g. 65536`);
  }
  for (let start = 0; start < n; start += size) {
    propagateChunk(detector, sources, options, { start, end: Math.min(n, start + size) }, result);
  }
  return result;
}

/**
 * Visibility: detected / emitted at [source·nPd + pd], the probability that
 * a photon emitted at the source is registered by the photodetector
 * (efficiency included). Its binomial standard error is
 * √(v(1 − v)/emitted).
 */
export function visibility(result: PropagationResult): Float64Array {
  const np = result.photodetectorCount;
  const out = new Float64Array(result.sourceCount * np);
  for (let s = 0; s < result.sourceCount; s++) {
    const e = result.emitted[s]!;
    for (let p = 0; p < np; p++) out[s * np + p] = e > 0 ? result.detected[s * np + p]! / e : 0;
  }
  return out;
}

/** Full history of one photon, for debugging and for checking the GPU kernel photon by photon. */
export interface PhotonTrace {
  readonly fate: 'detected' | 'absorbedBulk' | 'absorbedWall' | 'lost';
  /** Numeric fate ({@link PhotonFate}). */
  readonly fateCode: PhotonFate;
  /** Photodetector that registered (or absorbed) the photon, else -1. */
  readonly photodetector: number;
  /** Total path length, cm. */
  readonly pathCm: number;
  /** Arrival (or end) time = path · 1/v_g, ns. */
  readonly timeNs: number;
  /** Segments used. */
  readonly steps: number;
  readonly scatters: number;
  readonly reflections: number;
  /** Vertices x, y, z: emission point, each interaction, end point. */
  readonly vertices: Float64Array;
}

const FATE_NAMES = ['detected', 'absorbedBulk', 'absorbedWall', 'lost'] as const;

/**
 * Propagate a single photon (the same draws it gets inside
 * {@link propagateChunk}) and return its history.
 *
 * @throws InputValueError for invalid options, sources or indices
 */
export function tracePhoton(
  detector: Detector,
  sources: SourceSet,
  options: PropagationOptions,
  source: number,
  photon: number,
): PhotonTrace {
  const o = resolveOptions(options);
  checkSources(detector, sources);
  if (!Number.isInteger(source) || source < 0 || source >= sources.count) {
    throw new InputValueError(`source: expected an index 0..${sources.count - 1}, got ${show(source)}; pick an existing source`);
  }
  if (!Number.isInteger(photon) || photon < 0 || photon >= o.photonsPerSource) {
    throw new InputValueError(
      `photon: expected an index 0..${o.photonsPerSource - 1}, got ${show(photon)}; pick a photon below photonsPerSource`,
    );
  }
  const g = prepare(detector);
  const end: PhotonEnd = {
    fate: PhotonFate.Lost,
    photodetector: -1,
    path: 0,
    steps: 0,
    scatters: 0,
    reflections: 0,
    x: 0,
    y: 0,
    z: 0,
  };
  const vertices: number[] = [];
  const p = sources.positions;
  runPhoton(g, o.seed, source, photon, p[3 * source]!, p[3 * source + 1]!, p[3 * source + 2]!, sources.volumes[source]!, o.maxSteps, end, vertices);
  return {
    fate: FATE_NAMES[end.fate],
    fateCode: end.fate,
    photodetector: end.photodetector,
    pathCm: end.path,
    timeNs: end.path * g.invGroupVelocity,
    steps: end.steps,
    scatters: end.scatters,
    reflections: end.reflections,
    vertices: Float64Array.from(vertices),
  };
}
