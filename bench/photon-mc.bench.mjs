// Monte Carlo optical-photon propagation: photons propagated per second by
// ghostgrad's WGSL kernel (one invocation per photon) on the 2x2-like
// geometry, and, in the same process, by the float64 CPU reference
// propagator (single-threaded JavaScript) on the same sources and seed.
//
//   npm run build && node bench/photon-mc.bench.mjs
//
// Environment (to shrink or grow the run):
//   PHOTON_MC_GRID=2,2,2          voxel grid over volume 0 (sources)
//   PHOTON_MC_PHOTONS=262144      GPU photons per source
//   PHOTON_MC_REF_PHOTONS=25000   CPU reference photons per source (0 skips it)
//   PHOTON_MC_DISPATCH=1048576    photons per GPU dispatch
//   PHOTON_MC_SAMPLES=3           benchmark.js minimum samples
import { readFileSync } from 'node:fs';
import { kernelTimeMs, machineInfo, setupGpu, timeAsync, writeResults } from './harness.mjs';

const { parseDetector, gridSources, propagateGpu } = await import('../dist/index.js');
const { propagateReference } = await import('../dist/reference.js');

const grid = (process.env.PHOTON_MC_GRID ?? '2,2,2').split(',').map(Number);
const gpuPhotons = Number(process.env.PHOTON_MC_PHOTONS ?? 262144);
const refPhotons = Number(process.env.PHOTON_MC_REF_PHOTONS ?? 25000);
const perDispatch = Number(process.env.PHOTON_MC_DISPATCH ?? 1 << 20);
const minSamples = Number(process.env.PHOTON_MC_SAMPLES ?? 3);

const detector = parseDetector(readFileSync(new URL('../examples/detectors/2x2-like.json', import.meta.url), 'utf8'));
const sources = gridSources(detector, 0, grid);
const { ctx } = await setupGpu();
const rows = [];

const gpuTotal = sources.count * gpuPhotons;
let last = null;
const ours = async () => {
  last = await propagateGpu(ctx, detector, sources, { photonsPerSource: gpuPhotons, seed: 1, photonsPerDispatch: perDispatch });
};
await ours(); // pipeline compilation outside the timed window
const wall = await timeAsync(`ghostgrad propagateGpu ${gpuTotal}`, ours, { minSamples, maxTime: 5 });
const kernel = await kernelTimeMs(ctx, ours, 1);
const detectedFraction = last.detectedTotal.reduce((a, b) => a + b, 0) / gpuTotal;
rows.push({
  impl: 'ghostgrad WGSL (f32)',
  photons: gpuTotal,
  wallMs: wall.meanMs,
  kernelMs: kernel,
  mPhotonsPerSecWall: gpuTotal / wall.meanMs / 1e3,
  mPhotonsPerSecKernel: kernel ? gpuTotal / kernel / 1e3 : null,
  detectedFraction,
  rme: wall.rmePercent,
  samples: wall.samples,
});

if (refPhotons > 0) {
  const refTotal = sources.count * refPhotons;
  let r = null;
  const theirs = async () => {
    r = propagateReference(detector, sources, { photonsPerSource: refPhotons, seed: 1 });
  };
  await theirs();
  const refWall = await timeAsync(`float64 reference ${refTotal}`, theirs, { minSamples, maxTime: 5 });
  rows.push({
    impl: 'float64 CPU reference (JS, 1 thread)',
    photons: refTotal,
    wallMs: refWall.meanMs,
    kernelMs: null,
    mPhotonsPerSecWall: refTotal / refWall.meanMs / 1e3,
    mPhotonsPerSecKernel: null,
    detectedFraction: r.detectedTotal.reduce((a, b) => a + b, 0) / refTotal,
    rme: refWall.rmePercent,
    samples: refWall.samples,
  });
}

const meta = machineInfo(ctx);
writeResults('photon-mc', {
  rows,
  columns: ['impl', 'photons', 'wallMs', 'kernelMs', 'mPhotonsPerSecWall', 'mPhotonsPerSecKernel', 'detectedFraction', 'rme', 'samples'],
  meta: { ...meta, grid, gpuPhotonsPerSource: gpuPhotons, refPhotonsPerSource: refPhotons, photonsPerDispatch: perDispatch },
  notes: [
    `Geometry: examples/detectors/2x2-like.json (48 tiles, absorbing walls, Rayleigh 99.1 cm, absorption 2000 cm), sources at the ${grid.join('×')} voxel centres of volume 0, seed 1.`,
    'mPhotonsPerSecWall: photons / wall time of the whole call (upload, dispatches with a sync after each, readback of the counters).',
    `mPhotonsPerSecKernel: photons / summed GPU time of the propagation dispatches (timestamp queries${kernel === null ? '; unavailable on this adapter' : ''}).`,
    'The CPU reference is the float64 ground truth (propagate.reference.ts), single-threaded; the two give the same counts up to rare f32 borderline flips.',
    'Context, not comparable (NVIDIA GPUs, different geometries and physics): Chroma reports ~2.5 M photons/s; Opticks ~100 M photons in 10–40 s.',
  ],
});
await ctx.dispose();
process.exit(0);
