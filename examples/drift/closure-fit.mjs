// Closure fit of the differentiable LArTPC charge simulation on the GPU.
//
// 1. Simulate "data" with target physics parameters (Ab, kb, eField, lifetime,
//    dL, dT off the larnd-sim defaults).
// 2. Start every parameter 10–30 % away from its target.
// 3. Fit all six at once with Adam on θ = p / p_nominal (p_nominal = larnd-sim
//    defaults), minimising the blurred MSE between simulated and target
//    pixel–tick images, every stage differentiated on the GPU.
//
// Run after `npm run build`:  node examples/drift/closure-fit.mjs
// Environment (defaults in brackets): FIT_MUONS [4] crossing muons,
// FIT_PROTONS [6] stopping protons, FIT_ITERS [1200] iterations over the three
// phases, FIT_LR_SCALE [1] (multiplies each phase's step size), FIT_SEED [11],
// FIT_TOL [0.005] (stop once every parameter is within this relative error of
// its target). Prints progress every 20 iterations and a JSON summary.
// The drift API is exported from the package entry once src/index.ts
// re-exports src/kernels/drift; until then it is taken from its module.
const core = await import('../../dist/index.js');
const api = 'simulateCharge' in core ? core : { ...core, ...(await import('../../dist/kernels/drift/index.js')) };
const {
  Adam,
  backward,
  blurredMse,
  createGpu,
  defaultChainConfig,
  defaultGeometry,
  concatSegments,
  mul,
  noGrad,
  generateSyntheticSegments,
  seededRandom,
  segmentsFromObjects,
  scaledPhysics,
  segmentsTensor,
  simulateCharge,
  tensor,
} = api;

const env = (k, d) => (process.env[k] !== undefined ? Number(process.env[k]) : d);
const nMuons = env('FIT_MUONS', 4);
const nProtons = env('FIT_PROTONS', 6);
const iters = env('FIT_ITERS', 1200);
const lrScale = env('FIT_LR_SCALE', 1);
const seed = env('FIT_SEED', 11);
const tol = env('FIT_TOL', 0.005);

const names = ['Ab', 'kb', 'eField', 'lifetime', 'dL', 'dT'];
// Target θ (truth relative to the larnd-sim nominal) and the start offsets.
const truth = [0.98, 1.03, 1.04, 0.6, 1.1, 0.95];
const offsets = [-0.1, 0.2, -0.15, 0.3, -0.25, 0.3];
const start = truth.map((t, i) => t * (1 + offsets[i]));

// A small TPC: 24 × 24 pixels (10.6 cm), the full 30.3 cm drift.
//
// Coarse-to-fine in time: a 10 % drift-velocity error moves late charge by
// ~10 µs (100 ticks of 0.1 µs), far beyond what a blur of a few ticks can
// see, and the loss then prefers shrinking the displaced charge (through the
// recombination parameters) to moving it. The fit therefore starts on the
// same event read out with coarse ticks (2 µs, then 0.4 µs: a coarse tick is
// exactly the sum of the fine ticks it contains) and ends at the LArPix 0.1 µs.
// Longitudinal diffusion (σ_t ≤ 0.25 µs) is invisible at 2 µs and 0.4 µs ticks,
// so dL is frozen until the last phase; each phase has its own step size.
const phases = [
  { until: 0.25, tick_us: 2.0, lr: 0.02, frozen: ['dL'] },
  { until: 0.4, tick_us: 0.4, lr: 0.005, frozen: ['dL'] },
  { until: 1.0, tick_us: 0.1, lr: 0.004, frozen: [] },
].map((p) => ({ ...p, config: defaultChainConfig({ geometry: defaultGeometry({ nPixels: [24, 24], tick_us: p.tick_us }) }) }));
const blur = { sigmaPixels: 1, sigmaTicks: 2 };
const phaseAt = (it) => phases.find((p) => it < p.until * iters) ?? phases[phases.length - 1];

