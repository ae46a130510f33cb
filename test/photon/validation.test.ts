// Photon inputs that are not physical are refused, never propagated: NaN or
// negative library visibilities on the host; NaN, infinite or negative photon
// counts and observed PE on the GPU, in one readback per call.
import { describe, expect, it } from 'vitest';
import { InputValueError, tensor } from '../../src/index.js';
import { type PhotonLibraryMeta, createPhotonLibrary, flashHypothesis, flashMatchLoss, tableVisibilityModelGpu, uploadPhotonLibrary } from '../../src/kernels/photon/index.js';
import { testGpu } from '../helpers/gpu.js';

const meta: PhotonLibraryMeta = { shape: [2, 2, 2], min: [0, 0, 0], max: [10, 10, 10], numPhotodetectors: 3 };

describe('photon input validation', () => {
  it('createPhotonLibrary and uploadPhotonLibrary refuse NaN, infinite and negative visibilities, naming voxel and photodetector', async () => {
    const ctx = await testGpu();
    for (const bad of [NaN, -1e-3, Infinity]) {
      const data = new Float32Array(24).fill(0.01);
      data[13] = bad;
      expect(() => createPhotonLibrary(meta, data)).toThrow(InputValueError);
      expect(() => uploadPhotonLibrary(ctx, meta, data)).toThrow(/data\[13\] \(voxel 4, photodetector 1\)/);
    }
  });

  it('flashHypothesis and flashMatchLoss refuse bad photon counts and observed PE; validate: false skips the check', async () => {
    const ctx = await testGpu();
    await ctx.sync();
    const base = ctx.stats().liveBytes;
    // Intermediates (the visibilities of each call) belong to the scope.
    await ctx.scope(async () => {
      const lib = uploadPhotonLibrary(ctx, meta, new Float32Array(24).fill(0.01));
      const model = tableVisibilityModelGpu(lib);
      const positions = tensor(ctx, [2, 2, 2, 7, 7, 7], [2, 3]);
      const good = tensor(ctx, [1000, 2000]);
      const observed = tensor(ctx, [30, 30, 30]);
      for (const bad of [NaN, -5, Infinity]) {
        const charges = tensor(ctx, [1000, bad]);
        await expect(flashHypothesis(model, positions, charges)).rejects.toThrow(InputValueError);
        await expect(flashHypothesis(model, positions, charges)).rejects.toThrow(/flashHypothesis charges\[1\] = .* photons; it must be a finite number ≥ 0/);
        const unchecked = await flashHypothesis(model, positions, charges, undefined, { validate: false });
        unchecked.dispose();
        charges.dispose();
      }
      const badObserved = tensor(ctx, [30, -1, 30]);
      await expect(flashMatchLoss(model, positions, good, undefined, badObserved)).rejects.toThrow(/flashMatchLoss observed\[1\] = -1 PE/);
      const ok = await flashMatchLoss(model, positions, good, undefined, observed);
      expect(Number.isFinite((await ok.loss.read())[0])).toBe(true);
      ok.loss.dispose();
      ok.hypothesis.dispose();
      await expect(flashHypothesis(model, positions, good, undefined, { validat: false } as never)).rejects.toThrow(/did you mean "validate"/);
      for (const t of [positions, good, observed, badObserved]) t.dispose();
      lib.dispose();
    });
    await ctx.sync();
    expect(ctx.stats().liveBytes).toBe(base);
  });
});
