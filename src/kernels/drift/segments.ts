/**
 * Energy-deposit segments, the input of the LArTPC charge simulation, with the
 * fields of larnd-sim's segment table (`x_start` … `pdgId`), a packed
 * float32 interchange format for GPU upload, validation, and a seeded
 * synthetic generator of straight muons and stopping protons.
 *
 * Units: positions and `dx` in cm, `dE` in MeV, `t0` in µs.
 *
 * @module
 */

import { InputValueError, ShapeError, show } from '../../errors.js';
import { seededRandom } from '../../autodiff/numeric.js';
import { gaussianSource } from './special.js';

/**
 * Struct-of-arrays segment table. Row i is the straight segment from
 * (xStart, yStart, zStart)[i] to (xEnd, yEnd, zEnd)[i] (cm) that deposited
 * dE[i] MeV over the path length dx[i] cm, starting at time t0[i] µs.
 *
 * `dx` is kept as given rather than recomputed from the endpoints because
 * larnd-sim (and edep-sim) carry it separately and recombination uses
 * dE/dx from it; it is normally equal to the endpoint distance.
 */
export interface Segments {
  /** Number of rows. */
  readonly length: number;
  /** Start x, cm. */
  readonly xStart: Float64Array;
  /** Start y, cm. */
  readonly yStart: Float64Array;
  /** Start z, cm. */
  readonly zStart: Float64Array;
  /** End x, cm. */
  readonly xEnd: Float64Array;
  /** End y, cm. */
  readonly yEnd: Float64Array;
  /** End z, cm. */
  readonly zEnd: Float64Array;
  /** Deposited energy, MeV (finite, ≥ 0). */
  readonly dE: Float64Array;
  /** Path length used for dE/dx, cm (finite, ≥ 0; 0 marks a point deposit). */
  readonly dx: Float64Array;
  /** Deposit time, µs (added to the drift time). */
  readonly t0: Float64Array;
  /** Geant4/edep-sim track id (bookkeeping only). */
  readonly trackId: Int32Array;
  /** PDG code of the depositing particle (bookkeeping only). */
  readonly pdgId: Int32Array;
}

/** One segment as a plain object, with larnd-sim's field names. */
export interface SegmentRecord {
  x_start: number;
  y_start: number;
  z_start: number;
  x_end: number;
  y_end: number;
  z_end: number;
  /** MeV */
  dE: number;
  /** cm; defaults to the endpoint distance */
  dx?: number;
  /** µs; defaults to 0 */
  t0?: number;
  /** defaults to 0 */
  trackId?: number;
  /** defaults to 0 */
  pdgId?: number;
}

/**
 * Column order of the packed row-major layout used by
 * {@link segmentsFromPacked} and {@link segmentsToPacked}: 11 values per row,
 * `[x_start, y_start, z_start, x_end, y_end, z_end, dE, dx, t0, trackId, pdgId]`.
 * trackId and pdgId are stored as numbers; in a Float32Array they are exact
 * only up to 2²⁴ = 16 777 216, so nuclear PDG codes (10LZZZAAAI) lose digits:
 * use a Float64Array when they matter.
 */
export const SEGMENT_COLUMNS = [
  'x_start',
  'y_start',
  'z_start',
  'x_end',
  'y_end',
  'z_end',
  'dE',
  'dx',
  't0',
  'trackId',
  'pdgId',
] as const;

/** Values per packed row (= SEGMENT_COLUMNS.length). */
export const SEGMENT_STRIDE = SEGMENT_COLUMNS.length;

/** Differentiable float columns of {@link Segments}, in packed order. */
export const SEGMENT_FLOAT_FIELDS = [
  'xStart',
  'yStart',
  'zStart',
  'xEnd',
  'yEnd',
  'zEnd',
  'dE',
  'dx',
  't0',
] as const;

/** Name of a float column of {@link Segments}. */
export type SegmentFloatField = (typeof SEGMENT_FLOAT_FIELDS)[number];

/** A zero-filled table of n rows. */
export function allocateSegments(n: number): Segments {
  if (!Number.isInteger(n) || n < 0) {
    throw new ShapeError(`allocateSegments: n = ${show(n)} must be a non-negative integer row count`);
  }
  return {
    length: n,
    xStart: new Float64Array(n),
    yStart: new Float64Array(n),
    zStart: new Float64Array(n),
    xEnd: new Float64Array(n),
    yEnd: new Float64Array(n),
    zEnd: new Float64Array(n),
    dE: new Float64Array(n),
    dx: new Float64Array(n),
    t0: new Float64Array(n),
    trackId: new Int32Array(n),
    pdgId: new Int32Array(n),
  };
}

