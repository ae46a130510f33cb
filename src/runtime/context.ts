/**
 * The GPU context: device acquisition, the pipeline cache, batched command
 * submission, readback, error surfacing, scopes and accounting.
 *
 * One `GpuContext` owns one `GPUDevice`. Every tensor, pipeline and buffer
 * belongs to exactly one context, and `dispose()` releases all of them.
 *
 * @module
 */
import { platform } from '#platform';
import type { DawnModule } from '../platform/types.js';
import {
  BindingError,
  DeviceLimitError,
  DeviceLostError,
  DisposedError,
  GhostgradError,
  GpuValidationError,
  NoAdapterError,
  ShaderCompileError,
  show,
} from '../errors.js';
import { BufferPool, resolvePoolPolicy, type PoolPolicy, type PoolStats } from './pool.js';
import {
  bindGroupLayoutFor,
  checkElementType,
  packUniform,
  reflectKernel,
  type BindingInfo,
  type CompiledKernel,
  type KernelLayout,
  type KernelSpec,
  type OverrideConstants,
  type UniformValues,
} from './kernel.js';
import { Profiler } from './profiler.js';
import type { Tensor } from './tensor.js';

/** Optional device features ghostgrad uses when the adapter has them. */
export const OPTIONAL_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;
export type OptionalFeature = (typeof OPTIONAL_FEATURES)[number];

/** Options of {@link createGpu}. */
export interface GpuOptions {
  /** Adapter preference passed to `requestAdapter`. */
  powerPreference?: GPUPowerPreference;
  /**
   * Substring of the adapter's name (case-insensitive) to insist on, e.g.
   * `"llvmpipe"` or `"H100"`. In Node this is also passed to Dawn as
   * `adapter=…`. A mismatch is a {@link NoAdapterError}.
   */
  adapterName?: string;
  /** Dawn toggles (Node only), e.g. `{ enable: ['allow_unsafe_apis'] }`. */
  dawnToggles?: { enable?: readonly string[]; disable?: readonly string[] };
  /** Ask for the CPU fallback adapter (SwiftShader, WARP). Tried anyway when no other adapter exists. */
  forceFallbackAdapter?: boolean;
  /** Do not request these optional features even when present (testing fallbacks). */
  disableFeatures?: readonly OptionalFeature[];
  /**
   * A `GPU` object to use instead of `navigator.gpu` or Dawn's `create()`:
   * for embedding in a host that already owns one, and for tests.
   */
  gpu?: GPU;
  /**
   * Called with every asynchronous GPU error (validation, out-of-memory,
   * device loss) as it arrives. Such errors are also thrown from the next
   * `flush()`/`read()`; this callback does not swallow them.
   */
  onError?: (error: GhostgradError) => void;
  /** How much idle pooled memory to keep (see {@link PoolPolicy}); change it later with `ctx.setPoolPolicy`. */
  pool?: Partial<PoolPolicy>;
}

/** Description of the adapter a context runs on. */
export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for CPU implementations (lavapipe, SwiftShader, WARP). */
  isSoftware: boolean;
  /** Optional features that were requested and granted. */
  features: OptionalFeature[];
}

/**
 * A resource to bind: a tensor (whole), a window of one, a raw buffer, or a
 * uniform struct's values as an object (any object type, interfaces
 * included; members are checked by name against reflection at run time).
 */
export type Binding = Tensor | TensorWindow | GPUBuffer | UniformValues | object;

/** A window of a tensor, for chunked dispatches over tensors larger than one binding. */
export interface TensorWindow {
  readonly tensor: Tensor;
  /** First element; its byte offset must be a multiple of `minStorageBufferOffsetAlignment`. */
  readonly offset: number;
  /** Number of elements. */
  readonly length: number;
}

/** Workgroup counts: a number (x only) or [x, y?, z?]. */
export type Workgroups = number | readonly [number, number?, number?];

/**
 * What `stats()` reports: pool accounting plus cumulative host-cost counters
 * since the context was made. Subtract two snapshots to count one step.
 */
export interface ContextStats extends PoolStats {
  /** Compiled pipeline variants in the cache. */
  pipelines: number;
  /** Pipelines compiled (cache misses). */
  pipelinesCreated: number;
  /** `queue.submit` calls. */
  submits: number;
  /** Dispatches recorded. */
  dispatches: number;
  /** Bind groups created (cache misses of the bind-group cache). */
  bindGroupsCreated: number;
  /** Bind groups in the cache now. */
  bindGroupsCached: number;
  /** Host → GPU uploads of tensor data (`tensor()`, `Tensor.write`), and their bytes. */
  uploads: number;
  bytesUploaded: number;
  /** GPU → host readbacks (`Tensor.read` and internal reads), and their bytes. */
  readbacks: number;
  bytesRead: number;
}

const SOFTWARE_PATTERN = /llvmpipe|lavapipe|swiftshader|warp|software|microsoft basic render/i;
const MAX_PENDING_DISPATCHES = 4096;
/**
 * Bytes of the uniform arena: every dispatch's uniform structs of one submit
 * live in it at 256-byte-aligned dynamic offsets (4,096 slots); a full arena
 * flushes the batch.
 */
const UNIFORM_ARENA_BYTES = 1 << 20;
/** Bind groups kept in the cache; beyond this the oldest are dropped. */
const MAX_CACHED_BIND_GROUPS = 16384;

