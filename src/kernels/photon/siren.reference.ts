/**
 * Float64 CPU reference of a SIREN multilayer perceptron (Sitzmann et al.,
 * "Implicit Neural Representations with Periodic Activation Functions",
 * NeurIPS 2020), the network used as a photon-visibility surrogate by Lei,
 * Tsang, Terao et al. (arXiv:2211.01505). GPU kernels are tested against these
 * functions, so they favour obvious correctness over speed.
 *
 * Network (layers l = 0 … L with L = `hiddenLayers`):
 *
 *     h_0 = x
 *     z_l = W_l h_l + b_l                 W_l: [out_l, in_l] (PyTorch Linear layout)
 *     h_{l+1} = sin(ω_l z_l)              for l < L, and for l = L when the output is 'sine'
 *     y = z_L                             for l = L when the output is 'linear'
 *
 * with ω_0 = `omegaFirst` and ω_l = `omegaHidden` for l ≥ 1. There are
 * `hiddenLayers` sine layers of width `hiddenWidth` followed by one output
 * layer, i.e. `hiddenLayers + 1` linear maps in total.
 *
 * All arrays are row-major Float64Array; a batch of B points is [B, inputDim].
 *
 * @module
 */

import { InputValueError, ShapeError, show } from '../../errors.js';
import { seededRandom } from '../../autodiff/numeric.js';
import { requireFinite, requireInteger, requireLength, rowsOf } from './checks.js';

/** Activation of the last layer. */
export type SirenOutputActivation = 'sine' | 'linear';

/**
 * Architecture of a SIREN.
 *
 * `hiddenLayers` counts the hidden sine layers of width `hiddenWidth`, i.e.
 * the number of hidden activation vectors. The network has
 * `hiddenLayers + 1` weight matrices: input→hidden, (hiddenLayers − 1) ×
 * hidden→hidden, hidden→output. (The `hidden_layers` argument of the
 * original SIREN code counts only the hidden→hidden maps, so it is this
 * number minus one.) `hiddenLayers = 0` is allowed and gives a single sine
 * (or linear) layer input→output that is initialised as a first layer.
 */
export interface SirenConfig {
  /** Input features per point (3 for x, y, z). */
  readonly inputDim: number;
  /** Width of every hidden layer. */
  readonly hiddenWidth: number;
  /** Number of hidden sine layers (see the interface note). */
  readonly hiddenLayers: number;
  /** Output features per point (one per photodetector for visibility). */
  readonly outputDim: number;
  /** ω0 of layer 0; multiplies its pre-activation inside the sine. */
  readonly omegaFirst: number;
  /** ω0 of every later layer, also used in the hidden/output initialisation bound. */
  readonly omegaHidden: number;
  /** 'sine': y = sin(ω z_L) (siren-lartpc default); 'linear': y = z_L. */
  readonly outputActivation: SirenOutputActivation;
}

/** Default ω0 of Sitzmann et al. for both the first and the hidden layers. */
export const SIREN_DEFAULT_OMEGA = 30;

/**
 * Builds a config, filling ω0 = 30 for both kinds of layer and a sine output
 * when they are not given, and validates it.
 */
export function sirenConfig(
  fields: Pick<SirenConfig, 'inputDim' | 'hiddenWidth' | 'hiddenLayers' | 'outputDim'> & Partial<SirenConfig>,
): SirenConfig {
  const config: SirenConfig = {
    inputDim: fields.inputDim,
    hiddenWidth: fields.hiddenWidth,
    hiddenLayers: fields.hiddenLayers,
    outputDim: fields.outputDim,
    omegaFirst: fields.omegaFirst ?? SIREN_DEFAULT_OMEGA,
    omegaHidden: fields.omegaHidden ?? SIREN_DEFAULT_OMEGA,
    outputActivation: fields.outputActivation ?? 'sine',
  };
  validateSirenConfig(config);
  return config;
}

/**
 * 2x2 (ArgonCube) module preset: 3 → 4 hidden sine layers × 256 → 48 light
 * detectors, sine output, ω0 = 30/30. 5 weight matrices.
 */
