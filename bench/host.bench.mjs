// Host cost per step: what the CPU does to drive the GPU, with GPU execution
// taken out. For each workload, after warm-up (pipelines compiled, pools and
// caches filled):
//   - counts per step with real execution, from ctx.stats(): dispatches,
//     submits, readbacks, bind groups / buffers / pipelines created, uploads
//     and bytes uploaded;
//   - host milliseconds per step with every dispatchWorkgroups turned into a
//     no-op (pipelines, bind groups, copies, uploads and readbacks still
//     happen; the kernels do not run), median and minimum over the samples;
//   - the counts again under the no-op, to show that the no-op did not change
//     the work recorded (a readback whose value sizes later work could).
// The GPU floor columns turn the counts into the time a real GPU would spend
// on launches alone: dispatches × 5–10 µs plus readbacks × 50–200 µs (round
// trips), i.e. what a step costs however fast the kernels are.
//
// Environment (all optional):
//   HOST_CASES    comma list of workloads (default: all), from
//                 uresnet-5k, uresnet-57k, uresnet-predict, siren, drift-fit, conv-50k, photon-mc
//   HOST_SAMPLES  no-op samples per workload (default 15; the 57k step 5)
//   HOST_FAST     "1": 3 samples, 1 warm-up (smoke run)
import { Adam, backward, mseLoss, noGrad, sum, tensor } from '../dist/index.js';
import { generateEvent } from '../dist/events/index.js';
import { UResNet, UResNetTrainer, predict } from '../dist/models/index.js';
import { CoordinateSet, SparseTensor, submanifoldConv } from '../dist/kernels/sparse/index.js';
import { createSiren, sirenConfig, sirenForward } from '../dist/kernels/photon/index.js';
import {
  blurredMse,
  concatSegments,
  defaultChainConfig,
  defaultGeometry,
  generateSyntheticSegments,
  scaledPhysics,
  segmentsFromObjects,
  segmentsTensor,
  simulateCharge,
} from '../dist/kernels/drift/index.js';
import { generateVisibilityMap, parseDetector } from '../dist/kernels/photon-mc/index.js';
import { readFileSync } from 'node:fs';
import { machineInfo, setupGpu, trackEvent, writeResults } from './harness.mjs';

const fast = process.env.HOST_FAST === '1';
const samplesDefault = fast ? 3 : Number(process.env.HOST_SAMPLES ?? 15);
const all = ['uresnet-5k', 'uresnet-57k', 'uresnet-predict', 'siren', 'drift-fit', 'conv-50k', 'photon-mc'];
const wanted = (process.env.HOST_CASES ?? all.join(',')).split(',');
for (const w of wanted) if (!all.includes(w)) throw new Error(`HOST_CASES: unknown workload ${JSON.stringify(w)}; known: ${all.join(', ')}`);

const { ctx } = await setupGpu();

// ------------------------------------------------------------ the no-op switch

const realDispatch = GPUComputePassEncoder.prototype.dispatchWorkgroups;
const realIndirect = GPUComputePassEncoder.prototype.dispatchWorkgroupsIndirect;
function executeKernels(on) {
  GPUComputePassEncoder.prototype.dispatchWorkgroups = on ? realDispatch : function () {};
  GPUComputePassEncoder.prototype.dispatchWorkgroupsIndirect = on ? realIndirect : function () {};
}

// ------------------------------------------------------------ workloads

/** A batch of `batch` default-preset events with about `voxels` voxels in all (as bench/uresnet). */
function uresnetBatch(voxels, batch) {
  const per = Math.ceil(voxels / batch);
  const events = [];
  for (let seed = 1; events.length < batch; seed++) {
    const e = generateEvent({ seed });
    if (e.energy.length < per) continue;
    events.push({ coords: e.coords.slice(0, 4 * per), features: e.energy.slice(0, per), labels: e.labels.slice(0, per) });
  }
  return events;
}

function uresnetTrain(voxels, batch) {
  return () => {
    const model = new UResNet(ctx);
    const trainer = new UResNetTrainer(model);
    const events = uresnetBatch(voxels, batch);
    return {
      what: `default U-ResNet (depth 5, 32 filters), ${voxels.toLocaleString('en')} voxels × ${batch}, one Adam step (loss read back)`,
      step: async () => void (await trainer.step(events)),
      dispose: () => {
        trainer.dispose();
        model.dispose();
      },
    };
  };
}

