// Dense f32 matmul: ghostgrad's tiled WGSL kernel vs tfjs-backend-webgpu on
// the same Dawn adapter, in the same process, and PyTorch (bench/torch/peer.py,
// CUDA when available, else CPU; TORCH_PEER=0 skips it) in a child process.
import { matmul, tensor } from '../dist/index.js';
import { kernelTimeMs, machineInfo, setupGpu, setupTfjs, timeAsync, torchImpl, torchMeta, torchNote, torchPeer, writeResults } from './harness.mjs';

const sizes = (process.env.MATMUL_SIZES ?? '1024,4096').split(',').map(Number);
const peakGflops = Number(process.env.PEAK_FP32_GFLOPS ?? NaN);

const { gpu, ctx } = await setupGpu();
const tf = await setupTfjs(gpu);
const rows = [];
let torch = null;
for (const n of sizes) {
  const flops = 2 * n ** 3;
  const host = Float32Array.from({ length: n * n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const a = tensor(ctx, host, [n, n]);
  const b = tensor(ctx, host, [n, n]);
  const heavy = n >= 2048 && ctx.adapter.isSoftware;
  const opts = heavy ? { minSamples: 1, maxTime: 0.1 } : { minSamples: 5, maxTime: 5 };
  const ours = async () => {
    const c = matmul(a, b);
    await c.read().then(() => c.dispose());
  };
  await ours(); // compile
  const wall = await timeAsync(`ghostgrad ${n}`, ours, opts);
  const kernel = await kernelTimeMs(ctx, ours, heavy ? 1 : 3);
  rows.push({ impl: 'ghostgrad', n, wallMs: wall.meanMs, kernelMs: kernel, gflops: flops / ((kernel ?? wall.meanMs) * 1e6), rme: wall.rmePercent, samples: wall.samples });
  if (tf) {
    const ta = tf.tensor2d(host, [n, n]);
    const tb = tf.tensor2d(host, [n, n]);
    const theirs = async () => {
      const c = tf.matMul(ta, tb);
      await c.data();
      c.dispose();
    };
    await theirs();
    const twall = await timeAsync(`tfjs-webgpu ${n}`, theirs, opts);
    const t = await tf.time(() => tf.matMul(ta, tb));
    const tk = typeof t.kernelMs === 'number' ? t.kernelMs : null;
    rows.push({ impl: 'tfjs-webgpu', n, wallMs: twall.meanMs, kernelMs: tk, gflops: flops / ((tk ?? twall.meanMs) * 1e6), rme: twall.rmePercent, samples: twall.samples });
    ta.dispose();
    tb.dispose();
  }
  a.dispose();
  b.dispose();
  if (!torch?.unavailable) {
    const peer = torchPeer('matmul', { n });
    torch = peer;
    for (const r of peer.results ?? []) {
      rows.push({ impl: torchImpl(peer), n, wallMs: r.wallReadbackMs, kernelMs: r.gpuMs, gflops: r.gflops, rme: r.rme, samples: r.samples });
    }
  }
}
// PEAK_FP32_GFLOPS is the adapter's peak: it says nothing about a PyTorch peer that fell back to the CPU of a GPU machine.
const offAdapter = (r) => r.impl === 'pytorch-cpu' && !ctx.adapter.isSoftware;
for (const r of rows) r.percentOfPeak = Number.isFinite(peakGflops) && !offAdapter(r) ? (100 * r.gflops) / peakGflops : null;
writeResults('matmul', {
  rows,
  columns: ['impl', 'n', 'wallMs', 'kernelMs', 'gflops', 'percentOfPeak', 'rme', 'samples'],
  meta: { ...machineInfo(ctx), peakGflops: Number.isFinite(peakGflops) ? peakGflops : null, torch: torchMeta(torch) },
  notes: [
    'C = A·B, f32, square n×n; GFLOP/s = 2n³ / kernel time (wall time where no kernel time is available).',
    'kernelMs: ghostgrad from timestamp queries around the dispatch; tfjs from tf.time().kernelMs.',
    'wallMs includes submission and readback of the n×n result.',
    'Set PEAK_FP32_GFLOPS to the device fp32 peak to get percentOfPeak.',
    torchNote(torch),
  ],
});
if (tf) tf.disposeVariables();
await ctx.dispose();
process.exit(0);
