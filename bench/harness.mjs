// Shared benchmark harness: one Dawn instance for ghostgrad and its peers,
// benchmark.js for wall-clock statistics, timestamp queries for kernel time,
// and JSON + Markdown results under bench/results/.
import Benchmark from 'benchmark';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { create, globals } from 'webgpu';
import { createGpu } from '../dist/index.js';

if (!process.env.XDG_RUNTIME_DIR) {
  mkdirSync('/tmp/ghostgrad-xdg', { recursive: true, mode: 0o700 });
  process.env.XDG_RUNTIME_DIR = '/tmp/ghostgrad-xdg';
}

/** Creates one Dawn GPU object shared by ghostgrad and tfjs-webgpu (same adapter). */
export async function setupGpu() {
  Object.assign(globalThis, globals);
  const gpu = create([]);
  const ctx = await createGpu({ gpu });
  return { gpu, ctx };
}

/** Starts tfjs with its WebGPU backend on the same GPU object. Returns tf or null when unavailable. */
export async function setupTfjs(gpu) {
  try {
    if (!globalThis.navigator) Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true });
    Object.defineProperty(globalThis.navigator, 'gpu', { value: gpu, configurable: true });
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-webgpu');
    const ok = await tf.setBackend('webgpu');
    if (!ok) return null;
    await tf.ready();
    return tf;
  } catch (e) {
    console.warn(`tfjs-webgpu unavailable: ${e.message}`);
    return null;
  }
}

/**
 * Times an async function with benchmark.js (deferred). Heavy cases on a CPU
 * adapter take seconds per call, so samples are few and that is stated in the
 * results (rme and sample count are reported).
 */
export function timeAsync(name, fn, { minSamples = 5, maxTime = 5 } = {}) {
  return new Promise((resolve, reject) => {
    const bench = new Benchmark(name, {
      defer: true,
      minSamples,
      maxTime,
      initCount: 1,
      async: false,
      fn: (deferred) => {
        fn().then(() => deferred.resolve(), (e) => { bench.abort(); reject(e); });
      },
      onComplete: () => {
        const s = bench.stats;
        resolve({ name, meanMs: s.mean * 1e3, rmePercent: s.rme, samples: s.sample.length });
      },
      onError: (e) => reject(e.target?.error ?? e),
    });
    bench.run();
  });
}

/** Mean GPU time per call of the named kernels, from ghostgrad's profiler, over `calls` runs. */
export async function kernelTimeMs(ctx, fn, calls = 3) {
  if (!ctx.profiler.enable()) return null;
  await fn(); // warm-up (pipeline compilation) outside the window
  await ctx.profiler.report();
  ctx.profiler.reset();
  for (let i = 0; i < calls; i++) await fn();
  const report = await ctx.profiler.report();
  ctx.profiler.disable();
  ctx.profiler.reset();
  return report.reduce((s, r) => s + r.totalMs, 0) / calls;
}

export function machineInfo(ctx) {
  return {
    adapter: ctx.adapter,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    node: process.version,
    date: new Date().toISOString(),
  };
}

/** Writes bench/results/<suite>.json and .md. `rows` are flat objects; `columns` picks and orders them. */
export function writeResults(suite, { rows, columns, meta, notes = [] }) {
  const dir = new URL('./results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  writeFileSync(new URL(`${suite}.json`, dir), JSON.stringify({ suite, meta, rows }, null, 2) + '\n');
  const fmt = (v) => (typeof v === 'number' ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3)) : v ?? '');
  const md = [
    `# ${suite}`,
    '',
    `Adapter: ${meta.adapter.description || meta.adapter.device || meta.adapter.vendor} (${meta.adapter.isSoftware ? 'software' : 'hardware'}); ` +
      `CPU: ${meta.cpu} × ${meta.cores}; Node ${meta.node}; ${meta.date}`,
    '',
    `| ${columns.join(' | ')} |`,
    `| ${columns.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${columns.map((c) => fmt(r[c])).join(' | ')} |`),
    '',
    ...notes.map((n) => `- ${n}`),
    '',
  ].join('\n');
  writeFileSync(new URL(`${suite}.md`, dir), md);
  console.log(md);
}
