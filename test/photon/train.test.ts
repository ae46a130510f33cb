/** Fitting a small SIREN to a small synthetic photon library on the GPU. */
import { describe, expect, it } from 'vitest';
import { InputValueError, NonFiniteError, ShapeError } from '../../src/index.js';
import {
  type PhotonLibraryMeta, createPhotonLibrary, createSiren, evaluateSirenOnLibrary, fitSirenToLibrary, sirenConfig, voxelCenter,
} from '../../src/kernels/photon/index.js';
import { testGpu } from '../helpers/gpu.js';

// Two photodetectors on the x faces of a 100 × 60 × 60 cm box; visibility
// falls off like a solid angle, spanning about two decades.
const meta: PhotonLibraryMeta = { shape: [10, 6, 6], min: [0, 0, 0], max: [100, 60, 60], numPhotodetectors: 2 };
const pds = [[-10, 30, 30], [110, 30, 30]];
const data = new Float32Array(10 * 6 * 6 * 2);
for (let ix = 0; ix < 10; ix++) for (let iy = 0; iy < 6; iy++) for (let iz = 0; iz < 6; iz++) {
  const c = voxelCenter(meta, ix, iy, iz);
  pds.forEach((pd, d) => {
    const r2 = (c[0] - pd[0]!) ** 2 + (c[1] - pd[1]!) ** 2 + (c[2] - pd[2]!) ** 2;
    data[((ix * 6 + iy) * 6 + iz) * 2 + d] = 20 / r2;
  });
}
const lib = createPhotonLibrary(meta, data);

describe('fitSirenToLibrary', () => {
  it('lowers the loss and the visibility bias with Adam; reports progress; leaks nothing', async () => {
    const ctx = await testGpu();
    const before = ctx.stats().liveBytes;
    const net = createSiren(ctx, sirenConfig({ inputDim: 3, hiddenWidth: 32, hiddenLayers: 2, outputDim: 2, omegaFirst: 5, omegaHidden: 5 }), { seed: 3 });
    const initial = await evaluateSirenOnLibrary(net, lib, { chunk: 200 });
    const seen: number[] = [];
    const result = await fitSirenToLibrary(net, lib, { steps: 200, batchSize: 128, lr: 2e-3, progressEvery: 50, onProgress: (p) => seen.push(p.step), weighting: false });
    expect(seen).toEqual([50, 100, 150, 200]);
    expect(result.history[3]!.loss).toBeLessThan(result.history[0]!.loss);
    const final = await evaluateSirenOnLibrary(net, lib, { chunk: 200 });
    expect(final.count).toBe(initial.count);
    expect(final.count).toBeGreaterThan(0);
    expect(final.bias).toBeLessThan(initial.bias);
    expect(final.bias).toBeLessThan(0.3);
    net.dispose();
    expect(ctx.stats().liveBytes).toBe(before);
  });

  it('rejects a photodetector count mismatch and bad options', async () => {
    const ctx = await testGpu();
    const net = createSiren(ctx, sirenConfig({ inputDim: 3, hiddenWidth: 4, hiddenLayers: 1, outputDim: 3 }), { seed: 1 });
    await expect(fitSirenToLibrary(net, lib, { steps: 1 })).rejects.toThrow(ShapeError);
    await expect(fitSirenToLibrary(net, lib, { steps: 1 })).rejects.toThrow(/3 outputs but the library has 2 photodetectors/);
    const ok = createSiren(ctx, sirenConfig({ inputDim: 3, hiddenWidth: 4, hiddenLayers: 1, outputDim: 2 }), { seed: 1 });
    await expect(fitSirenToLibrary(ok, lib, { steps: 0 })).rejects.toThrow(InputValueError);
    net.dispose();
    ok.dispose();
  });

  it('a step with a non-finite loss or gradient is never applied: NonFiniteError by default, counted with skip', async () => {
    const ctx = await testGpu();
    const net = createSiren(ctx, sirenConfig({ inputDim: 3, hiddenWidth: 8, hiddenLayers: 1, outputDim: 2 }), { seed: 4 });
    const params = net.parameters();
    // One NaN weight poisons every forward pass from here on.
    const w = new Float32Array(await params[0]!.read());
    w[0] = Number.NaN;
    params[0]!.write(w);
    const before = await Promise.all(params.map(async (p) => Array.from(new Uint32Array((await p.read()).buffer))));
    await expect(fitSirenToLibrary(net, lib, { steps: 3, batchSize: 16 })).rejects.toThrow(NonFiniteError);
    await expect(fitSirenToLibrary(net, lib, { steps: 3, batchSize: 16 })).rejects.toThrow(/step 1 has loss NaN .* it was not applied/);
    const skipped = await fitSirenToLibrary(net, lib, { steps: 3, batchSize: 16, onNonFinite: 'skip' });
    expect(skipped.skippedSteps).toEqual([1, 2, 3]);
    const after = await Promise.all(params.map(async (p) => Array.from(new Uint32Array((await p.read()).buffer))));
    expect(after).toEqual(before);
    await expect(fitSirenToLibrary(net, lib, { steps: 1, stepz: 3 } as never)).rejects.toThrow(/did you mean "steps"/);
    net.dispose();
  });
});

