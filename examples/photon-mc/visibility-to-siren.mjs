// End to end: Monte Carlo visibility table on the GPU → SIREN surrogate.
//
//   npm run build && node examples/photon-mc/visibility-to-siren.mjs
//
// 1. Propagate optical photons through the 2x2-like detector
//    (examples/detectors/2x2-like.json) from the voxel centres of a coarse
//    grid over drift volume 0 and build the visibility table (photon-library
//    layout [nx, ny, nz, numPD], x slowest). The table is also written to a
//    table file and read back.
// 2. Fit a SIREN to the table with the photon family's trainer
//    (fitSirenToLibrary) and report its accuracy metric (evaluateSirenOnLibrary:
//    mean 2|p − t|/(p + t) over entries with t > 4.5e-5).
//
// Environment (to shrink or grow it):
//   MC_GRID=6,16,8        voxels over volume 0
//   MC_PHOTONS=20000      photons per voxel
//   SIREN_STEPS=800       Adam steps (0 skips training)
//   SIREN_WIDTH=64        hidden width; SIREN_LAYERS=2 hidden layers
//   SIREN_BATCH=256       voxels per minibatch
//   SIREN_OMEGA=5         ω0 of every layer (30, the SIREN default, is too
//                         high a frequency for a grid this coarse)
//   NOISE_FLOOR=1         0 skips the second Monte Carlo table (other seed)
//                         whose bias against the first is the statistical floor
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

if (!process.env.XDG_RUNTIME_DIR) {
  mkdirSync('/tmp/ghostgrad-xdg', { recursive: true, mode: 0o700 });
  process.env.XDG_RUNTIME_DIR = '/tmp/ghostgrad-xdg';
}

const gg = await import('../../dist/index.js');
// The photon-mc and photon families are re-exported from the package entry
// point; fall back to their modules while those exports are not yet wired.
const mc = gg.generateVisibilityMap ? gg : await import('../../dist/kernels/photon-mc/index.js');
const photon = gg.fitSirenToLibrary ? gg : await import('../../dist/kernels/photon/index.js');
const { createGpu } = gg;
const { parseDetector, generateVisibilityMap, saveVisibilityTable, loadVisibilityTable } = mc;

const grid = (process.env.MC_GRID ?? '6,16,8').split(',').map(Number);
const photons = Number(process.env.MC_PHOTONS ?? 20000);
const steps = Number(process.env.SIREN_STEPS ?? 800);
const width = Number(process.env.SIREN_WIDTH ?? 64);
const layers = Number(process.env.SIREN_LAYERS ?? 2);
const batch = Number(process.env.SIREN_BATCH ?? 256);
const omega = Number(process.env.SIREN_OMEGA ?? 5);
const noiseFloor = process.env.NOISE_FLOOR !== '0';

/** siren-lartpc's bias metric, mean 2|p − t|/(p + t) over t > 4.5e-5, between two host tables. */
function bias(pred, truth) {
  let sum = 0;
  let count = 0;
  for (let i = 0; i < truth.length; i++) {
    if (!(truth[i] > 4.5e-5)) continue;
    sum += (2 * Math.abs(pred[i] - truth[i])) / (pred[i] + truth[i]);
    count++;
  }
  return sum / count;
}

const detector = parseDetector(readFileSync(new URL('../detectors/2x2-like.json', import.meta.url), 'utf8'));
const ctx = await createGpu();
console.log(`adapter: ${ctx.adapter.description || ctx.adapter.device}${ctx.adapter.isSoftware ? ' (software)' : ''}`);

