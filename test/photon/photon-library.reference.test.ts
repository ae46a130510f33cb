import { describe, expect, it } from 'vitest';
import { InputValueError } from '../../src/errors.js';
import { maxRelativeError } from '../../src/autodiff/numeric.js';
import {
  type PhotonLibraryMeta,
  createPhotonLibrary,
  interpolateVisibilityBackwardRef,
  interpolateVisibilityGradientRef,
  interpolateVisibilityRef,
  photonLibraryOffset,
  voxelCenter,
  voxelSize,
} from '../../src/kernels/photon/photon-library.reference.js';
import { dot, expectGradientsMatch, rng, uniformArray } from './util.js';

// Binary-exact geometry so centre planes and faces are hit exactly:
// x centres 1, 3, 5, 7; y centres −8, −4, 0; z centres 6, 8, 10, 12, 14.
const meta: PhotonLibraryMeta = { shape: [4, 3, 5], min: [0, -10, 5], max: [8, 2, 15], numPhotodetectors: 3 };

function randomLibrary(seed: number) {
  const r = rng(seed);
  return createPhotonLibrary(meta, Float32Array.from({ length: 4 * 3 * 5 * 3 }, () => r() * 1e-3));
}

/** A table whose values are affine in the voxel centre, different per PD. */
function affineLibrary() {
  const data = new Float32Array(4 * 3 * 5 * 3);
  for (let ix = 0; ix < 4; ix++)
    for (let iy = 0; iy < 3; iy++)
      for (let iz = 0; iz < 5; iz++) {
        const [x, y, z] = voxelCenter(meta, ix, iy, iz);
        for (let d = 0; d < 3; d++) data[photonLibraryOffset(meta, ix, iy, iz, d)] = affine(d, x, y, z);
      }
  return createPhotonLibrary(meta, data);
}
// Coefficients are multiples of 1/8 so the table is exact in float32.
function affine(d: number, x: number, y: number, z: number): number {
  return 2 + d + (0.5 + d) * x - 0.25 * y + 0.125 * (d + 1) * z;
}
const clampTo = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

describe('photon library layout and validation', () => {
  it('is [nx, ny, nz, numPD], x slowest and PD fastest', () => {
    expect(photonLibraryOffset(meta, 0, 0, 0, 1)).toBe(1);
    expect(photonLibraryOffset(meta, 0, 0, 1, 0)).toBe(3);
    expect(photonLibraryOffset(meta, 0, 1, 0, 0)).toBe(15);
    expect(photonLibraryOffset(meta, 1, 0, 0, 0)).toBe(45);
    expect(photonLibraryOffset(meta, 3, 2, 4, 2)).toBe(4 * 3 * 5 * 3 - 1);
    expect(voxelSize(meta)).toEqual([2, 4, 2]);
    expect(voxelCenter(meta, 0, 0, 0)).toEqual([1, -8, 6]);
    expect(voxelCenter(meta, 3, 2, 4)).toEqual([7, 0, 14]);
  });

  it('rejects a data length that does not match the metadata, naming both numbers', () => {
    expect(() => createPhotonLibrary(meta, new Float32Array(179))).toThrow(InputValueError);
    expect(() => createPhotonLibrary(meta, new Float32Array(179))).toThrow(/data\.length is 179.*= 180 values/);
  });

  it('rejects invalid metadata', () => {
    expect(() => createPhotonLibrary({ ...meta, shape: [4, 0, 5] }, new Float32Array(0))).toThrow(/meta\.shape\[1\]/);
    expect(() => createPhotonLibrary({ ...meta, numPhotodetectors: 1.5 }, new Float32Array(90))).toThrow(
      /numPhotodetectors/,
    );
    expect(() => createPhotonLibrary({ ...meta, max: [8, -20, 15] }, new Float32Array(180))).toThrow(/meta y range/);
  });
});

