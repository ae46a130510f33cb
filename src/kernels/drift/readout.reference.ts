/**
 * Float64 reference of the pixel readout: drifted, diffused charge is
 * integrated over each pixel's area and each time tick, and accumulated into
 * a sparse, deterministically ordered (pixelX, pixelY, tick, charge) list.
 *
 * Model. A segment (clipped to the active volume) is a uniform line charge.
 * Its line integral is evaluated by an n-point midpoint rule along the
 * segment: point m sits at parameter s_m = (m + ½)/n of the clipped segment
 * and carries 1/n of its electrons. This is deterministic quadrature of the
 * line, not Monte Carlo; its error is O(h²) in the step h relative to the
 * diffusion width and pixel/tick size, and the total charge is conserved
 * exactly for any n. n = ceil(max(|Δu|, |Δv|)/maxStepTransverse_cm,
 * |Δw|/maxStepDrift_cm), clamped to [1, maxPointsPerSegment], or a fixed
 * `pointsPerSegment`. Each point is drifted on its own (drift.reference.ts),
 * and the fraction of its charge in pixel (i, j) and tick k is
 *   F = [Φ((u_{i+1} − u)/σ_T) − Φ((u_i − u)/σ_T)] · [same in v] · [Φ((t_{k+1} − t)/σ_t) − Φ((t_k − t)/σ_t)],
 * the exact integral of the axis-aligned 3-D Gaussian over the pixel–tick box.
 *
 * Support. Only pixels/ticks whose cells intersect [c − nσ, c + nσ] (nσ =
 * `nSigma`, default 4) are touched. The Gaussian tail beyond that window is
 * not dropped but lumped into the outermost touched cell (its outer boundary
 * is taken at ±∞), so every point deposits exactly the charge that lands on
 * the plane: in time all of it (ticks are unbounded), transversally all but
 * the Gaussian mass beyond the plane's edges, which is lost. Lumping moves at
 * most Φ(−nσ) ≈ 3e-5 (4σ) of a point's charge by one cell.
 *
 * Every cell of every window appears in the output even if its charge is 0
 * (e.g. a segment with R = 0), so its gradient is defined.
 *
 * @module
 */

import { checkOptionKeys, InputValueError, ShapeError, show } from '../../errors.js';
import {
  type DriftParamGrads,
  type DriftParams,
  type DriftResult,
  driftBackward,
  driftForward,
  validateDriftParams,
} from './drift.reference.js';
import { type DetectorGeometry, activeBox, clipSegment, uvwAxes, validateGeometry } from './geometry.js';
import { type Segments, validateSegments } from './segments.js';
import { normalCdf, normalPdf } from './special.js';

// ------------------------------------------------------------------ types

/** Sparse pixel–tick charges, sorted by (pixelX, pixelY, tick), one entry per cell. */
export interface SparsePixelCharge {
  /** Number of entries. */
  readonly length: number;
  /** Pixel index along u (first transverse axis), 0 ≤ pixelX < nPixels[0]. */
  readonly pixelX: Int32Array;
  /** Pixel index along v (second transverse axis), 0 ≤ pixelY < nPixels[1]. */
  readonly pixelY: Int32Array;
  /** Tick index: arrival time in [tick·tick_us, (tick+1)·tick_us) µs. */
  readonly tick: Int32Array;
  /** Collected charge, electrons. */
  readonly charge: Float64Array;
}

/** Points to read out (already drifted). All arrays have the same length. */
export interface ReadoutPoints {
  /** Transverse coordinate u at the anode, cm. */
  u: Float64Array;
  /** Transverse coordinate v at the anode, cm. */
  v: Float64Array;
  /** Mean arrival time, µs. */
  arrival: Float64Array;
  /** Transverse σ, cm (≥ 0). */
  sigmaT: Float64Array;
  /** Longitudinal σ in time, µs (≥ 0). */
  sigmaTime: Float64Array;
  /** Electrons reaching the anode (after lifetime). */
  charge: Float64Array;
}

