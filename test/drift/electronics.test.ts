/**
 * GPU electronics (`electronics`, drift.electronics op) against the float64
 * reference `electronicsForward`/`electronicsBackward`: integration window,
 * relaxed threshold, ADC and the counter-based seeded noise.
 */
import { describe, expect, it } from 'vitest';
import { testGpu } from '../helpers/gpu.js';
import { backward, gradcheck, maxRelativeError, mul, seededRandom, sum, tensor } from '../../src/index.js';
import { InputValueError } from '../../src/errors.js';
import type { GpuContext } from '../../src/runtime/context.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { DEFAULT_CHAIN_PARAMS, type ElectronicsParams, defaultChainConfig, defaultGeometry, electronics, generateSyntheticSegments, physicsTensor, segmentsFromPacked, segmentsTensor, segmentsToPacked, simulateCharge } from '../../src/kernels/drift/index.js';
import { chainForward, electronicsBackward, electronicsForward } from '../../src/reference.js';
import { electronicsNoiseKey } from '../../src/kernels/drift/electronics.js';
import type { SparsePixelCharge } from '../../src/kernels/drift/readout.reference.js';
import { philox4x32 } from '../../src/kernels/photon-mc/philox.js';
import { bits, host, type ReferenceOp } from './gpu-helpers.js';

/** Sorted unique cells: `nPix` pixels, ticks with random gaps (1–3), charges f32-exact. */
function makeCells(nPix: number, perPixel: number, seed: number, qMax = 6000): SparsePixelCharge {
  const rand = seededRandom(seed);
  const px: number[] = [];
  const py: number[] = [];
  const t: number[] = [];
  const q: number[] = [];
  for (let p = 0; p < nPix; p++) {
    let tick = Math.floor(20 * rand()) - 10;
    for (let k = 0; k < perPixel; k++) {
      px.push(p % 7);
      py.push(Math.floor(p / 7));
      t.push(tick);
      q.push(Math.fround(qMax * rand()));
      tick += 1 + Math.floor(3 * rand());
    }
  }
  // (p % 7, p / 7) is not sorted by (pixelX, pixelY): sort the entries.
  const order = px.map((_, i) => i).sort((a, b) => px[a]! - px[b]! || py[a]! - py[b]! || t[a]! - t[b]!);
  return {
    length: order.length,
    pixelX: Int32Array.from(order, (i) => px[i]!),
    pixelY: Int32Array.from(order, (i) => py[i]!),
    tick: Int32Array.from(order, (i) => t[i]!),
    charge: Float64Array.from(order, (i) => q[i]!),
  };
}

function cellsTensor(ctx: GpuContext, s: SparsePixelCharge): Tensor {
  const c = new Int32Array(3 * s.length);
  for (let i = 0; i < s.length; i++) {
    c[3 * i] = s.pixelX[i]!;
    c[3 * i + 1] = s.pixelY[i]!;
    c[3 * i + 2] = s.tick[i]!;
  }
  return tensor(ctx, c, [s.length, 3], { dtype: 'i32' });
}

/**
 * The reference on the GPU's output lattice (the input cells): `index[e]` is
 * the reference output entry at input cell e; the reference's extra cells
 * (pixel, tick + k) with no input charge are left out (gradient 0 there).
 */
function referenceOnCells(s: SparsePixelCharge, params: Partial<ElectronicsParams>) {
  const r = electronicsForward(s, params);
  const key = (x: number, y: number, t: number) => `${x},${y},${t}`;
  const at = new Map<string, number>();
  for (let i = 0; i < r.length; i++) at.set(key(r.pixelX[i]!, r.pixelY[i]!, r.tick[i]!), i);
  const index = Int32Array.from({ length: s.length }, (_, e) => at.get(key(s.pixelX[e]!, s.pixelY[e]!, s.tick[e]!))!);
  const pick = (a: ArrayLike<number>) => Float64Array.from(index, (i) => a[i]!);
  const grad = (g: ArrayLike<number>) => {
    const full = new Float64Array(r.length);
    index.forEach((i, e) => (full[i] = g[e]!));
    return electronicsBackward(r, full).charge;
  };
  return { r, index, value: pick(r.value), adc: pick(r.adc), integrated: pick(r.integrated), grad };
}

