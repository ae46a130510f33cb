/**
 * GPU SIREN vs the float64 reference: fused and per-layer forward, gradients
 * for weights, biases and inputs, the input-gradient op and its second-order
 * backward, gradcheck, determinism, leaks and bad input.
 */
import { describe, expect, it } from 'vitest';
import {
  DeviceLimitError, InputValueError, ShapeError, add, backward, mul, gradcheck, maxRelativeError, seededRandom, sum, tensor,
  type GpuContext, type HostTensor, type ReferenceOp, type Tensor,
} from '../../src/index.js';
import {
  createSiren, readSirenParams, sirenForward, sirenInputGradient, type SirenNetwork, type SirenPath,
} from '../../src/kernels/photon/index.js';
import {
  type SirenConfig, type SirenParams, initSirenParams, sirenBackwardRef, sirenConfig, sirenForwardRef,
  sirenInputGradientBackwardRef, sirenInputGradientRef,
} from '../../src/kernels/photon/siren.reference.js';
import { randomArray, testGpu } from '../helpers/gpu.js';

const rand = seededRandom(2024);

// Small but non-trivial: widths not multiples of the tile or the 128-thread
// workgroup, batch not a multiple of the tile. ω = 30 makes f32 rounding of
// z grow by ~ω per layer; with K ≤ 40 terms per sum, 2e-4 of the largest
// magnitude covers it (observed ~1e-5).
const config: SirenConfig = sirenConfig({ inputDim: 3, hiddenWidth: 37, hiddenLayers: 3, outputDim: 5 });
const linearConfig: SirenConfig = sirenConfig({ inputDim: 3, hiddenWidth: 20, hiddenLayers: 2, outputDim: 4, outputActivation: 'linear', omegaFirst: 10, omegaHidden: 15 });
const B = 45;
const TOL = 2e-4;

function roundParams(p: SirenParams): SirenParams {
  return { weights: p.weights.map((w) => w.map(Math.fround)), biases: p.biases.map((b) => b.map(Math.fround)) };
}

function hostX(n: number, dim = 3): Float64Array {
  return randomArray(rand, n * dim).map(Math.fround);
}

async function gradsOf(net: SirenNetwork, x: Tensor): Promise<{ gW: Float64Array[]; gb: Float64Array[]; gx: Float64Array }> {
  return {
    gW: await Promise.all(net.weights.map((w) => w.grad!.readF64())),
    gb: await Promise.all(net.biases.map((b) => b.grad!.readF64())),
    gx: await x.grad!.readF64(),
  };
}

async function forwardBackward(ctx: GpuContext, cfg: SirenConfig, params: SirenParams, xh: Float64Array, gout: Float64Array, path: SirenPath, chunk?: number) {
  return ctx.scope(async () => {
    const net = createSiren(ctx, cfg, { params });
    const x = tensor(ctx, Float32Array.from(xh), [xh.length / cfg.inputDim, cfg.inputDim], { requiresGrad: true });
    const y = sirenForward(net, x, { path, ...(chunk ? { backwardChunk: chunk } : {}) });
    const g = tensor(ctx, Float32Array.from(gout), y.shape);
    backward(y, g);
    const out = { y: await y.readF64(), ...(await gradsOf(net, x)) };
    net.dispose();
    return out;
  });
}

