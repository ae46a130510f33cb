// Sparse convolution: kernel-map build, submanifold 3³ conv forward and
// forward+backward on track-like events, against a dense conv3d of the same
// layer over the bounding volume (same tiled WGSL kernel, neighbours computed
// from the grid) on the same adapter, and against the float64 CPU reference.
//
// Environment (all optional):
//   SPARSE_SIZES      active voxels per case, default "5000,50000,200000"
//   SPARSE_CHANNELS   Cin = Cout values, default "16,32,64"
//   SPARSE_DENSE      "0" skips the dense baseline runs (ratios are still computed)
//   SPARSE_DENSE_MAX_VOXELS  largest dense grid actually run (default 2.2e6 on a
//                     software adapter, 1.4e8 otherwise; the binding-size limit also applies)
//   SPARSE_CPU_MAX    largest case timed on the CPU reference (default 50000 on
//                     a software adapter, 5000 otherwise; 0 disables)
//   SPARSE_FAST       "1": one sample per case (quick smoke run)
//   SPARSE_EXTENT_FACTOR  cube edge = 2·∛n·factor (default 6: occupancy ~5e-4, track-like);
//                     smaller factors give denser events and dense grids small enough to run
//   SPARSE_SUITE      results name under bench/results/ (default "sparse")
//   SPARSE_ALGORITHMS sparse conv algorithms timed, default "implicit-gemm,pairs" (same process, same data)
import { tensor } from '../dist/index.js';
import { backward, noGrad } from '../dist/autodiff/tape.js';
import { CoordinateSet, countPairs, setSparseConvAlgorithm, submanifoldConv, submanifoldMap, SparseTensor } from '../dist/kernels/sparse/index.js';
import { buildRowOrder } from '../dist/kernels/sparse/igemm.js';
import { denseConvBaseline } from '../dist/kernels/sparse/conv.js';
import { buildSubmanifoldMap } from '../dist/kernels/sparse/kernel-map.reference.js';
import { sparseConvForward } from '../dist/kernels/sparse/conv.reference.js';
import { kernelTimeMs, lcg, machineInfo, measurePeakGflops, setupGpu, timeAsync, trackEvent, writeResults } from './harness.mjs';

const sizes = (process.env.SPARSE_SIZES ?? '5000,50000,200000').split(',').map(Number);
const channels = (process.env.SPARSE_CHANNELS ?? '16,32,64').split(',').map(Number);
const runDense = process.env.SPARSE_DENSE !== '0';
const fast = process.env.SPARSE_FAST === '1';
const extentFactor = Number(process.env.SPARSE_EXTENT_FACTOR ?? 6);
const suite = process.env.SPARSE_SUITE ?? 'sparse';
const algorithms = (process.env.SPARSE_ALGORITHMS ?? 'implicit-gemm,pairs').split(',');

const { ctx } = await setupGpu();
const soft = ctx.adapter.isSoftware;
const peak = await measurePeakGflops(ctx);
const denseMaxVoxels = Number(process.env.SPARSE_DENSE_MAX_VOXELS ?? (soft ? 2.2e6 : 1.4e8));
const cpuMax = Number(process.env.SPARSE_CPU_MAX ?? (soft ? 50000 : 5000));
const opts = fast ? { minSamples: 1, maxTime: 0.01 } : soft ? { minSamples: 2, maxTime: 2 } : { minSamples: 5, maxTime: 3 };
const K = 3;
const V = K ** 3;

const rows = [];
const mb = (b) => b / 2 ** 20;

