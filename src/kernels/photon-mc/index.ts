/**
 * Monte Carlo optical-photon propagation: detector description, Philox RNG,
 * emission sources, float64 reference propagator and analytic solid angles.
 * See docs/photon-mc.md.
 *
 * @module
 */

export * from './detector.js';
export * from './philox.js';
export * from './sources.js';
export * from './propagate.reference.js';
export * from './solid-angle.js';
