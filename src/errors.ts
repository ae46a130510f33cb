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

/** The tape was misused: missing gradient rule, backward run twice, bad gradient shape. */
export class AutodiffError extends GhostgradError {
  override name = 'AutodiffError';
}

/** Short, bounded rendering of a value for error messages. */
export function show(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(show).join(', ')}]`;
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' && Number.isNaN(value)) return 'NaN';
  return String(value);
}
