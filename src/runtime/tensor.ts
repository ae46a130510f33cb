/**
 * GPU tensors: a pooled storage buffer with a shape and a dtype.
 *
 * @module
 */
import { describeValue, DisposedError, DTypeError, InputValueError, ShapeError, show } from '../errors.js';
import type { GpuContext, TensorWindow } from './context.js';
import { assertDType, bytesPerElement, decodeHost, encodeHost, inferDType, type DType, type HostArray, type ReadArray } from './dtype.js';

let nextId = 1;

/** Options for creating a tensor. */
export interface TensorOptions {
  dtype?: DType;
  /** Leaf tensors with `requiresGrad` receive `.grad` from `backward()`. */
  requiresGrad?: boolean;
  /** Label shown in errors and GPU debuggers. */
  label?: string;
}

/**
 * @internal One GPU buffer shared by several tensors (views), e.g. an
 * optimizer's parameter arena. A backing tensor owns the buffer; it is
 * disposed when the last holder lets go.
 */
export class SharedStorage {
  private refs = 1;

  constructor(readonly backing: Tensor) {}

  get ctx(): GpuContext {
    return this.backing.ctx;
  }

  get buffer(): GPUBuffer {
    return this.backing.buffer;
  }

  retain(): void {
    this.refs++;
  }

  release(): void {
    if (--this.refs === 0) this.backing.dispose();
  }
}

/** @internal What the tape knows about the op that produced a tensor. */
export interface ProducerRef {
  readonly id: number;
}

/**
 * A dense, row-major GPU tensor. Create one with {@link tensor}, {@link zeros}
 * or {@link empty}; free it with `dispose()` (or let a `ctx.scope()` do it).
 */
export class Tensor<D extends DType = DType> {
  /** Brand checked by bindings (avoids instanceof across bundle copies). */
  readonly isTensor = true;
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly size: number;
  readonly byteLength: number;
  /** Whether gradients flow to (leaf) or through (result) this tensor. */
  requiresGrad: boolean;
  /** Accumulated gradient of a leaf after `backward()`; owned by this tensor. */
  grad: Tensor | null = null;
  /** Survives the enclosing `scope()`. Set with `keep()`. */
  kept = false;
  /** @internal Set on tensors that kernels may only read. */
  readonlyView = false;
  /** @internal Tape node that produced this tensor, if recorded. */
  producer: ProducerRef | null = null;
  readonly label: string;
  private buf: GPUBuffer | null;
  /** Set when the tensor is a view into shared storage instead of owning its buffer. */
  private shared: SharedStorage | null = null;
  private offsetBytes = 0;

  /** @internal Use tensor()/zeros()/empty(). */
  constructor(
    readonly ctx: GpuContext,
    shape: readonly number[],
    readonly dtype: D,
    options: { requiresGrad?: boolean; label?: string } = {},
  ) {
    this.shape = Object.freeze([...shape]);
    this.size = shape.reduce((a, b) => a * b, 1);
    this.byteLength = this.size * bytesPerElement(dtype);
    this.label = options.label ?? `tensor#${this.id}`;
    this.requiresGrad = options.requiresGrad ?? false;
    this.buf = ctx.allocate(this.byteLength, this.label);
    ctx.scopeStack[ctx.scopeStack.length - 1]?.add(this);
  }

  /**
   * The GPU buffer holding the data, from {@link byteOffset} on. It may be
   * larger than `byteLength` (pooled size class), and shared with other
   * tensors: an optimizer moves its parameters into one buffer.
   */
  get buffer(): GPUBuffer {
    if (!this.buf) throw new DisposedError(`${this.label} (shape ${show(this.shape)}) was used after dispose(); keep it alive or recompute it`);
    return this.buf;
  }

  /**
   * Byte offset of the data in {@link buffer}: 0 unless the tensor lives in
   * shared storage (an optimizer's parameter arena); a multiple of the
   * device's minStorageBufferOffsetAlignment.
   */
  get byteOffset(): number {
    return this.offsetBytes;
  }

