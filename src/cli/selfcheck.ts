/**
 * The runtime self-check: adapter report, one forward/backward checked
 * against a float64 reference, and a short Adam fit. The demo runs it first.
 *
 * @module
 */
import { Adam } from '../autodiff/optimizers.js';
import { seededRandom } from '../autodiff/numeric.js';
import { backward } from '../autodiff/tape.js';
import { matmul } from '../kernels/core/matmul.js';
import { sigmoid } from '../kernels/core/elementwise.js';
import { mseLoss } from '../kernels/core/loss.js';
import type { GpuContext } from '../runtime/context.js';
import { tensor } from '../runtime/tensor.js';

export interface SelfCheckResult {
  gradientError: number;
  forwardBackwardMs: number;
  lossStart: number;
  lossEnd: number;
  passed: boolean;
}

/** Runs y = σ(xW), checks dL/dW against float64, then fits W with Adam. */
export async function selfCheck(ctx: GpuContext, steps = 200): Promise<SelfCheckResult> {
  const rand = seededRandom(1);
  const x = Float32Array.from({ length: 32 * 3 }, () => rand() * 2 - 1);
  const w = Float32Array.from({ length: 3 * 2 }, () => rand() - 0.5);
  const y = Float32Array.from({ length: 32 * 2 }, () => rand());
  const X = tensor(ctx, x, [32, 3]);
  const Y = tensor(ctx, y, [32, 2]);
  const W = tensor(ctx, w, [3, 2], { requiresGrad: true });
  const t0 = performance.now();
  ctx.scope(() => backward(mseLoss(sigmoid(matmul(X, W)), Y)));
  const g = await W.grad!.read();
  const forwardBackwardMs = performance.now() - t0;

  const ref = new Float64Array(6);
  for (let i = 0; i < 32; i++) {
    for (let j = 0; j < 2; j++) {
      let z = 0;
      for (let k = 0; k < 3; k++) z += x[i * 3 + k]! * w[k * 2 + j]!;
      const s = 1 / (1 + Math.exp(-z));
      const d = ((2 * (s - y[i * 2 + j]!)) / 64) * s * (1 - s);
      for (let k = 0; k < 3; k++) ref[k * 2 + j]! += x[i * 3 + k]! * d;
    }
  }
  let err = 0;
  let scale = 0;
  g.forEach((v, i) => {
    err = Math.max(err, Math.abs(v - ref[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  });

  const opt = new Adam([W], { lr: 0.05 });
  let lossStart = NaN;
  let lossEnd = NaN;
  for (let step = 0; step < steps; step++) {
    const loss = ctx.scope(() => {
      opt.zeroGrad();
      const l = mseLoss(sigmoid(matmul(X, W)), Y);
      backward(l);
      opt.step();
      return step === 0 || step === steps - 1 ? l : null;
    });
    if (loss) {
      const v = (await loss.read())[0]!;
      loss.dispose();
      if (step === 0) lossStart = v;
      lossEnd = v;
    }
  }
  opt.zeroGrad();
  opt.dispose();
  for (const t of [X, Y, W]) t.dispose();
  const gradientError = err / scale;
  return { gradientError, forwardBackwardMs, lossStart, lossEnd, passed: gradientError < 1e-4 && lossEnd < lossStart };
}
