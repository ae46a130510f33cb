import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testGpu } from '../helpers/gpu.js';
import { InputValueError, ShapeError } from '../../src/errors.js';
import { noGrad } from '../../src/autodiff/tape.js';
import { sparseTensor } from '../../src/kernels/sparse/index.js';
import {
  UResNet,
  UResNetTrainer,
  collateEvents,
  loadUResNetWeights,
  predict,
  predictBatch,
  readSafetensors,
  saveUResNetWeights,
  segmentationMetrics,
  trainUResNet,
  uresnetFromSafetensors,
  writeSafetensors,
  type SegmentationEvent,
} from '../../src/models/index.js';
import { bits, smallEvents } from './helpers.js';

// Small configuration for lavapipe: 3 levels (strides 1, 2, 4), 8/16/24 channels.
const SMALL = { depth: 3, filters: 8 } as const;

describe('UResNet construction', () => {
  it('has the documented parameter names, shapes and count (default config)', async () => {
    const ctx = await testGpu();
    const base = ctx.stats().liveBytes;
    const model = new UResNet(ctx);
    const shapes = new Map(model.stateShapes().map((s) => [s.name, s.shape]));
    expect(model.planes).toEqual([32, 64, 96, 128, 160]);
    expect(shapes.get('input.conv.weight')).toEqual([27, 1, 32]);
    expect(shapes.get('encoder.0.block.1.conv1.weight')).toEqual([27, 32, 32]);
    expect(shapes.get('encoder.0.block.0.bn1.running_var')).toEqual([32]);
    expect(shapes.get('encoder.3.down.conv.weight')).toEqual([8, 128, 160]);
    expect(shapes.has('encoder.4.down.conv.weight')).toBe(false);
    expect(shapes.get('decoder.3.up.conv.weight')).toEqual([8, 160, 128]);
    expect(shapes.get('decoder.0.block.0.bn1.weight')).toEqual([64]);
    expect(shapes.get('decoder.0.block.0.proj.weight')).toEqual([64, 32]);
    expect(shapes.has('decoder.0.block.1.proj.weight')).toBe(false);
    expect(shapes.get('output.linear.weight')).toEqual([32, 5]);
    expect(shapes.get('output.linear.bias')).toEqual([5]);
    // Every parameter is a distinct f32 tensor that requires gradients.
    const params = model.parameters();
    expect(new Set(params).size).toBe(params.length);
    expect(params.every((p) => p.requiresGrad && p.dtype === 'f32')).toBe(true);
    expect(model.numParameters()).toBeGreaterThan(5e6);
    model.dispose();
    expect(ctx.stats().liveBytes).toBe(base);
    expect(() => model.parameters()).toThrow(/after dispose/);
  });

  it('rejects bad configurations with InputValueError naming the field', async () => {
    const ctx = await testGpu();
    expect(() => new UResNet(ctx, { depth: 0 })).toThrow(InputValueError);
    expect(() => new UResNet(ctx, { filters: 2.5 })).toThrow(/config\.filters/);
    expect(() => new UResNet(ctx, { kernelSize: 2 })).toThrow(/odd/);
    expect(() => new UResNet(ctx, { leakiness: -1 })).toThrow(/config\.leakiness/);
  });
});

