/**
 * gradcheck: verifies an op's backward twice over.
 *
 * 1. The float64 CPU reference backward is compared with central differences
 *    of the float64 reference forward (the math is right).
 * 2. The GPU backward is compared with the reference backward on the same
 *    (float32-representable) inputs (the kernel implements the math).
 *
 * The scalar probed is ⟨forward(x), r⟩ for a fixed random r, so one
 * reference backward with gradOutput r checks the whole Jacobian's action.
 *
 * @module
 */
import { maxRelativeError, numericGradient, seededRandom } from './numeric.js';
import { backward } from './tape.js';
import type { GpuContext } from '../runtime/context.js';
import { tensor, type Tensor } from '../runtime/tensor.js';

/** A float64 host tensor. */
export interface HostTensor {
  shape: readonly number[];
  data: Float64Array;
}

/** The float64 reference of an op. */
export interface ReferenceOp<A> {
  forward(inputs: readonly HostTensor[], attrs: A): HostTensor;
  /** One gradient (or null for non-differentiable inputs) per input. */
  backward(inputs: readonly HostTensor[], gradOutput: HostTensor, attrs: A): (Float64Array | null)[];
}

/** What {@link gradcheck} measured. */
export interface GradcheckReport {
  /** max relative error, reference backward vs central differences */
  referenceError: number;
  /** max relative error, GPU forward vs reference forward */
  forwardError: number;
  /** max relative error, GPU backward vs reference backward */
  gpuError: number;
  passed: boolean;
}

export interface GradcheckOptions<A> {
  ctx: GpuContext;
  /** The GPU op under test. */
  gpu: (inputs: Tensor[], attrs: A) => Tensor;
  reference: ReferenceOp<A>;
  inputs: HostTensor[];
  attrs: A;
  /** Which inputs to differentiate (default: all). */
  differentiable?: boolean[];
  /** Central-difference step (default 1e-6). */
  h?: number;
  /** Tolerances: reference vs numeric (default 1e-6), GPU vs reference (default 1e-4). */
  tolerance?: { reference?: number; forward?: number; gpu?: number };
  seed?: number;
}

/** Rounds to float32 so that the GPU and the reference see identical inputs. */
export function toF32Exact(t: HostTensor): HostTensor {
  return { shape: t.shape, data: Float64Array.from(t.data, Math.fround) };
}

export async function gradcheck<A>(o: GradcheckOptions<A>): Promise<GradcheckReport> {
  const rand = seededRandom(o.seed ?? 12345);
  const inputs = o.inputs.map(toF32Exact);
  const diff = o.differentiable ?? inputs.map(() => true);
  const ref = o.reference.forward(inputs, o.attrs);
  const r: HostTensor = { shape: ref.shape, data: Float64Array.from(ref.data, () => Math.fround(rand() * 2 - 1)) };

  // 1. reference backward vs central differences of the reference forward
  const probe = (xs: Float64Array[]): number => {
    const y = o.reference.forward(
      xs.map((data, i) => ({ shape: inputs[i]!.shape, data })),
      o.attrs,
    ).data;
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i]! * r.data[i]!;
    return s;
  };
  const numeric = numericGradient(probe, inputs.map((t) => Float64Array.from(t.data)), o.h ?? 1e-6, diff);
  const analytic = o.reference.backward(inputs, r, o.attrs);
  let referenceError = 0;
  diff.forEach((d, i) => {
    if (d) referenceError = Math.max(referenceError, maxRelativeError(analytic[i] ?? new Float64Array(inputs[i]!.data.length), numeric[i]!));
  });

  // 2. GPU forward and backward vs reference
  const ctx = o.ctx;
  const { forwardError, gpuError } = await ctx.scope(async () => {
    const ts = inputs.map((t, i) => tensor(ctx, Float32Array.from(t.data), t.shape, { requiresGrad: diff[i] ?? false }));
    const y = o.gpu(ts, o.attrs);
    const gOut = tensor(ctx, Float32Array.from(r.data), r.shape);
    backward(y, gOut);
    const forwardError = maxRelativeError(await y.readF64(), ref.data);
    let gpuError = 0;
    for (let i = 0; i < ts.length; i++) {
      if (!diff[i]) continue;
      const g = ts[i]!.grad;
      const expected = analytic[i] ?? new Float64Array(inputs[i]!.data.length);
      const got = g ? await g.readF64() : new Float64Array(expected.length);
      gpuError = Math.max(gpuError, maxRelativeError(got, expected));
    }
    return { forwardError, gpuError };
  });
  const tol = { reference: 1e-6, forward: 1e-5, gpu: 1e-4, ...o.tolerance };
  return {
    referenceError,
    forwardError,
    gpuError,
    passed: referenceError <= tol.reference && forwardError <= tol.forward && gpuError <= tol.gpu,
  };
}
