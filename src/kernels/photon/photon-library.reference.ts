/**
 * Float64 reference of a voxelised photon library (visibility look-up table)
 * and its trilinear interpolation, positional gradient and adjoint.
 *
 * Layout: `data` is row-major [nx, ny, nz, numPhotodetectors], x slowest and
 * photodetector fastest: entry (ix, iy, iz, d) is at
 * ((ix·ny + iy)·nz + iz)·numPD + d. Voxel (ix, iy, iz) spans
 * [min + i·Δ, min + (i+1)·Δ) with Δ = (max − min)/n per axis, and its value
 * belongs to the voxel centre c_i = min + (i + ½)Δ.
 *
 * Interpolation: with continuous index t = (p − min)/Δ − ½, the value is
 * trilinear between the eight surrounding centres. Between the box face and
 * the outermost centre (t < 0 or t > n − 1) t is clamped to the centre lattice,
 * so the value is held constant up to the face. Points outside the box throw
 * unless clamping is asked for.
 *
 * Derivative: the interpolant is piecewise linear along each axis with kinks
 * on centre planes. ∂V/∂p_a is defined everywhere as the right derivative
 * (limit from increasing p_a): at an interior centre plane it is the slope of
 * the cell above; at the first centre (t = 0) it is the slope of cell 0; at
 * the last centre (t = n − 1) and in the clamped margins it is 0.
 *
 * @module
 */

import { InputValueError, show } from '../../errors.js';
import { type Box3, requireBox, requireFinite, requireInsideBox, requireInteger, requireLength, rowsOf } from './checks.js';
import type { OutsidePolicy } from './visibility.reference.js';

/** Geometry and size of a photon library. Lengths are in cm. */
export interface PhotonLibraryMeta extends Box3 {
  /** Voxel counts [nx, ny, nz]. */
  readonly shape: readonly [number, number, number];
  /** Photodetectors (PMTs / light-collection modules) per voxel. */
  readonly numPhotodetectors: number;
}

/** A validated table. */
export interface PhotonLibrary {
  readonly meta: PhotonLibraryMeta;
  /** Visibilities, [nx, ny, nz, numPhotodetectors], x slowest, PD fastest. */
  readonly data: Float32Array;
}

/** Throws unless meta has three positive voxel counts, a valid box and ≥ 1 photodetector. */
export function validatePhotonLibraryMeta(meta: PhotonLibraryMeta): void {
  if (meta.shape.length !== 3) {
    throw new InputValueError(`meta.shape must be [nx, ny, nz], got ${meta.shape.length} entries.`);
  }
  meta.shape.forEach((n, a) => requireInteger(n, `meta.shape[${a}]`, 1));
  requireBox(meta, 'meta');
  requireInteger(meta.numPhotodetectors, 'meta.numPhotodetectors', 1);
}

/** nx·ny·nz·numPhotodetectors. */
export function photonLibraryLength(meta: PhotonLibraryMeta): number {
  return meta.shape[0] * meta.shape[1] * meta.shape[2] * meta.numPhotodetectors;
}

/**
 * Validates and wraps a table.
 *
 * @param data visibilities [nx, ny, nz, numPD] (see module docs for the order)
 * @throws InputValueError when `data.length` differs from nx·ny·nz·numPD (both numbers named) or meta is invalid
 */
export function createPhotonLibrary(meta: PhotonLibraryMeta, data: Float32Array): PhotonLibrary {
  validatePhotonLibraryMeta(meta);
  const expected = photonLibraryLength(meta);
  if (data.length !== expected) {
    const [nx, ny, nz] = meta.shape;
    throw new InputValueError(
      `data.length is ${data.length} but meta describes ${nx}·${ny}·${nz} voxels × ${meta.numPhotodetectors} ` +
        `photodetectors = ${expected} values; the table must be laid out [nx, ny, nz, numPhotodetectors].`,
    );
  }
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!(v >= 0) || v === Infinity) {
      const pd = i % meta.numPhotodetectors;
      const voxel = (i - pd) / meta.numPhotodetectors;
      throw new InputValueError(`createPhotonLibrary: data[${i}] (voxel ${voxel}, photodetector ${pd}) = ${show(v)}; visibilities must be finite and ≥ 0`);
    }
  }
  return { meta, data };
}

