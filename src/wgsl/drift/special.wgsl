// Shared f32 special functions of the drift family, prepended by the host to
// every drift kernel that needs them (this file has no entry point and no
// bindings; it is concatenated, not compiled alone).
//
// erfc_pos: the Chebyshev-fitted complementary error function of Numerical
// Recipes (Press et al., 2nd ed., §6.2, "erfcc"): fractional error < 1.2e-7
// for every x ≥ 0, i.e. *relative* accuracy also deep in the tail. That is
// what the readout needs: a tail cell's charge is Φ(−z1) − Φ(−z2) with both
// terms small, so an approximation with only absolute accuracy (A&S 7.1.26,
// 1.5e-7) would lose all relative precision there. The remaining error is
// ~1e-7 relative per Φ, below f32 rounding of the products that use it.

const INV_SQRT2: f32 = 0.70710678118654752;
const INV_SQRT_2PI: f32 = 0.39894228040143268;

// erfc(x) for x ≥ 0.
fn erfc_pos(x: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * x);
  let p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * exp(-x * x + p);
}

// Standard normal CDF Φ(z) = ½ erfc(−z/√2).
fn norm_cdf(z: f32) -> f32 {
  let x = z * INV_SQRT2;
  if (x >= 0.0) { return 1.0 - 0.5 * erfc_pos(x); }
  return 0.5 * erfc_pos(-x);
}

// Upper tail Q(z) = 1 − Φ(z) = Φ(−z), accurate in relative terms for large z.
fn norm_sf(z: f32) -> f32 {
  return norm_cdf(-z);
}

// Standard normal density φ(z).
fn norm_pdf(z: f32) -> f32 {
  return INV_SQRT_2PI * exp(-0.5 * z * z);
}

// Φ(zu) − Φ(zl) with open ends: lo_inf / hi_inf mean zl = −∞ / zu = +∞.
// Computed on the side of 0 that avoids cancellation (as the reference).
fn cdf_diff(zl: f32, zu: f32, lo_inf: bool, hi_inf: bool) -> f32 {
  if (lo_inf && hi_inf) { return 1.0; }
  if (lo_inf) { return norm_cdf(zu); }
  if (hi_inf) { return norm_sf(zl); }
  if (zl > 0.0) { return norm_sf(zl) - norm_sf(zu); }
  return norm_cdf(zu) - norm_cdf(zl);
}