/** Options of the readout. */
export interface ReadoutOptions {
  /** Half-width of the touched window in σ (default 4). */
  nSigma: number;
  /** Largest quadrature step along the transverse axes, cm (default 0.04 ≈ pitch/11). */
  maxStepTransverse_cm: number;
  /** Largest quadrature step along the drift axis, cm (default 0.01 ≈ 0.6 tick at 0.16 cm/µs). */
  maxStepDrift_cm: number;
  /** Upper bound on quadrature points per segment (default 100000). */
  maxPointsPerSegment: number;
  /** Fixed number of quadrature points per segment, or null for the step rule (default null). */
  pointsPerSegment: number | null;
}

/** Defaults of {@link ReadoutOptions}. */
export const DEFAULT_READOUT_OPTIONS: Readonly<ReadoutOptions> = Object.freeze({
  nSigma: 4,
  maxStepTransverse_cm: 0.04,
  maxStepDrift_cm: 0.01,
  maxPointsPerSegment: 100000,
  pointsPerSegment: null,
});

/** Readout options with defaults filled in; throws InputValueError naming a bad option. Shared by the GPU wrapper. */
export function resolveReadoutOptions(o: Partial<ReadoutOptions>): ReadoutOptions {
  checkOptionKeys('readout options', o, Object.keys(DEFAULT_READOUT_OPTIONS));
  const r: ReadoutOptions = { ...DEFAULT_READOUT_OPTIONS, ...o };
  if (!(r.nSigma > 0) || !Number.isFinite(r.nSigma)) {
    throw new InputValueError(`readout options.nSigma = ${show(r.nSigma)} must be a finite number > 0 (default 4)`);
  }
  for (const [name, v] of [
    ['maxStepTransverse_cm', r.maxStepTransverse_cm],
    ['maxStepDrift_cm', r.maxStepDrift_cm],
  ] as const) {
    if (!(v > 0) || !Number.isFinite(v)) throw new InputValueError(`readout options.${name} = ${show(v)} must be a positive length in cm`);
  }
  if (!Number.isInteger(r.maxPointsPerSegment) || r.maxPointsPerSegment < 1) {
    throw new InputValueError(`readout options.maxPointsPerSegment = ${show(r.maxPointsPerSegment)} must be an integer ≥ 1`);
  }
  if (r.pointsPerSegment !== null && (!Number.isInteger(r.pointsPerSegment) || r.pointsPerSegment < 1)) {
    throw new InputValueError(`readout options.pointsPerSegment = ${show(r.pointsPerSegment)} must be an integer ≥ 1, or null for the step rule`);
  }
  return r;
}

// ------------------------------------------------------------- cell keys

/** Ticks must satisfy |tick| < 2^20 (±105 ms at 0.1 µs) so that keys stay exact in float64. */
const TICK_OFFSET = 2 ** 20;
const TICK_SPAN = 2 ** 21;

/** Exact numeric key of a cell, ordered by (pixelX, pixelY, tick). nY = nPixels[1]. */
export function cellKey(px: number, py: number, tick: number, nY: number): number {
  return (px * nY + py) * TICK_SPAN + (tick + TICK_OFFSET);
}

function checkTick(tick: number): void {
  if (!(tick > -TICK_OFFSET && tick < TICK_OFFSET)) {
    throw new InputValueError(
      `readout: a charge arrives at tick ${tick}, outside ±2^20 ticks; shift t0 so arrival times lie within ±${TICK_OFFSET} ticks of 0`,
    );
  }
}

// ------------------------------------------------------------ 1-D binning

/** Scratch for the fractions of one Gaussian over a run of cells along one axis. */
interface Bins {
  first: number;
  count: number;
  f: Float64Array;
  dfdc: Float64Array;
  dfds: Float64Array;
}

function newBins(): Bins {
  return { first: 0, count: 0, f: new Float64Array(64), dfdc: new Float64Array(64), dfds: new Float64Array(64) };
}