for (const n of sizes) {
  const { coords, extent } = trackEvent(n, 1234 + n, extentFactor);
  const voxels = extent[0] * extent[1] * extent[2];

  // Kernel-map build: hash table + submanifold map from a fresh coordinate set.
  {
    const set0 = new CoordinateSet(ctx, 3, coords);
    const pairs = await countPairs(submanifoldMap(set0, K));
    set0.dispose();
    const build = async () => {
      const set = new CoordinateSet(ctx, 3, coords, { validate: false });
      const map = submanifoldMap(set, K);
      await map.inputStationary.read().then(() => set.dispose());
    };
    await build();
    const wall = await timeAsync(`map ${n}`, build, opts);
    const kernel = await kernelTimeMs(ctx, build, fast ? 1 : 3);
    let cpuMs = null;
    if (n <= cpuMax) {
      const t0 = performance.now();
      buildSubmanifoldMap(coords, 3, K);
      cpuMs = performance.now() - t0;
    }
    rows.push({ op: 'map build (hash + subm 3³)', voxels: n, C: '', pairs, wallMs: wall.meanMs, kernelMs: kernel, cpuRefMs: cpuMs, samples: wall.samples });

    // The implicit GEMM's row order: a radix sort of the rows by neighbour mask, once per map.
    const set1 = new CoordinateSet(ctx, 3, coords, { validate: false });
    const map1 = submanifoldMap(set1, K);
    const sort = async () => {
      const order = buildRowOrder(map1.outputStationary, set1.n, V, true);
      await order.perm.read();
      order.dispose();
    };
    await sort();
    const wallSort = await timeAsync(`row order ${n}`, sort, opts);
    const kernelSort = await kernelTimeMs(ctx, sort, fast ? 1 : 3);
    rows.push({ op: 'row order (mask sort, implicit-gemm)', voxels: n, C: '', pairs, wallMs: wallSort.meanMs, kernelMs: kernelSort, samples: wallSort.samples });
    set1.dispose();
  }

  const set = new CoordinateSet(ctx, 3, coords);
  const map = submanifoldMap(set, K);
  const pairs = await countPairs(map);
  for (const c of channels) {
    const rand = lcg(c * 7 + n);
    const fHost = Float32Array.from({ length: n * c }, () => rand() - 0.5);
    const wHost = Float32Array.from({ length: V * c * c }, () => (rand() - 0.5) * 0.1);
    const flops = 2 * pairs * c * c;

    // Forward: peak memory counts coords, hash table, map, feats, weight, output.
    await ctx.sync();
    ctx.trimPool();
    const live0 = ctx.stats().liveBytes;
    ctx.resetPeakMemory();
    const freshSet = new CoordinateSet(ctx, 3, coords, { validate: false });
    const x = new SparseTensor(freshSet, tensor(ctx, fHost, [n, c], { requiresGrad: true }));
    const w = tensor(ctx, wHost, [V, c, c], { requiresGrad: true });
    const gHost = Float32Array.from({ length: n * c }, () => rand() - 0.5);
    let g = null; // made after the forward's peak memory is taken
    // Inference-style forward: nothing recorded on the tape.
    const fwd = async () => {
      const y = noGrad(() => submanifoldConv(x, w));
      await y.feats.read().then(() => y.feats.dispose());
    };
    // Forward + backward (dX, dW).
    const fb = async () => {
      await ctx.scope(async () => {
        const y = submanifoldConv(x, w);
        backward(y.feats, g);
        await w.grad.read();
      });
      x.feats.grad?.dispose();
      x.feats.grad = null;
      w.grad?.dispose();
      w.grad = null;
    };
    const timed = [];
    let sparsePeak = null;
    for (const algorithm of algorithms) {
      setSparseConvAlgorithm(algorithm);
      await fwd();
      if (sparsePeak === null) {
        sparsePeak = ctx.stats().peakLiveBytes - live0;
        g = tensor(ctx, gHost, [n, c]);
      }
      const wall = await timeAsync(`fwd ${n} C${c} ${algorithm}`, fwd, opts);
      const kernel = await kernelTimeMs(ctx, fwd, fast ? 1 : 3);
      await fb();
      const wallFb = await timeAsync(`fwd+bwd ${n} C${c} ${algorithm}`, fb, opts);
      const kernelFb = await kernelTimeMs(ctx, fb, fast ? 1 : 3);
      timed.push({ algorithm, wall, kernel, wallFb, kernelFb });
    }
    setSparseConvAlgorithm('implicit-gemm');

    // Dense baseline: same layer over the bounding volume.
    const denseFlops = 2 * voxels * V * c * c;
    const denseBytes = 4 * (2 * voxels * c + V * c * c);
    let denseMs = null;
    let densePeak = null;
    const fits = denseBytes / 2 <= ctx.limits.maxStorageBufferBindingSize;
    if (runDense && voxels <= denseMaxVoxels && fits) {
      await ctx.sync();
      ctx.trimPool();
      const l0 = ctx.stats().liveBytes;
      ctx.resetPeakMemory();
      const din = tensor(ctx, new Float32Array(voxels * c), [voxels, c]);
      const dense = async () => {
        const out = denseConvBaseline(din, w, extent, K);
        await ctx.sync();
        out.dispose();
      };
      await dense();
      densePeak = ctx.stats().peakLiveBytes - l0;
      denseMs = (await kernelTimeMs(ctx, dense, 1)) ?? (await timeAsync(`dense ${n} C${c}`, dense, { minSamples: 1, maxTime: 0.01 })).meanMs;
      din.dispose();
    }

    let cpuMs = null;
    if (n <= cpuMax) {
      const refMap = buildSubmanifoldMap(coords, 3, K);
      const f64 = Float64Array.from(fHost);
      const w64 = Float64Array.from(wHost);
      const t0 = performance.now();
      sparseConvForward(f64, { map: refMap, weight: w64, bias: null, inChannels: c, outChannels: c });
      cpuMs = performance.now() - t0;
    }
    const pct = (gf) => (peak.gflops > 0 ? (100 * gf) / peak.gflops : null);
    for (const [i, { algorithm, wall, kernel, wallFb, kernelFb }] of timed.entries()) {
      const t = kernel ?? wall.meanMs;
      const gflops = flops / (t * 1e6);
      rows.push({
        op: 'subm 3³ forward',
        algorithm,
        voxels: n,
        C: c,
        pairs,
        wallMs: wall.meanMs,
        kernelMs: kernel,
        gflops,
        percentOfPeak: pct(gflops),
        ...(i === 0
          ? {
              peakMB: mb(sparsePeak),
              denseVolume: extent.join('×'),
              denseKernelMs: denseMs,
              denseGflops: denseMs ? denseFlops / (denseMs * 1e6) : null,
              flopRatio: denseFlops / flops,
              denseMB: densePeak !== null ? mb(densePeak) : mb(denseBytes),
              memRatio: (densePeak ?? denseBytes) / sparsePeak,
              speedup: denseMs ? denseMs / t : null,
              cpuRefMs: cpuMs,
            }
          : {}),
        samples: wall.samples,
      });
      const gflopsFb = (3 * flops) / ((kernelFb ?? wallFb.meanMs) * 1e6);
      rows.push({
        op: 'subm 3³ fwd+bwd',
        algorithm,
        voxels: n,
        C: c,
        pairs,
        wallMs: wallFb.meanMs,
        kernelMs: kernelFb,
        gflops: gflopsFb,
        percentOfPeak: pct(gflopsFb),
        samples: wallFb.samples,
      });
    }
    g.dispose();
    w.dispose();
    x.feats.dispose();
    freshSet.dispose();
  }
  set.dispose();
}