const workloads = {
  'uresnet-5k': uresnetTrain(5000, 1),
  'uresnet-57k': uresnetTrain(57000, 16),
  'uresnet-predict': () => {
    const model = new UResNet(ctx).eval();
    const [event] = uresnetBatch(5000, 1);
    return {
      what: 'default U-ResNet predict, 5,000 voxels (eval, labels and scores read back)',
      step: async () => void (await predict(model, event)),
      dispose: () => model.dispose(),
    };
  },
  siren: () => {
    const net = createSiren(ctx, sirenConfig({ inputDim: 3, hiddenWidth: 256, hiddenLayers: 3, outputDim: 180 }), { seed: 1 });
    const opt = new Adam(net.parameters(), { lr: 1e-4 });
    const batch = 16384;
    const xHost = Float32Array.from({ length: batch * 3 }, (_, i) => Math.sin(i * 0.37));
    const yHost = Float32Array.from({ length: batch * 180 }, (_, i) => 0.5 + 0.4 * Math.cos(i * 0.11));
    return {
      what: 'SIREN 3→256×3→180, batch 16,384: upload the batch, forward, MSE, backward, Adam (loss read back)',
      step: async () =>
        ctx.scope(async () => {
          const x = tensor(ctx, xHost, [batch, 3]);
          const y = tensor(ctx, yHost, [batch, 180]);
          opt.zeroGrad();
          const loss = mseLoss(sirenForward(net, x), y);
          backward(loss);
          opt.step();
          await loss.read();
        }),
      // The batch upload alone, to compare the step's host time with.
      upload: async () =>
        ctx.scope(async () => {
          tensor(ctx, xHost, [batch, 3]);
          tensor(ctx, yHost, [batch, 180]);
          await ctx.sync();
        }),
      dispose: () => {
        opt.zeroGrad();
        opt.dispose();
        net.dispose();
      },
    };
  },
  'drift-fit': () => closureFit(),
  'conv-50k': () => {
    const { coords } = trackEvent(50000, 1234 + 50000, 6); // the 50k case of bench/sparse
    const n = coords.length / 4;
    const set = new CoordinateSet(ctx, 3, coords);
    const c = 16;
    const feats = tensor(ctx, Float32Array.from({ length: n * c }, (_, i) => Math.sin(i)), [n, c], { requiresGrad: true });
    const w = tensor(ctx, Float32Array.from({ length: 27 * c * c }, (_, i) => 0.05 * Math.cos(i)), [27, c, c], { requiresGrad: true });
    return {
      what: 'submanifold conv 3³ 16→16 on 50,000 track voxels (kernel map cached), forward + backward, dW read back',
      step: async () =>
        ctx.scope(async () => {
          const y = submanifoldConv(new SparseTensor(set, feats), w);
          backward(sum(y.feats));
          await w.grad.read();
          for (const t of [feats, w]) {
            t.grad.dispose();
            t.grad = null;
          }
        }),
      dispose: () => {
        for (const t of [feats, w]) t.dispose();
        set.dispose();
      },
    };
  },
  'photon-mc': () => {
    const detector = parseDetector(readFileSync(new URL('../examples/detectors/2x2-like.json', import.meta.url), 'utf8'));
    return {
      what: "photon Monte Carlo visibility map, the demo's 6×16×8 voxels × 20k photons",
      step: async () => void (await generateVisibilityMap(ctx, detector, { grid: [6, 16, 8], volume: 0, photonsPerSource: 20_000, seed: 2026 })),
      dispose: () => {},
    };
  },
};

/** One iteration of examples/drift/closure-fit.mjs (4 muons, 6 protons, 24² pixels, 0.1 µs ticks, six parameters). */
async function closureFit() {
  const names = ['Ab', 'kb', 'eField', 'lifetime', 'dL', 'dT'];
  const truth = [0.98, 1.03, 1.04, 0.6, 1.1, 0.95];
  let s = 11;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const rows = [];
  for (let k = 0; k < 4; k++) {
    const a = [1 + 8.6 * rand(), 1 + 8.6 * rand(), 0.6 + 2 * rand()];
    const b = [1 + 8.6 * rand(), 1 + 8.6 * rand(), 27.5 + 2 * rand()];
    const L = Math.hypot(b[0] - a[0], b[1] - a[1], b[2] - a[2]);
    const at = (t) => a.map((x, i) => x + (t / L) * (b[i] - x));
    for (let t = 0; t < L; t += 0.3) {
      const p0 = at(t);
      const p1 = at(Math.min(L, t + 0.3));
      rows.push({ x_start: p0[0], y_start: p0[1], z_start: p0[2], x_end: p1[0], y_end: p1[1], z_end: p1[2], dE: 2.1 * (Math.min(L, t + 0.3) - t) });
    }
  }
  const protons = generateSyntheticSegments({ seed: 11, nMuons: 0, nProtons: 6, volume_cm: [[0.5, 0.5, 0.5], [10.1, 10.1, 29.8]], protonEnergy_MeV: [20, 60] });
  const segments = concatSegments([segmentsFromObjects(rows), protons]);
  const seg = segmentsTensor(ctx, segments);
  const sp = scaledPhysics(ctx, names);
  const config = defaultChainConfig({ geometry: defaultGeometry({ nPixels: [24, 24], tick_us: 0.1 }) });
  const thetaTrue = tensor(ctx, Float32Array.from(truth));
  const data = await simulateCharge(seg, sp.apply(thetaTrue), config);
  const theta = tensor(ctx, Float32Array.from(truth, (t, i) => t * (1 + [-0.1, 0.2, -0.15, 0.3, -0.25, 0.3][i])), [6], { requiresGrad: true });
  const opt = new Adam([theta], { lr: 0.004 });
  return {
    what: `drift closure-fit iteration: ${segments.length} segments, 24² pixels, 0.1 µs ticks, six parameters (loss read back)`,
    step: async () => {
      opt.zeroGrad();
      const phys = sp.apply(theta);
      const sim = await simulateCharge(seg, phys, config);
      const loss = blurredMse(sim, data, { sigmaPixels: 1, sigmaTicks: 2 });
      backward(loss);
      opt.step();
      await loss.read();
      for (const t of [loss, sim, phys]) t.dispose();
    },
    dispose: () => {
      opt.zeroGrad();
      opt.dispose();
      for (const t of [seg, thetaTrue, theta]) t.dispose();
      data.dispose();
      sp.dispose();
    },
  };
}

