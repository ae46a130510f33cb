/**
 * Size-class GPU buffer pool with a trimming policy.
 *
 * Tensors come and go every training step; creating and destroying GPUBuffers
 * at that rate costs driver calls and fragments memory. Released buffers go
 * back to a free list keyed by (usage, size class) and are handed out again.
 *
 * Reuse rules. Every write into a storage buffer that may be in use is
 * ordered in the command stream (kernels, copies, clears; uploads into such a
 * buffer are staged through a copy, see `GpuContext.upload`), so a released
 * storage buffer can be handed to the next tensor at once, even within the
 * open command encoder. The pool remembers which buffers were released since
 * the last submit (`isClean`): only a buffer that no unsubmitted command can
 * touch may be written directly with `queue.writeBuffer`, which lands before
 * every unsubmitted command. Staging buffers (`reuse: 'after-submit'`) wait
 * in a quarantine until the next submit for the same reason.
 *
 * Trimming. Idle buffers cost memory and nothing else, so the pool keeps
 * them while they are likely to be asked for again and destroys the rest:
 * after every submit it destroys buffers that have sat idle for more than
 * `maxIdleSubmits` submits, then the longest-idle ones until at most
 * `maxIdleBytes` stay pooled. A training loop that repeats the same step
 * reacquires its buffers every step and creates none after warm-up.
 *
 * @module
 */
import { checkOptionKeys, InputValueError, show } from '../errors.js';

/** Pool accounting, all in bytes of GPU memory. */
export interface PoolStats {
  /** Buffers currently owned by live tensors or in-flight staging. */
  liveBuffers: number;
  /** Bytes of the live buffers (their allocated, size-class rounded size). */
  liveBytes: number;
  /** Buffers idle in the free lists, ready for reuse. */
  pooledBuffers: number;
  pooledBytes: number;
  /** Highest `liveBytes` seen since creation or the last `resetPeak()`. */
  peakLiveBytes: number;
  /**
   * Bytes of the context's own read-only tables (kernel offsets, layer
   * layouts), uploaded once and kept until the context is disposed; not part
   * of `liveBytes`.
   */
  constantBytes: number;
  /** GPUBuffers created by the pool since the context was made (a miss in the free lists). */
  buffersCreated: number;
  /** Idle buffers destroyed by the trimming policy or `trimPool()`. */
  buffersTrimmed: number;
  /** Bytes of those buffers. */
  bytesTrimmed: number;
}

/** How much idle memory the pool keeps; see the module notes. */
export interface PoolPolicy {
  /**
   * Idle bytes kept at most after a submit; the longest-idle buffers go
   * first. Default 2 GiB. A repeated step whose transient working set is
   * larger re-creates buffers every step: raise it for such work, lower it
   * on small GPUs.
   */
  readonly maxIdleBytes: number;
  /** A buffer idle for more than this many submits is destroyed. Default 64. */
  readonly maxIdleSubmits: number;
}

/** Defaults of {@link PoolPolicy}. */
export const DEFAULT_POOL_POLICY: PoolPolicy = Object.freeze({ maxIdleBytes: 2 * 2 ** 30, maxIdleSubmits: 64 });

/** Validates a partial policy against unknown keys and bad values, and fills in defaults. */
export function resolvePoolPolicy(policy: Partial<PoolPolicy> | undefined, base: PoolPolicy = DEFAULT_POOL_POLICY): PoolPolicy {
  if (policy === undefined) return base;
  if (policy === null || typeof policy !== 'object') {
    throw new InputValueError(`pool policy must be an object like { maxIdleBytes, maxIdleSubmits }; got ${show(policy)}`);
  }
  checkOptionKeys('pool policy', policy, Object.keys(DEFAULT_POOL_POLICY));
  const out = { ...base, ...policy };
  for (const key of ['maxIdleBytes', 'maxIdleSubmits'] as const) {
    const v = out[key];
    if (!(typeof v === 'number' && (Number.isInteger(v) || v === Infinity) && v >= 0)) {
      throw new InputValueError(`pool policy: ${key} = ${show(v)} must be a non-negative integer (or Infinity to keep everything)`);
    }
  }
  return Object.freeze(out);
}

