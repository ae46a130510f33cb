/**
 * Photon library (voxel visibility table) on the GPU: upload with transparent
 * splitting into x-slabs that each fit one storage binding, trilinear lookup
 * as a differentiable op (gradient w.r.t. positions), and the full positional
 * gradient. WGSL: `src/wgsl/photon/photon-library.wgsl`; reference:
 * `photon-library.reference.ts`.
 *
 * @module
 */
import { DeviceLimitError, InputValueError, ShapeError, show } from '../../errors.js';
import { defineOp } from '../../autodiff/tape.js';
import type { GpuContext } from '../../runtime/context.js';
import type { KernelSpec } from '../../runtime/kernel.js';
import { tensor, zeros, type Tensor } from '../../runtime/tensor.js';
import { wgsl } from '../../wgsl/index.js';
import { checkDType } from '../checks.js';
import { type PhotonLibraryMeta, createPhotonLibrary } from './photon-library.reference.js';
import type { OutsidePolicy } from './visibility.reference.js';
import { checkOutsidePolicy, checkPointsInBox } from './visibility.js';

const WG = 256;
const source = wgsl('photon/photon-library');
const forwardSpec: KernelSpec = { name: 'photon.trilinear_forward', source, entryPoint: 'trilinear_forward' };
const backwardSpec: KernelSpec = { name: 'photon.trilinear_backward', source, entryPoint: 'trilinear_backward' };
const gradientSpec: KernelSpec = { name: 'photon.trilinear_gradient', source, entryPoint: 'trilinear_gradient' };

/** One x-slab of a table on the GPU. */
export interface PhotonLibrarySlab {
  /** Values of x-planes [planeBegin, planeBegin + planes), [planes, ny, nz, numPD]. */
  readonly data: Tensor;
  readonly planeBegin: number;
  /** Cells (x-stencil lower indices) this slab serves: [cellBegin, cellEnd). */
  readonly cellBegin: number;
  readonly cellEnd: number;
}

/** A photon library resident on the GPU. Create with {@link uploadPhotonLibrary}. */
export interface GpuPhotonLibrary {
  readonly ctx: GpuContext;
  readonly meta: PhotonLibraryMeta;
  /** One slab when the table fits one storage binding, else several (overlapping by one x-plane). */
  readonly slabs: readonly PhotonLibrarySlab[];
  /** Frees the slabs. */
  dispose(): void;
}

/** Options of {@link uploadPhotonLibrary}. */
export interface UploadPhotonLibraryOptions {
  /**
   * Largest slab in bytes; default and upper bound: the device's
   * `maxStorageBufferBindingSize`. Smaller values force splitting (tests).
   */
  maxSlabBytes?: number;
}

/**
 * Validates a table against its metadata and uploads it, split along x into
 * slabs that each fit one storage binding (a 1.6 GB ICARUS table becomes
 * 13 slabs of ≤ 128 MiB on lavapipe). Neighbouring slabs share one x-plane,
 * so each slab interpolates the cells it owns without touching another.
 *
 * @param meta grid: shape [nx, ny, nz], box min/max in cm, numPhotodetectors
 * @param data visibilities [nx, ny, nz, numPhotodetectors], x slowest, PD fastest
 * @throws InputValueError when data.length ≠ nx·ny·nz·numPD or meta is invalid;
 *   DeviceLimitError when two x-planes do not fit one binding
 */
export function uploadPhotonLibrary(
  ctx: GpuContext,
  meta: PhotonLibraryMeta,
  data: Float32Array,
  options: UploadPhotonLibraryOptions = {},
): GpuPhotonLibrary {
  if (!(data instanceof Float32Array)) {
    throw new InputValueError(`uploadPhotonLibrary: data must be a Float32Array laid out [nx, ny, nz, numPhotodetectors], got ${show(Object.prototype.toString.call(data))}`);
  }
  createPhotonLibrary(meta, data);
  const maxBinding = ctx.limits.maxStorageBufferBindingSize;
  const maxSlab = options.maxSlabBytes ?? maxBinding;
  if (!(Number.isFinite(maxSlab) && maxSlab > 0)) throw new InputValueError(`uploadPhotonLibrary: options.maxSlabBytes = ${show(maxSlab)} must be > 0`);
  const [nx, ny, nz] = meta.shape;
  const planeFloats = ny * nz * meta.numPhotodetectors;
  const maxPlanes = Math.floor(Math.min(maxSlab, maxBinding) / (4 * planeFloats));
  const cells = Math.max(1, nx - 1);
  const planesNeeded = nx === 1 ? 1 : 2;
  if (maxPlanes < planesNeeded) {
    throw new DeviceLimitError(
      `uploadPhotonLibrary: one x-plane holds ${4 * planeFloats} bytes; a slab needs ${planesNeeded} planes but may hold ` +
        `${Math.min(maxSlab, maxBinding)} bytes (maxStorageBufferBindingSize ${maxBinding}); use a coarser y/z grid or a larger maxSlabBytes`,
    );
  }
  const cellsPerSlab = nx === 1 ? 1 : maxPlanes - 1;
  const slabs: PhotonLibrarySlab[] = [];
  for (let cellBegin = 0; cellBegin < cells; cellBegin += cellsPerSlab) {
    const cellEnd = Math.min(cells, cellBegin + cellsPerSlab);
    const planeEnd = nx === 1 ? 1 : cellEnd + 1;
    const slice = data.subarray(cellBegin * planeFloats, planeEnd * planeFloats);
    const t = tensor(ctx, slice, [planeEnd - cellBegin, ny, nz, meta.numPhotodetectors], { label: `photonlib.slab${slabs.length}` }).keep();
    slabs.push({ data: t, planeBegin: cellBegin, cellBegin, cellEnd });
  }
  return {
    ctx,
    meta,
    slabs,
    dispose: () => {
      for (const s of slabs) s.data.dispose();
    },
  };
}

