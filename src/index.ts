/// <reference types="@webgpu/types" preserve="true" />
// The declarations name WebGPU's types (GPUDevice, GPUBuffer, …); the
// directive above makes a consumer's compiler load them from the dependency
// @webgpu/types, so a strict project needs no `types` entry of its own.
/**
 * ghostgrad: differentiable WebGPU kernels for neutrino-detector ML and
 * simulation, tied together by a small tape autodiff.
 *
 * @packageDocumentation
 */
export {
  AutodiffError,
  BindingError,
  DeviceLimitError,
  DeviceLostError,
  DisposedError,
  DTypeError,
  GhostgradError,
  GpuValidationError,
  InputValueError,
  NoAdapterError,
  NonFiniteError,
  ShaderCompileError,
  ShapeError,
} from './errors.js';
export { createGpu, GpuContext, OPTIONAL_FEATURES } from './runtime/context.js';
export type { AdapterSummary, Binding, ContextStats, GpuOptions, OptionalFeature, TensorWindow, Workgroups } from './runtime/context.js';
export type { PoolPolicy, PoolStats } from './runtime/pool.js';
export { Tensor, tensor, zeros, empty } from './runtime/tensor.js';
export type { TensorOptions } from './runtime/tensor.js';
export type { DType, HostArray } from './runtime/dtype.js';
export type { KernelSpec, OverrideConstants, UniformValues } from './runtime/kernel.js';
export type { KernelTiming, Profiler } from './runtime/profiler.js';
export type { BindingInfo, CompiledKernel, KernelLayout, ScalarType, UniformField } from './runtime/kernel.js';
export type { ReadArray } from './runtime/dtype.js';
export type { Tape } from './autodiff/tape.js';
export type { WgslName } from './wgsl/index.js';
export type { DedupResult, QuantizeOptions } from './kernels/sparse/coords.js';
export type { OffsetOrder, SpconvLayout, SpconvOptions } from './kernels/sparse/layout.js';
export { backward, defineOp, gradientRules, noGrad, isGradEnabled, tapeOf } from './autodiff/tape.js';
export type { Op, OpDefinition, SaveContext, Vjp, VjpArgs } from './autodiff/tape.js';
export { gradcheck } from './autodiff/gradcheck.js';
export type { GradcheckOptions, GradcheckReport, HostTensor, ReferenceOp } from './autodiff/gradcheck.js';
export { numericGradient, maxRelativeError, seededRandom } from './autodiff/numeric.js';
export { SGD, Adam } from './autodiff/optimizers.js';
export type { SgdOptions, AdamOptions } from './autodiff/optimizers.js';
export { add, sub, mul, scale, relu, leakyRelu, sin, exp, log, sigmoid } from './kernels/core/elementwise.js';
export { matmul } from './kernels/core/matmul.js';
export { sum, mean } from './kernels/core/reduce.js';
export { mseLoss } from './kernels/core/loss.js';
export { wgsl } from './wgsl/index.js';
export * from './events/index.js';
export * from './kernels/sparse/index.js';
export * from './kernels/photon-mc/index.js';
export * from './kernels/photon/index.js';
export * from './kernels/drift/index.js';
// Both families name their axis type `Axis`; the top level keeps photon-mc's and renames drift's.
export type { Axis } from './kernels/photon-mc/index.js';
export type { Axis as DriftAxis } from './kernels/drift/index.js';
export * from './models/index.js';
