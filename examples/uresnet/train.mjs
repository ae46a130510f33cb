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
//   URESNET_PRESET        event physics preset: 'small' (default) or 'default' (PILArNet-like: 768³,
//                         about 6k voxels an event)
//   URESNET_VOLUME        edge of the event volume in voxels (default 96 with 'small', 768 with 'default')
//   URESNET_WORKERS       worker threads generating the next batch during each step (default: up to 4
//                         where there are more than 4 cores, else 0); batches are the same either way
//   URESNET_LR            Adam learning rate (default 1e-3; halved at 50%, 75% and 90% of the run,
//                         counted in steps or in URESNET_TIME_LIMIT_S, whichever is further)
//   URESNET_EVAL_EVENTS   held-out events (default 32)
//   URESNET_CHECKPOINT    write the final weights to this .safetensors path
//   URESNET_CKPT_EVERY    also save every this many steps (to URESNET_CHECKPOINT with -{step})
//   URESNET_SAVE_DTYPE    F32 (default, exact), or BF16 / F16 for checkpoints half the size
//   URESNET_TIME_LIMIT_S  stop training after this many seconds (default: no limit)
//   URESNET_RESUME        start from these weights (same depth and filters); training events continue
//                         after the checkpoint's "step" metadata. Adam's moments start afresh.
//   URESNET_TTA           also evaluate with test-time augmentation: 'flips' (8 reflections) or
//                         'symmetries' (all 48 symmetries of the voxel grid); see predictBatch
//   URESNET_CLASS_WEIGHTS comma-separated cross-entropy weights, one per class (shower, track, Michel,
//                         delta, low-energy), e.g. 2,1,4,4,1; default: unweighted
//
//   node examples/uresnet/train.mjs --demo-checkpoint
// trains a small model (depth 3, 8 filters) briefly and writes
// examples/uresnet/uresnet-small.safetensors for demos to load.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { eventSource, segmentationEvent } from './event-workers.mjs';
import {
  createGpu,
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
const preset = process.env.URESNET_PRESET ?? 'small';
const volume = env('URESNET_VOLUME', demo ? 48 : preset === 'small' ? 96 : 768);
const lr0 = env('URESNET_LR', demo ? 5e-3 : 1e-3);
const evalEvents = env('URESNET_EVAL_EVENTS', demo ? 8 : 32);
const timeLimit = env('URESNET_TIME_LIMIT_S', Infinity);
const checkpoint = demo ? fileURLToPath(new URL('./uresnet-small.safetensors', import.meta.url)) : process.env.URESNET_CHECKPOINT;
const every = env('URESNET_CKPT_EVERY', 0);
const saveOptions = { dtype: (process.env.URESNET_SAVE_DTYPE ?? 'F32').toUpperCase() };
// Checked before training, so that a typo cannot cost a finished run its checkpoint.
if (!['F32', 'BF16', 'F16'].includes(saveOptions.dtype)) throw new Error(`URESNET_SAVE_DTYPE=${process.env.URESNET_SAVE_DTYPE}: use F32, BF16 or F16`);
const tta = process.env.URESNET_TTA ?? 'none';
if (!['none', 'flips', 'symmetries'].includes(tta)) throw new Error(`URESNET_TTA=${tta}: use none, flips or symmetries`);
const classWeights = process.env.URESNET_CLASS_WEIGHTS ? process.env.URESNET_CLASS_WEIGHTS.split(',').map(Number) : undefined;

// Training seeds count up from 0; held-out seeds start far away, so that no held-out event is trained on.
const heldOut = Array.from({ length: evalEvents }, (_, i) => segmentationEvent(1_000_000 + i, preset, volume));
const source = eventSource({ preset, volume, ...(process.env.URESNET_WORKERS !== undefined ? { workers: env('URESNET_WORKERS', 0) } : {}) });

const ctx = await createGpu();
console.log(`adapter: ${ctx.adapter.description || ctx.adapter.device || ctx.adapter.vendor}${ctx.adapter.isSoftware ? ' (software)' : ''}`);
const model = new UResNet(ctx, { depth, filters });
console.log(
  `U-ResNet depth ${depth}, filters ${filters}: ${model.numParameters()} parameters; '${preset}' events in a ${volume}³ volume, batch ${batchSize}, ${steps} steps` +
    (source.workers ? `; ${source.workers} event workers` : ''),
);
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
const seedsOf = (s) => Array.from({ length: batchSize }, (_, i) => (startStep + s) * batchSize + i);
let nextBatch = source.batch(seedsOf(0));
for (let s = 0; s < steps; s++) {
  // Progress through the run by steps or by the time limit, whichever is further (for the schedule).
  const frac = Math.max(s / steps, (performance.now() - t0) / 1000 / timeLimit);
  trainer.optimizer.setLearningRate(lr0 * (frac >= 0.9 ? 0.125 : frac >= 0.75 ? 0.25 : frac >= 0.5 ? 0.5 : 1));
  const batch = await nextBatch;
  if (s + 1 < steps) nextBatch = source.batch(seedsOf(s + 1)); // generated while this step runs
  const r = await trainer.step(batch);
  voxels += r.voxels;
  done = s + 1;
  smooth = Number.isNaN(smooth) ? r.loss : 0.95 * smooth + 0.05 * r.loss;
  const elapsed = (performance.now() - t0) / 1000;
  if (done % 10 === 0 || done === steps) {
    console.log(`step ${done}/${steps}  loss ${r.loss.toFixed(4)} (avg ${smooth.toFixed(4)})  ${(voxels / elapsed).toFixed(0)} voxels/s  ${elapsed.toFixed(0)} s`);
  }
  if (checkpoint && every > 0 && done % every === 0) {
    await saveUResNet(model, checkpoint.replace(/\.safetensors$/, `-${startStep + done}.safetensors`), { step: String(startStep + done) }, saveOptions);
  }
  if (elapsed > timeLimit) {
    console.log(`time limit reached after ${done} steps`);
    break;
  }
}
const trainSeconds = (performance.now() - t0) / 1000;
trainer.dispose();
await source.close();

// Held-out accuracy (eval mode: BatchNorm running statistics).
console.log(`\ntrained ${done} steps${startStep ? ` (after ${startStep} resumed)` : ''} (${voxels} voxels) in ${trainSeconds.toFixed(0)} s`);
const m = await evaluate('none');
if (tta !== 'none') await evaluate(tta);
if (checkpoint) {
  await saveUResNet(model, checkpoint, { step: String(startStep + done), accuracy: m.accuracy.toFixed(4) }, saveOptions);
  console.log(`checkpoint written to ${checkpoint}`);
}
model.dispose();
await ctx.dispose();

/** Voxel accuracy on the held-out events, overall (± bootstrap error) and per class, and the confusion matrix. */
async function evaluate(augment) {
  const truth = [];
  const pred = [];
  const perEvent = []; // [correct, voxels] of each held-out event, for the bootstrap below
  for (let i = 0; i < heldOut.length; i += 4) {
    const chunk = heldOut.slice(i, i + 4);
    const out = await predictBatch(model, chunk, { augment });
    chunk.forEach((e, j) => {
      truth.push(...e.labels);
      pred.push(...out[j].labels);
      perEvent.push([e.labels.reduce((a, t, r) => a + (t === out[j].labels[r] ? 1 : 0), 0), e.labels.length]);
    });
  }
  const result = segmentationMetrics(Int32Array.from(pred), Int32Array.from(truth), SEMANTIC_CLASSES.length);
  console.log(`\nheld-out: ${heldOut.length} events, ${result.voxels} voxels${augment === 'none' ? '' : `; test-time augmentation '${augment}'`}`);
  console.log(`overall voxel accuracy ${(100 * result.accuracy).toFixed(2)}% ± ${(100 * bootstrapError(perEvent)).toFixed(2)} (standard error over events)`);
  console.log('| class | voxels | accuracy |\n| --- | --- | --- |');
  SEMANTIC_CLASSES.forEach((name, c) => console.log(`| ${c} ${name} | ${result.classCounts[c]} | ${Number.isNaN(result.classAccuracy[c]) ? 'n/a' : (100 * result.classAccuracy[c]).toFixed(1) + '%'} |`));
  console.log(`confusion (rows: true class, columns: predicted, in class order):\n${result.confusion.map((row) => row.join('\t')).join('\n')}`);
  return result;
}

/**
 * Standard error of the pooled voxel accuracy from a bootstrap over events
 * (fixed seed): voxels of one event are correlated, so the binomial error over
 * voxels would understate it.
 */
function bootstrapError(events, resamples = 2000) {
  if (events.length < 2) return NaN;
  let state = 12345;
  const rand = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const acc = [];
  for (let b = 0; b < resamples; b++) {
    let ok = 0;
    let n = 0;
    for (let i = 0; i < events.length; i++) {
      const [c, v] = events[Math.floor(rand() * events.length)];
      ok += c;
      n += v;
    }
    acc.push(n ? ok / n : 0);
  }
  const mean = acc.reduce((a, b) => a + b, 0) / resamples;
  return Math.sqrt(acc.reduce((a, x) => a + (x - mean) ** 2, 0) / (resamples - 1));
}
