// The computations run both in the browser page and in Node; their results
// must agree. Plain JS so that the page can load it without a build step.
// `gg` is the ghostgrad module namespace, `ctx` a GPU context.
export async function browserWorkload(gg, ctx) {
  const out = {};
  const rand = gg.seededRandom(42);
  const rnd = (n, lo = -1, hi = 1) => Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());

  // Core: a small MLP forward and backward.
  {
    const x = gg.tensor(ctx, rnd(16 * 3), [16, 3]);
    const w = gg.tensor(ctx, rnd(3 * 4, -0.5, 0.5), [3, 4], { requiresGrad: true });
    const y = gg.tensor(ctx, rnd(16 * 4, 0, 1), [16, 4]);
    const loss = ctx.scope(() => {
      const l = gg.mseLoss(gg.sigmoid(gg.matmul(x, w)), y);
      gg.backward(l);
      return l;
    });
    out.mlpLoss = Array.from(await loss.read());
    out.mlpGrad = Array.from(await w.grad.read());
    for (const t of [x, w, y, loss]) t.dispose();
  }

  // Sparse: a 3³ submanifold conv forward and backward on a short track (GPU hash table and kernel map).
  {
    const rows = [];
    for (let i = 0; i < 40; i++) rows.push(0, 5 + i, 10 + (i >> 2), 7 + (i % 3));
    const coords = Int32Array.from(rows);
    const x = gg.sparseTensor(ctx, coords, rnd(40 * 4), { channels: 4, requiresGrad: true });
    const w = gg.tensor(ctx, rnd(27 * 4 * 6, -0.3, 0.3), [27, 4, 6], { requiresGrad: true });
    const y = gg.submanifoldConv3d(x, w);
    const g = gg.tensor(ctx, rnd(40 * 6), [40, 6]);
    gg.backward(y.feats, g);
    out.sparseForward = Array.from(await y.feats.read());
    out.sparseGradX = Array.from(await x.feats.grad.read());
    out.sparseGradW = Array.from(await w.grad.read());
    for (const t of [x.feats, w, y.feats, g]) t.dispose();
    x.coords.dispose();
  }

  // Photon: a SIREN forward (fused kernel).
  {
    const net = gg.createSiren(ctx, gg.sirenConfig({ inputDim: 3, hiddenWidth: 32, hiddenLayers: 2, outputDim: 4 }), { seed: 3 });
    const u = gg.tensor(ctx, rnd(64 * 3), [64, 3]);
    const y = gg.noGrad(() => gg.sirenForward(net, u));
    out.sirenForward = Array.from(await y.read());
    y.dispose();
    u.dispose();
    net.dispose();
  }

  // Drift: the charge chain and its lifetime gradient.
  {
    const segments = gg.segmentsTensor(ctx, gg.generateSyntheticSegments({ seed: 5, nMuons: 1, nProtons: 0, muonLength_cm: [1.5, 1.5] }));
    const physics = gg.physicsTensor(ctx, { lifetime: 1500 }, { requiresGrad: true });
    const sim = await gg.simulateCharge(segments, physics);
    gg.backward(gg.sum(sim.values));
    out.driftCharge = Array.from(await sim.values.read());
    out.driftGradPhysics = Array.from(await physics.grad.read());
    sim.dispose();
    segments.dispose();
    physics.dispose();
  }
  return out;
}

// Puts window.runWorkload (what the test calls through playwright) on a page
// that has loaded the package as `gg`, and marks the page ready.
export function installWorkload(gg) {
  window.runWorkload = async () => {
    const ctx = await gg.createGpu();
    try {
      return { adapter: ctx.adapter, results: await browserWorkload(gg, ctx) };
    } finally {
      await ctx.dispose();
    }
  };
  window.ready = true;
}
