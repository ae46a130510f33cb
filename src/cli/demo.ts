/**
 * The main job (`npm run demo`, `ghostgrad demo`): one synthetic LArTPC event
 * through every kernel family, with a concise report and pictures.
 *
 * 1. runtime self-check (forward/backward vs float64, Adam);
 * 2. synthesise an event: a stopping muon with its Michel electron, an
 *    electron shower, a proton, low-energy blips;
 * 3. simulate its charge with the drift kernels (recombination → drift →
 *    pixel readout);
 * 4. fit the electron lifetime back from that charge by gradient descent;
 * 5. simulate its light: a coarse Monte Carlo visibility map, a SIREN
 *    surrogate fitted to it, and the flash (PE per photodetector);
 * 6. segment the voxelised charge with a sparse U-ResNet.
 *
 * Everything is generated from embedded defaults: no downloads, no arguments.
 *
 * @module
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Adam } from '../autodiff/optimizers.js';
import { backward } from '../autodiff/tape.js';
import { encodePng, renderComparisonPng, renderComparisonSvg, tileImages } from '../events/display.js';
import { parseDetector } from '../kernels/photon-mc/detector.js';
import { generateVisibilityMap } from '../kernels/photon-mc/visibility-map.js';
import { loadPretrainedUResNet } from '../models/pretrained.js';
import { predict, segmentationMetrics, trainUResNet } from '../models/train.js';
import { flashHypothesis, modelVisibility, sirenVisibilityModelGpu } from '../kernels/photon/flash.js';
import { photonsFromEnergy } from '../kernels/photon/flash.reference.js';
import { createPhotonLibrary } from '../kernels/photon/photon-library.reference.js';
import { createSiren } from '../kernels/photon/siren.js';
import { sirenConfig } from '../kernels/photon/siren.reference.js';
import { evaluateSirenOnLibrary, fitSirenToLibrary } from '../kernels/photon/train.js';
import { generateEvent, SEMANTIC_CLASSES, type LArTPCEvent } from '../events/generator.js';
import { blurredMse } from '../kernels/drift/loss.js';
import { scaledPhysics, simulateCharge } from '../kernels/drift/chain.js';
import { defaultChainConfig } from '../kernels/drift/chain.reference.js';
import { defaultGeometry } from '../kernels/drift/geometry.js';
import { segmentsFromObjects } from '../kernels/drift/segments.js';
import { segmentsTensor } from '../kernels/drift/tensors.js';
import type { GpuContext } from '../runtime/context.js';
import { tensor } from '../runtime/tensor.js';
import { heatmapImage, heatmapSvg, lineChartSvg } from './plot.js';
import { progress } from './progress.js';
import { selfCheck } from './selfcheck.js';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Folder for pictures and the JSON report. */
  outDir: string;
  /** Gradient steps of the lifetime fit, after the total-charge start. */
  fitSteps: number;
  /** Fine-tuning steps of the pretrained U-ResNet before it segments the event (default 0). */
  fineTuneSteps?: number;
  /** Event seed. */
  seed: number;
  /** Printer for the report (default console.log). */
  log?: (line: string) => void;
}

/** What the demo measured (also written as report.json). */
export interface DemoReport {
  adapter: string;
  software: boolean;
  stages: { name: string; ms: number }[];
  event: { voxels: number; energyMeV: number; classCounts: Record<string, number> };
  charge?: { cells: number; electrons: number };
  lifetime?: { truthMs: number; nominalMs: number; startMs: number; startSimulations: number; fittedMs: number; relativeError: number; steps: number };
  flash?: { photodetectors: number; totalPE: number; pe: number[]; sirenAccuracy: number };
  segmentation?: { model: string; accuracy: number; perClass: Record<string, number | null>; classVoxels: Record<string, number>; fineTuneSteps: number };
  pictures: string[];
}

/** Voxel edge of the demo event, mm; the event spans 96 voxels = 28.8 cm, inside the 2x2 drift volume. */
const VOXEL_MM = 3;
const VOLUME_VOXELS = 96;

