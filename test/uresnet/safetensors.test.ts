// The safetensors reader and writer (host only, no GPU).
import { describe, expect, it } from 'vitest';
import { DTypeError, InputValueError, ShapeError } from '../../src/errors.js';
import { readSafetensors, writeSafetensors, type SafetensorsWriteDType } from '../../src/models/safetensors.js';

/** Builds a file by hand, following the format description, independently of the writer. */
function handMade(header: object, data: number[]): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('safetensors', () => {
  it('writes the documented layout: u64 LE header length, padded JSON, packed LE F32 data', () => {
    const bytes = writeSafetensors(
      [
        { name: 'a', shape: [2], data: new Float32Array([1, -2]) },
        { name: 'b.weight', shape: [1, 1, 1], data: new Float32Array([0.5]) },
        { name: 'empty', shape: [0, 3], data: new Float32Array(0) },
      ],
      { format: 'test' },
    );
    const view = new DataView(bytes.buffer);
    const h = Number(view.getBigUint64(0, true));
    expect(h % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + h)));
    expect(header).toEqual({
      __metadata__: { format: 'test' },
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      'b.weight': { dtype: 'F32', shape: [1, 1, 1], data_offsets: [8, 12] },
      empty: { dtype: 'F32', shape: [0, 3], data_offsets: [12, 12] },
    });
    expect(bytes.length).toBe(8 + h + 12);
    // 1.0f = 0x3f800000, little-endian.
    expect([...bytes.subarray(8 + h, 8 + h + 4)]).toEqual([0x00, 0x00, 0x80, 0x3f]);
    const back = readSafetensors(bytes);
    expect(back.metadata).toEqual({ format: 'test' });
    expect([...back.tensors.keys()]).toEqual(['a', 'b.weight', 'empty']);
    expect(Array.from(back.tensors.get('a')!.data)).toEqual([1, -2]);
    expect(back.tensors.get('empty')!.shape).toEqual([0, 3]);
  });

  it('round-trips every f32 bit pattern it is given, without modifying the input', () => {
    const data = new Float32Array([0, -0, 1e-45, 3.4e38, -1.5, Math.PI, 1 / 3]);
    const copy = data.slice();
    const back = readSafetensors(writeSafetensors([{ name: 'x', shape: [7], data }])).tensors.get('x')!.data;
    expect(new Uint32Array(back.buffer)).toEqual(new Uint32Array(copy.buffer));
    expect(data).toEqual(copy);
  });

  it('reads F64, F16 and BF16 tensors (converted to f32) from a hand-made file', () => {
    const f64 = new Uint8Array(new Float64Array([0.25, -3]).buffer);
    // F16: 1.0 = 0x3c00, -2.0 = 0xc000; BF16: 1.0 = 0x3f80, -0.5 = 0xbf00 (little-endian bytes).
    const f16 = [0x00, 0x3c, 0x00, 0xc0];
    const bf16 = [0x80, 0x3f, 0x00, 0xbf];
    const bytes = handMade(
      {
        d: { dtype: 'F64', shape: [2], data_offsets: [0, 16] },
        h: { dtype: 'F16', shape: [2, 1], data_offsets: [16, 20] },
        b: { dtype: 'BF16', shape: [2], data_offsets: [20, 24] },
      },
      [...f64, ...f16, ...bf16],
    );
    const t = readSafetensors(bytes).tensors;
    expect(Array.from(t.get('d')!.data)).toEqual([0.25, -3]);
    expect(t.get('d')!.dtype).toBe('F64');
    expect(Array.from(t.get('h')!.data)).toEqual([1, -2]);
    expect(t.get('h')!.shape).toEqual([2, 1]);
    expect(Array.from(t.get('b')!.data)).toEqual([1, -0.5]);
  });

  it('rejects malformed files with typed errors', () => {
    expect(() => readSafetensors(new Uint8Array(4))).toThrow(InputValueError);
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 1000n, true);
    expect(() => readSafetensors(huge)).toThrow(/header length 1000 exceeds/);
    const notJson = new Uint8Array([3, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7b, 0x7b]);
    expect(() => readSafetensors(notJson)).toThrow(/not valid UTF-8 JSON/);
    expect(() => readSafetensors(handMade({ x: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Array(8).fill(0)))).toThrow(DTypeError);
    expect(() => readSafetensors(handMade({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Array(8).fill(0)))).toThrow(ShapeError);
    expect(() => readSafetensors(handMade({ x: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Array(8).fill(0)))).toThrow(/outside the 8-byte data buffer/);
    expect(() => readSafetensors(handMade({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, y: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Array(8).fill(0)))).toThrow(/overlap/);
    expect(() => readSafetensors(handMade({ x: { dtype: 'F32', shape: [-1], data_offsets: [0, 0] } }, []))).toThrow(/shape/);
    // Bytes after the last tensor, or a hole between tensors, are corruption (or a polyglot file).
    expect(() => readSafetensors(handMade({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Array(8).fill(0)))).toThrow(/4 byte\(s\) follow the last tensor's data/);
    expect(() => readSafetensors(handMade({ x: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Array(8).fill(0)))).toThrow(/bytes 0…3 of the data buffer, before tensor "x", belong to no tensor/);
  });

  it('writer validates names and lengths', () => {
    const t = { name: 'w', shape: [2], data: new Float32Array(2) };
    expect(() => writeSafetensors([t, t])).toThrow(/appears twice/);
    expect(() => writeSafetensors([{ ...t, name: '' }])).toThrow(InputValueError);
    expect(() => writeSafetensors([{ ...t, shape: [3] }])).toThrow(ShapeError);
    expect(() => writeSafetensors([t], { step: 3 as unknown as string })).toThrow(/must be a string/);
  });

  describe('half-size writing (BF16, F16)', () => {
    /** Writes `values` with `dtype` and reads them back (the reader's decoding is separate code). */
    const roundTrip = (values: Float32Array, dtype: SafetensorsWriteDType): Float32Array =>
      readSafetensors(writeSafetensors([{ name: 'x', shape: [values.length], data: values }], {}, { dtype })).tensors.get('x')!.data;

    it('stores the dtype in the header at 2 bytes a value', () => {
      for (const dtype of ['BF16', 'F16'] as const) {
        const bytes = writeSafetensors([{ name: 'w', shape: [3, 2], data: new Float32Array(6).fill(0.5) }], {}, { dtype });
        const h = Number(new DataView(bytes.buffer).getBigUint64(0, true));
        expect(JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + h))).w).toEqual({ dtype, shape: [3, 2], data_offsets: [0, 12] });
        expect(bytes.length).toBe(8 + h + 12);
        expect(readSafetensors(bytes).tensors.get('w')!.dtype).toBe(dtype);
      }
    });

    it('every representable value round-trips exactly: all 65,536 bit patterns of each', () => {
      for (const dtype of ['BF16', 'F16'] as const) {
        // Decode every pattern with the reader from a hand-made file, then write those values back.
        const raw: number[] = [];
        for (let b = 0; b < 65536; b++) raw.push(b & 0xff, b >> 8);
        const decoded = readSafetensors(handMade({ x: { dtype, shape: [65536], data_offsets: [0, 131072] } }, raw)).tensors.get('x')!.data;
        const finite = decoded.filter((v) => !Number.isNaN(v));
        const back = roundTrip(finite, dtype);
        expect(new Uint32Array(back.buffer)).toEqual(new Uint32Array(finite.buffer)); // -0 and ±∞ included
        expect(Number.isNaN(roundTrip(new Float32Array([NaN]), dtype)[0])).toBe(true);
      }
    });

    it('rounds to nearest, ties to even, within half an ulp on random values', () => {
      // Ties: 1 + 2⁻⁸ lies halfway between bf16 neighbours 1 and 1 + 2⁻⁷; 1 + 2⁻¹¹ likewise for f16.
      expect(Array.from(roundTrip(new Float32Array([1 + 2 ** -8, 1 + 3 * 2 ** -8, -(1 + 2 ** -8)]), 'BF16'))).toEqual([1, 1 + 2 ** -6, -1]);
      expect(Array.from(roundTrip(new Float32Array([1 + 2 ** -11, 1 + 3 * 2 ** -11, 65519, 2 ** -25, 1.5 * 2 ** -25, 3 * 2 ** -25]), 'F16'))).toEqual([
        1, 1 + 2 ** -9, 65504, 0, 2 ** -24, 2 ** -23,
      ]);
      let seed = 12345;
      const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
      const values = Float32Array.from({ length: 20000 }, () => (rand() - 0.5) * 2 ** (Math.floor(rand() * 30) - 12));
      const bf = roundTrip(values, 'BF16');
      const hf = roundTrip(values, 'F16');
      for (let i = 0; i < values.length; i++) {
        const v = values[i]!;
        const e = Math.floor(Math.log2(Math.abs(v)));
        expect(Math.abs(bf[i]! - v)).toBeLessThanOrEqual(2 ** (e - 8)); // half of bf16's ulp 2^(e−7)
        expect(Math.abs(hf[i]! - v)).toBeLessThanOrEqual(2 ** (Math.max(e, -14) - 11)); // half of f16's ulp (subnormals: 2⁻²⁴)
      }
    });

    it('refuses values the dtype cannot hold and an unknown dtype, leaving the input untouched', () => {
      const data = new Float32Array([1, 70000, -2]);
      const copy = data.slice();
      expect(() => writeSafetensors([{ name: 'big', shape: [3], data }], {}, { dtype: 'F16' })).toThrow(InputValueError);
      expect(() => writeSafetensors([{ name: 'big', shape: [3], data }], {}, { dtype: 'F16' })).toThrow(/tensor "big" value 1 is 70000.*'F32' or 'BF16'/);
      expect(Array.from(roundTrip(data, 'BF16'))).toEqual([1, 70144, -2]);
      expect(() => writeSafetensors([{ name: 'huge', shape: [1], data: new Float32Array([3.4e38]) }], {}, { dtype: 'BF16' })).toThrow(/BF16 cannot hold/);
      expect(() => writeSafetensors([], {}, { dtype: 'F8' as SafetensorsWriteDType })).toThrow(/options.dtype = "F8"/);
      expect(data).toEqual(copy);
    });
  });
});
