// SIREN photon-visibility surrogate: ghostgrad's fused WGSL kernels vs its
// per-layer path (core matmul + activation kernels) vs the same network in
// tfjs-core + tfjs-backend-webgpu, on the same Dawn adapter in one process,
// and vs PyTorch (bench/torch/peer.py: nn.Linear + torch.sin, CUDA when
// available, else CPU) in a child process of the same run.
//
//   npm run build && node bench/photon.bench.mjs
//
// Environment (for quick runs):
//   PHOTON_BATCH=65536        points per call
//   PHOTON_CONFIGS=2x2,icarus presets to run
//   PHOTON_PATHS=fused,per-layer
//   PHOTON_TFJS=1             0 skips tfjs
//   PHOTON_PASSES=forward,forward+backward  passes to time (every path and tfjs)
//   PHOTON_SAMPLES=1          benchmark.js minimum samples for heavy cases
//   PHOTON_SUITE=photon       results file name under bench/results/
//   PHOTON_NOTE=...           an extra note for the results file (run conditions)
//   TORCH_PEER=0              skips PyTorch; TORCH_PYTHON picks the interpreter (see harness.mjs torchPeer)
import { backward, noGrad, tensor } from '../dist/index.js';
import { kernelTimeMs, machineInfo, setupGpu, setupTfjs, timeAsync, torchImpl, torchMeta, torchNote, torchPeer, writeResults } from './harness.mjs';

const gg = await import('../dist/index.js');
const photon = gg.createSiren ? gg : await import('../dist/kernels/photon/index.js');
const { SIREN_PRESET_2X2, SIREN_PRESET_ICARUS, createSiren, initSirenParams, sirenForward, sirenForwardFlopsPerPoint, sirenLayerShapes } = photon;

const batch = Number(process.env.PHOTON_BATCH ?? 65536);
const configs = (process.env.PHOTON_CONFIGS ?? '2x2,icarus').split(',');
const paths = (process.env.PHOTON_PATHS ?? 'fused,per-layer').split(',');
const useTfjs = process.env.PHOTON_TFJS !== '0';
const minSamples = Number(process.env.PHOTON_SAMPLES ?? 1);
const passes = (process.env.PHOTON_PASSES ?? 'forward,forward+backward').split(',');
for (const p of passes) if (p !== 'forward' && p !== 'forward+backward') throw new Error(`unknown pass ${p}; use forward or forward+backward`);
const presets = { '2x2': SIREN_PRESET_2X2, icarus: SIREN_PRESET_ICARUS };

const { gpu, ctx } = await setupGpu();
const tf = useTfjs ? await setupTfjs(gpu) : null;
if (tf) registerTfjsGradients(tf);

/**
 * The Node build of tfjs-core ships without gradient registrations (the tfjs
 * union package adds them); register the five this network needs, in the
 * form tfjs itself uses: dA = dY·B and dB = dYᵀ·A for y = A·Bᵀ, a column sum
 * for the broadcast bias, and the chain rules of mul, sin and sum.
 */
function registerTfjsGradients(tf) {
  tf.registerGradient({
    kernelName: 'BatchMatMul',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, [a, b], attrs) => {
      if (attrs.transposeA || !attrs.transposeB) throw new Error('bench: only A·Bᵀ is needed');
      return { a: () => tf.matMul(dy, b), b: () => tf.matMul(dy, a, true, false) };
    },
  });
  tf.registerGradient({
    kernelName: 'Add',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, [a, b]) => ({
      a: () => (a.rank === dy.rank ? dy : tf.sum(dy, 0)),
      b: () => (b.rank === dy.rank ? dy : tf.sum(dy, 0)),
    }),
  });
  tf.registerGradient({
    kernelName: 'Multiply',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, [a, b]) => ({
      a: () => (a.size === dy.size ? tf.mul(dy, b) : tf.reshape(tf.sum(tf.mul(dy, b)), a.shape)),
      b: () => (b.size === dy.size ? tf.mul(dy, a) : tf.reshape(tf.sum(tf.mul(dy, a)), b.shape)),
    }),
  });
  tf.registerGradient({ kernelName: 'Sin', inputsToSave: ['x'], gradFunc: (dy, [x]) => ({ x: () => tf.mul(dy, tf.cos(x)) }) });
  tf.registerGradient({ kernelName: 'Sum', inputsToSave: ['x'], gradFunc: (dy, [x]) => ({ x: () => tf.mul(tf.onesLike(x), dy) }) });
}
const rows = [];
const heavy = { minSamples, maxTime: 0.1 };
let torch = null;

const xHost = Float32Array.from({ length: batch * 3 }, (_, i) => (((i * 7919) % 2000) / 1000 - 1) * 0.999);