/** Deep copy (the gradchecks probe columns in place). */
export function cloneSegments(s: Segments): Segments {
  return {
    length: s.length,
    xStart: s.xStart.slice(),
    yStart: s.yStart.slice(),
    zStart: s.zStart.slice(),
    xEnd: s.xEnd.slice(),
    yEnd: s.yEnd.slice(),
    zEnd: s.zEnd.slice(),
    dE: s.dE.slice(),
    dx: s.dx.slice(),
    t0: s.t0.slice(),
    trackId: s.trackId.slice(),
    pdgId: s.pdgId.slice(),
  };
}

/** Start point of row i as [x, y, z] cm. */
export function segmentStart(s: Segments, i: number): [number, number, number] {
  return [s.xStart[i]!, s.yStart[i]!, s.zStart[i]!];
}

/** End point of row i as [x, y, z] cm. */
export function segmentEnd(s: Segments, i: number): [number, number, number] {
  return [s.xEnd[i]!, s.yEnd[i]!, s.zEnd[i]!];
}

/** Endpoint distance of row i, cm. */
export function segmentLength(s: Segments, i: number): number {
  return Math.hypot(s.xEnd[i]! - s.xStart[i]!, s.yEnd[i]! - s.yStart[i]!, s.zEnd[i]! - s.zStart[i]!);
}

/**
 * Throw {@link InputValueError} on the first invalid row: a non-finite
 * coordinate or t0, a NaN/infinite/negative dE or dx. Zero-length segments
 * and dE = 0 are valid.
 *
 * @param what name of the argument, used in the message
 */
export function validateSegments(s: Segments, what = 'segments'): void {
  const cols: readonly [SegmentFloatField, Float64Array][] = [
    ['xStart', s.xStart],
    ['yStart', s.yStart],
    ['zStart', s.zStart],
    ['xEnd', s.xEnd],
    ['yEnd', s.yEnd],
    ['zEnd', s.zEnd],
    ['t0', s.t0],
  ];
  for (const [name, col] of cols) {
    if (col.length !== s.length) {
      throw new ShapeError(`${what}.${name} has ${col.length} entries but ${what}.length is ${s.length}; give every column one entry per row`);
    }
  }
  for (const [name, col] of [
    ['dE', s.dE],
    ['dx', s.dx],
  ] as const) {
    if (col.length !== s.length) {
      throw new ShapeError(`${what}.${name} has ${col.length} entries but ${what}.length is ${s.length}; give every column one entry per row`);
    }
  }
  if (s.trackId.length !== s.length || s.pdgId.length !== s.length) {
    throw new ShapeError(`${what}.trackId/pdgId have ${s.trackId.length}/${s.pdgId.length} entries but ${what}.length is ${s.length}`);
  }
  // The GPU holds every column as float32: a finite float64 beyond its range
  // would arrive as ±Inf.
  const f32 = (v: number): boolean => Math.abs(v) <= MAX_F32;
  for (let i = 0; i < s.length; i++) {
    for (const [name, col] of cols) {
      const v = col[i]!;
      if (!Number.isFinite(v) || !f32(v)) {
        const unit = name === 't0' ? 'µs' : 'cm';
        throw new InputValueError(`${what}: row ${i} has ${name} = ${show(v)}; it must be a finite float32 number in ${unit} (fix or drop the row)`);
      }
    }
    const dE = s.dE[i]!;
    if (!(dE >= 0) || !f32(dE)) {
      throw new InputValueError(
        `${what}: row ${i} has dE = ${show(dE)} MeV; dE must be a finite, non-negative float32 energy in MeV (fix or drop the row)`,
      );
    }
    const dx = s.dx[i]!;
    if (!(dx >= 0) || !f32(dx)) {
      throw new InputValueError(
        `${what}: row ${i} has dx = ${show(dx)} cm; dx must be a finite, non-negative float32 length in cm (use 0 for a point deposit)`,
      );
    }
  }
}

/** The largest finite float32. */
const MAX_F32 = 3.4028234663852886e38;

