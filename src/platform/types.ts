/**
 * What ghostgrad needs from its host beyond WebGPU: Dawn, files, HDF5 and
 * progress bars. The package resolves `#platform` (package.json "imports")
 * to `node.ts` under the `node` condition and to `browser.ts` everywhere
 * else, so that bundlers building for a page never meet `node:*` modules,
 * Dawn or cli-progress.
 *
 * @module
 */

/** The part of Dawn's module (npm `webgpu`) that `createGpu` uses. */
export interface DawnModule {
  create(args: string[]): GPU;
  globals: Record<string, unknown>;
}

/** A progress reporter for `total` units of work. */
export interface Progress {
  /** Sets the completed count and optional extra fields shown after the bar (e.g. loss). */
  update(done: number, fields?: Record<string, string | number>): void;
  stop(): void;
}

/** A temporary file holding given bytes, and how to remove it. */
export interface TempFile {
  readonly path: string;
  remove(): Promise<void>;
}

export interface HostPlatform {
  readonly kind: 'node' | 'browser';
  /** Loads Dawn; rejects where there is none (browsers). */
  loadDawn(): Promise<DawnModule>;
  /** The contents of a file. */
  readFile(path: string): Promise<Uint8Array>;
  /** The bytes at a URL: `file:` URLs read from disk (Node), others fetched. */
  readUrl(url: URL): Promise<Uint8Array>;
  /**
   * Writes a file through a temporary file in the same folder and a rename,
   * so a reader never sees a partial file and a failed write leaves the old
   * file as it was.
   */
  writeFileAtomic(path: string, bytes: Uint8Array): Promise<void>;
  /** The first `n` bytes of a regular file, or null when `path` is not one. */
  readHead(path: string, n: number): Promise<Uint8Array | null>;
  /** Writes `bytes` to a new temporary file. */
  tempFile(bytes: Uint8Array, name: string): Promise<TempFile>;
  /** The h5wasm module that reads host files (Node's NODERAWFS build). */
  loadH5wasm(): Promise<unknown>;
  /** A progress bar on the terminal (plain lines in logs), or null where there is none. */
  progress(label: string, total: number): Promise<Progress | null>;
}
