/**
 * Differentiable comparison of two sparse pixel–tick images for fitting:
 * mean-squared error after a Gaussian blur on the integer (pixelX, pixelY,
 * tick) lattice.
 *
 *   L = Σ_x [(K ∗ (P − T))(x)]² / Z,   Z = Σ_x [(K ∗ T)(x)]²  (1 if T is empty)
 *
 * K is a separable, truncated, normalised discrete Gaussian with σ_pix in
 * both pixel directions and σ_tick in time. Why blur: pixel–tick charges are
 * sparse and nearly disjoint when a parameter (drift velocity, diffusion,
 * position) shifts the charge by about a cell; plain MSE then sees only
 * "charge here vs. not there" and its gradient w.r.t. the shift vanishes or
 * points nowhere. Blurring overlaps the displaced supports over ~σ cells so
 * the loss varies smoothly with displacements up to a few σ, while remaining
 * a quadratic (convex in P), cheap, deterministic function. K is symmetric,
 * so ∂L/∂P(y) = (2/Z) Σ_x K(x − y) (K ∗ (P − T))(x). Normalising by Z makes
 * the loss dimensionless and comparable across events.
 *
 * @module
 */

import { InputValueError, ShapeError, show } from '../../errors.js';

/** Sparse values on the pixel–tick lattice (any order; duplicates are summed). */
export interface SparseGridValues {
  readonly length: number;
  readonly pixelX: Int32Array;
  readonly pixelY: Int32Array;
  readonly tick: Int32Array;
  readonly value: Float64Array;
}

/** Blur of {@link blurredMseLoss}. */
export interface BlurOptions {
  /** Gaussian σ in pixels (both pixel directions), ≥ 0 (default 1). */
  sigmaPixels: number;
  /** Gaussian σ in ticks, ≥ 0 (default 2). */
  sigmaTicks: number;
  /** Kernel half-width in σ (default 3). */
  truncate: number;
}

/** Defaults of {@link BlurOptions}. */
export const DEFAULT_BLUR_OPTIONS: Readonly<BlurOptions> = Object.freeze({ sigmaPixels: 1, sigmaTicks: 2, truncate: 3 });

const OFF = 2 ** 20;
const SPAN = 2 ** 21;
/** Key stride of pixelY; pixel indices are limited to [0, 16384) so shifted keys stay below 2^51. */
const PIX = 2 ** 15;
const MAX_PIXEL = 2 ** 14;

function key(px: number, py: number, t: number): number {
  return (px * PIX + py) * SPAN + t + OFF;
}

function kernel1d(sigma: number, truncate: number): Float64Array {
  if (sigma === 0) return Float64Array.of(1);
  const r = Math.ceil(truncate * sigma);
  const w = new Float64Array(2 * r + 1);
  let s = 0;
  for (let o = -r; o <= r; o++) {
    const v = Math.exp((-0.5 * o * o) / (sigma * sigma));
    w[o + r] = v;
    s += v;
  }
  for (let i = 0; i < w.length; i++) w[i] = w[i]! / s;
  return w;
}

function check(x: SparseGridValues, what: string): void {
  for (const a of [x.pixelX, x.pixelY, x.tick, x.value]) {
    if (a.length !== x.length) throw new ShapeError(`blurredMseLoss: ${what} columns must all have length ${x.length}; got ${a.length}`);
  }
  for (let e = 0; e < x.length; e++) {
    const px = x.pixelX[e]!;
    const py = x.pixelY[e]!;
    const t = x.tick[e]!;
    if (px < 0 || py < 0 || px >= MAX_PIXEL || py >= MAX_PIXEL || t <= -OFF / 2 || t >= OFF / 2) {
      throw new InputValueError(`blurredMseLoss: ${what}[${e}] at (${px}, ${py}, ${t}) is outside pixel [0, 16383]² × tick (−2^19, 2^19)`);
    }
    if (!Number.isFinite(x.value[e]!)) throw new InputValueError(`blurredMseLoss: ${what}.value[${e}] = ${show(x.value[e])} must be finite`);
  }
}

