import { describe, expect, it } from 'vitest';
import { validateCoords } from '../../src/kernels/sparse/coords.js';
import { InputValueError } from '../../src/errors.js';
import {
  combineEvents,
  DEFAULT_VOLUME_VOXELS,
  generateBatch,
  generateEvent,
  MICHEL_ENDPOINT_MEV,
  PDG,
  SEMANTIC_CLASSES,
  SemanticLabel,
  SMALL_VOLUME_VOXELS,
  validateEvent,
  type LArTPCEvent,
} from '../../src/events/index.js';

/** Single-particle events: nothing random around them, no readout threshold. */
const isolated = { interactions: 0, rain: 0, blips: 0, voxelThresholdMeV: 0 } as const;

function sumEnergy(ev: LArTPCEvent): number {
  let s = 0;
  for (const e of ev.energy) s += e;
  return s;
}

describe('event generator: conventions', () => {
  it('exports the PILArNet classes in index order', () => {
    expect(SEMANTIC_CLASSES).toEqual(['shower', 'track', 'michel', 'delta', 'low_energy']);
    expect(SemanticLabel).toEqual({ shower: 0, track: 1, michel: 2, delta: 3, lowEnergy: 4 });
  });

  it('is deterministic for a seed and differs between seeds', () => {
    const a = generateEvent({ seed: 42, preset: 'small' });
    const b = generateEvent({ seed: 42, preset: 'small' });
    const c = generateEvent({ seed: 43, preset: 'small' });
    expect(a.coords).toEqual(b.coords);
    expect(a.energy).toEqual(b.energy);
    expect(a.labels).toEqual(b.labels);
    expect(a.particles).toEqual(b.particles);
    expect(a.coords.length === c.coords.length && a.coords.every((v, i) => v === c.coords[i])).toBe(false);
  });

  it('uses independent random streams: adding blips leaves the interactions unchanged', () => {
    const a = generateEvent({ seed: 5, preset: 'small', blips: 0 });
    const b = generateEvent({ seed: 5, preset: 'small', blips: 40 });
    const fromInteraction = (ev: LArTPCEvent) => ev.particles.filter((p) => p.interaction === 0);
    expect(fromInteraction(b)).toEqual(fromInteraction(a));
    expect(b.particles.filter((p) => p.process === 'blip')).toHaveLength(40);
    // Rain particles do not depend on how many vertices came before them.
    const rain = (ev: LArTPCEvent) => ev.particles.filter((p) => p.interaction === -1 && p.process !== 'blip').map(({ id, parentId, primaryId, ...rest }) => rest);
    expect(rain(generateEvent({ seed: 5, preset: 'small', interactions: 3, blips: 0 }))).toEqual(rain(a));
  });

  it('default events: 768³ volume, a few thousand to tens of thousands of voxels, valid, unique, labelled 0…4', () => {
    const seen = new Set<number>();
    for (let seed = 0; seed < 6; seed++) {
      const ev = generateEvent({ seed });
      expect(ev.volumeVoxels).toBe(DEFAULT_VOLUME_VOXELS);
      const n = validateEvent(ev); // validateCoords + energy > 0 + labels in range + inside the volume
      expect(n).toBe(validateCoords(ev.coords, 3));
      expect(n).toBeGreaterThan(2000);
      expect(n).toBeLessThan(40000);
      for (const l of ev.labels) seen.add(l);
      // Rows sorted by (x, y, z), batch 0.
      for (let i = 1; i < n; i++) {
        const a = ev.coords.subarray(4 * (i - 1), 4 * i);
        const b = ev.coords.subarray(4 * i, 4 * i + 4);
        expect(b[0]).toBe(0);
        expect(a[1]! < b[1]! || (a[1] === b[1] && (a[2]! < b[2]! || (a[2] === b[2] && a[3]! < b[3]!)))).toBe(true);
      }
      // The label of a voxel is the label of its dominant particle.
      for (let i = 0; i < n; i += 97) expect(ev.labels[i]).toBe(ev.particles[ev.particleIds[i]!]!.label);
    }
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it('small preset: 192³ volume, every coordinate inside it', () => {
    const ev = generateEvent({ seed: 1, preset: 'small' });
    expect(ev.volumeVoxels).toBe(SMALL_VOLUME_VOXELS);
    expect(validateEvent(ev)).toBeGreaterThan(50);
  });

  it('conserves energy: Σ voxel energy + below-threshold energy = Σ particle deposits, all positive', () => {
    for (const seed of [0, 1, 2]) {
      const ev = generateEvent({ seed, preset: 'small' });
      const dep = ev.particles.reduce((s, p) => s + p.depositedMeV, 0);
      expect(ev.energy.every((e) => e > 0)).toBe(true);
      expect(ev.particles.every((p) => p.depositedMeV >= 0)).toBe(true);
      expect(sumEnergy(ev) + ev.belowThresholdMeV).toBeCloseTo(dep, 2);
      expect(Math.abs(sumEnergy(ev) + ev.belowThresholdMeV - dep) / dep).toBeLessThan(1e-5);
    }
  });

  it('a contained stopping proton deposits exactly its kinetic energy', () => {
    const T = 150;
    const ev = generateEvent({ ...isolated, preset: 'small', seed: 3, particles: [{ pdg: PDG.proton, kineticEnergyMeV: T, positionMm: [100, 288, 288], direction: [1, 0, 0] }] });
    expect(ev.particles).toHaveLength(1);
    expect(ev.particles[0]!.exited).toBe(false);
    expect(sumEnergy(ev)).toBeCloseTo(T, 3);
    expect(ev.labels.every((l) => l === SemanticLabel.track)).toBe(true);
  });

  it('shows a Bragg peak along a stopping proton', () => {
    const ev = generateEvent({ ...isolated, preset: 'small', seed: 9, hadronicKinks: false, particles: [{ pdg: PDG.proton, kineticEnergyMeV: 200, positionMm: [60, 288, 288], direction: [1, 0, 0] }] });
    const p = ev.particles[0]!;
    const range = Math.hypot(p.endMm[0] - p.startMm[0], p.endMm[1] - p.startMm[1], p.endMm[2] - p.startMm[2]);
    expect(range).toBeGreaterThan(230); // CSDA range ≈ 26 cm, minus scattering
    // Energy per cm of residual range, from voxel centres projected on the track axis.
    const bins = new Float64Array(30);
    for (let i = 0; i < ev.energy.length; i++) {
      const x = (ev.coords[4 * i + 1]! + 0.5) * ev.voxelSizeMm;
      const residualCm = Math.floor((p.endMm[0] - x) / 10 + 0.15);
      if (residualCm >= 0 && residualCm < bins.length) bins[residualCm] = bins[residualCm]! + ev.energy[i]!;
    }
    // Last cm (includes the peak) ≫ 15–20 cm from the end (≈ 5 MeV/cm), rising towards the end.
    const far = (bins[15]! + bins[16]! + bins[17]! + bins[18]! + bins[19]!) / 5;
    expect(far).toBeGreaterThan(3.5);
    expect(far).toBeLessThan(7);
    expect(bins[0]!).toBeGreaterThan(2.5 * far);
    expect(bins[1]!).toBeGreaterThan(bins[5]!);
    expect(bins[5]!).toBeGreaterThan(far);
  });

  it('puts a Michel electron at the end of a stopping μ+', () => {
    const ev = generateEvent({ ...isolated, volumeVoxels: 256, seed: 4, particles: [{ pdg: PDG.muPlus, kineticEnergyMeV: 100, positionMm: [100, 384, 384], direction: [1, 0, 0] }] });
    const mu = ev.particles[0]!;
    expect(mu.exited).toBe(false);
    const michel = ev.particles.find((q) => q.parentId === mu.id && q.process === 'decay');
    expect(michel).toBeDefined();
    expect(michel!.pdg).toBe(PDG.positron);
    expect(michel!.label).toBe(SemanticLabel.michel);
    expect(michel!.startMm).toEqual(mu.endMm);
    expect(michel!.kineticEnergyMeV).toBeLessThanOrEqual(MICHEL_ENDPOINT_MEV);
    // Michel voxels exist and touch the muon's last voxel.
    const end = mu.endMm.map((c) => Math.floor(c / ev.voxelSizeMm));
    let nearest = Infinity;
    let michelVoxels = 0;
    for (let i = 0; i < ev.labels.length; i++) {
      if (ev.labels[i] !== SemanticLabel.michel) continue;
      michelVoxels++;
      nearest = Math.min(nearest, Math.max(...[1, 2, 3].map((a) => Math.abs(ev.coords[4 * i + a]! - end[a - 1]!))));
    }
    expect(michelVoxels).toBeGreaterThan(3);
    expect(nearest).toBeLessThanOrEqual(1);
  });

  it('μ− decays with the configured probability; π+ → μ+ → e+ chain', () => {
    const mk = (pdg: number, f: number) =>
      generateEvent({ ...isolated, preset: 'small', seed: 2, muMinusDecayFraction: f, particles: [{ pdg, kineticEnergyMeV: 60, positionMm: [288, 288, 288] }] });
    expect(mk(PDG.muMinus, 0).particles.some((p) => p.label === SemanticLabel.michel)).toBe(false);
    expect(mk(PDG.muMinus, 1).particles.some((p) => p.label === SemanticLabel.michel)).toBe(true);
    const pi = mk(PDG.piPlus, 0);
    const mu = pi.particles.find((p) => p.pdg === PDG.muPlus && p.parentId === 0)!;
    expect(mu.kineticEnergyMeV).toBeCloseTo(4.12, 2);
    expect(pi.particles.some((p) => p.parentId === mu.id && p.label === SemanticLabel.michel)).toBe(true);
  });

  it('a long muon emits delta rays labelled 3; a photon shower starts after a gap', () => {
    const mu = generateEvent({ ...isolated, seed: 1, particles: [{ pdg: PDG.muMinus, kineticEnergyMeV: 2000, positionMm: [50, 1152, 1152], direction: [1, 0.1, 0] }] });
    const deltas = mu.particles.filter((p) => p.process === 'delta');
    expect(deltas.length).toBeGreaterThan(5);
    expect(deltas.every((d) => d.parentId === 0 && d.label === SemanticLabel.delta)).toBe(true);
    expect(mu.labels.filter((l) => l === SemanticLabel.delta).length).toBeGreaterThan(5);

    let gaps = 0;
    for (let seed = 0; seed < 10; seed++) {
      const g = generateEvent({ ...isolated, seed, particles: [{ pdg: PDG.photon, kineticEnergyMeV: 500, positionMm: [1152, 1152, 1152] }] });
      const first = g.particles.find((p) => p.parentId === 0)!;
      gaps += Math.hypot(...first.startMm.map((c, a) => c - g.particles[0]!.startMm[a]!));
      expect(new Set(g.labels)).not.toContain(SemanticLabel.track);
    }
    // Mean free path at 500 MeV ≈ 9/7 X0 / 0.9 ≈ 20 cm; 10 samples of an exponential.
    expect(gaps / 10).toBeGreaterThan(60);
    expect(gaps / 10).toBeLessThan(450);
  });

  it('a contained electron shower deposits most of its energy, labelled shower or low-energy', () => {
    const E = 500;
    const ev = generateEvent({ ...isolated, seed: 8, particles: [{ pdg: PDG.electron, kineticEnergyMeV: E, positionMm: [1152, 1152, 1152] }] });
    const s = sumEnergy(ev);
    expect(s).toBeGreaterThan(0.85 * E);
    expect(s).toBeLessThan(E + 10); // positron annihilation adds 1.022 MeV per positron
    const counts = [0, 0, 0, 0, 0];
    for (const l of ev.labels) counts[l]!++;
    expect(counts[0]!).toBeGreaterThan(100);
    expect(counts[1]! + counts[2]! + counts[3]!).toBe(0);
  });

  it('batches events with batch indices 0…B−1', () => {
    const batch = generateBatch(3, { seed: 10, preset: 'small' });
    expect(batch.events).toHaveLength(3);
    expect(validateCoords(batch.coords, 3)).toBe(batch.energy.length);
    for (let b = 0; b < 3; b++) {
      const single = generateEvent({ seed: 10 + b, preset: 'small' });
      const lo = batch.offsets[b]!;
      const hi = batch.offsets[b + 1]!;
      expect(hi - lo).toBe(single.energy.length);
      expect(batch.energy.subarray(lo, hi)).toEqual(single.energy);
      expect(batch.labels.subarray(lo, hi)).toEqual(single.labels);
      for (let i = lo; i < hi; i++) expect(batch.coords[4 * i]).toBe(b);
    }
    const again = combineEvents([generateEvent({ seed: 1, preset: 'small', batchIndex: 7 })]);
    expect(again.coords[0]).toBe(0);
  });

  it('rejects bad options with typed errors naming the option', () => {
    expect(() => generateEvent({ volumeVoxels: 0 })).toThrow(InputValueError);
    expect(() => generateEvent({ volumeVoxels: 0 })).toThrow(/volumeVoxels = 0/);
    expect(() => generateEvent({ stepMm: 5 })).toThrow(/stepMm/);
    expect(() => generateEvent({ trackEnergyMeV: [100, 10] })).toThrow(/trackEnergyMeV/);
    expect(() => generateEvent({ preset: 'huge' as 'small' })).toThrow(/preset/);
    expect(() => generateEvent({ seed: 1.5 })).toThrow(/seed/);
    expect(() => generateEvent({ particles: [{ pdg: 2112, kineticEnergyMeV: 10, positionMm: [1, 1, 1] }] })).toThrow(/particles\[0\]\.pdg/);
    expect(() => generateEvent({ preset: 'small', particles: [{ pdg: 13, kineticEnergyMeV: 10, positionMm: [1000, 1, 1] }] })).toThrow(/positionMm/);
    expect(() => generateBatch(0)).toThrow(/batchSize/);
  });
});