/** Φ(zu) − Φ(zl), computed on the side of 0 that avoids cancellation. */
function cdfDiff(zl: number, zu: number): number {
  if (zl > 0) return normalCdf(-zl) - normalCdf(-zu);
  return normalCdf(zu) - normalCdf(zl);
}

/**
 * Fractions of N(c, σ²) in cells [o + i·p, o + (i+1)·p), i in [0, n) (n may be
 * Infinity), for the cells meeting [c − kσ, c + kσ]; the window's outer
 * boundaries are ±∞ unless they are the grid's edges. Fills f and its
 * derivatives w.r.t. c and σ; returns false if no cell is touched.
 */
function binGaussian(c: number, sigma: number, o: number, p: number, n: number, k: number, out: Bins, grad: boolean): boolean {
  let a: number;
  let b: number;
  if (sigma > 0) {
    a = Math.floor((c - k * sigma - o) / p);
    b = Math.floor((c + k * sigma - o) / p);
  } else {
    a = b = Math.floor((c - o) / p);
  }
  let clampLo = false;
  let clampHi = false;
  if (n !== Infinity) {
    if (b < 0 || a > n - 1) return false;
    if (a < 0) {
      a = 0;
      clampLo = true;
    }
    if (b > n - 1) {
      b = n - 1;
      clampHi = true;
    }
  }
  const count = b - a + 1;
  if (count > 1e6) {
    throw new InputValueError(`readout: a diffusion window spans ${count} cells (σ = ${sigma}, pitch = ${p}); σ is unphysically large for this grid`);
  }
  if (out.f.length < count) {
    const m = Math.max(count, 2 * out.f.length);
    out.f = new Float64Array(m);
    out.dfdc = new Float64Array(m);
    out.dfds = new Float64Array(m);
  }
  out.first = a;
  out.count = count;
  if (!(sigma > 0)) {
    // Point charge (no diffusion): all of it in the cell holding c.
    out.f[0] = 1;
    out.dfdc[0] = 0;
    out.dfds[0] = 0;
    return true;
  }
  for (let m = 0; m < count; m++) {
    const i = a + m;
    const zl = m === 0 && !clampLo ? -Infinity : (o + i * p - c) / sigma;
    const zu = m === count - 1 && !clampHi ? Infinity : (o + (i + 1) * p - c) / sigma;
    out.f[m] = cdfDiff(zl, zu);
    if (grad) {
      const pu = normalPdf(zu);
      const pl = normalPdf(zl);
      out.dfdc[m] = -(pu - pl) / sigma;
      const zpu = Number.isFinite(zu) ? zu * pu : 0;
      const zpl = Number.isFinite(zl) ? zl * pl : 0;
      out.dfds[m] = -(zpu - zpl) / sigma;
    }
  }
  return true;
}

// ------------------------------------------------------- point readout

/** Result of {@link readoutPointsForward}. */
export interface PointReadoutResult {
  /** The sparse charges. */
  charge: SparsePixelCharge;
  /** Cell key → entry index (for the backward). */
  keyIndex: Map<number, number>;
  /** Σ of all point charges, electrons. */
  totalIn: number;
  /** Σ of all output charges (= charge landing on the plane), electrons. */
  collected: number;
}

function checkPoints(p: ReadoutPoints): number {
  const n = p.u.length;
  for (const [name, a] of Object.entries(p) as [string, Float64Array][]) {
    if (a.length !== n) throw new ShapeError(`readout points: ${name} has ${a.length} entries but u has ${n}; give one per point`);
  }
  return n;
}

/**
 * Spread point charges over pixels and ticks (see the module comment) and
 * return the merged, sorted sparse list.
 */
