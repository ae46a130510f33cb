// Differentiable LArTPC charge simulation: segments per second through the
// GPU chain (recombination → clip + quadrature → drift → pixel readout),
// forward and forward + backward, with kernel time from timestamp queries and
// peak GPU memory, against the float64 CPU reference in the same process.
//
// Environment: DRIFT_SEGMENTS [10000] segments per batch; DRIFT_CPU [1] run the
// CPU reference (0 to skip); DRIFT_MAX_TIME [5] seconds of sampling per case.
// The float64 chain (the peer here) comes from the reference entry point.
const api = await import('../dist/index.js');
const { chainBackward, chainForward } = await import('../dist/reference.js');
const {
  backward,
  defaultChainConfig,
  defaultGeometry,
  generateSyntheticSegments,
  physicsTensor,
  segmentsFromPacked,
  segmentsTensor,
  segmentsToPacked,
  simulateCharge,
  sum,
} = api;
import { kernelTimeMs, machineInfo, setupGpu, timeAsync, writeResults } from './harness.mjs';

const nSeg = Number(process.env.DRIFT_SEGMENTS ?? 10000);
const runCpu = (process.env.DRIFT_CPU ?? '1') !== '0';
const maxTime = Number(process.env.DRIFT_MAX_TIME ?? 5);

// 1 GeV muons are minimum ionising (≈ 2.1 MeV/cm in LAr) and cross the whole
// volume: straight tracks of 20–30 cm in 0.3 cm steps, truncated at the box.
function muonBatch(n) {
  let s = { length: 0 };
  for (let nMuons = Math.ceil(n / 60) + 1; s.length < n; nMuons *= 2) s = muons(nMuons);
  return segmentsFromPacked(segmentsToPacked(s, 'float64').subarray(0, n * 11));
}

function muons(nMuons) {
  return generateSyntheticSegments({
    seed: 2024,
    nMuons,
    nProtons: 0,
    muonLength_cm: [20, 30],
    muonDEdx_MeV_per_cm: 2.1,
    step_cm: 0.3,
    volume_cm: [
      [0.5, 0.5, 0.5],
      [30.5, 30.5, 29.8],
    ],
  });
}

const segments = muonBatch(nSeg);
const geometry = defaultGeometry();
const config = defaultChainConfig({ geometry });
const { ctx } = await setupGpu();
const rows = [];
let shape = null;

const seg = segmentsTensor(ctx, segments, { requiresGrad: true });
const phys = physicsTensor(ctx, {}, { requiresGrad: true });

const forward = async () => {
  const sim = await simulateCharge(seg, phys, config);
  await sim.values.read();
  shape ??= { points: sim.quadraturePlan.nPoints, entries: sim.readoutPlan.nEntries, cells: sim.length };
  sim.dispose();
};
const forwardBackward = async () => {
  await ctx.scope(async () => {
    const sim = await simulateCharge(seg, phys, config);
    backward(sum(sim.values));
    await phys.grad.read();
    sim.dispose();
  });
  seg.grad?.dispose();
  seg.grad = null;
  phys.grad?.dispose();
  phys.grad = null;
};

const opts = ctx.adapter.isSoftware ? { minSamples: 2, maxTime } : { minSamples: 5, maxTime };
for (const [label, fn] of [
  ['forward', forward],
  ['forward+backward', forwardBackward],
]) {
  await fn(); // compile pipelines
  ctx.resetPeakMemory();
  const before = ctx.stats().liveBytes;
  await fn();
  const peak = ctx.stats().peakLiveBytes - before;
  const wall = await timeAsync(`gpu ${label}`, fn, opts);
  const kernel = await kernelTimeMs(ctx, fn, 1);
  rows.push({
    impl: 'ghostgrad GPU (f32)',
    pass: label,
    segments: nSeg,
    wallMs: wall.meanMs,
    kernelMs: kernel,
    segPerSecWall: nSeg / (wall.meanMs / 1e3),
    segPerSecKernel: kernel ? nSeg / (kernel / 1e3) : null,
    peakGpuMiB: peak / 2 ** 20,
    rme: wall.rmePercent,
    samples: wall.samples,
  });
}

if (runCpu) {
  const t0 = performance.now();
  const ref = chainForward(segments, undefined, config);
  const tf = performance.now() - t0;
  const g = new Float64Array(ref.output.length).fill(1);
  const t1 = performance.now();
  chainBackward(ref, g);
  const tb = performance.now() - t1;
  for (const [label, ms] of [
    ['forward', tf],
    ['forward+backward', tf + tb],
  ]) {
    rows.push({ impl: 'CPU reference (f64, 1 thread)', pass: label, segments: nSeg, wallMs: ms, kernelMs: null, segPerSecWall: nSeg / (ms / 1e3), segPerSecKernel: null, peakGpuMiB: null, rme: null, samples: 1 });
  }
}

writeResults('drift', {
  rows,
  columns: ['impl', 'pass', 'segments', 'wallMs', 'kernelMs', 'segPerSecWall', 'segPerSecKernel', 'peakGpuMiB', 'rme', 'samples'],
  meta: { ...machineInfo(ctx), ...shape, nSeg },
  notes: [
    `Batch: ${nSeg} segments of 1 GeV (minimum-ionising, 2.1 MeV/cm) muons, 0.3 cm steps, default 2x2-like geometry (70×70 pixels, 0.1 µs ticks), Box recombination, nσ = 4, step-rule quadrature.`,
    shape ? `Per batch: ${shape.points} quadrature points, ${shape.entries} point–cell entries, ${shape.cells} output cells.` : '',
    'wallMs: whole call including planning readbacks (3 per forward) and the result readback; kernelMs: sum of GPU timestamp-query kernel times (profiler on: one pass per dispatch).',
    'forward+backward: loss = Σ cell charges; gradients for the 15 physics parameters and every segment column.',
    'peakGpuMiB: ctx peakLiveBytes above the live bytes before the call (pooled size classes).',
    'Context: larnd-sim computes induced currents on 10³ pixels in ~1 ms on a GPU (JINST 18 P04034); this benchmark computes collected charge, not induced current, so the figures are not directly comparable.',
  ].filter(Boolean),
});
seg.dispose();
phys.dispose();
await ctx.dispose();
process.exit(0);