export const SIREN_PRESET_2X2: SirenConfig = Object.freeze({
  inputDim: 3,
  hiddenWidth: 256,
  hiddenLayers: 4,
  outputDim: 48,
  omegaFirst: 30,
  omegaHidden: 30,
  outputActivation: 'sine',
});

/**
 * ICARUS preset: 3 → 6 hidden sine layers × 512 → 180 PMTs, sine output,
 * ω0 = 30/30. 7 weight matrices (original SIREN code: `hidden_layers = 5`).
 */
export const SIREN_PRESET_ICARUS: SirenConfig = Object.freeze({
  inputDim: 3,
  hiddenWidth: 512,
  hiddenLayers: 6,
  outputDim: 180,
  omegaFirst: 30,
  omegaHidden: 30,
  outputActivation: 'sine',
});

/** Throws InputValueError for non-integer sizes, non-finite ω or an unknown output activation. */
export function validateSirenConfig(config: SirenConfig): void {
  requireInteger(config.inputDim, 'config.inputDim', 1);
  requireInteger(config.hiddenWidth, 'config.hiddenWidth', 1);
  requireInteger(config.hiddenLayers, 'config.hiddenLayers', 0);
  requireInteger(config.outputDim, 'config.outputDim', 1);
  for (const key of ['omegaFirst', 'omegaHidden'] as const) {
    const w = config[key];
    if (!Number.isFinite(w) || w === 0) {
      throw new InputValueError(`config.${key} must be a finite non-zero frequency, got ${show(w)}; the usual value is 30.`);
    }
  }
  if (config.outputActivation !== 'sine' && config.outputActivation !== 'linear') {
    throw new InputValueError(
      `config.outputActivation must be 'sine' or 'linear', got ${show(config.outputActivation)}.`,
    );
  }
}

/** Shape of one linear map: W is [outFeatures, inFeatures], b is [outFeatures]. */
export interface SirenLayerShape {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** ω that multiplies z inside the sine (also set for a linear output, where it only sets the init bound). */
  readonly omega: number;
  /** Whether the layer applies sin(ω z); false only for a linear output layer. */
  readonly sine: boolean;
}

/** Shapes and frequencies of the `hiddenLayers + 1` linear maps, first to last. */
export function sirenLayerShapes(config: SirenConfig): SirenLayerShape[] {
  const last = config.hiddenLayers;
  const shapes: SirenLayerShape[] = [];
  for (let l = 0; l <= last; l++) {
    shapes.push({
      inFeatures: l === 0 ? config.inputDim : config.hiddenWidth,
      outFeatures: l === last ? config.outputDim : config.hiddenWidth,
      omega: l === 0 ? config.omegaFirst : config.omegaHidden,
      sine: l < last || config.outputActivation === 'sine',
    });
  }
  return shapes;
}

/** Trainable parameters, one entry per linear map. */
export interface SirenParams {
  /** W_l, row-major [outFeatures, inFeatures] (PyTorch `Linear.weight`). */
  readonly weights: Float64Array[];
  /** b_l, [outFeatures]. */
  readonly biases: Float64Array[];
}

/** Total number of scalar parameters. */
export function sirenParameterCount(config: SirenConfig): number {
  return sirenLayerShapes(config).reduce((n, s) => n + s.outFeatures * (s.inFeatures + 1), 0);
}

/** Throws ShapeError when the parameter list does not fit the config. */
export function validateSirenParams(config: SirenConfig, params: SirenParams): void {
  const shapes = sirenLayerShapes(config);
  if (params.weights.length !== shapes.length || params.biases.length !== shapes.length) {
    throw new ShapeError(
      `params must hold ${shapes.length} weight matrices and ${shapes.length} bias vectors for hiddenLayers = ` +
        `${config.hiddenLayers}, got ${params.weights.length} and ${params.biases.length}; ` +
        `hiddenLayers counts hidden sine layers, so there are hiddenLayers + 1 linear maps.`,
    );
  }
  shapes.forEach((s, l) => {
    requireLength(params.weights[l]!, s.outFeatures * s.inFeatures, `params.weights[${l}]`, `[${s.outFeatures}, ${s.inFeatures}]`);
    requireLength(params.biases[l]!, s.outFeatures, `params.biases[${l}]`, `[${s.outFeatures}]`);
  });
}