export function readoutPointsForward(points: ReadoutPoints, geometry: DetectorGeometry, nSigma = DEFAULT_READOUT_OPTIONS.nSigma): PointReadoutResult {
  validateGeometry(geometry);
  const n = checkPoints(points);
  const [nU, nV] = geometry.nPixels;
  const pitch = geometry.pixelPitch_cm;
  const [u0, v0] = geometry.pixelOrigin_cm;
  const bu = newBins();
  const bv = newBins();
  const bt = newBins();
  const acc = new Map<number, number>();
  let totalIn = 0;
  for (let m = 0; m < n; m++) {
    const q = points.charge[m]!;
    totalIn += q;
    if (!binGaussian(points.u[m]!, points.sigmaT[m]!, u0, pitch, nU, nSigma, bu, false)) continue;
    if (!binGaussian(points.v[m]!, points.sigmaT[m]!, v0, pitch, nV, nSigma, bv, false)) continue;
    binGaussian(points.arrival[m]!, points.sigmaTime[m]!, 0, geometry.tick_us, Infinity, nSigma, bt, false);
    checkTick(bt.first);
    checkTick(bt.first + bt.count - 1);
    for (let i = 0; i < bu.count; i++) {
      const fi = q * bu.f[i]!;
      for (let j = 0; j < bv.count; j++) {
        const fij = fi * bv.f[j]!;
        const base = ((bu.first + i) * nV + (bv.first + j)) * TICK_SPAN + TICK_OFFSET;
        for (let k = 0; k < bt.count; k++) {
          const key = base + bt.first + k;
          acc.set(key, (acc.get(key) ?? 0) + fij * bt.f[k]!);
        }
      }
    }
  }
  const keys = Float64Array.from(acc.keys()).sort();
  const len = keys.length;
  const out = {
    length: len,
    pixelX: new Int32Array(len),
    pixelY: new Int32Array(len),
    tick: new Int32Array(len),
    charge: new Float64Array(len),
  };
  const keyIndex = new Map<number, number>();
  let collected = 0;
  for (let e = 0; e < len; e++) {
    const key = keys[e]!;
    const pix = Math.floor(key / TICK_SPAN);
    out.pixelX[e] = Math.floor(pix / nV);
    out.pixelY[e] = pix % nV;
    out.tick[e] = key - pix * TICK_SPAN - TICK_OFFSET;
    const c = acc.get(key)!;
    out.charge[e] = c;
    collected += c;
    keyIndex.set(key, e);
  }
  return { charge: out, keyIndex, totalIn, collected };
}

/**
 * Backward of {@link readoutPointsForward}: given g = ∂L/∂charge per output
 * entry, return ∂L/∂(u, v, arrival, sigmaT, sigmaTime, charge) per point.
 */
export function readoutPointsBackward(
  points: ReadoutPoints,
  geometry: DetectorGeometry,
  fwd: PointReadoutResult,
  gradCharge: Float64Array,
  nSigma = DEFAULT_READOUT_OPTIONS.nSigma,
): ReadoutPoints {
  const n = checkPoints(points);
  if (gradCharge.length !== fwd.charge.length) {
    throw new ShapeError(`readoutPointsBackward: gradCharge has ${gradCharge.length} entries but the forward produced ${fwd.charge.length}`);
  }
  const [nU, nV] = geometry.nPixels;
  const pitch = geometry.pixelPitch_cm;
  const [u0, v0] = geometry.pixelOrigin_cm;
  const bu = newBins();
  const bv = newBins();
  const bt = newBins();
  const g: ReadoutPoints = {
    u: new Float64Array(n),
    v: new Float64Array(n),
    arrival: new Float64Array(n),
    sigmaT: new Float64Array(n),
    sigmaTime: new Float64Array(n),
    charge: new Float64Array(n),
  };
  for (let m = 0; m < n; m++) {
    if (!binGaussian(points.u[m]!, points.sigmaT[m]!, u0, pitch, nU, nSigma, bu, true)) continue;
    if (!binGaussian(points.v[m]!, points.sigmaT[m]!, v0, pitch, nV, nSigma, bv, true)) continue;
    binGaussian(points.arrival[m]!, points.sigmaTime[m]!, 0, geometry.tick_us, Infinity, nSigma, bt, true);
    // Contract g_{ijk} with the three factor vectors and their derivatives.
    let S = 0;
    let Su = 0;
    let Ssu = 0;
    let Sv = 0;
    let Ssv = 0;
    let St = 0;
    let Sst = 0;
    for (let i = 0; i < bu.count; i++) {
      for (let j = 0; j < bv.count; j++) {
        const base = ((bu.first + i) * nV + (bv.first + j)) * TICK_SPAN + TICK_OFFSET;
        // T0 = Σ_k g f_k, T1 = Σ_k g ∂f_k/∂t, T2 = Σ_k g ∂f_k/∂σ_t
        let T0 = 0;
        let T1 = 0;
        let T2 = 0;
        for (let k = 0; k < bt.count; k++) {
          const e = fwd.keyIndex.get(base + bt.first + k);
          const gv = e === undefined ? 0 : gradCharge[e]!;
          T0 += gv * bt.f[k]!;
          T1 += gv * bt.dfdc[k]!;
          T2 += gv * bt.dfds[k]!;
        }
        const fu = bu.f[i]!;
        const fv = bv.f[j]!;
        S += fu * fv * T0;
        Su += bu.dfdc[i]! * fv * T0;
        Ssu += bu.dfds[i]! * fv * T0;
        Sv += fu * bv.dfdc[j]! * T0;
        Ssv += fu * bv.dfds[j]! * T0;
        St += fu * fv * T1;
        Sst += fu * fv * T2;
      }
    }
    const q = points.charge[m]!;
    g.charge[m] = S;
    g.u[m] = q * Su;
    g.v[m] = q * Sv;
    g.sigmaT[m] = q * (Ssu + Ssv);
    g.arrival[m] = q * St;
    g.sigmaTime[m] = q * Sst;
  }
  return g;
}

