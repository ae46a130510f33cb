// The same package in a browser: Debian's Chromium, headless, driven by
// playwright-core, loads the built dist/ from a server on 127.0.0.1 and runs
// kernels on its WebGPU adapter (SwiftShader in CI). Results must match the
// Node run of the same workload.
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as gg from '../../src/index.js';
import { testGpu } from '../helpers/gpu.js';
// @ts-expect-error plain JS module shared with the page
import { browserWorkload } from './workload.js';

const CHROMIUM = '/usr/bin/chromium';
const root = fileURLToPath(new URL('../../', import.meta.url));
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env['CI']) throw new Error(`${CHROMIUM} is missing; scripts/provision-browser.sh installs it`);

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.map': 'application/json' };
let server: Server;
let origin = '';

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const allowed = ['/dist/', '/node_modules/wgsl_reflect/', '/test/browser/'].some((p) => path.startsWith(p));
    const file = root + path.slice(1);
    if (!allowed || path.includes('..') || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

describe.skipIf(!haveChromium)('browser (headless Chromium, WebGPU)', () => {
  it('runs the workload and matches the Node results', async () => {
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
      await page.goto(`${origin}/test/browser/page.html`);
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
      console.log(`relative differences browser vs Node: ${JSON.stringify(differences)}`);
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
  });
});
