// The CLI is tested as a user meets it: the built bin, run as a process.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000 });

describe('ghostgrad CLI', () => {
  it('--help lists every command', () => {
    const r = run('--help');
    expect(r.status).toBe(0);
    for (const c of ['info', 'demo', 'bench']) expect(r.stdout).toContain(c);
  });

  for (const c of ['info', 'demo', 'bench']) {
    it(`${c} --help explains the command`, () => {
      const r = run(c, '--help');
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`Usage: ghostgrad ${c}`);
    });
  }

  it('unknown flags and commands are errors with a non-zero exit', () => {
    const flag = run('demo', '--bogus');
    expect(flag.status).toBe(2);
    expect(flag.stderr).toContain("unknown option '--bogus'");
    const cmd = run('frobnicate');
    expect(cmd.status).toBe(2);
    expect(cmd.stderr).toContain("unknown command 'frobnicate'");
    const steps = run('demo', '--fit-steps', 'many');
    expect(steps.status).toBe(2);
    expect(steps.stderr).toContain('--fit-steps must be an integer');
    const finetune = run('demo', '--finetune', '-1');
    expect(finetune.status).toBe(2);
    expect(finetune.stderr).toContain('--finetune must be an integer ≥ 0');
  });

  it('--version prints the package version', () => {
    const r = run('--version');
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe((JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version);
  });

  it('demo refuses an output folder it cannot create, in one line, before any work', () => {
    const file = join(tmpdir(), `ghostgrad-cli-file-${process.pid}`);
    writeFileSync(file, 'x');
    try {
      const r = run('demo', '--out', join(file, 'sub'));
      expect(r.status).toBe(2);
      expect(r.stderr.trim()).toMatch(/^error: --out: cannot write ".*sub": it cannot be created \(ENOTDIR\)$/);
      expect(r.stdout).toBe('');
    } finally {
      rmSync(file, { force: true });
    }
  });

  it('info reports the adapter as JSON', () => {
    const r = run('info', '--json');
    expect(r.status).toBe(0);
    const parsed = JSON.parse(r.stdout) as { adapter: { isSoftware: boolean }; limits: Record<string, number> };
    expect(typeof parsed.adapter.isSoftware).toBe('boolean');
    expect(parsed.limits['maxStorageBufferBindingSize']).toBeGreaterThan(0);
  });

  it('bench rejects an unknown suite', () => {
    const r = run('bench', 'no-such-suite');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('unknown benchmark suite');
  });
});