// ----------------------------------------------------- segment readout

/** Bookkeeping of where the charge went. Energies MeV, charges electrons. */
export interface ReadoutStats {
  /** Segments in the input. */
  nSegments: number;
  /** Segments entirely inside the active volume. */
  nInside: number;
  /** Segments partly inside, clipped to the active volume. */
  nClipped: number;
  /** Segments entirely outside (no charge simulated). */
  nOutside: number;
  /** Quadrature points simulated. */
  nPoints: number;
  /** Σ dE, MeV. */
  dETotal_MeV: number;
  /** Σ dE inside the active volume (after clipping), MeV. */
  dEActive_MeV: number;
  /** Σ dE outside the active volume (clipped away or fully outside), MeV. */
  dEOutside_MeV: number;
  /** Σ electrons after recombination (all segments). */
  electronsProduced: number;
  /** Σ electrons produced inside the active volume. */
  electronsActive: number;
  /** Σ electrons produced outside the active volume (not simulated). */
  electronsOutside: number;
  /** Σ electrons reaching the anode plane after lifetime attenuation (on or off the pixels). */
  electronsDrifted: number;
  /** Σ electrons collected on pixels (= Σ of the output charges). */
  electronsCollected: number;
  /** Σ electrons diffused beyond the pixel plane's edges (drifted − collected, up to rounding). */
  electronsOffPlane: number;
}

/** Everything the segment backward needs, kept by the forward. */
export interface SegmentReadoutTape {
  readonly segments: Segments;
  readonly electrons: Float64Array;
  readonly params: DriftParams;
  readonly geometry: DetectorGeometry;
  readonly options: ReadoutOptions;
  /** Per segment: clip status (0 inside, 1 clipped, 2 outside), t_enter, t_exit, enter/exit axes. */
  readonly status: Uint8Array;
  readonly tEnter: Float64Array;
  readonly tExit: Float64Array;
  readonly enterAxis: Int8Array;
  readonly exitAxis: Int8Array;
  /** Per segment: first point index and number of points. */
  readonly pointStart: Int32Array;
  readonly pointCount: Int32Array;
  /** Per point: quadrature abscissa s_m in (0, 1) within the clipped segment. */
  readonly sPoint: Float64Array;
  /** Per point: drift-axis coordinate w, cm. */
  readonly wPoint: Float64Array;
  /** Per point: electrons before lifetime attenuation. */
  readonly q0: Float64Array;
  readonly drift: DriftResult;
  readonly points: ReadoutPoints;
  readonly point: PointReadoutResult;
}