/** How biases are initialised. */
export type SirenBiasInit = 'pytorch' | 'zero';

/** Uniform half-widths used by {@link initSirenParams} for one layer. */
export interface SirenInitBounds {
  /** Weights are U(−weight, weight). */
  readonly weight: number;
  /** Biases are U(−bias, bias); 0 for `biasInit = 'zero'`. */
  readonly bias: number;
}

/**
 * Initialisation bounds of Sitzmann et al. 2020 with n = fan-in:
 * layer 0 weights U(−1/n, 1/n); every later layer, the output layer included
 * (sine or linear), U(−√(6/n)/ω_hidden, √(6/n)/ω_hidden). Biases follow the
 * PyTorch `nn.Linear` default U(−1/√n, 1/√n), which the original SIREN code
 * leaves untouched, or are zero.
 */
export function sirenInitBounds(config: SirenConfig, biasInit: SirenBiasInit = 'pytorch'): SirenInitBounds[] {
  return sirenLayerShapes(config).map((s, l) => {
    const n = s.inFeatures;
    const weight = l === 0 ? 1 / n : Math.sqrt(6 / n) / config.omegaHidden;
    return { weight: Math.abs(weight), bias: biasInit === 'zero' ? 0 : 1 / Math.sqrt(n) };
  });
}

/**
 * Random parameters per {@link sirenInitBounds}, drawn from one seeded
 * mulberry32 stream: layer by layer, all weights (row-major) then all biases.
 *
 * @param seed any 32-bit integer; equal seeds give identical parameters
 */
export function initSirenParams(config: SirenConfig, seed: number, biasInit: SirenBiasInit = 'pytorch'): SirenParams {
  validateSirenConfig(config);
  const rand = seededRandom(seed);
  const bounds = sirenInitBounds(config, biasInit);
  const weights: Float64Array[] = [];
  const biases: Float64Array[] = [];
  sirenLayerShapes(config).forEach((s, l) => {
    const { weight, bias } = bounds[l]!;
    const W = new Float64Array(s.outFeatures * s.inFeatures);
    for (let i = 0; i < W.length; i++) W[i] = (2 * rand() - 1) * weight;
    const b = new Float64Array(s.outFeatures);
    for (let i = 0; i < b.length; i++) b[i] = (2 * rand() - 1) * bias;
    weights.push(W);
    biases.push(b);
  });
  return { weights, biases };
}

/** Result of {@link sirenForwardRef}. */
export interface SirenForwardResult {
  /** Number of points B. */
  readonly batch: number;
  /** y, [B, outputDim]. */
  readonly output: Float64Array;
  /** Layer inputs h_l, [B, in_l]; `inputs[0]` is a copy of x. */
  readonly inputs: Float64Array[];
  /** Pre-activations z_l = W_l h_l + b_l (before the ω factor), [B, out_l]. */
  readonly preActivations: Float64Array[];
}

function checkInput(config: SirenConfig, x: Float64Array, name: string): number {
  const batch = rowsOf(x, config.inputDim, name, `[B, ${config.inputDim}] (inputDim = ${config.inputDim})`);
  requireFinite(x, name, config.inputDim);
  return batch;
}

/** z = W h + b for a batch; W [out, in], h [B, in] → z [B, out]. */
function affine(W: Float64Array, b: Float64Array, h: Float64Array, batch: number, nIn: number, nOut: number): Float64Array {
  const z = new Float64Array(batch * nOut);
  for (let p = 0; p < batch; p++) {
    for (let i = 0; i < nOut; i++) {
      let acc = b[i]!;
      for (let k = 0; k < nIn; k++) acc += W[i * nIn + k]! * h[p * nIn + k]!;
      z[p * nOut + i] = acc;
    }
  }
  return z;
}

