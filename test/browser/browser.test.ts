// The same package in a browser: Debian's Chromium, headless, driven by
// playwright-core, loads the package from a server on 127.0.0.1 and runs
// kernels on its WebGPU adapter (SwiftShader in CI). Results must match the
// Node run of the same workload. Two pages: the built dist/ as plain ES
// modules with an import map, and an esbuild bundle of the packed tarball
// built for the browser platform, which must build with no warnings.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as gg from '../../src/index.js';
import { testGpu } from '../helpers/gpu.js';
import { packAndInstall, type PackedConsumer } from '../helpers/pack.js';
// @ts-expect-error plain JS module shared with the page
import { browserWorkload } from './workload.js';

const CHROMIUM = '/usr/bin/chromium';
const root = fileURLToPath(new URL('../../', import.meta.url));
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env['CI']) throw new Error(`${CHROMIUM} is missing; scripts/provision-browser.sh installs it`);

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.map': 'application/json' };
let server: Server;
let origin = '';
let packed: PackedConsumer | null = null;

const bundlePage = `<!doctype html>
<meta charset="utf-8">
<title>ghostgrad browser bundle test</title>
<script type="module" src="/bundle/app.js"></script>
`;
const bundleEntry = `import * as gg from 'ghostgrad';
import { installWorkload } from './workload.js';
installWorkload(gg);
`;

/** Bundles a page's script from the packed package with esbuild, for the browser platform; returns the warnings. */
async function buildBundle(app: string): Promise<string[]> {
  writeFileSync(`${app}/entry.js`, bundleEntry);
  writeFileSync(`${app}/workload.js`, readFileSync(`${root}test/browser/workload.js`));
  writeFileSync(`${app}/page.html`, bundlePage);
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [`${app}/entry.js`],
    outfile: `${app}/app.js`,
    absWorkingDir: app,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    logLevel: 'silent',
  });
  return result.warnings.map((w) => w.text);
}

beforeAll(async () => {
  if (haveChromium) packed = packAndInstall();
  server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const allowed = ['/dist/', '/node_modules/wgsl_reflect/', '/node_modules/yaml/', '/test/browser/', '/bundle/'].some((p) => path.startsWith(p));
    const file = path.startsWith('/bundle/') && packed ? `${packed.app}/${path.slice('/bundle/'.length)}` : root + path.slice(1);
    if (!allowed || path.includes('..') || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 300_000);

afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  packed?.remove();
});

/** Opens `pagePath` in headless Chromium, runs its workload and checks it against the Node run. */
async function runPageAndCompare(pagePath: string): Promise<void> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--enable-unsafe-webgpu',
      '--enable-features=Vulkan',
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${origin}${pagePath}`);
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true, null, { timeout: 30_000 });
    const fromBrowser = (await page.evaluate(() => (window as unknown as { runWorkload(): Promise<unknown> }).runWorkload())) as {
      adapter: gg.AdapterSummary;
      results: Record<string, number[]>;
    };
    expect(errors).toEqual([]);
    const ctx = await testGpu();
    const fromNode = (await browserWorkload(gg, ctx)) as Record<string, number[]>;
    expect(Object.keys(fromBrowser.results).sort()).toEqual(Object.keys(fromNode).sort());
    const differences = Object.fromEntries(
      Object.entries(fromNode).map(([key, values]) => {
        const other = fromBrowser.results[key]!;
        expect(other.length, key).toBe(values.length);
        return [key, gg.maxRelativeError(other, values)];
      }),
    );
    console.log(`${pagePath}: relative differences browser vs Node: ${JSON.stringify(differences)}`);
    for (const [key, err] of Object.entries(differences)) {
      // Different adapters (SwiftShader in Chromium vs lavapipe or a GPU in
      // Node) round transcendental functions differently in the last ulps
      // and may contract a·b + c into fma or not. Plain arithmetic keeps
      // that at ~1e-6 of the largest magnitude; the SIREN's ω0 = 30 and the
      // drift chain's exp/erf of large arguments amplify it, hence 1e-3
      // there, still far below any real discrepancy (a wrong offset,
      // layout or missing term changes results by O(1)).
      const tolerance = key.startsWith('siren') || key.startsWith('drift') ? 1e-3 : 1e-5;
      expect(err, key).toBeLessThan(tolerance);
    }
    console.log(`browser adapter: ${JSON.stringify(fromBrowser.adapter)}`);
  } finally {
    await browser.close();
  }
}

describe.skipIf(!haveChromium)('browser (headless Chromium, WebGPU)', () => {
  it('runs the workload from dist/ as ES modules and matches the Node results', async () => {
    await runPageAndCompare('/test/browser/page.html');
  });

  it('bundles the packed tarball with esbuild for the browser with no warnings, and the bundle matches Node', async () => {
    const warnings = await buildBundle(packed!.app);
    expect(warnings).toEqual([]);
    const bundle = readFileSync(`${packed!.app}/app.js`, 'utf8');
    // esbuild heads each bundled module with a comment naming its path: no
    // Node-only package, nor the Node host module, reached the page.
    for (const path of ['node_modules/webgpu/', 'node_modules/h5wasm/', 'node_modules/cli-progress/', 'ghostgrad/dist/platform/node.js', 'ghostgrad/dist/cli/']) {
      expect(bundle, path).not.toContain(`// ${path}`);
    }
    expect(bundle).toContain('// node_modules/ghostgrad/dist/platform/browser.js');
    await runPageAndCompare('/bundle/page.html');
  });
});
