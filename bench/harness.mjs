// Shared benchmark harness: one Dawn instance for ghostgrad and its peers,
// benchmark.js for wall-clock statistics, timestamp queries for kernel time,
// the PyTorch peer (bench/torch/peer.py, a child process), and JSON +
// Markdown results under bench/results/ (or $BENCH_RESULTS_DIR).
import Benchmark from 'benchmark';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
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

const TORCH_PEER_SCRIPT = fileURLToPath(new URL('./torch/peer.py', import.meta.url));

/**
 * Runs the PyTorch peer, `${TORCH_PYTHON ?? 'python3'} bench/torch/peer.py <subcommand> --key value …`,
 * and returns its JSON ({ torch, device, deviceName, …, results: [row, …] }). Never throws: returns
 * `{ unavailable: reason }` when TORCH_PEER=0, when python or torch is missing, or when the peer fails,
 * so every suite still runs without PyTorch.
 *
 * `args` maps option names to values (`{ n: '1024,4096' }` → `--n 1024,4096`; null/undefined are left out).
 * Environment: TORCH_PYTHON (interpreter), TORCH_PEER=0 (off), TORCH_DEVICE (auto|cuda|cpu),
 * TORCH_PEER_THREADS, TORCH_PEER_WARMUP, TORCH_PEER_ITERS, TORCH_PEER_MAX_TIME (override the suite's
 * choices), TORCH_PEER_TIMEOUT_S (kill the peer after this long, default 1800).
 */
export function torchPeer(subcommand, args = {}) {
  if (process.env.TORCH_PEER === '0') return { unavailable: 'disabled by TORCH_PEER=0' };
  const python = process.env.TORCH_PYTHON || 'python3';
  const env = process.env;
  const opts = {
    device: env.TORCH_DEVICE,
    ...args,
    ...Object.fromEntries(
      [['threads', env.TORCH_PEER_THREADS], ['warmup', env.TORCH_PEER_WARMUP], ['iters', env.TORCH_PEER_ITERS], ['max-time', env.TORCH_PEER_MAX_TIME]]
        .filter(([, v]) => v !== undefined && v !== ''),
    ),
  };
  const argv = [TORCH_PEER_SCRIPT, subcommand];
  for (const [k, v] of Object.entries(opts)) if (v !== undefined && v !== null && v !== '') argv.push(`--${k}`, String(v));
  const unavailable = (reason) => {
    console.warn(`PyTorch peer unavailable (${subcommand}): ${reason}`);
    return { unavailable: reason };
  };
  let r;
  try {
    r = spawnSync(python, argv, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 * 2 ** 20,
      timeout: Number(env.TORCH_PEER_TIMEOUT_S || 1800) * 1e3,
    });
  } catch (e) {
    return unavailable(`${python}: ${e.message}`);
  }
  if (r.error?.code === 'ENOENT') return unavailable(`${python} not found (set TORCH_PYTHON)`);
  if (r.error?.code === 'ETIMEDOUT') return unavailable(`peer.py ran past TORCH_PEER_TIMEOUT_S = ${env.TORCH_PEER_TIMEOUT_S || 1800} s and was stopped`);
  if (r.error) return unavailable(`${python}: ${r.error.message}`);
  let out = null;
  try {
    out = JSON.parse((r.stdout ?? '').trim().split('\n').pop());
  } catch {
    out = null;
  }
  if (r.status === 0 && out && !out.error && !out.unavailable && Array.isArray(out.results)) return out;
  const tail = (r.stderr ?? '').trim().split('\n').slice(-3).join(' | ');
  if (out?.unavailable) return unavailable(out.unavailable);
  if (out?.error) return unavailable(`peer.py failed: ${out.error}`);
  if (r.signal) return unavailable(`peer.py killed by ${r.signal} (TORCH_PEER_TIMEOUT_S?)${tail ? `: ${tail}` : ''}`);
  return unavailable(`peer.py exited with status ${r.status}${tail ? `: ${tail}` : ''}`);
}

/** Row label of the PyTorch peer: `pytorch-cuda` or `pytorch-cpu`. */
export function torchImpl(peer) {
  return `pytorch-${peer.device}`;
}

/** The results note about the PyTorch peer: version and device, or why it did not run. */
export function torchNote(peer) {
  if (!peer) return 'PyTorch peer: not run.';
  if (peer.unavailable) return `PyTorch peer: not run (${peer.unavailable}).`;
  const where = peer.device === 'cuda'
    ? `CUDA ${peer.cuda ?? ''} on ${peer.deviceName}`
    : `CPU only (${peer.deviceName}, ${peer.threads} CPU thread(s); no CUDA device, so these rows are not a GPU comparison)`;
  return (
    `PyTorch peer (${torchImpl(peer)} rows): torch ${peer.torch}, ${where}; fp32 with TF32 off; bench/torch/peer.py in a child process of this run, ` +
    `${peer.warmup} warm-up call(s), then up to ${peer.iters} timed calls within ${peer.maxTime} s. kernelMs = CUDA-event span of one call on the GPU, idle gaps between launches included (none on CPU); ` +
    'wallMs = wall time of one call including the copy of its result to the host.'
  );
}

/** The meta entry for the PyTorch peer. */
export function torchMeta(peer) {
  if (!peer || peer.unavailable) return { unavailable: peer?.unavailable ?? 'not run' };
  const { torch, device, deviceName, cuda, threads, dtype, tf32, float32MatmulPrecision } = peer;
  return { torch, device, deviceName, cuda, threads, dtype, tf32, float32MatmulPrecision };
}

/**
 * Writes bench/results/<suite>.json and .md (into $BENCH_RESULTS_DIR instead when it is set).
 * `rows` are flat objects; `columns` picks and orders them.
 */
