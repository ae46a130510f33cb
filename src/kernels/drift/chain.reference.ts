/**
 * Float64 reference of the full differentiable charge chain:
 * recombination → clipping + line quadrature → drift → pixel/tick readout
 * [→ electronics], with one backward returning gradients for every physics
 * parameter and for segment dE, dx, t0 and positions.
 *
 * This is the ground truth that the GPU kernels are tested against; it
 * favours clarity and exactness over speed.
 *
 * @module
 */

import { checkOptionKeys, InputValueError, ShapeError, show } from '../../errors.js';
import {
  DEFAULT_DRIFT_PARAMS,
  DRIFT_PARAM_NAMES,
  type DriftParams,
  validateDriftParams,
} from './drift.reference.js';
import {
  type ElectronicsParamGrads,
  type ElectronicsParams,
  type ElectronicsResult,
  electronicsBackward,
  electronicsForward,
} from './electronics.reference.js';
import { type DetectorGeometry, defaultGeometry } from './geometry.js';
import type { SparseGridValues } from './loss.reference.js';
import {
  type ReadoutOptions,
  type ReadoutStats,
  type SegmentReadoutResult,
  readoutSegmentsBackward,
  readoutSegmentsForward,
} from './readout.reference.js';
import {
  DEFAULT_RECOMBINATION_OPTIONS,
  DEFAULT_RECOMBINATION_PARAMS,
  RECOMBINATION_PARAM_NAMES,
  type RecombinationModel,
  type RecombinationParams,
  cos2PhiBackward,
  cos2PhiToAxis,
  recombinationBackward,
  recombinationForward,
  validateRecombinationParams,
} from './recombination.reference.js';
import { type Segments, validateSegments } from './segments.js';

/**
 * All physics parameters of the chain. The fit parameters of Gasiorowski et
 * al. (arXiv:2309.04639) are Ab, kb, eField, lifetime, dL, dT.
 * `eField` enters both recombination and (unless vDrift is given) the drift
 * velocity; its gradient is the sum of both paths.
 */
export interface ChainParams extends RecombinationParams, DriftParams {}

/** larnd-sim defaults (see {@link DEFAULT_RECOMBINATION_PARAMS}, {@link DEFAULT_DRIFT_PARAMS}). */
export const DEFAULT_CHAIN_PARAMS: Readonly<ChainParams> = Object.freeze({ ...DEFAULT_RECOMBINATION_PARAMS, ...DEFAULT_DRIFT_PARAMS });

/** Every differentiable chain parameter, in a fixed order (eField once). */
export const CHAIN_PARAM_NAMES = [
  ...RECOMBINATION_PARAM_NAMES,
  ...DRIFT_PARAM_NAMES.filter((n) => n !== 'eField'),
] as const;

/** Name of a differentiable chain parameter. */
export type ChainParamName = (typeof CHAIN_PARAM_NAMES)[number];

/** ∂L/∂parameter for every chain parameter (units: inverse of the parameter's). */
export type ChainParamGrads = Record<ChainParamName, number>;

/** Configuration (not differentiated). */
export interface ChainConfig {
  /** Recombination model (default 'box'). */
  model: RecombinationModel;
  geometry: DetectorGeometry;
  /** Readout options (window, quadrature). */
  readout: Partial<ReadoutOptions>;
  /** Front end, or null to output the collected charge (default null). */
  electronics: Partial<ElectronicsParams> | null;
  /** dE/dx for point deposits (dx = 0), MeV/cm (default 2.1). */
  pointDEdx_MeV_per_cm: number;
  /**
   * Segments wholly outside the active volume (GPU chain, `simulateCharge`):
   * `'warn'` (default) logs the count and the volume once per segments
   * tensor, `'error'` throws, `'drop'` is silent. When every segment is
   * outside, the chain throws whatever the setting: the result would be empty.
   */
  onOutside: 'drop' | 'warn' | 'error';
}

/** Default configuration: Box model, {@link defaultGeometry}, no electronics. */
export function defaultChainConfig(overrides: Partial<ChainConfig> = {}): ChainConfig {
  checkOptionKeys('chain config', overrides, ['model', 'geometry', 'readout', 'electronics', 'pointDEdx_MeV_per_cm', 'onOutside']);
  const onOutside = overrides.onOutside ?? 'warn';
  if (onOutside !== 'drop' && onOutside !== 'warn' && onOutside !== 'error') {
    throw new InputValueError(`chain config: onOutside = ${show(onOutside)}; use 'warn' (default), 'error' or 'drop'`);
  }
  return {
    model: 'box',
    geometry: overrides.geometry ?? defaultGeometry(),
    readout: {},
    electronics: null,
    pointDEdx_MeV_per_cm: DEFAULT_RECOMBINATION_OPTIONS.pointDEdx_MeV_per_cm,
    onOutside: 'warn',
    ...overrides,
  };
}