describe('SIREN forward and backward', () => {
  const singleLayer = sirenConfig({ inputDim: 2, hiddenWidth: 1, hiddenLayers: 0, outputDim: 7 });
  for (const [name, cfg] of [['sine output', config], ['linear output, custom ω', linearConfig], ['no hidden layer, 2-D input', singleLayer]] as const) {
    for (const path of ['fused', 'per-layer'] as const) {
      it(`${name}, ${path}: y, dW, db, dx match the float64 reference`, async () => {
        const ctx = await testGpu();
        const params = roundParams(initSirenParams(cfg, 11));
        const xh = hostX(B, cfg.inputDim);
        const gout = randomArray(rand, B * cfg.outputDim).map(Math.fround);
        // chunk 16 forces three backward chunks whose partials are added in order
        const got = await forwardBackward(ctx, cfg, params, xh, gout, path, 16);
        const fwd = sirenForwardRef(cfg, params, xh);
        const ref = sirenBackwardRef(cfg, params, fwd, gout);
        expect(maxRelativeError(got.y, fwd.output)).toBeLessThan(TOL);
        expect(maxRelativeError(got.gx, ref.input)).toBeLessThan(TOL);
        ref.weights.forEach((w, l) => expect(maxRelativeError(got.gW[l]!, w), `W${l}`).toBeLessThan(TOL));
        ref.biases.forEach((b, l) => expect(maxRelativeError(got.gb[l]!, b), `b${l}`).toBeLessThan(TOL));
      });
    }
  }

  it('fused and per-layer paths agree', async () => {
    const ctx = await testGpu();
    const params = roundParams(initSirenParams(config, 5));
    const xh = hostX(B);
    const gout = randomArray(rand, B * config.outputDim).map(Math.fround);
    const a = await forwardBackward(ctx, config, params, xh, gout, 'fused');
    const b = await forwardBackward(ctx, config, params, xh, gout, 'per-layer');
    expect(maxRelativeError(a.y, b.y)).toBeLessThan(TOL);
    expect(maxRelativeError(a.gx, b.gx)).toBeLessThan(TOL);
    a.gW.forEach((w, l) => expect(maxRelativeError(w, b.gW[l]!)).toBeLessThan(TOL));
  });

  it('a 512-wide layer runs fused (smaller tile) and matches the reference', async () => {
    const ctx = await testGpu();
    const cfg = sirenConfig({ inputDim: 3, hiddenWidth: 512, hiddenLayers: 2, outputDim: 3 });
    const params = roundParams(initSirenParams(cfg, 3));
    const xh = hostX(9);
    const gout = randomArray(rand, 9 * 3).map(Math.fround);
    const got = await forwardBackward(ctx, cfg, params, xh, gout, 'fused');
    const fwd = sirenForwardRef(cfg, params, xh);
    const ref = sirenBackwardRef(cfg, params, fwd, gout);
    // K = 512 terms per sum: allow 5e-4 (512 · 2⁻²⁴ · ω per layer).
    expect(maxRelativeError(got.y, fwd.output)).toBeLessThan(5e-4);
    expect(maxRelativeError(got.gW[1]!, ref.weights[1]!)).toBeLessThan(5e-4);
    expect(maxRelativeError(got.gx, ref.input)).toBeLessThan(5e-4);
  });

  it('gradcheck: every parameter and the input', async () => {
    const ctx = await testGpu();
    const cfg = sirenConfig({ inputDim: 3, hiddenWidth: 8, hiddenLayers: 2, outputDim: 3, omegaFirst: 3, omegaHidden: 2 });
    const nLayers = cfg.hiddenLayers + 1;
    const reference: ReferenceOp<null> = {
      forward: ([x, ...ps]) => {
        const params = splitParams(ps.map((p) => p.data), nLayers);
        return { shape: [x!.data.length / 3, cfg.outputDim], data: sirenForwardRef(cfg, params, x!.data).output };
      },
      backward: ([x, ...ps], g) => {
        const params = splitParams(ps.map((p) => p.data), nLayers);
        const r = sirenBackwardRef(cfg, params, sirenForwardRef(cfg, params, x!.data), g.data);
        return [r.input, ...r.weights.flatMap((w, l) => [w, r.biases[l]!])];
      },
    };
    const p = initSirenParams(cfg, 9);
    const inputs: HostTensor[] = [
      { shape: [6, 3], data: randomArray(rand, 18) },
      ...p.weights.flatMap((w, l) => [
        { shape: [p.biases[l]!.length, w.length / p.biases[l]!.length], data: w },
        { shape: [p.biases[l]!.length], data: p.biases[l]! },
      ]),
    ];
    const report = await gradcheck({
      ctx,
      gpu: ([x, ...ps]) => sirenForward(netFromTensors(ctx, cfg, ps), x!, { path: 'fused' }),
      reference,
      inputs,
      attrs: null,
    });
    expect(report.referenceError).toBeLessThan(1e-6);
    expect(report.forwardError).toBeLessThan(1e-5);
    expect(report.gpuError).toBeLessThan(1e-4);
  });

  it('is bitwise deterministic and leaks nothing', async () => {
    const ctx = await testGpu();
    const params = roundParams(initSirenParams(config, 1));
    const xh = hostX(B);
    const gout = randomArray(rand, B * config.outputDim).map(Math.fround);
    await forwardBackward(ctx, config, params, xh, gout, 'fused'); // warm the pool
    const before = ctx.stats().liveBytes;
    const a = await forwardBackward(ctx, config, params, xh, gout, 'fused', 16);
    const b = await forwardBackward(ctx, config, params, xh, gout, 'fused', 16);
    const bits = (v: Float64Array) => new Uint32Array(Float32Array.from(v).buffer);
    expect(bits(a.y)).toEqual(bits(b.y));
    expect(bits(a.gx)).toEqual(bits(b.gx));
    a.gW.forEach((w, l) => expect(bits(w)).toEqual(bits(b.gW[l]!)));
    expect(ctx.stats().liveBytes).toBe(before);
  });

  it('rejects a wrong input dimension, a foreign layout and bad paths', async () => {
    const ctx = await testGpu();
    const net = createSiren(ctx, config, { seed: 1 });
    const x4 = tensor(ctx, new Float32Array(8), [2, 4]);
    expect(() => sirenForward(net, x4)).toThrow(ShapeError);
    expect(() => sirenForward(net, x4)).toThrow(/\[B, 3\]/);
    const x = tensor(ctx, new Float32Array(6), [2, 3]);
    expect(() => sirenForward(net, x, { path: 'magic' as SirenPath })).toThrow(InputValueError);
    expect(() => createSiren(ctx, config, { params: { weights: [new Float64Array(3)], biases: [] } })).toThrow(ShapeError);
    const huge = createSiren(ctx, sirenConfig({ inputDim: 3, hiddenWidth: 4096, hiddenLayers: 1, outputDim: 1 }), { seed: 1 });
    expect(() => sirenForward(huge, x, { path: 'fused' })).toThrow(DeviceLimitError);
    const y = sirenForward(huge, x); // auto: falls back to the per-layer path
    expect(y.shape).toEqual([2, 1]);
    for (const t of [x4, x, y]) t.dispose();
    huge.dispose();
    net.dispose();
  });

  it('an empty batch gives an empty output and zero parameter gradients', async () => {
    const ctx = await testGpu();
    await ctx.scope(async () => {
      const net = createSiren(ctx, config, { seed: 2 });
      const x = tensor(ctx, new Float32Array(0), [0, 3], { requiresGrad: true });
      const y = sirenForward(net, x);
      expect(y.shape).toEqual([0, 5]);
      backward(y, tensor(ctx, new Float32Array(0), [0, 5]));
      expect(Array.from(await net.weights[1]!.grad!.read()).every((v) => v === 0)).toBe(true);
      net.dispose();
    });
  });

  it('readSirenParams round-trips', async () => {
    const ctx = await testGpu();
    const params = roundParams(initSirenParams(config, 4));
    const net = createSiren(ctx, config, { params });
    const back = await readSirenParams(net);
    expect(Array.from(back.weights[2]!)).toEqual(Array.from(params.weights[2]!));
    net.dispose();
  });
});