/**
 * Forward pass.
 *
 * @param x input points, [B, inputDim] (normalised coordinates for visibility)
 * @returns y [B, outputDim] and the per-layer cache needed by {@link sirenBackwardRef}
 * @throws ShapeError when x's length is not a multiple of inputDim or params do not fit
 * @throws InputValueError when x holds NaN or ±∞
 */
export function sirenForwardRef(config: SirenConfig, params: SirenParams, x: Float64Array): SirenForwardResult {
  validateSirenConfig(config);
  validateSirenParams(config, params);
  const batch = checkInput(config, x, 'x');
  const inputs: Float64Array[] = [];
  const preActivations: Float64Array[] = [];
  let h = Float64Array.from(x);
  sirenLayerShapes(config).forEach((s, l) => {
    inputs.push(h);
    const z = affine(params.weights[l]!, params.biases[l]!, h, batch, s.inFeatures, s.outFeatures);
    preActivations.push(z);
    h = s.sine ? z.map((v) => Math.sin(s.omega * v)) : Float64Array.from(z);
  });
  return { batch, output: h, inputs, preActivations };
}

/** Gradients of a scalar loss with respect to every parameter and the input. */
export interface SirenGrads {
  /** dL/dW_l, [out_l, in_l]. */
  readonly weights: Float64Array[];
  /** dL/db_l, [out_l]. */
  readonly biases: Float64Array[];
  /** dL/dx, [B, inputDim]. */
  readonly input: Float64Array;
}

function zeroGrads(config: SirenConfig, batch: number): SirenGrads {
  const shapes = sirenLayerShapes(config);
  return {
    weights: shapes.map((s) => new Float64Array(s.outFeatures * s.inFeatures)),
    biases: shapes.map((s) => new Float64Array(s.outFeatures)),
    input: new Float64Array(batch * config.inputDim),
  };
}

/**
 * Reverse-mode gradient of L(y) given dL/dy, summed over the batch for the
 * parameters (as PyTorch autograd does).
 *
 * @param forward the result of {@link sirenForwardRef} on the same config and params
 * @param gradOutput dL/dy, [B, outputDim]
 */
export function sirenBackwardRef(
  config: SirenConfig,
  params: SirenParams,
  forward: SirenForwardResult,
  gradOutput: Float64Array,
): SirenGrads {
  validateSirenParams(config, params);
  const { batch } = forward;
  requireLength(gradOutput, batch * config.outputDim, 'gradOutput', `[B, outputDim] = [${batch}, ${config.outputDim}]`);
  const shapes = sirenLayerShapes(config);
  const grads = zeroGrads(config, batch);
  // delta holds dL/dz_l for the layer being processed.
  let delta = Float64Array.from(gradOutput);
  for (let l = shapes.length - 1; l >= 0; l--) {
    const s = shapes[l]!;
    const z = forward.preActivations[l]!;
    if (s.sine) for (let i = 0; i < delta.length; i++) delta[i] = delta[i]! * s.omega * Math.cos(s.omega * z[i]!);
    const W = params.weights[l]!;
    const h = forward.inputs[l]!;
    const gW = grads.weights[l]!;
    const gb = grads.biases[l]!;
    const gh = new Float64Array(batch * s.inFeatures);
    for (let p = 0; p < batch; p++) {
      for (let i = 0; i < s.outFeatures; i++) {
        const d = delta[p * s.outFeatures + i]!;
        gb[i] = gb[i]! + d;
        for (let k = 0; k < s.inFeatures; k++) {
          gW[i * s.inFeatures + k] = gW[i * s.inFeatures + k]! + d * h[p * s.inFeatures + k]!;
          gh[p * s.inFeatures + k] = gh[p * s.inFeatures + k]! + d * W[i * s.inFeatures + k]!;
        }
      }
    }
    delta = gh;
  }
  grads.input.set(delta);
  return grads;
}

/** Result of {@link sirenInputGradientRef}. */
export interface SirenInputGradientResult {
  /** Number of points B. */
  readonly batch: number;
  /** y, [B, outputDim]. */
  readonly output: Float64Array;
  /** J[b, j, k] = ∂y_j/∂x_k at point b, [B, outputDim, inputDim]. */
  readonly jacobian: Float64Array;
}

