/**
 * ghostgrad/reference: the float64 TypeScript references (test oracles) of
 * every kernel, for checking a GPU result or studying an algorithm on the
 * host. They are slow by design and not part of the GPU API; import them
 * from `'ghostgrad/reference'`.
 *
 * @packageDocumentation
 */
export * from './kernels/core/elementwise.reference.js';
export * from './kernels/core/loss.reference.js';
export * from './kernels/core/matmul.reference.js';
export * from './kernels/core/reduce.reference.js';
export * from './kernels/drift/chain.reference.js';
export * from './kernels/drift/drift.reference.js';
export * from './kernels/drift/electronics.reference.js';
export * from './kernels/drift/loss.reference.js';
export * from './kernels/drift/readout.reference.js';
export * from './kernels/drift/recombination.reference.js';
export * from './kernels/photon-mc/propagate.reference.js';
export * from './kernels/photon/flash.reference.js';
export * from './kernels/photon/photon-library.reference.js';
export * from './kernels/photon/siren.reference.js';
export * from './kernels/photon/visibility.reference.js';
export * from './kernels/sparse/conv.reference.js';
export * from './kernels/sparse/kernel-map.reference.js';
export * from './kernels/sparse/ops.reference.js';
export * from './kernels/photon-mc/philox.js';
