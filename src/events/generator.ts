/**
 * Synthetic LArTPC events for semantic segmentation: muon, pion and proton
 * tracks (Bethe dE/dx with Bragg peaks, Highland multiple scattering, delta
 * rays, toy hadronic kinks), electromagnetic showers (bremsstrahlung, pair
 * production, Compton scattering), Michel electrons at stopping-muon ends and
 * low-energy blips, deposited into 3 mm voxels and labelled per voxel with the
 * five PILArNet semantic classes. Pure CPU, deterministic for a seed.
 *
 * The physics lives in `physics.ts`; `docs/events.md` describes the model,
 * its simplifications and its sources.
 *
 * @module
 */

import { fmix32, MAX_BATCH_INDEX, validateCoords } from '../kernels/sparse/coords.js';
import { seededRandom } from '../autodiff/numeric.js';
import { InputValueError, show } from '../errors.js';
import {
  betheLowEnergyLimitMeV,
  comptonAttenuationPerCm,
  csdaRangeCm,
  deltaRayCosTheta,
  deltaRayRatePerCm,
  highlandTheta0,
  kinematics,
  landauXiMeV,
  LAR_PROPERTIES,
  MOYAL_MEAN,
  MU_MINUS_DECAY_FRACTION_AR,
  PARTICLE_MASS_MEV,
  PION_DECAY_MUON_KINETIC_MEV,
  pairAttenuationPerCm,
  restrictedDEdx,
  sampleBremsFraction,
  sampleCompton,
  sampleDeltaRayEnergy,
  sampleMichelEnergy,
  sampleMoyal,
  samplePairFraction,
} from './physics.js';

// ------------------------------------------------------------------ classes

/**
 * PILArNet semantic classes (Adams et al., arXiv:2006.01993), in label-index
 * order: 0 shower, 1 track, 2 Michel electron, 3 delta ray, 4 low-energy deposit.
 */
export const SEMANTIC_CLASSES = ['shower', 'track', 'michel', 'delta', 'low_energy'] as const;

/** Name of a semantic class. */
export type SemanticClassName = (typeof SEMANTIC_CLASSES)[number];

/** Label indices of {@link SEMANTIC_CLASSES}. */
export const SemanticLabel = Object.freeze({
  shower: 0,
  track: 1,
  michel: 2,
  delta: 3,
  lowEnergy: 4,
} as const);

/** A label index, 0 … 4. */
export type SemanticLabelIndex = (typeof SemanticLabel)[keyof typeof SemanticLabel];

/** Number of semantic classes (5). */
export const NUM_SEMANTIC_CLASSES = SEMANTIC_CLASSES.length;

// ---------------------------------------------------------------- presets

/** Edge of the default cubic volume, voxels (PILArNet: 768³ voxels of 3 mm). */
export const DEFAULT_VOLUME_VOXELS = 768;

/** Edge of the "small" preset volume, voxels (192³ voxels of 3 mm = 57.6 cm), for tests and CI. */
export const SMALL_VOLUME_VOXELS = 192;

/** Default voxel edge, mm. */
export const DEFAULT_VOXEL_SIZE_MM = 3;

/** PDG particle codes used by the generator. */
export const PDG = Object.freeze({
  electron: 11,
  positron: -11,
  muMinus: 13,
  muPlus: -13,
  piPlus: 211,
  piMinus: -211,
  proton: 2212,
  photon: 22,
} as const);

/** Kinetic-energy range [min, max], MeV. */
export type EnergyRange = readonly [number, number];

/** A particle to simulate, placed explicitly (see {@link EventOptions.particles}). */
export interface ParticleSpec {
  /** PDG code: ±11, ±13, ±211, 2212 or 22. */
  readonly pdg: number;
  /** Kinetic energy, MeV (for photons: energy). */
  readonly kineticEnergyMeV: number;
  /** Start position, mm, in the volume frame (0 … volumeVoxels · voxelSizeMm). */
  readonly positionMm: readonly [number, number, number];
  /** Direction (normalised internally); isotropic when omitted. */
  readonly direction?: readonly [number, number, number];
}

/** Options of {@link generateEvent}; every field has a default. */
export interface EventOptions {
  /** Integer seed (any 32-bit value); the same seed and options give the same event. Default 0. */
  readonly seed?: number;
  /**
   * 'default' (768³ volume, PILArNet-like content) or 'small' (192³ volume,
   * fewer and lower-energy particles) — the defaults of the fields below.
   */
  readonly preset?: 'default' | 'small';
  /** Edge of the cubic volume, voxels (1 … 1625, so that the volume has < 2³² voxels). */
  readonly volumeVoxels?: number;
  /** Voxel edge, mm. Default 3. */
  readonly voxelSizeMm?: number;
  /** Number of interaction vertices (pile-up). Default 4 ('small': 1). */
  readonly interactions?: number;
  /** Range [min, max] of primaries per vertex. Default [2, 5] ('small': [2, 4]). */
  readonly particlesPerInteraction?: readonly [number, number];
  /** Number of vertex-less particles ("rain": tracks and showers starting anywhere). Default 4 ('small': 1). */
  readonly rain?: number;
  /** Number of isolated low-energy electron blips, label 4. Default 150 ('small': 30). */
  readonly blips?: number;
  /** Kinetic-energy range of muons and pions, MeV. Default [50, 1000] ('small': [30, 300]). */
  readonly trackEnergyMeV?: EnergyRange;
  /** Kinetic-energy range of protons, MeV. Default [30, 400] ('small': [20, 200]). */
  readonly protonEnergyMeV?: EnergyRange;
  /** Energy range of primary electrons and photons, MeV. Default [30, 1000] ('small': [30, 300]). */
  readonly showerEnergyMeV?: EnergyRange;
  /** Blip electron kinetic-energy range, MeV (log-uniform). Default [0.2, 3]. */
  readonly blipEnergyMeV?: EnergyRange;
  /** Explicit particles simulated in addition to the random ones (interaction index −1). Default none. */
  readonly particles?: readonly ParticleSpec[];
  /** Kinetic-energy threshold above which delta rays are produced explicitly, MeV. Default 1. */
  readonly deltaRayThresholdMeV?: number;
  /**
   * Compton and photo-absorption electrons below this kinetic energy are
   * labelled low-energy (4); above it they inherit the photon's class. MeV, default 2.
   */
  readonly lowEnergyThresholdMeV?: number;
  /** Smallest bremsstrahlung photon energy produced explicitly, MeV. Default 0.5. */
  readonly bremsCutMeV?: number;
  /** Probability that a stopped μ− decays (emits a Michel electron). Default 0.244 (capture on Ar). */
  readonly muMinusDecayFraction?: number;
  /** Largest tracking step, mm (must be ≤ voxelSizeMm so that no voxel is skipped). Default 1. */
  readonly stepMm?: number;
  /** Toy hadronic elastic kinks of pions and protons at the nuclear interaction length. Default true. */
  readonly hadronicKinks?: boolean;
  /**
   * Voxels whose summed energy is below this are dropped, as a readout
   * threshold would (it removes most of the faint blips of 0.511 MeV
   * annihilation photons). MeV, default 0.05; 0 keeps every voxel.
   */
  readonly voxelThresholdMeV?: number;
  /** Batch index written in column 0 of `coords`. Default 0. */
  readonly batchIndex?: number;
}