  /** @internal True when the tensor owns its whole buffer (bindings may then cover the buffer's size class). */
  get ownsBuffer(): boolean {
    return this.shared === null;
  }

  /** @internal The shared storage this tensor is a view of, or null. */
  get storage(): SharedStorage | null {
    return this.shared;
  }

  get disposed(): boolean {
    return this.buf === null;
  }

  /**
   * @internal Moves the data into `storage` at `byteOffset` (a copy in
   * command order) and makes this tensor a view of it; its own buffer goes
   * back to the pool. The tensor's identity, shape and values are unchanged.
   */
  rehome(storage: SharedStorage, byteOffset: number): void {
    const src = this.buffer;
    if (storage.ctx !== this.ctx) throw new InputValueError(`${this.label}: cannot move into storage of another GPU context`);
    const bytes = Math.ceil(this.byteLength / 4) * 4;
    if (bytes > 0) this.ctx.commandEncoder().copyBufferToBuffer(src, this.offsetBytes, storage.buffer, byteOffset, bytes);
    storage.retain();
    this.releaseStorage();
    this.buf = storage.buffer;
    this.shared = storage;
    this.offsetBytes = byteOffset;
  }

  private releaseStorage(): void {
    if (this.shared) this.shared.release();
    else if (this.buf) this.ctx.release(this.buf);
    this.shared = null;
    this.offsetBytes = 0;
  }

  /** Number of dimensions. */
  get rank(): number {
    return this.shape.length;
  }

  /** Returns its buffer to the pool (and disposes `.grad`). Idempotent. */
  dispose(): void {
    if (!this.buf) return;
    this.releaseStorage();
    this.buf = null;
    this.grad?.dispose();
    this.grad = null;
  }

  /** Marks the tensor to survive the enclosing `scope()`. */
  keep(): this {
    this.kept = true;
    return this;
  }

  /**
   * Copies the data to the host. Submits pending GPU work first. The array
   * type follows the dtype: `Tensor<'f32'>` reads a Float32Array, and a
   * tensor whose dtype the type system does not know reads the union.
   */
  async read(): Promise<ReadArray[D]> {
    const bytes = await this.ctx.readBuffer(this.buffer, this.offsetBytes, this.byteLength);
    return decodeHost(bytes, this.size, this.dtype) as ReadArray[D];
  }

  /** Reads as float64, for comparisons with CPU references. */
  async readF64(): Promise<Float64Array> {
    return Float64Array.from(await this.read());
  }

  /** Overwrites the contents from host data of the same length. */
  write(data: HostArray): void {
    if (data.length !== this.size) {
      throw new ShapeError(`${this.label}.write: data has ${data.length} elements, tensor has ${this.size} (shape ${show(this.shape)})`);
    }
    this.ctx.upload(this.buffer, this.offsetBytes, encodeHost(data, this.dtype, `${this.label}.write data`), false);
  }

  /** A window of elements [offset, offset + length), for chunked dispatches. */
  window(offset: number, length: number): TensorWindow {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new ShapeError(`${this.label}.window(${offset}, ${length}) is outside its ${this.size} elements`);
    }
    return { tensor: this, offset, length };
  }

  toString(): string {
    return `Tensor(${this.label}, ${this.dtype}, [${this.shape.join(', ')}])`;
  }
}

/** Validates a shape: non-negative integers. */
export function checkShape(shape: readonly number[], arg: string): void {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ShapeError(`${arg}: shape ${show(shape)} must be an array of non-negative integers`);
  }
}

/**
 * Uploads host data as a new tensor. The input array is copied, never
 * modified. `dtype` defaults to the array's type (f32 for plain numbers),
 * and the result's type carries it: `tensor(ctx, Int32Array.of(1))` is a
 * `Tensor<'i32'>` whose `read()` gives an Int32Array.
 */