describe('drift GPU: electronics with integration', () => {
  const cases: [string, Partial<ElectronicsParams>][] = [
    ['W = 1, charge', {}],
    ['W = 4, charge', { integrationTicks: 4 }],
    ['W = 3, adc', { integrationTicks: 3, output: 'adc', threshold_e: 8000, thresholdWidth_e: 900 }],
    ['W = 5, hard threshold', { integrationTicks: 5, thresholdWidth_e: 0 }],
    ['W = 2, no threshold', { integrationTicks: 2, applyThreshold: false, output: 'adc' }],
  ];
  for (const [label, params] of cases) {
    it(`${label}: forward and backward match the reference on the input cells`, async () => {
      const ctx = await testGpu();
      const s = makeCells(40, 12, 3);
      const ref = referenceOnCells(s, params);
      const cells = cellsTensor(ctx, s);
      const q = tensor(ctx, Float32Array.from(s.charge), undefined, { requiresGrad: true });
      const out = electronics(q, params, cells);
      // f32 sums of ≤ W charges, one sigmoid and one product: a few ulp, ~1e-6 relative;
      // entries near 0 below threshold are compared against the largest entry.
      expect(maxRelativeError(await out.value.readF64(), ref.value)).toBeLessThan(1e-5);
      const adc = await out.adc.read();
      let differ = 0;
      adc.forEach((a, i) => {
        expect(Math.abs(a - ref.adc[i]!)).toBeLessThanOrEqual(1);
        if (a !== ref.adc[i]) differ++;
      });
      // Off by one only where f32 rounding lands on the other side of a .5 boundary.
      expect(differ).toBeLessThanOrEqual(Math.ceil(adc.length * 0.01));
      const rand = seededRandom(11);
      const g = Float32Array.from({ length: s.length }, () => 2 * rand() - 1);
      backward(sum(mul(out.value, tensor(ctx, g))));
      const gq = await q.grad!.readF64();
      const refGrad = ref.grad(g);
      // ∂/∂Q of the sigmoid in f32 plus a sum of ≤ W terms: ~1e-6 relative; the hard
      // step's gradient is exact except where Q_int is within f32 rounding of θ.
      expect(maxRelativeError(gq, refGrad)).toBeLessThan(1e-5);
      q.dispose();
      cells.dispose();
    });
  }

  it('integration equals the window sum over preceding ticks, missing ticks count 0', async () => {
    const ctx = await testGpu();
    // pixel (0,0): ticks 10, 11, 14; pixel (0,1): ticks 11, 12; pixel (2,0): tick 12
    const s: SparsePixelCharge = {
      length: 6,
      pixelX: Int32Array.of(0, 0, 0, 0, 0, 2),
      pixelY: Int32Array.of(0, 0, 0, 1, 1, 0),
      tick: Int32Array.of(10, 11, 14, 11, 12, 12),
      charge: Float64Array.of(1, 2, 4, 8, 16, 32),
    };
    const cells = cellsTensor(ctx, s);
    const q = tensor(ctx, Float32Array.from(s.charge));
    const out = electronics(q, { integrationTicks: 4, applyThreshold: false }, cells);
    // window (t − 4, t]: tick 14 sees 11 (and 14), not 10
    expect(Array.from(await out.value.readF64())).toEqual([1, 3, 6, 8, 24, 32]);
    expect(Array.from(referenceOnCells(s, { integrationTicks: 4, applyThreshold: false }).value)).toEqual([1, 3, 6, 8, 24, 32]);
    q.dispose();
    cells.dispose();
  });

  it('gradcheck (W = 3, adc output)', async () => {
    const ctx = await testGpu();
    const s = makeCells(6, 10, 5, 15000);
    const params = { integrationTicks: 3, output: 'adc', thresholdWidth_e: 650 } as const;
    const cells = cellsTensor(ctx, s);
    const withCharge = (x: Float64Array): SparsePixelCharge => ({ ...s, charge: x });
    const reference: ReferenceOp<null> = {
      forward: ([x]) => host(referenceOnCells(withCharge(x!.data), params).value),
      backward: ([x], g) => [referenceOnCells(withCharge(x!.data), params).grad(g.data)],
    };
    const report = await gradcheck({
      ctx,
      gpu: ([x]) => electronics(x!, params, cells).value,
      reference,
      inputs: [host(s.charge)],
      attrs: null,
      // As the W = 1 gradcheck in chain.test.ts: f32 sigmoid and product ~1e-6
      // relative; central differences at Q ≈ 1e4–4e4 e⁻ carry ε·|f|/h ≈ 1e-5.
      tolerance: { reference: 3e-5, forward: 1e-5, gpu: 1e-5 },
    });
    expect(report.passed).toBe(true);
    cells.dispose();
  });

  it('is bitwise deterministic', async () => {
    const ctx = await testGpu();
    const s = makeCells(30, 20, 9);
    const cells = cellsTensor(ctx, s);
    const params = { integrationTicks: 6, noiseSeed: 4 };
    const run = async () => {
      const q = tensor(ctx, Float32Array.from(s.charge), undefined, { requiresGrad: true });
      const out = electronics(q, params, cells);
      const v = await bits(out.value);
      const rand = seededRandom(1);
      backward(sum(mul(out.value, tensor(ctx, Float32Array.from({ length: s.length }, () => rand() - 0.5)))));
      const gq = await bits(q.grad!);
      q.dispose();
      return { v, gq };
    };
    const a = await run();
    const b = await run();
    expect(b.v).toEqual(a.v);
    expect(b.gq).toEqual(a.gq);
    cells.dispose();
  });
});

