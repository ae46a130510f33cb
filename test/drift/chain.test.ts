import { describe, expect, it } from 'vitest';
import { testGpu } from '../helpers/gpu.js';
import { backward, gradcheck, maxRelativeError, mul, seededRandom, sum, tensor } from '../../src/index.js';
import { CHAIN_PARAM_NAMES, DEFAULT_CHAIN_PARAMS, EMB_ICARUS, type ChainConfig, type ChainParams, type RecombinationModel, blurredMse, defaultChainConfig, defaultGeometry, electronics, generateSyntheticSegments, physicsTensor, segmentsFromPacked, segmentsTensor, segmentsToPacked, simulateCharge, sparseImageFromHost, type SparseGridValues } from '../../src/kernels/drift/index.js';
import { blurredMseLoss, chainBackward, chainForward, electronicsBackward, electronicsForward } from '../../src/reference.js';
import { host, liveBytes, packSegmentGrads, type ReferenceOp } from './gpu-helpers.js';

const G = defaultGeometry();

function f32Segments(o: Parameters<typeof generateSyntheticSegments>[0]) {
  return segmentsFromPacked(segmentsToPacked(generateSyntheticSegments(o), 'float32'));
}

describe('drift GPU: full chain', () => {
  const cases: { model: RecombinationModel; params: ChainParams }[] = [
    { model: 'box', params: DEFAULT_CHAIN_PARAMS },
    { model: 'emb', params: { ...DEFAULT_CHAIN_PARAMS, Ab: EMB_ICARUS.alpha, kb: EMB_ICARUS.beta90, embR: EMB_ICARUS.R, sigma0T: 0.01 } },
  ];
  for (const { model, params } of cases) {
    it(`${model}: forward and every gradient match chainForward/chainBackward`, async () => {
      const ctx = await testGpu();
      const base = await liveBytes(ctx);
      // Rounded to f32 first, so that the reference sees the GPU's inputs.
      const segs = f32Segments({ seed: 21, nMuons: 1, nProtons: 1, muonLength_cm: [2, 2], protonEnergy_MeV: [20, 20], step_cm: 0.3 });
      const config: ChainConfig = defaultChainConfig({ model, geometry: G });
      const ref = chainForward(segs, params, config);
      await ctx.scope(async () => {
        const seg = segmentsTensor(ctx, segs, { requiresGrad: true });
        const phys = physicsTensor(ctx, params, { model, requiresGrad: true });
        const sim = await simulateCharge(seg, phys, config);
        expect(sim.quadraturePlan.nPoints).toBe(ref.stats.nPoints);
        expect(sim.length).toBe(ref.output.length);
        const host0 = await sim.toHost();
        expect(Array.from(host0.pixelX)).toEqual(Array.from(ref.output.pixelX));
        expect(Array.from(host0.pixelY)).toEqual(Array.from(ref.output.pixelY));
        expect(Array.from(host0.tick)).toEqual(Array.from(ref.output.tick));
        // f32 arrival times: at t ≈ 100–190 µs one ulp is 0.8–1.5e-5 µs, and σ_t ≈
        // 0.1–0.25 µs, so Φ arguments carry ~1e-4 relative error; cell charges
        // agree to ~1e-4 of the largest.
        expect(maxRelativeError(host0.charge, ref.output.value)).toBeLessThan(3e-4);
        const rand = seededRandom(5);
        const r = Float64Array.from({ length: sim.length }, () => Math.fround(2 * rand() - 1));
        backward(sum(mul(sim.values, tensor(ctx, Float32Array.from(r)))));
        const want = chainBackward(ref, r);
        const gp = await phys.grad!.readF64();
        // Parameter gradients in units of their nominal value (∂L/∂ln p): fixed-order
        // f32 sums over ~10⁴ window cells and ~10³ points agree to ~1e-4.
        for (const [k, name] of CHAIN_PARAM_NAMES.entries()) {
          const nominal = name === 'vDrift' ? 0 : params[name];
          const a = gp[k]! * nominal;
          const b = want.params[name] * nominal;
          expect(Math.abs(a - b), name).toBeLessThanOrEqual(2e-4 * Math.abs(b) + 1e-6 * Math.abs(want.params.wIon * params.wIon));
        }
        const gs = await seg.grad!.readF64();
        const ws = packSegmentGrads(segs.length, want.segments);
        expect(maxRelativeError(gs, ws)).toBeLessThan(5e-4);
        sim.dispose();
      });
      expect(await liveBytes(ctx)).toBe(base);
    });
  }

  it('with electronics: values and ADC match the reference', async () => {
    const ctx = await testGpu();
    const segs = f32Segments({ seed: 4, nMuons: 1, nProtons: 0, muonLength_cm: [3, 3] });
    const config = defaultChainConfig({ geometry: G, electronics: { output: 'adc' } });
    const ref = chainForward(segs, DEFAULT_CHAIN_PARAMS, config);
    const seg = segmentsTensor(ctx, segs);
    const phys = physicsTensor(ctx);
    const sim = await simulateCharge(seg, phys, config);
    expect(maxRelativeError(await sim.values.readF64(), ref.electronics!.value)).toBeLessThan(1e-4);
    const adc = await sim.adc!.read();
    let differ = 0;
    adc.forEach((a, i) => {
      expect(Math.abs(a - ref.electronics!.adc[i]!)).toBeLessThanOrEqual(1);
      if (a !== ref.electronics!.adc[i]) differ++;
    });
    // Off by one only where f32 rounding lands on the other side of a .5 boundary.
    expect(differ).toBeLessThanOrEqual(Math.ceil(adc.length * 0.01));
    sim.dispose();
    seg.dispose();
    phys.dispose();
  });
});

