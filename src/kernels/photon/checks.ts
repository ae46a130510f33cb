/**
 * Argument checks shared by the photon-transport reference layer. Each check
 * throws a typed error whose message names the argument, the offending value
 * and what to do instead, so a failing GPU comparison test points straight at
 * the caller's mistake rather than at a silently wrong number.
 *
 * @internal
 * @module
 */

import { InputValueError, ShapeError, show } from '../../errors.js';

/** Axis names used in messages; coordinates are always (x, y, z) in cm. */
export const AXIS_NAMES = ['x', 'y', 'z'] as const;

/** Throws InputValueError unless `value` is an integer ≥ `min`. */
export function requireInteger(value: number, name: string, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new InputValueError(`${name} must be an integer ≥ ${min}, got ${show(value)}; pass a whole number.`);
  }
}

/** Throws InputValueError unless `value` is finite and strictly positive. */
export function requirePositive(value: number, name: string): void {
  if (!Number.isFinite(value) || value <= 0) {
    throw new InputValueError(`${name} must be a finite number > 0, got ${show(value)}.`);
  }
}

/**
 * Number of rows in a row-major [rows, rowLength] array. Throws ShapeError
 * when the length is not a multiple of the row length.
 */
export function rowsOf(array: ArrayLike<number>, rowLength: number, name: string, shapeText: string): number {
  if (array.length % rowLength !== 0) {
    throw new ShapeError(
      `${name} must have shape ${shapeText} (a multiple of ${rowLength} elements), got length ${array.length}; ` +
        `check that every row has ${rowLength} entries.`,
    );
  }
  return array.length / rowLength;
}

/** Throws ShapeError unless `array.length === expected`. */
export function requireLength(array: ArrayLike<number>, expected: number, name: string, shapeText: string): void {
  if (array.length !== expected) {
    throw new ShapeError(`${name} must have shape ${shapeText} = ${expected} elements, got length ${array.length}.`);
  }
}

/**
 * Throws InputValueError at the first non-finite entry, naming its row and
 * column when `rowLength` is given.
 */
export function requireFinite(array: ArrayLike<number>, name: string, rowLength = 1): void {
  for (let i = 0; i < array.length; i++) {
    const v = array[i]!;
    if (!Number.isFinite(v)) {
      const where = rowLength > 1 ? `row ${Math.floor(i / rowLength)}, column ${i % rowLength}` : `index ${i}`;
      throw new InputValueError(`${name} must be finite, but ${where} is ${show(v)}; remove or repair that entry.`);
    }
  }
}

/** Throws InputValueError at the first entry that is negative or not finite. */
export function requireNonNegative(array: ArrayLike<number>, name: string, what: string): void {
  for (let i = 0; i < array.length; i++) {
    const v = array[i]!;
    if (!(Number.isFinite(v) && v >= 0)) {
      throw new InputValueError(
        `${name}[${i}] = ${show(v)} is not a valid ${what}; ${what}s must be finite and ≥ 0.`,
      );
    }
  }
}

/** Axis-aligned detector box in cm, `min[a] < max[a]` on every axis. */
export interface Box3 {
  /** Lower corner [x, y, z] in cm. */
  readonly min: readonly [number, number, number];
  /** Upper corner [x, y, z] in cm. */
  readonly max: readonly [number, number, number];
}

/** Throws unless the box has three finite axes with min < max. */
export function requireBox(box: Box3, name: string): void {
  if (box.min.length !== 3 || box.max.length !== 3) {
    throw new ShapeError(
      `${name}.min and ${name}.max must each have 3 entries [x, y, z], got ${box.min.length} and ${box.max.length}.`,
    );
  }
  for (let a = 0; a < 3; a++) {
    const lo = box.min[a]!;
    const hi = box.max[a]!;
    if (!Number.isFinite(lo) || !Number.isFinite(hi) || !(lo < hi)) {
      throw new InputValueError(
        `${name} ${AXIS_NAMES[a]} range must be finite with min < max, got [${show(lo)}, ${show(hi)}] cm; ` +
          `swap or correct the corners.`,
      );
    }
  }
}

/**
 * Throws InputValueError for the first point outside the closed box, naming
 * its row and coordinate. `fix` says how to get past it.
 */
export function requireInsideBox(points: ArrayLike<number>, box: Box3, name: string, fix: string): void {
  const n = points.length / 3;
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < 3; a++) {
      const v = points[3 * i + a]!;
      const lo = box.min[a]!;
      const hi = box.max[a]!;
      if (!(v >= lo && v <= hi)) {
        throw new InputValueError(
          `${name} row ${i} has ${AXIS_NAMES[a]} = ${show(v)} cm, outside the detector box ` +
            `[${show(lo)}, ${show(hi)}] cm on that axis; ${fix}`,
        );
      }
    }
  }
}
