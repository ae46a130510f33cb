/**
 * GPU sparse tensors: a coordinate set shared by every tensor on the same
 * sites, plus an N×C feature tensor that flows through the tape.
 *
 * Coordinates are not differentiable. Every sparse op is a tape op on the
 * feature tensors, with the coordinate set and its kernel maps as attributes,
 * so that autodiff, scopes and leak accounting work exactly as for dense ops.
 *
 * Conventions (see docs/sparse.md): coords are Int32 [N, 1 + D] with columns
 * (batch, x, y[, z]), validated by `validateCoords`; features are f32 [N, C],
 * and row r of the features belongs to row r of the coords.
 *
 * @module
 */
import { checkOptionKeys, describeValue, DisposedError, DTypeError, InputValueError, ShapeError, show } from '../../errors.js';
import type { GpuContext } from '../../runtime/context.js';
import { tensor, type Tensor } from '../../runtime/tensor.js';
import { checkDType } from '../checks.js';
import { coordColumns, validateCoords, type SpatialDim } from './coords.js';

let nextSetId = 1;

/**
 * A GPU kernel map between an input and an output coordinate set, for a
 * kernel of V offsets (offset order as in docs/sparse.md).
 *
 * Both tables are i32 and hold -1 where there is no neighbour:
 * - `outputStationary`, shape (numOut, V): the input row that output row o reads
 *   through offset k. Forward conv and pooling gather with it.
 * - `inputStationary`, shape (numIn, V): the output row that input row i feeds
 *   through offset k. dX gathers with it (for submanifold maps it equals
 *   `outputStationary` with mirrored offsets).
 */
export interface GpuKernelMap {
  readonly kernelVolume: number;
  readonly numIn: number;
  readonly numOut: number;
  readonly outputStationary: Tensor;
  readonly inputStationary: Tensor;
  /**
   * Number of (input, output) pairs, i.e. real neighbour pairs (for FLOP
   * counts). Counting needs a GPU readback, hence async (and cached).
   */
  countPairs(): Promise<number>;
}

/**
 * A set of active sites on the GPU (and on the host, for validation and
 * bookkeeping), with a cache of kernel maps and derived coordinate sets.
 * Shared by every sparse tensor on the same sites; owns its GPU memory.
 */
export class CoordinateSet {
  readonly id = nextSetId++;
  /** Host copy, Int32 [n, 1 + dim]; never mutated. */
  readonly host: Int32Array;
  /** GPU copy, i32 [n, 1 + dim]. */
  readonly gpu: Tensor;
  readonly n: number;
  /**
   * Tensor stride: 1 for input resolution, 2 after one stride-2 downsampling,
   * and so on (bookkeeping for U-Nets; coordinates themselves are in the
   * coarse grid's units).
   */
  readonly stride: number;
  /** Cached kernel maps and derived coordinate sets, keyed by their parameters. */
  readonly cache = new Map<string, { dispose(): void }>();
  private disposedFlag = false;

  constructor(
    readonly ctx: GpuContext,
    readonly dim: SpatialDim,
    coords: Int32Array,
    options: { stride?: number; validate?: boolean; argName?: string } = {},
  ) {
    if (options.validate !== false) validateCoords(coords, dim, options.argName ?? 'coords');
    this.host = coords.slice();
    this.n = coords.length / coordColumns(dim);
    this.stride = options.stride ?? 1;
    this.gpu = tensor(ctx, this.host, [this.n, coordColumns(dim)], { dtype: 'i32', label: `coords#${this.id}` }).keep();
  }

  get disposed(): boolean {
    return this.disposedFlag;
  }

  /** Throws DisposedError after dispose(). */
  check(): void {
    if (this.disposedFlag) throw new DisposedError(`coordinate set #${this.id} was used after dispose(); keep it alive while tensors use it`);
  }

  /** A cached entry, created by `make` on first use. */
  cached<T extends { dispose(): void }>(key: string, make: () => T): T {
    this.check();
    let v = this.cache.get(key) as T | undefined;
    if (!v) {
      v = make();
      this.cache.set(key, v);
    }
    return v;
  }

  /** Frees the GPU coordinates and every cached map. */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    for (const v of this.cache.values()) v.dispose();
    this.cache.clear();
    this.gpu.dispose();
  }
}

/** A sparse tensor: a coordinate set and f32 features [n, C]. */
export class SparseTensor {
  constructor(
    readonly coords: CoordinateSet,
    readonly feats: Tensor,
  ) {
    checkDType('SparseTensor', 'feats', feats);
    if (feats.ctx !== coords.gpu.ctx) {
      throw new InputValueError('SparseTensor: feats live on another GpuContext than the coordinate set; make both on one context');
    }
    if (feats.shape.length !== 2 || feats.shape[0] !== coords.n) {
      throw new ShapeError(
        `SparseTensor: feats has shape ${show(feats.shape)} but the coordinate set has ${coords.n} sites; feats must be [${coords.n}, C]`,
      );
    }
  }