/** Device limits read once: `device.limits` is a fresh object on every access in Dawn. */
interface HotLimits {
  readonly maxComputeWorkgroupsPerDimension: number;
  readonly maxStorageBufferBindingSize: number;
  readonly minStorageBufferOffsetAlignment: number;
  readonly minUniformBufferOffsetAlignment: number;
  readonly maxBufferSize: number;
  readonly maxDynamicUniformBuffersPerPipelineLayout: number;
}

/**
 * Acquires a GPU device and returns a context that owns it.
 *
 * In Node this uses Dawn through the npm package `webgpu`; in a browser,
 * `navigator.gpu`. Optional features (`shader-f16`, `subgroups`,
 * `timestamp-query`) are requested when the adapter has them, and the device
 * is created with the adapter's maximum storage-binding and buffer sizes.
 *
 * @throws NoAdapterError when no adapter exists (no WebGPU, no Vulkan driver)
 */
export async function createGpu(options: GpuOptions = {}): Promise<GpuContext> {
  let gpu = options.gpu;
  let dawnArgs: string[] = [];
  if (!gpu) {
    const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
    if (nav?.gpu && typeof process === 'undefined') {
      gpu = nav.gpu;
    } else {
      let dawn: DawnModule;
      try {
        dawn = await platform.loadDawn();
      } catch (e) {
        throw new NoAdapterError(
          `no WebGPU implementation: navigator.gpu is absent and the npm package 'webgpu' failed to load ` +
            `(${(e as Error).message}); in Node run 'npm install webgpu', in a browser enable WebGPU`,
        );
      }
      for (const [k, v] of Object.entries(dawn.globals)) {
        if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
      }
      if (options.adapterName) dawnArgs.push(`adapter=${options.adapterName}`);
      if (options.dawnToggles?.enable?.length) dawnArgs.push(`enable-dawn-features=${options.dawnToggles.enable.join(',')}`);
      if (options.dawnToggles?.disable?.length) dawnArgs.push(`disable-dawn-features=${options.dawnToggles.disable.join(',')}`);
      try {
        gpu = dawn.create(dawnArgs);
      } catch (e) {
        throw new NoAdapterError(
          `Dawn could not start with options ${show(dawnArgs)}: ${(e as Error).message}. ` +
            `Check adapterName against the adapters listed, or install a Vulkan driver ('npx ghostgrad provision' installs Mesa lavapipe on Debian 12)`,
        );
      }
    }
  }
  let adapter: GPUAdapter | null;
  try {
    const request: GPURequestAdapterOptions = {};
    if (options.powerPreference) request.powerPreference = options.powerPreference;
    if (options.forceFallbackAdapter) request.forceFallbackAdapter = true;
    adapter = await gpu.requestAdapter(request);
    // Browsers without a usable GPU (headless Chromium: SwiftShader) only
    // hand out their CPU fallback adapter when asked for it explicitly.
    if (!adapter && !options.forceFallbackAdapter) adapter = await gpu.requestAdapter({ ...request, forceFallbackAdapter: true });
  } catch (e) {
    // Dawn rejects (rather than returning null) when `adapter=` matches nothing.
    throw new NoAdapterError(
      `requestAdapter failed${options.adapterName ? ` for adapterName ${show(options.adapterName)}` : ''}: ${(e as Error).message}`,
    );
  }
  if (!adapter) {
    throw new NoAdapterError(
      'no WebGPU adapter is available. On Linux without a GPU, install Mesa >= 25 lavapipe, a CPU Vulkan driver ' +
        "(Debian 12: 'apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1', which 'npx ghostgrad provision' runs for you; " +
        'Mesa 22 is too old for Dawn); with a GPU, install its Vulkan/Metal/D3D12 driver; in a browser, enable WebGPU',
    );
  }
  const info = adapter.info;
  const summary: AdapterSummary = {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    isSoftware: false,
    features: [],
  };
  const fullName = `${summary.vendor} ${summary.architecture} ${summary.device} ${summary.description}`;
  summary.isSoftware =
    (info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true ||
    (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true ||
    SOFTWARE_PATTERN.test(fullName);
  if (options.adapterName && !fullName.toLowerCase().includes(options.adapterName.toLowerCase())) {
    throw new NoAdapterError(
      `adapterName ${show(options.adapterName)} does not match the adapter found (${fullName.trim()}); ` +
        'omit adapterName or use a substring of that name',
    );
  }
  const disabled = new Set(options.disableFeatures ?? []);
  const features = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f) && !disabled.has(f));
  summary.features = [...features];
  const limits = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: features,
    requiredLimits: {
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: limits.maxComputeWorkgroupSizeY,
      maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
    },
  });
  return new GpuContext(gpu, device, summary, options.onError, options.pool);
}

/** A GPU device plus everything ghostgrad keeps per device. Create with {@link createGpu}. */
export class GpuContext {
  /** The adapter this context runs on. */
  readonly adapter: AdapterSummary;
  /** Per-kernel GPU timing (needs `timestamp-query`). */
  readonly profiler: Profiler;
  /** Extension slots for subsystems (autodiff tape, kernel-map caches) keyed by name. */
  readonly extensions = new Map<string, { dispose(): void }>();
  /** Read-only tables uploaded once per context (kernel offsets, layer layouts), by key. */
  private readonly constants = new Map<string, Tensor>();

