// Sparse U-ResNet (lartpc_mlreco3d configuration by default: depth 5, 32
// filters, 2 residual blocks per level) on synthetic LArTPC events: forward
// (eval, no grad) and forward + backward (training mode, cross-entropy) time
// per batch, kernel time from ctx.profiler (timestamp queries, where the
// adapter has them) and peak GPU memory. Every timed call builds its
// coordinate set and kernel maps from scratch, as a training step does.
// The PyTorch peer (bench/torch/peer.py: the same network as gather-GEMM-scatter
// in plain PyTorch, CUDA when available, else CPU) runs each case's batch in a
// child process; TORCH_PEER=0 skips it, TORCH_PYTHON picks the interpreter.
//
// Environment (all optional):
//   URESNET_CASES    "voxels x batch" list, default "5000x1,57000x16"
//   URESNET_DEPTH    default 5
//   URESNET_FILTERS  default 32
//   URESNET_REPS     default 2
//   URESNET_FAST     "1": one sample per case (smoke run)
//   URESNET_SKIP_FB  "1": forward only
//   URESNET_ALGORITHMS  sparse conv algorithms to compare, default "implicit-gemm,pairs"
//                    (the first is the library default; the rows are labelled by algorithm)
//   URESNET_STAGING  staging budgets of the 'pairs' conv to compare, bytes or "default" (64 MiB);
//                    default "default" on a software adapter, "default,0" on hardware
import { noGrad, backward } from '../dist/autodiff/tape.js';
import { generateEvent } from '../dist/events/index.js';
import { UResNet } from '../dist/models/index.js';
import { setSparseConvAlgorithm, sparseTensor, sparseCrossEntropy } from '../dist/kernels/sparse/index.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { kernelTimeMs, machineInfo, setupGpu, timeAsync, torchImpl, torchMeta, torchNote, torchPeer, writeResults } from './harness.mjs';

const cases = (process.env.URESNET_CASES ?? '5000x1,57000x16').split(',').map((s) => s.split('x').map(Number));
const depth = Number(process.env.URESNET_DEPTH ?? 5);
const filters = Number(process.env.URESNET_FILTERS ?? 32);
const reps = Number(process.env.URESNET_REPS ?? 2);
const fast = process.env.URESNET_FAST === '1';
const skipFb = process.env.URESNET_SKIP_FB === '1';

const { ctx } = await setupGpu();
const soft = ctx.adapter.isSoftware;
// Staging budgets of the 'pairs' conv to compare ('default' = 64 MiB groups, 0 = one dispatch per offset; same
// bits either way). The grouping exists to save GPU launches, so hardware adapters measure both by default.
const stagings = (process.env.URESNET_STAGING ?? (soft ? 'default' : 'default,0')).split(',').map((v) => (v === 'default' ? undefined : Number(v)));
const stagingImpl = (b) => (b === undefined ? 'ghostgrad pairs' : b === 0 ? 'ghostgrad pairs per-offset' : `ghostgrad pairs staging ${(b / 2 ** 20).toFixed(0)} MiB`);
const algorithms = (process.env.URESNET_ALGORITHMS ?? 'implicit-gemm,pairs').split(',');
// One run per algorithm, and per staging budget for 'pairs'.
const variants = algorithms.flatMap((algorithm) =>
  algorithm === 'pairs'
    ? stagings.map((pairStagingBytes) => ({ algorithm, options: { pairStagingBytes }, impl: stagingImpl(pairStagingBytes) }))
    : [{ algorithm, options: {}, impl: algorithm === 'implicit-gemm' ? 'ghostgrad' : `ghostgrad ${algorithm}` }],
);
const opts = fast ? { minSamples: 1, maxTime: 0.01 } : soft ? { minSamples: 2, maxTime: 5 } : { minSamples: 10, maxTime: 5 };
const mb = (b) => b / 2 ** 20;

/**
 * A batch of `batch` default-preset events with about `voxels` voxels in
 * total: each event is cropped to its first ⌈voxels / batch⌉ rows (rows are
 * sorted by x, so the crop is a slab of the event, keeping its local
 * structure). Batch index in column 0.
 */
function makeBatch(voxels, batch) {
  const per = Math.ceil(voxels / batch);
  const coords = [];
  const energy = [];
  const labels = [];
  for (let b = 0, seed = 1; b < batch; seed++) {
    const e = generateEvent({ seed });
    if (e.energy.length < per) continue;
    for (let r = 0; r < per; r++) {
      coords.push(b, e.coords[4 * r + 1], e.coords[4 * r + 2], e.coords[4 * r + 3]);
      energy.push(e.energy[r]);
      labels.push(e.labels[r]);
    }
    b++;
  }
  return { coords: Int32Array.from(coords), energy: Float32Array.from(energy), labels: Int32Array.from(labels) };
}

const model = new UResNet(ctx, { depth, filters, reps });
const rows = [];
let torch = null;