/**
 * Per-point forward pass that also carries the input Jacobian J_l = ∂h_l/∂x
 * (forward mode; cheap because inputDim is 3). Keeps everything the
 * second-order backward needs.
 */
interface PointTrace {
  /** h_l, [in_l]. */
  h: Float64Array[];
  /** J_l = ∂h_l/∂x, [in_l, inputDim]; J_0 = I. */
  J: Float64Array[];
  /** z_l, [out_l]. */
  z: Float64Array[];
  /** T_l = W_l J_l = ∂z_l/∂x, [out_l, inputDim]. */
  T: Float64Array[];
  /** y, [outputDim]. */
  y: Float64Array;
  /** ∂y/∂x, [outputDim, inputDim]. */
  Jy: Float64Array;
}

function tracePoint(shapes: SirenLayerShape[], params: SirenParams, x: Float64Array, inputDim: number): PointTrace {
  const trace: PointTrace = { h: [], J: [], z: [], T: [], y: x, Jy: new Float64Array(0) };
  let h = x;
  let J = new Float64Array(inputDim * inputDim);
  for (let k = 0; k < inputDim; k++) J[k * inputDim + k] = 1;
  shapes.forEach((s, l) => {
    const W = params.weights[l]!;
    const b = params.biases[l]!;
    const z = new Float64Array(s.outFeatures);
    const T = new Float64Array(s.outFeatures * inputDim);
    for (let i = 0; i < s.outFeatures; i++) {
      let acc = b[i]!;
      for (let m = 0; m < s.inFeatures; m++) {
        const w = W[i * s.inFeatures + m]!;
        acc += w * h[m]!;
        for (let k = 0; k < inputDim; k++) T[i * inputDim + k] = T[i * inputDim + k]! + w * J[m * inputDim + k]!;
      }
      z[i] = acc;
    }
    trace.h.push(h);
    trace.J.push(J);
    trace.z.push(z);
    trace.T.push(T);
    if (s.sine) {
      h = z.map((v) => Math.sin(s.omega * v));
      J = new Float64Array(T.length);
      for (let i = 0; i < s.outFeatures; i++) {
        const c = s.omega * Math.cos(s.omega * z[i]!);
        for (let k = 0; k < inputDim; k++) J[i * inputDim + k] = c * T[i * inputDim + k]!;
      }
    } else {
      h = Float64Array.from(z);
      J = Float64Array.from(T);
    }
  });
  trace.y = h;
  trace.Jy = J;
  return trace;
}

/**
 * Output values and their spatial gradient: the Jacobian ∂y_j/∂x_k for every
 * point. For a visibility SIREN this is the gradient of (log-transformed)
 * visibility with respect to normalised position.
 *
 * @param x input points, [B, inputDim]
 * @returns y [B, outputDim] and J [B, outputDim, inputDim]
 */
export function sirenInputGradientRef(config: SirenConfig, params: SirenParams, x: Float64Array): SirenInputGradientResult {
  validateSirenConfig(config);
  validateSirenParams(config, params);
  const batch = checkInput(config, x, 'x');
  const shapes = sirenLayerShapes(config);
  const d = config.inputDim;
  const output = new Float64Array(batch * config.outputDim);
  const jacobian = new Float64Array(batch * config.outputDim * d);
  for (let p = 0; p < batch; p++) {
    const t = tracePoint(shapes, params, x.subarray(p * d, (p + 1) * d), d);
    output.set(t.y, p * config.outputDim);
    jacobian.set(t.Jy, p * config.outputDim * d);
  }
  return { batch, output, jacobian };
}