describe('drift GPU: electronics and loss ops', () => {
  for (const output of ['charge', 'adc'] as const) {
    it(`electronics (${output}): gradcheck`, async () => {
      const ctx = await testGpu();
      const rand = seededRandom(2);
      const E = 60;
      const q = Float64Array.from({ length: E }, () => 15000 * rand());
      const sparse = (charge: Float64Array) => ({
        length: E,
        pixelX: Int32Array.from({ length: E }, (_, i) => i),
        pixelY: new Int32Array(E),
        tick: new Int32Array(E),
        charge,
      });
      const params = { output, thresholdWidth_e: 650 } as const;
      const reference: ReferenceOp<null> = {
        forward: ([x]) => host(electronicsForward(sparse(x!.data), params).value),
        backward: ([x], g) => [electronicsBackward(electronicsForward(sparse(x!.data), params), g.data).charge],
      };
      const report = await gradcheck({
        ctx,
        gpu: ([x]) => electronics(x!, params).value,
        reference,
        inputs: [host(q)],
        attrs: null,
        // sigmoid and one product per entry in f32: ~1e-6 relative. The central
        // differences at Q ≈ 1e4 e⁻ with h = 1e-6 carry ε·|f|/h ≈ 3e-6.
        tolerance: { reference: 1e-5, forward: 1e-5, gpu: 1e-5 },
      });
      expect(report.passed).toBe(true);
    });
  }

  it('blurredMse: value and gradient match blurredMseLoss (gradcheck)', async () => {
    const ctx = await testGpu();
    const rand = seededRandom(8);
    const image = (n: number, shift: number): SparseGridValues => {
      const seen = new Set<string>();
      const px: number[] = [];
      const py: number[] = [];
      const t: number[] = [];
      const v: number[] = [];
      while (px.length < n) {
        const a = 3 + Math.floor(6 * rand());
        const b = 2 + Math.floor(4 * rand());
        const c = 40 + shift + Math.floor(20 * rand());
        const k = `${a},${b},${c}`;
        if (seen.has(k)) continue;
        seen.add(k);
        px.push(a);
        py.push(b);
        t.push(c);
        v.push(100 + 1000 * rand());
      }
      return { length: n, pixelX: Int32Array.from(px), pixelY: Int32Array.from(py), tick: Int32Array.from(t), value: Float64Array.from(v) };
    };
    const pred = image(50, 0);
    const targ = image(40, 3);
    const predImg = sparseImageFromHost(ctx, pred);
    const targImg = sparseImageFromHost(ctx, targ);
    const reference: ReferenceOp<null> = {
      forward: ([p, q]) => host([blurredMseLoss({ ...pred, value: p!.data }, { ...targ, value: q!.data }).loss]),
      backward: ([p, q], g) => [blurredMseLoss({ ...pred, value: p!.data }, { ...targ, value: q!.data }).gradPred.map((x) => x * g.data[0]!), null],
    };
    const report = await gradcheck({
      ctx,
      gpu: ([p, q]) => blurredMse({ ...predImg, values: p! }, { ...targImg, values: q! }),
      reference,
      inputs: [host(pred.value), host(targ.value)],
      differentiable: [true, false],
      attrs: null,
      // Box sums of squares over ~10⁴ cells in f32 (tree): ~1e-6; the loss is a ratio.
      tolerance: { reference: 1e-5, forward: 2e-5, gpu: 2e-5 },
    });
    expect(report.passed).toBe(true);
    const self = blurredMse(predImg, predImg);
    expect((await self.read())[0]).toBe(0);
    self.dispose();
    for (const t of [predImg.values, predImg.cells, targImg.values, targImg.cells]) t.dispose();
  });
});
