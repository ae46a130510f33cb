/**
 * GPU SIREN against an independent implementation: the PyTorch autograd
 * fixture test/fixtures/pytorch-siren (3 → 32 → 32 → 4, sine on every layer,
 * ω0 = 30), on both the fused and the per-layer path.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { backward, maxRelativeError, tensor } from '../../src/index.js';
import { createSiren, sirenConfig, sirenForward, type SirenParams } from '../../src/kernels/photon/index.js';
import { testGpu } from '../helpers/gpu.js';

function readF32(name: string): Float32Array {
  const bytes = readFileSync(new URL(`../fixtures/pytorch-siren/${name}.f32`, import.meta.url));
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

const meta = JSON.parse(readFileSync(new URL('../fixtures/pytorch-siren/meta.json', import.meta.url), 'utf8')) as {
  dims: number[];
  omega0: number;
  batch: number;
};

describe('GPU SIREN vs PyTorch fixture', () => {
  const config = sirenConfig({
    inputDim: 3,
    hiddenWidth: 32,
    hiddenLayers: 2,
    outputDim: 4,
    omegaFirst: meta.omega0,
    omegaHidden: meta.omega0,
    outputActivation: 'sine',
  });
  const params: SirenParams = {
    weights: [0, 1, 2].map((l) => Float64Array.from(readF32(`W${l}`))),
    biases: [0, 1, 2].map((l) => Float64Array.from(readF32(`b${l}`))),
  };

  // The README's tolerance: 1e-4 of each array's largest magnitude. The
  // fixture is float64 PyTorch; we evaluate in f32 with ω0 = 30 and sums of
  // at most 32 terms. Observed: ≤ 2e-6 on both paths (printed on failure).
  const tol = 1e-4;

  for (const path of ['fused', 'per-layer'] as const) {
    it(`${path}: y, gx, gW*, gb* within 1e-4 of the largest magnitude`, async () => {
      const ctx = await testGpu();
      await ctx.scope(async () => {
        const net = createSiren(ctx, config, { params });
        const x = tensor(ctx, readF32('x'), [meta.batch, 3], { requiresGrad: true });
        const y = sirenForward(net, x, { path });
        backward(y, tensor(ctx, readF32('gout'), [meta.batch, 4]));
        const errors: Record<string, number> = {
          y: maxRelativeError(await y.readF64(), Float64Array.from(readF32('y'))),
          gx: maxRelativeError(await x.grad!.readF64(), Float64Array.from(readF32('gx'))),
        };
        for (let l = 0; l < 3; l++) {
          errors[`gW${l}`] = maxRelativeError(await net.weights[l]!.grad!.readF64(), Float64Array.from(readF32(`gW${l}`)));
          errors[`gb${l}`] = maxRelativeError(await net.biases[l]!.grad!.readF64(), Float64Array.from(readF32(`gb${l}`)));
        }
        for (const [name, err] of Object.entries(errors)) expect(err, `${name}: ${err}`).toBeLessThan(tol);
        net.dispose();
      });
    });
  }
});