/**
 * Unpack a row-major table laid out as {@link SEGMENT_COLUMNS} (11 numbers per
 * row) and validate it.
 *
 * @throws ShapeError if the length is not a multiple of 11
 * @throws InputValueError on NaN / negative dE and other invalid rows
 */
export function segmentsFromPacked(packed: Float32Array | Float64Array): Segments {
  if (packed.length % SEGMENT_STRIDE !== 0) {
    throw new ShapeError(
      `segmentsFromPacked: packed.length = ${packed.length} is not a multiple of ${SEGMENT_STRIDE} (columns ${SEGMENT_COLUMNS.join(', ')}); pad or trim to whole rows`,
    );
  }
  const n = packed.length / SEGMENT_STRIDE;
  const s = allocateSegments(n);
  for (let i = 0; i < n; i++) {
    const o = i * SEGMENT_STRIDE;
    s.xStart[i] = packed[o]!;
    s.yStart[i] = packed[o + 1]!;
    s.zStart[i] = packed[o + 2]!;
    s.xEnd[i] = packed[o + 3]!;
    s.yEnd[i] = packed[o + 4]!;
    s.zEnd[i] = packed[o + 5]!;
    s.dE[i] = packed[o + 6]!;
    s.dx[i] = packed[o + 7]!;
    s.t0[i] = packed[o + 8]!;
    s.trackId[i] = Math.round(packed[o + 9]!);
    s.pdgId[i] = Math.round(packed[o + 10]!);
  }
  validateSegments(s, 'segmentsFromPacked(packed)');
  return s;
}

/** Pack into the {@link SEGMENT_COLUMNS} layout (Float32Array by default, for GPU upload). */
export function segmentsToPacked(s: Segments, type: 'float32' | 'float64' = 'float32'): Float32Array | Float64Array {
  const out = type === 'float32' ? new Float32Array(s.length * SEGMENT_STRIDE) : new Float64Array(s.length * SEGMENT_STRIDE);
  for (let i = 0; i < s.length; i++) {
    const o = i * SEGMENT_STRIDE;
    out[o] = s.xStart[i]!;
    out[o + 1] = s.yStart[i]!;
    out[o + 2] = s.zStart[i]!;
    out[o + 3] = s.xEnd[i]!;
    out[o + 4] = s.yEnd[i]!;
    out[o + 5] = s.zEnd[i]!;
    out[o + 6] = s.dE[i]!;
    out[o + 7] = s.dx[i]!;
    out[o + 8] = s.t0[i]!;
    out[o + 9] = s.trackId[i]!;
    out[o + 10] = s.pdgId[i]!;
  }
  return out;
}

/**
 * Build and validate a table from plain objects with larnd-sim field names.
 * Missing `dx` defaults to the endpoint distance, `t0`, `trackId`, `pdgId` to 0.
 */
export function segmentsFromObjects(rows: readonly SegmentRecord[]): Segments {
  const s = allocateSegments(rows.length);
  rows.forEach((r, i) => {
    s.xStart[i] = r.x_start;
    s.yStart[i] = r.y_start;
    s.zStart[i] = r.z_start;
    s.xEnd[i] = r.x_end;
    s.yEnd[i] = r.y_end;
    s.zEnd[i] = r.z_end;
    s.dE[i] = r.dE;
    s.dx[i] = r.dx ?? Math.hypot(r.x_end - r.x_start, r.y_end - r.y_start, r.z_end - r.z_start);
    s.t0[i] = r.t0 ?? 0;
    s.trackId[i] = r.trackId ?? 0;
    s.pdgId[i] = r.pdgId ?? 0;
  });
  validateSegments(s, 'segmentsFromObjects(rows)');
  return s;
}

/** Concatenate tables row-wise. */
export function concatSegments(parts: readonly Segments[]): Segments {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const s = allocateSegments(n);
  let o = 0;
  for (const p of parts) {
    for (const f of SEGMENT_FLOAT_FIELDS) s[f].set(p[f], o);
    s.trackId.set(p.trackId, o);
    s.pdgId.set(p.pdgId, o);
    o += p.length;
  }
  return s;
}

// ------------------------------------------------------------------ generator

