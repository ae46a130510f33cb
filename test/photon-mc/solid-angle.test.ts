import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/autodiff/numeric.js';
import type { Vec3 } from '../../src/kernels/photon-mc/detector.js';
import { validateDetector } from '../../src/kernels/photon-mc/detector.js';
import {
  discSolidAngle,
  discSolidAngleOnAxis,
  photodetectorSolidAngle,
  rectangleSolidAngle,
} from '../../src/kernels/photon-mc/solid-angle.js';

/** Brute-force Ω of a disc in the plane z = 0 centred at the origin: polar midpoint rule over the disc. */
function discBruteForce(px: number, py: number, h: number, R: number, nr = 1500, nt = 1500): number {
  let sum = 0;
  const dr = R / nr;
  const dt = (2 * Math.PI) / nt;
  for (let i = 0; i < nr; i++) {
    const r = (i + 0.5) * dr;
    for (let j = 0; j < nt; j++) {
      const t = (j + 0.5) * dt;
      const dx = r * Math.cos(t) - px;
      const dy = r * Math.sin(t) - py;
      const q = dx * dx + dy * dy + h * h;
      sum += (h / (q * Math.sqrt(q))) * r;
    }
  }
  return sum * dr * dt;
}

describe('rectangle solid angle', () => {
  it('a cube face seen from the centre is 4π/6', () => {
    for (const axis of [0, 1, 2] as const) {
      const c: [number, number, number] = [0, 0, 0];
      c[axis] = 1;
      expect(rectangleSolidAngle([0, 0, 0], c, axis, 2, 2)).toBeCloseTo((4 * Math.PI) / 6, 13);
    }
  });

  it('the six faces of a box sum to 4π from any interior point', () => {
    const rnd = seededRandom(3);
    const size = [100, 124, 62] as const;
    for (let k = 0; k < 200; k++) {
      const p: Vec3 = [rnd() * size[0], rnd() * size[1], rnd() * size[2]];
      let total = 0;
      for (const axis of [0, 1, 2] as const) {
        const [ua, va] = axis === 0 ? [1, 2] : axis === 1 ? [0, 2] : [0, 1];
        for (const plane of [0, size[axis]]) {
          const c: [number, number, number] = [size[0] / 2, size[1] / 2, size[2] / 2];
          c[axis] = plane;
          total += rectangleSolidAngle(p, c, axis, size[ua]!, size[va]!);
        }
      }
      expect(total).toBeCloseTo(4 * Math.PI, 11);
    }
  });

  it('on the axis of a square: 4·atan(a² / (h·√(2a² + h²))) for half side a', () => {
    const a = 3;
    const h = 7;
    expect(rectangleSolidAngle([0, 0, h], [0, 0, 0], 2, 2 * a, 2 * a)).toBeCloseTo(
      4 * Math.atan((a * a) / (h * Math.sqrt(2 * a * a + h * h))),
      14,
    );
  });

  it('is symmetric under reflection through its plane and matches the far-field A·cosθ/r²', () => {
    const c: Vec3 = [0, 5, 0];
    expect(rectangleSolidAngle([3, 1, 40], c, 2, 4, 2)).toBeCloseTo(rectangleSolidAngle([3, 1, -40], c, 2, 4, 2), 15);
    const p: Vec3 = [300, 500, 4000];
    const r = Math.hypot(p[0] - c[0], p[1] - c[1], p[2] - c[2]);
    const far = (8 * (p[2] / r)) / (r * r);
    expect(Math.abs(rectangleSolidAngle(p, c, 2, 4, 2) / far - 1)).toBeLessThan(1e-5);
  });

  it('a point in the plane sees 2π inside and 0 outside', () => {
    expect(rectangleSolidAngle([0.5, 0.2, 0], [0, 0, 0], 2, 2, 2)).toBeCloseTo(2 * Math.PI, 14);
    expect(rectangleSolidAngle([5, 0.2, 0], [0, 0, 0], 2, 2, 2)).toBeCloseTo(0, 14);
  });
});

