/**
 * Single-drift-volume detector geometry: which axis electrons drift along,
 * where the anode (pixel plane) and cathode are, and the pixel grid.
 *
 * Conventions (used by every drift module):
 * - The drift axis `w` is one of x, y, z. larnd-sim drifts along its internal
 *   z after swapping the x and z columns of the edep-sim input
 *   (`swap_coordinates` in `cli/simulate_pixels.py`), i.e. along x of the
 *   detector/edep-sim frame. Use `driftAxis: 'x'` for raw edep-sim segments,
 *   `'z'` (the default) for larnd-sim's internal frame.
 * - The two transverse axes (u, v) are the remaining ones in increasing order:
 *   drift x → (u, v) = (y, z); drift y → (x, z); drift z → (x, y). Pixel
 *   indices `pixelX`, `pixelY` count along u and v respectively.
 * - Pixel (i, j) covers u ∈ [u0 + i·p, u0 + (i+1)·p), v ∈ [v0 + j·p, v0 + (j+1)·p)
 *   with (u0, v0) = `pixelOrigin_cm`, p = `pixelPitch_cm`; 0 ≤ i < nPixels[0],
 *   0 ≤ j < nPixels[1].
 * - Tick k covers arrival times [k·tick, (k+1)·tick) µs; ticks are unbounded
 *   integers (negative for t < 0).
 * - The active volume is the box spanned by the pixel plane and the
 *   anode–cathode gap; the drift distance of a point is its distance to the
 *   anode plane, d = s·(w − anode) with s = sign(cathode − anode).
 *
 * @module
 */

import { checkOptionKeys, InputValueError, show } from '../../errors.js';
import { DRIFT_LENGTH_2X2_CM, PIXEL_PITCH_CM, TIME_TICK_US } from './constants.js';

/** A Cartesian axis name. */
export type Axis = 'x' | 'y' | 'z';

/** Axis index 0, 1, 2. */
export type AxisIndex = 0 | 1 | 2;

/** Single drift volume with a pixelated anode. All lengths cm, times µs. */
export interface DetectorGeometry {
  /** Axis along which electrons drift; the anode plane is perpendicular to it. */
  readonly driftAxis: Axis;
  /** Coordinate of the anode (pixel) plane along the drift axis, cm. */
  readonly anode_cm: number;
  /** Coordinate of the cathode along the drift axis, cm (≠ anode). */
  readonly cathode_cm: number;
  /** (u, v) of the lower corner of pixel (0, 0), cm. */
  readonly pixelOrigin_cm: readonly [number, number];
  /** Number of pixels along u and v. */
  readonly nPixels: readonly [number, number];
  /** Pixel pitch, cm (LArPix: 0.4434). */
  readonly pixelPitch_cm: number;
  /** Time tick, µs (LArPix: 0.1). */
  readonly tick_us: number;
}

/**
 * Default: a 2×2-module-like TPC drifting along z (larnd-sim internal frame):
 * anode at z = 0, cathode at z = 30.27225 cm (`2x2.yaml` drift_length), a
 * 70 × 70 grid of 4.434 mm pixels (31.04 cm square) from (x, y) = (0, 0), 0.1 µs ticks.
 */
/** The fields of a {@link DetectorGeometry}, for option-key checks (a Record, so the compiler insists on every field). */
const GEOMETRY_FIELDS: Record<keyof DetectorGeometry, true> = {
  driftAxis: true,
  anode_cm: true,
  cathode_cm: true,
  pixelOrigin_cm: true,
  nPixels: true,
  pixelPitch_cm: true,
  tick_us: true,
};
const GEOMETRY_KEYS = Object.keys(GEOMETRY_FIELDS);

export function defaultGeometry(overrides: Partial<DetectorGeometry> = {}): DetectorGeometry {
  checkOptionKeys('defaultGeometry overrides', overrides, GEOMETRY_KEYS);
  const g: DetectorGeometry = {
    driftAxis: 'z',
    anode_cm: 0,
    cathode_cm: DRIFT_LENGTH_2X2_CM,
    pixelOrigin_cm: [0, 0],
    nPixels: [70, 70],
    pixelPitch_cm: PIXEL_PITCH_CM,
    tick_us: TIME_TICK_US,
    ...overrides,
  };
  validateGeometry(g);
  return g;
}

/** Throw {@link InputValueError} if the geometry is not usable. */
export function validateGeometry(g: DetectorGeometry, what = 'geometry'): void {
  checkOptionKeys(what, g, GEOMETRY_KEYS);
  if (g.driftAxis !== 'x' && g.driftAxis !== 'y' && g.driftAxis !== 'z') {
    throw new InputValueError(`${what}.driftAxis = ${show(g.driftAxis)}; use 'x', 'y' or 'z'`);
  }
  for (const [name, v] of [
    ['anode_cm', g.anode_cm],
    ['cathode_cm', g.cathode_cm],
    ['pixelOrigin_cm[0]', g.pixelOrigin_cm[0]],
    ['pixelOrigin_cm[1]', g.pixelOrigin_cm[1]],
  ] as const) {
    if (!Number.isFinite(v)) throw new InputValueError(`${what}.${name} = ${show(v)} must be a finite coordinate in cm`);
  }
  if (g.anode_cm === g.cathode_cm) {
    throw new InputValueError(`${what}: anode_cm = cathode_cm = ${g.anode_cm}; the drift gap must have non-zero length`);
  }
  if (!(g.pixelPitch_cm > 0) || !Number.isFinite(g.pixelPitch_cm)) {
    throw new InputValueError(`${what}.pixelPitch_cm = ${show(g.pixelPitch_cm)} must be a positive length in cm (LArPix: 0.4434)`);
  }
  if (!(g.tick_us > 0) || !Number.isFinite(g.tick_us)) {
    throw new InputValueError(`${what}.tick_us = ${show(g.tick_us)} must be a positive time in µs (LArPix: 0.1)`);
  }
  for (const k of [0, 1] as const) {
    const n = g.nPixels[k];
    if (!Number.isInteger(n) || n! < 1 || n! > 65535) {
      throw new InputValueError(`${what}.nPixels[${k}] = ${show(n)} must be an integer in [1, 65535]`);
    }
  }
}