const ctx = await createGpu();
// Muons crossing the whole drift length (anode side to cathode side) measure
// the lifetime along each track at constant dE/dx, which separates τ from the
// recombination scale; stopping protons (dE/dx up to ~30 MeV/cm) separate the
// Box α from β. Muons: straight lines between random points near the two faces,
// 0.3 cm steps at 2.1 MeV/cm (minimum ionising).
const rand = seededRandom(seed);
const muonRows = [];
for (let k = 0; k < nMuons; k++) {
  const a = [1 + 8.6 * rand(), 1 + 8.6 * rand(), 0.6 + 2 * rand()];
  const b = [1 + 8.6 * rand(), 1 + 8.6 * rand(), 27.5 + 2 * rand()];
  const L = Math.hypot(b[0] - a[0], b[1] - a[1], b[2] - a[2]);
  const steps = Math.ceil(L / 0.3);
  const at = (s) => a.map((x, i) => x + (s / L) * (b[i] - x));
  for (let j = 0; j < steps; j++) {
    const s0 = j * 0.3;
    const s1 = Math.min(L, s0 + 0.3);
    const p0 = at(s0);
    const p1 = at(s1);
    muonRows.push({ x_start: p0[0], y_start: p0[1], z_start: p0[2], x_end: p1[0], y_end: p1[1], z_end: p1[2], dE: 2.1 * (s1 - s0), trackId: k, pdgId: 13 });
  }
}
const protons = generateSyntheticSegments({
  seed,
  nMuons: 0,
  nProtons,
  volume_cm: [
    [0.5, 0.5, 0.5],
    [10.1, 10.1, 29.8],
  ],
  protonEnergy_MeV: [20, 60],
});
const segments = concatSegments([segmentsFromObjects(muonRows), protons]);
const seg = segmentsTensor(ctx, segments);
const sp = scaledPhysics(ctx, names);

// Target images (one per tick size), simulated at θ = truth.
const thetaTrue = tensor(ctx, Float32Array.from(truth));
const physTrue = sp.apply(thetaTrue);
for (const p of phases) p.data = await simulateCharge(seg, physTrue, p.config);

const theta = tensor(ctx, Float32Array.from(start), [names.length], { requiresGrad: true });
// A fresh Adam per phase: moment estimates from a coarser loss would scale the
// first steps on the finer one wrongly.
let opt = null;
let optPhase = null;
let mask = null;
const t0 = performance.now();
let it = 0;
let loss0 = NaN;
let lossLast = NaN;
let errs = [];
const relErr = (v) => v.map((x, i) => Math.abs(x - truth[i]) / truth[i]);
for (; it < iters; it++) {
  const phase = phaseAt(it);
  if (phase !== optPhase) {
    opt?.dispose();
    mask?.dispose();
    opt = new Adam([theta], { lr: phase.lr * lrScale });
    mask = tensor(ctx, Float32Array.from(names, (n) => (phase.frozen.includes(n) ? 0 : 1)));
    optPhase = phase;
    phase.start = it;
  }
  // Cosine decay within the phase: large steps first, fine convergence at its end.
  const span = Math.max(1, Math.round(phase.until * iters) - phase.start);
  opt.setLearningRate(phase.lr * lrScale * (0.1 + 0.9 * 0.5 * (1 + Math.cos((Math.PI * (it - phase.start)) / span))));
  const phys = sp.apply(theta);
  const sim = await simulateCharge(seg, phys, phase.config);
  const loss = blurredMse(sim, phase.data, blur);
  backward(loss);
  if (phase.frozen.length) {
    const masked = noGrad(() => mul(theta.grad, mask));
    theta.grad.dispose();
    theta.grad = masked;
  }
  lossLast = (await loss.read())[0];
  if (it === 0) loss0 = lossLast;
  opt.step();
  opt.zeroGrad();
  sim.dispose();
  loss.dispose();
  phys.dispose();
  errs = relErr(Array.from(await theta.read()));
  if (it % 20 === 0 || Math.max(...errs) < tol) {
    console.log(`iter ${it} (tick ${phase.tick_us} µs, ${((performance.now() - t0) / 1e3).toFixed(0)} s): loss ${lossLast.toExponential(3)}, max |Δθ/θ| ${(100 * Math.max(...errs)).toFixed(3)} %, θ/θ* ${Array.from(await theta.read(), (x, i) => (x / truth[i]).toFixed(4)).join(" ")}`);
  }
  if (Math.max(...errs) < tol) break;
}
const wall = (performance.now() - t0) / 1e3;
const fitted = Array.from(await theta.read());
const result = {
  segments: segments.length,
  iterations: it + 1,
  wallSeconds: Number(wall.toFixed(1)),
  lossStart: loss0,
  lossEnd: lossLast,
  parameters: Object.fromEntries(
    names.map((n, i) => [
      n,
      {
        truth: truth[i] * sp.nominal[n],
        start: start[i] * sp.nominal[n],
        fitted: fitted[i] * sp.nominal[n],
        relErrorPercent: Number((100 * Math.abs(fitted[i] - truth[i]) / truth[i]).toFixed(3)),
      },
    ]),
  ),
  adapter: ctx.adapter.description || ctx.adapter.device,
};
console.log(JSON.stringify(result, null, 2));
for (const p of phases) p.data.dispose();
physTrue.dispose();
thetaTrue.dispose();
theta.dispose();
opt.dispose();
mask.dispose();
sp.dispose();
seg.dispose();
await ctx.dispose();