  get ctx(): GpuContext {
    return this.feats.ctx;
  }
  get n(): number {
    return this.coords.n;
  }
  get channels(): number {
    return this.feats.shape[1]!;
  }
  get dim(): SpatialDim {
    return this.coords.dim;
  }

  /** The same sites with other features (the output of a site-preserving op). */
  withFeats(feats: Tensor): SparseTensor {
    return new SparseTensor(this.coords, feats);
  }

  /**
   * Frees the features. The coordinate set is shared by every tensor on the
   * same sites (the outputs of submanifold convs, activations, BatchNorm…),
   * so it stays unless `coordinates: true`, which also frees it and the
   * kernel maps cached on it: use that on the last tensor of a set.
   */
  dispose(options: { coordinates?: boolean } = {}): void {
    checkOptionKeys('SparseTensor.dispose options', options, ['coordinates']);
    this.feats.dispose();
    if (options.coordinates) this.coords.dispose();
  }
}

/**
 * Creates a sparse tensor from host coordinates and features. Coordinates are
 * validated (duplicates, negatives, out-of-range values and wrong column
 * counts are typed errors naming the row) and copied; use `deduplicate` first
 * when duplicates are expected.
 *
 * @param coords Int32 [N, 1 + dim], columns (batch, x, y[, z])
 * @param feats  f32 [N, C] (a host array, or a GPU tensor to adopt)
 */
export function sparseTensor(
  ctx: GpuContext,
  coords: Int32Array,
  feats: Float32Array | Float64Array | Tensor,
  options?: { dim?: SpatialDim; channels?: number; requiresGrad?: boolean; checkFinite?: boolean },
): SparseTensor;
/**
 * A sparse tensor on an existing coordinate set (the sites of another
 * tensor, `x.coords`), so that tensors share the set and its kernel maps.
 * The set is not copied and stays owned by its creator.
 */
export function sparseTensor(
  coords: CoordinateSet,
  feats: Float32Array | Float64Array | Tensor,
  options?: { channels?: number; requiresGrad?: boolean; checkFinite?: boolean },
): SparseTensor;
export function sparseTensor(
  ctxOrSet: GpuContext | CoordinateSet,
  coordsOrFeats: Int32Array | Float32Array | Float64Array | Tensor,
  featsOrOptions?: Float32Array | Float64Array | Tensor | { channels?: number; requiresGrad?: boolean; checkFinite?: boolean },
  maybeOptions: { dim?: SpatialDim; channels?: number; requiresGrad?: boolean; checkFinite?: boolean } = {},
): SparseTensor {
  const onSet = ctxOrSet instanceof CoordinateSet;
  const options = (onSet ? featsOrOptions ?? {} : maybeOptions) as { dim?: SpatialDim; channels?: number; requiresGrad?: boolean; checkFinite?: boolean };
  checkOptionKeys('sparseTensor options', options, onSet ? ['channels', 'requiresGrad', 'checkFinite'] : ['dim', 'channels', 'requiresGrad', 'checkFinite']);
  if (onSet) ctxOrSet.check();
  const ctx = onSet ? ctxOrSet.gpu.ctx : ctxOrSet;
  const feats = (onSet ? coordsOrFeats : featsOrOptions) as Float32Array | Float64Array | Tensor;
  if (!onSet && !(coordsOrFeats instanceof Int32Array)) {
    throw new DTypeError(`sparseTensor: coords must be an Int32Array [N, 1 + dim] (or pass a CoordinateSet first); got ${describeValue(coordsOrFeats)}`);
  }
  const dim = options.dim ?? 3;
  const set = onSet ? ctxOrSet : new CoordinateSet(ctx, dim, coordsOrFeats as Int32Array);
  let f: Tensor | null = null;
  try {
    if (feats instanceof Float32Array || feats instanceof Float64Array) {
      const channels = options.channels ?? (set.n > 0 ? feats.length / set.n : 0);
      if (!Number.isInteger(channels) || feats.length !== set.n * channels) {
        throw new ShapeError(
          `sparseTensor: feats has ${feats.length} values for ${set.n} sites; pass N × C values (and options.channels when N = 0)`,
        );
      }
      if (options.checkFinite ?? true) {
        for (let i = 0; i < feats.length; i++) {
          if (!Number.isFinite(feats[i]!) || Math.abs(feats[i]!) > MAX_F32) {
            throw new InputValueError(
              `sparseTensor: feats[${i}] (site ${Math.floor(i / channels)}, channel ${i % channels}) = ${show(feats[i])}; features must be finite float32 values ` +
                '(checked on the host, one pass over the array; options.checkFinite: false skips it)',
            );
          }
        }
      }
      f = tensor(ctx, Float32Array.from(feats), [set.n, channels], { requiresGrad: options.requiresGrad ?? false });
      return new SparseTensor(set, f);
    }
    return new SparseTensor(set, feats);
  } catch (e) {
    // A refused call frees what it made: the coordinate set (unless it was
    // given) and the uploaded features.
    f?.dispose();
    if (!onSet) set.dispose();
    throw e;
  }
}

/** The largest finite float32. */
const MAX_F32 = 3.4028234663852886e38;
