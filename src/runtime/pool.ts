/**
 * Size-class GPU buffer pool.
 *
 * Tensors come and go every training step; creating and destroying GPUBuffers
 * at that rate costs driver calls and fragments memory. Released buffers go
 * back to a free list keyed by (usage, size class) and are handed out again.
 *
 * A buffer released while commands that use it are still being encoded must
 * not be reused before those commands are submitted: an upload through
 * `queue.writeBuffer` would land *before* the unsubmitted commands read the
 * old contents. Released buffers therefore wait in a quarantine list until
 * the context submits (`afterSubmit`).
 *
 * @module
 */

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

export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private quarantine: GPUBuffer[] = [];
  private readonly live = new Set<GPUBuffer>();
  private liveBytes = 0;
  private pooledBytes = 0;
  private peak = 0;

  constructor(private readonly device: GPUDevice) {}

  /** A buffer of at least `bytes` bytes with exactly `usage`. */
  acquire(bytes: number, usage: GPUBufferUsageFlags, label?: string): GPUBuffer {
    const size = sizeClass(bytes);
    const key = `${usage}:${size}`;
    const list = this.free.get(key);
    let buffer = list?.pop();
    if (buffer) {
      this.pooledBytes -= size;
    } else {
      buffer = this.device.createBuffer({ size, usage, ...(label ? { label } : {}) });
    }
    this.live.add(buffer);
    this.liveBytes += size;
    this.peak = Math.max(this.peak, this.liveBytes);
    return buffer;
  }

  /** Returns a buffer; it becomes reusable after the next submit. */
  release(buffer: GPUBuffer): void {
    if (!this.live.delete(buffer)) return;
    this.liveBytes -= buffer.size;
    this.quarantine.push(buffer);
  }

  /** Called by the context right after `queue.submit`. */
  afterSubmit(): void {
    for (const buffer of this.quarantine) {
      const key = `${buffer.usage}:${buffer.size}`;
      let list = this.free.get(key);
      if (!list) this.free.set(key, (list = []));
      list.push(buffer);
      this.pooledBytes += buffer.size;
    }
    this.quarantine = [];
  }

  /** Destroys idle buffers (free lists only; quarantined ones wait for submit). */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.pooledBytes = 0;
  }

  stats(): PoolStats {
    let pooledBuffers = 0;
    for (const list of this.free.values()) pooledBuffers += list.length;
    return {
      liveBuffers: this.live.size,
      liveBytes: this.liveBytes,
      pooledBuffers,
      pooledBytes: this.pooledBytes,
      peakLiveBytes: this.peak,
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
    this.live.clear();
    this.quarantine = [];
    this.liveBytes = 0;
  }
}
