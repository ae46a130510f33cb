/**
 * Adapters between the float64 drift reference and the GPU tensors, for the
 * GPU tests of the drift family (not a test file itself).
 */
import type { HostTensor, ReferenceOp } from '../../src/autodiff/gradcheck.js';
import type { GpuContext } from '../../src/runtime/context.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import {
  type ChainParamName,
  type ChainParams,
  DEFAULT_CHAIN_PARAMS,
  SEGMENT_STRIDE,
  type Segments,
  allocateSegments,
} from '../../src/kernels/drift/index.js';

/** Float64 segments from a packed [n, 11] host tensor (no validation: probes may be anywhere). */
export function unpackSegments(data: Float64Array): Segments {
  const n = data.length / SEGMENT_STRIDE;
  const s = allocateSegments(n);
  for (let i = 0; i < n; i++) {
    const o = i * SEGMENT_STRIDE;
    s.xStart[i] = data[o]!;
    s.yStart[i] = data[o + 1]!;
    s.zStart[i] = data[o + 2]!;
    s.xEnd[i] = data[o + 3]!;
    s.yEnd[i] = data[o + 4]!;
    s.zEnd[i] = data[o + 5]!;
    s.dE[i] = data[o + 6]!;
    s.dx[i] = data[o + 7]!;
    s.t0[i] = data[o + 8]!;
  }
  return s;
}

/** Packs per-column segment gradients into a [n, 11] array (missing columns 0). */
export function packSegmentGrads(n: number, cols: Partial<Record<'xStart' | 'yStart' | 'zStart' | 'xEnd' | 'yEnd' | 'zEnd' | 'dE' | 'dx' | 't0', Float64Array>>): Float64Array {
  const out = new Float64Array(n * SEGMENT_STRIDE);
  const order = ['xStart', 'yStart', 'zStart', 'xEnd', 'yEnd', 'zEnd', 'dE', 'dx', 't0'] as const;
  order.forEach((k, c) => {
    const col = cols[k];
    if (!col) return;
    for (let i = 0; i < n; i++) out[i * SEGMENT_STRIDE + c] = col[i]!;
  });
  return out;
}

/** Physics parameters nominal ⊙ θ (the reference side of scaledPhysics). */
export function scaledParams(nominal: ChainParams, names: readonly ChainParamName[], theta: ArrayLike<number>): ChainParams {
  const p: ChainParams = { ...nominal };
  names.forEach((k, j) => {
    if (k === 'vDrift') p.vDrift = (nominal.vDrift ?? 0) * theta[j]!;
    else p[k] = nominal[k] * theta[j]!;
  });
  return p;
}

/** ∂L/∂θ from ∂L/∂parameter. */
export function thetaGrad(nominal: ChainParams, names: readonly ChainParamName[], g: Partial<Record<ChainParamName, number>>): Float64Array {
  return Float64Array.from(names, (k) => (g[k] ?? 0) * (k === 'vDrift' ? (nominal.vDrift ?? 0) : nominal[k]));
}

/** A host tensor. */
export function host(data: ArrayLike<number>, shape?: readonly number[]): HostTensor {
  return { shape: shape ?? [data.length], data: Float64Array.from(data) };
}

export type { ReferenceOp };

/** Bits of an f32 tensor, for bitwise determinism checks. */
export async function bits(t: Tensor): Promise<Uint32Array> {
  const a = await t.read();
  return new Uint32Array(new Float32Array(a as Float32Array).buffer);
}

/** Everything in `names` equal to nominal → θ = 1. */
export function ones(n: number): Float64Array {
  return new Float64Array(n).fill(1);
}

export const NOMINAL: ChainParams = { ...DEFAULT_CHAIN_PARAMS };

/** Live bytes after a flush (for leak checks). */
export async function liveBytes(ctx: GpuContext): Promise<number> {
  await ctx.sync();
  return ctx.stats().liveBytes;
}
