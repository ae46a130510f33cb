// Loads a U-ResNet checkpoint (default: the small demo model written by
// `node examples/uresnet/train.mjs --demo-checkpoint`) and segments a few
// synthetic events, printing voxel accuracy per class.
//
//   npm run build && node examples/uresnet/predict.mjs [checkpoint.safetensors]
import { fileURLToPath } from 'node:url';
import { createGpu, generateEvent, loadUResNet, predictBatch, segmentationMetrics, SEMANTIC_CLASSES } from '../../dist/index.js';

const path = process.argv[2] ?? fileURLToPath(new URL('./uresnet-small.safetensors', import.meta.url));
const ctx = await createGpu();
const model = await loadUResNet(ctx, path);
const c = model.config;
console.log(`loaded ${path}: depth ${c.depth}, filters ${c.filters}, ${model.numParameters()} parameters`);
const batch = Array.from({ length: 4 }, (_, i) => {
  const e = generateEvent({ preset: 'small', volumeVoxels: 48, seed: 2_000_000 + i });
  return { coords: e.coords, energy: e.energy, labels: e.labels };
});
const out = await predictBatch(model, batch);
const m = segmentationMetrics(
  Int32Array.from(out.flatMap((p) => [...p.labels])),
  Int32Array.from(batch.flatMap((e) => [...e.labels])),
  SEMANTIC_CLASSES.length,
);
console.log(`${m.voxels} voxels, accuracy ${(100 * m.accuracy).toFixed(1)}%`);
SEMANTIC_CLASSES.forEach((name, k) => console.log(`  ${name}: ${m.classCounts[k]} voxels, ${Number.isNaN(m.classAccuracy[k]) ? 'n/a' : (100 * m.classAccuracy[k]).toFixed(1) + '%'}`));
model.dispose();
await ctx.dispose();