/** Scatter-blur a key → value map with the separable kernel. */
function blur(src: Map<number, number>, ku: Float64Array, kt: Float64Array): Map<number, number> {
  const ru = (ku.length - 1) / 2;
  const rt = (kt.length - 1) / 2;
  const out = new Map<number, number>();
  for (const [k, val] of src) {
    if (val === 0) continue;
    for (let a = -ru; a <= ru; a++) {
      const wa = ku[a + ru]! * val;
      for (let b = -ru; b <= ru; b++) {
        const wab = wa * ku[b + ru]!;
        const base = k + (a * PIX + b) * SPAN;
        for (let c = -rt; c <= rt; c++) {
          const kk = base + c;
          out.set(kk, (out.get(kk) ?? 0) + wab * kt[c + rt]!);
        }
      }
    }
  }
  return out;
}

/**
 * Blurred MSE between `pred` and `target` (see the module comment) and its
 * gradient w.r.t. each entry of `pred.value`. Cells off the lattice edge
 * (pixel < 0) are kept in the blurred image, so the blur has no boundary effects.
 */
export function blurredMseLoss(
  pred: SparseGridValues,
  target: SparseGridValues,
  options: Partial<BlurOptions> = {},
): { loss: number; gradPred: Float64Array } {
  const o: BlurOptions = { ...DEFAULT_BLUR_OPTIONS, ...options };
  for (const [name, v] of [
    ['sigmaPixels', o.sigmaPixels],
    ['sigmaTicks', o.sigmaTicks],
    ['truncate', o.truncate],
  ] as const) {
    if (!(v >= 0) || !Number.isFinite(v)) throw new InputValueError(`blurredMseLoss: options.${name} = ${show(v)} must be finite and ≥ 0`);
  }
  check(pred, 'pred');
  check(target, 'target');
  const ku = kernel1d(o.sigmaPixels, o.truncate);
  const kt = kernel1d(o.sigmaTicks, o.truncate);
  if (ku.length > MAX_PIXEL || kt.length > OFF / 2) {
    throw new InputValueError(`blurredMseLoss: the blur kernel (σ·truncate = ${o.sigmaPixels * o.truncate} px, ${o.sigmaTicks * o.truncate} ticks) is too wide; use σ·truncate < 8192`);
  }
  // Pixel offsets may go negative after the blur; shift keys by a margin so they stay exact.
  const diff = new Map<number, number>();
  const tmap = new Map<number, number>();
  const margin = (ku.length - 1) / 2;
  const shifted = (x: SparseGridValues, e: number): number => key(x.pixelX[e]! + margin, x.pixelY[e]! + margin, x.tick[e]!);
  for (let e = 0; e < pred.length; e++) {
    const k = shifted(pred, e);
    diff.set(k, (diff.get(k) ?? 0) + pred.value[e]!);
  }
  for (let e = 0; e < target.length; e++) {
    const k = shifted(target, e);
    diff.set(k, (diff.get(k) ?? 0) - target.value[e]!);
    tmap.set(k, (tmap.get(k) ?? 0) + target.value[e]!);
  }
  const b = blur(diff, ku, kt);
  let Z = 0;
  for (const v of blur(tmap, ku, kt).values()) Z += v * v;
  if (Z === 0) Z = 1;
  let L = 0;
  for (const v of b.values()) L += v * v;
  // Gather: ∂L/∂P(y) = 2/Z Σ_o K(o) b(y + o).
  const ru = (ku.length - 1) / 2;
  const rt = (kt.length - 1) / 2;
  const grad = new Float64Array(pred.length);
  for (let e = 0; e < pred.length; e++) {
    const k = shifted(pred, e);
    let s = 0;
    for (let a = -ru; a <= ru; a++) {
      for (let c2 = -ru; c2 <= ru; c2++) {
        const wab = ku[a + ru]! * ku[c2 + ru]!;
        const base = k + (a * PIX + c2) * SPAN;
        for (let c = -rt; c <= rt; c++) {
          const bv = b.get(base + c);
          if (bv !== undefined) s += wab * kt[c + rt]! * bv;
        }
      }
    }
    grad[e] = (2 * s) / Z;
  }
  return { loss: L / Z, gradPred: grad };
}