writeResults(suite, {
  rows,
  columns: ['op', 'algorithm', 'voxels', 'C', 'pairs', 'wallMs', 'kernelMs', 'gflops', 'percentOfPeak', 'peakMB', 'denseVolume', 'denseKernelMs', 'denseGflops', 'flopRatio', 'denseMB', 'memRatio', 'speedup', 'cpuRefMs', 'samples'],
  meta: { ...machineInfo(ctx), sizes, channels, extentFactor, algorithms, peakGflops: peak.gflops, peakSource: peak.source },
  notes: [
    `Track-like events: straight tracks of 20–200 voxels in a cube of edge 2·∛n·${extentFactor}, one batch item; Cin = Cout = C; kernel 3³, no bias.`,
    'gflops counts only real neighbour pairs: 2·pairs·Cin·Cout per forward (3× that for forward + dX + dW).',
    `percentOfPeak: gflops against the adapter's fp32 FMA peak in this run, ${peak.gflops.toFixed(1)} GFLOP/s (${peak.source}).`,
    "algorithm: 'implicit-gemm' (the default: one dispatch per forward / dX over mask-sorted rows) and 'pairs' (per-offset gather–GEMM–scatter) time the same layer on the same data; both give the same bits. The map and its row order / pair lists are cached on the coordinate set, so conv rows exclude them; 'row order' times the mask sort alone.",
    'kernelMs: GPU time from timestamp queries (all dispatches of one call); wallMs: benchmark.js mean incl. submission and readback.',
    'dense: the same tiled WGSL kernel over the bounding volume (neighbours from grid arithmetic), same adapter; flopRatio = dense FLOPs / sparse FLOPs; ' +
      'memRatio = dense peak (input + output + weight) / sparse peak (coords, hash table, both map tables, features, weight, output). ' +
      'Where the dense grid was too large to run, denseMB is computed and denseKernelMs is empty.',
    'peakMB from ctx.resetPeakMemory() / stats().peakLiveBytes (pool size classes, so rounded up by ≤ 12.5%).',
    'cpuRefMs: float64 CPU reference (map build, or forward) on this machine, single-threaded JS.',
  ],
});
await ctx.dispose();
process.exit(0);
