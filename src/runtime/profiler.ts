/**
 * Per-kernel GPU time from timestamp queries.
 *
 * While enabled, every dispatch runs in its own compute pass with
 * `timestampWrites`, so the begin/end pair brackets exactly that kernel. The
 * query set is resolved at each submit and read back asynchronously; the
 * totals are keyed by kernel name.
 *
 * @module
 */

/** Accumulated GPU time of one kernel name. */
export interface KernelTiming {
  name: string;
  calls: number;
  totalMs: number;
  meanMs: number;
  minMs: number;
  maxMs: number;
}

/** Number of timestamp pairs one submit can hold before an early flush. */
export const PROFILER_CAPACITY = 1024;

export class Profiler {
  private querySet: GPUQuerySet | null = null;
  private resolveBuffer: GPUBuffer | null = null;
  private names: string[] = [];
  private readonly pending: Promise<void>[] = [];
  private readonly totals = new Map<string, KernelTiming>();
  private enabledFlag = false;

  constructor(
    private readonly device: GPUDevice,
    /** False when the device lacks `timestamp-query`. */
    readonly supported: boolean,
  ) {}

  get enabled(): boolean {
    return this.enabledFlag;
  }

  /** Starts timing; a no-op returning false without `timestamp-query`. */
  enable(): boolean {
    if (!this.supported) return false;
    if (!this.querySet) {
      this.querySet = this.device.createQuerySet({ type: 'timestamp', count: 2 * PROFILER_CAPACITY });
      this.resolveBuffer = this.device.createBuffer({
        size: 16 * PROFILER_CAPACITY,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      });
    }
    this.enabledFlag = true;
    return true;
  }

  disable(): void {
    this.enabledFlag = false;
  }

  /** True when no more passes fit before the next submit. */
  get full(): boolean {
    return this.names.length >= PROFILER_CAPACITY;
  }

  /** Timestamp writes for the next dispatch, or undefined when disabled. */
  nextPass(name: string): GPUComputePassTimestampWrites | undefined {
    if (!this.enabledFlag || !this.querySet) return undefined;
    const i = this.names.length;
    this.names.push(name);
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Appends the resolve + copy for this submit's queries to `encoder`. Returns a callback to run after submit. */
  encodeResolve(encoder: GPUCommandEncoder): (() => void) | null {
    const n = this.names.length;
    if (n === 0 || !this.querySet || !this.resolveBuffer) return null;
    const names = this.names;
    this.names = [];
    const readback = this.device.createBuffer({ size: 16 * n, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    encoder.resolveQuerySet(this.querySet, 0, 2 * n, this.resolveBuffer, 0);
    encoder.copyBufferToBuffer(this.resolveBuffer, 0, readback, 0, 16 * n);
    return () => {
      this.pending.push(
        readback.mapAsync(GPUMapMode.READ).then(() => {
          const ticks = new BigUint64Array(readback.getMappedRange().slice(0));
          readback.unmap();
          readback.destroy();
          for (let i = 0; i < n; i++) {
            const ms = Number(ticks[2 * i + 1]! - ticks[2 * i]!) / 1e6;
            const name = names[i]!;
            const t = this.totals.get(name) ?? { name, calls: 0, totalMs: 0, meanMs: 0, minMs: Infinity, maxMs: 0 };
            t.calls++;
            t.totalMs += ms;
            t.meanMs = t.totalMs / t.calls;
            t.minMs = Math.min(t.minMs, ms);
            t.maxMs = Math.max(t.maxMs, ms);
            this.totals.set(name, t);
          }
        }),
      );
    };
  }

  /** Waits for outstanding readbacks and returns totals, slowest first. */
  async report(): Promise<KernelTiming[]> {
    while (this.pending.length) await this.pending.shift();
    return [...this.totals.values()].map((t) => ({ ...t })).sort((a, b) => b.totalMs - a.totalMs);
  }

  reset(): void {
    this.totals.clear();
  }

  destroy(): void {
    this.querySet?.destroy();
    this.resolveBuffer?.destroy();
    this.querySet = null;
    this.resolveBuffer = null;
  }
}
