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
export * from './recombination.reference.js';
export * from './drift.reference.js';
export * from './readout.reference.js';
export * from './electronics.reference.js';
export * from './loss.reference.js';
export * from './chain.reference.js';

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
