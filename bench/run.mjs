// `npm run bench [suite ...]`: runs bench/<suite>.bench.mjs files one after
// another, each in its own process (Dawn state and memory start clean), and
// leaves JSON + Markdown in bench/results/.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const all = readdirSync(dir).filter((f) => f.endsWith('.bench.mjs')).map((f) => f.replace('.bench.mjs', '')).sort();
const wanted = process.argv.slice(2);
for (const w of wanted) {
  if (!all.includes(w)) {
    console.error(`unknown benchmark suite ${JSON.stringify(w)}; available: ${all.join(', ')}`);
    process.exit(2);
  }
}
let failed = 0;
for (const suite of wanted.length ? wanted : all) {
  console.log(`\n=== bench: ${suite}`);
  const r = spawnSync(process.execPath, [`${dir}${suite}.bench.mjs`], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
