import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/autodiff/numeric.js';
import {
  betheDEdx,
  csdaRangeCm,
  deltaRayRatePerCm,
  highlandTheta0,
  kleinNishinaCrossSectionCm2,
  LAR_PROPERTIES,
  MICHEL_ENDPOINT_MEV,
  pairAttenuationPerCm,
  PARTICLE_MASS_MEV,
  restrictedDEdx,
  sampleCompton,
  sampleMichelEnergy,
  samplePairFraction,
} from '../../src/events/physics.js';

const M = PARTICLE_MASS_MEV;

describe('events physics', () => {
  it('the Bethe minimum of a muon in LAr is the PDG minimum-ionising 2.105 MeV/cm at βγ ≈ 3–4', () => {
    let min = Infinity;
    let atT = 0;
    for (let i = 0; i <= 400; i++) {
      const T = 10 ** (1 + i / 100);
      const d = betheDEdx(M.muon, T);
      if (d < min) [min, atT] = [d, T];
    }
    expect(min).toBeCloseTo(LAR_PROPERTIES.mipDEdxMeVPerCm, 1);
    expect(Math.abs(min - 2.105) / 2.105).toBeLessThan(0.01);
    const bg = Math.sqrt((1 + atT / M.muon) ** 2 - 1);
    expect(bg).toBeGreaterThan(3);
    expect(bg).toBeLessThan(4);
  });

  it('dE/dx rises towards low energy (Bragg peak) and restricted loss ≤ full loss', () => {
    const ts = [300, 100, 30, 10, 3];
    const d = ts.map((t) => betheDEdx(M.proton, t));
    for (let i = 1; i < d.length; i++) expect(d[i]!).toBeGreaterThan(d[i - 1]!);
    expect(restrictedDEdx(M.muon, 1000, 1)).toBeLessThan(betheDEdx(M.muon, 1000));
    // Below the cut T_max (200 MeV proton: T_max ≈ 0.5 MeV) restricted = full.
    expect(restrictedDEdx(M.proton, 200, 1)).toBe(betheDEdx(M.proton, 200));
  });

  it('the proton CSDA range follows a Bragg–Kleeman power law with p ≈ 1.75 and ≈ 7.8 cm at 100 MeV', () => {
    const p = Math.log(csdaRangeCm(M.proton, 200) / csdaRangeCm(M.proton, 20)) / Math.log(10);
    expect(p).toBeGreaterThan(1.7);
    expect(p).toBeLessThan(1.85);
    expect(csdaRangeCm(M.proton, 100)).toBeGreaterThan(7);
    expect(csdaRangeCm(M.proton, 100)).toBeLessThan(8.5);
    // Range scales with mass at equal βγ (same dE/dx per βγ): R_μ(T·m_μ/m_p) = (m_μ/m_p) R_p(T).
    const r = M.muon / M.proton;
    expect(csdaRangeCm(M.muon, 100 * r) / (r * csdaRangeCm(M.proton, 100))).toBeCloseTo(1, 1);
  });

  it('Highland θ0 matches the formula by hand', () => {
    // 1 GeV/c, β ≈ 1, 1 cm of LAr: 13.6/1000 · √(1/14) · (1 + 0.038 ln(1/14)).
    const expected = (13.6 / 1000) * Math.sqrt(1 / 14) * (1 + 0.038 * Math.log(1 / 14));
    expect(highlandTheta0(1000, 1, 1)).toBeCloseTo(expected, 12);
    expect(highlandTheta0(1000, 1, 4)).toBeGreaterThan(highlandTheta0(1000, 1, 1));
  });

  it('delta rays appear only when T_max exceeds the cut', () => {
    expect(deltaRayRatePerCm(M.proton, 200, 1)).toBe(0);
    const rate = deltaRayRatePerCm(M.muon, 1000, 1);
    // ½ K Z/A ρ ≈ 0.0966 MeV/cm, so ≈ 0.1 per cm above 1 MeV for β ≈ 1.
    expect(rate).toBeGreaterThan(0.08);
    expect(rate).toBeLessThan(0.11);
  });

  it('Klein–Nishina goes to Thomson at low energy and is 0.211 b at 1 MeV', () => {
    expect(kleinNishinaCrossSectionCm2(1e-6) / 0.6652458732e-24).toBeCloseTo(1, 4);
    expect(kleinNishinaCrossSectionCm2(1) * 1e24).toBeCloseTo(0.2112, 3);
    expect(pairAttenuationPerCm(1)).toBe(0);
    expect(pairAttenuationPerCm(1e6)).toBeCloseTo(7 / (9 * LAR_PROPERTIES.radiationLengthCm), 6);
  });

  it('samplers: Michel spectrum mean 0.7·E_max, pair split symmetric, Compton kinematics', () => {
    const rand = seededRandom(11);
    let s = 0;
    let max = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const e = sampleMichelEnergy(rand);
      s += e;
      max = Math.max(max, e);
    }
    // ⟨x⟩ = 2∫x³(3 − 2x)dx = 0.7 for dN/dx ∝ x²(3 − 2x).
    expect(s / n / MICHEL_ENDPOINT_MEV).toBeCloseTo(0.7, 2);
    expect(max).toBeLessThanOrEqual(MICHEL_ENDPOINT_MEV);
    let xs = 0;
    for (let i = 0; i < n; i++) xs += samplePairFraction(rand);
    expect(xs / n).toBeCloseTo(0.5, 1);
    for (let i = 0; i < 100; i++) {
      const { epsilon, cosTheta } = sampleCompton(rand, 2);
      const k = 2 / M.electron;
      expect(epsilon).toBeGreaterThanOrEqual(1 / (1 + 2 * k) - 1e-12);
      expect(epsilon).toBeLessThanOrEqual(1);
      expect(1 / (1 + k * (1 - cosTheta))).toBeCloseTo(epsilon, 9);
    }
  });
});
