import { describe, expect, it } from 'vitest';
import {
  mulhi32,
  philox4x32,
  philox4x32_10,
  u32ToUnit,
  u32ToUnitPositive,
} from '../../src/kernels/photon-mc/philox.js';
import { seededRandom } from '../../src/autodiff/numeric.js';
import { chiSquare, chiSquareBound } from './helpers.js';

// Known-answer vectors of Philox4x32-10 from Random123's kat_vectors file
// (D. E. Shaw Research), columns: counter[4], key[2] -> output[4].
const KAT: readonly {
  name: string;
  ctr: [number, number, number, number];
  key: [number, number];
  out: [number, number, number, number];
}[] = [
  { name: 'zeros', ctr: [0, 0, 0, 0], key: [0, 0], out: [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8] },
  {
    name: 'all ones',
    ctr: [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
    key: [0xffffffff, 0xffffffff],
    out: [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
  },
  {
    name: 'pi digits',
    ctr: [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
    key: [0xa4093822, 0x299f31d0],
    out: [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
  },
];

describe('Philox4x32-10', () => {
  for (const v of KAT) {
    it(`matches the Random123 known answer: ${v.name}`, () => {
      expect(Array.from(philox4x32_10(v.ctr, v.key))).toEqual(v.out);
      const out = new Uint32Array(4);
      philox4x32(v.ctr[0], v.ctr[1], v.ctr[2], v.ctr[3], v.key[0], v.key[1], out);
      expect(Array.from(out)).toEqual(v.out);
    });
  }

  it('mulhi32 from 16-bit halves equals the exact 64-bit high word', () => {
    const rnd = seededRandom(12345);
    const edge = [0, 1, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0xd2511f53, 0xcd9e8d57];
    const pairs: [number, number][] = [];
    for (const a of edge) for (const b of edge) pairs.push([a, b]);
    for (let i = 0; i < 20000; i++) pairs.push([(rnd() * 2 ** 32) >>> 0, (rnd() * 2 ** 32) >>> 0]);
    for (const [a, b] of pairs) {
      const exact = Number((BigInt(a) * BigInt(b)) >> 32n);
      expect(mulhi32(a, b)).toBe(exact);
    }
  });

  it('distinct counters and keys give distinct blocks', () => {
    const seen = new Set<string>();
    const out = new Uint32Array(4);
    for (let c = 0; c < 64; c++) {
      for (let k = 0; k < 16; k++) {
        philox4x32(c, 0, 0, 0, 7, k, out);
        seen.add(Array.from(out).join(','));
      }
    }
    expect(seen.size).toBe(64 * 16);
  });
});

describe('u32 → float conversions', () => {
  it('u32ToUnit: 24-bit grid in [0, 1), exact endpoints', () => {
    expect(u32ToUnit(0)).toBe(0);
    expect(u32ToUnit(0xff)).toBe(0); // low 8 bits are dropped
    expect(u32ToUnit(0x100)).toBe(2 ** -24);
    expect(u32ToUnit(0xffffffff)).toBe(1 - 2 ** -24);
    expect(u32ToUnit(0x80000000)).toBe(0.5);
  });

  it('u32ToUnitPositive: (0, 1], never 0, so −log is finite', () => {
    expect(u32ToUnitPositive(0)).toBe(2 ** -24);
    expect(u32ToUnitPositive(0xffffffff)).toBe(1);
    expect(Number.isFinite(-Math.log(u32ToUnitPositive(0)))).toBe(true);
  });

  it('every value is exactly representable in float32 (so WGSL reproduces it)', () => {
    const rnd = seededRandom(99);
    for (let i = 0; i < 5000; i++) {
      const x = (rnd() * 2 ** 32) >>> 0;
      expect(Math.fround(u32ToUnit(x))).toBe(u32ToUnit(x));
      expect(Math.fround(u32ToUnitPositive(x))).toBe(u32ToUnitPositive(x));
    }
  });

  it('Philox words give uniform floats (χ² over 64 bins)', () => {
    const bins = 64;
    const counts = new Float64Array(bins);
    const out = new Uint32Array(4);
    const n = 50000;
    for (let i = 0; i < n; i++) {
      philox4x32(i, 3, 0, 0, 42, 1, out);
      for (const w of out) counts[Math.floor(u32ToUnit(w) * bins)]!++;
    }
    const expected = new Float64Array(bins).fill((4 * n) / bins);
    expect(chiSquare(counts, expected)).toBeLessThan(chiSquareBound(bins - 1));
  });
});