/** Result of {@link chainForward}. */
export interface ChainResult {
  /**
   * The chain output on the sparse lattice, sorted by (pixelX, pixelY, tick):
   * collected charge (electrons) without electronics, else the electronics
   * `value` (thresholded charge or pedestal-subtracted ADC).
   */
  output: SparseGridValues;
  /** Electrons after recombination per segment. */
  electrons: Float64Array;
  /** Recombination survival fraction per segment. */
  R: Float64Array;
  /** cos² of each segment's angle to the drift field (EMB input). */
  cos2Phi: Float64Array;
  readout: SegmentReadoutResult;
  electronics: ElectronicsResult | null;
  stats: ReadoutStats;
  segments: Segments;
  params: ChainParams;
  config: ChainConfig;
}

/** Gradients returned by {@link chainBackward}. */
export interface ChainGrads {
  params: ChainParamGrads;
  /** Per-segment gradients: positions cm⁻¹, dE MeV⁻¹, dx cm⁻¹, t0 µs⁻¹. */
  segments: {
    xStart: Float64Array;
    yStart: Float64Array;
    zStart: Float64Array;
    xEnd: Float64Array;
    yEnd: Float64Array;
    zEnd: Float64Array;
    dE: Float64Array;
    dx: Float64Array;
    t0: Float64Array;
  };
  /** Electronics parameter gradients, or null without electronics. */
  electronics: ElectronicsParamGrads | null;
}

/** Validate every parameter used by the configured chain. */
export function validateChainParams(params: ChainParams, config: ChainConfig): void {
  validateRecombinationParams(config.model, params);
  validateDriftParams(params);
}

/** Run the chain forward. */
export function chainForward(segments: Segments, params: ChainParams = DEFAULT_CHAIN_PARAMS, config: ChainConfig = defaultChainConfig()): ChainResult {
  validateSegments(segments);
  validateChainParams(params, config);
  const cos2Phi = cos2PhiToAxis(segments, config.geometry.driftAxis);
  const rec = recombinationForward(config.model, segments.dE, segments.dx, cos2Phi, params, {
    pointDEdx_MeV_per_cm: config.pointDEdx_MeV_per_cm,
  });
  const readout = readoutSegmentsForward(segments, rec.electrons, params, config.geometry, config.readout);
  let output: SparseGridValues = { ...readout.charge, value: readout.charge.charge };
  let electronics: ElectronicsResult | null = null;
  if (config.electronics) {
    electronics = electronicsForward(readout.charge, config.electronics);
    output = { length: electronics.length, pixelX: electronics.pixelX, pixelY: electronics.pixelY, tick: electronics.tick, value: electronics.value };
  }
  return {
    output,
    electrons: rec.electrons,
    R: rec.R,
    cos2Phi,
    readout,
    electronics,
    stats: readout.stats,
    segments,
    params,
    config,
  };
}

/**
 * Gradients of L = Σ_k g_k·output_k (g = `gradOutput`, e.g. from
 * {@link blurredMseLoss}) w.r.t. every parameter and segment column.
 */
export function chainBackward(result: ChainResult, gradOutput: Float64Array): ChainGrads {
  if (gradOutput.length !== result.output.length) {
    throw new ShapeError(`chainBackward: gradOutput has ${gradOutput.length} entries but the forward output has ${result.output.length}`);
  }
  const { segments, params, config } = result;
  let gCharge = gradOutput;
  let gElec: ElectronicsParamGrads | null = null;
  if (result.electronics) {
    const eb = electronicsBackward(result.electronics, gradOutput);
    gCharge = eb.charge;
    gElec = eb.params;
  }
  const rb = readoutSegmentsBackward(result.readout, gCharge);
  const recb = recombinationBackward(config.model, segments.dE, segments.dx, result.cos2Phi, params, rb.electrons, {
    pointDEdx_MeV_per_cm: config.pointDEdx_MeV_per_cm,
  });
  const pos = rb.segments;
  if (config.model === 'emb') cos2PhiBackward(segments, config.geometry.driftAxis, recb.cos2Phi, pos);
  const gp = {} as ChainParamGrads;
  for (const k of RECOMBINATION_PARAM_NAMES) gp[k] = recb.params[k];
  for (const k of DRIFT_PARAM_NAMES) {
    if (k === 'eField') gp.eField += rb.drift.eField;
    else gp[k] = rb.drift[k];
  }
  return {
    params: gp,
    segments: { ...pos, dE: recb.dE, dx: recb.dx },
    electronics: gElec,
  };
}
