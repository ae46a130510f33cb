// The host modules behind `#platform`: Node's atomic file writes, and the
// browser module's refusals, which must name what to pass instead.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputValueError, NoAdapterError } from '../../src/errors.js';
import { platform as browser } from '../../src/platform/browser.js';
import { platform as node } from '../../src/platform/node.js';

const dir = mkdtempSync(join(tmpdir(), 'ghostgrad-platform-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('Node platform: writeFileAtomic', () => {
  it('writes the bytes, replaces an old file, and leaves no temporary file', async () => {
    const path = join(dir, 'a.bin');
    await node.writeFileAtomic(path, Uint8Array.of(1, 2, 3));
    await node.writeFileAtomic(path, Uint8Array.of(4, 5));
    expect(Array.from(readFileSync(path))).toEqual([4, 5]);
    expect(readdirSync(dir)).toEqual(['a.bin']);
  });

  it('keeps the previous file whole when the write fails, and cleans up', async () => {
    const path = join(dir, 'keep.bin');
    writeFileSync(path, Uint8Array.of(9, 9, 9));
    // Not bytes: the write of the temporary file throws before the rename.
    await expect(node.writeFileAtomic(path, {} as Uint8Array)).rejects.toThrow();
    expect(Array.from(readFileSync(path))).toEqual([9, 9, 9]);
    // The target is a folder: the rename fails, the folder stays as it was.
    const folder = join(dir, 'folder');
    mkdirSync(folder);
    writeFileSync(join(folder, 'inside'), 'x');
    await expect(node.writeFileAtomic(folder, Uint8Array.of(1))).rejects.toThrow();
    expect(readdirSync(folder)).toEqual(['inside']);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('readHead gives the first bytes of a file and null for a missing path or a folder', async () => {
    const path = join(dir, 'head.bin');
    writeFileSync(path, Uint8Array.of(1, 2, 3, 4));
    expect(Array.from((await node.readHead(path, 2))!)).toEqual([1, 2]);
    expect(Array.from((await node.readHead(path, 8))!)).toEqual([1, 2, 3, 4]);
    expect(await node.readHead(join(dir, 'missing'), 8)).toBeNull();
    expect(await node.readHead(dir, 8)).toBeNull();
  });
});

describe('browser platform', () => {
  it('has no files and no Dawn, and says what to do instead', async () => {
    await expect(browser.readFile('/x.safetensors')).rejects.toThrow(InputValueError);
    await expect(browser.readFile('/x.safetensors')).rejects.toThrow(/pass the file's bytes/);
    await expect(browser.writeFileAtomic('/x', Uint8Array.of(1))).rejects.toThrow(/pass the file's bytes/);
    await expect(browser.loadDawn()).rejects.toThrow(NoAdapterError);
    await expect(browser.loadH5wasm()).rejects.toThrow(/h5wasm: await import\('h5wasm'\)/);
    expect(await browser.progress('train', 10)).toBeNull();
  });
});
