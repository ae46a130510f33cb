/**
 * Paths the CLI needs: its own package, the files shipped with it, and a
 * check that an output location can be written before any work starts.
 *
 * @module
 */
import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommanderError } from 'commander';

/** The package root (the folder holding package.json), in a checkout or an installed package. */
export const packageRoot = fileURLToPath(new URL('../../', import.meta.url));

/** The package's version, from its package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(resolve(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

/** A file shipped with the package, as an absolute path (for help texts and defaults). */
export function shippedPath(relative: string): string {
  return resolve(packageRoot, relative);
}

function refuse(flag: string, path: string, why: string): never {
  throw new CommanderError(2, 'ghostgrad.out', `${flag}: cannot write ${JSON.stringify(path)}: ${why}`);
}

function writableFolder(flag: string, folder: string, shown: string): void {
  try {
    accessSync(folder, constants.W_OK);
  } catch (e) {
    refuse(flag, shown, `its folder ${JSON.stringify(folder)} is not writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/**
 * Checks that `path` can be written as a file: its folder exists and is
 * writable, and the path is not a folder. Throws a usage error (exit 2)
 * naming the flag, before any work is done.
 */
export function checkOutputFile(flag: string, path: string): void {
  const full = resolve(path);
  if (existsSync(full) && statSync(full).isDirectory()) refuse(flag, path, 'it is a folder; give a file name');
  const folder = dirname(full);
  if (!existsSync(folder)) refuse(flag, path, `its folder ${JSON.stringify(folder)} does not exist`);
  if (!statSync(folder).isDirectory()) refuse(flag, path, `${JSON.stringify(folder)} is not a folder`);
  writableFolder(flag, folder, path);
}

/** Creates the output folder `path` if needed and checks it is writable (usage error, exit 2, otherwise). */
export function prepareOutputFolder(flag: string, path: string): void {
  const full = resolve(path);
  try {
    mkdirSync(full, { recursive: true });
  } catch (e) {
    refuse(flag, path, `it cannot be created (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (!statSync(full).isDirectory()) refuse(flag, path, 'it is a file; give a folder');
  writableFolder(flag, full, path);
}