/** How a particle was created. */
export type ParticleProcess =
  | 'primary'
  | 'delta'
  | 'decay'
  | 'capture'
  | 'brems'
  | 'pair'
  | 'compton'
  | 'photo'
  | 'annihilation'
  | 'blip';

/** Truth record of one simulated particle. */
export interface ParticleTruth {
  /** Index in {@link LArTPCEvent.particles}. */
  readonly id: number;
  /** Id of the parent particle, −1 for primaries and blips. */
  readonly parentId: number;
  /** Id of the primary ancestor (itself for a primary). */
  readonly primaryId: number;
  /** Interaction vertex index (0 … interactions − 1), −1 for rain, blips and explicit particles. */
  readonly interaction: number;
  /** PDG code. */
  readonly pdg: number;
  /** Semantic class of this particle's deposits. */
  readonly label: SemanticLabelIndex;
  /** Creation process. */
  readonly process: ParticleProcess;
  /** Kinetic energy at creation, MeV (photons: energy). */
  readonly kineticEnergyMeV: number;
  /** Start position, mm. */
  readonly startMm: readonly [number, number, number];
  /** Initial direction (unit vector). */
  readonly direction: readonly [number, number, number];
  /** Position where tracking ended (stopped, converted, absorbed or left the volume), mm. */
  readonly endMm: readonly [number, number, number];
  /** Energy this particle deposited in the volume (ionisation only, not its descendants'), MeV. */
  readonly depositedMeV: number;
  /** True when the particle left the volume. */
  readonly exited: boolean;
}

/** The truth record while it is being filled in during tracking. */
type TruthRecord = { -readonly [K in keyof ParticleTruth]: ParticleTruth[K] };

/** Truth of one interaction vertex. */
export interface InteractionTruth {
  /** Vertex, mm. */
  readonly vertexMm: readonly [number, number, number];
  /** Ids of its primaries. */
  readonly primaryIds: readonly number[];
}

/** A voxelised event. Rows are sorted by (x, y, z); every site appears once. */
export interface LArTPCEvent {
  /** Int32Array [N, 4] rows (batch, x, y, z), voxel indices. */
  readonly coords: Int32Array;
  /** Float32Array [N]: energy deposited in each voxel, MeV (the input feature). */
  readonly energy: Float32Array;
  /** Int32Array [N]: semantic label 0 … 4 (see {@link SEMANTIC_CLASSES}). */
  readonly labels: Int32Array;
  /** Int32Array [N]: id of the particle that deposited the most energy in each voxel (instance truth). */
  readonly particleIds: Int32Array;
  /** Every simulated particle (primaries, secondaries, blips). */
  readonly particles: readonly ParticleTruth[];
  /** Interaction vertices. */
  readonly interactions: readonly InteractionTruth[];
  /** Edge of the cubic volume, voxels. */
  readonly volumeVoxels: number;
  /** Voxel edge, mm. */
  readonly voxelSizeMm: number;
  /** The seed the event was generated with. */
  readonly seed: number;
  /**
   * Energy in voxels dropped by `voxelThresholdMeV`, MeV. Σ energy +
   * belowThresholdMeV = Σ particles[i].depositedMeV (up to float32 rounding).
   */
  readonly belowThresholdMeV: number;
}

/** Several events in one sparse tensor, batch index b = event b. */
export interface LArTPCBatch {
  /** Int32Array [N, 4] rows (batch, x, y, z); event b's rows are contiguous, in order. */
  readonly coords: Int32Array;
  /** Float32Array [N], MeV. */
  readonly energy: Float32Array;
  /** Int32Array [N], 0 … 4. */
  readonly labels: Int32Array;
  /** Int32Array [N], particle id within its own event. */
  readonly particleIds: Int32Array;
  /** Int32Array [B + 1]: rows of event b are offsets[b] … offsets[b + 1] − 1. */
  readonly offsets: Int32Array;
  /** The events (with batch index 0 in their own coords), for truth. */
  readonly events: readonly LArTPCEvent[];
}

// ------------------------------------------------------------------ options