function libUniform(lib: GpuPhotonLibrary, slab: PhotonLibrarySlab, n: number) {
  const m = lib.meta;
  return {
    n,
    npd: m.numPhotodetectors,
    nx: m.shape[0],
    ny: m.shape[1],
    nz: m.shape[2],
    cell_begin: slab.cellBegin,
    cell_end: slab.cellEnd,
    plane0: slab.planeBegin,
    lo: [m.min[0], m.min[1], m.min[2], 0],
    hi: [m.max[0], m.max[1], m.max[2], 0],
  };
}

interface LookupAttrs {
  lib: GpuPhotonLibrary;
}

const lookupOp = defineOp<LookupAttrs>({
  name: 'photonLibraryLookup',
  forward: ([points], { lib }, saver) => {
    saver.save(points!);
    const ctx = lib.ctx;
    const n = points!.shape[0]!;
    const vis = zeros(ctx, [n, lib.meta.numPhotodetectors]);
    const total = n * lib.meta.numPhotodetectors;
    if (total > 0) {
      for (const slab of lib.slabs) {
        ctx.run(forwardSpec, { table: slab.data, pts: points!, vis, lib: libUniform(lib, slab, n) }, ctx.grid(total, WG));
      }
    }
    return vis;
  },
  vjp: ({ gradOutputs: [g], saved: [points], attrs: { lib } }) => {
    const ctx = lib.ctx;
    const n = points!.shape[0]!;
    const gpos = zeros(ctx, [n, 3]);
    if (n > 0) {
      for (const slab of lib.slabs) {
        ctx.run(backwardSpec, { table: slab.data, pts: points!, gvis: g!, gpos, lib: libUniform(lib, slab, n) }, ctx.grid(n, WG));
      }
    }
    return [gpos];
  },
});

function checkLookup(op: string, lib: GpuPhotonLibrary, points: Tensor, outside: string): void {
  checkDType(op, 'points', points);
  if (points.rank !== 2 || points.shape[1] !== 3) {
    throw new ShapeError(`${op}: points has shape ${show(points.shape)}; it must be [N, 3] (x, y, z in cm)`);
  }
  if (points.ctx !== lib.ctx) throw new InputValueError(`${op}: points and the library live on different GPU contexts`);
  checkOutsidePolicy(op, outside);
}

const OUTSIDE_FIX = "the photon library only covers its box; move the point inside or pass outside = 'clamp'";

/**
 * Trilinear visibility at arbitrary points, differentiable w.r.t. the
 * points (right-derivative convention on centre planes, zero in the clamped
 * margins; see docs/photon.md §4).
 *
 * @param points [N, 3] cm
 * @param outside 'error' (default): a GPU check throws InputValueError naming the first point outside the box
 *   (hence async); 'clamp': clamp to the box
 * @returns visibilities [N, numPhotodetectors]
 */
export async function photonLibraryLookup(lib: GpuPhotonLibrary, points: Tensor, outside: OutsidePolicy = 'error'): Promise<Tensor> {
  checkLookup('photonLibraryLookup', lib, points, outside);
  if (outside === 'error') await checkPointsInBox(points, lib.meta, 'points', OUTSIDE_FIX);
  return lookupOp([points], { lib })[0]!;
}

/** {@link photonLibraryLookup} with clamping and no box check (synchronous). */
export function photonLibraryLookupUnchecked(lib: GpuPhotonLibrary, points: Tensor): Tensor {
  checkLookup('photonLibraryLookup', lib, points, 'clamp');
  return lookupOp([points], { lib })[0]!;
}

/**
 * Full positional gradient ∂V_d/∂p_a (cm⁻¹), [N, numPhotodetectors, 3]. Not recorded on the tape.
 *
 * @param points [N, 3] cm
 */
export async function photonLibraryGradient(lib: GpuPhotonLibrary, points: Tensor, outside: OutsidePolicy = 'error'): Promise<Tensor> {
  checkLookup('photonLibraryGradient', lib, points, outside);
  if (outside === 'error') await checkPointsInBox(points, lib.meta, 'points', OUTSIDE_FIX);
  const ctx = lib.ctx;
  const n = points.shape[0]!;
  const grad = zeros(ctx, [n, lib.meta.numPhotodetectors, 3]);
  const total = n * lib.meta.numPhotodetectors;
  if (total > 0) {
    for (const slab of lib.slabs) {
      ctx.run(gradientSpec, { table: slab.data, pts: points, grad, lib: libUniform(lib, slab, n) }, ctx.grid(total, WG));
    }
  }
  return grad;
}
