// The package as a consumer installs it: `npm pack` of the built tree, then
// `npm install` of the tarball into a fresh project (dependencies from the
// local npm cache filled by `npm ci`). Tests of the published package use
// this, never src/.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

export interface PackedConsumer {
  /** Temporary folder holding the tarball and the app. */
  readonly work: string;
  readonly tarball: string;
  /** Paths inside the tarball. */
  readonly files: readonly string[];
  /** The consumer project, with ghostgrad installed from the tarball. */
  readonly app: string;
  remove(): void;
}

/** Packs the repository and installs the tarball, plus `extra` packages, into a new project. */
export function packAndInstall(extra: readonly string[] = []): PackedConsumer {
  const work = mkdtempSync(join(tmpdir(), 'ghostgrad-pack-'));
  const out = execFileSync(npm, ['pack', '--json', '--pack-destination', work], { cwd: repoRoot, encoding: 'utf8' });
  const info = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
  const tarball = join(work, info[0]!.filename);
  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module', private: true }));
  execFileSync(npm, ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, ...extra], { cwd: app, stdio: 'pipe' });
  return { work, tarball, files: info[0]!.files.map((f) => f.path), app, remove: () => rmSync(work, { recursive: true, force: true }) };
}

/** The version of a package installed in the repository, for installing the same one elsewhere. */
export function repoVersionOf(name: string): string {
  return (JSON.parse(execFileSync('node', ['-p', `JSON.stringify(require(${JSON.stringify(name + '/package.json')}))`], { cwd: repoRoot, encoding: 'utf8' })) as { version: string }).version;
}