  private gpuRef: GPU | null;
  private deviceRef: GPUDevice | null;
  private readonly pool: BufferPool;
  private readonly layouts = new Map<number, KernelLayout>();
  private readonly pipelines = new Map<string, CompiledKernel>();
  /** (entry point, source) → small id, so that cache keys do not repeat whole sources per dispatch. */
  private readonly sourceIds = new Map<string, number>();
  private readonly specIds = new WeakMap<KernelSpec, number>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private pendingDispatches = 0;
  private readonly errors: GhostgradError[] = [];
  private readonly scopePromises: Promise<void>[] = [];
  private readonly onError: ((error: GhostgradError) => void) | undefined;
  private uniformArena: GPUBuffer | null = null;
  private uniformOffset = 0;
  private readonly uniformStaging = new DataView(new ArrayBuffer(UNIFORM_ARENA_BYTES));
  private uniformDirtyEnd = 0;
  /** Bind-group layouts shared by every kernel with the same binding signature. */
  private readonly groupLayouts = new Map<string, { layout: GPUBindGroupLayout; pipelineLayout: GPUPipelineLayout; id: number }>();
  /** Bind groups by (layout, bound resources); a Map keeps insertion order, which the eviction uses. */
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  /** Cache keys that mention a buffer, to drop them when the buffer is destroyed. */
  private readonly bindGroupsOfBuffer = new Map<GPUBuffer, string[]>();
  private readonly bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 1;
  private readonly hot: HotLimits;
  private readonly counters = {
    submits: 0,
    dispatches: 0,
    pipelinesCreated: 0,
    bindGroupsCreated: 0,
    uploads: 0,
    bytesUploaded: 0,
    readbacks: 0,
    bytesRead: 0,
  };
  private disposing = false;
  /** Set when the device is lost: every later call and pending read rejects with it. */
  private lost: DeviceLostError | null = null;
  /** @internal tensors created inside the innermost `scope()` call. */
  readonly scopeStack: Set<Tensor>[] = [];
  /** @internal Subsystems told when scopes open and close (the tape drops unreachable nodes). */
  readonly scopeListeners: { open(): number; close(mark: number): void }[] = [];

  constructor(
    gpu: GPU,
    device: GPUDevice,
    adapter: AdapterSummary,
    onError?: (error: GhostgradError) => void,
    pool?: Partial<PoolPolicy>,
  ) {
    this.gpuRef = gpu;
    this.deviceRef = device;
    this.adapter = adapter;
    this.onError = onError;
    const l = device.limits;
    this.hot = {
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      minStorageBufferOffsetAlignment: l.minStorageBufferOffsetAlignment,
      minUniformBufferOffsetAlignment: l.minUniformBufferOffsetAlignment,
      maxBufferSize: l.maxBufferSize,
      maxDynamicUniformBuffersPerPipelineLayout: l.maxDynamicUniformBuffersPerPipelineLayout,
    };
    this.pool = new BufferPool(device, resolvePoolPolicy(pool), (b) => this.forgetBuffer(b));
    this.profiler = new Profiler(device, adapter.features.includes('timestamp-query'));
    device.addEventListener('uncapturederror', (event) => {
      const e = (event as GPUUncapturedErrorEvent).error;
      this.record(new GpuValidationError(`uncaptured WebGPU ${e.constructor.name}: ${e.message}`));
    });
    void device.lost.then((info) => {
      if (this.disposing) return;
      this.lost = new DeviceLostError(
        `GPU device lost (reason: ${info.reason || 'unknown'}${info.message ? `, ${info.message}` : ''}); its tensors are gone; create a new context with createGpu()`,
      );
      this.onError?.(this.lost);
    });
  }

  /** The underlying device. Throws after `dispose()`. */
  get device(): GPUDevice {
    if (!this.deviceRef) throw new DisposedError('GpuContext: used after dispose(); create a new one with createGpu()');
    return this.deviceRef;
  }

  /** Device limits in force. */
  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  /** True when the device supports the optional feature. */
  has(feature: OptionalFeature): boolean {
    return this.adapter.features.includes(feature);
  }

  get disposed(): boolean {
    return this.deviceRef === null;
  }

  private record(error: GhostgradError): void {
    this.errors.push(error);
    this.onError?.(error);
  }

  /** Throws the first pending asynchronous GPU error, if any. */
  throwPending(): void {
    if (this.lost) throw this.lost;
    // A compile error explains the "invalid pipeline" errors that follow it.
    const first = this.errors.findIndex((x) => x instanceof ShaderCompileError);
    const e = first >= 0 ? this.errors[first] : this.errors[0];
    if (e) {
      this.errors.length = 0;
      throw e;
    }
  }

  // ---------------------------------------------------------------- buffers

  /** @internal Allocates a pooled storage buffer for a tensor. */
  allocate(bytes: number, label: string): GPUBuffer {
    const max = this.hot.maxBufferSize;
    if (bytes > max) {
      throw new DeviceLimitError(
        `${label}: ${bytes} bytes exceeds this device's maxBufferSize (${max} bytes); split the data into smaller tensors`,
      );
    }
    return this.pool.acquire(bytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, label);
  }

  /** @internal Returns a tensor's buffer to the pool. */
  release(buffer: GPUBuffer): void {
    if (this.deviceRef) this.pool.release(buffer);
  }

