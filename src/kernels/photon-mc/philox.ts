/**
 * Philox4x32-10 counter-based random numbers in pure unsigned 32-bit integer
 * arithmetic.
 *
 * Philox (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as
 * 1, 2, 3", SC'11, doi:10.1145/2063384.2063405) maps a 128-bit counter and a
 * 64-bit key to 128 pseudo-random bits through 10 rounds of two 32×32→64-bit
 * multiplications, XORs with the key, and a Weyl-sequence key schedule. It
 * keeps no state: the same (counter, key) always gives the same four words, so
 * every photon can compute its own draws independently of how work is split
 * across calls, threads or GPU invocations.
 *
 * Why 16-bit halves: WGSL has no 64-bit integers, so a WGSL kernel has to form
 * the high word of a 32×32 product from 16-bit pieces. This file does exactly
 * the same with `Math.imul` and `>>> 0` (which give wrapping u32 semantics in
 * JavaScript), so the WGSL port can be checked word for word against it.
 *
 * Stream layout used by the photon propagator (see `propagate.reference.ts`):
 * key = (seed, source index), counter = (photon index, step, lane, 0).
 *
 * @module
 */

/** First Philox4x32 round multiplier (Salmon et al. 2011). */
export const PHILOX_M0 = 0xd2511f53;
/** Second Philox4x32 round multiplier. */
export const PHILOX_M1 = 0xcd9e8d57;
/** Key-schedule increment for key word 0 (golden ratio, 2^32·(√5−1)/2). */
export const PHILOX_W0 = 0x9e3779b9;
/** Key-schedule increment for key word 1 (2^32·(√3−1)). */
export const PHILOX_W1 = 0xbb67ae85;
/** Number of rounds of the Philox4x32-10 variant. */
export const PHILOX_ROUNDS = 10;

/**
 * High 32 bits of the 64-bit product of two u32 values, using only 32-bit
 * operations on 16-bit halves (no float or BigInt arithmetic), so that WGSL
 * can reproduce it exactly.
 *
 * a·b = aH·bH·2^32 + (aH·bL + aL·bH)·2^16 + aL·bL; every partial product of two
 * 16-bit halves fits in a u32, and the carry out of the low 32 bits is formed
 * from the low halves of the cross terms.
 *
 * @param a u32 (any number is reduced mod 2^32)
 * @param b u32
 * @returns ⌊a·b / 2^32⌋ as a u32
 */
export function mulhi32(a: number, b: number): number {
  const aL = a & 0xffff;
  const aH = a >>> 16;
  const bL = b & 0xffff;
  const bH = b >>> 16;
  const ll = Math.imul(aL, bL) >>> 0;
  const lh = Math.imul(aL, bH) >>> 0;
  const hl = Math.imul(aH, bL) >>> 0;
  const hh = Math.imul(aH, bH) >>> 0;
  // Bits 16..47 of the product that are still below 2^32 after shifting:
  // at most 3·(2^16 − 1) + 2^16, so no overflow.
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  // The true high word is < 2^32, so this sum never wraps; `>>> 0` only
  // converts to the unsigned representation.
  return (hh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
}

/**
 * Philox4x32-10 on a counter (c0, c1, c2, c3) with key (k0, k1), written into
 * `out` (four u32 words). All arguments are reduced mod 2^32.
 *
 * Round: (hi0, lo0) = M0·c0, (hi1, lo1) = M1·c2,
 * c ← (hi1 ⊕ c1 ⊕ k0, lo1, hi0 ⊕ c3 ⊕ k1, lo0); the key is bumped by
 * (W0, W1) before every round but the first.
 *
 * @returns `out`, for chaining
 */
export function philox4x32(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  out: Uint32Array,
): Uint32Array {
  let x0 = c0 >>> 0;
  let x1 = c1 >>> 0;
  let x2 = c2 >>> 0;
  let x3 = c3 >>> 0;
  let key0 = k0 >>> 0;
  let key1 = k1 >>> 0;
  for (let r = 0; r < PHILOX_ROUNDS; r++) {
    if (r > 0) {
      key0 = (key0 + PHILOX_W0) >>> 0;
      key1 = (key1 + PHILOX_W1) >>> 0;
    }
    const hi0 = mulhi32(PHILOX_M0, x0);
    const lo0 = Math.imul(PHILOX_M0, x0) >>> 0;
    const hi1 = mulhi32(PHILOX_M1, x2);
    const lo1 = Math.imul(PHILOX_M1, x2) >>> 0;
    x0 = (hi1 ^ x1 ^ key0) >>> 0;
    x1 = lo1;
    x2 = (hi0 ^ x3 ^ key1) >>> 0;
    x3 = lo0;
  }
  out[0] = x0;
  out[1] = x1;
  out[2] = x2;
  out[3] = x3;
  return out;
}

/**
 * Convenience form of {@link philox4x32}: counter as four words, key as two.
 *
 * @param counter four u32 words
 * @param key two u32 words
 * @returns a new Uint32Array(4) with the output block
 */
export function philox4x32_10(
  counter: readonly [number, number, number, number],
  key: readonly [number, number],
): Uint32Array {
  return philox4x32(counter[0], counter[1], counter[2], counter[3], key[0], key[1], new Uint32Array(4));
}

/** 2^-24: spacing of the 24-bit uniform grid. */
const TWO_POW_M24 = 1 / 16777216;

/**
 * u32 → uniform float in [0, 1) with 24-bit resolution: (x >> 8)·2^-24.
 *
 * The top 24 bits are used because a float32 significand holds exactly 24
 * bits: every value this returns is exactly representable in f32, so the WGSL
 * `f32(x >> 8u) * 0x1p-24f` gives the identical number. The largest value is
 * 1 − 2^-24 (never 1), the smallest 0.
 *
 * Use for comparisons `u < p` (accept with probability p exactly on the 2^-24
 * grid: p = 1 always accepts, p = 0 never) and for angles.
 */
export function u32ToUnit(x: number): number {
  return (x >>> 8) * TWO_POW_M24;
}

/**
 * u32 → uniform float in (0, 1] with 24-bit resolution: ((x >> 8) + 1)·2^-24.
 *
 * Never exactly 0, so −log(u) is finite (at most 24·ln 2 ≈ 16.6) and √u > 0;
 * exactly representable in f32 like {@link u32ToUnit} (the largest value,
 * 2^24·2^-24 = 1, is too). Use wherever a logarithm or a division by u is
 * taken: exponential free paths, Lambertian cos θ = √u.
 */
export function u32ToUnitPositive(x: number): number {
  return ((x >>> 8) + 1) * TWO_POW_M24;
}