// ------------------------------------------------------------ measurement

const COUNTERS = ['dispatches', 'submits', 'readbacks', 'bindGroupsCreated', 'buffersCreated', 'pipelinesCreated', 'uploads', 'bytesUploaded'];

async function countsOf(step, steps) {
  await ctx.sync();
  const a = ctx.stats();
  for (let i = 0; i < steps; i++) await step();
  await ctx.sync();
  const b = ctx.stats();
  return Object.fromEntries(COUNTERS.map((k) => [k, (b[k] - a[k]) / steps]));
}

const median = (v) => {
  const s = [...v].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const rows = [];
for (const name of wanted) {
  const heavy = name === 'uresnet-57k';
  const w = await workloads[name]();
  console.error(`${name}: ${w.what}`);
  // Warm-up: one step with the kernels running (pipelines compile, sizes read
  // back are real), then one without (cheap), so that caches that alternate
  // between two states (BatchNorm's double-buffered running statistics) have
  // seen both before counting.
  await w.step();
  executeKernels(false);
  try {
    await w.step();
  } finally {
    executeKernels(true);
  }
  const real = await countsOf(w.step, heavy ? 1 : 2);
  executeKernels(false);
  let noop;
  const times = [];
  try {
    await w.step(); // the first no-op step may still differ (pool sizes after the real ones)
    noop = await countsOf(w.step, 1);
    const samples = heavy ? Math.min(5, samplesDefault) : samplesDefault;
    for (let i = 0; i < samples; i++) {
      await ctx.sync();
      const t0 = performance.now();
      await w.step();
      times.push(performance.now() - t0);
    }
  } finally {
    executeKernels(true);
    await ctx.sync();
  }
  let uploadMs = null;
  if (w.upload) {
    const up = [];
    for (let i = 0; i < times.length; i++) {
      await ctx.sync();
      const t0 = performance.now();
      await w.upload();
      up.push(performance.now() - t0);
    }
    uploadMs = median(up);
  }
  w.dispose();
  await ctx.sync();
  ctx.trimPool();
  const same = COUNTERS.every((k) => k === 'bytesUploaded' || noop[k] === real[k]);
  const row = {
    workload: name,
    ...real,
    hostMsMedian: median(times),
    hostMsMin: Math.min(...times),
    uploadMs,
    gpuFloorMs: `${((real.dispatches * 5 + real.readbacks * 50) / 1000).toFixed(1)}–${((real.dispatches * 10 + real.readbacks * 200) / 1000).toFixed(1)}`,
    noopCountsMatch: same ? 'yes' : `no (${COUNTERS.filter((k) => noop[k] !== real[k]).map((k) => `${k} ${noop[k]}`).join(', ')})`,
    samples: times.length,
    what: w.what,
  };
  rows.push(row);
  console.error(JSON.stringify(row));
}

const meta = { ...machineInfo(ctx), method: 'dispatchWorkgroups replaced by a no-op for the timed steps' };
writeResults('host', {
  rows,
  meta,
  columns: ['workload', 'dispatches', 'submits', 'readbacks', 'bindGroupsCreated', 'buffersCreated', 'pipelinesCreated', 'uploads', 'bytesUploaded', 'hostMsMedian', 'hostMsMin', 'uploadMs', 'gpuFloorMs', 'noopCountsMatch', 'samples'],
  notes: [
    'Counts are per step after warm-up, with the kernels running; host ms are per step with every dispatchWorkgroups a no-op (median and minimum of the samples), so they are the CPU cost of recording, submitting, uploading and reading back, not of the kernels.',
    'uploadMs: the median time of the step\'s input uploads alone (tensor() of the batch, then a sync), where a workload uploads a batch each step.',
    'noopCountsMatch: the same counts under the no-op. Where a readback sizes later work (drift planning), the no-op step reads whatever the pooled buffer held, so its work may differ; "yes" means it did not here.',
    'gpuFloorMs: what the launches alone would cost on a real GPU, dispatches × 5–10 µs + readbacks × 50–200 µs (assumed per-dispatch and per-round-trip costs), whatever the kernel speed.',
    ...rows.map((r) => `${r.workload}: ${r.what}`),
  ],
});
await ctx.dispose();