interface Resolved {
  seed: number;
  volumeVoxels: number;
  voxelSizeMm: number;
  interactions: number;
  particlesPerInteraction: readonly [number, number];
  rain: number;
  blips: number;
  trackEnergyMeV: EnergyRange;
  protonEnergyMeV: EnergyRange;
  showerEnergyMeV: EnergyRange;
  blipEnergyMeV: EnergyRange;
  particles: readonly ParticleSpec[];
  deltaRayThresholdMeV: number;
  lowEnergyThresholdMeV: number;
  bremsCutMeV: number;
  muMinusDecayFraction: number;
  stepMm: number;
  hadronicKinks: boolean;
  voxelThresholdMeV: number;
  batchIndex: number;
}

const KNOWN_PDG = new Set<number>(Object.values(PDG));

function bad(option: string, value: unknown, fix: string): InputValueError {
  return new InputValueError(`options.${option} = ${show(value)} is invalid; ${fix}.`);
}

function checkInt(option: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw bad(option, v, `pass an integer in ${min} … ${max}`);
  return v;
}

function checkPositive(option: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0) throw bad(option, v, 'pass a finite number > 0');
  return v;
}

function checkRange(option: string, r: EnergyRange, min = 0): EnergyRange {
  if (!Array.isArray(r) || r.length !== 2 || !(r[0] > min) || !(r[1] >= r[0]) || !Number.isFinite(r[1])) {
    throw bad(option, r, `pass [min, max] with ${min} < min ≤ max, in MeV`);
  }
  return r;
}

function resolveOptions(o: EventOptions): Resolved {
  const preset = o.preset ?? 'default';
  if (preset !== 'default' && preset !== 'small') throw bad('preset', preset, "pass 'default' or 'small'");
  const small = preset === 'small';
  const seed = o.seed ?? 0;
  if (!Number.isInteger(seed)) throw bad('seed', seed, 'pass an integer (it is used modulo 2³²)');
  const volumeVoxels = checkInt('volumeVoxels', o.volumeVoxels ?? (small ? SMALL_VOLUME_VOXELS : DEFAULT_VOLUME_VOXELS), 1, 1625);
  const voxelSizeMm = checkPositive('voxelSizeMm', o.voxelSizeMm ?? DEFAULT_VOXEL_SIZE_MM);
  const stepMm = checkPositive('stepMm', o.stepMm ?? Math.min(1, voxelSizeMm));
  if (stepMm > voxelSizeMm) throw bad('stepMm', stepMm, `pass a step ≤ voxelSizeMm (${voxelSizeMm} mm) so that tracks do not skip voxels`);
  const ppi = o.particlesPerInteraction ?? (small ? [2, 4] : [2, 5]);
  if (!Array.isArray(ppi) || ppi.length !== 2 || !Number.isInteger(ppi[0]) || !Number.isInteger(ppi[1]) || ppi[0] < 1 || ppi[1] < ppi[0] || ppi[1] > 100) {
    throw bad('particlesPerInteraction', ppi, 'pass [min, max] integers with 1 ≤ min ≤ max ≤ 100');
  }
  const particles = o.particles ?? [];
  particles.forEach((p, i) => {
    if (!KNOWN_PDG.has(p.pdg)) throw bad(`particles[${i}].pdg`, p.pdg, `pass one of ${[...KNOWN_PDG].join(', ')}`);
    if (!Number.isFinite(p.kineticEnergyMeV) || p.kineticEnergyMeV <= 0 || p.kineticEnergyMeV > 1e5) {
      throw bad(`particles[${i}].kineticEnergyMeV`, p.kineticEnergyMeV, 'pass a kinetic energy in (0, 1e5] MeV');
    }
    const L = volumeVoxels * voxelSizeMm;
    if (p.positionMm.length !== 3 || p.positionMm.some((c) => !(c >= 0 && c < L))) {
      throw bad(`particles[${i}].positionMm`, [...p.positionMm], `pass [x, y, z] inside the volume, each in [0, ${L}) mm`);
    }
    if (p.direction !== undefined && (p.direction.length !== 3 || !(Math.hypot(...p.direction) > 0))) {
      throw bad(`particles[${i}].direction`, [...p.direction], 'pass a non-zero [dx, dy, dz] or omit it for an isotropic direction');
    }
  });
  const fraction = o.muMinusDecayFraction ?? MU_MINUS_DECAY_FRACTION_AR;
  if (!(fraction >= 0 && fraction <= 1)) throw bad('muMinusDecayFraction', fraction, 'pass a probability in [0, 1]');
  const batchIndex = checkInt('batchIndex', o.batchIndex ?? 0, 0, MAX_BATCH_INDEX);
  const voxelThresholdMeV = o.voxelThresholdMeV ?? 0.05;
  if (!(voxelThresholdMeV >= 0) || !Number.isFinite(voxelThresholdMeV)) {
    throw bad('voxelThresholdMeV', voxelThresholdMeV, 'pass a finite energy ≥ 0 MeV (0 keeps every voxel)');
  }
  return {
    seed,
    volumeVoxels,
    voxelSizeMm,
    interactions: checkInt('interactions', o.interactions ?? (small ? 1 : 4), 0, 1000),
    particlesPerInteraction: [ppi[0], ppi[1]],
    rain: checkInt('rain', o.rain ?? (small ? 1 : 4), 0, 10000),
    blips: checkInt('blips', o.blips ?? (small ? 30 : 150), 0, 1_000_000),
    trackEnergyMeV: checkRange('trackEnergyMeV', o.trackEnergyMeV ?? (small ? [30, 300] : [50, 1000])),
    protonEnergyMeV: checkRange('protonEnergyMeV', o.protonEnergyMeV ?? (small ? [20, 200] : [30, 400])),
    showerEnergyMeV: checkRange('showerEnergyMeV', o.showerEnergyMeV ?? (small ? [30, 300] : [30, 1000])),
    blipEnergyMeV: checkRange('blipEnergyMeV', o.blipEnergyMeV ?? [0.2, 3]),
    particles,
    deltaRayThresholdMeV: checkPositive('deltaRayThresholdMeV', o.deltaRayThresholdMeV ?? 1),
    lowEnergyThresholdMeV: checkPositive('lowEnergyThresholdMeV', o.lowEnergyThresholdMeV ?? 2),
    bremsCutMeV: checkPositive('bremsCutMeV', o.bremsCutMeV ?? 0.5),
    muMinusDecayFraction: fraction,
    stepMm,
    hadronicKinks: o.hadronicKinks ?? true,
    voxelThresholdMeV,
    batchIndex,
  };
}