describe('SIREN input gradient (spatial Jacobian)', () => {
  const cfg = sirenConfig({ inputDim: 3, hiddenWidth: 19, hiddenLayers: 2, outputDim: 4 });

  it('J and y match sirenInputGradientRef; backward from (dL/dy, dL/dJ) matches the reference', async () => {
    const ctx = await testGpu();
    const params = roundParams(initSirenParams(cfg, 21));
    const n = 13;
    const xh = hostX(n);
    const gy = randomArray(rand, n * 4).map(Math.fround);
    const gj = randomArray(rand, n * 12).map(Math.fround);
    const ref = sirenInputGradientRef(cfg, params, xh);
    const refBack = sirenInputGradientBackwardRef(cfg, params, xh, gj, gy);
    await ctx.scope(async () => {
      const net = createSiren(ctx, cfg, { params });
      const x = tensor(ctx, Float32Array.from(xh), [n, 3], { requiresGrad: true });
      const { output, jacobian } = sirenInputGradient(net, x, { backwardChunk: 8 });
      expect(maxRelativeError(await output.readF64(), ref.output)).toBeLessThan(TOL);
      expect(maxRelativeError(await jacobian.readF64(), ref.jacobian)).toBeLessThan(TOL);
      // L = <y, gy> + <J, gj> as one scalar through the tape
      const loss = sum(addAll(ctx, [weighted(output, gy), weighted(jacobian, gj)]));
      backward(loss);
      const got = await gradsOf(net, x);
      // second-order terms carry ω² factors: 1e-3 of the largest magnitude
      expect(maxRelativeError(got.gx, refBack.input)).toBeLessThan(1e-3);
      refBack.weights.forEach((w, l) => expect(maxRelativeError(got.gW[l]!, w), `W${l}`).toBeLessThan(1e-3));
      refBack.biases.forEach((b, l) => expect(maxRelativeError(got.gb[l]!, b), `b${l}`).toBeLessThan(1e-3));
      net.dispose();
    });
  });

  it('gradcheck of the Jacobian output w.r.t. x and every parameter', async () => {
    const ctx = await testGpu();
    const small = sirenConfig({ inputDim: 3, hiddenWidth: 6, hiddenLayers: 2, outputDim: 2, omegaFirst: 2, omegaHidden: 2 });
    const nLayers = small.hiddenLayers + 1;
    const reference: ReferenceOp<null> = {
      forward: ([x, ...ps]) => {
        const params = splitParams(ps.map((p) => p.data), nLayers);
        return { shape: [x!.data.length / 3, 2, 3], data: sirenInputGradientRef(small, params, x!.data).jacobian };
      },
      backward: ([x, ...ps], g) => {
        const params = splitParams(ps.map((p) => p.data), nLayers);
        const r = sirenInputGradientBackwardRef(small, params, x!.data, g.data);
        return [r.input, ...r.weights.flatMap((w, l) => [w, r.biases[l]!])];
      },
    };
    const p = initSirenParams(small, 2);
    const inputs: HostTensor[] = [
      { shape: [5, 3], data: randomArray(rand, 15) },
      ...p.weights.flatMap((w, l) => [
        { shape: [p.biases[l]!.length, w.length / p.biases[l]!.length], data: w },
        { shape: [p.biases[l]!.length], data: p.biases[l]! },
      ]),
    ];
    const report = await gradcheck({
      ctx,
      gpu: ([x, ...ps]) => sirenInputGradient(netFromTensors(ctx, small, ps), x!).jacobian,
      reference,
      inputs,
      attrs: null,
    });
    expect(report.referenceError).toBeLessThan(1e-6);
    expect(report.forwardError).toBeLessThan(1e-5);
    expect(report.gpuError).toBeLessThan(1e-4);
  });

  it('rejects inputDim > 3', async () => {
    const ctx = await testGpu();
    const net = createSiren(ctx, sirenConfig({ inputDim: 4, hiddenWidth: 4, hiddenLayers: 1, outputDim: 1 }), { seed: 1 });
    const x = tensor(ctx, new Float32Array(8), [2, 4]);
    expect(() => sirenInputGradient(net, x)).toThrow(InputValueError);
    x.dispose();
    net.dispose();
  });
});

function splitParams(flat: Float64Array[], layers: number): SirenParams {
  const weights: Float64Array[] = [];
  const biases: Float64Array[] = [];
  for (let l = 0; l < layers; l++) {
    weights.push(flat[2 * l]!);
    biases.push(flat[2 * l + 1]!);
  }
  return { weights, biases };
}

/** A network view over existing tensors (gradcheck owns them). */
function netFromTensors(ctx: GpuContext, cfg: SirenConfig, ps: Tensor[]): SirenNetwork {
  const weights = ps.filter((_, i) => i % 2 === 0);
  const biases = ps.filter((_, i) => i % 2 === 1);
  return { ctx, config: cfg, weights, biases, parameters: () => ps, dispose: () => {} };
}


function weighted(t: Tensor, w: Float64Array): Tensor {
  return mul(t, tensor(t.ctx, Float32Array.from(w), t.shape));
}

function addAll(_ctx: GpuContext, ts: Tensor[]): Tensor {
  const [a, b] = ts;
  return add(sum(a!), sum(b!));
}
