/**
 * Float64 special functions for the drift reference: erf, erfc, the standard
 * normal CDF Φ and density φ, and a seeded standard-normal generator.
 *
 * The readout integrates Gaussians over pixel and tick boundaries with erf
 * differences, and its analytic backward uses φ as the derivative of Φ. The
 * finite-difference gradchecks therefore need Φ accurate to near machine
 * precision: a 1e-7 approximation (Abramowitz–Stegun 7.1.26) would disagree
 * with the exact φ at the 1e-6 relative level and mask real gradient bugs.
 *
 * @module
 */

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
const ONE_OVER_SQRT_PI = 1 / Math.sqrt(Math.PI);
const ONE_OVER_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const SQRT1_2 = Math.SQRT1_2;

/**
 * Below this |x| erf comes from its everywhere-positive series and erfc as
 * 1 − erf; above it erfc comes from its continued fraction. At 2.5 both have
 * converged to ~1e-16 absolute with < 60 terms.
 */
const SERIES_LIMIT = 2.5;

/**
 * erf(x) = 2/√π · e^{−x²} · Σ_n 2ⁿ x^{2n+1} / (2n+1)!!  (A&S 7.1.6).
 * All terms are positive, so, unlike the Taylor series, there is no
 * cancellation; relative accuracy ~1e-16 for 0 ≤ x ≤ 2.5.
 */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 0; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 3);
    sum += term;
    if (term < 1e-17 * sum) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
}

/**
 * erfc(x) for x ≥ 2.5 by the Laplace continued fraction
 * erfc(x) = e^{−x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))) (A&S 7.1.14),
 * evaluated with the modified Lentz algorithm. Relative accuracy ~1e-15.
 */
function erfcContinuedFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 500; n++) {
    const a = n / 2;
    d = x + a * d;
    if (d === 0) d = tiny;
    c = x + a / c;
    if (c === 0) c = tiny;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return (ONE_OVER_SQRT_PI * Math.exp(-x * x)) / f;
}

/** Error function, float64, absolute error ≲ 2e-16. */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return -erf(-x);
  if (x < SERIES_LIMIT) return erfSeries(x);
  return 1 - erfcContinuedFraction(x);
}

/** Complementary error function 1 − erf(x), float64, relative error ≲ 1e-14 for x ≥ 0. */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < SERIES_LIMIT) return 1 - erfSeries(x);
  if (x > 27) return 0; // e^{-729} underflows anyway
  return erfcContinuedFraction(x);
}

/**
 * Standard normal CDF Φ(z) = ½ erfc(−z/√2). Φ(±∞) = 1 or 0 exactly, which the
 * readout relies on for its open-ended edge bins.
 */
export function normalCdf(z: number): number {
  if (z === Infinity) return 1;
  if (z === -Infinity) return 0;
  return 0.5 * erfc(-z * SQRT1_2);
}

/** Standard normal density φ(z) = e^{−z²/2}/√(2π); φ(±∞) = 0. */
export function normalPdf(z: number): number {
  if (!Number.isFinite(z)) return 0;
  return ONE_OVER_SQRT_2PI * Math.exp(-0.5 * z * z);
}

/**
 * Seeded standard-normal generator (Box–Muller on `seededRandom`-style
 * mulberry32 uniforms). Deterministic for a given seed across platforms
 * because it uses only IEEE-754 double arithmetic and Math.log/cos/sqrt.
 *
 * @param uniform a uniform [0,1) source, e.g. `seededRandom(seed)`
 */
export function gaussianSource(uniform: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    // 1 − u keeps the log argument in (0, 1].
    const u1 = 1 - uniform();
    const u2 = uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  };
}