/**
 * Bragg–Kleeman range–energy rule for protons in liquid argon,
 * R = A · T^p (R in cm, kinetic energy T in MeV). p = 1.75 is the classic
 * Bragg–Kleeman exponent (T. Bortfeld, Med. Phys. 24 (1997) 2024, fits
 * p ≈ 1.77 in water). A is set so that R(100 MeV) = 7.7 cm, a Bethe-formula
 * estimate of the CSDA range in argon (cf. NIST PSTAR) at ρ = 1.38 g/cm³.
 * The implied dE/dx = R^{1/p−1} / (p·A^{1/p}) ≈ 17.8·R^{−0.43} MeV/cm agrees
 * with the A·R^b (A ≈ 17, b ≈ −0.42) proton template used in LArTPC
 * particle identification. This is for synthetic test data, not precision.
 */
export const PROTON_RANGE_ENERGY = { A_cm: 7.7 / 100 ** 1.75, p: 1.75 } as const;

/** CSDA range (cm) of a proton of kinetic energy T (MeV), Bragg–Kleeman. */
export function protonRange(T_MeV: number): number {
  return PROTON_RANGE_ENERGY.A_cm * T_MeV ** PROTON_RANGE_ENERGY.p;
}

/** Kinetic energy (MeV) of a proton with residual range R (cm), inverse of {@link protonRange}. */
export function protonEnergyAtRange(R_cm: number): number {
  return R_cm <= 0 ? 0 : (R_cm / PROTON_RANGE_ENERGY.A_cm) ** (1 / PROTON_RANGE_ENERGY.p);
}

/** Options of {@link generateSyntheticSegments}; every field has a default. */
export interface SyntheticOptions {
  /** PRNG seed (mulberry32). */
  seed: number;
  /** Number of straight muon tracks (PDG 13). */
  nMuons: number;
  /** Number of stopping protons (PDG 2212). */
  nProtons: number;
  /** Box in which tracks start and stay, cm, as [[xmin,ymin,zmin],[xmax,ymax,zmax]]. */
  volume_cm: readonly [readonly [number, number, number], readonly [number, number, number]];
  /** Step length along the track, cm (the brief's range is 0.05–1 cm). */
  step_cm: number;
  /** Muon track length range, cm (truncated at the volume boundary). */
  muonLength_cm: readonly [number, number];
  /** Mean muon dE/dx, MeV/cm (minimum ionising ≈ 2.1 MeV/cm in LAr). */
  muonDEdx_MeV_per_cm: number;
  /**
   * Toy energy-loss fluctuations for muons: dE/dx = mean + width·(M − ⟨M⟩)
   * with M Moyal-distributed (M = −ln Z², Z ~ N(0,1), a Landau
   * approximation), clipped below at 0.2·mean. Off by default.
   */
  fluctuations: boolean;
  /** Width of the fluctuations as a fraction of the mean dE/dx. */
  fluctuationWidth: number;
  /** Proton kinetic-energy range, MeV (lowered if the range does not fit). */
  protonEnergy_MeV: readonly [number, number];
  /** Range of track start times, µs. */
  t0_us: readonly [number, number];
}

/** Defaults of {@link SyntheticOptions}. */
export const DEFAULT_SYNTHETIC_OPTIONS: SyntheticOptions = {
  seed: 1,
  nMuons: 1,
  nProtons: 1,
  volume_cm: [
    [2, 2, 2],
    [28, 28, 28],
  ],
  step_cm: 0.3,
  muonLength_cm: [10, 30],
  muonDEdx_MeV_per_cm: 2.1,
  fluctuations: false,
  fluctuationWidth: 0.15,
  protonEnergy_MeV: [30, 150],
  t0_us: [0, 0],
};

/** Distance from p along unit direction d to the boundary of the box (0 if p is outside). */
function exitDistance(p: readonly number[], d: readonly number[], lo: readonly number[], hi: readonly number[]): number {
  let t = Infinity;
  for (let k = 0; k < 3; k++) {
    const dk = d[k]!;
    if (dk > 0) t = Math.min(t, (hi[k]! - p[k]!) / dk);
    else if (dk < 0) t = Math.min(t, (lo[k]! - p[k]!) / dk);
  }
  return Math.max(0, t);
}

/**
 * Seeded synthetic event: straight muons at constant (optionally fluctuating)
 * dE/dx and stopping protons whose per-step dE is the exact difference of the
 * range–energy relation (so the Bragg peak is resolved at any step size).
 * Tracks start uniformly in `volume_cm` with isotropic directions and never
 * leave it. Rows are ordered track by track, from start to end.
 */