// --------------------------------------------------------------- simulation

type Vec3 = [number, number, number];

/** A particle waiting to be tracked. */
interface Pending {
  id: number;
  pdg: number;
  kinetic: number;
  pos: Vec3;
  dir: Vec3;
  /** Class given to descendants above the low-energy threshold. */
  family: SemanticLabelIndex;
}

/** Electrons below this kinetic energy deposit all of it at once (range ≈ 0.1 mm), MeV. */
const ELECTRON_STOP_MEV = 0.05;
/** Photons below this energy are photo-absorbed on the spot, MeV (in argon the photo-effect overtakes Compton scattering below ~0.1 MeV). */
const PHOTO_ABSORPTION_MEV = 0.1;
/** Shortest tracking step, mm. */
const MIN_STEP_MM = 0.02;

function unit(v: readonly number[]): Vec3 {
  const n = Math.hypot(v[0]!, v[1]!, v[2]!);
  return [v[0]! / n, v[1]! / n, v[2]! / n];
}

/** Rotates unit vector d by polar angle θ (cos θ given) and azimuth φ about itself. */
function deflect(d: Vec3, cosTheta: number, phi: number): Vec3 {
  const sinTheta = Math.sqrt(Math.max(0, 1 - cosTheta * cosTheta));
  // Any vector not parallel to d gives an orthonormal basis (u, v) ⟂ d.
  const a: Vec3 = Math.abs(d[0]) < 0.9 ? [1, 0, 0] : [0, 1, 0];
  const u = unit([d[1] * a[2] - d[2] * a[1], d[2] * a[0] - d[0] * a[2], d[0] * a[1] - d[1] * a[0]]);
  const v: Vec3 = [d[1] * u[2] - d[2] * u[1], d[2] * u[0] - d[0] * u[2], d[0] * u[1] - d[1] * u[0]];
  const c = Math.cos(phi) * sinTheta;
  const s = Math.sin(phi) * sinTheta;
  return unit([
    cosTheta * d[0] + c * u[0] + s * v[0],
    cosTheta * d[1] + c * u[1] + s * v[1],
    cosTheta * d[2] + c * u[2] + s * v[2],
  ]);
}

/** One event's simulation state: PRNG, particle stack, voxel accumulator. */
class Simulation {
  readonly particles: TruthRecord[] = [];
  private readonly stack: Pending[] = [];
  /** (voxel · 2^21 + particle id) → energy, MeV. */
  readonly deposits = new Map<number, number>();
  private readonly lengthMm: number;
  private spareGauss: number | null = null;
  /** The PRNG of the stream being simulated (set per interaction, rain particle, blip set). */
  rand: () => number = seededRandom(0);

  constructor(readonly opt: Resolved) {
    this.lengthMm = opt.volumeVoxels * opt.voxelSizeMm;
  }

  /** Switches to another PRNG stream; the cached Gaussian belongs to the old one. */
  useStream(rand: () => number): () => number {
    this.rand = rand;
    this.spareGauss = null;
    return rand;
  }

