/**
 * Photon-transport family: the SIREN visibility surrogate with fused WGSL
 * kernels (forward, backward, input Jacobian), visibility transforms and
 * losses, the voxel photon library with trilinear lookup split across
 * storage bindings, the flash hypothesis for flash matching, and SIREN
 * training — each GPU op a tape op with a float64 reference, which is
 * re-exported here too. Lengths are in cm. See docs/photon.md §7.
 *
 * @module
 */
// float64 references (ground truth for the GPU kernels)
export * from './siren.reference.js';
export * from './visibility.reference.js';
export * from './photon-library.reference.js';
export * from './flash.reference.js';
export type { Box3 } from './checks.js';
// GPU ops
export * from './siren.js';
export * from './visibility.js';
export * from './photon-library.js';
export * from './flash.js';
export * from './train.js';
