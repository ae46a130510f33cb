// The published package, as a consumer meets it: `npm pack`, install the
// tarball into a fresh project, import it from plain ESM JavaScript, from
// CommonJS and from strict TypeScript (skipLibCheck off, no `types` entry,
// under node16, nodenext and bundler resolution), and run a kernel forward
// and backward. publint checks the package.json "exports"/"files" against
// the packed contents.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packAndInstall, repoRoot as repo, repoVersionOf, type PackedConsumer } from '../helpers/pack.js';

let packed: PackedConsumer;
let work = '';
let files: readonly string[] = [];

beforeAll(() => {
  // The consumer installs only the tarball and a compiler: WebGPU's types
  // must arrive with the package.
  packed = packAndInstall([`typescript@${repoVersionOf('typescript')}`]);
  ({ work, files } = packed);
}, 300_000);

afterAll(() => packed?.remove());

const program = (ext: 'js' | 'ts') => `
import { createGpu, tensor, matmul, sum, backward } from 'ghostgrad';
const ctx = await createGpu();
const a = tensor(ctx, [1, 2, 3, 4], [2, 2], { requiresGrad: true });
const b = tensor(ctx, [5, 6, 7, 8], [2, 2]);
const loss = sum(matmul(a, b));
backward(loss);
const g = await a.grad${ext === 'ts' ? '!' : ''}.read();
${ext === 'ts' ? "// read() is typed by dtype: these annotations fail to compile if it returns a union.\nconst lossHost: Float32Array = await loss.read();\nconst ints: Int32Array = await tensor(ctx, Int32Array.of(7)).read();\nconsole.log(JSON.stringify({ loss: Array.from(lossHost), grad: Array.from(g), ints: Array.from(ints) }));" : 'console.log(JSON.stringify({ loss: Array.from(await loss.read()), grad: Array.from(g) }));'}
await ctx.dispose();
`;

