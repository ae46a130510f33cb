/**
 * A reader and writer for the safetensors format (Hugging Face), host side
 * only: no GPU, no file system.
 *
 * Layout of a file:
 *
 * ```
 * [8 bytes]  header length H, unsigned 64-bit little-endian
 * [H bytes]  UTF-8 JSON object:
 *              { "<name>": { "dtype": "F32", "shape": [d0, d1, …], "data_offsets": [begin, end] }, …,
 *                "__metadata__": { "<key>": "<string value>", … } }      (optional)
 * [rest]     the data buffer; tensor bytes are data[begin, end), row-major, little-endian
 * ```
 *
 * Offsets are relative to the start of the data buffer. The writer pads the
 * header with spaces to a multiple of 8 bytes (so that the data starts
 * aligned), writes tensors in the order given, packed without gaps, and
 * always in little-endian byte order whatever the host's.
 *
 * @module
 */
import { DTypeError, InputValueError, ShapeError, show } from '../errors.js';
import { roundHalfEven } from '../autodiff/numeric.js';

/** Element types the reader understands (all are converted to float32 on read). */
export type SafetensorsDType = 'F32' | 'F64' | 'F16' | 'BF16';

/** Element types the writer can store: F32 (exact), or BF16 / F16 (half the size, rounded). */
export type SafetensorsWriteDType = 'F32' | 'BF16' | 'F16';

/** Options of {@link writeSafetensors}. */
export interface WriteSafetensorsOptions {
  /**
   * Element type stored for every tensor. Default 'F32', which round-trips
   * bit for bit. 'BF16' keeps f32's range with 8 significant bits (relative
   * rounding error ≤ 2⁻⁸); 'F16' keeps 11 significant bits (≤ 2⁻¹¹) but only
   * magnitudes up to 65504, and magnitudes below 2⁻¹⁴ lose precision (below
   * 2⁻²⁵ they become zero): prefer BF16 for checkpoints. Both
   * round to nearest, ties to even. A finite value that would become ±∞ is
   * an error, not a silent overflow.
   */
  readonly dtype?: SafetensorsWriteDType;
}

/** A tensor to write: f32 data, row-major, with its shape. */
export interface SafetensorsEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** A tensor read back: data converted to float32. */
export interface SafetensorsTensor {
  readonly name: string;
  /** The dtype stored in the file. */
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** The parsed contents of a safetensors file, in file order. */
export interface SafetensorsFile {
  readonly tensors: ReadonlyMap<string, SafetensorsTensor>;
  readonly metadata: Readonly<Record<string, string>>;
}

const BYTES: Record<SafetensorsDType, number> = { F32: 4, F64: 8, F16: 2, BF16: 2 };
/** Refuse headers larger than this (a corrupt length would otherwise allocate gigabytes). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * f32 value → IEEE binary16 bits, round to nearest even. Returns -1 when a
 * finite value overflows (magnitude ≥ 65520 rounds past 65504).
 */
function floatToHalfBits(v: number): number {
  if (Number.isNaN(v)) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a === Infinity) return sign | 0x7c00;
  // Subnormals (and zero): a multiple of 2⁻²⁴. m = 1024 lands on the smallest normal, 0x0400.
  if (a < 2 ** -14) return sign | roundHalfEven(a * 2 ** 24);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  let m = roundHalfEven(a * 2 ** (10 - e)); // in [1024, 2048]
  if (m === 2048) {
    m = 1024;
    e++;
  }
  if (e > 15) return -1;
  return sign | ((e + 15) << 10) | (m - 1024);
}

/**
 * f32 bit pattern → bfloat16 bits (the high half, round to nearest even).
 * Returns -1 when a finite value overflows.
 */
function floatBitsToBf16Bits(bits: number): number {
  const b = bits >>> 0;
  if ((b & 0x7f800000) === 0x7f800000) return (b & 0x7fffff) !== 0 ? ((b >>> 16) | 0x40) & 0xffff : b >>> 16; // NaN stays NaN (quiet), ±∞ stays
  const r = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  return (r & 0x7f80) === 0x7f80 ? -1 : r & 0xffff;
}

const WRITE_BYTES: Record<SafetensorsWriteDType, number> = { F32: 4, F16: 2, BF16: 2 };

