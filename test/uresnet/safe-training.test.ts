// Safe training: a step whose loss or gradients are not finite is never
// applied, a failed step changes nothing, a batch that counts no voxel
// teaches nothing without poisoning anything, and a poisoned model never
// becomes a checkpoint.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { testGpu } from '../helpers/gpu.js';
import { InputValueError, NonFiniteError } from '../../src/errors.js';
import { UResNet, UResNetTrainer, saveUResNet, saveUResNetWeights, trainUResNet, type SegmentationEvent } from '../../src/models/index.js';
import { bits, smallEvents } from './helpers.js';

const SMALL = { depth: 3, filters: 8 } as const;
const dir = mkdtempSync(join(tmpdir(), 'ghostgrad-safe-training-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Bits of every weight and BatchNorm buffer of the model. */
async function stateBits(model: UResNet): Promise<Map<string, Uint32Array>> {
  const out = new Map<string, Uint32Array>();
  for (const e of model.stateEntries()) out.set(e.name, bits((await e.tensor.read()) as Float32Array));
  return out;
}

/** The event with every energy scaled to near float32's maximum, so that the forward overflows to Inf and NaN. */
function overflowing(e: SegmentationEvent): SegmentationEvent {
  return { ...e, energy: e.energy!.map(() => 3e38) };
}

describe('safe U-ResNet training', () => {
  it('a non-finite step throws NonFiniteError by default and changes nothing; skip mode reports it; training then goes on', async () => {
    const ctx = await testGpu();
    const model = new UResNet(ctx, SMALL);
    const [good, other] = smallEvents(2, 40);
    const trainer = new UResNetTrainer(model, { adam: { lr: 1e-3 } });
    await trainer.step([good!]);
    const before = await stateBits(model);
    await expect(trainer.step([overflowing(other!)])).rejects.toThrow(NonFiniteError);
    expect(await stateBits(model)).toEqual(before);
    expect(trainer.optimizer.steps).toBe(1);
    expect(trainer.steps).toBe(1);
    trainer.dispose();

    const skipping = new UResNetTrainer(model, { onNonFinite: 'skip' });
    const r = await skipping.step([overflowing(other!)]);
    expect(r.skipped).toBe(true);
    expect(Number.isFinite(r.loss) && r.nonFiniteGradients === 0).toBe(false);
    expect(await stateBits(model)).toEqual(before);
    expect(skipping.optimizer.steps).toBe(0);
    const next = await skipping.step([good!]);
    expect(next.skipped).toBe(false);
    expect(next.step).toBe(1);
    expect(Number.isFinite(next.loss)).toBe(true);
    skipping.dispose();
    model.dispose();
  });

  it('trainUResNet lists skipped steps and writes no poisoned checkpoint', async () => {
    const ctx = await testGpu();
    const model = new UResNet(ctx, SMALL);
    const events = smallEvents(3, 50);
    const report = await trainUResNet(model, {
      steps: 3,
      onNonFinite: 'skip',
      progress: false,
      batch: (s) => [s === 1 ? overflowing(events[s]!) : events[s]!],
      checkpointEvery: 1,
      checkpointPath: join(dir, 'train-{step}.safetensors'),
    });
    expect(report.skippedSteps).toEqual([1]);
    expect(report.checkpoints).toHaveLength(3);
    for (const path of report.checkpoints) expect(readFileSync(path).byteLength).toBeGreaterThan(1000);
    model.dispose();
  });

  it('a step that fails mid-forward (a level collapsing to one site) leaves the BatchNorm statistics as they were', async () => {
    const ctx = await testGpu();
    const model = new UResNet(ctx, SMALL);
    const trainer = new UResNetTrainer(model);
    await trainer.step(smallEvents(1, 60));
    const before = await stateBits(model);
    // Two neighbouring voxels: the stride-2 level holds one site, whose BatchNorm cannot train.
    const tiny: SegmentationEvent = { coords: Int32Array.of(0, 4, 4, 4, 0, 4, 4, 5), energy: Float32Array.of(1, 2), labels: Int32Array.of(0, 1) };
    await expect(trainer.step([tiny])).rejects.toThrow(/BatchNorm batch statistics need at least 2/);
    expect(await stateBits(model)).toEqual(before);
    expect(trainer.optimizer.steps).toBe(1);
    trainer.dispose();
    model.dispose();
  });

  it('a batch whose every label has class weight 0 has loss 0 and leaves the weights finite', async () => {
    const ctx = await testGpu();
    const model = new UResNet(ctx, SMALL);
    const trainer = new UResNetTrainer(model, { classWeights: [0, 1, 1, 1, 1] });
    const [e] = smallEvents(1, 70);
    const r = await trainer.step([{ ...e!, labels: e!.labels!.map(() => 0) }]);
    expect(r.loss).toBe(0);
    expect(r.skipped).toBe(false);
    for (const [name, b] of await stateBits(model)) {
      for (const w of new Float32Array(b.buffer)) expect(Number.isFinite(w), name).toBe(true);
    }
    trainer.dispose();
    model.dispose();
  });

  it('refuses to checkpoint a model with non-finite values and keeps the last good file', async () => {
    const ctx = await testGpu();
    const model = new UResNet(ctx, SMALL);
    const path = join(dir, 'good.safetensors');
    await saveUResNet(model, path);
    const good = readFileSync(path);
    const [first] = model.stateEntries();
    const poisoned = new Float32Array(first!.tensor.size).fill(0.5);
    poisoned[3] = NaN;
    first!.tensor.write(poisoned);
    await expect(saveUResNetWeights(model)).rejects.toThrow(InputValueError);
    await expect(saveUResNet(model, path)).rejects.toThrow(new RegExp(`${first!.name.replaceAll('.', '\\.')}"\\[3\\] = NaN; the model holds non-finite values`));
    expect(readFileSync(path).equals(good)).toBe(true);
    model.dispose();
  });

  it('unknown trainer options are errors with a suggestion', async () => {
    const ctx = await testGpu();
    const model = new UResNet(ctx, SMALL);
    expect(() => new UResNetTrainer(model, { classWeight: [1, 1, 1, 1, 1] } as never)).toThrow(/did you mean "classWeights"/);
    expect(() => new UResNetTrainer(model, { onNonFinite: 'ignore' } as never)).toThrow(/onNonFinite = "ignore"/);
    await expect(trainUResNet(model, { steps: 1, batch: () => [], progres: false } as never)).rejects.toThrow(/did you mean "progress"/);
    model.dispose();
  });
});