describe('disc solid angle', () => {
  it('on the axis: 2π(1 − h/√(h² + R²)), continuous off the axis', () => {
    expect(discSolidAngleOnAxis(10, 10)).toBeCloseTo(2 * Math.PI * (1 - 1 / Math.SQRT2), 14);
    expect(discSolidAngle([0, 0, 50], [0, 0, 0], 2, 10)).toBe(discSolidAngleOnAxis(50, 10));
    expect(discSolidAngle([1e-7, 0, 50], [0, 0, 0], 2, 10)).toBeCloseTo(discSolidAngleOnAxis(50, 10), 11);
    // far away on the axis there is no cancellation: Ω → πR²/h²
    expect(discSolidAngleOnAxis(1e6, 1) * 1e12).toBeCloseTo(Math.PI, 6);
  });

  it('off the axis agrees with brute-force 2-D quadrature (inside, on and outside the rim)', () => {
    for (const [d, h] of [
      [3, 5],
      [9.5, 2],
      [10, 4],
      [10.5, 2],
      [25, 8],
      [60, 30],
    ] as const) {
      const exact = discSolidAngle([d, 0, h], [0, 0, 0], 2, 10);
      const brute = discBruteForce(d, 0, h, 10);
      expect(Math.abs(exact / brute - 1), `d=${d} h=${h}: ${exact} vs ${brute}`).toBeLessThan(2e-5);
    }
  });

  it('depends only on (d, h), is continuous across the rim and has the right limits', () => {
    const a = discSolidAngle([3, 4, 7], [0, 0, 0], 2, 8);
    const b = discSolidAngle([5, 0, -7], [0, 0, 0], 2, 8);
    expect(a).toBeCloseTo(b, 10);
    // rotated: normal along x
    expect(discSolidAngle([7, 0, 5], [0, 0, 0], 0, 8)).toBeCloseTo(a, 10);
    const R = 10;
    const h = 3;
    const lo = discSolidAngle([R - 1e-6, 0, h], [0, 0, 0], 2, R);
    const mid = discSolidAngle([R, 0, h], [0, 0, 0], 2, R);
    const hi = discSolidAngle([R + 1e-6, 0, h], [0, 0, 0], 2, R);
    expect(Math.abs(lo - mid)).toBeLessThan(1e-6);
    expect(Math.abs(hi - mid)).toBeLessThan(1e-6);
    expect(discSolidAngle([5, 0, 1e-6], [0, 0, 0], 2, R)).toBeCloseTo(2 * Math.PI, 5);
    expect(discSolidAngle([15, 0, 1e-6], [0, 0, 0], 2, R)).toBeCloseTo(0, 5);
    expect(discSolidAngle([5, 0, 0], [0, 0, 0], 2, R)).toBe(2 * Math.PI);
    // far field
    const p: Vec3 = [400, 300, 2000];
    const r = Math.hypot(...p);
    expect(Math.abs(discSolidAngle(p, [0, 0, 0], 2, 2) / ((Math.PI * 4 * (p[2] / r)) / (r * r)) - 1)).toBeLessThan(1e-5);
  });

  it('close to the rim it tends to the half-plane value 2(π/2 − atan(δ/h))', () => {
    const R = 10;
    for (const [delta, h] of [
      [1e-6, 1e-6],
      [1e-6, 3e-6],
      [-2e-7, 1e-7],
      [0, 1e-9],
    ] as const) {
      // The rim's curvature and the disc's finite size correct this by O((h/R)·log(R/h)).
      const expected = 2 * (Math.PI / 2 - Math.atan(delta / h));
      expect(discSolidAngle([R + delta, 0, h], [0, 0, 0], 2, R)).toBeCloseTo(expected, 4);
    }
  });

  it('photodetectorSolidAngle dispatches on the shape', () => {
    const det = validateDetector({
      volumes: [{ min: [0, 0, 0], max: [10, 10, 10] }],
      photodetectors: [
        { volume: 0, face: 'y+', shape: 'rectangle', center: [5, 10, 5], size: [2, 4], efficiency: 1 },
        { volume: 0, face: 'x-', shape: 'disc', center: [0, 5, 5], radius: 1, efficiency: 1 },
      ],
    });
    const p: Vec3 = [4, 3, 6];
    expect(photodetectorSolidAngle(det, 0, p)).toBe(rectangleSolidAngle(p, [5, 10, 5], 1, 2, 4));
    expect(photodetectorSolidAngle(det, 1, p)).toBe(discSolidAngle(p, [0, 5, 5], 0, 1));
    expect(() => photodetectorSolidAngle(det, 2, p)).toThrow(/no photodetector 2/);
  });
});
