// Trains a sparse U-ResNet on synthetic LArTPC events (src/events) and
// reports voxel accuracy per PILArNet class on held-out events, with the
// number of steps and the time taken. Not run in CI.
//
//   npm run build && node examples/uresnet/train.mjs
//
// Environment (all optional):
//   URESNET_STEPS         training steps (default 400)
//   URESNET_BATCH         events per mini-batch (default 4)
//   URESNET_DEPTH         U-ResNet depth (default 5)
//   URESNET_FILTERS       filters of the first level (default 32)
//   URESNET_VOLUME        edge of the event volume in voxels (default 96; 'small' preset physics)
//   URESNET_LR            Adam learning rate (default 1e-3; halved at 50%, 75% and 90% of the run,
//                         counted in steps or in URESNET_TIME_LIMIT_S, whichever is further)
//   URESNET_EVAL_EVENTS   held-out events (default 32)
//   URESNET_CHECKPOINT    write the final weights to this .safetensors path
//   URESNET_CKPT_EVERY    also save every this many steps (to URESNET_CHECKPOINT with -{step})
//   URESNET_TIME_LIMIT_S  stop training after this many seconds (default: no limit)
//   URESNET_RESUME        start from these weights (same depth and filters); training events continue
//                         after the checkpoint's "step" metadata. Adam's moments start afresh.
//   URESNET_CLASS_WEIGHTS comma-separated cross-entropy weights, one per class (shower, track, Michel,
//                         delta, low-energy), e.g. 2,1,4,4,1; default: unweighted
//
//   node examples/uresnet/train.mjs --demo-checkpoint
// trains a small model (depth 3, 8 filters) briefly and writes
// examples/uresnet/uresnet-small.safetensors for demos to load.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  createGpu,
  generateEvent,
  loadUResNetWeights,
  predictBatch,
  readSafetensors,
  saveUResNet,
  segmentationMetrics,
  SEMANTIC_CLASSES,
  UResNet,
  UResNetTrainer,
} from '../../dist/index.js';

const demo = process.argv.includes('--demo-checkpoint');
const env = (k, d) => (process.env[k] !== undefined ? Number(process.env[k]) : d);
const steps = env('URESNET_STEPS', demo ? 150 : 400);
const batchSize = env('URESNET_BATCH', 4);
const depth = env('URESNET_DEPTH', demo ? 3 : 5);
const filters = env('URESNET_FILTERS', demo ? 8 : 32);
const volume = env('URESNET_VOLUME', demo ? 48 : 96);
const lr0 = env('URESNET_LR', demo ? 5e-3 : 1e-3);
const evalEvents = env('URESNET_EVAL_EVENTS', demo ? 8 : 32);
const timeLimit = env('URESNET_TIME_LIMIT_S', Infinity);
const checkpoint = demo ? fileURLToPath(new URL('./uresnet-small.safetensors', import.meta.url)) : process.env.URESNET_CHECKPOINT;
const every = env('URESNET_CKPT_EVERY', 0);
const classWeights = process.env.URESNET_CLASS_WEIGHTS ? process.env.URESNET_CLASS_WEIGHTS.split(',').map(Number) : undefined;

/** Event `seed` as a labelled segmentation event (energy in MeV as the one input feature). */
function event(seed) {
  const e = generateEvent({ preset: 'small', volumeVoxels: volume, seed });
  return { coords: e.coords, energy: e.energy, labels: e.labels };
}
// Training seeds count up from 0; held-out seeds start far away, so that no held-out event is trained on.
const heldOut = Array.from({ length: evalEvents }, (_, i) => event(1_000_000 + i));

const ctx = await createGpu();
console.log(`adapter: ${ctx.adapter.description || ctx.adapter.device || ctx.adapter.vendor}${ctx.adapter.isSoftware ? ' (software)' : ''}`);
const model = new UResNet(ctx, { depth, filters });
console.log(`U-ResNet depth ${depth}, filters ${filters}: ${model.numParameters()} parameters; ${volume}³ volume, batch ${batchSize}, ${steps} steps`);
let startStep = 0;
if (process.env.URESNET_RESUME) {
  const file = readSafetensors(new Uint8Array(readFileSync(process.env.URESNET_RESUME)));
  loadUResNetWeights(model, file);
  startStep = Number(file.metadata.step ?? 0);
  console.log(`resumed from ${process.env.URESNET_RESUME} (step ${startStep})`);
}
const trainer = new UResNetTrainer(model, { adam: { lr: lr0 }, ...(classWeights ? { classWeights } : {}) });
if (classWeights) console.log(`class weights ${classWeights.join(', ')}`);

const t0 = performance.now();
let voxels = 0;
let done = 0;
let smooth = NaN;
for (let s = 0; s < steps; s++) {
  // Progress through the run by steps or by the time limit, whichever is further (for the schedule).
  const frac = Math.max(s / steps, (performance.now() - t0) / 1000 / timeLimit);
  trainer.optimizer.setLearningRate(lr0 * (frac >= 0.9 ? 0.125 : frac >= 0.75 ? 0.25 : frac >= 0.5 ? 0.5 : 1));
  const batch = Array.from({ length: batchSize }, (_, i) => event((startStep + s) * batchSize + i));
  const r = await trainer.step(batch);
  voxels += r.voxels;
  done = s + 1;
  smooth = Number.isNaN(smooth) ? r.loss : 0.95 * smooth + 0.05 * r.loss;
  const elapsed = (performance.now() - t0) / 1000;
  if (done % 10 === 0 || done === steps) {
    console.log(`step ${done}/${steps}  loss ${r.loss.toFixed(4)} (avg ${smooth.toFixed(4)})  ${(voxels / elapsed).toFixed(0)} voxels/s  ${elapsed.toFixed(0)} s`);
  }
  if (checkpoint && every > 0 && done % every === 0) {
    await saveUResNet(model, checkpoint.replace(/\.safetensors$/, `-${startStep + done}.safetensors`), { step: String(startStep + done) });
  }
  if (elapsed > timeLimit) {
    console.log(`time limit reached after ${done} steps`);
    break;
  }
}
const trainSeconds = (performance.now() - t0) / 1000;
trainer.dispose();

// Held-out accuracy (eval mode: BatchNorm running statistics).
const truth = [];
const pred = [];
for (let i = 0; i < heldOut.length; i += 4) {
  const chunk = heldOut.slice(i, i + 4);
  const out = await predictBatch(model, chunk);
  chunk.forEach((e, j) => {
    truth.push(...e.labels);
    pred.push(...out[j].labels);
  });
}
const m = segmentationMetrics(Int32Array.from(pred), Int32Array.from(truth), SEMANTIC_CLASSES.length);
console.log(`\ntrained ${done} steps${startStep ? ` (after ${startStep} resumed)` : ''} (${voxels} voxels) in ${trainSeconds.toFixed(0)} s; held-out: ${heldOut.length} events, ${m.voxels} voxels`);
console.log(`overall voxel accuracy ${(100 * m.accuracy).toFixed(2)}%`);
console.log('| class | voxels | accuracy |\n| --- | --- | --- |');
SEMANTIC_CLASSES.forEach((name, c) => console.log(`| ${c} ${name} | ${m.classCounts[c]} | ${Number.isNaN(m.classAccuracy[c]) ? 'n/a' : (100 * m.classAccuracy[c]).toFixed(1) + '%'} |`));
if (checkpoint) {
  await saveUResNet(model, checkpoint, { step: String(startStep + done), accuracy: m.accuracy.toFixed(4) });
  console.log(`checkpoint written to ${checkpoint}`);
}
model.dispose();
await ctx.dispose();