describe('trilinear interpolation', () => {
  it('returns the stored value at every voxel centre', () => {
    const lib = randomLibrary(1);
    const pts: number[] = [];
    for (let ix = 0; ix < 4; ix++) for (let iy = 0; iy < 3; iy++) for (let iz = 0; iz < 5; iz++) pts.push(...voxelCenter(meta, ix, iy, iz));
    const v = interpolateVisibilityRef(lib, Float64Array.from(pts));
    expect(Array.from(v)).toEqual(Array.from(lib.data));
  });

  it('reproduces an affine field exactly inside the centre lattice', () => {
    const lib = affineLibrary();
    const r = rng(2);
    const pts = Float64Array.from({ length: 60 }, (_, i) => [1 + 6 * r(), -8 + 8 * r(), 6 + 8 * r()][i % 3]!);
    const v = interpolateVisibilityRef(lib, pts);
    for (let i = 0; i < 20; i++) {
      for (let d = 0; d < 3; d++) {
        expect(v[3 * i + d]).toBeCloseTo(affine(d, pts[3 * i]!, pts[3 * i + 1]!, pts[3 * i + 2]!), 12);
      }
    }
  });

  it('averages the two neighbouring centres on a voxel face', () => {
    const lib = randomLibrary(3);
    // x = 4 is the face between voxels ix = 1 and 2; y, z on centres.
    const v = interpolateVisibilityRef(lib, Float64Array.of(4, -4, 10));
    for (let d = 0; d < 3; d++) {
      const a = lib.data[photonLibraryOffset(meta, 1, 1, 2, d)]!;
      const b = lib.data[photonLibraryOffset(meta, 2, 1, 2, d)]!;
      expect(v[d]).toBeCloseTo((a + b) / 2, 15);
    }
  });

  it('holds the edge-centre value between the last centre and the box face', () => {
    const lib = affineLibrary();
    // Corners of the box, a face, and margins on each axis.
    const pts = Float64Array.of(0, -10, 5, 8, 2, 15, 0.5, -5, 14.5, 7.5, 1, 5.5);
    const v = interpolateVisibilityRef(lib, pts);
    for (let i = 0; i < 4; i++) {
      const [x, y, z] = [clampTo(pts[3 * i]!, 1, 7), clampTo(pts[3 * i + 1]!, -8, 0), clampTo(pts[3 * i + 2]!, 6, 14)];
      for (let d = 0; d < 3; d++) expect(v[3 * i + d]).toBeCloseTo(affine(d, x, y, z), 12);
    }
  });

  it('throws for points outside the box, naming row and coordinate; clamps when asked', () => {
    const lib = affineLibrary();
    const pts = Float64Array.of(1, -8, 6, 3, -4, 15.001);
    expect(() => interpolateVisibilityRef(lib, pts)).toThrow(InputValueError);
    expect(() => interpolateVisibilityRef(lib, pts)).toThrow(/row 1 has z = 15\.001 cm.*\[5, 15\]/);
    const v = interpolateVisibilityRef(lib, pts, 'clamp');
    expect(v[3]).toBeCloseTo(affine(0, 3, -4, 14), 12);
    expect(() => interpolateVisibilityRef(lib, Float64Array.of(1, Number.NaN, 6), 'clamp')).toThrow(/column 1 is NaN/);
  });

  it('handles an axis with a single voxel as constant', () => {
    const m1: PhotonLibraryMeta = { shape: [2, 1, 1], min: [0, 0, 0], max: [2, 1, 1], numPhotodetectors: 1 };
    const lib = createPhotonLibrary(m1, Float32Array.of(1, 3));
    expect(Array.from(interpolateVisibilityRef(lib, Float64Array.of(1, 0.1, 0.9)))).toEqual([2]);
    expect(Array.from(interpolateVisibilityGradientRef(lib, Float64Array.of(1, 0.1, 0.9)))).toEqual([2, 0, 0]);
  });
});