/** The demo event: chosen particles in a 28.8 cm cube, plus a few random blips. */
export function demoEvent(seed: number): LArTPCEvent {
  const L = VOLUME_VOXELS * VOXEL_MM;
  return generateEvent({
    seed,
    volumeVoxels: VOLUME_VOXELS,
    voxelSizeMm: VOXEL_MM,
    interactions: 0,
    rain: 0,
    blips: 12,
    particles: [
      // a stopping μ+ (always decays): track + Michel electron at its end
      { pdg: -13, kineticEnergyMeV: 90, positionMm: [0.15 * L, 0.8 * L, 0.2 * L], direction: [1, -0.4, 0.35] },
      // an electromagnetic shower
      { pdg: 11, kineticEnergyMeV: 120, positionMm: [0.55 * L, 0.2 * L, 0.6 * L], direction: [0.2, 1, -0.3] },
      // a stopping proton (Bragg peak)
      { pdg: 2212, kineticEnergyMeV: 80, positionMm: [0.3 * L, 0.3 * L, 0.75 * L], direction: [0.6, 0.2, -0.8] },
    ],
  });
}

/** Runs the demo on `ctx`. */
export async function runDemo(ctx: GpuContext, options: DemoOptions): Promise<DemoReport> {
  const log = options.log ?? ((line: string) => console.log(line));
  mkdirSync(options.outDir, { recursive: true });
  const a = ctx.adapter;
  const report: DemoReport = {
    adapter: a.description || a.device || a.vendor,
    software: a.isSoftware,
    stages: [],
    event: { voxels: 0, energyMeV: 0, classCounts: {} },
    pictures: [],
  };
  const stage = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await fn();
    const ms = performance.now() - t0;
    report.stages.push({ name, ms });
    log(`  [${(ms / 1000).toFixed(1).padStart(6)} s] ${name}`);
    return r;
  };
  const picture = (file: string, data: string | Uint8Array) => {
    const path = join(options.outDir, file);
    writeFileSync(path, data);
    report.pictures.push(path);
  };

  log(`ghostgrad demo on ${report.adapter} (${a.isSoftware ? 'software' : 'hardware'}; features: ${a.features.join(', ') || 'none'})`);

  // 1. runtime
  const check = await stage('runtime self-check', () => selfCheck(ctx, 50));
  if (!check.passed) throw new Error(`runtime self-check failed: gradient error ${check.gradientError}`);

  // 2. event
  const event = await stage('synthesise event', async () => demoEvent(options.seed));
  const n = event.labels.length;
  report.event.voxels = n;
  report.event.energyMeV = event.energy.reduce((s, e) => s + e, 0);
  for (const [k, name] of SEMANTIC_CLASSES.entries()) report.event.classCounts[name] = event.labels.filter((l) => l === k).length;

  // 3. charge: every voxel is a point deposit at its centre (cm), drifting along z to the anode at z = 0
  const cm = VOXEL_MM / 10;
  const rows = Array.from({ length: n }, (_, i) => {
    const x = (event.coords[i * 4 + 1]! + 0.5) * cm;
    const y = (event.coords[i * 4 + 2]! + 0.5) * cm;
    const z = (event.coords[i * 4 + 3]! + 0.5) * cm + 0.5;
    return { x_start: x, y_start: y, z_start: z, x_end: x, y_end: y, z_end: z, dE: event.energy[i]!, dx: 0 };
  });
  const segments = segmentsTensor(ctx, segmentsFromObjects(rows));
  const config = defaultChainConfig({ geometry: defaultGeometry() });
  const physics = scaledPhysics(ctx, ['lifetime']);
  const nominalTauMs = physics.nominal.lifetime / 1000;
  const truthTheta = 1.5 / nominalTauMs; // "data" simulated with τ = 1.5 ms
  const thetaTrue = tensor(ctx, [truthTheta]);
  const data = await stage('simulate charge (recombination, drift, pixel readout)', () => simulateCharge(segments, physics.apply(thetaTrue), config));
  const stats = await data.stats();
  report.charge = { cells: data.length, electrons: stats.electronsCollected };

  // 4. lifetime: a start from the total collected charge, then gradient
  // refinement on the blurred image. The total charge falls monotonically
  // with 1/τ, so a secant search on it needs only forward simulations (a few
  // ms each); the image loss then refines the start with the full
  // differentiable chain. From the nominal 2.2 ms, Adam alone needed ~60
  // steps (~2 s each on lavapipe) for 0.4 %.
  const dataCharge = stats.electronsCollected;
  const chargeAt = async (scale: number): Promise<number> => {
    const t = tensor(ctx, [scale]);
    const phys = physics.apply(t);
    const sim = await simulateCharge(segments, phys, config);
    const q = (await sim.stats()).electronsCollected;
    sim.dispose();
    phys.dispose();
    t.dispose();
    return q;
  };
  const start = await stage('lifetime start: match the total collected charge (secant search, forward only)', async () => {
    let [s0, s1] = [1, 0.8];
    let [g0, g1] = [(await chargeAt(s0)) - dataCharge, (await chargeAt(s1)) - dataCharge];
    let simulations = 2;
    while (Math.abs(s1 - s0) > 1e-6 * Math.abs(s1) && g1 !== g0 && simulations < 12) {
      [s0, g0, s1] = [s1, g1, s1 - (g1 * (s1 - s0)) / (g1 - g0)];
      if (!(s1 > 0)) s1 = s0 / 2;
      g1 = (await chargeAt(s1)) - dataCharge;
      simulations++;
    }
    return { scale: s1, simulations };
  });
  const theta = tensor(ctx, [start.scale], [1], { requiresGrad: true });
  const opt = new Adam([theta], { lr: 0.002 });
  const losses: number[] = [];
  const taus: number[] = [];
  await stage(`refine electron lifetime on the blurred image (${options.fitSteps} Adam steps)`, async () => {
    const bar = progress('lifetime fit', options.fitSteps);
    for (let step = 0; step < options.fitSteps; step++) {
      // Small steps that shrink: the start is already close, and Adam's
      // first steps have the size of the learning rate whatever the gradient.
      opt.setLearningRate(Math.max(1e-4, 0.002 * 0.7 ** step));
      opt.zeroGrad();
      const phys = physics.apply(theta);
      const sim = await simulateCharge(segments, phys, config);
      const loss = blurredMse(sim, data, { sigmaPixels: 1, sigmaTicks: 2 });
      backward(loss);
      opt.step();
      losses.push((await loss.read())[0]!);
      taus.push((await theta.read())[0]! * nominalTauMs);
      loss.dispose();
      sim.dispose();
      phys.dispose();
      bar.update(step + 1, { loss: losses[losses.length - 1]!, 'τ ms': taus[taus.length - 1]! });
    }
    bar.stop();
  });
  const fitted = taus[taus.length - 1]!;
  report.lifetime = {
    truthMs: 1.5,
    nominalMs: nominalTauMs,
    startMs: start.scale * nominalTauMs,
    startSimulations: start.simulations,
    fittedMs: fitted,
    relativeError: Math.abs(fitted - 1.5) / 1.5,
    steps: options.fitSteps,
  };
  const steps = losses.map((_, i) => i + 1);
  const best = losses.reduce((b, v, i) => (v < losses[b]! ? i : b), 0);
  picture(
    'lifetime-fit-loss.svg',
    lineChartSvg({
      title: 'Lifetime fit: blurred-image loss per Adam step',
      xLabel: 'Adam step',
      yLabel: 'blurred MSE (relative to the blurred data)',
      logY: true,
      series: [{ name: 'loss', x: steps, y: losses }],
      marker: { x: best + 1, y: losses[best]!, label: `minimum at step ${best + 1}` },
    }),
  );
  picture(
    'lifetime-fit-tau.svg',
    lineChartSvg({ title: 'Lifetime fit: τ', xLabel: 'Adam step', yLabel: 'electron lifetime (ms)', series: [{ name: 'fitted τ', x: steps, y: taus }], reference: { y: 1.5, label: 'truth 1.5 ms' } }),
  );
  opt.dispose();
  theta.dispose();
  thetaTrue.dispose();
  data.dispose();

  // 5. light: Monte Carlo visibility map → SIREN surrogate → flash
  const flash = await photonStage(ctx, event, stage, picture);
  report.flash = flash;

  // 6. segmentation: the pretrained U-ResNet of the package (optionally fine-tuned on fresh synthetic events)
  const seg = await segmentationStage(ctx, event, stage, options.seed, options.fineTuneSteps ?? 0);
  report.segmentation = seg.report;
  picture('event-display.png', renderComparisonPng(event, seg.predicted, { scale: 4 }));
  // The SVG carries what the PNG cannot: "truth" / "prediction" titles, plane names and the class legend.
  picture('event-display.svg', renderComparisonSvg(event, seg.predicted));

  segments.dispose();
  physics.dispose();
  writeFileSync(join(options.outDir, 'report.json'), JSON.stringify(report, null, 2));

  log('');
  log(`event: ${n} voxels, ${report.event.energyMeV.toFixed(1)} MeV; classes ${JSON.stringify(report.event.classCounts)}`);
  log(`charge: ${report.charge.cells} pixel-tick cells`);
  log(
    `lifetime: truth 1.500 ms, nominal ${nominalTauMs.toFixed(3)} ms; total-charge start ${report.lifetime.startMs.toFixed(3)} ms ` +
      `(${report.lifetime.startSimulations} forward simulations), after ${options.fitSteps} Adam steps ${fitted.toFixed(3)} ms ` +
      `(${(100 * report.lifetime.relativeError).toFixed(2)}% off)`,
  );
  const top = flash.pe.map((pe, d) => ({ pe, d })).sort((x, y) => y.pe - x.pe).slice(0, 6);
  log(`light: ${flash.totalPE.toFixed(0)} PE over ${flash.photodetectors} photodetectors; brightest ${top.map((t) => `#${t.d} ${t.pe.toFixed(0)}`).join(', ')}`);
  log(`       SIREN surrogate accuracy (siren-lartpc bias, lower is better): ${flash.sirenAccuracy.toFixed(3)}`);
  log(`       PE per photodetector: ${flash.pe.map((v) => v.toFixed(0)).join(' ')}`);
  const sr = report.segmentation;
  log(
    `segmentation (${sr.model}${sr.fineTuneSteps ? `, ${sr.fineTuneSteps} fine-tuning steps` : ''}): voxel accuracy ${(100 * sr.accuracy).toFixed(1)}%; per class ` +
      Object.entries(sr.perClass)
        .map(([k, v]) => `${k} ${v === null ? 'n/a' : (100 * v).toFixed(0) + '%'} of ${sr.classVoxels[k]}`)
        .join(', '),
  );
  const slowest = [...report.stages].sort((x, y) => y.ms - x.ms).slice(0, 3);
  log(`time: ${(report.stages.reduce((t, s) => t + s.ms, 0) / 1000).toFixed(1)} s in all; most in ${slowest.map((s) => `${s.name} (${(s.ms / 1000).toFixed(1)} s)`).join(', ')}`);
  log(`pictures: ${report.pictures.join(', ')}`);
  return report;
}


