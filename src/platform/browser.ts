/**
 * The host everywhere but Node (see `types.ts`): browsers, workers, Deno
 * without the `node` condition. There is no filesystem and no Dawn, so the
 * file-path entry points reject with a message that says what to pass
 * instead, and nothing here imports a Node module or a Node-only package.
 *
 * @module
 */
import { InputValueError, NoAdapterError } from '../errors.js';
import { fetchBytes } from './fetch.js';
import type { DawnModule, HostPlatform, Progress, TempFile } from './types.js';

const noFiles = (what: string): Error =>
  new InputValueError(`${what} needs a filesystem, which this host (no Node) lacks; pass the file's bytes (Uint8Array, e.g. from fetch or a File) instead of a path`);

export const platform: HostPlatform = {
  kind: 'browser',
  loadDawn(): Promise<DawnModule> {
    return Promise.reject(new NoAdapterError('navigator.gpu is absent and there is no Dawn outside Node; use a browser with WebGPU enabled'));
  },
  readFile(path: string): Promise<Uint8Array> {
    return Promise.reject(noFiles(`reading ${JSON.stringify(path)}`));
  },
  readUrl: fetchBytes,
  writeFileAtomic(path: string): Promise<void> {
    return Promise.reject(noFiles(`writing ${JSON.stringify(path)}`));
  },
  readHead(path: string): Promise<Uint8Array | null> {
    return Promise.reject(noFiles(`reading ${JSON.stringify(path)}`));
  },
  tempFile(): Promise<TempFile> {
    return Promise.reject(noFiles('a temporary file'));
  },
  loadH5wasm(): Promise<unknown> {
    return Promise.reject(
      new InputValueError("outside Node, HDF5 loading takes the h5wasm module as an option: `{ h5wasm: await import('h5wasm') }` (npm install h5wasm)"),
    );
  },
  progress(): Promise<Progress | null> {
    return Promise.resolve(null);
  },
};
