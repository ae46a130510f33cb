/**
 * Solid angles subtended by flat photodetectors at a point: exact for an
 * axis-aligned rectangle, exact on the axis of a disc and by a 1-D
 * the trapezoid rule on an exact contour integral off the axis.
 *
 * Written independently of the propagator so that the two can check each
 * other: without scattering and absorption, and with absorbing walls, the
 * visibility of a photodetector from a point in a convex box is exactly
 * efficiency · Ω / 4π.
 *
 * Geometry in cm, solid angles in steradians.
 *
 * @module
 */

import { InputValueError, show } from '../../errors.js';
import { inPlaneAxes, type Axis, type Detector, type Vec3 } from './detector.js';

/**
 * Solid angle of the rectangle [0, x] × [0, y] (signed by the signs of x, y)
 * seen from height h > 0 above its corner (0, 0):
 * Ω = atan(x·y / (h·√(h² + x² + y²))).
 */
function cornerRectangle(x: number, y: number, h: number): number {
  return Math.atan2(x * y, h * Math.sqrt(h * h + x * x + y * y));
}

/**
 * Solid angle (sr) of an axis-aligned rectangle seen from `point`.
 *
 * The rectangle is decomposed into four signed rectangles that share a corner
 * with the foot of the perpendicular from the point to its plane, each of
 * which has the closed form atan(xy / (h√(h²+x²+y²))); inclusion–exclusion
 * Ω = F(x2, y2) − F(x1, y2) − F(x2, y1) + F(x1, y1) holds wherever the foot
 * lies. A point in the plane gets 2π inside the rectangle and 0 outside.
 * Float64 rounding limits the relative accuracy to about 1e-16 / Ω for very
 * small, far rectangles (still ~1e-10 at Ω = 1e-6 sr).
 *
 * @param point observation point, cm
 * @param center rectangle centre, cm
 * @param normalAxis axis of the rectangle's normal (0 = x, 1 = y, 2 = z)
 * @param sizeU side length along the first in-plane axis (see inPlaneAxes), cm
 * @param sizeV side length along the second in-plane axis, cm
 */
export function rectangleSolidAngle(
  point: Vec3,
  center: Vec3,
  normalAxis: Axis,
  sizeU: number,
  sizeV: number,
): number {
  const [ua, va] = inPlaneAxes(normalAxis);
  const h = Math.abs(point[normalAxis] - center[normalAxis]);
  const x1 = center[ua] - sizeU / 2 - point[ua];
  const x2 = center[ua] + sizeU / 2 - point[ua];
  const y1 = center[va] - sizeV / 2 - point[va];
  const y2 = center[va] + sizeV / 2 - point[va];
  return cornerRectangle(x2, y2, h) - cornerRectangle(x1, y2, h) - cornerRectangle(x2, y1, h) + cornerRectangle(x1, y1, h);
}

/**
 * Exact solid angle (sr) of a disc of radius R seen from distance h on its
 * axis: Ω = 2π(1 − h/√(h² + R²)), written as 2π R² / (s (s + h)) with
 * s = √(h² + R²) to avoid cancellation when h ≫ R.
 */
export function discSolidAngleOnAxis(h: number, radius: number): number {
  const a = Math.abs(h);
  const s = Math.sqrt(a * a + radius * radius);
  return (2 * Math.PI * radius * radius) / (s * (s + a));
}

/**
 * Solid angle (sr) of a disc seen from `point`, to relative accuracy ~1e-12.
 *
 * Derivation: in polar coordinates (ρ, φ) about the foot F of the
 * perpendicular from the point (height h), an area element subtends
 * h ρ dρ dφ / (h² + ρ²)^{3/2}; its ρ-integral from 0 to ρ is
 * G(ρ) = 1 − h/s = ρ² / (s(s + h)) with s = √(h² + ρ²). The solid angle of any
 * flat region is then the contour integral Ω = ∮ G(ρ) dφ along its boundary
 * (counter-clockwise; when F is outside, the near and far parts of the
 * boundary enter with opposite signs of dφ, which subtracts the cone that
 * misses the region). For a circle B(ψ) = C + R(cos ψ, sin ψ) whose centre C is
 * at distance d from F, dφ = ((B − F) × B′) / ρ² dψ = R(R + d cos ψ) / ρ² dψ and
 * ρ² = d² + R² + 2dR cos ψ, so
 *
 *   Ω = ∫₀^{2π} R (R + d cos ψ) / (s (s + h)) dψ,  s = √(h² + d² + R² + 2dR cos ψ).
 *
 * The integrand is periodic and analytic, so the trapezoid rule converges
 * exponentially; its only near-singularity is at ψ = π when the point
 * approaches the rim (h → 0, d → R). To keep that cheap the substitution
 * ψ = π + t − sin t (t ∈ [0, 2π]) clusters nodes at ψ = π while keeping the
 * integrand periodic and smooth. The node count doubles from 64 until two
 * successive sums agree to 1e-13 (at most 2^20 nodes, reached only within
 * ~1e-12·R of the rim in the plane). On the axis the closed form is used; in
 * the plane (h = 0) the result is 2π inside, π on the rim, 0 outside.
 *
 * @param point observation point, cm
 * @param center disc centre, cm
 * @param normalAxis axis of the disc's normal
 * @param radius disc radius, cm (> 0)
 */