  /**
   * Live and pooled buffer accounting (tests use `liveBytes` to check for
   * leaks) and the cumulative host-cost counters: submits, dispatches,
   * creations, uploads and readbacks.
   */
  stats(): ContextStats {
    return {
      ...this.pool.stats(),
      pipelines: this.pipelines.size,
      ...this.counters,
      bindGroupsCached: this.bindGroups.size,
    };
  }

  /** The pool's trimming policy in force. */
  get poolPolicy(): PoolPolicy {
    return this.pool.policy;
  }

  /**
   * Changes how much idle pooled memory is kept (unknown keys and bad values
   * are an {@link InputValueError}); applied at the next submit.
   */
  setPoolPolicy(policy: Partial<PoolPolicy>): void {
    this.pool.policy = resolvePoolPolicy(policy, this.pool.policy);
  }

  /** Resets `peakLiveBytes` to the current live bytes (for peak-memory measurements). */
  resetPeakMemory(): void {
    this.pool.resetPeak();
  }

  /** Destroys every idle pooled buffer now, whatever the policy. */
  trimPool(): void {
    this.pool.trim();
  }

  /**
   * @internal A read-only tensor made once per context and key (a table of
   * kernel offsets, a layer layout) and owned by the context: callers must
   * not dispose it, and kernels may only read it.
   */
  constant(key: string, make: () => Tensor): Tensor {
    let t = this.constants.get(key);
    if (!t || t.disposed) {
      t = make().keep();
      t.readonlyView = true;
      for (const s of this.scopeStack) s.delete(t);
      this.pool.pin(t.buffer);
      this.constants.set(key, t);
    }
    return t;
  }

  /** A buffer's small id for bind-group cache keys. */
  private bufferId(buffer: GPUBuffer): number {
    let id = this.bufferIds.get(buffer);
    if (id === undefined) this.bufferIds.set(buffer, (id = this.nextBufferId++));
    return id;
  }

  /** Drops the cached bind groups that reference a buffer about to be destroyed. */
  private forgetBuffer(buffer: GPUBuffer): void {
    const keys = this.bindGroupsOfBuffer.get(buffer);
    if (!keys) return;
    for (const k of keys) this.bindGroups.delete(k);
    this.bindGroupsOfBuffer.delete(buffer);
  }

  // ---------------------------------------------------------------- kernels

  private layoutOf(spec: KernelSpec): KernelLayout {
    const id = this.sourceId(spec);
    let layout = this.layouts.get(id);
    if (!layout) {
      layout = reflectKernel(spec);
      this.layouts.set(id, layout);
    }
    return layout;
  }

  /** Pipeline cache key: (source, entry point) interned to an id, plus the constants. */
  private sourceId(spec: KernelSpec): number {
    let id = this.specIds.get(spec);
    if (id === undefined) {
      const text = `${spec.entryPoint ?? ''}\u0000${spec.source}`;
      id = this.sourceIds.get(text);
      if (id === undefined) this.sourceIds.set(text, (id = this.sourceIds.size));
      this.specIds.set(spec, id);
    }
    return id;
  }

  private cacheKey(spec: KernelSpec, constants: OverrideConstants): string {
    const id = this.sourceId(spec);
    let c = '';
    for (const k in constants) c += `${k}=${Number(constants[k])};`;
    return `${id}|${c}`;
  }

