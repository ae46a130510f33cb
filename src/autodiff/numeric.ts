/**
 * Float64 central differences, the ground truth that every backward pass is
 * checked against (see `gradcheck`).
 *
 * @module
 */

/**
 * Gradient of a scalar function of several float64 arrays by central
 * differences, d f / d x_i ≈ (f(x + h e_i) − f(x − h e_i)) / 2h.
 *
 * With float64 and h ≈ 1e-6 the truncation error is O(h²·f''') and the
 * rounding error O(ε·|f|/h) ≈ 1e-10·|f|, so agreement to ~1e-6 relative is
 * expected for smooth functions. The inputs are restored after each probe.
 *
 * @param f scalar function; must not keep references to its arguments
 * @param inputs the point at which to differentiate (probed in place, then restored)
 * @param h step size
 * @param only optional per-input mask: skip inputs whose entry is false (e.g. integer data)
 */
export function numericGradient(
  f: (inputs: Float64Array[]) => number,
  inputs: Float64Array[],
  h = 1e-6,
  only?: readonly boolean[],
): Float64Array[] {
  return inputs.map((x, k) => {
    const g = new Float64Array(x.length);
    if (only && only[k] === false) return g;
    for (let i = 0; i < x.length; i++) {
      const orig = x[i]!;
      x[i] = orig + h;
      const fp = f(inputs);
      x[i] = orig - h;
      const fm = f(inputs);
      x[i] = orig;
      g[i] = (fp - fm) / (2 * h);
    }
    return g;
  });
}

/**
 * Largest |a − b| relative to the largest magnitude in either array (with a
 * floor so that all-zero arrays compare by absolute error).
 */
export function maxRelativeError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-12): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let scale = floor;
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(a[i]!), Math.abs(b[i]!));
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
  }
  return diff / scale;
}

/** Deterministic float64 PRNG (mulberry32) for reproducible test data. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Round half to even (numpy.around, IEEE roundTiesToEven) of any finite number. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
