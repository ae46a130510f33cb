// Host cost is a metric: these tests pin what one step of each main workload
// asks of the host after warm-up (dispatches, submits, readbacks, and no
// bind-group, buffer or pipeline creation). Times live in bench/host.bench.mjs.
import { describe, expect, it } from 'vitest';
import { Adam, backward, mseLoss, tensor, type GpuContext } from '../../src/index.js';
import { generateEvent } from '../../src/events/index.js';
import { UResNet, UResNetTrainer } from '../../src/models/index.js';
import { createSiren, sirenConfig, sirenForward } from '../../src/kernels/photon/index.js';
import {
  blurredMse,
  defaultChainConfig,
  defaultGeometry,
  generateSyntheticSegments,
  scaledPhysics,
  segmentsTensor,
  simulateCharge,
} from '../../src/kernels/drift/index.js';
import { testGpu } from '../helpers/gpu.js';

interface StepCounts {
  dispatches: number;
  submits: number;
  readbacks: number;
  created: { bindGroups: number; buffers: number; pipelines: number };
  uploads: number;
  /** Dispatches per kernel name. */
  kernels: Record<string, number>;
}

/** Runs `step` three times to warm up, then counts the fourth. */
async function countStep(ctx: GpuContext, step: () => Promise<void>): Promise<StepCounts> {
  for (let i = 0; i < 3; i++) await step();
  await ctx.sync();
  const kernels: Record<string, number> = {};
  const run = ctx.run.bind(ctx);
  ctx.run = (spec, bindings, workgroups, constants) => {
    kernels[spec.name] = (kernels[spec.name] ?? 0) + 1;
    run(spec, bindings, workgroups, constants);
  };
  const a = ctx.stats();
  try {
    await step();
    await ctx.sync();
  } finally {
    ctx.run = run;
  }
  const b = ctx.stats();
  return {
    dispatches: b.dispatches - a.dispatches,
    submits: b.submits - a.submits,
    readbacks: b.readbacks - a.readbacks,
    created: {
      bindGroups: b.bindGroupsCreated - a.bindGroupsCreated,
      buffers: b.buffersCreated - a.buffersCreated,
      pipelines: b.pipelinesCreated - a.pipelinesCreated,
    },
    uploads: b.uploads - a.uploads,
    kernels,
  };
}

const NONE = { bindGroups: 0, buffers: 0, pipelines: 0 };

