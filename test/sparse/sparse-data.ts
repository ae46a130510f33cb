// Test data for the sparse reference suites: LArTPC-like point sets (random
// walks, straight tracks) in small volumes, batched, with empty events.
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { maxRelativeError, numericGradient, seededRandom } from '../../src/autodiff/numeric.js';
import { type SpatialDim, deduplicate } from '../../src/kernels/sparse/coords.js';

export type Rng = () => number;

export function rng(seed: number): Rng {
  return seededRandom(seed);
}

export function randInt(r: Rng, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

export function randomFeats(r: Rng, n: number, c: number): Float64Array {
  return Float64Array.from({ length: n * c }, () => 2 * r() - 1);
}

/** Unique sorted coords (batch column included) from a flat list of rows. */
export function uniqueCoords(rows: number[], dim: SpatialDim): Int32Array {
  const coords = Int32Array.from(rows);
  return deduplicate(coords, new Float64Array(0), dim, 0, 'sum').coords;
}

/** Random walk of `steps` unit steps inside [0, extent)^dim, one batch item. */
export function randomWalk(r: Rng, dim: SpatialDim, extent: number, steps: number, batch = 0): Int32Array {
  const p = Array.from({ length: dim }, () => randInt(r, extent / 4, (3 * extent) / 4));
  const rows: number[] = [];
  for (let s = 0; s < steps; s++) {
    rows.push(batch, ...p);
    const a = randInt(r, 0, dim - 1);
    p[a] = Math.min(extent - 1, Math.max(0, p[a]! + (r() < 0.5 ? -1 : 1)));
  }
  return uniqueCoords(rows, dim);
}

/** Voxels crossed by a straight segment of the given length, sampled every 0.25 voxel. */
export function straightTrack(r: Rng, dim: SpatialDim, extent: number, length: number, batch = 0): Int32Array {
  const start = Array.from({ length: dim }, () => r() * extent);
  let dir = Array.from({ length: dim }, () => 2 * r() - 1);
  const norm = Math.hypot(...dir) || 1;
  dir = dir.map((d) => d / norm);
  const rows: number[] = [];
  for (let t = 0; t <= length; t += 0.25) {
    const p = start.map((s, a) => Math.floor(s + t * dir[a]!));
    if (p.every((v) => v >= 0 && v < extent)) rows.push(batch, ...p);
  }
  return uniqueCoords(rows, dim);
}

/** Random distinct sites in [0, extent)^dim with probability `density`. */
export function randomCloud(r: Rng, dim: SpatialDim, extent: number, density: number, batch = 0): Int32Array {
  const rows: number[] = [];
  const cells = extent ** dim;
  for (let i = 0; i < cells; i++) {
    if (r() >= density) continue;
    const p: number[] = [];
    let rest = i;
    for (let a = 0; a < dim; a++) {
      p.unshift(rest % extent);
      rest = Math.floor(rest / extent);
    }
    rows.push(batch, ...p);
  }
  return Int32Array.from(rows);
}

/** Concatenates per-event coords, rewriting the batch column to the event index. */
export function batchEvents(events: Int32Array[], dim: SpatialDim): Int32Array {
  const cols = 1 + dim;
  const total = events.reduce((s, e) => s + e.length, 0);
  const out = new Int32Array(total);
  let off = 0;
  events.forEach((e, b) => {
    out.set(e, off);
    for (let r = 0; r < e.length / cols; r++) out[off + r * cols] = b;
    off += e.length;
  });
  return out;
}

/** Random row permutation of coords (same permutation returned). */
export function shuffleRows(r: Rng, coords: Int32Array, cols: number): { coords: Int32Array; perm: number[] } {
  const n = coords.length / cols;
  const perm = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  const out = new Int32Array(coords.length);
  perm.forEach((src, dst) => out.set(coords.subarray(src * cols, src * cols + cols), dst * cols));
  return { coords: out, perm };
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/**
 * Checks analytic gradients against central differences of
 * f = <forward(inputs), gradOut>. Inputs are probed in place and restored.
 */
export function expectGradients(
  f: (inputs: Float64Array[]) => number,
  inputs: Float64Array[],
  analytic: Float64Array[],
  tol = 1e-6,
): void {
  const numeric = numericGradient(f, inputs);
  numeric.forEach((g, k) => {
    expect(analytic[k]!.length).toBe(g.length);
    expect(maxRelativeError(analytic[k]!, g, 1e-8), `input ${k}`).toBeLessThan(tol);
  });
}

export function readFixture(name: string, file: string): ArrayBuffer {
  const buf = readFileSync(new URL(`../fixtures/${name}/${file}`, import.meta.url));
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
}

// DataView with littleEndian = true: the fixture files are little-endian
// whatever the host byte order.
export function readF32AsF64(name: string, file: string): Float64Array {
  const view = new DataView(readFixture(name, file));
  return Float64Array.from({ length: view.byteLength / 4 }, (_, i) => view.getFloat32(4 * i, true));
}

export function readI32(name: string, file: string): Int32Array {
  const view = new DataView(readFixture(name, file));
  return Int32Array.from({ length: view.byteLength / 4 }, (_, i) => view.getInt32(4 * i, true));
}

/** max |got − ref| / max |ref|: f32 sums of L terms of size ≲ max carry ≲ L·2⁻²⁴ of it. */
export function relToMax(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  expect(got.length).toBe(ref.length);
  let scale = 0;
  let err = 0;
  for (let i = 0; i < ref.length; i++) {
    scale = Math.max(scale, Math.abs(ref[i]!));
    err = Math.max(err, Math.abs(got[i]! - ref[i]!));
  }
  return scale === 0 ? err : err / scale;
}

/** Rounds every value to float32 (what a GPU tensor holds). */
export const f32 = (a: Float64Array): Float64Array => Float64Array.from(a, Math.fround);

/** Four shuffled batch items: a random walk, an empty event, a straight track and a shorter walk. */
export function convEvents(seed: number, dim: SpatialDim, extent: number, size: number): Int32Array {
  const r = rng(seed);
  const evs = [randomWalk(r, dim, extent, size), new Int32Array(0), straightTrack(r, dim, extent, size / 3), randomWalk(r, dim, extent, size / 2)];
  return shuffleRows(r, batchEvents(evs, dim), dim + 1).coords;
}