/** Voxel edge lengths Δ = (max − min)/n per axis, cm. */
export function voxelSize(meta: PhotonLibraryMeta): [number, number, number] {
  return [0, 1, 2].map((a) => (meta.max[a]! - meta.min[a]!) / meta.shape[a]!) as [number, number, number];
}

/** Flat offset of (ix, iy, iz, pd) in `data`. */
export function photonLibraryOffset(meta: PhotonLibraryMeta, ix: number, iy: number, iz: number, pd = 0): number {
  return ((ix * meta.shape[1] + iy) * meta.shape[2] + iz) * meta.numPhotodetectors + pd;
}

/** Centre of voxel (ix, iy, iz) in cm. */
export function voxelCenter(meta: PhotonLibraryMeta, ix: number, iy: number, iz: number): [number, number, number] {
  const d = voxelSize(meta);
  const idx = [ix, iy, iz];
  return [0, 1, 2].map((a) => meta.min[a]! + (idx[a]! + 0.5) * d[a]!) as [number, number, number];
}

/** Interpolation stencil along one axis. */
interface AxisStencil {
  i0: number;
  i1: number;
  /** Weight of i1 (1 − f for i0). */
  f: number;
  /** ∂f/∂p in cm⁻¹ under the right-derivative convention. */
  dfdp: number;
}

function axisStencil(p: number, lo: number, hi: number, n: number): AxisStencil {
  if (n === 1) return { i0: 0, i1: 0, f: 0, dfdp: 0 };
  const delta = (hi - lo) / n;
  const t = (p - lo) / delta - 0.5;
  const tc = Math.min(n - 1, Math.max(0, t));
  const i0 = Math.min(Math.floor(tc), n - 2);
  const inBox = p >= lo && p <= hi;
  return { i0, i1: i0 + 1, f: tc - i0, dfdp: inBox && t >= 0 && t < n - 1 ? 1 / delta : 0 };
}

function checkPoints(lib: PhotonLibrary, points: ArrayLike<number>, outside: OutsidePolicy): number {
  const n = rowsOf(points, 3, 'points', '[N, 3]');
  if (outside === 'error') {
    requireInsideBox(
      points,
      lib.meta,
      'points',
      "the photon library only covers its box; move the point inside or pass outside = 'clamp'.",
    );
  } else {
    requireFinite(points, 'points', 3);
  }
  return n;
}

/**
 * Visits the eight corners of the cell around point `p`, giving each corner's
 * data offset (photodetector 0), its weight and the gradient of that weight
 * with respect to the point (cm⁻¹).
 */
function forEachCorner(
  meta: PhotonLibraryMeta,
  p: ArrayLike<number>,
  base: number,
  visit: (offset: number, w: number, gx: number, gy: number, gz: number) => void,
): void {
  const sx = axisStencil(p[base]!, meta.min[0], meta.max[0], meta.shape[0]);
  const sy = axisStencil(p[base + 1]!, meta.min[1], meta.max[1], meta.shape[1]);
  const sz = axisStencil(p[base + 2]!, meta.min[2], meta.max[2], meta.shape[2]);
  for (let cx = 0; cx < 2; cx++) {
    const wx = cx ? sx.f : 1 - sx.f;
    const dwx = cx ? sx.dfdp : -sx.dfdp;
    const ix = cx ? sx.i1 : sx.i0;
    for (let cy = 0; cy < 2; cy++) {
      const wy = cy ? sy.f : 1 - sy.f;
      const dwy = cy ? sy.dfdp : -sy.dfdp;
      const iy = cy ? sy.i1 : sy.i0;
      for (let cz = 0; cz < 2; cz++) {
        const wz = cz ? sz.f : 1 - sz.f;
        const dwz = cz ? sz.dfdp : -sz.dfdp;
        const iz = cz ? sz.i1 : sz.i0;
        visit(photonLibraryOffset(meta, ix, iy, iz), wx * wy * wz, dwx * wy * wz, wx * dwy * wz, wx * wy * dwz);
      }
    }
  }
}