export function generateSyntheticSegments(options: Partial<SyntheticOptions> = {}): Segments {
  const o: SyntheticOptions = { ...DEFAULT_SYNTHETIC_OPTIONS, ...options };
  if (!(o.step_cm > 0) || !Number.isFinite(o.step_cm)) {
    throw new InputValueError(`generateSyntheticSegments: step_cm = ${show(o.step_cm)} must be a positive length in cm (e.g. 0.05–1)`);
  }
  for (const [name, v] of [
    ['nMuons', o.nMuons],
    ['nProtons', o.nProtons],
  ] as const) {
    if (!Number.isInteger(v) || v < 0) throw new InputValueError(`generateSyntheticSegments: ${name} = ${show(v)} must be a non-negative integer`);
  }
  const [lo, hi] = o.volume_cm;
  for (let k = 0; k < 3; k++) {
    if (!(hi[k]! > lo[k]!)) {
      throw new InputValueError(`generateSyntheticSegments: volume_cm = ${show(o.volume_cm.map((r) => [...r]))} must have min < max on every axis`);
    }
  }
  const rand = seededRandom(o.seed);
  const gauss = gaussianSource(rand);
  const uniform = (a: number, b: number): number => a + (b - a) * rand();
  const rows: SegmentRecord[] = [];
  let trackId = 0;

  const startAndDirection = (): { p: number[]; d: number[] } => {
    const p = [0, 1, 2].map((k) => uniform(lo[k]!, hi[k]!));
    const cosT = uniform(-1, 1);
    const sinT = Math.sqrt(1 - cosT * cosT);
    const ph = uniform(0, 2 * Math.PI);
    return { p, d: [sinT * Math.cos(ph), sinT * Math.sin(ph), cosT] };
  };

  // Moyal mean: E[−ln Z²] = γ_E + ln 2.
  const moyalMean = 0.5772156649015329 + Math.LN2;

  for (let m = 0; m < o.nMuons; m++) {
    const { p, d } = startAndDirection();
    const L = Math.min(uniform(o.muonLength_cm[0], o.muonLength_cm[1]), exitDistance(p, d, lo, hi));
    const t0 = uniform(o.t0_us[0], o.t0_us[1]);
    const nSteps = Math.ceil(L / o.step_cm - 1e-9);
    for (let k = 0; k < nSteps; k++) {
      const s = k * o.step_cm;
      const len = k === nSteps - 1 ? L - s : o.step_cm;
      let dEdx = o.muonDEdx_MeV_per_cm;
      if (o.fluctuations) {
        const z = gauss();
        const moyal = -Math.log(Math.max(z * z, 1e-300));
        dEdx = Math.max(0.2 * dEdx, dEdx + o.fluctuationWidth * dEdx * (moyal - moyalMean));
      }
      rows.push(row(p, d, s, s + len, dEdx * len, len, t0, trackId, 13));
    }
    trackId++;
  }

  for (let m = 0; m < o.nProtons; m++) {
    const { p, d } = startAndDirection();
    const maxRange = exitDistance(p, d, lo, hi);
    let T = uniform(o.protonEnergy_MeV[0], o.protonEnergy_MeV[1]);
    let R = protonRange(T);
    if (R > maxRange) {
      R = maxRange;
      T = protonEnergyAtRange(R);
    }
    const t0 = uniform(o.t0_us[0], o.t0_us[1]);
    const nSteps = Math.ceil(R / o.step_cm - 1e-9);
    for (let k = 0; k < nSteps; k++) {
      const s = k * o.step_cm;
      const len = k === nSteps - 1 ? R - s : o.step_cm;
      const dE = protonEnergyAtRange(R - s) - protonEnergyAtRange(R - s - len);
      rows.push(row(p, d, s, s + len, dE, len, t0, trackId, 2212));
    }
    trackId++;
  }
  return segmentsFromObjects(rows);
}

function row(
  p: readonly number[],
  d: readonly number[],
  s0: number,
  s1: number,
  dE: number,
  dx: number,
  t0: number,
  trackId: number,
  pdgId: number,
): SegmentRecord {
  return {
    x_start: p[0]! + s0 * d[0]!,
    y_start: p[1]! + s0 * d[1]!,
    z_start: p[2]! + s0 * d[2]!,
    x_end: p[0]! + s1 * d[0]!,
    y_end: p[1]! + s1 * d[1]!,
    z_end: p[2]! + s1 * d[2]!,
    dE,
    dx,
    t0,
    trackId,
    pdgId,
  };
}