export function writeResults(suite, { rows, columns, meta, notes = [] }) {
  const dir = process.env.BENCH_RESULTS_DIR ? pathToFileURL(resolve(process.env.BENCH_RESULTS_DIR) + '/') : new URL('./results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  writeFileSync(new URL(`${suite}.json`, dir), JSON.stringify({ suite, meta, rows }, null, 2) + '\n');
  const fmt = (v) => (typeof v === 'number' ? (Number.isInteger(v) || Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3)) : v ?? '');
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

/** Deterministic LCG in [0, 1). */
export function lcg(seed) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/**
 * Track-like event: straight tracks (sampled every 0.25 voxel) of 20–200
 * voxels from random vertices, until `n` distinct voxels (batch 0), in a cube
 * whose edge, 2·∛n·extentFactor, grows with n (LArTPC-like occupancy of
 * ~1e-3 or less). Returns the coordinates and their bounding extent.
 */
export function trackEvent(n, seed, extentFactor) {
  const rand = lcg(seed);
  const extent = Math.min(65535, Math.max(16, Math.round(2 * Math.cbrt(n) * extentFactor)));
  const seen = new Set();
  const rows = [];
  while (rows.length / 4 < n) {
    const start = [0, 1, 2].map(() => extent * (0.1 + 0.8 * rand()));
    let d = [0, 1, 2].map(() => 2 * rand() - 1);
    const norm = Math.hypot(...d) || 1;
    d = d.map((v) => v / norm);
    const len = 20 + 180 * rand();
    for (let t = 0; t <= len && rows.length / 4 < n; t += 0.25) {
      const p = start.map((s, a) => Math.floor(s + t * d[a]));
      if (p.some((v) => v < 0 || v >= extent)) break;
      const key = (p[0] * extent + p[1]) * extent + p[2];
      if (seen.has(key)) continue;
      seen.add(key);
      rows.push(0, p[0], p[1], p[2]);
    }
  }
  const coords = Int32Array.from(rows);
  const min = [Infinity, Infinity, Infinity];
  const max = [-Infinity, -Infinity, -Infinity];
  for (let r = 0; r < coords.length; r += 4) {
    for (let a = 0; a < 3; a++) {
      min[a] = Math.min(min[a], coords[r + 1 + a]);
      max[a] = Math.max(max[a], coords[r + 1 + a]);
    }
  }
  return { coords, extent: max.map((m, a) => m - min[a] + 1), min };
}

// Register-only FMA throughput of the adapter: every invocation runs 8
// independent vec4 fma chains for ITERS steps with no memory traffic but one
// store (so the compiler cannot drop the work). FLOPs = invocations · ITERS ·
// 8 · 4 lanes · 2 (8 chains: more spill registers on a CPU adapter and measure less). The suites divide their GFLOP/s by this figure.
const PEAK_WGSL = `
override ITERS: u32 = 1024u;
@group(0) @binding(0) var<storage, read_write> sink: array<f32>;
@compute @workgroup_size(64)
fn peak_fma(@builtin(global_invocation_id) gid: vec3<u32>) {
  let s = f32(gid.x) * 1e-7;
  var a0 = vec4<f32>(s); var a1 = vec4<f32>(s + 1.0); var a2 = vec4<f32>(s + 2.0); var a3 = vec4<f32>(s + 3.0);
  var a4 = vec4<f32>(s + 4.0); var a5 = vec4<f32>(s + 5.0); var a6 = vec4<f32>(s + 6.0); var a7 = vec4<f32>(s + 7.0);
  let m = vec4<f32>(0.999999);
  let c = vec4<f32>(1e-6);
  for (var i = 0u; i < ITERS; i++) {
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c);
  }
  let t = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
  sink[gid.x] = t.x + t.y + t.z + t.w;
}`;

/**
 * Measures the adapter's fp32 FMA peak, GFLOP/s: the best of `trials` runs
 * of a register-only kernel sized to last ≥ 100 ms, timed with GPU
 * timestamps where the adapter has them (else wall clock around a sync).
 * PEAK_FP32_GFLOPS overrides the measurement (e.g. a datasheet figure).
 */
export async function measurePeakGflops(ctx, { trials = 3 } = {}) {
  if (process.env.PEAK_FP32_GFLOPS) return { gflops: Number(process.env.PEAK_FP32_GFLOPS), source: 'PEAK_FP32_GFLOPS' };
  const spec = { name: 'bench.peak_fma', source: PEAK_WGSL, entryPoint: 'peak_fma' };
  const iters = 1024;
  let groups = ctx.adapter.isSoftware ? 512 : 16384;
  const { empty } = await import('../dist/index.js');
  let best = 0;
  for (;;) {
    const sink = empty(ctx, [groups * 64]);
    const run = async () => {
      ctx.run(spec, { sink }, [groups], { ITERS: iters });
      await ctx.sync();
    };
    await run();
    let ms = (await kernelTimeMs(ctx, run, 1)) ?? null;
    if (ms === null) {
      const t0 = performance.now();
      await run();
      ms = performance.now() - t0;
    }
    if (ms < 100 && groups < 1 << 22) {
      sink.dispose();
      groups *= Math.min(16, Math.max(2, Math.ceil(100 / Math.max(ms, 0.01))));
      continue;
    }
    for (let t = 0; t < trials; t++) {
      const k = (await kernelTimeMs(ctx, run, 1)) ?? null;
      const m = k ?? ms;
      best = Math.max(best, (groups * 64 * iters * 8 * 4 * 2) / (m * 1e6));
    }
    sink.dispose();
    return { gflops: best, source: `measured (register-only FMA kernel, ${groups * 64} invocations × ${iters} × 8 vec4 FMAs)` };
  }
}
