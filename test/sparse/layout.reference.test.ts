import { describe, expect, it } from 'vitest';
import { maxRelativeError } from '../../src/autodiff/numeric.js';
import { ShapeError } from '../../src/errors.js';
import { buildCoordTable } from '../../src/kernels/sparse/coords.js';
import { sparseConvForward } from '../../src/kernels/sparse/conv.reference.js';
import { buildSubmanifoldMap } from '../../src/kernels/sparse/kernel-map.reference.js';
import { fromMinkowski, fromSparseConvNet, fromSpconv, toMinkowski, toSparseConvNet, toSpconv } from '../../src/kernels/sparse/layout.js';
import { randomFeats, randomWalk, readF32AsF64, readI32, rng } from './sparse-data.js';

/**
 * Brute-force submanifold conv with taps enumerated by an explicit
 * `tapOf(k)` → per-axis displacement and weight element `w(k, cin, cout)`:
 * the definition of another library's layout, independent of ghostgrad's maps.
 */
function convByTaps(
  coords: Int32Array,
  feats: Float64Array,
  cin: number,
  cout: number,
  v: number,
  tapOf: (k: number) => number[],
  w: (k: number, a: number, b: number) => number,
): Float64Array {
  const table = buildCoordTable(coords, 3);
  const n = coords.length / 4;
  const out = new Float64Array(n * cout);
  for (let o = 0; o < n; o++) {
    for (let k = 0; k < v; k++) {
      const d = tapOf(k);
      const i = table.find(coords[4 * o]!, coords[4 * o + 1]! + d[0]!, coords[4 * o + 2]! + d[1]!, coords[4 * o + 3]! + d[2]!);
      if (i < 0) continue;
      for (let a = 0; a < cin; a++) for (let b = 0; b < cout; b++) out[o * cout + b] = out[o * cout + b]! + feats[i * cin + a]! * w(k, a, b);
    }
  }
  return out;
}

describe('SparseConvNet layout', () => {
  it('drops the unit groups dimension and keeps the offset order (round trip)', () => {
    const w = randomFeats(rng(1), 27 * 2 * 3, 1);
    expect(Array.from(fromSparseConvNet(w, 27, 2, 3))).toEqual(Array.from(w));
    expect(Array.from(toSparseConvNet(fromSparseConvNet(w, 27, 2, 3), 27, 2, 3))).toEqual(Array.from(w));
    expect(() => fromSparseConvNet(w, 27, 3, 3)).toThrow(ShapeError);
  });
});

describe('MinkowskiEngine layout', () => {
  it('maps ME index k_ME = (i2*K1 + i1)*K0 + i0 to ghostgrad k = (i0*K1 + i1)*K2 + i2', () => {
    // Tap (dx, dy, dz) = (1, 0, -1) in a 3^3 kernel: positions (2, 1, 0).
    const w = Float64Array.from({ length: 27 }, (_, k) => k);
    const g = fromMinkowski(w, 3, 3, 1, 1);
    expect(g[(2 * 3 + 1) * 3 + 0]).toBe((0 * 3 + 1) * 3 + 2);
    expect(g[13]).toBe(13);
    expect(Array.from(toMinkowski(g, 3, 3, 1, 1))).toEqual(Array.from(w));
  });

  it('a conv defined with ME tap enumeration equals ghostgrad conv on converted weights (anisotropic kernel)', () => {
    const r = rng(2);
    const ks = [3, 5, 1];
    const v = 15;
    const cin = 2;
    const cout = 3;
    const coords = randomWalk(r, 3, 64, 300);
    const feats = randomFeats(r, coords.length / 4, cin);
    const wMe = randomFeats(r, v * cin * cout, 1);
    // ME enumerates taps with the first spatial axis fastest, centred for odd sizes.
    const tapMe = (k: number): number[] => {
      const i0 = k % ks[0]!;
      const i1 = Math.floor(k / ks[0]!) % ks[1]!;
      const i2 = Math.floor(k / (ks[0]! * ks[1]!));
      return [i0 - 1, i1 - 2, i2 - 0];
    };
    const ref = convByTaps(coords, feats, cin, cout, v, tapMe, (k, a, b) => wMe[(k * cin + a) * cout + b]!);
    const ours = sparseConvForward(feats, {
      map: buildSubmanifoldMap(coords, 3, ks),
      weight: fromMinkowski(wMe, 3, ks, cin, cout),
      inChannels: cin,
      outChannels: cout,
    });
    expect(maxRelativeError(ours, ref)).toBeLessThan(1e-13);
  });

  it('the SparseConvNet fixture pins the order: reading its weight in ME order breaks it', () => {
    const F = 'sparseconvnet-subm3';
    const xyz = readI32(F, 'coords.i32');
    const n = xyz.length / 3;
    const coords = new Int32Array(n * 4);
    for (let row = 0; row < n; row++) coords.set(xyz.subarray(3 * row, 3 * row + 3), 4 * row + 1);
    const weight = readF32AsF64(F, 'weight.f32');
    const feats = readF32AsF64(F, 'feats.f32');
    const map = buildSubmanifoldMap(coords, 3, 3);
    const wrong = sparseConvForward(feats, { map, weight: fromMinkowski(weight, 3, 3, 5, 7), bias: readF32AsF64(F, 'bias.f32'), inChannels: 5, outChannels: 7 });
    expect(maxRelativeError(wrong, readF32AsF64(F, 'out.f32'))).toBeGreaterThan(0.05);
  });
});

