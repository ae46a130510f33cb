// Every ```js block in the README and docs/*.md is executed, so that the
// documentation cannot rot. Blocks import from 'ghostgrad', which Node
// resolves to this package's own dist/ (package self-reference via
// "exports"); `npm test` builds dist/ first. A block preceded by an HTML
// comment `<!-- no-run -->` is skipped (for browser-only or long examples).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url);
const docs = ['README.md', ...readdirSync(new URL('docs/', root)).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

function snippets(file: string): { line: number; code: string }[] {
  const text = readFileSync(new URL(file, root), 'utf8');
  const out: { line: number; code: string }[] = [];
  const re = /(<!--\s*no-run\s*-->\s*\n)?```js\n([\s\S]*?)```/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[1]) continue;
    out.push({ line: text.slice(0, m.index).split('\n').length, code: m[2]! });
  }
  return out;
}

const dir = new URL('test/.snippets/', root);
mkdirSync(dir, { recursive: true });

describe('documentation snippets run', () => {
  for (const file of docs) {
    for (const { line, code } of snippets(file)) {
      it(`${file}:${line}`, () => {
        const path = new URL(`${file.replace(/[/.]/g, '_')}_${line}.mjs`, dir);
        writeFileSync(path, code);
        const out = execFileSync(process.execPath, [path.pathname], { encoding: 'utf8', timeout: 120_000, stdio: 'pipe' });
        expect(typeof out).toBe('string');
      });
    }
  }
});