  gauss(): number {
    if (this.spareGauss !== null) {
      const g = this.spareGauss;
      this.spareGauss = null;
      return g;
    }
    const u1 = Math.max(this.rand(), 1e-300);
    const u2 = this.rand();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spareGauss = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  isotropic(): Vec3 {
    const c = 2 * this.rand() - 1;
    const phi = 2 * Math.PI * this.rand();
    const s = Math.sqrt(1 - c * c);
    return [s * Math.cos(phi), s * Math.sin(phi), c];
  }

  inside(p: Vec3): boolean {
    const L = this.lengthMm;
    return p[0] >= 0 && p[0] < L && p[1] >= 0 && p[1] < L && p[2] >= 0 && p[2] < L;
  }

  /** Adds a particle to the truth list and the tracking stack; returns its id. */
  spawn(
    pdg: number,
    kinetic: number,
    pos: Vec3,
    dir: Vec3,
    label: SemanticLabelIndex,
    family: SemanticLabelIndex,
    process: ParticleProcess,
    parentId: number,
    interaction: number,
  ): number {
    const id = this.particles.length;
    if (id >= 1 << 21) {
      throw new InputValueError(`event holds more than ${1 << 21} particles; lower the primary energies, rain or blips.`);
    }
    const parent = parentId >= 0 ? this.particles[parentId] : undefined;
    this.particles.push({
      id,
      parentId,
      primaryId: parent ? parent.primaryId : id,
      interaction: parent ? parent.interaction : interaction,
      pdg,
      label,
      process,
      kineticEnergyMeV: kinetic,
      startMm: [pos[0], pos[1], pos[2]],
      direction: [dir[0], dir[1], dir[2]],
      endMm: [pos[0], pos[1], pos[2]],
      depositedMeV: 0,
      exited: false,
    });
    this.stack.push({ id, pdg, kinetic, pos: [pos[0], pos[1], pos[2]], dir: [dir[0], dir[1], dir[2]], family });
    return id;
  }

  /** Tracks everything on the stack, depth first (deterministic order). */
  run(): void {
    for (let p = this.stack.pop(); p; p = this.stack.pop()) {
      const a = Math.abs(p.pdg);
      if (a === 22) this.trackPhoton(p);
      else if (a === 11) this.trackElectron(p);
      else this.trackHeavy(p);
    }
  }

  deposit(id: number, pos: Vec3, energy: number): void {
    if (!(energy > 0) || !this.inside(pos)) return;
    const s = this.opt.voxelSizeMm;
    const n = this.opt.volumeVoxels;
    const ix = Math.min(n - 1, Math.floor(pos[0] / s));
    const iy = Math.min(n - 1, Math.floor(pos[1] / s));
    const iz = Math.min(n - 1, Math.floor(pos[2] / s));
    // Volume < 2³² voxels and ids < 2²¹ keep the key below 2⁵³ (exact in float64).
    const key = ((ix * n + iy) * n + iz) * 2097152 + id;
    this.deposits.set(key, (this.deposits.get(key) ?? 0) + energy);
    this.particles[id]!.depositedMeV += energy;
  }

  private finish(p: Pending, exited: boolean): void {
    const t = this.particles[p.id]!;
    t.endMm = [p.pos[0], p.pos[1], p.pos[2]];
    t.exited = exited;
  }

  /** Moves p by `mm` along its direction and deposits `energy` at the step midpoint. */
  private step(p: Pending, mm: number, energy: number): void {
    const mid: Vec3 = [p.pos[0] + 0.5 * mm * p.dir[0], p.pos[1] + 0.5 * mm * p.dir[1], p.pos[2] + 0.5 * mm * p.dir[2]];
    this.deposit(p.id, mid, energy);
    p.pos = [p.pos[0] + mm * p.dir[0], p.pos[1] + mm * p.dir[1], p.pos[2] + mm * p.dir[2]];
  }

  private scatter(p: Pending, mass: number, stepCm: number): void {
    const { beta, momentumMeV } = kinematics(mass, p.kinetic);
    const theta0 = highlandTheta0(momentumMeV, beta, stepCm);
    // Sum of two projected Gaussian angles = space angle; Highland is a
    // core-width fit, so very large angles are simply capped at π.
    const tx = theta0 * this.gauss();
    const ty = theta0 * this.gauss();
    const theta = Math.min(Math.PI, Math.hypot(tx, ty));
    p.dir = deflect(p.dir, Math.cos(theta), Math.atan2(ty, tx));
  }

  /** Muons, pions, protons: Bethe loss with Landau-like straggling, deltas, scattering, decays at rest. */
  private trackHeavy(p: Pending): void {
    const a = Math.abs(p.pdg);
    const mass = a === 13 ? PARTICLE_MASS_MEV.muon : a === 211 ? PARTICLE_MASS_MEV.pion : PARTICLE_MASS_MEV.proton;
    const tLow = betheLowEnergyLimitMeV(mass);
    const cut = this.opt.deltaRayThresholdMeV;
    const kinkLengthMm = LAR_PROPERTIES.nuclearInteractionLengthCm * 10;
    for (;;) {
      if (!this.inside(p.pos)) {
        this.finish(p, true);
        return;
      }
      if (p.kinetic <= tLow) {
        this.deposit(p.id, p.pos, p.kinetic);
        p.kinetic = 0;
        break;
      }
      // Shorten steps near the end so that the Bragg peak is resolved.
      const residualMm = csdaRangeCm(mass, p.kinetic) * 10;
      const mm = Math.max(MIN_STEP_MM, Math.min(this.opt.stepMm, 0.2 * residualMm));
      const cm = mm / 10;
      // Delta rays above the cut, at most one per step (rate × step ≪ 1).
      if (this.rand() < deltaRayRatePerCm(mass, p.kinetic, cut) * cm) {
        const td = Math.min(sampleDeltaRayEnergy(this.rand, mass, p.kinetic, cut), p.kinetic - tLow);
        if (td > 0) {
          const cos = deltaRayCosTheta(mass, p.kinetic, td);
          const dir = deflect(p.dir, cos, 2 * Math.PI * this.rand());
          this.spawn(PDG.electron, td, p.pos, dir, SemanticLabel.delta, SemanticLabel.delta, 'delta', p.id, -1);
          p.kinetic -= td;
        }
      }
      // Restricted mean loss at the step midpoint energy, plus Moyal straggling of width ξ.
      const mean0 = restrictedDEdx(mass, p.kinetic, cut) * cm;
      const mean = restrictedDEdx(mass, Math.max(tLow, p.kinetic - 0.5 * mean0), cut) * cm;
      const { beta } = kinematics(mass, p.kinetic);
      const xi = landauXiMeV(beta, cm);
      let de = mean + xi * (sampleMoyal(() => this.gauss()) - MOYAL_MEAN);
      de = Math.min(p.kinetic, Math.max(0.2 * mean, Math.min(de, 4 * mean)));
      p.kinetic -= de;
      this.step(p, mm, de);
      if (p.kinetic > tLow) this.scatter(p, mass, cm);
      // Toy hadronic elastic scatter: a visible kink, once per λ_I on average.
      if (a !== 13 && this.opt.hadronicKinks && this.rand() < mm / kinkLengthMm) {
        const theta = 0.15 + 0.85 * this.rand();
        p.dir = deflect(p.dir, Math.cos(theta), 2 * Math.PI * this.rand());
      }
    }
    this.finish(p, false);
    this.atRest(p);
  }

  /** Decay or capture of a stopped muon or pion. */
  private atRest(p: Pending): void {
    if (p.pdg === PDG.muPlus || (p.pdg === PDG.muMinus && this.rand() < this.opt.muMinusDecayFraction)) {
      const e = sampleMichelEnergy(this.rand);
      const t = Math.max(ELECTRON_STOP_MEV, e - PARTICLE_MASS_MEV.electron);
      const pdg = p.pdg === PDG.muPlus ? PDG.positron : PDG.electron;
      this.spawn(pdg, t, p.pos, this.isotropic(), SemanticLabel.michel, SemanticLabel.michel, 'decay', p.id, -1);
    } else if (p.pdg === PDG.piPlus) {
      // π+ → μ+ ν at rest: a 4.1 MeV muon (≈1.5 mm), then its Michel positron.
      this.spawn(PDG.muPlus, PION_DECAY_MUON_KINETIC_MEV, p.pos, this.isotropic(), SemanticLabel.track, SemanticLabel.track, 'decay', p.id, -1);
    } else if (p.pdg === PDG.piMinus) {
      // π− absorbed on a nucleus: a toy spray of 0–2 short protons.
      const n = Math.floor(3 * this.rand());
      for (let i = 0; i < n; i++) {
        const t = 5 + 35 * this.rand();
        this.spawn(PDG.proton, t, p.pos, this.isotropic(), SemanticLabel.track, SemanticLabel.track, 'capture', p.id, -1);
      }
    }
  }

  /** Electrons and positrons: ionisation, explicit bremsstrahlung above the cut, scattering. */
  private trackElectron(p: Pending): void {
    const me = PARTICLE_MASS_MEV.electron;
    const X0mm = LAR_PROPERTIES.radiationLengthCm * 10;
    const kc = this.opt.bremsCutMeV;
    // Radiation below the cut (mean (4/3) k_c / X0 per unit length) is deposited locally.
    const softRadPerMm = ((4 / 3) * kc) / X0mm;
    for (;;) {
      if (!this.inside(p.pos)) {
        this.finish(p, true);
        return;
      }
      if (p.kinetic <= ELECTRON_STOP_MEV) {
        this.deposit(p.id, p.pos, p.kinetic);
        p.kinetic = 0;
        break;
      }
      const dedxMm = restrictedDEdx(me, p.kinetic) / 10;
      const mm = Math.max(MIN_STEP_MM, Math.min(this.opt.stepMm, (0.2 * p.kinetic) / dedxMm));
      const total = p.kinetic + me;
      if (p.kinetic > kc) {
        const rate = ((4 / 3) * Math.log(total / kc)) / X0mm;
        if (this.rand() < rate * mm) {
          const y = sampleBremsFraction(this.rand, total, kc);
          const k = Math.min(y * total, p.kinetic - ELECTRON_STOP_MEV);
          if (y > 0 && k > 0) {
            this.spawn(PDG.photon, k, p.pos, p.dir, p.family, p.family, 'brems', p.id, -1);
            p.kinetic -= k;
          }
        }
      }
      const de = Math.min(p.kinetic, (dedxMm + (p.kinetic > kc ? softRadPerMm : 0)) * mm);
      p.kinetic -= de;
      this.step(p, mm, de);
      if (p.kinetic > ELECTRON_STOP_MEV) this.scatter(p, me, mm / 10);
    }
    this.finish(p, false);
    if (p.pdg === PDG.positron) {
      // Annihilation at rest: two back-to-back 0.511 MeV photons.
      const d = this.isotropic();
      const family = SemanticLabel.lowEnergy;
      this.spawn(PDG.photon, me, p.pos, d, family, family, 'annihilation', p.id, -1);
      this.spawn(PDG.photon, me, p.pos, [-d[0], -d[1], -d[2]], family, family, 'annihilation', p.id, -1);
    }
  }

  /** Photons: free flights (the gaps before showers), pair production, Compton scattering, photo-absorption. */
  private trackPhoton(p: Pending): void {
    const me = PARTICLE_MASS_MEV.electron;
    const lowE = this.opt.lowEnergyThresholdMeV;
    const child = (t: number): SemanticLabelIndex => (t < lowE ? SemanticLabel.lowEnergy : p.family);
    for (;;) {
      if (p.kinetic <= PHOTO_ABSORPTION_MEV) {
        if (this.inside(p.pos)) this.spawn(PDG.electron, p.kinetic, p.pos, this.isotropic(), SemanticLabel.lowEnergy, SemanticLabel.lowEnergy, 'photo', p.id, -1);
        this.finish(p, false);
        return;
      }
      const muC = comptonAttenuationPerCm(p.kinetic);
      const muP = pairAttenuationPerCm(p.kinetic);
      const flightMm = (-Math.log(Math.max(this.rand(), 1e-300)) / (muC + muP)) * 10;
      p.pos = [p.pos[0] + flightMm * p.dir[0], p.pos[1] + flightMm * p.dir[1], p.pos[2] + flightMm * p.dir[2]];
      if (!this.inside(p.pos)) {
        this.finish(p, true);
        return;
      }
      if (this.rand() * (muC + muP) < muP) {
        const avail = p.kinetic - 2 * me;
        const x = samplePairFraction(this.rand);
        // Opening angles of order m_e/E: small, but they separate the two tracks downstream.
        for (const [pdg, t] of [[PDG.electron, x * avail], [PDG.positron, (1 - x) * avail]] as const) {
          const theta = Math.min(Math.PI, (me / (t + me)) * Math.abs(this.gauss()));
          const dir = deflect(p.dir, Math.cos(theta), 2 * Math.PI * this.rand());
          this.spawn(pdg, Math.max(t, ELECTRON_STOP_MEV / 2), p.pos, dir, p.family, p.family, 'pair', p.id, -1);
        }
        this.finish(p, false);
        return;
      }
      const { epsilon, cosTheta } = sampleCompton(this.rand, p.kinetic);
      const phi = 2 * Math.PI * this.rand();
      const e0 = p.kinetic;
      const e1 = epsilon * e0;
      const newDir = deflect(p.dir, cosTheta, phi);
      // Electron momentum = incoming − outgoing photon momentum.
      const eDir = unit([e0 * p.dir[0] - e1 * newDir[0], e0 * p.dir[1] - e1 * newDir[1], e0 * p.dir[2] - e1 * newDir[2]]);
      const te = e0 - e1;
      this.spawn(PDG.electron, te, p.pos, eDir, child(te), child(te), 'compton', p.id, -1);
      p.kinetic = e1;
      p.dir = newDir;
    }
  }
}

// ------------------------------------------------------------- generation

/** Independent PRNG stream per interaction / rain particle / blip set, so that changing one count leaves the others unchanged. */
function stream(seed: number, kind: number, index: number): () => number {
  return seededRandom(fmix32((fmix32((seed >>> 0) ^ 0x5bd1e995) ^ fmix32(kind * 0x10000 + index)) >>> 0));
}

const STREAM_INTERACTION = 1;
const STREAM_RAIN = 2;
const STREAM_BLIPS = 3;
const STREAM_EXPLICIT = 4;

/** Log-uniform in [min, max]: as many 30–100 MeV as 300–1000 MeV particles, so that many tracks stop (Bragg peaks, Michels). */
function logUniformIn(rand: () => number, r: EnergyRange): number {
  return r[0] * Math.pow(r[1] / r[0], rand());
}

/** A random primary: type by fixed weights, kinetic energy log-uniform in its range. */
function randomPrimary(sim: Simulation, rand: () => number): { pdg: number; kinetic: number } {
  const o = sim.opt;
  const u = rand();
  const sign = rand() < 0.5 ? 1 : -1;
  if (u < 0.25) return { pdg: sign * 13, kinetic: logUniformIn(rand, o.trackEnergyMeV) };
  if (u < 0.4) return { pdg: sign * 211, kinetic: logUniformIn(rand, o.trackEnergyMeV) };
  if (u < 0.7) return { pdg: PDG.proton, kinetic: logUniformIn(rand, o.protonEnergyMeV) };
  if (u < 0.85) return { pdg: PDG.electron, kinetic: logUniformIn(rand, o.showerEnergyMeV) };
  return { pdg: PDG.photon, kinetic: logUniformIn(rand, o.showerEnergyMeV) };
}

function primaryLabel(pdg: number): SemanticLabelIndex {
  const a = Math.abs(pdg);
  return a === 11 || a === 22 ? SemanticLabel.shower : SemanticLabel.track;
}

function simulate(opt: Resolved): { sim: Simulation; interactions: InteractionTruth[] } {
  const sim = new Simulation(opt);
  const L = opt.volumeVoxels * opt.voxelSizeMm;
  const interactions: InteractionTruth[] = [];
  const inner = (rand: () => number): Vec3 => {
    // Vertices away from the walls (10% margin) so that most activity is contained.
    const m = 0.1 * L;
    return [m + (L - 2 * m) * rand(), m + (L - 2 * m) * rand(), m + (L - 2 * m) * rand()];
  };
  for (let i = 0; i < opt.interactions; i++) {
    const rand = sim.useStream(stream(opt.seed, STREAM_INTERACTION, i));
    const vertex = inner(rand);
    const [lo, hi] = opt.particlesPerInteraction;
    const n = lo + Math.floor((hi - lo + 1) * rand());
    const ids: number[] = [];
    for (let k = 0; k < n; k++) {
      const { pdg, kinetic } = randomPrimary(sim, rand);
      const label = primaryLabel(pdg);
      ids.push(sim.spawn(pdg, kinetic, vertex, sim.isotropic(), label, label, 'primary', -1, i));
    }
    interactions.push({ vertexMm: vertex, primaryIds: ids });
    sim.run();
  }
  for (let i = 0; i < opt.rain; i++) {
    const rand = sim.useStream(stream(opt.seed, STREAM_RAIN, i));
    const { pdg, kinetic } = randomPrimary(sim, rand);
    const label = primaryLabel(pdg);
    sim.spawn(pdg, kinetic, inner(rand), sim.isotropic(), label, label, 'primary', -1, -1);
    sim.run();
  }
  sim.useStream(stream(opt.seed, STREAM_BLIPS, 0));
  for (let i = 0; i < opt.blips; i++) {
    const r = opt.blipEnergyMeV;
    const t = r[0] * Math.pow(r[1] / r[0], sim.rand());
    const pos: Vec3 = [L * sim.rand(), L * sim.rand(), L * sim.rand()];
    const low = SemanticLabel.lowEnergy;
    sim.spawn(PDG.electron, t, pos, sim.isotropic(), low, low, 'blip', -1, -1);
    sim.run();
  }
  opt.particles.forEach((spec, i) => {
    sim.useStream(stream(opt.seed, STREAM_EXPLICIT, i));
    const label = primaryLabel(spec.pdg);
    const dir = spec.direction ? unit(spec.direction) : sim.isotropic();
    sim.spawn(spec.pdg, spec.kineticEnergyMeV, [...spec.positionMm], dir, label, label, 'primary', -1, -1);
    sim.run();
  });
  return { sim, interactions };
}

/**
 * Generates one synthetic LArTPC event.
 *
 * Voxels hit by several particles hold the summed energy and the label of
 * the particle that deposited the most energy there (ties: the lower particle
 * id), so every coordinate appears once. Rows are sorted by (x, y, z).
 *
 * @example
 *     const ev = generateEvent({ seed: 7, preset: 'small' });
 *     ev.coords;  // Int32Array [N, 4] (batch, x, y, z)
 *     ev.energy;  // Float32Array [N], MeV
 *     ev.labels;  // Int32Array [N], 0 shower … 4 low-energy
 *
 * @throws InputValueError for an invalid option (naming it, its value and the fix)
 */
export function generateEvent(options: EventOptions = {}): LArTPCEvent {
  const opt = resolveOptions(options);
  const { sim, interactions } = simulate(opt);
  const n = opt.volumeVoxels;
  // Collapse (voxel, particle) deposits to voxels: sum, and keep the dominant particle.
  const voxelOf = new Map<number, number>();
  const vox: number[] = [];
  const sum: number[] = [];
  const best: number[] = [];
  const bestE: number[] = [];
  for (const [key, e] of sim.deposits) {
    const v = Math.floor(key / 2097152);
    const id = key - v * 2097152;
    let r = voxelOf.get(v);
    if (r === undefined) {
      r = vox.length;
      voxelOf.set(v, r);
      vox.push(v);
      sum.push(0);
      best.push(id);
      bestE.push(-1);
    }
    sum[r] = sum[r]! + e;
    if (e > bestE[r]! || (e === bestE[r]! && id < best[r]!)) {
      bestE[r] = e;
      best[r] = id;
    }
  }
  let belowThresholdMeV = 0;
  const kept: number[] = [];
  for (let r = 0; r < vox.length; r++) {
    if (sum[r]! >= opt.voxelThresholdMeV) kept.push(r);
    else belowThresholdMeV += sum[r]!;
  }
  const order = kept.sort((a, b) => vox[a]! - vox[b]!);
  const N = order.length;
  const coords = new Int32Array(4 * N);
  const energy = new Float32Array(N);
  const labels = new Int32Array(N);
  const particleIds = new Int32Array(N);
  order.forEach((r, i) => {
    const v = vox[r]!;
    coords[4 * i] = opt.batchIndex;
    coords[4 * i + 1] = Math.floor(v / (n * n));
    coords[4 * i + 2] = Math.floor(v / n) % n;
    coords[4 * i + 3] = v % n;
    energy[i] = sum[r]!;
    particleIds[i] = best[r]!;
    labels[i] = sim.particles[best[r]!]!.label;
  });
  return {
    coords,
    energy,
    labels,
    particleIds,
    particles: sim.particles,
    interactions,
    volumeVoxels: opt.volumeVoxels,
    voxelSizeMm: opt.voxelSizeMm,
    seed: opt.seed,
    belowThresholdMeV,
  };
}

/**
 * Concatenates events into one batch: event b's rows get batch index b
 * (whatever index they carried), in order. The result passes
 * `validateCoords(coords, 3)`.
 *
 * @throws InputValueError for more than 65535 events
 */
export function combineEvents(events: readonly LArTPCEvent[]): LArTPCBatch {
  if (events.length > MAX_BATCH_INDEX + 1) {
    throw new InputValueError(`events has ${events.length} entries; a batch holds at most ${MAX_BATCH_INDEX + 1} events (batch index ≤ ${MAX_BATCH_INDEX}). Split it.`);
  }
  const offsets = new Int32Array(events.length + 1);
  events.forEach((e, b) => (offsets[b + 1] = offsets[b]! + e.energy.length));
  const N = offsets[events.length]!;
  const coords = new Int32Array(4 * N);
  const energy = new Float32Array(N);
  const labels = new Int32Array(N);
  const particleIds = new Int32Array(N);
  events.forEach((e, b) => {
    const o = offsets[b]!;
    coords.set(e.coords, 4 * o);
    for (let i = 0; i < e.energy.length; i++) coords[4 * (o + i)] = b;
    energy.set(e.energy, o);
    labels.set(e.labels, o);
    particleIds.set(e.particleIds, o);
  });
  return { coords, energy, labels, particleIds, offsets, events };
}

/**
 * Generates `batchSize` events and combines them: event b is exactly
 * `generateEvent({ ...options, seed: seed + b, batchIndex: b })`.
 *
 * @param batchSize number of events, 1 … 65535
 * @throws InputValueError for a bad batch size or option
 */
export function generateBatch(batchSize: number, options: EventOptions = {}): LArTPCBatch {
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_INDEX + 1) {
    throw new InputValueError(`batchSize = ${show(batchSize)} is invalid; pass an integer in 1 … ${MAX_BATCH_INDEX + 1}.`);
  }
  const seed = options.seed ?? 0;
  const events: LArTPCEvent[] = [];
  for (let b = 0; b < batchSize; b++) events.push(generateEvent({ ...options, seed: seed + b, batchIndex: b }));
  return combineEvents(events);
}

