/**
 * GPU tensors of the drift family: the physics-parameter vector and the
 * packed segment table, with the host-side validation that turns bad input
 * into typed errors before anything reaches a kernel.
 *
 * @module
 */
import { checkOptionKeys, DTypeError, InputValueError, ShapeError, show } from '../../errors.js';
import type { GpuContext } from '../../runtime/context.js';
import { tensor, type Tensor } from '../../runtime/tensor.js';
import { CHAIN_PARAM_NAMES, type ChainParamName, type ChainParams, DEFAULT_CHAIN_PARAMS } from './chain.reference.js';
import { validateDriftParams } from './drift.reference.js';
import { type RecombinationModel, validateRecombinationParams } from './recombination.reference.js';
import { SEGMENT_STRIDE, type Segments, segmentsToPacked, validateSegments } from './segments.js';

/**
 * Order of the 15 entries of a physics tensor (= `CHAIN_PARAM_NAMES`):
 * Ab, kb, birksA, birksK, embR, eField (kV/cm), density (g/cm³), wIon (MeV),
 * temperature (K), vDrift (cm/µs; 0 = derive from eField and temperature),
 * lifetime (µs), dL (cm²/s), dT (cm²/s), sigma0L (cm), sigma0T (cm).
 */
export const PHYSICS_PARAM_NAMES = CHAIN_PARAM_NAMES;

/** Number of entries of a physics tensor. */
export const PHYSICS_PARAM_COUNT = PHYSICS_PARAM_NAMES.length;

/** Index of a parameter in a physics tensor. */
export function physicsIndex(name: ChainParamName): number {
  const i = PHYSICS_PARAM_NAMES.indexOf(name);
  if (i < 0) throw new InputValueError(`physics parameter ${show(name)} does not exist; use one of ${PHYSICS_PARAM_NAMES.join(', ')}`);
  return i;
}

/** Host values of a physics tensor (vDrift null → 0), after validation for `model`. */
export function physicsValues(params: Partial<ChainParams> = {}, model: RecombinationModel = 'box'): Float32Array {
  const p: ChainParams = { ...DEFAULT_CHAIN_PARAMS, ...params };
  validateRecombinationParams(model, p, 'physics');
  validateDriftParams(p, 'physics');
  return Float32Array.from(PHYSICS_PARAM_NAMES, (k) => (k === 'vDrift' ? (p.vDrift ?? 0) : p[k]));
}

/**
 * Uploads physics parameters (defaults: larnd-sim, see `DEFAULT_CHAIN_PARAMS`)
 * as an f32 [15] tensor in {@link PHYSICS_PARAM_NAMES} order.
 *
 * @throws InputValueError for non-physical values (τ ≤ 0, D < 0, E ≤ 0, α ∉ (0, 1], …)
 */
export function physicsTensor(
  ctx: GpuContext,
  params: Partial<ChainParams> = {},
  options: { model?: RecombinationModel; requiresGrad?: boolean } = {},
): Tensor {
  checkOptionKeys('physicsTensor params', params, Object.keys(DEFAULT_CHAIN_PARAMS));
  checkOptionKeys('physicsTensor options', options, ['model', 'requiresGrad']);
  return tensor(ctx, physicsValues(params, options.model ?? 'box'), [PHYSICS_PARAM_COUNT], {
    requiresGrad: options.requiresGrad ?? false,
    label: 'drift.physics',
  });
}

/**
 * Reads a physics tensor back and validates it (e.g. after optimizer steps).
 *
 * @throws InputValueError naming the first non-physical parameter
 */
export async function validatePhysicsTensor(physics: Tensor, model: RecombinationModel = 'box'): Promise<ChainParams> {
  checkPhysicsTensor('validatePhysicsTensor', physics);
  return validatePhysicsValues(await physics.read(), model);
}

/**
 * @internal Validates the 15 values of a physics tensor read back (with
 * other data, so that the check costs no round trip of its own).
 *
 * @throws InputValueError naming the first non-physical parameter
 */
export function validatePhysicsValues(v: ArrayLike<number>, model: RecombinationModel = 'box'): ChainParams {
  const p = {} as ChainParams;
  PHYSICS_PARAM_NAMES.forEach((k, i) => {
    const x = v[i]!;
    if (k === 'vDrift') p.vDrift = x > 0 ? x : null;
    else p[k] = x;
  });
  if (p.vDrift === null && v[physicsIndex('vDrift')]! < 0) {
    throw new InputValueError(`physics.vDrift = ${v[physicsIndex('vDrift')]} cm/µs is non-physical; use > 0, or 0 to derive v from eField`);
  }
  validateRecombinationParams(model, p, 'physics');
  validateDriftParams(p, 'physics');
  return p;
}

/** @internal Shape/dtype check of a physics tensor. */
export function checkPhysicsTensor(op: string, physics: Tensor): void {
  if (physics.dtype !== 'f32') throw new DTypeError(`${op}: physics has dtype ${physics.dtype}; it must be f32 (use physicsTensor())`);
  if (physics.size !== PHYSICS_PARAM_COUNT || physics.rank !== 1) {
    throw new ShapeError(`${op}: physics has shape ${show(physics.shape)}; it must be [${PHYSICS_PARAM_COUNT}] in PHYSICS_PARAM_NAMES order (use physicsTensor())`);
  }
}

/**
 * Validates a segment table and uploads it packed as f32 [n, 11]
 * (`SEGMENT_COLUMNS`: positions cm, dE MeV, dx cm, t0 µs, trackId, pdgId).
 * With `requiresGrad`, backward fills `.grad` [n, 11] (positions, dE, dx, t0;
 * the id columns get 0).
 *
 * @throws InputValueError for NaN or negative dE/dx and non-finite coordinates
 */
export function segmentsTensor(ctx: GpuContext, segments: Segments, options: { requiresGrad?: boolean } = {}): Tensor {
  validateSegments(segments, 'segmentsTensor(segments)');
  return tensor(ctx, segmentsToPacked(segments, 'float32'), [segments.length, SEGMENT_STRIDE], {
    requiresGrad: options.requiresGrad ?? false,
    label: 'drift.segments',
  });
}

/** @internal Shape/dtype check of a packed segment tensor. */
export function checkSegmentsTensor(op: string, segments: Tensor): number {
  if (segments.dtype !== 'f32') throw new DTypeError(`${op}: segments has dtype ${segments.dtype}; it must be f32 (use segmentsTensor())`);
  if (segments.rank !== 2 || segments.shape[1] !== SEGMENT_STRIDE) {
    throw new ShapeError(`${op}: segments has shape ${show(segments.shape)}; it must be [n, ${SEGMENT_STRIDE}] (SEGMENT_COLUMNS; use segmentsTensor())`);
  }
  return segments.shape[0]!;
}