describe('UResNet training, checkpoints and inference', () => {
  const train = smallEvents(4, 100);
  const heldOut = smallEvents(2, 900);
  let trained: UResNet | null = null;
  let trainedBase = 0;

  it('learns: loss on a fixed mini-batch falls below 60% of its initial value; no leaks', async () => {
    const ctx = await testGpu();
    await ctx.sync();
    const base = ctx.stats().liveBytes;
    const model = new UResNet(ctx, { ...SMALL, seed: 1 });
    const dir = mkdtempSync(join(tmpdir(), 'uresnet-'));
    const lines: string[] = [];
    const live: number[] = [];
    const report = await trainUResNet(model, {
      steps: 12,
      batch: () => train,
      adam: { lr: 1e-2 },
      progress: false,
      checkpointEvery: 5,
      checkpointPath: join(dir, 'ckpt-{step}.safetensors'),
      onStep: (r) => {
        lines.push(`${r.step} ${r.loss.toFixed(4)} ${r.voxels}`);
        live.push(ctx.stats().liveBytes);
      },
    });
    console.log(`U-ResNet depth 3 / 8 filters, ${report.voxels / report.steps} voxels per batch: ${report.steps} steps in ${report.seconds.toFixed(1)} s\n${lines.join('\n')}`);
    const first = report.losses[0]!;
    const last = (report.losses.at(-1)! + report.losses.at(-2)!) / 2;
    expect(first).toBeGreaterThan(0.8); // ~ln 5 at init
    expect(last).toBeLessThan(0.6 * first);
    expect(report.losses.every(Number.isFinite)).toBe(true);
    // Checkpoints every 5 steps and after the last one, each with its step in the metadata.
    expect(report.checkpoints.map((p) => p.slice(dir.length + 1))).toEqual(['ckpt-5.safetensors', 'ckpt-10.safetensors', 'ckpt-12.safetensors']);
    const lastCkpt = readSafetensors(new Uint8Array(readFileSync(report.checkpoints[2]!)));
    expect(lastCkpt.metadata['step']).toBe('12');
    expect(lastCkpt.tensors.size).toBe(model.stateEntries().length);
    rmSync(dir, { recursive: true });
    // Steady state: every step frees what it allocated (Adam state, made at step 1, persists).
    expect(new Set(live.slice(1)).size).toBe(1);
    // After the trainer is gone only the model's own tensors remain; disposing it returns to baseline.
    trained = model;
    trainedBase = base;
  });

  it('save → load → re-run gives bitwise-identical predictions', async () => {
    const ctx = await testGpu();
    const model = trained!;
    const before = await predictBatch(model, heldOut);
    expect(model.training).toBe(true); // mode restored after inference
    const bytes = await saveUResNetWeights(model, { note: 'test' });
    const file = readSafetensors(bytes);
    expect(file.metadata['note']).toBe('test');
    expect(file.tensors.get('encoder.1.block.0.bn2.running_mean')!.shape).toEqual([16]);
    // Running statistics moved away from their initial (0, 1) during training.
    expect(file.tensors.get('encoder.0.block.0.bn1.running_mean')!.data.some((v) => v !== 0)).toBe(true);

    const loaded = uresnetFromSafetensors(ctx, bytes);
    expect(loaded.config).toEqual(model.config);
    expect(loaded.training).toBe(false);
    const after = await predictBatch(loaded, heldOut);
    for (let b = 0; b < heldOut.length; b++) {
      expect(bits(after[b]!.scores)).toEqual(bits(before[b]!.scores));
      expect(after[b]!.labels).toEqual(before[b]!.labels);
      // Probabilities: rows sum to 1, labels are the argmax.
      const k = 5;
      const s = after[b]!.scores;
      for (let r = 0; r < after[b]!.labels.length; r++) {
        const row = Array.from(s.subarray(r * k, r * k + k));
        expect(row.reduce((a, v) => a + v, 0)).toBeCloseTo(1, 5);
        expect(after[b]!.labels[r]).toBe(row.indexOf(Math.max(...row)));
      }
    }
    // Loading into a fresh model of the same shape (another seed) gives the same bits too.
    const fresh = new UResNet(ctx, { ...SMALL, seed: 77 }).eval();
    loadUResNetWeights(fresh, bytes);
    const again = await predict(fresh, heldOut[0]!);
    expect(bits(again.scores)).toEqual(bits(before[0]!.scores));
    const m = segmentationMetrics(again.labels, heldOut[0]!.labels!, 5);
    expect(m.voxels).toBe(heldOut[0]!.labels!.length);
    fresh.dispose();
    loaded.dispose();
  });

  it('a BF16 checkpoint stores half the bytes and loads the F32 weights rounded to 8 significant bits', async () => {
    const ctx = await testGpu();
    const f32 = await saveUResNetWeights(trained!);
    const bf16 = await saveUResNetWeights(trained!, {}, { dtype: 'BF16' });
    const dataBytes = (b: Uint8Array) => b.length - 8 - Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true));
    expect(dataBytes(bf16)).toBe(dataBytes(f32) / 2);
    const exact = readSafetensors(f32).tensors;
    const rounded = readSafetensors(bf16).tensors;
    expect([...rounded.keys()]).toEqual([...exact.keys()]);
    for (const [name, t] of rounded) {
      expect(t.dtype).toBe('BF16');
      const ref = exact.get(name)!.data;
      t.data.forEach((v, i) => expect(Math.abs(v - ref[i]!)).toBeLessThanOrEqual(Math.abs(ref[i]!) * 2 ** -8));
    }
    const loaded = uresnetFromSafetensors(ctx, bf16);
    expect(loaded.config).toEqual(trained!.config);
    const pred = await predict(loaded, heldOut[0]!);
    expect(pred.labels.length).toBe(heldOut[0]!.labels!.length);
    loaded.dispose();
  });

  it('checkpoints: names, shapes and config mismatches are typed errors naming the tensor', async () => {
    const ctx = await testGpu();
    const bytes = await saveUResNetWeights(trained!);
    const wide = new UResNet(ctx, { depth: 3, filters: 16 });
    expect(() => loadUResNetWeights(wide, bytes)).toThrow(ShapeError);
    expect(() => loadUResNetWeights(wide, bytes)).toThrow(/"input\.conv\.weight" has shape \[27, 1, 8\] in the checkpoint but \[27, 1, 16\]/);
    wide.dispose();

    const file = readSafetensors(bytes);
    const entries = [...file.tensors.values()].map((t) => ({ name: t.name, shape: t.shape, data: t.data }));
    const target = new UResNet(ctx, SMALL);
    const snapshot = await target.parameters()[0]!.read();
    // Missing parameter.
    const missing = writeSafetensors(entries.filter((e) => e.name !== 'decoder.0.block.1.conv2.weight'));
    expect(() => loadUResNetWeights(target, missing)).toThrow(InputValueError);
    expect(() => loadUResNetWeights(target, missing)).toThrow(/lacks 1 tensor.*"decoder\.0\.block\.1\.conv2\.weight"/);
    // Extra name (e.g. from a deeper model), rejected unless strict is off.
    const extra = writeSafetensors([...entries, { name: 'encoder.3.block.0.conv1.weight', shape: [1], data: new Float32Array(1) }]);
    expect(() => loadUResNetWeights(target, extra)).toThrow(/does not: "encoder\.3\.block\.0\.conv1\.weight"/);
    // Missing BatchNorm buffers are allowed with strict: false (current values kept).
    const noBuffers = writeSafetensors(entries.filter((e) => !e.name.includes('running')));
    expect(() => loadUResNetWeights(target, noBuffers)).toThrow(/running_mean/);
    // A failed load leaves the model unchanged.
    expect(bits((await target.parameters()[0]!.read()) as Float32Array)).toEqual(bits(snapshot as Float32Array));
    loadUResNetWeights(target, extra, { strict: false });
    loadUResNetWeights(target, noBuffers, { strict: false });
    // Config stored in metadata that changes behaviour but no shape.
    const otherSlope = writeSafetensors(entries, { 'ghostgrad.uresnet.config': JSON.stringify({ ...trained!.config, leakiness: 0.1 }) });
    expect(() => loadUResNetWeights(target, otherSlope)).toThrow(/leakiness = 0\.1/);
    // Non-finite values.
    const nan = writeSafetensors(entries.map((e) => (e.name === 'output.linear.bias' ? { ...e, data: new Float32Array([0, NaN, 0, 0, 0]) } : e)));
    expect(() => loadUResNetWeights(target, nan)).toThrow(/"output\.linear\.bias" holds NaN/);
    target.dispose();
  });

  it('a checkpoint whose metadata claims a bigger model than its tensors is refused before anything is allocated', async () => {
    const ctx = await testGpu();
    const file = readSafetensors(await saveUResNetWeights(trained!));
    const entries = [...file.tensors.values()].map((t) => ({ name: t.name, shape: t.shape, data: t.data }));
    const base = ctx.stats().liveBytes;
    const created = ctx.stats().buffersCreated;
    for (const claim of [{ filters: 256 }, { depth: 4 }, { reps: 3 }, { numClasses: 7 }]) {
      const lying = writeSafetensors(entries, { 'ghostgrad.uresnet.config': JSON.stringify({ ...trained!.config, ...claim }) });
      const t0 = performance.now();
      expect(() => uresnetFromSafetensors(ctx, lying), JSON.stringify(claim)).toThrow(ShapeError);
      expect(() => uresnetFromSafetensors(ctx, lying)).toThrow(/the metadata does not describe these weights/);
      expect(performance.now() - t0).toBeLessThan(1000);
    }
    expect(ctx.stats().liveBytes).toBe(base);
    expect(ctx.stats().buffersCreated).toBe(created);
  });

  it('bad inputs: wrong channel count, missing labels, bad labels', async () => {
    const ctx = await testGpu();
    const model = trained!;
    const e = train[0]!;
    const n = e.labels!.length;
    const twoChannels: SegmentationEvent = { coords: e.coords, features: new Float32Array(2 * n), labels: e.labels! };
    await expect(predict(model, twoChannels)).rejects.toThrow(ShapeError);
    await expect(predict(model, twoChannels)).rejects.toThrow(/expects 1 input channel/);
    const trainer = new UResNetTrainer(model);
    await expect(trainer.step([twoChannels])).rejects.toThrow(ShapeError);
    await expect(trainer.step([{ coords: e.coords, energy: e.energy! }])).rejects.toThrow(/has no labels/);
    const badLabels = Int32Array.from(e.labels!);
    badLabels[3] = 7;
    await expect(trainer.step([{ ...e, labels: badLabels }])).rejects.toThrow(/labels\[3\] = 7/);
    trainer.dispose();
    // forward on a SparseTensor with the wrong channel count.
    const x = sparseTensor(ctx, e.coords, new Float32Array(3 * n), { channels: 3 });
    expect(() => noGrad(() => model.forward(x))).toThrow(/x has 3 feature channels but the model expects inChannels = 1/);
    x.feats.dispose();
    x.coords.dispose();
    // Inputs are never modified.
    const copy = Int32Array.from(e.coords);
    const shifted = { ...e, coords: Int32Array.from(e.coords, (v, i) => (i % 4 === 0 ? 5 : v)) };
    const b = collateEvents([e, shifted]);
    expect(b.coords[0]).toBe(0);
    expect(b.coords[4 * n]).toBe(1);
    expect(e.coords).toEqual(copy);
  });

  it('empty events: inference returns empty arrays; training needs at least 2 voxels', async () => {
    const ctx = await testGpu();
    const model = trained!;
    const empty: SegmentationEvent = { coords: new Int32Array(0), energy: new Float32Array(0), labels: new Int32Array(0) };
    const dispatches = ctx.stats().dispatches;
    const p = await predict(model, empty);
    expect(p.scores.length).toBe(0);
    expect(p.labels.length).toBe(0);
    expect(ctx.stats().dispatches).toBe(dispatches); // no GPU work at all
    // Mixed with a real event: the empty one gets empty arrays, the other its own predictions.
    const [pe, pr] = await predictBatch(model, [empty, heldOut[0]!]);
    const alone = await predict(model, heldOut[0]!);
    expect(pe!.labels.length).toBe(0);
    expect(bits(pr!.scores)).toEqual(bits(alone.scores));
    // An N = 0 sparse tensor flows through the network in eval mode.
    model.eval();
    const x = sparseTensor(ctx, new Int32Array(0), new Float32Array(0), { channels: 1 });
    const shape = await ctx.scope(() => noGrad(() => model.forward(x).feats.shape));
    expect(shape).toEqual([0, 5]);
    x.feats.dispose();
    x.coords.dispose();
    model.train();
    const trainer = new UResNetTrainer(model);
    await expect(trainer.step([empty, empty])).rejects.toThrow(/needs at least 2/);
    // One voxel reaches the coarse levels alone: BatchNorm cannot train on it.
    const one: SegmentationEvent = { coords: new Int32Array([0, 3, 3, 2, 0, 3, 3, 3]), energy: new Float32Array([1, 1]), labels: new Int32Array([1, 1]) };
    await expect(trainer.step([one])).rejects.toThrow(/encoder\.1\.block\.0\.bn1 \(stride 2\) sees 1 active site/);
    // Empty events inside a batch are fine.
    const r = await trainer.step([empty, train[0]!]);
    expect(r.voxels).toBe(train[0]!.labels!.length);
    trainer.dispose();
  });

  it('test-time augmentation: averaged probabilities, invariant under the symmetries it averages over', async () => {
    const ctx = await testGpu();
    const model = trained!;
    const event = heldOut[0]!;
    const n = event.labels!.length;
    const stride = 4; // depth 3
    // A reflection within the event's bounding box widened to whole stride cells maps the stride grid onto itself.
    const reflect = (e: SegmentationEvent, axis: number): SegmentationEvent => {
      const vals = Array.from({ length: n }, (_, r) => e.coords[4 * r + 1 + axis]!);
      const mirror = Math.floor(Math.min(...vals) / stride) * stride + Math.floor(Math.max(...vals) / stride) * stride + stride - 1;
      return { ...e, coords: Int32Array.from(e.coords, (v, i) => (i % 4 === 1 + axis ? mirror - v : v)) };
    };
    const swapXY = (e: SegmentationEvent): SegmentationEvent => ({
      ...e,
      coords: Int32Array.from(e.coords, (v, i) => (i % 4 === 1 ? e.coords[i + 1]! : i % 4 === 2 ? e.coords[i - 1]! : v)),
    });
    const dispatches = ctx.stats().dispatches;
    const plain = await predict(model, event);
    const perPass = ctx.stats().dispatches - dispatches;
    const flips = await predict(model, event, { augment: 'flips' });
    expect(ctx.stats().dispatches - dispatches - perPass).toBe(8 * perPass); // one forward per reflection
    expect(model.training).toBe(true);
    // Rows are probabilities; labels are their argmax; the result is deterministic.
    for (let r = 0; r < n; r++) {
      const row = Array.from(flips.scores.subarray(5 * r, 5 * r + 5));
      expect(row.reduce((a, v) => a + v, 0)).toBeCloseTo(1, 5);
      expect(flips.labels[r]).toBe(row.indexOf(Math.max(...row)));
    }
    expect(bits((await predict(model, event, { augment: 'flips' })).scores)).toEqual(bits(flips.scores));
    expect(bits(flips.scores)).not.toEqual(bits(plain.scores));
    // The average over a group is invariant under the group: the same views, summed in another order.
    const close = (a: Float32Array, b: Float32Array) => a.forEach((v, i) => expect(Math.abs(v - b[i]!)).toBeLessThan(1e-6));
    close((await predict(model, reflect(event, 0), { augment: 'flips' })).scores, flips.scores);
    close((await predict(model, reflect(reflect(event, 1), 2), { augment: 'flips' })).scores, flips.scores);
    const all = await predict(model, event, { augment: 'symmetries' });
    close((await predict(model, swapXY(reflect(event, 2)), { augment: 'symmetries' })).scores, all.scores);
    // Without augmentation a reflected event gives other probabilities (the kernels are not symmetric).
    expect(bits((await predict(model, reflect(event, 0))).scores)).not.toEqual(bits(plain.scores));
    // In a batch each event is reflected within its own box, whatever its neighbours.
    const [, second] = await predictBatch(model, [train[1]!, event], { augment: 'flips' });
    expect(bits(second!.scores)).toEqual(bits(flips.scores));
    // An event at the origin: reflected coordinates never go negative.
    const corner: SegmentationEvent = { coords: new Int32Array([0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 9, 0]), energy: new Float32Array([1, 2, 3]) };
    expect((await predict(model, corner, { augment: 'symmetries' })).labels.length).toBe(3);
    // Empty events and bad options.
    expect((await predict(model, { coords: new Int32Array(0), energy: new Float32Array(0) }, { augment: 'flips' })).scores.length).toBe(0);
    await expect(predict(model, event, { augment: 'rotate' as never })).rejects.toThrow(InputValueError);
    await expect(predict(model, event, { augment: 'rotate' as never })).rejects.toThrow(/options\.augment is "rotate"; use 'none', 'flips' or 'symmetries'/);
  });

  it('frees everything after disposing the model', async () => {
    const ctx = await testGpu();
    trained!.dispose();
    await ctx.sync();
    expect(ctx.stats().liveBytes).toBe(trainedBase);
  });
});
