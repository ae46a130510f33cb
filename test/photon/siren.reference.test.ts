import { describe, expect, it } from 'vitest';
import { InputValueError, ShapeError } from '../../src/errors.js';
import { maxRelativeError, numericGradient } from '../../src/autodiff/numeric.js';
import {
  SIREN_PRESET_2X2,
  SIREN_PRESET_ICARUS,
  type SirenConfig,
  type SirenParams,
  initSirenParams,
  sirenBackwardRef,
  sirenConfig,
  sirenForwardRef,
  sirenInitBounds,
  sirenInputGradientBackwardRef,
  sirenInputGradientRef,
  sirenLayerShapes,
  sirenParameterCount,
} from '../../src/kernels/photon/siren.reference.js';
import { dot, expectGradientsMatch, rng, uniformArray } from './util.js';

/** Packs [x, W0, b0, W1, b1, …] so numericGradient can probe all of them. */
function pack(x: Float64Array, p: SirenParams): Float64Array[] {
  const out = [x];
  p.weights.forEach((W, l) => out.push(W, p.biases[l]!));
  return out;
}

function unpack(inputs: Float64Array[]): { x: Float64Array; params: SirenParams } {
  const [x, ...rest] = inputs;
  return {
    x: x!,
    params: { weights: rest.filter((_, i) => i % 2 === 0), biases: rest.filter((_, i) => i % 2 === 1) },
  };
}

function names(p: SirenParams): string[] {
  const out = ['x'];
  p.weights.forEach((_, l) => out.push(`W${l}`, `b${l}`));
  return out;
}

// ω0 differs between first and hidden layers so that swapping them fails.
const small = (outputActivation: 'sine' | 'linear', hiddenLayers = 2): SirenConfig =>
  sirenConfig({ inputDim: 3, hiddenWidth: 7, hiddenLayers, outputDim: 4, omegaFirst: 30, omegaHidden: 20, outputActivation });

describe('SIREN config and presets', () => {
  it('counts hidden sine layers; hiddenLayers + 1 linear maps', () => {
    const shapes = sirenLayerShapes(SIREN_PRESET_ICARUS);
    expect(shapes).toHaveLength(7);
    expect(shapes.map((s) => [s.inFeatures, s.outFeatures])).toEqual([
      [3, 512],
      [512, 512],
      [512, 512],
      [512, 512],
      [512, 512],
      [512, 512],
      [512, 180],
    ]);
    expect(shapes.every((s) => s.sine)).toBe(true);
    expect(sirenLayerShapes(SIREN_PRESET_2X2).map((s) => s.outFeatures)).toEqual([256, 256, 256, 256, 48]);
    expect(sirenParameterCount(SIREN_PRESET_2X2)).toBe(4 * 256 + 3 * 257 * 256 + 257 * 48);
  });

  it('applies omegaFirst to layer 0 only and drops the sine on a linear output', () => {
    const shapes = sirenLayerShapes(small('linear'));
    expect(shapes.map((s) => s.omega)).toEqual([30, 20, 20]);
    expect(shapes.map((s) => s.sine)).toEqual([true, true, false]);
  });

  it('fills defaults ω0 = 30 and a sine output', () => {
    const c = sirenConfig({ inputDim: 3, hiddenWidth: 4, hiddenLayers: 1, outputDim: 2 });
    expect([c.omegaFirst, c.omegaHidden, c.outputActivation]).toEqual([30, 30, 'sine']);
  });

  it('rejects invalid configs with InputValueError naming the field', () => {
    expect(() => sirenConfig({ inputDim: 3, hiddenWidth: 2.5, hiddenLayers: 1, outputDim: 2 })).toThrow(
      /config\.hiddenWidth.*2\.5/,
    );
    expect(() => sirenConfig({ inputDim: 0, hiddenWidth: 2, hiddenLayers: 1, outputDim: 2 })).toThrow(InputValueError);
    expect(() => sirenConfig({ inputDim: 3, hiddenWidth: 2, hiddenLayers: 1, outputDim: 2, omegaFirst: 0 })).toThrow(
      /omegaFirst/,
    );
    expect(() =>
      sirenConfig({
        inputDim: 3,
        hiddenWidth: 2,
        hiddenLayers: 1,
        outputDim: 2,
        outputActivation: 'relu' as unknown as 'sine',
      }),
    ).toThrow(/outputActivation.*relu/);
  });
});