/**
 * Rounds a byte size up to its size class: powers of two below 64 KiB, and
 * eight steps per octave above, which bounds the waste at 12.5% for big
 * tensors while keeping the number of classes small.
 */
export function sizeClass(bytes: number): number {
  const b = Math.max(256, Math.ceil(bytes / 4) * 4);
  const p = 2 ** Math.ceil(Math.log2(b));
  if (p <= 65536) return p;
  const step = p / 16;
  return Math.ceil(b / step) * step;
}

/** When a released buffer may be handed out again. */
export type Reuse = 'now' | 'after-submit';

interface BufferFacts {
  readonly size: number;
  readonly usage: GPUBufferUsageFlags;
  /** Creation order: free lists hand out the lowest first. */
  readonly serial: number;
  /** Free-list key, `${usage}:${size}`. */
  readonly key: string;
}

interface IdleBuffer {
  readonly buffer: GPUBuffer;
  /** Creation order of the buffer: free lists hand out the lowest first. */
  readonly serial: number;
  /** Submit count when it became idle. */
  readonly since: number;
}

export class BufferPool {
  private readonly free = new Map<string, IdleBuffer[]>();
  private quarantine: GPUBuffer[] = [];
  private readonly live = new Set<GPUBuffer>();
  private readonly pinned = new Set<GPUBuffer>();
  private pinnedBytes = 0;
  /**
   * What the pool knows of each buffer it made. Reading `size` or `usage` off
   * a GPUBuffer is a native call (about 0.1 µs under dawn.node), paid several
   * times per dispatch otherwise.
   */
  private readonly facts = new WeakMap<GPUBuffer, BufferFacts>();
  /** Buffers released since the last submit: unsubmitted commands may still use them. */
  private releasedSinceSubmit = new Set<GPUBuffer>();
  private liveBytes = 0;
  private pooledBytes = 0;
  private pooledBuffers = 0;
  private peak = 0;
  private submits = 0;
  private created = 0;
  private trimmedBuffers = 0;
  private trimmedBytes = 0;

  constructor(
    private readonly device: GPUDevice,
    public policy: PoolPolicy = DEFAULT_POOL_POLICY,
    /** Told about every buffer the pool destroys (the context drops bind groups that reference it). */
    private readonly onDestroy: (buffer: GPUBuffer) => void = () => {},
  ) {}

  /** A buffer of at least `bytes` bytes with exactly `usage`. */
  acquire(bytes: number, usage: GPUBufferUsageFlags, label?: string): GPUBuffer {
    const size = sizeClass(bytes);
    const key = `${usage}:${size}`;
    const list = this.free.get(key);
    // Lists are sorted by descending serial: pop() is the oldest buffer of
    // the class. Handing buffers out in an order that depends only on which
    // are free (not on the order they were released in) makes a repeated
    // step get the same buffers each time, so its bind groups are cache hits.
    let buffer = list?.pop()?.buffer;
    if (buffer) {
      this.pooledBytes -= size;
      this.pooledBuffers--;
    } else {
      buffer = this.device.createBuffer({ size, usage, ...(label ? { label } : {}) });
      this.facts.set(buffer, { size, usage, serial: this.created++, key });
    }
    this.live.add(buffer);
    this.liveBytes += size;
    if (this.liveBytes > this.peak) this.peak = this.liveBytes;
    return buffer;
  }

  /** Returns a buffer to the pool: reusable at once (command-ordered use only) or after the next submit. */
  release(buffer: GPUBuffer, reuse: Reuse = 'now'): void {
    if (!this.live.delete(buffer)) return;
    this.liveBytes -= this.sizeOf(buffer);
    if (reuse === 'after-submit') {
      this.quarantine.push(buffer);
    } else {
      this.releasedSinceSubmit.add(buffer);
      this.makeIdle(buffer);
    }
  }

