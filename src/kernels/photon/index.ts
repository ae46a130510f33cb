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
export { initSirenParams, SIREN_DEFAULT_OMEGA, SIREN_PRESET_2X2, SIREN_PRESET_ICARUS, sirenConfig, sirenInitBounds, sirenLayerShapes, sirenParameterCount, validateSirenConfig, validateSirenParams } from './siren.reference.js';
export type { SirenBiasInit, SirenConfig, SirenForwardResult, SirenGrads, SirenInitBounds, SirenInputGradientResult, SirenLayerShape, SirenOutputActivation, SirenParams } from './siren.reference.js';
export { logGamma, VIS_LOG_EPSILON } from './visibility.reference.js';
export type { DetectorBox, LossReduction, LossWithGradient, OutsidePolicy, PoissonNllOptions, VisibilityBias, VisibilityTransformOptions, VisibilityWeightOptions } from './visibility.reference.js';
export { createPhotonLibrary, photonLibraryLength, photonLibraryOffset, validatePhotonLibraryMeta, voxelCenter, voxelSize } from './photon-library.reference.js';
export type { PhotonLibrary, PhotonLibraryMeta } from './photon-library.reference.js';
export { LAR_SCINTILLATION_YIELD_PER_MEV, photonsFromEnergy, requireMatchingPhotodetectors, sirenVisibilityModel, tableVisibilityModel } from './flash.reference.js';
export type { FlashGrads, FlashMatchResult, SirenVisibilityOptions, VisibilityModel } from './flash.reference.js';
export type { Box3 } from './checks.js';
// GPU ops
export * from './siren.js';
export * from './visibility.js';
export * from './photon-library.js';
export * from './flash.js';
export * from './train.js';