/** 0 for 'x', 1 for 'y', 2 for 'z'. */
export function axisIndex(a: Axis): AxisIndex {
  return a === 'x' ? 0 : a === 'y' ? 1 : 2;
}

/** Indices of (u, v, w) in xyz for this geometry: transverse axes in increasing order, then the drift axis. */
export function uvwAxes(g: DetectorGeometry): readonly [AxisIndex, AxisIndex, AxisIndex] {
  switch (g.driftAxis) {
    case 'x':
      return [1, 2, 0];
    case 'y':
      return [0, 2, 1];
    case 'z':
      return [0, 1, 2];
  }
}

/** +1 if the cathode lies at larger drift coordinate than the anode, else −1. */
export function driftSign(g: DetectorGeometry): 1 | -1 {
  return g.cathode_cm > g.anode_cm ? 1 : -1;
}

/** Axis-aligned active box in (x, y, z), cm: pixel-plane extent × anode–cathode gap. */
export function activeBox(g: DetectorGeometry): { min: [number, number, number]; max: [number, number, number] } {
  const [iu, iv, iw] = uvwAxes(g);
  const min: [number, number, number] = [0, 0, 0];
  const max: [number, number, number] = [0, 0, 0];
  min[iu] = g.pixelOrigin_cm[0];
  max[iu] = g.pixelOrigin_cm[0] + g.nPixels[0] * g.pixelPitch_cm;
  min[iv] = g.pixelOrigin_cm[1];
  max[iv] = g.pixelOrigin_cm[1] + g.nPixels[1] * g.pixelPitch_cm;
  min[iw] = Math.min(g.anode_cm, g.cathode_cm);
  max[iw] = Math.max(g.anode_cm, g.cathode_cm);
  return { min, max };
}

/** Result of clipping a segment S→E to a box, as parameters along S + t·(E − S). */
export interface ClipResult {
  /** 0 fully inside, 1 partially inside (clipped), 2 fully outside. */
  status: 0 | 1 | 2;
  /** Entry parameter in [0, 1]. */
  tEnter: number;
  /** Exit parameter in [0, 1]. */
  tExit: number;
  /** Axis (0..2) whose box face sets tEnter, or −1 if tEnter = 0 (start inside). */
  enterAxis: number;
  /** Axis whose face sets tExit, or −1 if tExit = 1 (end inside). */
  exitAxis: number;
}

/**
 * Liang–Barsky clip of the segment S→E against the closed box [min, max].
 * A zero-length segment is inside iff its point is in the closed box.
 * The entry/exit parameters are piecewise-smooth in S and E: for the active
 * face b on axis k, t = (b − S_k)/(E_k − S_k), so ∂t/∂S_k = (t − 1)/D_k and
 * ∂t/∂E_k = −t/D_k (used by the readout backward).
 */
export function clipSegment(
  S: readonly number[],
  E: readonly number[],
  min: readonly number[],
  max: readonly number[],
): ClipResult {
  let tEnter = 0;
  let tExit = 1;
  let enterAxis = -1;
  let exitAxis = -1;
  for (let k = 0; k < 3; k++) {
    const s = S[k]!;
    const d = E[k]! - s;
    const lo = min[k]!;
    const hi = max[k]!;
    if (d === 0) {
      if (s < lo || s > hi) return { status: 2, tEnter: 0, tExit: 0, enterAxis: -1, exitAxis: -1 };
      continue;
    }
    const ta = (lo - s) / d;
    const tb = (hi - s) / d;
    const t0 = Math.min(ta, tb);
    const t1 = Math.max(ta, tb);
    if (t0 > tEnter) {
      tEnter = t0;
      enterAxis = k;
    }
    if (t1 < tExit) {
      tExit = t1;
      exitAxis = k;
    }
  }
  // Fully outside, or only grazing a face, edge or corner (zero length inside).
  // (A zero-length segment never gets here with tExit ≤ tEnter: it has no
  // axis with d ≠ 0, so it keeps tEnter = 0, tExit = 1 or returned above.)
  if (tExit <= tEnter) return { status: 2, tEnter: 0, tExit: 0, enterAxis: -1, exitAxis: -1 };
  const status = enterAxis === -1 && exitAxis === -1 ? 0 : 1;
  return { status, tEnter, tExit, enterAxis, exitAxis };
}