describe('positional gradient', () => {
  it('matches central differences at generic interior points', () => {
    const lib = randomLibrary(4);
    const r = rng(5);
    // Avoid centre planes, where the derivative jumps.
    const pts = Float64Array.from({ length: 30 }, (_, i) => [1.1 + 5.8 * r(), -7.9 + 7.8 * r(), 6.1 + 7.8 * r()][i % 3]!);
    const grad = interpolateVisibilityGradientRef(lib, pts);
    for (let d = 0; d < 3; d++) {
      const analytic = Float64Array.from({ length: 30 }, (_, i) => grad[(Math.floor(i / 3) * 3 + d) * 3 + (i % 3)]!);
      expectGradientsMatch(
        (inp) => {
          const v = interpolateVisibilityRef(lib, inp[0]!);
          let s = 0;
          for (let i = 0; i < 10; i++) s += v[3 * i + d]!;
          return s;
        },
        [Float64Array.from(pts)],
        [analytic],
        [`positions (PD ${d})`],
        1e-7,
      );
    }
  });

  it('is the exact affine slope inside and zero in the clamped margins', () => {
    const lib = affineLibrary();
    const g = interpolateVisibilityGradientRef(lib, Float64Array.of(2, -5, 9, 0.5, -9, 14.7));
    for (let d = 0; d < 3; d++) {
      expect(g[d * 3]).toBeCloseTo(0.5 + d, 12);
      expect(g[d * 3 + 1]).toBeCloseTo(-0.25, 12);
      expect(g[d * 3 + 2]).toBeCloseTo(0.125 * (d + 1), 12);
      expect([g[9 + d * 3], g[9 + d * 3 + 1], g[9 + d * 3 + 2]]).toEqual([0, 0, 0]);
    }
  });

  it('uses the right derivative on centre planes, at the first and last centres', () => {
    const lib = randomLibrary(6);
    const h = 1e-7;
    // x on the interior centre 3, the first centre 1, the last centre 7; y, z generic.
    for (const x of [3, 1, 7]) {
      const p = Float64Array.of(x, -5.3, 9.7);
      const g = interpolateVisibilityGradientRef(lib, p);
      const vp = interpolateVisibilityRef(lib, Float64Array.of(x + h, -5.3, 9.7));
      const v0 = interpolateVisibilityRef(lib, p);
      for (let d = 0; d < 3; d++) {
        const forward = (vp[d]! - v0[d]!) / h;
        expect(Math.abs(g[d * 3]! - forward), `x = ${x}, PD ${d}`).toBeLessThan(1e-6 * Math.max(1e-4, Math.abs(forward)));
      }
      if (x === 7) expect(g[0]).toBe(0);
    }
  });

  it('is zero along an axis at the box faces', () => {
    const lib = randomLibrary(7);
    const g = interpolateVisibilityGradientRef(lib, Float64Array.of(0, -5.3, 9.7, 8, -5.3, 9.7));
    expect([g[0], g[3], g[6], g[9], g[12], g[15]]).toEqual([0, 0, 0, 0, 0, 0]);
  });
});

describe('adjoint with respect to positions', () => {
  it('contracts the gradient with dL/dV and matches central differences', () => {
    const lib = randomLibrary(8);
    const r = rng(9);
    const pts = Float64Array.from({ length: 24 }, (_, i) => [1.2 + 5.6 * r(), -7.7 + 7.5 * r(), 6.3 + 7.5 * r()][i % 3]!);
    const gv = uniformArray(r, 8 * 3);
    const back = interpolateVisibilityBackwardRef(lib, pts, gv);
    const grad = interpolateVisibilityGradientRef(lib, pts);
    const contracted = new Float64Array(24);
    for (let i = 0; i < 8; i++) for (let d = 0; d < 3; d++) for (let a = 0; a < 3; a++) contracted[3 * i + a]! += gv[3 * i + d]! * grad[(3 * i + d) * 3 + a]!;
    expect(maxRelativeError(back, contracted)).toBeLessThan(1e-14);
    expectGradientsMatch((inp) => dot(interpolateVisibilityRef(lib, inp[0]!), gv), [pts], [back], ['positions'], 1e-7);
  });

  it('rejects dL/dV of the wrong shape', () => {
    const lib = randomLibrary(8);
    expect(() => interpolateVisibilityBackwardRef(lib, Float64Array.of(1, -8, 6), new Float64Array(2))).toThrow(
      /gradVisibility.*\[1, 3\]/,
    );
  });
});