for (const name of configs) {
  const config = presets[name];
  if (!config) throw new Error(`unknown config ${name}; use 2x2 or icarus`);
  const flopsFwd = batch * sirenForwardFlopsPerPoint(config);
  // forward + backward counted as 3× the forward's multiply-adds (dh and dW per layer);
  // a recomputed forward (batches larger than one backward chunk) is not counted.
  const flopsFwdBwd = 3 * flopsFwd;
  const params = initSirenParams(config, 1);
  const net = createSiren(ctx, config, { params });
  const x = tensor(ctx, xHost, [batch, 3]);
  const gOut = tensor(ctx, new Float32Array(batch * config.outputDim).fill(1), [batch, config.outputDim]);
  const record = (impl, pass, wall, kernelMs, flops) => {
    const t = kernelMs ?? wall.meanMs;
    const row = {
      config: name, impl, pass, batch, wallMs: wall.meanMs, kernelMs,
      pointsPerSec: batch / (t / 1e3), gflops: flops / (t * 1e6), samples: wall.samples,
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  };
  for (const path of paths) {
    const fwd = async () => {
      const y = noGrad(() => sirenForward(net, x, { path }));
      await y.read();
      y.dispose();
    };
    const fwdBwd = async () => {
      const y = sirenForward(net, x, { path });
      backward(y, gOut);
      await net.weights[0].grad.read();
      y.dispose();
      for (const p of net.parameters()) { p.grad?.dispose(); p.grad = null; }
    };
    // kernelTimeMs runs one warm-up call (pipeline compilation) before timing.
    if (passes.includes('forward')) {
      const kf = await kernelTimeMs(ctx, fwd, 1);
      record(`ghostgrad ${path}`, 'forward', await timeAsync(`${name} ${path} fwd`, fwd, heavy), kf, flopsFwd);
    }
    if (passes.includes('forward+backward')) {
      const kfb = await kernelTimeMs(ctx, fwdBwd, 1);
      record(`ghostgrad ${path}`, 'forward+backward', await timeAsync(`${name} ${path} fwd+bwd`, fwdBwd, heavy), kfb, flopsFwdBwd);
    }
  }
  if (tf) {
    const shapes = sirenLayerShapes(config);
    const W = shapes.map((s, l) => tf.variable(tf.tensor2d(Float32Array.from(params.weights[l]), [s.outFeatures, s.inFeatures])));
    const b = shapes.map((s, l) => tf.variable(tf.tensor1d(Float32Array.from(params.biases[l]))));
    const tx = tf.tensor2d(xHost, [batch, 3]);
    const forward = (input) => {
      let h = input;
      shapes.forEach((s, l) => {
        const z = tf.add(tf.matMul(h, W[l], false, true), b[l]);
        h = s.sine ? tf.sin(tf.mul(z, s.omega)) : z;
      });
      return h;
    };
    const tfFwd = async () => {
      const y = tf.tidy(() => forward(tx));
      await y.data();
      y.dispose();
    };
    const tfFwdBwd = async () => {
      const { value, grads } = tf.variableGrads(() => tf.sum(forward(tx)));
      await grads[W[0].name].data();
      value.dispose();
      for (const g of Object.values(grads)) g.dispose();
    };
    if (passes.includes('forward')) {
      await tfFwd();
      record('tfjs-webgpu', 'forward', await timeAsync(`${name} tfjs fwd`, tfFwd, heavy), null, flopsFwd);
    }
    if (passes.includes('forward+backward')) {
      await tfFwdBwd();
      record('tfjs-webgpu', 'forward+backward', await timeAsync(`${name} tfjs fwd+bwd`, tfFwdBwd, heavy), null, flopsFwdBwd);
    }
    tx.dispose();
    for (const v of [...W, ...b]) v.dispose();
  }
  if (!torch?.unavailable) {
    torch = torchPeer('siren', { config: name, batch, pass: passes.join(',') });
    for (const r of torch.results ?? []) {
      record(torchImpl(torch), r.pass, { meanMs: r.wallReadbackMs, samples: r.samples }, r.gpuMs, r.pass === 'forward' ? flopsFwd : flopsFwdBwd);
    }
  }
  x.dispose();
  gOut.dispose();
  net.dispose();
}

writeResults(process.env.PHOTON_SUITE ?? 'photon', {
  rows,
  columns: ['config', 'impl', 'pass', 'batch', 'wallMs', 'kernelMs', 'pointsPerSec', 'gflops', 'samples'],
  meta: { ...machineInfo(ctx), batch, configs, paths, passes, torch: torchMeta(torch) },
  notes: [
    'SIREN presets: 2x2 = 3→256×4→48, ICARUS = 3→512×6→180, sine output, ω0 = 30.',
    'GFLOP/s = 2·Σ in·out per point (forward; ×3 for forward+backward) / time; points/s = batch / time.',
    'kernelMs: sum of ghostgrad GPU kernel times per call from timestamp queries; rates use it when present, else wall time.',
    'tfjs-webgpu: the same network from tf.matMul/add/mul/sin, gradients by tf.variableGrads of Σy; wall time incl. readback.',
    'ghostgrad forward+backward computes dL/dW, dL/db and dL/dx with dL/dy = 1; the fused forward saves activations when one backward chunk (64 MiB) holds the batch, else the backward recomputes them per chunk.',
    'PyTorch: the same network from nn.Linear and torch.sin (forward under no_grad; forward+backward = backward of Σy to weights, biases and x), same inputs; weights drawn by torch with the same SIREN bounds.',
    torchNote(torch),
    ...(process.env.PHOTON_NOTE ? [process.env.PHOTON_NOTE] : []),
  ],
});
await ctx.dispose();
process.exit(0);