  /**
   * The compiled pipeline of a kernel for given override constants, cached by
   * (source, entry point, constants). Compile errors surface at the next sync
   * point as {@link ShaderCompileError}; use {@link compile} to await them.
   */
  kernel(spec: KernelSpec, constants: OverrideConstants = {}): CompiledKernel {
    const key = this.cacheKey(spec, constants);
    let compiled = this.pipelines.get(key);
    if (compiled) return compiled;
    const device = this.device;
    const layout = this.layoutOf(spec);
    for (const name of Object.keys(constants)) {
      if (!layout.overrides.includes(name)) {
        throw new BindingError(
          `kernel ${spec.name}: override constant ${show(name)} is not declared; declared: ${show(layout.overrides)}`,
        );
      }
    }
    const uniforms = layout.bindings.filter((b) => b.kind === 'uniform').length;
    if (uniforms > this.hot.maxDynamicUniformBuffersPerPipelineLayout) {
      throw new DeviceLimitError(
        `kernel ${spec.name}: ${uniforms} uniform structs exceed this device's maxDynamicUniformBuffersPerPipelineLayout ` +
          `(${this.hot.maxDynamicUniformBuffersPerPipelineLayout}); merge them into one struct`,
      );
    }
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ label: spec.name, code: spec.source });
    const group = this.groupLayoutFor(spec, layout);
    const pipeline = device.createComputePipeline({
      label: spec.name,
      layout: group.pipelineLayout,
      compute: { module, entryPoint: layout.entryPoint, constants: numericConstants(constants) },
    });
    this.counters.pipelinesCreated++;
    const scoped = device.popErrorScope().then(async (err) => {
      if (!err) return;
      this.record(await compileError(spec, module, err.message));
    });
    this.scopePromises.push(scoped);
    compiled = {
      spec,
      layout,
      constants,
      pipeline,
      bindGroupLayout: group.layout,
      groupLayoutId: group.id,
      uniformBytes: layout.bindings.reduce((sum, b) => sum + (b.uniform ? alignUp(b.uniform.size, this.hot.minUniformBufferOffsetAlignment) : 0), 0),
      byName: new Map(layout.bindings.map((b) => [b.name, b])),
    };
    this.pipelines.set(key, compiled);
    return compiled;
  }

  /**
   * The bind-group layout of a binding signature (binding numbers and kinds),
   * shared by every kernel with that signature so that their bind groups are
   * too. Uniform structs take dynamic offsets into the uniform arena.
   */
  private groupLayoutFor(spec: KernelSpec, layout: KernelLayout): { layout: GPUBindGroupLayout; pipelineLayout: GPUPipelineLayout; id: number } {
    const signature = layout.bindings.map((b) => `${b.binding}:${b.kind}`).join(',');
    let group = this.groupLayouts.get(signature);
    if (!group) {
      const bgl = bindGroupLayoutFor(this.device, spec, layout);
      group = { layout: bgl, pipelineLayout: this.device.createPipelineLayout({ bindGroupLayouts: [bgl] }), id: this.groupLayouts.size };
      this.groupLayouts.set(signature, group);
    }
    return group;
  }

  /**
   * Compiles a kernel and waits for the compiler's verdict.
   * @throws ShaderCompileError with line and column of each diagnostic
   */
  async compile(spec: KernelSpec, constants: OverrideConstants = {}): Promise<CompiledKernel> {
    const compiled = this.kernel(spec, constants);
    await this.settle();
    const i = this.errors.findIndex((e) => e instanceof ShaderCompileError && e.message.includes(`kernel ${spec.name}`));
    if (i >= 0) {
      const [e] = this.errors.splice(i, 1);
      this.pipelines.delete(this.cacheKey(spec, constants));
      throw e!;
    }
    return compiled;
  }

  /**
   * Records one dispatch of `spec` into the shared command encoder. Nothing
   * is submitted until `flush()`, a readback, or the batch limit.
   *
   * @param bindings resources by WGSL variable name; uniforms as plain objects
   * @param workgroups workgroup counts; each must be ≤ maxComputeWorkgroupsPerDimension
   */
  run(
    spec: KernelSpec,
    bindings: Readonly<Record<string, Binding>>,
    workgroups: Workgroups,
    constants: OverrideConstants = {},
  ): void {
    this.throwPending();
    const k = this.kernel(spec, constants);
    let x: number, y: number, z: number;
    if (typeof workgroups === 'number') {
      x = workgroups;
      y = z = 1;
    } else {
      x = workgroups[0];
      y = workgroups[1] ?? 1;
      z = workgroups[2] ?? 1;
    }
    const maxWg = this.hot.maxComputeWorkgroupsPerDimension;
    for (const n of [x, y, z]) {
      if (!(Number.isInteger(n) && n >= 0)) throw new BindingError(`kernel ${spec.name}: workgroup count ${show([x, y, z])} is not a non-negative integer triple`);
      if (n > maxWg) {
        throw new DeviceLimitError(
          `kernel ${spec.name}: ${n} workgroups in one dimension exceeds maxComputeWorkgroupsPerDimension (${maxWg}); ` +
            'spread the grid over y/z (see grid()) or chunk the dispatch',
        );
      }
    }
    for (const name in bindings) {
      if (!k.byName.has(name)) {
        throw new BindingError(
          `kernel ${spec.name}: binding ${show(name)} does not exist in its WGSL; its bindings are ${show(k.layout.bindings.map((b) => b.name))}`,
        );
      }
    }
    // Resolve every binding (validating it) before anything is recorded, so
    // that a bad binding leaves the command stream as it was. A batch whose
    // uniform arena cannot hold this dispatch's structs is submitted first.
    const infos = k.layout.bindings;
    if (this.uniformOffset + k.uniformBytes > UNIFORM_ARENA_BYTES) this.flush();
    const resources: GPUBufferBinding[] = [];
    const dynamicOffsets: number[] = [];
    let key = `${k.groupLayoutId}`;
    for (const info of infos) {
      const value = bindings[info.name];
      if (value === undefined) {
        throw new BindingError(
          `kernel ${spec.name}: binding ${show(info.name)} (${info.kind}) is missing; pass it by name in the bindings object`,
        );
      }
      const r = this.resourceFor(spec.name, info, value);
      if (info.kind === 'uniform') {
        dynamicOffsets.push(r.offset!);
        key += `|u${r.size}`;
        resources.push({ buffer: r.buffer, offset: 0, size: r.size! });
      } else {
        key += `|${this.bufferId(r.buffer)}@${r.offset}+${r.size}`;
        resources.push(r);
      }
    }
    if (x * y * z === 0) return;
    const bindGroup = this.bindGroupFor(k, key, resources);
    if (this.profiler.enabled && this.profiler.full) this.flush();
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    const timestampWrites = this.profiler.nextPass(spec.name);
    if (timestampWrites) {
      this.endPass();
      const pass = this.encoder.beginComputePass({ timestampWrites });
      pass.setPipeline(k.pipeline);
      pass.setBindGroup(0, bindGroup, dynamicOffsets);
      pass.dispatchWorkgroups(x, y, z);
      pass.end();
    } else {
      // One compute pass holds many dispatches: WebGPU scopes resource usage
      // per dispatch, so writes of one are visible to the next.
      if (!this.pass) this.pass = this.encoder.beginComputePass();
      this.pass.setPipeline(k.pipeline);
      this.pass.setBindGroup(0, bindGroup, dynamicOffsets);
      this.pass.dispatchWorkgroups(x, y, z);
    }
    this.counters.dispatches++;
    if (++this.pendingDispatches >= MAX_PENDING_DISPATCHES) this.flush();
  }

  /** The cached bind group of these resources under this kernel's layout, created on a miss. */
  private bindGroupFor(k: CompiledKernel, key: string, resources: readonly GPUBufferBinding[]): GPUBindGroup {
    let group = this.bindGroups.get(key);
    if (group) return group;
    const infos = k.layout.bindings;
    group = this.device.createBindGroup({
      layout: k.bindGroupLayout,
      entries: resources.map((resource, i) => ({ binding: infos[i]!.binding, resource })),
    });
    this.counters.bindGroupsCreated++;
    this.bindGroups.set(key, group);
    for (const r of resources) {
      let keys = this.bindGroupsOfBuffer.get(r.buffer);
      if (!keys) this.bindGroupsOfBuffer.set(r.buffer, (keys = []));
      keys.push(key);
    }
    if (this.bindGroups.size > MAX_CACHED_BIND_GROUPS) this.evictBindGroups();
    return group;
  }

  /**
   * Drops the oldest quarter of the bind-group cache (first created; a hit
   * does not refresh an entry, which would cost a delete and an insert per
   * dispatch, so a long-lived group may be evicted and made again).
   */
  private evictBindGroups(): void {
    let n = this.bindGroups.size >> 2;
    for (const key of this.bindGroups.keys()) {
      if (n-- <= 0) break;
      this.bindGroups.delete(key);
    }
    // Reverse-index entries of evicted keys are dropped lazily here.
    for (const [buffer, keys] of this.bindGroupsOfBuffer) {
      const live = keys.filter((k) => this.bindGroups.has(k));
      if (live.length) this.bindGroupsOfBuffer.set(buffer, live);
      else this.bindGroupsOfBuffer.delete(buffer);
    }
  }

  private resourceFor(kernel: string, info: BindingInfo, value: Binding): GPUBufferBinding {
    if (info.kind === 'uniform') {
      if (typeof value !== 'object' || value === null || isTensorLike(value) || isWindow(value) || isGpuBuffer(value)) {
        throw new BindingError(`kernel ${kernel}: binding ${info.name} is a uniform struct; pass a plain object of its members`);
      }
      return this.uniformSlot(kernel, info, value as UniformValues);
    }
    const maxBinding = this.hot.maxStorageBufferBindingSize;
    if (isTensorLike(value)) {
      const t = value as Tensor;
      checkElementType(kernel, info, t.dtype, 'a tensor');
      if (info.kind === 'storage' && t.readonlyView) {
        throw new BindingError(`kernel ${kernel}: binding ${info.name} is written by the kernel but got a read-only tensor`);
      }
      const size = Math.max(4, Math.ceil(t.byteLength / 4) * 4);
      if (size > maxBinding) {
        throw new DeviceLimitError(
          `kernel ${kernel}: tensor bound to ${info.name} has ${t.byteLength} bytes (shape ${show(t.shape)}), over this device's ` +
            `maxStorageBufferBindingSize of ${maxBinding} bytes; split it into chunks no larger than that`,
        );
      }
      // Bind the whole pooled buffer (its size class), not just the tensor's
      // bytes: tensors of slightly different sizes that land in the same
      // buffer then share one cached bind group. No kernel reads the binding's
      // length (arrayLength); sizes come in uniforms. A view binds its bytes.
      const buffer = t.buffer;
      if (!t.ownsBuffer) return { buffer, offset: t.byteOffset, size };
      const whole = this.pool.sizeOf(buffer);
      return { buffer, offset: 0, size: whole <= maxBinding ? whole : size };
    }
    if (isWindow(value)) {
      const w = value as TensorWindow;
      checkElementType(kernel, info, w.tensor.dtype, 'a tensor window');
      const bpe = w.tensor.byteLength / Math.max(1, w.tensor.size);
      const offset = w.tensor.byteOffset + w.offset * bpe;
      const size = Math.max(4, Math.ceil((w.length * bpe) / 4) * 4);
      const align = this.hot.minStorageBufferOffsetAlignment;
      if (offset % align !== 0) {
        throw new BindingError(`kernel ${kernel}: window of ${info.name} starts at byte ${offset}, not a multiple of ${align}`);
      }
      if (size > maxBinding) {
        throw new DeviceLimitError(`kernel ${kernel}: window bound to ${info.name} has ${size} bytes, over maxStorageBufferBindingSize ${maxBinding}`);
      }
      return { buffer: w.tensor.buffer, offset, size };
    }
    if (isGpuBuffer(value)) {
      const buffer = value as GPUBuffer;
      return { buffer, offset: 0, size: Math.min(buffer.size, maxBinding - (maxBinding % 4)) };
    }
    throw new BindingError(`kernel ${kernel}: binding ${info.name} needs a tensor or buffer, got a plain object`);
  }

  /** Packs one uniform struct into the arena; returns the arena and the struct's dynamic offset. */
  private uniformSlot(kernel: string, info: BindingInfo, values: UniformValues): GPUBufferBinding {
    const size = info.uniform!.size;
    const align = this.hot.minUniformBufferOffsetAlignment;
    const offset = alignUp(this.uniformOffset, align);
    if (!this.uniformArena) {
      this.uniformArena = this.device.createBuffer({ size: UNIFORM_ARENA_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'uniform arena' });
    }
    new Uint8Array(this.uniformStaging.buffer, offset, size).fill(0);
    packUniform(kernel, info, values, this.uniformStaging, offset);
    this.uniformOffset = offset + size;
    if (this.uniformOffset > this.uniformDirtyEnd) this.uniformDirtyEnd = this.uniformOffset;
    return { buffer: this.uniformArena, offset, size };
  }

  /** Uploads this batch's packed uniforms; queue writes land before the commands submitted after them. */
  private writeUniformStaging(): void {
    if (this.uniformDirtyEnd === 0 || !this.uniformArena) return;
    this.device.queue.writeBuffer(this.uniformArena, 0, this.uniformStaging.buffer, 0, Math.ceil(this.uniformDirtyEnd / 4) * 4);
    this.uniformDirtyEnd = 0;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  /** @internal The open command encoder, with any compute pass ended (for copies). */
  commandEncoder(): GPUCommandEncoder {
    this.endPass();
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  /** Submits all recorded work. Cheap when nothing is pending. */
  flush(): void {
    if (!this.deviceRef) return;
    this.writeUniformStaging();
    if (!this.encoder) {
      this.pool.afterSubmit();
      return;
    }
    this.endPass();
    const encoder = this.encoder;
    this.encoder = null;
    const afterProfile = this.profiler.encodeResolve(encoder);
    const device = this.deviceRef;
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    device.queue.submit([encoder.finish()]);
    const validation = device.popErrorScope();
    const oom = device.popErrorScope();
    this.scopePromises.push(
      Promise.all([validation, oom]).then(([v, o]) => {
        if (v) this.record(new GpuValidationError(`WebGPU validation error in submitted work: ${v.message}`));
        if (o) this.record(new DeviceLimitError(`GPU out of memory: ${o.message}; use smaller batches or dispose unused tensors`));
      }),
    );
    afterProfile?.();
    this.counters.submits++;
    this.pendingDispatches = 0;
    this.uniformOffset = 0;
    this.pool.afterSubmit();
  }

  /** Waits for error scopes of past work; afterwards, pending errors are known. */
  private async settle(): Promise<void> {
    while (this.scopePromises.length) await this.scopePromises.shift();
  }

  /**
   * Submits pending work and waits until the GPU has finished it.
   * @throws the first asynchronous GPU error since the last sync point
   */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    await this.settle();
    this.throwPending();
  }

  /** @internal Copies `bytes` from a buffer to host memory, submitting pending work first. */
  async readBuffer(buffer: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
    return (await this.readBuffers([{ buffer, offset, bytes }]))[0]!;
  }

  /**
   * @internal Copies several byte ranges to host memory in one round trip:
   * one staging buffer, one submit, one map. Each range's offset and length
   * are rounded to whole 4-byte words as copies require.
   */
  async readBuffers(ranges: readonly { readonly buffer: GPUBuffer; readonly offset: number; readonly bytes: number }[]): Promise<ArrayBuffer[]> {
    const sizes = ranges.map((r) => Math.max(4, Math.ceil(r.bytes / 4) * 4));
    const total = sizes.reduce((a, b) => a + b, 0);
    const staging = this.pool.acquire(total, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'readback');
    this.counters.readbacks++;
    for (const r of ranges) this.counters.bytesRead += r.bytes;
    let mapped: Promise<void> | null = null;
    try {
      const encoder = this.commandEncoder();
      let at = 0;
      ranges.forEach((r, i) => {
        encoder.copyBufferToBuffer(r.buffer, r.offset, staging, at, sizes[i]!);
        at += sizes[i]!;
      });
      this.flush();
      // Map at once and learn about errors of the submitted work meanwhile:
      // the two waits overlap instead of adding up.
      mapped = staging.mapAsync(GPUMapMode.READ, 0, total);
      const [map] = await Promise.allSettled([mapped, this.settle()]);
      if (map.status === 'rejected' && !this.lost) {
        // A map aborted by device loss may reject before device.lost resolves.
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      this.throwPending();
      if (map.status === 'rejected') {
        const e = map.reason as Error;
        throw new GpuValidationError(`readback failed: ${e?.name ?? 'Error'}: ${e?.message || '(no message)'}`);
      }
      const all = staging.getMappedRange(0, total);
      at = 0;
      const out = sizes.map((size) => {
        const part = all.slice(at, at + size);
        at += size;
        return part;
      });
      staging.unmap();
      return out;
    } finally {
      if (mapped && staging.mapState === 'mapped') staging.unmap();
      this.pool.release(staging);
    }
  }

  /**
   * @internal Uploads bytes into a buffer, in command order: the data is
   * visible to every command recorded after this call and to none before it.
   * A buffer just taken from the pool (`fresh`) that no unsubmitted command
   * can use is written directly; any other goes through a pooled staging
   * buffer and a copy in the command stream, so an upload never splits the
   * batch into submits. `data` is a whole number of 4-byte words (as
   * `encodeHost` makes it).
   */
  upload(buffer: GPUBuffer, offset: number, data: ArrayBuffer | ArrayBufferView, fresh: boolean): void {
    const bytes = data.byteLength;
    this.counters.uploads++;
    this.counters.bytesUploaded += bytes;
    if (bytes % 4 !== 0) throw new BindingError(`upload: ${bytes} bytes is not a whole number of 4-byte words (encodeHost pads its output)`);
    const src = ArrayBuffer.isView(data) ? data : new Uint8Array(data);
    const queue = this.device.queue;
    if (fresh && this.pool.isClean(buffer)) {
      queue.writeBuffer(buffer, offset, src.buffer, src.byteOffset, bytes);
      return;
    }
    const staging = this.pool.acquire(bytes, GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, 'upload staging');
    queue.writeBuffer(staging, 0, src.buffer, src.byteOffset, bytes);
    this.commandEncoder().copyBufferToBuffer(staging, 0, buffer, offset, bytes);
    // The copy reads it when the batch runs: not reusable before the submit.
    this.pool.release(staging, 'after-submit');
  }

  // ---------------------------------------------------------------- scopes

  /**
   * Runs `fn` and disposes every tensor created inside it, except those it
   * returns (a tensor, or an array or object of tensors) and those marked with
   * `keep()`. Scopes nest; an async `fn` is awaited, and must not interleave
   * with other scoped work.
   */
  scope<T>(fn: () => T): T {
    const created = new Set<Tensor>();
    this.scopeStack.push(created);
    const marks = this.scopeListeners.map((l) => l.open());
    const close = (value: unknown): void => {
      this.closeScope(created, value);
      this.scopeListeners.forEach((l, i) => l.close(marks[i] ?? Number.POSITIVE_INFINITY));
    };
    let result: T;
    try {
      result = fn();
    } catch (e) {
      close(undefined);
      throw e;
    }
    if (result instanceof Promise) {
      return result.then(
        (value) => {
          close(value);
          return value;
        },
        (e: unknown) => {
          close(undefined);
          throw e;
        },
      ) as T;
    }
    close(result);
    return result;
  }

  private closeScope(created: Set<Tensor>, result: unknown): void {
    const i = this.scopeStack.lastIndexOf(created);
    if (i >= 0) this.scopeStack.splice(i, 1);
    const keepers = new Set<Tensor>();
    collectTensors(result, keepers);
    const parent = this.scopeStack[this.scopeStack.length - 1];
    for (const t of created) {
      if (keepers.has(t) || t.kept) {
        parent?.add(t);
      } else {
        t.dispose();
      }
    }
  }

  /** Grid of workgroups covering `n` invocations of `workgroupSize` threads, folded into y beyond the x limit. */
  grid(n: number, workgroupSize: number): [number, number] {
    const groups = Math.ceil(n / workgroupSize);
    const maxX = this.hot.maxComputeWorkgroupsPerDimension;
    if (groups <= maxX) return [groups, 1];
    return [maxX, Math.ceil(groups / maxX)];
  }

  // ---------------------------------------------------------------- teardown

  /**
   * Waits for queued work, releases every buffer and pipeline, destroys the
   * device and drops the Dawn instance so that Node can exit.
   */
  async dispose(): Promise<void> {
    if (!this.deviceRef) return;
    this.disposing = true;
    try {
      this.flush();
      await this.deviceRef.queue.onSubmittedWorkDone();
      await this.settle();
    } catch {
      // The device may already be lost; teardown continues regardless.
    }
    for (const ext of this.extensions.values()) ext.dispose();
    this.extensions.clear();
    this.constants.clear(); // their buffers are pinned in the pool and go with it
    this.profiler.destroy();
    this.pool.destroyAll();
    this.uniformArena?.destroy();
    this.uniformArena = null;
    this.bindGroups.clear();
    this.bindGroupsOfBuffer.clear();
    this.groupLayouts.clear();
    this.pipelines.clear();
    this.deviceRef.destroy();
    this.deviceRef = null;
    this.gpuRef = null;
    void this.gpuRef;
  }
}

function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

function numericConstants(constants: OverrideConstants): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(constants)) out[k] = Number(v);
  return out;
}

