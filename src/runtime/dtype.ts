/**
 * Element types a GPU tensor can hold, and their host-side representations.
 *
 * @module
 */
import { DTypeError, show } from '../errors.js';

/** Element type of a tensor. `f16` needs the device feature `shader-f16`. */
export type DType = 'f32' | 'i32' | 'u32' | 'f16';

/** Host array types accepted on upload. f16 data is given and read back as Float32Array. */
export type HostArray = Float32Array | Int32Array | Uint32Array | Float64Array | readonly number[];

/** The typed array that `read()` returns for each dtype. */
export interface ReadArray {
  f32: Float32Array;
  i32: Int32Array;
  u32: Uint32Array;
  f16: Float32Array;
}

const DTYPES: readonly DType[] = ['f32', 'i32', 'u32', 'f16'];

/** Bytes per element. */
export function bytesPerElement(dtype: DType): number {
  return dtype === 'f16' ? 2 : 4;
}

export function assertDType(value: unknown, arg: string): asserts value is DType {
  if (!DTYPES.includes(value as DType)) {
    throw new DTypeError(`${arg}: unknown dtype ${show(value)}; use one of ${DTYPES.join(', ')}`);
  }
}

/** Infers the dtype of a host array: Int32Array → i32, Uint32Array → u32, anything else → f32. */
export function inferDType(data: HostArray): DType {
  if (data instanceof Int32Array) return 'i32';
  if (data instanceof Uint32Array) return 'u32';
  return 'f32';
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE half-precision bits of a float32 value, rounded to nearest even. */
export function f32ToF16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}

/** float32 value of IEEE half-precision bits. */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/**
 * Encodes host data as the bytes of a tensor of `dtype`, without touching the
 * input: a view of the input's own bytes when it already is an array of that
 * type (uploads copy at once, so nothing keeps it), else a fresh buffer
 * padded to a multiple of 4 bytes.
 */
export function encodeHost(data: HostArray, dtype: DType, arg: string): ArrayBufferView | ArrayBuffer {
  const n = data.length;
  if (
    n > 0 &&
    ((dtype === 'f32' && data instanceof Float32Array) || (dtype === 'i32' && data instanceof Int32Array) || (dtype === 'u32' && data instanceof Uint32Array))
  ) {
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  const bytes = Math.max(4, Math.ceil((n * bytesPerElement(dtype)) / 4) * 4);
  const out = new ArrayBuffer(bytes);
  switch (dtype) {
    case 'f32':
      new Float32Array(out, 0, n).set(data as ArrayLike<number>);
      break;
    case 'i32': {
      const view = new Int32Array(out, 0, n);
      for (let i = 0; i < n; i++) {
        const v = (data as ArrayLike<number>)[i]!;
        if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) {
          throw new DTypeError(`${arg}[${i}] = ${show(v)} is not an int32; round or cast the data, or use dtype 'f32'`);
        }
        view[i] = v;
      }
      break;
    }
    case 'u32': {
      const view = new Uint32Array(out, 0, n);
      for (let i = 0; i < n; i++) {
        const v = (data as ArrayLike<number>)[i]!;
        if (!Number.isInteger(v) || v < 0 || v > 4294967295) {
          throw new DTypeError(`${arg}[${i}] = ${show(v)} is not a uint32; use dtype 'i32' or 'f32'`);
        }
        view[i] = v;
      }
      break;
    }
    case 'f16': {
      const view = new Uint16Array(out, 0, n);
      for (let i = 0; i < n; i++) view[i] = f32ToF16Bits((data as ArrayLike<number>)[i]!);
      break;
    }
  }
  return out;
}

/** Decodes `n` elements of `dtype` from raw bytes. */
export function decodeHost<D extends DType>(bytes: ArrayBuffer, n: number, dtype: D): ReadArray[D] {
  switch (dtype) {
    // `bytes` is a fresh copy of the mapped range, owned here: view it.
    case 'f32':
      return new Float32Array(bytes, 0, n) as ReadArray[D];
    case 'i32':
      return new Int32Array(bytes, 0, n) as ReadArray[D];
    case 'u32':
      return new Uint32Array(bytes, 0, n) as ReadArray[D];
    default: {
      const halves = new Uint16Array(bytes, 0, n);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = f16BitsToF32(halves[i]!);
      return out as ReadArray[D];
    }
  }
}