describe('per-step host counts after warm-up', () => {
  it('U-ResNet training step: one readback (the loss with the non-finite count), two submits, nothing created, one Adam dispatch, three per BatchNorm each way, one per conv each way', async () => {
    const ctx = await testGpu();
    const model = new UResNet(ctx, { depth: 3, filters: 8 });
    const trainer = new UResNetTrainer(model);
    const e = generateEvent({ seed: 3, preset: 'small' });
    const n = Math.min(600, e.energy.length);
    const event = { coords: e.coords.slice(0, 4 * n), features: e.energy.slice(0, n), labels: e.labels.slice(0, n) };
    const c = await countStep(ctx, async () => void (await trainer.step([event])));
    expect(c.created).toEqual(NONE);
    // The readback submits forward, backward and the gradient check; the Adam
    // update, recorded once the loss is known to be finite, goes out with the
    // next step's work, or here with the sync that ends the count.
    expect({ submits: c.submits, readbacks: c.readbacks }).toEqual({ submits: 2, readbacks: 1 });
    // Input coordinates and features, the coarse coordinate sets of the two
    // downsamplings, and the labels: kernel-offset tables are not re-uploaded.
    expect(c.uploads).toBe(5);
    // depth 3, 2 blocks per level: 6 + 4 (decoder) blocks × 2 BatchNorms, 2 down + 2 up + 1 output = 25.
    const norms = 25;
    expect(c.kernels).toMatchObject({
      'optim.adam_step': 1,
      'optim.count_nonfinite': 1,
      'sparse.bn_moments_partial': norms,
      'sparse.bn_moments_merge': norms,
      'sparse.bn_apply': norms,
      'sparse.bn_grad_partial': norms,
      'sparse.bn_grad_merge': norms,
      'sparse.bn_backward_x': norms,
    });
    expect(c.kernels['core.leaky_relu']).toBeUndefined(); // fused into the BatchNorm
    expect(c.kernels['core.copy']).toBeUndefined(); // residual gradients are shared, not copied
    // Implicit-GEMM convs: one dispatch per forward (25) and per input
    // gradient (24: not into the input features), dW as one dispatch plus the
    // chunk sum. The maps are new each step, so each sorts its rows once:
    // 3 submanifold maps × 4 radix passes (27-bit masks; both tables share
    // one order) + 2 strided maps × 2 tables × 1 pass (8-bit masks), two
    // dispatches per pass; and 7 pair-list compactions for the dW.
    expect(c.kernels).toMatchObject({
      'sparse.conv_igemm': 49,
      'sparse.conv_igemm_dw': 25,
      'sparse.sum_chunks': 25,
      'sparse.order_count': 16,
      'sparse.order_scatter': 16,
      'sparse.pair_compact': 7,
    });
    expect(c.dispatches).toBe(355);
    trainer.dispose();
    model.dispose();
  });

  it('SIREN Adam step: the batch upload, one submit, one readback, nothing created, the layer table not re-uploaded', async () => {
    const ctx = await testGpu();
    const net = createSiren(ctx, sirenConfig({ inputDim: 3, hiddenWidth: 32, hiddenLayers: 3, outputDim: 8 }), { seed: 1 });
    const opt = new Adam(net.parameters(), { lr: 1e-3 });
    const xHost = Float32Array.from({ length: 256 * 3 }, (_, i) => Math.sin(i));
    const yHost = Float32Array.from({ length: 256 * 8 }, (_, i) => Math.cos(i));
    const c = await countStep(ctx, () =>
      ctx.scope(async () => {
        const x = tensor(ctx, xHost, [256, 3]);
        const y = tensor(ctx, yHost, [256, 8]);
        opt.zeroGrad();
        const loss = mseLoss(sirenForward(net, x), y);
        backward(loss);
        opt.step();
        await loss.read();
      }),
    );
    expect(c.created).toEqual(NONE);
    expect({ submits: c.submits, readbacks: c.readbacks, uploads: c.uploads }).toEqual({ submits: 1, readbacks: 1, uploads: 2 });
    expect(c.kernels['optim.adam_step']).toBe(1);
    opt.zeroGrad();
    opt.dispose();
    net.dispose();
  });

  it('drift fit iteration: four round trips (three planning readbacks with the physics check folded in, and the loss), nothing created', async () => {
    const ctx = await testGpu();
    const seg = segmentsTensor(ctx, generateSyntheticSegments({ seed: 4, nMuons: 1, nProtons: 1, volume_cm: [[0.5, 0.5, 0.5], [6, 6, 20]] }));
    const sp = scaledPhysics(ctx, ['lifetime', 'dT']);
    const config = defaultChainConfig({ geometry: defaultGeometry({ nPixels: [16, 16], tick_us: 0.5 }) });
    const truth = tensor(ctx, [1, 1]);
    const physTrue = sp.apply(truth);
    const data = await simulateCharge(seg, physTrue, config);
    const theta = tensor(ctx, [0.9, 1.1], [2], { requiresGrad: true });
    const opt = new Adam([theta], { lr: 0.01 });
    const c = await countStep(ctx, async () => {
      opt.zeroGrad();
      const phys = sp.apply(theta);
      const sim = await simulateCharge(seg, phys, config);
      const loss = blurredMse(sim, data, { sigmaPixels: 1, sigmaTicks: 2 });
      backward(loss);
      opt.step();
      await loss.read();
      for (const t of [loss, sim, phys]) t.dispose();
    });
    expect(c.created).toEqual(NONE);
    expect({ submits: c.submits, readbacks: c.readbacks }).toEqual({ submits: 4, readbacks: 4 });
    opt.zeroGrad();
    opt.dispose();
    for (const t of [seg, truth, physTrue, theta]) t.dispose();
    data.dispose();
    sp.dispose();
  });
});