/** The same batch through the PyTorch peer: coords, energy and labels go to it as raw little-endian files. */
function runTorch(data, batch) {
  const dir = mkdtempSync(join(os.tmpdir(), 'ghostgrad-uresnet-torch-'));
  try {
    const file = (name, arr) => {
      const path = join(dir, name);
      writeFileSync(path, new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength));
      return path;
    };
    const peer = torchPeer('uresnet', {
      coords: file('coords.i32', data.coords),
      feats: file('energy.f32', data.energy),
      labels: file('labels.i32', data.labels),
      depth,
      filters,
      reps,
      pass: skipFb ? 'forward' : 'forward,forward+backward',
      ...(fast ? { warmup: 1, iters: 1 } : {}),
    });
    for (const r of peer.results ?? []) {
      rows.push({
        impl: torchImpl(peer), mode: r.pass, voxels: r.voxels, batch, wallMs: r.wallReadbackMs, kernelMs: r.gpuMs,
        peakMB: r.peakMB, mapMs: r.mapMs, samples: r.samples, rme: r.rme,
      });
      console.error(`${torchImpl(peer)} ${r.pass} ${r.voxels} voxels × batch ${batch}: ${r.wallMs.toFixed(1)} ms wall (maps ${r.mapMs.toFixed(1)} ms)`);
    }
    return peer;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
for (const [voxels, batch] of cases) {
  const data = makeBatch(voxels, batch);
  const n = data.energy.length;

  const fwd = async () => {
    const x = sparseTensor(ctx, data.coords, data.energy, { channels: 1 });
    try {
      await ctx.scope(() => noGrad(async () => model.forward(x).feats.read()));
    } finally {
      x.feats.dispose();
      x.coords.dispose();
    }
  };
  const fb = async () => {
    const x = sparseTensor(ctx, data.coords, data.energy, { channels: 1 });
    try {
      await ctx.scope(async () => {
        const loss = sparseCrossEntropy(model.forward(x), data.labels);
        backward(loss);
        await model.parameters()[0].grad.read();
      });
    } finally {
      x.feats.dispose();
      x.coords.dispose();
      for (const p of model.parameters()) {
        p.grad?.dispose();
        p.grad = null;
      }
    }
  };

  const measure = async (mode, fn, impl) => {
    if (mode === 'forward') model.eval();
    else model.train();
    await fn(); // warm-up: pipeline compilation
    await ctx.sync();
    ctx.trimPool();
    const live0 = ctx.stats().liveBytes;
    ctx.resetPeakMemory();
    await fn();
    const peak = ctx.stats().peakLiveBytes - live0;
    const wall = await timeAsync(`${mode} ${n}x${batch}`, fn, opts);
    const kernel = await kernelTimeMs(ctx, fn, fast ? 1 : 2);
    rows.push({ impl, mode, voxels: n, batch, wallMs: wall.meanMs, kernelMs: kernel, peakMB: mb(peak), samples: wall.samples, rme: wall.rmePercent });
    console.error(`${impl} ${mode} ${n} voxels × batch ${batch}: ${wall.meanMs.toFixed(1)} ms wall, kernel ${kernel?.toFixed(1) ?? 'n/a'} ms, peak ${mb(peak).toFixed(1)} MiB`);
  };
  for (const { algorithm, options, impl } of variants) {
    setSparseConvAlgorithm(algorithm, options);
    await measure('forward', fwd, impl);
    if (!skipFb) await measure('forward+backward', fb, impl);
  }
  setSparseConvAlgorithm('implicit-gemm');
  if (!torch?.unavailable) torch = runTorch(data, batch);
}
const params = model.numParameters();
model.dispose();

writeResults('uresnet', {
  rows,
  columns: ['impl', 'mode', 'voxels', 'batch', 'wallMs', 'kernelMs', 'peakMB', ...(rows.some((r) => r.mapMs != null) ? ['mapMs'] : []), 'samples', 'rme'],
  meta: { ...machineInfo(ctx), depth, filters, reps, params, torch: torchMeta(torch) },
  notes: [
    `U-ResNet depth ${depth}, filters ${filters}, reps ${reps} (${params} parameters), f32, 5 classes; events from src/events (default preset), cropped to the voxel count.`,
    `forward: eval mode under noGrad, logits read back. ${soft ? 'Software adapter: few samples, figures are indicative only.' : ''}` + ' forward+backward: training-mode BatchNorm, cross-entropy, backward to every parameter (no optimizer step), one gradient read back.',
    `Sparse conv algorithms (URESNET_ALGORITHMS, same process, same events): impl 'ghostgrad' is the default 'implicit-gemm' (one dispatch per conv forward and per input gradient over mask-sorted rows); 'ghostgrad pairs': per-offset gather–GEMM–scatter with consecutive offsets grouped while their products fit 64 MiB of staging; 'ghostgrad pairs per-offset': one read-add-write dispatch per offset (pairStagingBytes 0). All give the same bits. URESNET_STAGING picks the 'pairs' budgets.`,
    'Each call builds a fresh coordinate set, hash tables and kernel maps (as a training step does). peakMB: peak of live GPU tensor bytes during one call, above what was live before it (weights excluded).',
    'kernelMs: sum of GPU timestamp-query time over all dispatches of one call (n/a where the adapter lacks timestamp-query). On a software adapter it can exceed wallMs: CPU contention and per-dispatch timestamps distort it.',
    'Published H200 figures for comparison (bf16, ResNet encoder, not a U-ResNet, other software): 5k voxels fwd+bwd spconv 6.8 ms, MinkowskiEngine 15.5 ms; 57k voxels fwd+bwd WarpConvNet 34.9 ms, MinkowskiEngine 72.1 ms. These are not run here; compare only on the same GPU class, and note the precision and network differ.',
    'PyTorch peer: the same U-ResNet (same depth, filters, reps and parameter count; its own random weights) in plain PyTorch, no MinkowskiEngine: kernel maps from int64 coordinate keys with torch.sort + torch.searchsorted (submanifold 3³) and torch.unique (stride 2; the transposed conv reuses that map), convolutions as Σ_k index_add_(out, x[in] @ W[k]), nn.BatchNorm1d over active sites, cross-entropy for forward+backward. Each timed call uploads coords, features and labels from the host and rebuilds every map; mapMs is the map building alone. peakMB (CUDA only): torch.cuda.max_memory_allocated during one call above what was allocated before it.',
    torchNote(torch),
  ],
});
await ctx.dispose();
