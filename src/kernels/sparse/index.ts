// Public API of the sparse-convolution family. Helpers append their own
// export lines; never rewrite lines that others added.
export { CoordinateSet, SparseTensor, sparseTensor, type GpuKernelMap } from './sparse-tensor.js';
export {
  GpuHashTable,
  KernelMapGpu,
  coordHashTable,
  countPairs,
  hashKeysGpu,
  lookupSites,
  stridedCoordinateSet,
  stridedMap,
  submanifoldMap,
  transposedMap,
  type StridedMapGpuOptions,
} from './kernel-map.js';
export {
  sparseConv,
  sparseConvFeatures,
  sparseConvTranspose,
  submanifoldConv,
  submanifoldConv2d,
  submanifoldConv3d,
  type SparseConvOptions,
  type SparseConvTransposeOptions,
  type SubmanifoldConvOptions,
} from './conv.js';
// GPU sparse ops (BatchNorm, activations, add, concat, pooling, linear, cross-entropy).
export {
  SparseBatchNorm,
  sparseBatchNorm,
  BATCH_NORM_EPS,
  BATCH_NORM_MOMENTUM,
  type SparseBatchNormOptions,
  type SparseBatchNormResult,
  type SparseBatchNormModuleOptions,
} from './batchnorm.js';
export { sparseRelu, sparseLeakyRelu, sparseAdd, sparseConcat, sparseLinear } from './ops.js';
export {
  sparseMaxPool,
  sparseAvgPool,
  sparseMaxPoolWithMap,
  sparseAvgPoolWithMap,
  sparseGlobalAvgPool,
  type SparseAvgPoolDivisor,
} from './pool.js';
export { sparseCrossEntropy, CROSS_ENTROPY_IGNORE_INDEX, type SparseCrossEntropyOptions } from './loss.js';
// Coordinate utilities and weight-layout converters (CPU).
export {
  MAX_BATCH_INDEX,
  MAX_SPATIAL_COORD,
  deduplicate,
  quantize,
  validateCoords,
  boundingBox,
  type SpatialDim,
  type DedupMode,
} from './coords.js';
export { fromMinkowski, fromSparseConvNet, fromSpconv, toMinkowski, toSparseConvNet, toSpconv } from './layout.js';
// Sparse convolution algorithm selection (implicit GEMM, per-offset pairs or
// output tiles) and the implicit GEMM's tiles and their tuning.
export {
  getSparseConvAlgorithm,
  getSparseConvAlgorithmOptions,
  setSparseConvAlgorithm,
  type SparseConvAlgorithm,
  type SparseConvAlgorithmOptions,
} from './conv.js';
export type { IgemmPass, IgemmTiles } from './igemm.js';
export { setSparseConvTuning, sparseConvTuning, tuneSparseConv, type SparseConvTuningEntry, type TuneSparseConvOptions } from './tune.js';