/** The 2x2-like detector shipped in examples/detectors (part of the package files). */
function demoDetector() {
  return parseDetector(readFileSync(new URL('../../examples/detectors/2x2-like.json', import.meta.url), 'utf8'));
}

async function photonStage(
  ctx: GpuContext,
  event: LArTPCEvent,
  stage: <T>(name: string, fn: () => Promise<T>) => Promise<T>,
  picture: (file: string, data: string | Uint8Array) => void,
): Promise<NonNullable<DemoReport['flash']>> {
  const detector = demoDetector();
  const volume = detector.volumes[0]!;
  const grid: [number, number, number] = [6, 16, 8];
  const table = await stage('photon Monte Carlo: visibility map 6×16×8 voxels × 20k photons', () =>
    generateVisibilityMap(ctx, detector, { grid, volume: 0, photonsPerSource: 20_000, seed: 2026 }),
  );
  // Only volume 0's photodetectors see volume 0's voxels.
  const columns = detector.photodetectors.flatMap((p, i) => (p.volume === 0 ? [i] : []));
  const np = detector.photodetectors.length;
  const voxels = grid[0] * grid[1] * grid[2];
  const data = new Float32Array(voxels * columns.length);
  for (let v = 0; v < voxels; v++) columns.forEach((c, j) => (data[v * columns.length + j] = table.data[v * np + c]!));
  const lib = createPhotonLibrary({ ...table.meta!, numPhotodetectors: columns.length }, data);

  // A small SIREN with a linear output on the log-transformed visibility;
  // ω0 = 5 suits a grid this coarse (30 resolves detail the table does not
  // have). On this table it reaches the Monte Carlo noise floor of the
  // accuracy metric (≈ 0.18, from a second seed), where a sine output
  // stalls near 0.26.
  const net = createSiren(
    ctx,
    sirenConfig({ inputDim: 3, hiddenWidth: 64, hiddenLayers: 2, outputDim: columns.length, omegaFirst: 5, omegaHidden: 5, outputActivation: 'linear' }),
    { seed: 1 },
  );
  const accuracy = await stage('fit SIREN surrogate to the map (1500 Adam steps)', async () => {
    await fitSirenToLibrary(net, lib, { steps: 1500, batchSize: 256, lr: 2e-3, weighting: false, progressEvery: 1500 });
    return (await evaluateSirenOnLibrary(net, lib)).bias;
  });
  const box = { min: [...volume.min] as [number, number, number], max: [...volume.max] as [number, number, number] };
  // The log transform the fit used for a linear output: plain, no sinOut.
  const model = sirenVisibilityModelGpu(net, box, { transform: {} });

  // The event's voxels, placed inside volume 0 (cm), each emitting photons ∝ its energy.
  const n = event.labels.length;
  const pos = new Float32Array(n * 3);
  const offset = [box.min[0] + 0.6, box.min[1] + 40, box.min[2] + 15];
  for (let i = 0; i < n; i++) for (let a = 0; a < 3; a++) pos[3 * i + a] = offset[a]! + (event.coords[4 * i + 1 + a]! + 0.5) * (VOXEL_MM / 10);
  const pe = await stage('flash hypothesis (SIREN visibility × photons, per photodetector)', async () =>
    ctx.scope(async () => {
      const positions = tensor(ctx, pos, [n, 3]);
      const charges = tensor(ctx, Float32Array.from(photonsFromEnergy(event.energy)));
      const flash = await flashHypothesis(model, positions, charges);
      return Array.from(await flash.read());
    }),
  );

  // Visibility slice at mid-x (y across, z down), summed over photodetectors:
  // the Monte Carlo table | the surrogate at the same voxel centres | the
  // surrogate on a 4× finer grid (between centres it is unconstrained by
  // this coarse table). One log colour scale for all three.
  const ix = Math.floor(grid[0] / 2);
  const x = box.min[0] + (ix + 0.5) * ((box.max[0] - box.min[0]) / grid[0]);
  const sliceAt = async (ny: number, nz: number): Promise<Float64Array> => {
    const pts = new Float32Array(ny * nz * 3);
    for (let iz = 0; iz < nz; iz++) {
      for (let iy = 0; iy < ny; iy++) {
        const k = iz * ny + iy;
        pts[3 * k] = x;
        pts[3 * k + 1] = box.min[1] + ((iy + 0.5) / ny) * (box.max[1] - box.min[1]);
        pts[3 * k + 2] = box.min[2] + ((iz + 0.5) / nz) * (box.max[2] - box.min[2]);
      }
    }
    return ctx.scope(async () => {
      const v = await (await modelVisibility(model, tensor(ctx, pts, [ny * nz, 3]))).read();
      const out = new Float64Array(ny * nz);
      for (let k = 0; k < ny * nz; k++) for (let j = 0; j < columns.length; j++) out[k]! += v[k * columns.length + j]!;
      return out;
    });
  };
  const tableSlice = new Float64Array(grid[1] * grid[2]);
  for (let iy = 0; iy < grid[1]; iy++) {
    for (let iz = 0; iz < grid[2]; iz++) {
      const off = ((ix * grid[1] + iy) * grid[2] + iz) * columns.length;
      for (let j = 0; j < columns.length; j++) tableSlice[iz * grid[1] + iy]! += data[off + j]!;
    }
  }
  const coarse = await sliceAt(grid[1], grid[2]);
  const fine = await sliceAt(grid[1] * 4, grid[2] * 4);
  const range: [number, number] = [Math.log10(Math.max(1e-12, Math.min(...tableSlice))), Math.log10(Math.max(...tableSlice))];
  picture(
    'visibility-slice.png',
    encodePng(
      tileImages(
        [
          heatmapImage(tableSlice, grid[2], grid[1], { pixel: 16, log: true, range }),
          heatmapImage(coarse, grid[2], grid[1], { pixel: 16, log: true, range }),
          heatmapImage(fine, grid[2] * 4, grid[1] * 4, { pixel: 4, log: true, range }),
        ],
        3,
        8,
      ),
    ),
  );
  // The same slice as a labelled figure: slices are [z rows, y cols] with
  // row 0 at the top above; the SVG wants row 0 at the bottom (z up).
  const zUp = (v: Float64Array, rows: number, cols: number): Float64Array => {
    const out = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) out.set(v.subarray(r * cols, (r + 1) * cols), (rows - 1 - r) * cols);
    return out;
  };
  const [rows, cols] = [grid[2], grid[1]];
  const relative = coarse.map((v, k) => (v - tableSlice[k]!) / tableSlice[k]!);
  picture(
    'visibility-slice.svg',
    heatmapSvg({
      title: `Visibility summed over ${columns.length} photodetectors, slice x = ${x.toFixed(1)} cm (volume 0)`,
      xLabel: 'y (cm)',
      yLabel: 'z (cm)',
      xRange: [box.min[1], box.max[1]],
      yRange: [box.min[2], box.max[2]],
      log: true,
      colourLabel: 'visibility (detected / emitted), log',
      panels: [
        { title: 'Monte Carlo table', values: zUp(tableSlice, rows, cols), rows, cols },
        { title: 'SIREN surrogate (voxel centres)', values: zUp(coarse, rows, cols), rows, cols },
        { title: 'SIREN surrogate (4× finer)', values: zUp(fine, rows * 4, cols * 4), rows: rows * 4, cols: cols * 4 },
      ],
      difference: { title: '(surrogate − table) / table', values: zUp(relative, rows, cols), rows, cols, colourLabel: 'relative difference' },
    }),
  );
  net.dispose();
  return { photodetectors: columns.length, totalPE: pe.reduce((s, v) => s + v, 0), pe, sirenAccuracy: accuracy };
}