/**
 * Trilinear visibility at arbitrary points.
 *
 * @param points [N, 3] in cm
 * @param outside 'error' (default): InputValueError naming the row and coordinate of a point outside the box;
 *   'clamp': clamp the point to the box first
 * @returns visibilities [N, numPhotodetectors]
 */
export function interpolateVisibilityRef(
  lib: PhotonLibrary,
  points: ArrayLike<number>,
  outside: OutsidePolicy = 'error',
): Float64Array {
  const n = checkPoints(lib, points, outside);
  const nPd = lib.meta.numPhotodetectors;
  const out = new Float64Array(n * nPd);
  for (let i = 0; i < n; i++) {
    forEachCorner(lib.meta, points, 3 * i, (offset, w) => {
      if (w === 0) return;
      for (let d = 0; d < nPd; d++) out[i * nPd + d] = out[i * nPd + d]! + w * lib.data[offset + d]!;
    });
  }
  return out;
}

/**
 * Full positional gradient ∂V_d/∂p_a (right-derivative convention, module docs).
 *
 * @param points [N, 3] in cm
 * @returns [N, numPhotodetectors, 3] in cm⁻¹
 */
export function interpolateVisibilityGradientRef(
  lib: PhotonLibrary,
  points: ArrayLike<number>,
  outside: OutsidePolicy = 'error',
): Float64Array {
  const n = checkPoints(lib, points, outside);
  const nPd = lib.meta.numPhotodetectors;
  const out = new Float64Array(n * nPd * 3);
  for (let i = 0; i < n; i++) {
    forEachCorner(lib.meta, points, 3 * i, (offset, _w, gx, gy, gz) => {
      for (let d = 0; d < nPd; d++) {
        const v = lib.data[offset + d]!;
        const o = (i * nPd + d) * 3;
        out[o] = out[o]! + gx * v;
        out[o + 1] = out[o + 1]! + gy * v;
        out[o + 2] = out[o + 2]! + gz * v;
      }
    });
  }
  return out;
}

/**
 * Adjoint with respect to positions: dL/dp_{i,a} = Σ_d dL/dV_{i,d} · ∂V_{i,d}/∂p_a,
 * without forming the [N, numPD, 3] gradient.
 *
 * @param points [N, 3] in cm
 * @param gradVisibility dL/dV, [N, numPhotodetectors]
 * @returns dL/dp, [N, 3]
 */
export function interpolateVisibilityBackwardRef(
  lib: PhotonLibrary,
  points: ArrayLike<number>,
  gradVisibility: ArrayLike<number>,
  outside: OutsidePolicy = 'error',
): Float64Array {
  const n = checkPoints(lib, points, outside);
  const nPd = lib.meta.numPhotodetectors;
  requireLength(gradVisibility, n * nPd, 'gradVisibility', `[N, numPhotodetectors] = [${n}, ${nPd}]`);
  const out = new Float64Array(n * 3);
  for (let i = 0; i < n; i++) {
    forEachCorner(lib.meta, points, 3 * i, (offset, _w, gx, gy, gz) => {
      let dot = 0;
      for (let d = 0; d < nPd; d++) dot += gradVisibility[i * nPd + d]! * lib.data[offset + d]!;
      out[3 * i] = out[3 * i]! + gx * dot;
      out[3 * i + 1] = out[3 * i + 1]! + gy * dot;
      out[3 * i + 2] = out[3 * i + 2]! + gz * dot;
    });
  }
  return out;
}
