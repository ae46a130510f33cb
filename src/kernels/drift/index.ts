/**
 * Float64 CPU reference of the differentiable LArTPC charge simulation
 * ("drift" family): segments → recombination → drift → pixel readout →
 * electronics, plus a blurred-MSE loss. GPU kernels are tested against it.
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