describe('SIREN initialisation (Sitzmann et al. 2020)', () => {
  // Sample mean of N draws of U(−a, a) has σ = a/√(3N); the sample variance
  // has σ ≈ a²·√(4/45)/√N. 5σ bands make a false failure ~1e-6 likely.
  function expectUniformStats(values: Float64Array, bound: number, label: string): void {
    const n = values.length;
    let mean = 0;
    let maxAbs = 0;
    for (const v of values) {
      mean += v;
      maxAbs = Math.max(maxAbs, Math.abs(v));
    }
    mean /= n;
    let variance = 0;
    for (const v of values) variance += (v - mean) ** 2;
    variance /= n - 1;
    expect(maxAbs, `${label} max |w|`).toBeLessThanOrEqual(bound);
    expect(Math.abs(mean), `${label} mean`).toBeLessThan((5 * bound) / Math.sqrt(3 * n));
    expect(Math.abs(variance - (bound * bound) / 3), `${label} variance`).toBeLessThan(
      (5 * bound * bound * Math.sqrt(4 / 45)) / Math.sqrt(n),
    );
  }

  const config = SIREN_PRESET_ICARUS;
  const params = initSirenParams(config, 1234);
  const bounds = sirenInitBounds(config);

  it('uses the published bounds', () => {
    expect(bounds[0]!.weight).toBeCloseTo(1 / 3, 15);
    expect(bounds[1]!.weight).toBeCloseTo(Math.sqrt(6 / 512) / 30, 15);
    expect(bounds[6]!.weight).toBeCloseTo(Math.sqrt(6 / 512) / 30, 15);
    expect(bounds[0]!.bias).toBeCloseTo(1 / Math.sqrt(3), 15);
    expect(bounds[3]!.bias).toBeCloseTo(1 / Math.sqrt(512), 15);
  });

  it('first-layer weights and biases are U(−1/n, 1/n) and U(−1/√n, 1/√n)', () => {
    expectUniformStats(params.weights[0]!, bounds[0]!.weight, 'W0');
    expectUniformStats(params.biases[0]!, bounds[0]!.bias, 'b0');
  });

  it('hidden-layer weights are U(−√(6/n)/ω0, √(6/n)/ω0)', () => {
    for (let l = 1; l < 6; l++) expectUniformStats(params.weights[l]!, bounds[l]!.weight, `W${l}`);
    const hiddenBiases = Float64Array.from(params.biases.slice(1, 6).flatMap((b) => Array.from(b)));
    expectUniformStats(hiddenBiases, bounds[1]!.bias, 'hidden biases');
  });

  it('output-layer weights use the hidden bound, for sine and linear outputs', () => {
    expectUniformStats(params.weights[6]!, bounds[6]!.weight, 'W_out (sine)');
    const linear = { ...config, outputActivation: 'linear' as const };
    const p2 = initSirenParams(linear, 99);
    expectUniformStats(p2.weights[6]!, sirenInitBounds(linear)[6]!.weight, 'W_out (linear)');
  });

  it('is deterministic per seed and supports zero biases', () => {
    const c = small('sine');
    expect(initSirenParams(c, 7).weights[1]).toEqual(initSirenParams(c, 7).weights[1]);
    expect(initSirenParams(c, 7).weights[1]).not.toEqual(initSirenParams(c, 8).weights[1]);
    expect(initSirenParams(c, 7, 'zero').biases.every((b) => b.every((v) => v === 0))).toBe(true);
  });
});

describe('SIREN forward', () => {
  it('matches a hand evaluation of a one-hidden-layer network', () => {
    const c = sirenConfig({ inputDim: 2, hiddenWidth: 2, hiddenLayers: 1, outputDim: 1, omegaFirst: 3, omegaHidden: 2 });
    const params: SirenParams = {
      weights: [Float64Array.of(0.1, -0.2, 0.3, 0.4), Float64Array.of(0.5, -0.6)],
      biases: [Float64Array.of(0.05, -0.1), Float64Array.of(0.2)],
    };
    const x = Float64Array.of(0.7, -0.3);
    const h1 = [Math.sin(3 * (0.1 * 0.7 + 0.2 * 0.3 + 0.05)), Math.sin(3 * (0.3 * 0.7 - 0.4 * 0.3 - 0.1))];
    const y = Math.sin(2 * (0.5 * h1[0]! - 0.6 * h1[1]! + 0.2));
    const fwd = sirenForwardRef(c, params, x);
    expect(fwd.output[0]).toBeCloseTo(y, 14);
    expect(fwd.preActivations).toHaveLength(2);
    expect(fwd.inputs[0]).toEqual(x);
    const lin = sirenForwardRef({ ...c, outputActivation: 'linear' }, params, x);
    expect(lin.output[0]).toBeCloseTo(0.5 * h1[0]! - 0.6 * h1[1]! + 0.2, 14);
  });

  it('rejects a wrong input dimension, non-finite input and mis-shaped parameters', () => {
    const c = small('sine');
    const params = initSirenParams(c, 1);
    expect(() => sirenForwardRef(c, params, new Float64Array(8))).toThrow(ShapeError);
    expect(() => sirenForwardRef(c, params, new Float64Array(8))).toThrow(/x must have shape \[B, 3\].*length 8/);
    expect(() => sirenForwardRef(c, params, Float64Array.of(0, Number.NaN, 0))).toThrow(/row 0, column 1 is NaN/);
    const short = { weights: params.weights.slice(0, 2), biases: params.biases.slice(0, 2) };
    expect(() => sirenForwardRef(c, short, new Float64Array(3))).toThrow(/3 weight matrices/);
    const bad = { weights: [params.weights[0]!, new Float64Array(5), params.weights[2]!], biases: params.biases };
    expect(() => sirenForwardRef(c, bad, new Float64Array(3))).toThrow(/params\.weights\[1\].*\[7, 7\]/);
  });

  it('accepts an empty batch', () => {
    const c = small('sine');
    expect(sirenForwardRef(c, initSirenParams(c, 1), new Float64Array(0)).output).toHaveLength(0);
  });
});

