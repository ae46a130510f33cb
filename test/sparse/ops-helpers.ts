// Shared data and helpers of the GPU sparse-op suites (ops, batchnorm, pool, loss).
import type { GpuContext } from '../../src/runtime/context.js';
import { tensor, type Tensor } from '../../src/runtime/tensor.js';
import type { SpatialDim } from '../../src/kernels/sparse/coords.js';
import { type KernelMap, buildStridedMap, outputStationary, transposeKernelMap } from '../../src/kernels/sparse/kernel-map.reference.js';
import { CoordinateSet, type GpuKernelMap } from '../../src/kernels/sparse/sparse-tensor.js';
import { batchEvents, randomCloud, rng, shuffleRows } from './sparse-data.js';

/**
 * Batched random sites (`events` items, the last one empty when `emptyLast`),
 * rows shuffled so that batch items interleave.
 */
export function batchedCoords(seed: number, dim: SpatialDim, events: number, extent: number, density: number, emptyLast = false): Int32Array {
  const r = rng(seed);
  const evs = Array.from({ length: events }, (_, b) =>
    emptyLast && b === events - 1 ? new Int32Array(0) : randomCloud(r, dim, extent, density, b),
  );
  const all = batchEvents(evs, dim);
  if (emptyLast) {
    // batchEvents numbers items by position; an empty last item leaves no row, so
    // add a row-less gap in the middle instead: shift items ≥ 1 up by one.
    for (let i = 0; i < all.length; i += 1 + dim) if (all[i]! >= 1) all[i] = all[i]! + 1;
  }
  return shuffleRows(r, all, 1 + dim).coords;
}

/** A float64 strided map uploaded as a GpuKernelMap (built on the CPU, so these tests do not depend on the GPU map builder). */
export interface HostGpuMap {
  readonly map: KernelMap;
  readonly gpu: GpuKernelMap;
  readonly outCoords: Int32Array;
  dispose(): void;
}

export function hostStridedMap(ctx: GpuContext, coords: Int32Array, dim: SpatialDim, kernel = 2, stride = 2): HostGpuMap {
  const { map, outCoords } = buildStridedMap(coords, dim, kernel, stride);
  const v = map.kernelVolume;
  const os = tensor(ctx, outputStationary(map), [map.numOut, v], { dtype: 'i32' });
  const is = tensor(ctx, outputStationary(transposeKernelMap(map)), [map.numIn, v], { dtype: 'i32' });
  const gpu: GpuKernelMap = {
    kernelVolume: v,
    numIn: map.numIn,
    numOut: map.numOut,
    outputStationary: os,
    inputStationary: is,
    countPairs: async () => map.inRow.length,
  };
  return {
    map,
    gpu,
    outCoords,
    dispose: () => {
      os.dispose();
      is.dispose();
    },
  };
}

/** The bits of an f32 tensor, for bitwise determinism checks. */
export async function bits(t: Tensor): Promise<Uint32Array> {
  const d = await t.read();
  return new Uint32Array(Float32Array.from(d as Float32Array).buffer);
}

export function coordSet(ctx: GpuContext, dim: SpatialDim, coords: Int32Array): CoordinateSet {
  return new CoordinateSet(ctx, dim, coords);
}
