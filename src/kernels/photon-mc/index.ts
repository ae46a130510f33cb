/**
 * Monte Carlo optical-photon propagation: detector description, Philox RNG,
 * emission sources, float64 reference propagator, analytic solid angles, the
 * WGSL propagation kernel (`propagateGpu`, `tracePhotonsGpu`), visibility
 * maps in photon-library layout (`generateVisibilityMap`) and their file
 * format. See docs/photon-mc.md.
 *
 * @module
 */

export * from './detector.js';
export * from './sources.js';
export { DEFAULT_MAX_STEPS, LANE_EMISSION, LANE_SURFACE, LANE_TRANSPORT, MAX_PHOTONS_PER_SOURCE, PhotonFate } from './propagate.reference.js';
export type { PhotonRange, PhotonTrace, PropagationOptions, PropagationResult, TimeHistogram, TimeHistogramSpec, Vec3Out } from './propagate.reference.js';
export * from './solid-angle.js';
export * from './propagate.js';
export * from './visibility-map.js';
