/**
 * Typed errors. Every error ghostgrad throws on bad input is one of these, and
 * its message names the argument, the offending value and the fix, so that
 * callers can both `instanceof`-match and read it.
 *
 * @module
 */

/** Base class of every error ghostgrad throws on purpose. */
export class GhostgradError extends Error {
  override name = 'GhostgradError';
}

/** A tensor has the wrong shape, rank, or a channel count that does not match. */
export class ShapeError extends GhostgradError {
  override name = 'ShapeError';
}

/** A tensor has the wrong element type, or the device lacks the type (f16). */
export class DTypeError extends GhostgradError {
  override name = 'DTypeError';
}

/** A tensor, context or sparse tensor was used after `dispose()`. */
export class DisposedError extends GhostgradError {
  override name = 'DisposedError';
}

/** A pipeline call bound a missing, extra or mis-typed resource. */
export class BindingError extends GhostgradError {
  override name = 'BindingError';
}

/** A request exceeds a device limit (buffer size, workgroups, bindings). */
export class DeviceLimitError extends GhostgradError {
  override name = 'DeviceLimitError';
}

/** No WebGPU adapter could be obtained. */
export class NoAdapterError extends GhostgradError {
  override name = 'NoAdapterError';
}

/** The GPU device was lost (driver reset, `destroy()`, out of memory). */
export class DeviceLostError extends GhostgradError {
  override name = 'DeviceLostError';
}

/** WebGPU reported a validation or out-of-memory error that no scope captured. */
export class GpuValidationError extends GhostgradError {
  override name = 'GpuValidationError';
}

/** A WGSL module failed to compile; the message carries line and column. */
export class ShaderCompileError extends GhostgradError {
  override name = 'ShaderCompileError';
  constructor(
    message: string,
    /** Compiler messages with 1-based line and column. */
    readonly diagnostics: readonly { line: number; column: number; message: string; type: string }[] = [],
  ) {
    super(message);
  }
}

/**
 * An input value is invalid: NaN, negative where it must not be, out of range,
 * a duplicate coordinate, a non-physical parameter, inconsistent metadata.
 */
export class InputValueError extends GhostgradError {
  override name = 'InputValueError';
}

/**
 * A training step met a non-finite loss or gradient (NaN, ±Inf) and was not
 * applied: weights, optimizer state and BatchNorm statistics are as before.
 */
export class NonFiniteError extends GhostgradError {
  override name = 'NonFiniteError';
}

/** The tape was misused: missing gradient rule, backward run twice, bad gradient shape. */
export class AutodiffError extends GhostgradError {
  override name = 'AutodiffError';
}

/** What a value is, for messages about a wrong kind of argument: `Float32Array(6)`, `number 3`, `Tensor(…)`. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as unknown as { length?: number }).length ?? v.byteLength})`;
  if (Array.isArray(v)) return `Array(${v.length})`;
  if (typeof v === 'object') return (v as { constructor?: { name?: string } }).constructor?.name ?? 'object';
  return `${typeof v} ${show(v)}`;
}

/** Short, bounded rendering of a value for error messages. */
export function show(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(show).join(', ')}]`;
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' && Number.isNaN(value)) return 'NaN';
  return String(value);
}

/** Edit distance (insertions, deletions, substitutions, adjacent swaps) between two short keys. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The known key nearest to `key` (case-insensitive edit distance ≤ a third of its length, at least 2), or null. */
export function nearestKey(key: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const k of known) {
    const dist = editDistance(key.toLowerCase(), k.toLowerCase());
    if (dist < bestDistance) {
      best = k;
      bestDistance = dist;
    }
  }
  return best;
}

/**
 * Throws InputValueError for an options object that is not a plain object,
 * or that has a key outside `known`, naming the key, the nearest valid one
 * and the list: a typo must never fall back to a default silently.
 *
 * @param where the function and argument, e.g. `'physicsTensor params'`
 */
export function checkOptionKeys(where: string, options: unknown, known: readonly string[]): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InputValueError(`${where} must be an object with keys among ${known.join(', ')}; got ${show(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const near = nearestKey(key, known);
    const hint = near ? ` (did you mean ${show(near)}?)` : '';
    throw new InputValueError(`${where}: unknown option ${show(key)}${hint}; the options are ${known.join(', ')}`);
  }
}