export function discSolidAngle(point: Vec3, center: Vec3, normalAxis: Axis, radius: number): number {
  if (!(radius > 0) || !Number.isFinite(radius)) {
    throw new InputValueError(`radius: a disc radius must be a positive finite length in cm, got ${show(radius)}; give R > 0`);
  }
  const [ua, va] = inPlaneAxes(normalAxis);
  const h = Math.abs(point[normalAxis] - center[normalAxis]);
  const d = Math.hypot(point[ua] - center[ua], point[va] - center[va]);
  const R = radius;
  if (h === 0) return d < R ? 2 * Math.PI : d === R ? Math.PI : 0;
  if (d === 0) return discSolidAngleOnAxis(h, R);
  const dmR2 = (d - R) * (d - R);
  const f = (t: number): number => {
    // χ = ψ − π = t − sin t (mod 2π). Only sin²(χ/2) is needed, and it is the
    // same for t and 2π − t, so w = τ − sin τ with τ = min(t, 2π − t) ∈ [0, π],
    // by its Taylor series where the subtraction would cancel.
    const tau = t <= Math.PI ? t : 2 * Math.PI - t;
    const w = tau < 0.25 ? oneMinusSinc3(tau) : tau - Math.sin(tau);
    const sh = Math.sin(w / 2);
    const S = sh * sh; // sin²(χ/2) = (1 + cos ψ)/2
    // ρ² = d² + R² + 2dR cos ψ = (d − R)² + 4dR·sin²(χ/2): no cancellation near the rim.
    const rho2 = dmR2 + 4 * d * R * S;
    const s = Math.sqrt(h * h + rho2);
    const st = Math.sin(t / 2);
    return ((R * (R - d + 2 * d * S)) / (s * (s + h))) * 2 * st * st; // dψ/dt = 1 − cos t = 2 sin²(t/2)
  };
  // Trapezoid on [0, 2π): f(0) = f(2π) = 0, so the sum over interior nodes is the rule.
  let n = 64;
  let sum = 0;
  let sumAbs = 0;
  for (let i = 1; i < n; i++) {
    const v = f((2 * Math.PI * i) / n);
    sum += v;
    sumAbs += Math.abs(v);
  }
  let estimate = (2 * Math.PI * sum) / n;
  for (;;) {
    // Doubling: the new nodes are the midpoints of the old ones.
    for (let i = 0; i < n; i++) {
      const v = f((2 * Math.PI * (i + 0.5)) / n);
      sum += v;
      sumAbs += Math.abs(v);
    }
    n *= 2;
    const next = (2 * Math.PI * sum) / n;
    // Relative tolerance, plus a floor at the rounding level of the sum of
    // |f| (for far, grazing points the integrand changes sign and Ω is tiny).
    const tol = 1e-13 * Math.abs(next) + 1e-15 * ((2 * Math.PI * sumAbs) / n);
    if (Math.abs(next - estimate) <= tol || n >= 1 << 20) return next;
    estimate = next;
  }
}

/** τ − sin τ for small τ (< 0.25) by its Taylor series, accurate to rounding. */
function oneMinusSinc3(tau: number): number {
  // τ³/3! − τ⁵/5! + τ⁷/7! − τ⁹/9! + τ¹¹/11!; the next term is < 1e-16 relative for τ < 0.25.
  const t2 = tau * tau;
  return (
    tau *
    t2 *
    (1 / 6 - t2 * (1 / 120 - t2 * (1 / 5040 - t2 * (1 / 362880 - t2 / 39916800))))
  );
}

/**
 * Solid angle (sr) of photodetector `index` of `detector` seen from `point`.
 *
 * @throws InputValueError for an index out of range
 */
export function photodetectorSolidAngle(detector: Detector, index: number, point: Vec3): number {
  const p = detector.photodetectors[index];
  if (p === undefined || !Number.isInteger(index)) {
    throw new InputValueError(
      `index: no photodetector ${show(index)} (detector has ${detector.photodetectors.length}); ` +
        `give an index 0..${detector.photodetectors.length - 1}`,
    );
  }
  return p.shape === 'rectangle'
    ? rectangleSolidAngle(point, p.center, p.axis, p.size[0], p.size[1])
    : discSolidAngle(point, p.center, p.axis, p.radius);
}
