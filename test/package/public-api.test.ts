// The package's public surface is pinned: the run-time exports of 'ghostgrad'
// and 'ghostgrad/reference' (names and kinds) must equal
// test/package/public-api.json, so that any change to them is deliberate.
// After an intended change: UPDATE_PUBLIC_API=1 npx vitest run test/package/public-api.test.ts
// The API documentation must build with no warning (every type in an
// exported signature exported, every link resolved).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const pinned = new URL('./public-api.json', import.meta.url);
const root = new URL('../../', import.meta.url);

/** name → kind for every run-time export of a module, sorted by name. */
async function surface(specifier: string): Promise<Record<string, string>> {
  const m = (await import(specifier)) as Record<string, unknown>;
  return Object.fromEntries(
    Object.keys(m)
      .sort()
      .map((k) => {
        const v = m[k];
        const kind = typeof v === 'function' ? (/^class\b/.test(Function.prototype.toString.call(v)) ? 'class' : 'function') : typeof v;
        return [k, kind];
      }),
  );
}

describe('public API', () => {
  it("the exports of 'ghostgrad' and 'ghostgrad/reference' are the pinned ones", async () => {
    // Through the package's own "exports" (self-reference), as a consumer resolves them; built by npm test.
    const now = { ghostgrad: await surface('ghostgrad'), 'ghostgrad/reference': await surface('ghostgrad/reference') };
    if (process.env['UPDATE_PUBLIC_API']) writeFileSync(pinned, JSON.stringify(now, null, 2) + '\n');
    const expected = JSON.parse(readFileSync(pinned, 'utf8')) as typeof now;
    expect(now).toEqual(expected);
  });

  it('the reference subpath holds the float64 oracles, the root none of its internals', async () => {
    const { ghostgrad, 'ghostgrad/reference': reference } = JSON.parse(readFileSync(pinned, 'utf8')) as Record<string, Record<string, string>>;
    for (const name of ['sirenForwardRef', 'chainForward', 'propagateReference', 'conv3dReference', 'mulhi32']) {
      if (name in reference!) expect(reference![name]).toBe('function');
    }
    expect(Object.keys(reference!).length).toBeGreaterThan(50);
    for (const internal of ['crc32', 'resolveGpuOptions']) expect(ghostgrad, internal).not.toHaveProperty(internal);
  });

  it('typedoc builds the API documentation of both entry points with no warning', () => {
    const out = execFileSync(process.execPath, [new URL('node_modules/typedoc/bin/typedoc', root).pathname, '--emit', 'none', '--treatWarningsAsErrors', '--logLevel', 'Warn'], {
      cwd: root,
      encoding: 'utf8',
      stdio: 'pipe',
    });
    expect(out).not.toMatch(/warning|error/i);
  }, 120_000);
});