describe('SIREN backward (central differences)', () => {
  for (const act of ['sine', 'linear'] as const) {
    it(`gradients of W, b and x, ${act} output`, () => {
      const c = small(act);
      const r = rng(11);
      const params = initSirenParams(c, 5);
      const x = uniformArray(r, 3 * 3);
      const gout = uniformArray(r, 3 * c.outputDim);
      const g = sirenBackwardRef(c, params, sirenForwardRef(c, params, x), gout);
      const loss = (inputs: Float64Array[]): number => {
        const u = unpack(inputs);
        return dot(sirenForwardRef(c, u.params, u.x).output, gout);
      };
      expectGradientsMatch(loss, pack(x, params), pack(g.input, g), names(params));
    });
  }

  it('rejects dL/dy of the wrong shape', () => {
    const c = small('sine');
    const params = initSirenParams(c, 5);
    const fwd = sirenForwardRef(c, params, new Float64Array(6));
    expect(() => sirenBackwardRef(c, params, fwd, new Float64Array(7))).toThrow(/gradOutput.*\[2, 4\]/);
  });
});

describe('SIREN input gradient (spatial Jacobian)', () => {
  for (const act of ['sine', 'linear'] as const) {
    it(`matches central differences of the forward, ${act} output`, () => {
      const c = small(act);
      const params = initSirenParams(c, 3);
      const x = uniformArray(rng(4), 2 * 3);
      const { output, jacobian } = sirenInputGradientRef(c, params, x);
      expect(maxRelativeError(output, sirenForwardRef(c, params, x).output)).toBeLessThan(1e-15);
      for (let j = 0; j < c.outputDim; j++) {
        const [gx] = numericGradient((inp) => {
          const y = sirenForwardRef(c, params, inp[0]!).output;
          return y[j]! + y[c.outputDim + j]!;
        }, [Float64Array.from(x)]);
        const analytic = new Float64Array(6);
        for (let p = 0; p < 2; p++) for (let k = 0; k < 3; k++) analytic[3 * p + k] = jacobian[(p * c.outputDim + j) * 3 + k]!;
        expect(maxRelativeError(analytic, gx!), `output ${j}`).toBeLessThan(1e-6);
      }
    });
  }
});

describe('SIREN input-gradient backward (second order through sin)', () => {
  const cases: [string, SirenConfig, boolean][] = [
    ['sine output, loss on J and y', small('sine'), true],
    ['sine output, loss on J only', small('sine'), false],
    ['linear output, loss on J and y', small('linear'), true],
    ['single layer (hiddenLayers = 0)', small('sine', 0), true],
    ['three hidden layers', small('linear', 3), false],
  ];
  for (const [label, c, withY] of cases) {
    it(label, () => {
      const r = rng(21);
      const params = initSirenParams(c, 8);
      const batch = 2;
      const x = uniformArray(r, batch * 3);
      const gJ = uniformArray(r, batch * c.outputDim * 3);
      const gy = withY ? uniformArray(r, batch * c.outputDim) : undefined;
      const g = sirenInputGradientBackwardRef(c, params, x, gJ, gy);
      const loss = (inputs: Float64Array[]): number => {
        const u = unpack(inputs);
        const res = sirenInputGradientRef(c, u.params, u.x);
        return dot(res.jacobian, gJ) + (gy ? dot(res.output, gy) : 0);
      };
      expectGradientsMatch(loss, pack(x, params), pack(g.input, g), names(params));
    });
  }

  it('with G = 0 it reduces to the ordinary backward', () => {
    const c = small('sine');
    const params = initSirenParams(c, 2);
    const x = uniformArray(rng(3), 9);
    const gy = uniformArray(rng(4), 3 * c.outputDim);
    const a = sirenInputGradientBackwardRef(c, params, x, new Float64Array(3 * c.outputDim * 3), gy);
    const b = sirenBackwardRef(c, params, sirenForwardRef(c, params, x), gy);
    expect(maxRelativeError(a.input, b.input)).toBeLessThan(1e-13);
    a.weights.forEach((w, l) => expect(maxRelativeError(w, b.weights[l]!)).toBeLessThan(1e-13));
  });

  it('rejects dL/dJ of the wrong shape', () => {
    const c = small('sine');
    const params = initSirenParams(c, 2);
    expect(() => sirenInputGradientBackwardRef(c, params, new Float64Array(3), new Float64Array(4))).toThrow(
      /gradJacobian.*\[1, 4, 3\]/,
    );
  });
});