describe('spconv layout', () => {
  const cin = 2;
  const cout = 3;
  const ksSp = [3, 5, 1]; // spconv kernel shape, in spconv's index-column order

  it('out-kernel-in (2.x) and kernel-in-out (1.x) round trip and agree with each other', () => {
    const r = rng(3);
    const w = randomFeats(r, 15 * cin * cout, 1);
    for (const layout of ['out-kernel-in', 'kernel-in-out'] as const) {
      for (const axes of ['same', 'reversed'] as const) {
        const ks = axes === 'same' ? ksSp : [...ksSp].reverse();
        const g = fromSpconv(w, 3, ks, cin, cout, { layout, axes });
        expect(Array.from(toSpconv(g, 3, ks, cin, cout, { layout, axes }))).toEqual(Array.from(w));
      }
    }
    const g2 = fromSpconv(w, 3, ksSp, cin, cout, { layout: 'out-kernel-in' });
    const w1 = toSpconv(g2, 3, ksSp, cin, cout, { layout: 'kernel-in-out' });
    // Element (cout b, kernel a0 a1 a2, cin a) of the 2.x tensor is element (a0 a1 a2, a, b) of 1.x.
    const [b, a0, a1, a2, a] = [2, 1, 3, 0, 1];
    const kSp = (a0 * 5 + a1) * 1 + a2;
    expect(w1[(kSp * cin + a) * cout + b]).toBe(w[(b * 15 + kSp) * cin + a]);
  });

  it('spconv cross-correlation on (b, c1, c2, c3) equals ghostgrad with axes same, and with axes reversed on reversed columns', () => {
    const r = rng(4);
    const coordsSp = randomWalk(r, 3, 64, 300);
    const n = coordsSp.length / 4;
    const feats = randomFeats(r, n, cin);
    const wSp = randomFeats(r, 15 * cin * cout, 1); // [Cout, 3, 5, 1, Cin]
    const tapSp = (k: number): number[] => [Math.floor(k / 5) - 1, (k % 5) - 2, 0];
    const ref = convByTaps(coordsSp, feats, cin, cout, 15, tapSp, (k, a, b) => wSp[(b * 15 + k) * cin + a]!);
    const same = sparseConvForward(feats, {
      map: buildSubmanifoldMap(coordsSp, 3, ksSp),
      weight: fromSpconv(wSp, 3, ksSp, cin, cout),
      inChannels: cin,
      outChannels: cout,
    });
    expect(maxRelativeError(same, ref)).toBeLessThan(1e-13);
    const reversed = new Int32Array(coordsSp.length);
    for (let row = 0; row < n; row++) {
      reversed.set([coordsSp[4 * row]!, coordsSp[4 * row + 3]!, coordsSp[4 * row + 2]!, coordsSp[4 * row + 1]!], 4 * row);
    }
    const ksG = [...ksSp].reverse();
    const rev = sparseConvForward(feats, {
      map: buildSubmanifoldMap(reversed, 3, ksG),
      weight: fromSpconv(wSp, 3, ksG, cin, cout, { axes: 'reversed' }),
      inChannels: cin,
      outChannels: cout,
    });
    expect(maxRelativeError(rev, ref)).toBeLessThan(1e-13);
  });

  it('rejects wrong sizes and bad options', () => {
    const w = new Float64Array(27 * 2 * 3);
    expect(() => fromSpconv(w, 3, 3, 2, 2)).toThrow(ShapeError);
    expect(() => fromSpconv(w, 3, 3, 2, 3, { layout: 'nhwc' as 'out-kernel-in' })).toThrow(/options.layout/);
    expect(() => fromMinkowski(w, 3, 3, 2, 3, 'z-first' as 'first-axis-fastest')).toThrow(/offsetOrder/);
  });
});