/** Result of {@link readoutSegmentsForward}. */
export interface SegmentReadoutResult {
  /** Sparse pixel–tick charges, electrons. */
  charge: SparsePixelCharge;
  stats: ReadoutStats;
  tape: SegmentReadoutTape;
}

/** Gradients of the six position columns and t0 of a segment table. */
export interface SegmentPositionGrads {
  xStart: Float64Array;
  yStart: Float64Array;
  zStart: Float64Array;
  xEnd: Float64Array;
  yEnd: Float64Array;
  zEnd: Float64Array;
  t0: Float64Array;
}

/** Gradients returned by {@link readoutSegmentsBackward}. */
export interface SegmentReadoutGrads {
  /** ∂L/∂(positions, cm⁻¹; t0, µs⁻¹) per segment. */
  segments: SegmentPositionGrads;
  /** ∂L/∂(electrons after recombination) per segment. */
  electrons: Float64Array;
  /** ∂L/∂drift parameter. */
  drift: DriftParamGrads;
}

/**
 * Clip segments to the active volume, sample them with the midpoint rule,
 * drift every point and read it out.
 *
 * @param electrons electrons after recombination per segment (whole segment, before clipping)
 */
export function readoutSegmentsForward(
  segments: Segments,
  electrons: Float64Array,
  params: DriftParams,
  geometry: DetectorGeometry,
  options: Partial<ReadoutOptions> = {},
): SegmentReadoutResult {
  validateSegments(segments);
  validateGeometry(geometry);
  validateDriftParams(params);
  const opts = resolveReadoutOptions(options);
  const ns = segments.length;
  if (electrons.length !== ns) throw new ShapeError(`readoutSegmentsForward: electrons has ${electrons.length} entries, expected one per segment (${ns})`);
  for (let i = 0; i < ns; i++) {
    const e = electrons[i]!;
    if (!(e >= 0) || e === Infinity) throw new InputValueError(`readoutSegmentsForward: electrons[${i}] = ${show(e)}; it must be finite and ≥ 0`);
  }
  const [iu, iv, iw] = uvwAxes(geometry);
  const box = activeBox(geometry);
  const status = new Uint8Array(ns);
  const tEnter = new Float64Array(ns);
  const tExit = new Float64Array(ns);
  const enterAxis = new Int8Array(ns);
  const exitAxis = new Int8Array(ns);
  const pointStart = new Int32Array(ns);
  const pointCount = new Int32Array(ns);
  const stats: ReadoutStats = {
    nSegments: ns,
    nInside: 0,
    nClipped: 0,
    nOutside: 0,
    nPoints: 0,
    dETotal_MeV: 0,
    dEActive_MeV: 0,
    dEOutside_MeV: 0,
    electronsProduced: 0,
    electronsActive: 0,
    electronsOutside: 0,
    electronsDrifted: 0,
    electronsCollected: 0,
    electronsOffPlane: 0,
  };
  // Pass 1: clip and count points.
  let total = 0;
  const S = [0, 0, 0];
  const E = [0, 0, 0];
  for (let i = 0; i < ns; i++) {
    readEnds(segments, i, S, E);
    const c = clipSegment(S, E, box.min, box.max);
    status[i] = c.status;
    tEnter[i] = c.tEnter;
    tExit[i] = c.tExit;
    enterAxis[i] = c.enterAxis;
    exitAxis[i] = c.exitAxis;
    const dE = segments.dE[i]!;
    const ne = electrons[i]!;
    stats.dETotal_MeV += dE;
    stats.electronsProduced += ne;
    pointStart[i] = total;
    if (c.status === 2) {
      stats.nOutside++;
      stats.dEOutside_MeV += dE;
      stats.electronsOutside += ne;
      continue;
    }
    if (c.status === 0) stats.nInside++;
    else stats.nClipped++;
    const f = c.tExit - c.tEnter;
    stats.dEActive_MeV += f * dE;
    stats.dEOutside_MeV += (1 - f) * dE;
    stats.electronsActive += f * ne;
    stats.electronsOutside += (1 - f) * ne;
    let np: number;
    if (opts.pointsPerSegment !== null) np = opts.pointsPerSegment;
    else {
      const du = Math.abs(f * (E[iu]! - S[iu]!));
      const dv = Math.abs(f * (E[iv]! - S[iv]!));
      const dw = Math.abs(f * (E[iw]! - S[iw]!));
      np = Math.ceil(Math.max(du / opts.maxStepTransverse_cm, dv / opts.maxStepTransverse_cm, dw / opts.maxStepDrift_cm));
      np = Math.min(Math.max(np, 1), opts.maxPointsPerSegment);
    }
    pointCount[i] = np;
    total += np;
  }
  stats.nPoints = total;
  // Pass 2: place points.
  const sPoint = new Float64Array(total);
  const wPoint = new Float64Array(total);
  const t0Point = new Float64Array(total);
  const q0 = new Float64Array(total);
  const u = new Float64Array(total);
  const v = new Float64Array(total);
  for (let i = 0; i < ns; i++) {
    const np = pointCount[i]!;
    if (np === 0) continue;
    readEnds(segments, i, S, E);
    const a = tEnter[i]!;
    const f = tExit[i]! - a;
    const qPer = (electrons[i]! * f) / np;
    for (let m = 0; m < np; m++) {
      const idx = pointStart[i]! + m;
      const s = (m + 0.5) / np;
      const tau = a + f * s;
      sPoint[idx] = s;
      u[idx] = S[iu]! + tau * (E[iu]! - S[iu]!);
      v[idx] = S[iv]! + tau * (E[iv]! - S[iv]!);
      wPoint[idx] = S[iw]! + tau * (E[iw]! - S[iw]!);
      t0Point[idx] = segments.t0[i]!;
      q0[idx] = qPer;
    }
  }
  const drift = driftForward(wPoint, t0Point, params, geometry);
  const charge = new Float64Array(total);
  for (let m = 0; m < total; m++) charge[m] = q0[m]! * drift.attenuation[m]!;
  const points: ReadoutPoints = { u, v, arrival: drift.arrival, sigmaT: drift.sigmaT, sigmaTime: drift.sigmaTime, charge };
  const point = readoutPointsForward(points, geometry, opts.nSigma);
  stats.electronsDrifted = point.totalIn;
  stats.electronsCollected = point.collected;
  stats.electronsOffPlane = point.totalIn - point.collected;
  return {
    charge: point.charge,
    stats,
    tape: {
      segments,
      electrons,
      params,
      geometry,
      options: opts,
      status,
      tEnter,
      tExit,
      enterAxis,
      exitAxis,
      pointStart,
      pointCount,
      sPoint,
      wPoint,
      q0,
      drift,
      points,
      point,
    },
  };
}