/**
 * Backward of {@link sirenInputGradientRef}: gradients of a scalar
 * L(y, J) with respect to all weights, biases and x, given G = dL/dJ and
 * optionally dL/dy (so a loss on both values and spatial gradients, as in
 * gradient-supervised training, needs one call).
 *
 * Derivation, per point, for a sine layer with c = ω cos(ω z), s = sin(ω z):
 * the forward is T = W J, J' = c ⊙ T (row scaling), h' = s. Going back with
 * adjoints Ĵ' and ĥ':
 *
 *     T̂ = c ⊙ Ĵ'                   ĉ_i = Σ_k Ĵ'_ik T_ik
 *     ẑ = c ⊙ ĥ' − ω² s ⊙ ĉ        (dc/dz = −ω² s, ds/dz = c)
 *     Ŵ += T̂ Jᵀ + ẑ hᵀ,  b̂ += ẑ,  Ĵ = Wᵀ T̂,  ĥ = Wᵀ ẑ
 *
 * A linear output layer has T̂ = Ĵ', ẑ = ĥ'. At the input, J_0 = I does not
 * depend on x, so dL/dx = ĥ_0.
 *
 * @param x input points, [B, inputDim]
 * @param gradJacobian dL/dJ, [B, outputDim, inputDim]
 * @param gradOutput optional dL/dy, [B, outputDim]
 */
export function sirenInputGradientBackwardRef(
  config: SirenConfig,
  params: SirenParams,
  x: Float64Array,
  gradJacobian: Float64Array,
  gradOutput?: Float64Array,
): SirenGrads {
  validateSirenConfig(config);
  validateSirenParams(config, params);
  const batch = checkInput(config, x, 'x');
  const d = config.inputDim;
  const nOut = config.outputDim;
  requireLength(gradJacobian, batch * nOut * d, 'gradJacobian', `[B, outputDim, inputDim] = [${batch}, ${nOut}, ${d}]`);
  if (gradOutput !== undefined) requireLength(gradOutput, batch * nOut, 'gradOutput', `[B, outputDim] = [${batch}, ${nOut}]`);
  const shapes = sirenLayerShapes(config);
  const grads = zeroGrads(config, batch);
  for (let p = 0; p < batch; p++) {
    const t = tracePoint(shapes, params, x.subarray(p * d, (p + 1) * d), d);
    let hBar = gradOutput ? Float64Array.from(gradOutput.subarray(p * nOut, (p + 1) * nOut)) : new Float64Array(nOut);
    let JBar = Float64Array.from(gradJacobian.subarray(p * nOut * d, (p + 1) * nOut * d));
    for (let l = shapes.length - 1; l >= 0; l--) {
      const s = shapes[l]!;
      const z = t.z[l]!;
      const T = t.T[l]!;
      const h = t.h[l]!;
      const J = t.J[l]!;
      const W = params.weights[l]!;
      const gW = grads.weights[l]!;
      const gb = grads.biases[l]!;
      const nI = s.inFeatures;
      let TBar: Float64Array;
      let zBar: Float64Array;
      if (s.sine) {
        const w2 = s.omega * s.omega;
        TBar = new Float64Array(T.length);
        zBar = new Float64Array(s.outFeatures);
        for (let i = 0; i < s.outFeatures; i++) {
          const c = s.omega * Math.cos(s.omega * z[i]!);
          const sn = Math.sin(s.omega * z[i]!);
          let cBar = 0;
          for (let k = 0; k < d; k++) {
            TBar[i * d + k] = c * JBar[i * d + k]!;
            cBar += JBar[i * d + k]! * T[i * d + k]!;
          }
          zBar[i] = c * hBar[i]! - w2 * sn * cBar;
        }
      } else {
        TBar = JBar;
        zBar = hBar;
      }
      const hPrev = new Float64Array(nI);
      const JPrev = new Float64Array(nI * d);
      for (let i = 0; i < s.outFeatures; i++) {
        const zb = zBar[i]!;
        gb[i] = gb[i]! + zb;
        for (let m = 0; m < nI; m++) {
          const w = W[i * nI + m]!;
          let gw = zb * h[m]!;
          for (let k = 0; k < d; k++) {
            gw += TBar[i * d + k]! * J[m * d + k]!;
            JPrev[m * d + k] = JPrev[m * d + k]! + w * TBar[i * d + k]!;
          }
          gW[i * nI + m] = gW[i * nI + m]! + gw;
          hPrev[m] = hPrev[m]! + w * zb;
        }
      }
      hBar = hPrev;
      JBar = JPrev;
    }
    grads.input.set(hBar, p * d);
  }
  return grads;
}