  /** Moves a live buffer to the context-lifetime set: out of `liveBytes`, never released, destroyed with the pool. */
  pin(buffer: GPUBuffer): void {
    if (!this.live.delete(buffer)) return;
    const size = this.sizeOf(buffer);
    this.liveBytes -= size;
    this.pinned.add(buffer);
    this.pinnedBytes += size;
  }

  /** The allocated (size-class) byte size of a buffer this pool made, without a native call. */
  sizeOf(buffer: GPUBuffer): number {
    return this.facts.get(buffer)?.size ?? buffer.size;
  }

  /** True when no unsubmitted command can use `buffer`, so `queue.writeBuffer` into it is safe. */
  isClean(buffer: GPUBuffer): boolean {
    return !this.releasedSinceSubmit.has(buffer);
  }

  private makeIdle(buffer: GPUBuffer): void {
    const { key, serial, size } = this.facts.get(buffer)!;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    // Binary search for the place that keeps the list sorted by descending serial.
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.serial > serial) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, { buffer, serial, since: this.submits });
    this.pooledBytes += size;
    this.pooledBuffers++;
  }

  /** Called by the context right after `queue.submit`: ends quarantines and applies the trimming policy. */
  afterSubmit(): void {
    this.submits++;
    for (const buffer of this.quarantine) this.makeIdle(buffer);
    this.quarantine = [];
    if (this.releasedSinceSubmit.size) this.releasedSinceSubmit = new Set();
    this.applyPolicy();
  }

  private applyPolicy(): void {
    const { maxIdleBytes, maxIdleSubmits } = this.policy;
    const oldest = this.submits - maxIdleSubmits;
    let over = this.pooledBytes - maxIdleBytes;
    if (over <= 0 && !this.hasIdleOlderThan(oldest)) return;
    const all: IdleBuffer[] = [];
    for (const list of this.free.values()) for (const e of list) all.push(e);
    all.sort((a, b) => a.since - b.since);
    const doomed = new Set<GPUBuffer>();
    for (const e of all) {
      if (e.since < oldest || over > 0) {
        doomed.add(e.buffer);
        over -= this.sizeOf(e.buffer);
      } else {
        break;
      }
    }
    this.destroyIdle((b) => doomed.has(b));
  }

  private hasIdleOlderThan(since: number): boolean {
    for (const list of this.free.values()) for (const e of list) if (e.since < since) return true;
    return false;
  }

  private destroyIdle(which: (b: GPUBuffer) => boolean): void {
    for (const [key, list] of this.free) {
      const keep = list.filter((e) => {
        if (!which(e.buffer)) return true;
        const size = this.sizeOf(e.buffer);
        this.pooledBytes -= size;
        this.pooledBuffers--;
        this.trimmedBuffers++;
        this.trimmedBytes += size;
        this.onDestroy(e.buffer);
        e.buffer.destroy();
        return false;
      });
      if (keep.length) this.free.set(key, keep);
      else this.free.delete(key);
    }
  }

  /** Destroys idle buffers (free lists only; quarantined ones wait for submit). */
  trim(): void {
    this.destroyIdle(() => true);
  }

  stats(): PoolStats {
    return {
      liveBuffers: this.live.size,
      liveBytes: this.liveBytes,
      pooledBuffers: this.pooledBuffers,
      pooledBytes: this.pooledBytes,
      peakLiveBytes: this.peak,
      constantBytes: this.pinnedBytes,
      buffersCreated: this.created,
      buffersTrimmed: this.trimmedBuffers,
      bytesTrimmed: this.trimmedBytes,
    };
  }

  resetPeak(): void {
    this.peak = this.liveBytes;
  }

  /** Destroys everything, live buffers included (device teardown). */
  destroyAll(): void {
    this.trim();
    for (const b of this.live) b.destroy();
    for (const b of this.quarantine) b.destroy();
    for (const b of this.pinned) b.destroy();
    this.pinned.clear();
    this.pinnedBytes = 0;
    this.live.clear();
    this.quarantine = [];
    this.releasedSinceSubmit.clear();
    this.liveBytes = 0;
  }
}
