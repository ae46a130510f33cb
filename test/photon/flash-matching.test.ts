/**
 * Reduced version of examples/photon/flash-matching.mjs: fit the drift shift
 * Δx of a synthetic track by gradient descent on the Poisson NLL of its flash,
 * with a voxel-table visibility model, and recover the known Δx within 1 cm.
 */
import { describe, expect, it } from 'vitest';
import { Adam, backward, seededRandom, tensor } from '../../src/index.js';
import {
  type PhotonLibraryMeta, flashHypothesis, flashMatchLoss, photonsFromEnergy, tableVisibilityModelGpu, uploadPhotonLibrary,
  voxelCenter,
} from '../../src/kernels/photon/index.js';
import { testGpu } from '../helpers/gpu.js';

/** PMTs on the anode plane x = 0 looking along +x: V ∝ cos θ / r², with 20 m absorption. */
function syntheticLibrary(meta: PhotonLibraryMeta, pmts: number[][]): Float32Array {
  const [nx, ny, nz] = meta.shape;
  const data = new Float32Array(nx * ny * nz * pmts.length);
  for (let ix = 0; ix < nx; ix++) for (let iy = 0; iy < ny; iy++) for (let iz = 0; iz < nz; iz++) {
    const c = voxelCenter(meta, ix, iy, iz);
    pmts.forEach((pm, d) => {
      const dx = c[0] - pm[0]!;
      const r2 = dx * dx + (c[1] - pm[1]!) ** 2 + (c[2] - pm[2]!) ** 2;
      const r = Math.sqrt(r2);
      data[((ix * ny + iy) * nz + iz) * pmts.length + d] = ((50 * dx) / r / (4 * Math.PI * r2)) * Math.exp(-r / 2000);
    });
  }
  return data;
}

describe('flash matching (reduced example)', () => {
  it('recovers a known Δx within 1 cm from a Poisson-fluctuated flash', async () => {
    const ctx = await testGpu();
    const meta: PhotonLibraryMeta = { shape: [20, 10, 10], min: [0, -50, 0], max: [100, 50, 100], numPhotodetectors: 8 };
    const pmts = Array.from({ length: 8 }, (_, d) => [-5, -37.5 + 25 * (d % 4), 25 + 50 * Math.floor(d / 4)]);
    const lib = uploadPhotonLibrary(ctx, meta, syntheticLibrary(meta, pmts));
    const model = tableVisibilityModelGpu(lib, 'clamp');
    const rand = seededRandom(5);
    // a 40 cm track, 2 MeV per 1 cm step
    const n = 40;
    const pos = new Float32Array(n * 3);
    for (let i = 0; i < n; i++) pos.set([30 + 0.5 * i, -20 + 0.8 * i, 30 + 0.6 * i], 3 * i);
    const q = Float32Array.from(photonsFromEnergy(new Float64Array(n).fill(2)));
    const trueShift = 17.3;
    const p = tensor(ctx, pos, [n, 3]);
    const charges = tensor(ctx, q, [n]);
    const truth = await flashHypothesis(model, p, charges, tensor(ctx, Float32Array.of(trueShift), [1]));
    // Gaussian approximation of Poisson fluctuations (λ ≫ 1 on every PMT)
    const observedHost = Float32Array.from(await truth.read(), (l) => Math.max(0, l + Math.sqrt(l) * gauss(rand)));
    const observed = tensor(ctx, observedHost, [8]);
    const shift = tensor(ctx, Float32Array.of(0), [1], { requiresGrad: true }).keep();
    const adam = new Adam([shift], { lr: 2 });
    for (let step = 0; step < 120; step++) {
      if (step === 80) adam.setLearningRate(0.2);
      await ctx.scope(async () => {
        const { loss } = await flashMatchLoss(model, p, charges, shift, observed);
        adam.zeroGrad();
        backward(loss);
        adam.step();
      });
    }
    const fitted = (await shift.read())[0]!;
    expect(Math.abs(fitted - trueShift)).toBeLessThan(1);
    adam.zeroGrad();
    adam.dispose();
    for (const t of [p, charges, truth, observed, shift]) t.dispose();
    lib.dispose();
  });
});

function gauss(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}