/**
 * Checks an event's invariants and returns N: coords valid and unique
 * (`validateCoords`), inside the volume, energies finite and > 0, labels in
 * 0 … 4. Meant for tests and data loaders.
 *
 * @throws the errors of `validateCoords`, or InputValueError naming the row
 */
export function validateEvent(event: Pick<LArTPCEvent, 'coords' | 'energy' | 'labels'> & { readonly volumeVoxels?: number }): number {
  const n = validateCoords(event.coords, 3, 'event.coords');
  if (event.energy.length !== n || event.labels.length !== n) {
    throw new InputValueError(`event has ${n} coordinate rows but ${event.energy.length} energies and ${event.labels.length} labels; all three need one entry per voxel.`);
  }
  for (let i = 0; i < n; i++) {
    const e = event.energy[i]!;
    if (!(e > 0) || !Number.isFinite(e)) throw new InputValueError(`event.energy[${i}] = ${show(e)} must be finite and > 0 MeV.`);
    const l = event.labels[i]!;
    if (!(l >= 0 && l < NUM_SEMANTIC_CLASSES)) {
      throw new InputValueError(`event.labels[${i}] = ${l} is not a class index; labels are 0 … ${NUM_SEMANTIC_CLASSES - 1} (${SEMANTIC_CLASSES.join(', ')}).`);
    }
    if (event.volumeVoxels !== undefined) {
      for (let a = 1; a <= 3; a++) {
        const c = event.coords[4 * i + a]!;
        if (c >= event.volumeVoxels) throw new InputValueError(`event.coords row ${i}: coordinate ${c} ≥ volumeVoxels = ${event.volumeVoxels}.`);
      }
    }
  }
  return n;
}
