/**
 * The Node host (see `types.ts`): Dawn from npm `webgpu`, `node:fs` files,
 * h5wasm's Node build and cli-progress bars.
 *
 * @module
 */
import { mkdtemp, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchBytes } from './fetch.js';
import type { DawnModule, HostPlatform, Progress, TempFile } from './types.js';

let tempSerial = 0;


export const platform: HostPlatform = {
  kind: 'node',
  async loadDawn(): Promise<DawnModule> {
    return (await import('webgpu')) as unknown as DawnModule;
  },
  async readFile(path: string): Promise<Uint8Array> {
    const buf = await readFile(path);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  },
  async readUrl(url: URL): Promise<Uint8Array> {
    if (url.protocol === 'file:') return platform.readFile(fileURLToPath(url));
    return fetchBytes(url);
  },
  async writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
    // Same folder, so the rename stays on one filesystem and is atomic.
    const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${++tempSerial}.tmp`);
    try {
      await writeFile(temp, bytes);
      await rename(temp, path);
    } catch (e) {
      await rm(temp, { force: true });
      throw e;
    }
  },
  async readHead(path: string, n: number): Promise<Uint8Array | null> {
    const st = await stat(path).catch(() => null);
    if (!st?.isFile()) return null;
    const fh = await open(path, 'r');
    try {
      const head = new Uint8Array(n);
      const { bytesRead } = await fh.read(head, 0, n, 0);
      return head.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  },
  async tempFile(bytes: Uint8Array, name: string): Promise<TempFile> {
    const dir = await mkdtemp(join(tmpdir(), 'ghostgrad-'));
    const remove = () => rm(dir, { recursive: true, force: true });
    const path = join(dir, name);
    try {
      await writeFile(path, bytes);
    } catch (e) {
      await remove();
      throw e;
    }
    return { path, remove };
  },
  async loadH5wasm(): Promise<unknown> {
    // h5wasm is an optional peer dependency: only HDF5 loaders need it.
    return import('h5wasm/node');
  },
  async progress(label: string, total: number): Promise<Progress | null> {
    // Loaded on first use: cli-progress is start-up cost for programs that never train.
    return (await import('../cli/progress.js')).progress(label, total);
  },
};