describe('packed package', () => {
  it('contains compiled JS, declarations and embedded WGSL, and no tests or benches', () => {
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/index.d.ts');
    expect(files).toContain('dist/wgsl/sources.generated.js');
    expect(files).toContain('dist/cli/main.js');
    expect(files.some((f) => f.startsWith('test/') || f.startsWith('bench/') || f.startsWith('src/'))).toBe(false);
    expect(files.some((f) => f.endsWith('.wgsl'))).toBe(false);
  });

  it('imports from plain ESM JavaScript and runs forward and backward', () => {
    const app = join(work, 'app');
    writeFileSync(join(app, 'main.mjs'), program('js'));
    const out = JSON.parse(execFileSync('node', ['main.mjs'], { cwd: app, encoding: 'utf8' })) as { loss: number[]; grad: number[] };
    // Σ (A·B) = Σ_ik a_ik · (row sum k of B): 1·11 + 2·15 + 3·11 + 4·15
    expect(out.loss).toEqual([134]);
    expect(out.grad).toEqual([11, 15, 11, 15]);
  });

  it.each([
    ['node16', 'Node16'],
    ['nodenext', 'NodeNext'],
    ['bundler', 'ESNext'],
  ])('type-checks strictly under %s resolution with no types entry, and runs', (resolution, module) => {
    const app = join(work, 'app');
    writeFileSync(join(app, 'main.ts'), program('ts'));
    const outDir = `out-${resolution}`;
    writeFileSync(
      join(app, `tsconfig.${resolution}.json`),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module, moduleResolution: resolution, strict: true, skipLibCheck: false, outDir },
        files: ['main.ts'],
      }),
    );
    execFileSync(join(app, 'node_modules/.bin/tsc'), ['-p', `tsconfig.${resolution}.json`], { cwd: app, encoding: 'utf8' });
    const out = JSON.parse(execFileSync('node', [`${outDir}/main.js`], { cwd: app, encoding: 'utf8' })) as { grad: number[]; ints: number[] };
    expect(out.grad).toEqual([11, 15, 11, 15]);
    expect(out.ints).toEqual([7]);
  });

  it('loads from CommonJS through require(esm) (Node >= 20.19)', () => {
    const app = join(work, 'app');
    writeFileSync(join(app, 'main.cjs'), "const g = require('ghostgrad'); console.log(typeof g.createGpu, typeof g.tensor);\n");
    expect(execFileSync('node', ['main.cjs'], { cwd: app, encoding: 'utf8' }).trim()).toBe('function function');
  });

  it('ships declarations without source-map links or WGSL literal types', () => {
    const app = join(work, 'app');
    const dist = join(app, 'node_modules/ghostgrad/dist');
    expect(files.some((f) => f.endsWith('.map'))).toBe(false);
    expect(readFileSync(join(dist, 'index.d.ts'), 'utf8')).not.toContain('sourceMappingURL');
    expect(readFileSync(join(dist, 'index.js'), 'utf8')).not.toContain('sourceMappingURL');
    // The WGSL map is typed by its names, not by its 220 kB of sources.
    expect(readFileSync(join(dist, 'wgsl/sources.generated.d.ts'), 'utf8').length).toBeLessThan(4096);
  });

  it('builds a browser page with Vite from the tarball, with no Node module in it and no warning but chunk size', async () => {
    const app = join(packed.app, 'vite-page');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(join(app, 'index.html'), '<!doctype html><script type="module" src="./main.js"></script>\n');
    writeFileSync(join(app, 'main.js'), "import { createGpu, matmul, submanifoldConv3d } from 'ghostgrad';\nconsole.log(createGpu, matmul, submanifoldConv3d);\n");
    const { build, createLogger } = await import('vite');
    const logger = createLogger('warn', { allowClearScreen: false });
    const warnings: string[] = [];
    logger.warn = (msg) => void warnings.push(msg);
    logger.warnOnce = (msg) => void warnings.push(msg);
    await build({ root: app, logLevel: 'warn', customLogger: logger, build: { outDir: join(app, 'out') } });
    // Vite's advice to split chunks over 500 kB is about size, which the
    // bundle-size work (lazy WGSL, build-time reflection) has yet to bring down.
    expect(warnings.filter((w) => !w.includes('larger than 500 kB'))).toEqual([]);
    const js = readdirSync(join(app, 'out/assets')).filter((f) => f.endsWith('.js'));
    expect(js.length).toBeGreaterThan(0);
    for (const f of js) {
      const code = readFileSync(join(app, 'out/assets', f), 'utf8');
      expect(code).not.toMatch(/node:(fs|os|path|url)/);
      expect(code).not.toContain('NODERAWFS');
    }
  });

  it('the installed CLI gives its version, hides bench (no suites ship) but explains it, has provision, and its help examples exist', () => {
    const bin = join(packed.app, 'node_modules/.bin/ghostgrad');
    const version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
    expect(version).toBe((JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string }).version);
    const help = execFileSync(bin, ['--help'], { encoding: 'utf8' });
    expect(help).toContain('photon-mc');
    expect(help).not.toMatch(/^\s+bench\b/m);
    let bench = '';
    try {
      execFileSync(bin, ['bench'], { encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      bench = String((e as { stderr: string }).stderr);
    }
    expect(bench).toContain('benchmarks ship with the source repository');
    const example = /--detector (\S+\.json)/.exec(execFileSync(bin, ['photon-mc', '--help'], { encoding: 'utf8' }))?.[1];
    expect(example).toContain(join(packed.app, 'node_modules/ghostgrad/examples/detectors/'));
    expect(readFileSync(example!, 'utf8')).toContain('"photodetectors"');
    // NoAdapterError's advice is a command the installed package has.
    expect(help).toContain('provision');
    expect(files).toContain('scripts/provision-lavapipe.sh');
  });

  it('reaches the shipped models: by export path, and by name through loadPretrainedUResNet', () => {
    const app = packed.app;
    writeFileSync(
      join(app, 'pretrained.mjs'),
      `import { createGpu, loadPretrainedUResNet } from 'ghostgrad';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const file = fileURLToPath(import.meta.resolve('ghostgrad/examples/uresnet/uresnet-d4f16.safetensors'));
const ctx = await createGpu();
const model = await loadPretrainedUResNet(ctx, 'uresnet-d4f16');
console.log(JSON.stringify({ bytes: statSync(file).size, depth: model.config.depth, filters: model.config.filters }));
model.dispose();
await ctx.dispose();
`,
    );
    const out = JSON.parse(execFileSync('node', ['pretrained.mjs'], { cwd: app, encoding: 'utf8' })) as { bytes: number; depth: number; filters: number };
    expect(out.bytes).toBeGreaterThan(2_000_000);
    expect([out.depth, out.filters]).toEqual([4, 16]);
  });

  it('builds a browser bundle with webpack 5 from the tarball with no warning, and emits the pretrained models as assets', async () => {
    const { default: webpack } = await import('webpack');
    const app = join(packed.app, 'webpack-page');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(join(app, 'main.js'), "import { createGpu, matmul, loadPretrainedUResNet } from 'ghostgrad';\nconsole.log(createGpu, matmul, loadPretrainedUResNet);\n");
    const stats = await new Promise<import('webpack').Stats>((resolve, reject) => {
      const compiler = webpack({
        mode: 'production',
        target: 'web',
        context: packed.app,
        entry: join(app, 'main.js'),
        output: { path: join(app, 'out'), filename: 'app.js' },
        // Size advice only (the bundle-size test below budgets the size).
        performance: { hints: false },
      });
      compiler.run((err, result) => (err || !result ? reject(err ?? new Error('webpack gave no result')) : compiler.close(() => resolve(result))));
    });
    const info = stats.toJson({ all: false, warnings: true, errors: true, assets: true });
    expect(info.errors ?? []).toEqual([]);
    expect(info.warnings ?? []).toEqual([]);
    // loadPretrainedUResNet's new URL(…, import.meta.url) becomes emitted assets, so the page can fetch the models.
    expect((info.assets ?? []).filter((x) => x.name.endsWith('.safetensors'))).toHaveLength(2);
    const code = readFileSync(join(app, 'out/app.js'), 'utf8');
    expect(code).not.toMatch(/node:(fs|os|path|url)/);
  });

  it('bundle sizes stay within their budgets (esbuild, minified, gzip -9): matmul only, and everything', async () => {
    const esbuild = await import('esbuild');
    const { gzipSync } = await import('node:zlib');
    const app = packed.app;
    const entries = {
      matmul: "import { createGpu, tensor, matmul } from 'ghostgrad';\nconst ctx = await createGpu();\nconsole.log(await matmul(tensor(ctx, [1], [1, 1]), tensor(ctx, [1], [1, 1])).read());\n",
      everything: "import * as gg from 'ghostgrad';\nconsole.log(gg);\n",
    };
    const sizes: Record<string, number> = {};
    for (const [name, code] of Object.entries(entries)) {
      writeFileSync(join(app, `size-${name}.js`), code);
      const r = await esbuild.build({ entryPoints: [join(app, `size-${name}.js`)], bundle: true, minify: true, platform: 'browser', format: 'esm', write: false, logLevel: 'silent', absWorkingDir: app });
      sizes[name] = gzipSync(r.outputFiles[0]!.contents, { level: 9 }).byteLength;
    }
    console.log(`bundle sizes (gzip): ${JSON.stringify(sizes)}`);
    // Budgets: today's sizes plus about 5 %, so that growth is a decision. The
    // issue's guide for matmul alone is 60 kB; it needs the WGSL loaded per
    // kernel family and the reflection done at build time (docs/benchmarks.md).
    expect(sizes['matmul']).toBeLessThan(160_000);
    expect(sizes['everything']).toBeLessThan(255_000);
  });

  it('@arethetypeswrong/cli finds no problem for an ESM-only package (node16 from ESM, bundler)', () => {
    // The esm-only profile leaves out node10 (no "exports" support) and
    // node16-from-CJS: CommonJS reaches the package through require(esm)
    // (Node >= 20.19), which attw reports as CJSResolvesToESM.
    const bin = join(repo, 'node_modules/.bin/attw');
    let out = '';
    let code = 0;
    try {
      out = execFileSync(bin, [packed.tarball, '--profile', 'esm-only', '--format', 'json'], { encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      out = String((e as { stdout?: string }).stdout ?? '');
      code = (e as { status?: number }).status ?? 1;
    }
    const { problems } = JSON.parse(out) as { problems: Record<string, { resolutionKind: string }[]> };
    const counted = Object.values(problems).flat().filter((p) => p.resolutionKind !== 'node10' && p.resolutionKind !== 'node16-cjs');
    expect(counted).toEqual([]);
    expect(code).toBe(0);
  });

  it('runs every README example verbatim against the installed tarball', () => {
    const readme = readFileSync(join(repo, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/(<!--\s*no-run\s*-->\s*\n)?```js\n([\s\S]*?)```/g)].filter((m) => !m[1]).map((m) => m[2]!);
    expect(blocks.length).toBeGreaterThanOrEqual(4);
    blocks.forEach((code, i) => {
      const file = join(packed.app, `readme-${i}.mjs`);
      writeFileSync(file, code);
      execFileSync('node', [file], { cwd: packed.app, encoding: 'utf8', stdio: 'pipe', timeout: 120_000 });
    });
  }, 300_000);

  it('passes publint', async () => {
    const { publint } = await import('publint');
    const { messages } = await publint({ pkgDir: repo, strict: true, pack: 'npm' });
    const problems = messages.filter((m) => m.type === 'error' || m.type === 'warning');
    expect(problems).toEqual([]);
  });

  it('lists the packed files for inspection', () => {
    expect(readdirSync(work).some((f) => f.endsWith('.tgz'))).toBe(true);
  });
});