/** The pretrained model the demo segments with (94.7 % on 512 held-out events; docs/uresnet.md). */
const DEMO_MODEL = 'uresnet-d4f16';

async function segmentationStage(
  ctx: GpuContext,
  event: LArTPCEvent,
  stage: <T>(name: string, fn: () => Promise<T>) => Promise<T>,
  seed: number,
  fineTuneSteps: number,
): Promise<{ predicted: Int32Array; report: NonNullable<DemoReport['segmentation']> }> {
  const model = await loadPretrainedUResNet(ctx, DEMO_MODEL);
  try {
    if (fineTuneSteps > 0) {
      await stage(`fine-tune U-ResNet (${fineTuneSteps} Adam steps, 2 synthetic events per step)`, () =>
        trainUResNet(model, {
          steps: fineTuneSteps,
          adam: { lr: 1e-4 },
          label: 'fine-tune',
          batch: (step) =>
            [0, 1].map((k) => {
              // fresh events like the demo's, never the demo event itself (other seeds)
              const e = generateEvent({ preset: 'small', volumeVoxels: VOLUME_VOXELS, seed: 1_000_000 + seed * 1000 + 2 * step + k });
              return { coords: e.coords, energy: e.energy, labels: e.labels };
            }),
        }),
      );
    }
    const prediction = await stage('segment the event (sparse U-ResNet inference)', () => predict(model, { coords: event.coords, energy: event.energy }));
    const m = segmentationMetrics(prediction.labels, event.labels, SEMANTIC_CLASSES.length);
    const perClass: Record<string, number | null> = {};
    SEMANTIC_CLASSES.forEach((name, k) => (perClass[name] = Number.isNaN(m.classAccuracy[k]!) ? null : m.classAccuracy[k]!));
    const classVoxels: Record<string, number> = {};
    SEMANTIC_CLASSES.forEach((name, k) => (classVoxels[name] = event.labels.filter((l) => l === k).length));
    return { predicted: prediction.labels, report: { model: DEMO_MODEL, accuracy: m.accuracy, perClass, classVoxels, fineTuneSteps } };
  } finally {
    model.dispose();
  }
}