describe('drift GPU: electronics noise', () => {
  /** Noise alone: zero charge, no threshold, W = 1, value = σ_n·z per cell. */
  async function noiseOnly(ctx: GpuContext, s: SparsePixelCharge, seed: number, extra: Partial<ElectronicsParams> = {}) {
    const cells = cellsTensor(ctx, s);
    const q = tensor(ctx, new Float32Array(s.length));
    const out = electronics(q, { noiseSeed: seed, applyThreshold: false, ...extra }, cells);
    const v = await out.value.readF64();
    q.dispose();
    cells.dispose();
    out.value.dispose();
    out.adc.dispose();
    return v;
  }

  it('is N(0, σ_n²): mean and variance, as the reference', async () => {
    const ctx = await testGpu();
    const s = makeCells(400, 50, 2);
    const n = s.length;
    const sigma = 500;
    const v = await noiseOnly(ctx, s, 17, { noise_e: sigma });
    const mean = v.reduce((a, b) => a + b, 0) / n;
    const variance = v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
    // 5-sigma bounds: sd(mean) = σ/√n, sd(var) ≈ σ²·√(2/n).
    expect(Math.abs(mean)).toBeLessThan((5 * sigma) / Math.sqrt(n));
    expect(Math.abs(variance / sigma ** 2 - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
    // The reference's noise has the same distribution.
    const ref = electronicsForward({ ...s, charge: new Float64Array(n) }, { noiseSeed: 17, noise_e: sigma, applyThreshold: false }).noise;
    const refVar = ref.reduce((a, b) => a + b * b, 0) / n;
    expect(Math.abs(refVar / variance - 1)).toBeLessThan(10 * Math.sqrt(2 / n));
  });

  it('is reproducible from the seed, keyed by (seed, pixel, tick), and matches a host Philox mirror', async () => {
    const ctx = await testGpu();
    const s = makeCells(40, 25, 6);
    const a = await noiseOnly(ctx, s, 123);
    const b = await noiseOnly(ctx, s, 123);
    const c = await noiseOnly(ctx, s, 124);
    expect(b).toEqual(a);
    expect(c.filter((x, i) => x === a[i]).length).toBe(0);
    // A subset of the cells (every third) gets the same noise per cell: no order dependence.
    const keep = Array.from({ length: s.length }, (_, i) => i).filter((i) => i % 3 === 1);
    const sub: SparsePixelCharge = {
      length: keep.length,
      pixelX: Int32Array.from(keep, (i) => s.pixelX[i]!),
      pixelY: Int32Array.from(keep, (i) => s.pixelY[i]!),
      tick: Int32Array.from(keep, (i) => s.tick[i]!),
      charge: new Float64Array(keep.length),
    };
    const d = await noiseOnly(ctx, sub, 123);
    expect(Array.from(d)).toEqual(keep.map((i) => a[i]!));
    // Host mirror of the WGSL draw: Philox4x32-10 on (pixelX, pixelY, tick, 'ELEC'),
    // key = float64 bits of the seed, Box–Muller on 24-bit uniforms.
    const [k0, k1] = electronicsNoiseKey(123);
    const w = new Uint32Array(4);
    for (let i = 0; i < s.length; i++) {
      philox4x32(s.pixelX[i]!, s.pixelY[i]!, s.tick[i]!, 0x454c4543, k0, k1, w);
      const u1 = ((w[0]! >>> 8) + 1) * 2 ** -24;
      const u2 = (w[1]! >>> 8) * 2 ** -24;
      const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
      // f32 log/cos/sqrt: ~1e-6 relative on |z| ≤ 5.8, times σ_n = 500.
      expect(Math.abs(a[i]! - 500 * z)).toBeLessThan(5e-3);
    }
  });

  it('is added before integration, like the reference', async () => {
    const ctx = await testGpu();
    const s = makeCells(20, 30, 8);
    const one = await noiseOnly(ctx, s, 9);
    const three = await noiseOnly(ctx, s, 9, { integrationTicks: 3 });
    for (let i = 0; i < s.length; i++) {
      let want = 0;
      for (let j = i; j >= 0 && s.pixelX[j] === s.pixelX[i] && s.pixelY[j] === s.pixelY[i] && s.tick[j]! > s.tick[i]! - 3; j--) want += one[j]!;
      expect(Math.abs(three[i]! - want)).toBeLessThan(1e-3);
    }
  });

  it('is off by default and passes gradients through unchanged', async () => {
    const ctx = await testGpu();
    const s = makeCells(10, 10, 4);
    expect(Array.from(await noiseOnly(ctx, s, 0, { noiseSeed: null }))).toEqual(new Array(s.length).fill(0));
    const cells = cellsTensor(ctx, s);
    const grads: Float64Array[] = [];
    for (const noiseSeed of [null, 31]) {
      const q = tensor(ctx, Float32Array.from(s.charge), undefined, { requiresGrad: true });
      backward(sum(electronics(q, { applyThreshold: false, integrationTicks: 2, noiseSeed }, cells).value));
      grads.push(await q.grad!.readF64());
      q.dispose();
    }
    expect(grads[1]).toEqual(grads[0]);
    cells.dispose();
  });
});

describe('drift GPU: electronics errors', () => {
  it('throws typed errors for bad settings and missing cells', async () => {
    const ctx = await testGpu();
    const s = makeCells(2, 3, 1);
    const cells = cellsTensor(ctx, s);
    const q = tensor(ctx, Float32Array.from(s.charge));
    expect(() => electronics(q, { integrationTicks: 0 }, cells)).toThrow(InputValueError);
    expect(() => electronics(q, { integrationTicks: 2.5 }, cells)).toThrow(InputValueError);
    expect(() => electronics(q, { noise_e: -1, noiseSeed: 1 }, cells)).toThrow(InputValueError);
    expect(() => electronics(q, { integrationTicks: 2 })).toThrow(InputValueError);
    expect(() => electronics(q, { noiseSeed: 1 })).toThrow(InputValueError);
    const bad = tensor(ctx, new Int32Array(3 * (s.length - 1)), [s.length - 1, 3], { dtype: 'i32' });
    expect(() => electronics(q, { integrationTicks: 2 }, bad)).toThrow(/shape/);
    bad.dispose();
    q.dispose();
    cells.dispose();
  });
});

describe('drift GPU: electronics in the chain', () => {
  it('simulateCharge with integration matches chainForward on the chain cells', async () => {
    const ctx = await testGpu();
    const G = defaultGeometry();
    const segs = segmentsFromPacked(segmentsToPacked(generateSyntheticSegments({ seed: 4, nMuons: 1, nProtons: 0, muonLength_cm: [3, 3] }), 'float32'));
    const config = defaultChainConfig({ geometry: G, electronics: { integrationTicks: 3, threshold_e: 2000 } });
    const ref = chainForward(segs, DEFAULT_CHAIN_PARAMS, config).electronics!;
    const seg = segmentsTensor(ctx, segs);
    const phys = physicsTensor(ctx);
    const sim = await simulateCharge(seg, phys, config);
    const out = await sim.toHost();
    const at = new Map<string, number>();
    for (let i = 0; i < ref.length; i++) at.set(`${ref.pixelX[i]},${ref.pixelY[i]},${ref.tick[i]}`, i);
    const want = Float64Array.from({ length: out.length }, (_, e) => ref.value[at.get(`${out.pixelX[e]},${out.pixelY[e]},${out.tick[e]}`)!]!);
    // As the full chain's values (docs/drift.md, accuracy table): f32 arrival times.
    expect(maxRelativeError(out.charge, want)).toBeLessThan(3e-4);
    sim.dispose();
    seg.dispose();
    phys.dispose();
  });
});
