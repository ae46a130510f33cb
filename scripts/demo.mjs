// `npm run demo`: the main job. Until the full event chain lands it is a
// self-check: it prints the adapter, trains a tiny network forward and
// backward on the GPU, and checks one gradient against the float64 reference.
import { mkdirSync } from 'node:fs';
import { Adam, backward, createGpu, matmul, mseLoss, seededRandom, sigmoid, tensor } from '../dist/index.js';

if (!process.env.XDG_RUNTIME_DIR) {
  mkdirSync('/tmp/ghostgrad-xdg', { recursive: true, mode: 0o700 });
  process.env.XDG_RUNTIME_DIR = '/tmp/ghostgrad-xdg';
}

const ctx = await createGpu();
const a = ctx.adapter;
console.log(`adapter: ${a.description || a.device || a.vendor} (${a.isSoftware ? 'software' : 'hardware'}); features: ${a.features.join(', ') || 'none'}`);

// y = σ(x W): check dL/dW against a float64 finite-difference-free reference.
const rand = seededRandom(1);
const x = Float32Array.from({ length: 32 * 3 }, () => rand() * 2 - 1);
const w = Float32Array.from({ length: 3 * 2 }, () => rand() - 0.5);
const y = Float32Array.from({ length: 32 * 2 }, () => rand());
const X = tensor(ctx, x, [32, 3]);
const Y = tensor(ctx, y, [32, 2]);
const W = tensor(ctx, w, [3, 2], { requiresGrad: true });
const t0 = performance.now();
ctx.scope(() => backward(mseLoss(sigmoid(matmul(X, W)), Y)));
const g = await W.grad.read();
const ref = new Float64Array(6);
for (let i = 0; i < 32; i++) {
  for (let j = 0; j < 2; j++) {
    let z = 0;
    for (let k = 0; k < 3; k++) z += x[i * 3 + k] * w[k * 2 + j];
    const s = 1 / (1 + Math.exp(-z));
    const d = ((2 * (s - y[i * 2 + j])) / 64) * s * (1 - s);
    for (let k = 0; k < 3; k++) ref[k * 2 + j] += x[i * 3 + k] * d;
  }
}
const err = Math.max(...Array.from(g, (v, i) => Math.abs(v - ref[i]))) / Math.max(...Array.from(ref, Math.abs));
console.log(`forward+backward: ${(performance.now() - t0).toFixed(1)} ms; max relative error of dL/dW vs float64: ${err.toExponential(2)}`);

const opt = new Adam([W], { lr: 0.05 });
let first = 0, last = 0;
for (let step = 0; step < 200; step++) {
  const loss = ctx.scope(() => {
    opt.zeroGrad();
    const l = mseLoss(sigmoid(matmul(X, W)), Y);
    backward(l);
    opt.step();
    return l;
  });
  const v = (await loss.read())[0];
  loss.dispose();
  if (step === 0) first = v;
  last = v;
}
console.log(`200 Adam steps: loss ${first.toFixed(4)} -> ${last.toFixed(4)}`);
opt.dispose();
for (const t of [X, Y, W]) t.dispose();
await ctx.dispose();
if (!(err < 1e-4) || !(last < first)) {
  console.error('self-check FAILED');
  process.exit(1);
}
console.log('self-check passed');