/**
 * Serialises f32 tensors (and optional string metadata) as safetensors bytes,
 * stored as F32 (default) or rounded to BF16 or F16 (see
 * {@link WriteSafetensorsOptions}). Inputs are read, never modified.
 *
 * @throws InputValueError for an empty or duplicate name, a name "__metadata__",
 *   an unknown dtype, or a finite value the chosen dtype cannot hold (F16 above
 *   65504); ShapeError when a tensor's data length is not the product of its shape
 */
export function writeSafetensors(
  entries: readonly SafetensorsEntry[],
  metadata: Readonly<Record<string, string>> = {},
  options: WriteSafetensorsOptions = {},
): Uint8Array {
  const dtype = options.dtype ?? 'F32';
  if (!(dtype in WRITE_BYTES)) {
    throw new InputValueError(`writeSafetensors: options.dtype = ${show(dtype)}; use 'F32', 'BF16' or 'F16'`);
  }
  const bpe = WRITE_BYTES[dtype];
  const header: Record<string, unknown> = {};
  const metaKeys = Object.keys(metadata);
  if (metaKeys.length) {
    for (const k of metaKeys) {
      if (typeof metadata[k] !== 'string') {
        throw new InputValueError(`writeSafetensors: metadata[${show(k)}] = ${show(metadata[k])} must be a string (safetensors metadata maps strings to strings)`);
      }
    }
    header['__metadata__'] = { ...metadata };
  }
  let offset = 0;
  const seen = new Set<string>();
  for (const e of entries) {
    if (typeof e.name !== 'string' || e.name.length === 0 || e.name === '__metadata__') {
      throw new InputValueError(`writeSafetensors: tensor name ${show(e.name)} is invalid; use a non-empty string other than "__metadata__"`);
    }
    if (seen.has(e.name)) throw new InputValueError(`writeSafetensors: tensor name ${show(e.name)} appears twice; names must be unique`);
    seen.add(e.name);
    if (!Array.isArray(e.shape) || e.shape.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new ShapeError(`writeSafetensors: tensor ${show(e.name)} has shape ${show(e.shape)}; dimensions must be non-negative integers`);
    }
    if (!(e.data instanceof Float32Array) || e.data.length !== product(e.shape)) {
      throw new ShapeError(
        `writeSafetensors: tensor ${show(e.name)} has ${e.data?.length} values but shape ${show(e.shape)} needs ${product(e.shape)}; pass a Float32Array of that length`,
      );
    }
    const bytes = e.data.length * bpe;
    header[e.name] = { dtype, shape: [...e.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  // Pad with spaces (valid JSON whitespace) so that the data starts on an 8-byte boundary.
  const encoder = new TextEncoder();
  let headerBytes = encoder.encode(json);
  const pad = (8 - (headerBytes.length % 8)) % 8;
  if (pad) {
    json += ' '.repeat(pad);
    headerBytes = encoder.encode(json);
  }
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const e of entries) {
    if (dtype === 'F32') {
      for (let i = 0; i < e.data.length; i++, at += 4) view.setFloat32(at, e.data[i]!, true);
      continue;
    }
    const bits = new Uint32Array(e.data.buffer, e.data.byteOffset, e.data.length);
    for (let i = 0; i < e.data.length; i++, at += 2) {
      const h = dtype === 'BF16' ? floatBitsToBf16Bits(bits[i]!) : floatToHalfBits(e.data[i]!);
      if (h < 0) {
        throw new InputValueError(
          `writeSafetensors: tensor ${show(e.name)} value ${i} is ${e.data[i]}, which ${dtype} cannot hold (it would become ±∞); store this file as 'F32'${dtype === 'F16' ? " or 'BF16'" : ''}`,
        );
      }
      view.setUint16(at, h, true);
    }
  }
  return out;
}

/** IEEE half → float. */
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function bad(msg: string): InputValueError {
  return new InputValueError(`readSafetensors: ${msg}`);
}

/**
 * Parses safetensors bytes. Every tensor is converted to float32 (F64 is
 * rounded, F16 and BF16 are exact). The input is not modified.
 *
 * @throws InputValueError for a truncated or malformed file (bad header
 *   length, invalid JSON, offsets outside the data or overlapping);
 *   DTypeError for an element type other than F32, F64, F16, BF16;
 *   ShapeError when a tensor's byte range does not match its shape
 */
export function readSafetensors(bytes: Uint8Array): SafetensorsFile {
  if (!(bytes instanceof Uint8Array)) throw bad(`bytes must be a Uint8Array (e.g. from fs.readFileSync); got ${show(bytes)}`);
  if (bytes.length < 8) throw bad(`the input has ${bytes.length} bytes; a safetensors file starts with an 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = view.getBigUint64(0, true);
  if (headerLen > BigInt(Math.min(MAX_HEADER_BYTES, bytes.length - 8))) {
    throw bad(`header length ${headerLen} exceeds the ${bytes.length - 8} bytes that follow it (or ${MAX_HEADER_BYTES}); the file is truncated or not safetensors`);
  }
  const h = Number(headerLen);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + h)));
  } catch (e) {
    throw bad(`the header is not valid UTF-8 JSON (${(e as Error).message}); the file is corrupt or not safetensors`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw bad('the header must be a JSON object');
  const dataStart = 8 + h;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, SafetensorsTensor>();
  const ranges: [number, number, string][] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object') throw bad('__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') throw bad(`__metadata__[${show(k)}] is ${show(v)}; metadata values must be strings`);
        metadata[k] = v;
      }
      continue;
    }
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (info === null || typeof info !== 'object') throw bad(`entry ${show(name)} must be an object with dtype, shape and data_offsets`);
    const dtype = info.dtype;
    if (typeof dtype !== 'string' || !(dtype in BYTES)) {
      throw new DTypeError(`readSafetensors: tensor ${show(name)} has dtype ${show(dtype)}; supported are F32, F64, F16, BF16 (convert it, e.g. tensor.float(), before saving)`);
    }
    const shape = info.shape;
    if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
      throw bad(`tensor ${show(name)} has shape ${show(shape)}; it must be an array of non-negative integers`);
    }
    const offs = info.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0)) {
      throw bad(`tensor ${show(name)} has data_offsets ${show(offs)}; it must be [begin, end] with integers ≥ 0`);
    }
    const [begin, end] = offs as [number, number];
    if (begin > end || end > dataLen) {
      throw bad(`tensor ${show(name)} has data_offsets [${begin}, ${end}] outside the ${dataLen}-byte data buffer; the file is truncated or corrupt`);
    }
    const bpe = BYTES[dtype as SafetensorsDType];
    const count = product(shape as number[]);
    if (end - begin !== count * bpe) {
      throw new ShapeError(
        `readSafetensors: tensor ${show(name)} has shape ${show(shape)} (${count} × ${bpe} bytes) but data_offsets cover ${end - begin} bytes`,
      );
    }
    ranges.push([begin, end, name]);
    const data = new Float32Array(count);
    const at = dataStart + begin;
    switch (dtype as SafetensorsDType) {
      case 'F32':
        for (let i = 0; i < count; i++) data[i] = view.getFloat32(at + 4 * i, true);
        break;
      case 'F64':
        for (let i = 0; i < count; i++) data[i] = view.getFloat64(at + 8 * i, true);
        break;
      case 'F16':
        for (let i = 0; i < count; i++) data[i] = halfToFloat(view.getUint16(at + 2 * i, true));
        break;
      case 'BF16': {
        // bfloat16 is the high half of a float32.
        const tmp = new DataView(new ArrayBuffer(4));
        for (let i = 0; i < count; i++) {
          tmp.setUint32(0, view.getUint16(at + 2 * i, true) << 16);
          data[i] = tmp.getFloat32(0);
        }
        break;
      }
    }
    tensors.set(name, { name, dtype: dtype as SafetensorsDType, shape: Object.freeze([...(shape as number[])]), data });
  }
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) {
    const [b0, e0, n0] = ranges[i - 1]!;
    const [b1, , n1] = ranges[i]!;
    if (b1 < e0 && e0 > b0) throw bad(`tensors ${show(n0)} and ${show(n1)} overlap in the data buffer; the file is corrupt`);
  }
  // The format requires the tensors to cover the data buffer with no hole
  // and nothing after them: stray bytes mean a corrupt or polyglot file.
  let covered = 0;
  for (const [begin, end, name] of ranges) {
    if (begin > covered) throw bad(`bytes ${covered}…${begin - 1} of the data buffer, before tensor ${show(name)}, belong to no tensor; the file is corrupt`);
    covered = Math.max(covered, end);
  }
  if (covered !== dataLen) {
    throw bad(`${dataLen - covered} byte(s) follow the last tensor's data (the data buffer has ${dataLen}, the tensors cover ${covered}); the file is corrupt or has data appended`);
  }
  return { tensors, metadata };
}
