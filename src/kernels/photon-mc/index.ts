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
export * from './philox.js';
export * from './sources.js';
export * from './propagate.reference.js';
export * from './solid-angle.js';
export * from './propagate.js';
export * from './visibility-map.js';
