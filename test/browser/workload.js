// The computations run both in the browser page and in Node; their results
// must agree. Plain JS so that the page can load it without a build step.
// `gg` is the ghostgrad module namespace, `ctx` a GPU context.
export async function browserWorkload(gg, ctx) {
  const out = {};
  // Core: a small MLP forward and backward.
  const rand = gg.seededRandom(42);
  const x = gg.tensor(ctx, Float32Array.from({ length: 16 * 3 }, () => rand() * 2 - 1), [16, 3]);
  const w = gg.tensor(ctx, Float32Array.from({ length: 3 * 4 }, () => rand() - 0.5), [3, 4], { requiresGrad: true });
  const y = gg.tensor(ctx, Float32Array.from({ length: 16 * 4 }, () => rand()), [16, 4]);
  const loss = ctx.scope(() => {
    const l = gg.mseLoss(gg.sigmoid(gg.matmul(x, w)), y);
    gg.backward(l);
    return l;
  });
  out.mlpLoss = Array.from(await loss.read());
  out.mlpGrad = Array.from(await w.grad.read());
  for (const t of [x, w, y, loss]) t.dispose();
  return out;
}
