/**
 * Physics and detector constants of the LArTPC charge simulation, with their
 * sources. Units are in the names: MeV, cm, µs (us), kV/cm, K, g/cm³,
 * electrons (e), mV. Values marked "larnd-sim" are the defaults of
 * DUNE/larnd-sim (`larndsim/consts/physics.py`, `larndsim/consts/detector.py`,
 * `larndsim/detector_properties/2x2.yaml`), described in
 * A. Abed Abud et al. (DUNE), "Highly-parallelized simulation of a pixelated
 * LArTPC on a GPU", JINST 18 (2023) P04034.
 *
 * @module
 */

// ---------------------------------------------------------------- ionisation

/**
 * Mean energy per electron–ion pair in liquid argon, MeV (23.6 eV).
 * Miyajima et al., Phys. Rev. A 9 (1974) 1438; erratum Phys. Rev. A 10 (1974) 1452;
 * larnd-sim `W_ION`.
 */
export const W_ION_MEV = 23.6e-6;

/** Liquid-argon density, g/cm³ (larnd-sim `LAR_DENSITY`; ArgoNeuT used 1.383). */
export const LAR_DENSITY_G_PER_CM3 = 1.38;

/** Nominal drift field, kV/cm (larnd-sim `E_FIELD`). */
export const E_FIELD_KV_PER_CM = 0.5;

/** Liquid-argon temperature, K (larnd-sim `TEMPERATURE`). */
export const TEMPERATURE_K = 87.17;

// ----------------------------------------------------------- recombination

/**
 * Modified Box model α, dimensionless. ArgoNeuT, R. Acciarri et al.,
 * "A study of electron recombination using highly ionizing particles in the
 * ArgoNeuT LArTPC", JINST 8 (2013) P08005; larnd-sim `BOX_ALPHA`.
 */
export const BOX_ALPHA = 0.93;

/**
 * Modified Box model β, (kV/cm)(g/cm²)/MeV, as set in larnd-sim `BOX_BETA`
 * (0.3 (MeV/cm)⁻¹ · 1.383 g/cm³ · 0.5 kV/cm, rounded).
 */
export const BOX_BETA_LARNDSIM = 0.207;

/** Modified Box model β, (kV/cm)(g/cm²)/MeV, ArgoNeuT JINST 8 (2013) P08005 fit value. */
export const BOX_BETA_ARGONEUT = 0.212;

/**
 * Birks-law A (larnd-sim `BIRKS_Ab`), dimensionless. ICARUS, S. Amoruso et
 * al., "Study of electron recombination in liquid argon with the ICARUS TPC",
 * NIM A 523 (2004) 275.
 */
export const BIRKS_A = 0.8;

/** Birks-law k (larnd-sim `BIRKS_kb`), (kV/cm)(g/cm²)/MeV. ICARUS, NIM A 523 (2004) 275. */
export const BIRKS_K = 0.0486;

/**
 * Ellipsoid-modified Box (EMB) parameters measured by ICARUS, "Angular
 * dependent measurement of electron-ion recombination in liquid argon for
 * ionization calorimetry in the ICARUS LArTPC", arXiv:2407.12969 (2024):
 * α = 0.904, β₉₀ = 0.204 (kV/cm)(g/cm²)/MeV (β at 90° to the field) and
 * ellipsoid ratio R = 1.25 in β(φ) = β₉₀ / √(sin²φ + cos²φ/R²). The same
 * numbers are the ICARUS production calorimetry settings (icaruscode
 * `ModBoxA`, `ModBoxBParam`). R is a configurable parameter of the reference.
 */
export const EMB_ICARUS = { alpha: 0.904, beta90: 0.204, R: 1.25 } as const;

// ------------------------------------------------------------------- drift

/**
 * Electron-mobility parametrisation μ(E, T) of the BNL LAr properties page
 * (https://lar.bnl.gov/properties/trans.html), fit by Y. Li et al., NIM A 816
 * (2016) 160 (doi:10.1016/j.nima.2016.01.073) to world data including
 * W. Walkowiak, NIM A 449 (2000) 288, whose T^{−3/2} temperature scaling it
 * uses; identical coefficients in larnd-sim `ELECTRON_MOBILITY_PARAMS`.
 *   μ = (a0 + a1 E + a2 E^{3/2} + a3 E^{5/2}) / (1 + (a1/a0) E + a4 E² + a5 E³) · (T/T0)^{−3/2}
 * with E in kV/cm and μ in cm²/(V·s); T0 = 89 K.
 */
export const MOBILITY_PARAMS = {
  a0: 551.6,
  a1: 7158.3,
  a2: 4440.43,
  a3: 4.29,
  a4: 43.63,
  a5: 0.2053,
  T0_K: 89,
} as const;

/** Electron lifetime, µs (larnd-sim `ELECTRON_LIFETIME` = 2.2e3 µs). */
export const ELECTRON_LIFETIME_US = 2200;

/**
 * Longitudinal diffusion coefficient, cm²/s (larnd-sim `LONG_DIFF` =
 * 4.0e-6 cm²/µs).
 */
export const LONG_DIFF_CM2_PER_S = 4.0;

/** Transverse diffusion coefficient, cm²/s (larnd-sim `TRAN_DIFF` = 8.8e-6 cm²/µs). */
export const TRAN_DIFF_CM2_PER_S = 8.8;

/** Drift length of one 2×2 / module-0 TPC, cm (larnd-sim `2x2.yaml` `drift_length`). */
export const DRIFT_LENGTH_2X2_CM = 30.27225;

// ------------------------------------------------------------------ readout

/** LArPix pixel pitch, cm (larnd-sim `PIXEL_PITCH` = 4.434 mm). */
export const PIXEL_PITCH_CM = 0.4434;

/** LArPix clock / time sampling, µs (larnd-sim `TIME_SAMPLING`, `CLOCK_CYCLE`). */
export const TIME_TICK_US = 0.1;

// -------------------------------------------------------------- electronics

/** Discriminator threshold, electrons (larnd-sim `DISCRIMINATION_THRESHOLD` = 5e3 e⁻). */
export const DISCRIMINATION_THRESHOLD_E = 5e3;

/** Discriminator noise, electrons (larnd-sim `DISCRIMINATOR_NOISE` = 650 e⁻). */
export const DISCRIMINATOR_NOISE_E = 650;

/** Uncorrelated noise, electrons (larnd-sim `UNCORRELATED_NOISE_CHARGE` = 500 e⁻). */
export const UNCORRELATED_NOISE_E = 500;

/** Front-end gain, mV per electron (larnd-sim `GAIN` = 4 mV/ke⁻). */
export const GAIN_MV_PER_E = 4e-3;

/** ADC reference voltage, mV (larnd-sim `V_REF`). */
export const V_REF_MV = 1568;

/** ADC common-mode voltage, mV (larnd-sim `V_CM`). */
export const V_CM_MV = 478.1;

/** Pedestal voltage, mV (larnd-sim `V_PEDESTAL`). */
export const V_PEDESTAL_MV = 580;

/** Number of ADC counts (larnd-sim `ADC_COUNTS` = 2⁸). */
export const ADC_COUNTS = 256;

/** ADC hold delay, clock cycles (larnd-sim `ADC_HOLD_DELAY`). */
export const ADC_HOLD_DELAY_TICKS = 15;