export function tensor<D extends DType>(ctx: GpuContext, data: HostArray, shape: readonly number[] | undefined, options: TensorOptions & { dtype: D }): Tensor<D>;
export function tensor(ctx: GpuContext, data: Int32Array, shape?: readonly number[], options?: Omit<TensorOptions, 'dtype'> & { dtype?: never }): Tensor<'i32'>;
export function tensor(ctx: GpuContext, data: Uint32Array, shape?: readonly number[], options?: Omit<TensorOptions, 'dtype'> & { dtype?: never }): Tensor<'u32'>;
export function tensor(ctx: GpuContext, data: Float32Array | Float64Array | readonly number[], shape?: readonly number[], options?: Omit<TensorOptions, 'dtype'> & { dtype?: never }): Tensor<'f32'>;
export function tensor(ctx: GpuContext, data: HostArray, shape?: readonly number[], options?: TensorOptions): Tensor;
export function tensor(ctx: GpuContext, data: HostArray, shape?: readonly number[], options: TensorOptions = {}): Tensor {
  if (!(data instanceof Float32Array || data instanceof Int32Array || data instanceof Uint32Array || data instanceof Float64Array || Array.isArray(data))) {
    throw new DTypeError(
      `tensor: data must be a Float32Array, Float64Array, Int32Array, Uint32Array or number[]; got ${describeValue(data)}` +
        (typeof BigInt64Array !== 'undefined' && (data as unknown) instanceof BigInt64Array ? ' (64-bit integers: convert with Int32Array.from(data, Number) when they fit)' : ''),
    );
  }
  const dims = shape ?? [data.length];
  checkShape(dims, 'tensor shape');
  const dtype = options.dtype ?? inferDType(data);
  assertDType(dtype, 'tensor dtype');
  if (dtype === 'f16' && !ctx.has('shader-f16')) {
    throw new DTypeError("tensor dtype 'f16' needs the device feature shader-f16, which this adapter lacks; use 'f32'");
  }
  const size = dims.reduce((a, b) => a * b, 1);
  if (size !== data.length) {
    throw new ShapeError(`tensor: data has ${data.length} elements but shape ${show(dims)} needs ${size}; fix the shape or the data`);
  }
  const bytes = encodeHost(data, dtype, options.label ?? 'tensor data');
  const t = new Tensor(ctx, dims, dtype, optionsOf(options));
  if (size > 0) ctx.upload(t.buffer, 0, bytes, true);
  return t;
}

/** A tensor whose contents are undefined (recycled memory); kernels that overwrite every element use it. */
export function empty<D extends DType = 'f32'>(ctx: GpuContext, shape: readonly number[], dtype: D = 'f32' as D, options: Omit<TensorOptions, 'dtype'> = {}): Tensor<D> {
  checkShape(shape, 'empty shape');
  assertDType(dtype, 'empty dtype');
  return new Tensor<D>(ctx, shape, dtype, optionsOf(options));
}

/** A zero-filled tensor (cleared on the GPU, in command order). */
export function zeros<D extends DType = 'f32'>(ctx: GpuContext, shape: readonly number[], dtype: D = 'f32' as D, options: Omit<TensorOptions, 'dtype'> = {}): Tensor<D> {
  const t = empty<D>(ctx, shape, dtype, options);
  const bytes = Math.ceil(t.byteLength / 4) * 4;
  if (bytes > 0) ctx.commandEncoder().clearBuffer(t.buffer, t.byteOffset, bytes);
  return t;
}

function optionsOf(o: Omit<TensorOptions, 'dtype'>): { requiresGrad?: boolean; label?: string } {
  const r: { requiresGrad?: boolean; label?: string } = {};
  if (o.requiresGrad !== undefined) r.requiresGrad = o.requiresGrad;
  if (o.label !== undefined) r.label = o.label;
  return r;
}