function readEnds(s: Segments, i: number, S: number[], E: number[]): void {
  S[0] = s.xStart[i]!;
  S[1] = s.yStart[i]!;
  S[2] = s.zStart[i]!;
  E[0] = s.xEnd[i]!;
  E[1] = s.yEnd[i]!;
  E[2] = s.zEnd[i]!;
}

/**
 * Backward of {@link readoutSegmentsForward}: gradients of Σ_k g_k·charge_k
 * w.r.t. segment positions and t0, the electrons per segment and the drift
 * parameters. Positions enter through the quadrature points
 * P_m = S + τ_m (E − S), τ_m = t_enter + (t_exit − t_enter) s_m, and through
 * the clipped fraction t_exit − t_enter (face-crossing parameters are
 * differentiated as in {@link clipSegment}). The point count n is piecewise
 * constant in the positions and contributes no gradient.
 */
export function readoutSegmentsBackward(result: SegmentReadoutResult, gradCharge: Float64Array): SegmentReadoutGrads {
  const t = result.tape;
  const ns = t.segments.length;
  const gPts = readoutPointsBackward(t.points, t.geometry, t.point, gradCharge, t.options.nSigma);
  // Point charge q = q0 · attenuation.
  const total = t.q0.length;
  const gAtt = new Float64Array(total);
  const gq0 = new Float64Array(total);
  for (let m = 0; m < total; m++) {
    gAtt[m] = gPts.charge[m]! * t.q0[m]!;
    gq0[m] = gPts.charge[m]! * t.drift.attenuation[m]!;
  }
  const gd = driftBackward(t.wPoint, t.params, t.geometry, t.drift, {
    arrival: gPts.arrival,
    attenuation: gAtt,
    sigmaT: gPts.sigmaT,
    sigmaTime: gPts.sigmaTime,
  });
  const [iu, iv, iw] = uvwAxes(t.geometry);
  const seg: SegmentPositionGrads = {
    xStart: new Float64Array(ns),
    yStart: new Float64Array(ns),
    zStart: new Float64Array(ns),
    xEnd: new Float64Array(ns),
    yEnd: new Float64Array(ns),
    zEnd: new Float64Array(ns),
    t0: new Float64Array(ns),
  };
  const gElectrons = new Float64Array(ns);
  const S = [0, 0, 0];
  const E = [0, 0, 0];
  const gS = [0, 0, 0];
  const gE = [0, 0, 0];
  const gP = [0, 0, 0];
  for (let i = 0; i < ns; i++) {
    const np = t.pointCount[i]!;
    if (np === 0) continue;
    readEnds(t.segments, i, S, E);
    const D = [E[0]! - S[0]!, E[1]! - S[1]!, E[2]! - S[2]!];
    const a = t.tEnter[i]!;
    const f = t.tExit[i]! - a;
    const ne = t.electrons[i]!;
    gS.fill(0);
    gE.fill(0);
    let gEnter = 0;
    let gExit = 0;
    let gQseg = 0; // ∂L/∂(per-point q0) summed: q0 = ne·f/np
    let gt0 = 0;
    for (let m = 0; m < np; m++) {
      const idx = t.pointStart[i]! + m;
      const s = t.sPoint[idx]!;
      const tau = a + f * s;
      gP[iu] = gPts.u[idx]!;
      gP[iv] = gPts.v[idx]!;
      gP[iw] = gd.w[idx]!;
      for (let k = 0; k < 3; k++) {
        gS[k] = gS[k]! + (1 - tau) * gP[k]!;
        gE[k] = gE[k]! + tau * gP[k]!;
      }
      const gTau = gP[0]! * D[0]! + gP[1]! * D[1]! + gP[2]! * D[2]!;
      gEnter += gTau * (1 - s);
      gExit += gTau * s;
      gQseg += gq0[idx]!;
      gt0 += gd.t0[idx]!;
    }
    gElectrons[i] = (gQseg * f) / np;
    const gf = (gQseg * ne) / np;
    gExit += gf;
    gEnter -= gf;
    // Face-crossing parameters t = (b − S_k)/D_k.
    const ea = t.enterAxis[i]!;
    if (ea >= 0) {
      gS[ea] = gS[ea]! + (gEnter * (a - 1)) / D[ea]!;
      gE[ea] = gE[ea]! + (gEnter * -a) / D[ea]!;
    }
    const xa = t.exitAxis[i]!;
    if (xa >= 0) {
      const b = t.tExit[i]!;
      gS[xa] = gS[xa]! + (gExit * (b - 1)) / D[xa]!;
      gE[xa] = gE[xa]! + (gExit * -b) / D[xa]!;
    }
    seg.xStart[i] = gS[0]!;
    seg.yStart[i] = gS[1]!;
    seg.zStart[i] = gS[2]!;
    seg.xEnd[i] = gE[0]!;
    seg.yEnd[i] = gE[1]!;
    seg.zEnd[i] = gE[2]!;
    seg.t0[i] = gt0;
  }
  return { segments: seg, electrons: gElectrons, drift: gd.params };
}
