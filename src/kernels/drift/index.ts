/**
 * The "drift" family: differentiable LArTPC charge simulation. Float64 CPU
 * reference (segments → recombination → drift → pixel readout → electronics,
 * blurred-MSE loss) and the WGSL GPU kernels with tape ops tested against it.
 * See docs/drift.md.
 *
 * @module
 */

export * from './constants.js';
export * from './special.js';
export * from './segments.js';
export * from './geometry.js';
export { cos2PhiToAxis, DEFAULT_RECOMBINATION_OPTIONS, DEFAULT_RECOMBINATION_PARAMS, RECOMBINATION_PARAM_NAMES, recombinationFactor, validateRecombinationParams } from './recombination.reference.js';
export type { RecombinationGrads, RecombinationModel, RecombinationOptions, RecombinationParamGrads, RecombinationParams, RecombinationResult } from './recombination.reference.js';
export { DEFAULT_DRIFT_PARAMS, DRIFT_PARAM_NAMES, driftVelocity, electronMobility, resolveDriftVelocity, validateDriftParams } from './drift.reference.js';
export type { DriftGrads, DriftParamGrads, DriftParams, DriftResult, DriftUpstream } from './drift.reference.js';
export { cellKey, DEFAULT_READOUT_OPTIONS, resolveReadoutOptions } from './readout.reference.js';
export type { PointReadoutResult, ReadoutOptions, ReadoutPoints, ReadoutStats, SegmentPositionGrads, SegmentReadoutGrads, SegmentReadoutResult, SegmentReadoutTape, SparsePixelCharge } from './readout.reference.js';
export { DEFAULT_ELECTRONICS_PARAMS, validateElectronicsParams } from './electronics.reference.js';
export type { ElectronicsParamGrads, ElectronicsParams, ElectronicsResult } from './electronics.reference.js';
export { DEFAULT_BLUR_OPTIONS } from './loss.reference.js';
export type { BlurOptions, SparseGridValues } from './loss.reference.js';
export { CHAIN_PARAM_NAMES, DEFAULT_CHAIN_PARAMS, defaultChainConfig, validateChainParams } from './chain.reference.js';
export type { ChainConfig, ChainGrads, ChainParamGrads, ChainParamName, ChainParams, ChainResult } from './chain.reference.js';

// GPU
export { PHYSICS_PARAM_NAMES, PHYSICS_PARAM_COUNT, physicsIndex, physicsValues, physicsTensor, validatePhysicsTensor, segmentsTensor } from './tensors.js';
export { recombination } from './recombination.js';
export type { GpuRecombinationOptions } from './recombination.js';
export { driftPoints, POINT_COLUMNS, DRIFTED_COLUMNS } from './drift.js';
export { planQuadrature, samplePoints, planReadout, pixelReadout, readoutStats } from './readout.js';
export type { QuadraturePlan, ReadoutPlan, CellBounds } from './readout.js';
export { electronics } from './electronics.js';
export type { ElectronicsOutput } from './electronics.js';
export { blurredMse, sparseImageFromHost, DEFAULT_MAX_BOX_CELLS } from './loss.js';
export type { SparseImage, GpuBlurOptions } from './loss.js';
export { simulateCharge, scaledPhysics } from './chain.js';
export type { SimulatedCharge, ScaledPhysics } from './chain.js';
export * from './hdf5.js';
export * from './larnd-geometry.js';