// ---- 1. visibility table -------------------------------------------------
const voxels = grid[0] * grid[1] * grid[2];
let t0 = performance.now();
let lastPrint = 0;
const table = await generateVisibilityMap(ctx, detector, {
  grid,
  volume: 0,
  photonsPerSource: photons,
  seed: 2026,
  onProgress: ({ photonsDone, photonsTotal }) => {
    const now = performance.now();
    if (now - lastPrint > 2000 || photonsDone === photonsTotal) {
      lastPrint = now;
      process.stderr.write(`  propagated ${photonsDone}/${photonsTotal} photons\n`);
    }
  },
});
const mcSeconds = (performance.now() - t0) / 1000;
console.log(
  `visibility table: grid ${grid.join('×')} over volume 0 × ${photons} photons = ${(voxels * photons).toExponential(2)} photons ` +
    `in ${mcSeconds.toFixed(1)} s (${((voxels * photons) / mcSeconds / 1e6).toFixed(2)} M photons/s)`,
);
const dir = mkdtempSync(join(tmpdir(), 'ghostgrad-example-'));
const file = join(dir, '2x2-volume0.ggvt');
await saveVisibilityTable(file, table);
const back = await loadVisibilityTable(file);
rmSync(dir, { recursive: true, force: true });
console.log(`table file round trip: ${back.data.length} f32 values, identical: ${back.data.every((v, i) => Object.is(v, table.data[i]))}`);

// Volume 0's own photodetectors: the other volume's tiles never see these voxels.
const columns = detector.photodetectors.flatMap((p, i) => (p.volume === 0 ? [i] : []));
const np = detector.photodetectors.length;
const data = new Float32Array(voxels * columns.length);
for (let v = 0; v < voxels; v++) columns.forEach((c, j) => (data[v * columns.length + j] = table.data[v * np + c]));
const lib = photon.createPhotonLibrary({ ...table.meta, numPhotodetectors: columns.length }, data);
let vmax = 0;
for (const x of data) vmax = Math.max(vmax, x);
console.log(`photon library: ${columns.length} photodetectors of volume 0, max visibility ${vmax.toExponential(3)}`);

if (noiseFloor) {
  // The same table from independent photons: its bias against the first is
  // what Monte Carlo noise alone contributes (a fit cannot be judged below it).
  const other = await generateVisibilityMap(ctx, detector, { grid, volume: 0, photonsPerSource: photons, seed: 2027 });
  const sub = new Float32Array(data.length);
  for (let v = 0; v < voxels; v++) columns.forEach((c, j) => (sub[v * columns.length + j] = other.data[v * np + c]));
  console.log(`Monte Carlo noise floor (seed 2027 vs 2026): visibility bias ${bias(sub, data).toFixed(3)}`);
}

// ---- 2. SIREN -------------------------------------------------------------
if (steps > 0) {
  const { createSiren, sirenConfig, fitSirenToLibrary, evaluateSirenOnLibrary } = photon;
  const config = sirenConfig({ inputDim: 3, hiddenWidth: width, hiddenLayers: layers, outputDim: columns.length, omegaFirst: omega, omegaHidden: omega });
  const net = createSiren(ctx, config, { seed: 1 });
  const before = await evaluateSirenOnLibrary(net, lib);
  t0 = performance.now();
  const fit = await fitSirenToLibrary(net, lib, {
    steps,
    batchSize: batch,
    lr: 2e-3,
    // Unweighted log-scale L2: on a table this small the visibility-weighted
    // loss concentrates on the few brightest voxels and fits the rest poorly.
    weighting: false,
    progressEvery: Math.max(1, Math.floor(steps / 4)),
    onProgress: ({ step, loss }) => console.log(`  SIREN step ${step}: loss ${loss.toExponential(3)}`),
  });
  const after = await evaluateSirenOnLibrary(net, lib);
  console.log(
    `SIREN ${width}×${layers} fitted in ${((performance.now() - t0) / 1000).toFixed(1)} s (${fit.steps} steps): ` +
      `visibility bias ${before.bias.toFixed(3)} → ${after.bias.toFixed(3)} over ${after.count} entries with t > 4.5e-5`,
  );
  net.dispose();
}
await ctx.dispose();
