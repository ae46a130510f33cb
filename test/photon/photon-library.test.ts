/** GPU photon library vs the float64 reference: lookup, gradient, adjoint, splitting, bad input. */
import { describe, expect, it } from 'vitest';
import {
  DeviceLimitError, InputValueError, ShapeError, backward, gradcheck, maxRelativeError, seededRandom, tensor,
  type ReferenceOp,
} from '../../src/index.js';
import { type PhotonLibraryMeta, createPhotonLibrary, photonLibraryGradient, photonLibraryLookup, photonLibraryLookupUnchecked, uploadPhotonLibrary } from '../../src/kernels/photon/index.js';
import { interpolateVisibilityBackwardRef, interpolateVisibilityGradientRef, interpolateVisibilityRef } from '../../src/reference.js';
import { randomArray, testGpu } from '../helpers/gpu.js';

const rand = seededRandom(31);
// Voxel sizes 2, 4, 4 cm and a box on exact binary fractions, so that centre
// planes and voxel boundaries are exactly representable in f32 and the GPU
// sees the same cell as the float64 reference.
const meta: PhotonLibraryMeta = { shape: [6, 5, 4], min: [0, -10, 4], max: [12, 10, 20], numPhotodetectors: 3 };
const data = Float32Array.from({ length: 6 * 5 * 4 * 3 }, () => rand() * 1e-3);
const lib = createPhotonLibrary(meta, data);

/** Random interior points plus the special places of the interpolant. */
function probePoints(): Float64Array {
  const pts: number[] = [];
  for (let i = 0; i < 40; i++) for (let a = 0; a < 3; a++) pts.push(meta.min[a]! + (meta.max[a]! - meta.min[a]!) * rand());
  const d = [2, 4, 4];
  const special = (a: number, kind: number) => {
    const lo = meta.min[a]!;
    const n = meta.shape[a]!;
    switch (kind) {
      case 0: return lo; // box face
      case 1: return meta.max[a]!; // other face
      case 2: return lo + 0.5 * d[a]!; // first centre
      case 3: return lo + (n - 0.5) * d[a]!; // last centre
      case 4: return lo + 2.5 * d[a]!; // interior centre plane
      case 5: return lo + 2 * d[a]!; // voxel boundary (mid-cell)
      default: return lo + 0.25 * d[a]!; // clamped margin
    }
  };
  for (let kind = 0; kind < 7; kind++) for (let a = 0; a < 3; a++) {
    const p = [0, 1, 2].map((b) => meta.min[b]! + 0.37 * (meta.max[b]! - meta.min[b]!));
    p[a] = special(a, kind);
    pts.push(...p);
  }
  return Float64Array.from(pts, Math.fround);
}

describe('photon library on the GPU', () => {
  for (const split of [false, true]) {
    it(`lookup, full gradient and adjoint match the reference incl. boundaries and edges${split ? ' (split into slabs)' : ''}`, async () => {
      const ctx = await testGpu();
      const planeBytes = 5 * 4 * 3 * 4;
      const gpuLib = uploadPhotonLibrary(ctx, meta, data, split ? { maxSlabBytes: 2 * planeBytes } : {});
      expect(gpuLib.slabs.length).toBe(split ? 5 : 1);
      const pts = probePoints();
      const n = pts.length / 3;
      const p = tensor(ctx, Float32Array.from(pts), [n, 3], { requiresGrad: true });
      const v = await photonLibraryLookup(gpuLib, p);
      // 8 products of f32 weights and values: 1e-6 of the largest magnitude
      expect(maxRelativeError(await v.readF64(), interpolateVisibilityRef(lib, pts))).toBeLessThan(1e-6);
      const grad = await photonLibraryGradient(gpuLib, p);
      expect(maxRelativeError(await grad.readF64(), interpolateVisibilityGradientRef(lib, pts))).toBeLessThan(1e-5);
      const gv = randomArray(rand, n * 3).map(Math.fround);
      backward(v, tensor(ctx, Float32Array.from(gv), [n, 3]));
      expect(maxRelativeError(await p.grad!.readF64(), interpolateVisibilityBackwardRef(lib, pts, gv))).toBeLessThan(1e-5);
      p.dispose();
      v.dispose();
      grad.dispose();
      gpuLib.dispose();
    });
  }

  it('split and unsplit tables give identical bits', async () => {
    const ctx = await testGpu();
    const pts = probePoints();
    const n = pts.length / 3;
    const p = tensor(ctx, Float32Array.from(pts), [n, 3]);
    const read = async (maxSlabBytes?: number) => {
      const l = uploadPhotonLibrary(ctx, meta, data, maxSlabBytes ? { maxSlabBytes } : {});
      const v = new Uint32Array((await photonLibraryLookupUnchecked(l, p).read()).buffer);
      l.dispose();
      return v;
    };
    expect(await read(3 * 240)).toEqual(await read());
    p.dispose();
  });

  it('gradcheck w.r.t. positions', async () => {
    const ctx = await testGpu();
    const gpuLib = uploadPhotonLibrary(ctx, meta, data, { maxSlabBytes: 3 * 240 });
    const reference: ReferenceOp<null> = {
      forward: ([p]) => ({ shape: [p!.data.length / 3, 3], data: interpolateVisibilityRef(lib, p!.data) }),
      backward: ([p], g) => [interpolateVisibilityBackwardRef(lib, p!.data, g.data)],
    };
    const pts = Float64Array.from({ length: 30 }, (_, i) => meta.min[i % 3]! + 1 + (meta.max[i % 3]! - meta.min[i % 3]! - 2) * rand());
    const r = await gradcheck({ ctx, gpu: ([p]) => photonLibraryLookupUnchecked(gpuLib, p!), reference, inputs: [{ shape: [10, 3], data: pts }], attrs: null, h: 1e-5 });
    expect(r.referenceError).toBeLessThan(1e-5);
    expect(r.forwardError).toBeLessThan(1e-5);
    expect(r.gpuError).toBeLessThan(1e-4);
    gpuLib.dispose();
  });

  it('rejects inconsistent metadata, outside points, bad shapes; leaks nothing', async () => {
    const ctx = await testGpu();
    const before = ctx.stats().liveBytes;
    expect(() => uploadPhotonLibrary(ctx, meta, data.subarray(1))).toThrow(InputValueError);
    expect(() => uploadPhotonLibrary(ctx, meta, data.subarray(1))).toThrow(/6·5·4 voxels × 3/);
    expect(() => uploadPhotonLibrary(ctx, { ...meta, shape: [6, 5, 0] }, data)).toThrow(InputValueError);
    expect(() => uploadPhotonLibrary(ctx, meta, data, { maxSlabBytes: 100 })).toThrow(DeviceLimitError);
    const gpuLib = uploadPhotonLibrary(ctx, meta, data);
    const out = tensor(ctx, Float32Array.of(1, 0, 5, 13, 0, 5), [2, 3]);
    await expect(photonLibraryLookup(gpuLib, out)).rejects.toThrow(/row 1 has x = 13 cm/);
    const clamped = await photonLibraryLookup(gpuLib, out, 'clamp');
    expect(clamped.shape).toEqual([2, 3]);
    const bad = tensor(ctx, new Float32Array(4), [2, 2]);
    await expect(photonLibraryLookup(gpuLib, bad)).rejects.toThrow(ShapeError);
    for (const t of [out, clamped, bad]) t.dispose();
    gpuLib.dispose();
    expect(ctx.stats().liveBytes).toBe(before);
  });
});