function isGpuBuffer(v: unknown): boolean {
  return typeof GPUBuffer !== 'undefined' && v instanceof GPUBuffer;
}

function isTensorLike(v: unknown): boolean {
  return typeof v === 'object' && v !== null && (v as { isTensor?: boolean }).isTensor === true;
}

function isWindow(v: unknown): boolean {
  return typeof v === 'object' && v !== null && isTensorLike((v as { tensor?: unknown }).tensor);
}

function collectTensors(value: unknown, out: Set<Tensor>, depth = 0): void {
  if (depth > 4 || value === null || typeof value !== 'object') return;
  if (isTensorLike(value)) {
    out.add(value as Tensor);
    return;
  }
  const items = Array.isArray(value) ? value : value instanceof Map ? [...value.values()] : Object.values(value);
  for (const v of items) collectTensors(v, out, depth + 1);
}

async function compileError(spec: KernelSpec, module: GPUShaderModule, fallback: string): Promise<ShaderCompileError> {
  const info = await module.getCompilationInfo();
  const diagnostics = info.messages.map((m) => ({ line: m.lineNum, column: m.linePos, message: m.message, type: m.type }));
  const errors = diagnostics.filter((d) => d.type === 'error');
  const text = errors.length
    ? errors.map((d) => `${d.line}:${d.column}: ${d.message}`).join('\n')
    : fallback;
  return new ShaderCompileError(`kernel ${spec.name}: WGSL failed to compile:\n${text}`, diagnostics);
}
