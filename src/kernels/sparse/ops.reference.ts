/**
 * Float64 forward and backward references of the pointwise and pooling
 * layers that sit between sparse convolutions: BatchNorm over active sites,
 * ReLU, LeakyReLU, add, concat, max / average pooling over a kernel map,
 * global average pooling per batch item, linear (1×1 conv) and softmax
 * cross-entropy over active sites.
 *
 * Features are Float64Array [N, C] row-major; every op treats the N active
 * sites as the batch (inactive sites do not exist, they are not zeros).
 *
 * @module
 */

import type { HostTensor, ReferenceOp } from '../../autodiff/gradcheck.js';
import { InputValueError, ShapeError, show } from '../../errors.js';
import { type SpatialDim, checkCount, coordColumns, showRow, validateCoordRanges, validateFeatures } from './coords.js';
import { type KernelMap, pairsOf, validateKernelMap } from './kernel-map.reference.js';

function checkVector(v: Float64Array, len: number, argName: string): void {
  if (!(v instanceof Float64Array) || v.length !== len) {
    throw new ShapeError(`${argName} must be a Float64Array [${len}] (one entry per channel); got length ${v.length}.`);
  }
}

// ---------------------------------------------------------------- BatchNorm

/** Options of {@link batchNormForward}. */
export interface BatchNormOptions {
  /** Training mode: normalise with batch statistics and update running stats. */
  readonly training: boolean;
  /** Added to the variance; default 1e-5 (PyTorch). */
  readonly eps?: number;
  /**
   * PyTorch convention, default 0.1: running ← (1 − momentum)·running + momentum·batch.
   * SparseConvNet's BatchNormalization uses the opposite convention
   * (running ← m·running + (1 − m)·batch, default m = 0.9, eps = 1e-4): pass 1 − m.
   */
  readonly momentum?: number;
  /** Float64Array [C]; required in eval mode, default zeros in training. */
  readonly runningMean?: Float64Array;
  /** Float64Array [C]; required in eval mode, default ones in training. */
  readonly runningVar?: Float64Array;
}

/** Result of {@link batchNormForward}; pass it to {@link batchNormBackward}. */
export interface BatchNormResult {
  /** Float64Array [N, C]. */
  readonly out: Float64Array;
  /** Float64Array [C], mean used for normalisation (batch mean in training, running mean in eval). */
  readonly mean: Float64Array;
  /** Float64Array [C], 1 / sqrt(var + eps) with the variance used (biased batch variance in training). */
  readonly invStd: Float64Array;
  /** Float64Array [C], updated running mean (new array; inputs are not mutated). */
  readonly runningMean: Float64Array;
  /** Float64Array [C], updated running variance, updated with the unbiased batch variance. */
  readonly runningVar: Float64Array;
  /** Whether the statistics came from the batch. */
  readonly training: boolean;
}

/**
 * BatchNorm over active sites, per channel c:
 *
 *     out = gamma · (x − mean) · invStd + beta,   invStd = 1 / sqrt(var + eps)
 *
 * Training: mean and biased variance (÷N) of the N active sites; running
 * stats updated with momentum using the unbiased variance (÷(N − 1)), as
 * PyTorch BatchNorm1d. Eval: running stats.
 *
 * @param x Float64Array [N, C]
 * @param gamma Float64Array [C] or null (1)
 * @param beta Float64Array [C] or null (0)
 * @throws InputValueError in training with N < 2 (the variance is undefined)
 */
export function batchNormForward(
  x: Float64Array,
  n: number,
  channels: number,
  gamma: Float64Array | null,
  beta: Float64Array | null,
  options: BatchNormOptions,
): BatchNormResult {
  checkCount(n, 'n');
  checkCount(channels, 'channels', 1);
  validateFeatures(x, n, channels, 'x');
  if (gamma) checkVector(gamma, channels, 'gamma');
  if (beta) checkVector(beta, channels, 'beta');
  const eps = options.eps ?? 1e-5;
  const momentum = options.momentum ?? 0.1;
  if (!(eps >= 0)) throw new InputValueError(`options.eps = ${show(eps)} must be ≥ 0 (PyTorch default 1e-5).`);
  if (!(momentum >= 0 && momentum <= 1)) throw new InputValueError(`options.momentum = ${show(momentum)} must be in [0, 1] (PyTorch default 0.1).`);
  const training = options.training;
  if (options.runningMean) checkVector(options.runningMean, channels, 'options.runningMean');
  if (options.runningVar) checkVector(options.runningVar, channels, 'options.runningVar');
  const runningMean = options.runningMean ? Float64Array.from(options.runningMean) : new Float64Array(channels);
  const runningVar = options.runningVar ? Float64Array.from(options.runningVar) : new Float64Array(channels).fill(1);
  const mean = new Float64Array(channels);
  const invStd = new Float64Array(channels);
  if (training) {
    if (n < 2) {
      throw new InputValueError(`batchNormForward in training mode got n = ${n} active sites; the batch variance needs at least 2. Use eval mode (training: false) or skip the layer for (nearly) empty inputs.`);
    }
    for (let c = 0; c < channels; c++) {
      let s = 0;
      for (let r = 0; r < n; r++) s += x[r * channels + c]!;
      const m = s / n;
      let ss = 0;
      for (let r = 0; r < n; r++) {
        const d = x[r * channels + c]! - m;
        ss += d * d;
      }
      mean[c] = m;
      invStd[c] = 1 / Math.sqrt(ss / n + eps);
      runningMean[c] = (1 - momentum) * runningMean[c]! + momentum * m;
      runningVar[c] = (1 - momentum) * runningVar[c]! + momentum * (ss / (n - 1));
    }
  } else {
    if (!options.runningMean || !options.runningVar) {
      throw new InputValueError('batchNormForward in eval mode needs options.runningMean and options.runningVar; pass the running statistics (or use training: true).');
    }
    for (let c = 0; c < channels; c++) {
      mean[c] = runningMean[c]!;
      invStd[c] = 1 / Math.sqrt(runningVar[c]! + eps);
    }
  }
  const out = new Float64Array(n * channels);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < channels; c++) {
      const g = gamma ? gamma[c]! : 1;
      const b = beta ? beta[c]! : 0;
      out[r * channels + c] = g * (x[r * channels + c]! - mean[c]!) * invStd[c]! + b;
    }
  }
  return { out, mean, invStd, runningMean, runningVar, training };
}

/**
 * BatchNorm backward. With x̂ = (x − mean)·invStd, per channel:
 *
 *     gradGamma = Σ g·x̂,  gradBeta = Σ g
 *     training: gradX = gamma·invStd/N · (N·g − Σ g − x̂·Σ g·x̂)
 *     eval:     gradX = gamma·invStd·g
 *
 * @param fwd the forward result (its mean, invStd and mode are used)
 */
export function batchNormBackward(
  x: Float64Array,
  gradOut: Float64Array,
  n: number,
  channels: number,
  gamma: Float64Array | null,
  fwd: BatchNormResult,
): { gradX: Float64Array; gradGamma: Float64Array; gradBeta: Float64Array } {
  validateFeatures(x, n, channels, 'x');
  validateFeatures(gradOut, n, channels, 'gradOut');
  if (gamma) checkVector(gamma, channels, 'gamma');
  const gradX = new Float64Array(n * channels);
  const gradGamma = new Float64Array(channels);
  const gradBeta = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    const m = fwd.mean[c]!;
    const is = fwd.invStd[c]!;
    const g = gamma ? gamma[c]! : 1;
    let sg = 0;
    let sgx = 0;
    for (let r = 0; r < n; r++) {
      const go = gradOut[r * channels + c]!;
      sg += go;
      sgx += go * (x[r * channels + c]! - m) * is;
    }
    gradGamma[c] = sgx;
    gradBeta[c] = sg;
    for (let r = 0; r < n; r++) {
      const go = gradOut[r * channels + c]!;
      if (fwd.training) {
        const xh = (x[r * channels + c]! - m) * is;
        gradX[r * channels + c] = ((g * is) / n) * (n * go - sg - xh * sgx);
      } else {
        gradX[r * channels + c] = g * is * go;
      }
    }
  }
  return { gradX, gradGamma, gradBeta };
}

// ---------------------------------------------------------- ReLU, LeakyReLU

/** ReLU: max(x, 0) elementwise (any shape). */
export function reluForward(x: Float64Array): Float64Array {
  return x.map((v) => (v > 0 ? v : 0));
}

/** ReLU backward: g where x > 0, else 0 (the subgradient at 0 is 0, as PyTorch). */
export function reluBackward(x: Float64Array, gradOut: Float64Array): Float64Array {
  if (gradOut.length !== x.length) throw new ShapeError(`gradOut has ${gradOut.length} elements but x has ${x.length}; pass the gradient of the ReLU output.`);
  return x.map((v, i) => (v > 0 ? gradOut[i]! : 0));
}

/** LeakyReLU: x for x > 0, slope·x otherwise (PyTorch default slope 0.01). */
export function leakyReluForward(x: Float64Array, slope = 0.01): Float64Array {
  return x.map((v) => (v > 0 ? v : slope * v));
}

/** LeakyReLU backward: g for x > 0, slope·g otherwise (at 0: slope, as PyTorch). */
export function leakyReluBackward(x: Float64Array, gradOut: Float64Array, slope = 0.01): Float64Array {
  if (gradOut.length !== x.length) throw new ShapeError(`gradOut has ${gradOut.length} elements but x has ${x.length}; pass the gradient of the LeakyReLU output.`);
  return x.map((v, i) => (v > 0 ? gradOut[i]! : slope * gradOut[i]!));
}

// ------------------------------------------------------------ add, concat

/**
 * Elementwise sum of two sparse tensors on the same coordinates, row by row.
 * Backward: both inputs receive gradOut unchanged.
 *
 * @param coordsA Int32Array [N, 1 + dim]
 * @param coordsB Int32Array [N, 1 + dim], identical to coordsA (same rows, same order)
 * @returns Float64Array [N, C]
 * @throws InputValueError naming the first row whose coordinates differ
 */
export function addSameCoords(
  coordsA: Int32Array,
  featsA: Float64Array,
  coordsB: Int32Array,
  featsB: Float64Array,
  dim: SpatialDim,
  channels: number,
): Float64Array {
  const na = validateCoordRanges(coordsA, dim, 'coordsA');
  const nb = validateCoordRanges(coordsB, dim, 'coordsB');
  if (na !== nb) {
    throw new ShapeError(`coordsA has ${na} rows but coordsB has ${nb}; addSameCoords needs both tensors on the same sites in the same order.`);
  }
  const cols = coordColumns(dim);
  for (let r = 0; r < na; r++) {
    for (let j = 0; j < cols; j++) {
      if (coordsA[r * cols + j] !== coordsB[r * cols + j]) {
        throw new InputValueError(`row ${r} differs: coordsA ${showRow(coordsA, dim, r)} vs coordsB ${showRow(coordsB, dim, r)}; addSameCoords needs identical coords row by row. Sort both by key (sortPermutation) or build one from the other.`);
      }
    }
  }
  validateFeatures(featsA, na, channels, 'featsA');
  validateFeatures(featsB, nb, channels, 'featsB');
  return featsA.map((v, i) => v + featsB[i]!);
}

/**
 * Channel concatenation of two feature arrays on the same rows:
 * out[r] = [a[r], b[r]], Float64Array [N, Ca + Cb].
 */
export function concatFeatures(a: Float64Array, ca: number, b: Float64Array, cb: number, n: number): Float64Array {
  checkCount(n, 'n');
  validateFeatures(a, n, ca, 'a');
  validateFeatures(b, n, cb, 'b');
  const c = ca + cb;
  const out = new Float64Array(n * c);
  for (let r = 0; r < n; r++) {
    out.set(a.subarray(r * ca, (r + 1) * ca), r * c);
    out.set(b.subarray(r * cb, (r + 1) * cb), r * c + ca);
  }
  return out;
}

/** Backward of {@link concatFeatures}: splits gradOut [N, Ca + Cb] into [N, Ca] and [N, Cb]. */
export function concatBackward(gradOut: Float64Array, ca: number, cb: number, n: number): { gradA: Float64Array; gradB: Float64Array } {
  validateFeatures(gradOut, n, ca + cb, 'gradOut');
  const c = ca + cb;
  const gradA = new Float64Array(n * ca);
  const gradB = new Float64Array(n * cb);
  for (let r = 0; r < n; r++) {
    gradA.set(gradOut.subarray(r * c, r * c + ca), r * ca);
    gradB.set(gradOut.subarray(r * c + ca, (r + 1) * c), r * cb);
  }
  return { gradA, gradB };
}

// ---------------------------------------------------------------- pooling

/**
 * Max pooling over a kernel map (typically `buildStridedMap(coords, dim, 2, 2)`):
 * out[o, c] = max over pairs (i, o) of feats[i, c]. Ties go to the lowest input
 * row. Outputs with no input are 0 with argmax −1.
 *
 * @returns out Float64Array [N_out, C] and argmax Int32Array [N_out, C] (input row)
 */
export function maxPoolForward(feats: Float64Array, map: KernelMap, channels: number): { out: Float64Array; argmax: Int32Array } {
  validateKernelMap(map);
  checkCount(channels, 'channels', 1);
  validateFeatures(feats, map.numIn, channels, 'feats');
  const out = new Float64Array(map.numOut * channels);
  const argmax = new Int32Array(map.numOut * channels).fill(-1);
  for (let k = 0; k < map.kernelVolume; k++) {
    const { inRow, outRow } = pairsOf(map, k);
    for (let j = 0; j < inRow.length; j++) {
      const i = inRow[j]!;
      const o = outRow[j]!;
      for (let c = 0; c < channels; c++) {
        const v = feats[i * channels + c]!;
        const idx = o * channels + c;
        const best = argmax[idx]!;
        // Pairs arrive grouped by offset, not by input row, so the tie rule is
        // applied explicitly rather than relying on visiting order.
        if (best < 0 || v > out[idx]! || (v === out[idx]! && i < best)) {
          out[idx] = v;
          argmax[idx] = i;
        }
      }
    }
  }
  return { out, argmax };
}

/** Max pooling backward: gradOut[o, c] goes to input row argmax[o, c]. Float64Array [N_in, C]. */
export function maxPoolBackward(gradOut: Float64Array, argmax: Int32Array, numIn: number, channels: number): Float64Array {
  if (gradOut.length !== argmax.length) {
    throw new ShapeError(`gradOut has ${gradOut.length} elements but argmax has ${argmax.length}; pass the argmax of the same forward call.`);
  }
  const grad = new Float64Array(numIn * channels);
  for (let idx = 0; idx < argmax.length; idx++) {
    const i = argmax[idx]!;
    if (i < 0) continue;
    const c = idx % channels;
    grad[i * channels + c] = grad[i * channels + c]! + gradOut[idx]!;
  }
  return grad;
}

/**
 * What average pooling divides by: 'active' = the number of inputs present
 * in the window (a mean over active sites, the intent of MinkowskiEngine's
 * MinkowskiAvgPooling), 'volume' = the kernel volume, absent sites counting
 * as zeros (SparseConvNet's AveragePooling divides by the filter volume).
 */
export type AvgPoolDivisor = 'active' | 'volume';

/**
 * Average pooling over a kernel map: out[o] = Σ_{(i, o)} feats[i] / divisor(o).
 * Outputs with no input are 0.
 *
 * @returns out Float64Array [N_out, C] and divisor Float64Array [N_out]
 */
export function avgPoolForward(
  feats: Float64Array,
  map: KernelMap,
  channels: number,
  divisor: AvgPoolDivisor = 'active',
): { out: Float64Array; divisor: Float64Array } {
  validateKernelMap(map);
  checkCount(channels, 'channels', 1);
  validateFeatures(feats, map.numIn, channels, 'feats');
  if (divisor !== 'active' && divisor !== 'volume') {
    throw new InputValueError(`divisor = ${show(divisor)} is not valid; pass 'active' or 'volume'.`);
  }
  const out = new Float64Array(map.numOut * channels);
  const div = new Float64Array(map.numOut);
  for (let k = 0; k < map.kernelVolume; k++) {
    const { inRow, outRow } = pairsOf(map, k);
    for (let j = 0; j < inRow.length; j++) {
      const i = inRow[j]!;
      const o = outRow[j]!;
      div[o] = div[o]! + 1;
      for (let c = 0; c < channels; c++) out[o * channels + c] = out[o * channels + c]! + feats[i * channels + c]!;
    }
  }
  for (let o = 0; o < map.numOut; o++) {
    if (divisor === 'volume') div[o] = map.kernelVolume;
    const d = div[o]!;
    if (d > 0) for (let c = 0; c < channels; c++) out[o * channels + c] = out[o * channels + c]! / d;
  }
  return { out, divisor: div };
}

/** Average pooling backward: gradFeats[i] = Σ_{(i, o)} gradOut[o] / divisor[o]. Float64Array [N_in, C]. */
export function avgPoolBackward(gradOut: Float64Array, map: KernelMap, channels: number, divisor: Float64Array): Float64Array {
  validateKernelMap(map);
  validateFeatures(gradOut, map.numOut, channels, 'gradOut');
  const grad = new Float64Array(map.numIn * channels);
  for (let k = 0; k < map.kernelVolume; k++) {
    const { inRow, outRow } = pairsOf(map, k);
    for (let j = 0; j < inRow.length; j++) {
      const i = inRow[j]!;
      const o = outRow[j]!;
      const d = divisor[o]!;
      for (let c = 0; c < channels; c++) grad[i * channels + c] = grad[i * channels + c]! + gradOut[o * channels + c]! / d;
    }
  }
  return grad;
}

/**
 * Global average pooling per batch item: out[b] = mean of feats over rows
 * with batch index b. Items without rows (empty events) give 0.
 *
 * @param batchSize B; default max batch index + 1 (0 for an empty tensor)
 * @returns out Float64Array [B, C] and counts Int32Array [B]
 */
export function globalAvgPoolForward(
  coords: Int32Array,
  feats: Float64Array,
  dim: SpatialDim,
  channels: number,
  batchSize?: number,
): { out: Float64Array; counts: Int32Array } {
  const n = validateCoordRanges(coords, dim, 'coords');
  checkCount(channels, 'channels', 1);
  validateFeatures(feats, n, channels, 'feats');
  const cols = coordColumns(dim);
  let maxB = -1;
  for (let r = 0; r < n; r++) maxB = Math.max(maxB, coords[r * cols]!);
  const b = batchSize ?? maxB + 1;
  checkCount(b, 'batchSize');
  if (maxB >= b) {
    throw new InputValueError(`batchSize = ${b} but coords contain batch index ${maxB}; pass batchSize ≥ ${maxB + 1}.`);
  }
  const out = new Float64Array(b * channels);
  const counts = new Int32Array(b);
  for (let r = 0; r < n; r++) {
    const bi = coords[r * cols]!;
    counts[bi]!++;
    for (let c = 0; c < channels; c++) out[bi * channels + c] = out[bi * channels + c]! + feats[r * channels + c]!;
  }
  for (let bi = 0; bi < b; bi++) {
    const cnt = counts[bi]!;
    if (cnt > 0) for (let c = 0; c < channels; c++) out[bi * channels + c] = out[bi * channels + c]! / cnt;
  }
  return { out, counts };
}

/** Global average pooling backward: gradFeats[r] = gradOut[batch(r)] / counts[batch(r)]. Float64Array [N, C]. */
export function globalAvgPoolBackward(gradOut: Float64Array, coords: Int32Array, dim: SpatialDim, channels: number, counts: Int32Array): Float64Array {
  const cols = coordColumns(dim);
  const n = coords.length / cols;
  validateFeatures(gradOut, counts.length, channels, 'gradOut');
  const grad = new Float64Array(n * channels);
  for (let r = 0; r < n; r++) {
    const bi = coords[r * cols]!;
    const cnt = counts[bi]!;
    for (let c = 0; c < channels; c++) grad[r * channels + c] = gradOut[bi * channels + c]! / cnt;
  }
  return grad;
}

// ----------------------------------------------------------------- linear

/**
 * Linear layer (a 1×1 sparse conv): out = x @ W + b.
 *
 * @param x Float64Array [N, Cin]
 * @param weight Float64Array [Cin, Cout]
 * @param bias Float64Array [Cout] or null
 * @returns Float64Array [N, Cout]
 */
export function linearForward(x: Float64Array, n: number, cin: number, cout: number, weight: Float64Array, bias: Float64Array | null): Float64Array {
  checkCount(n, 'n');
  checkCount(cin, 'cin', 1);
  checkCount(cout, 'cout', 1);
  validateFeatures(x, n, cin, 'x');
  if (!(weight instanceof Float64Array) || weight.length !== cin * cout) {
    throw new ShapeError(`weight has ${weight.length} elements but [Cin, Cout] = [${cin}, ${cout}] needs ${cin * cout}.`);
  }
  if (bias) checkVector(bias, cout, 'bias');
  const out = new Float64Array(n * cout);
  for (let r = 0; r < n; r++) {
    for (let b = 0; b < cout; b++) {
      let s = bias ? bias[b]! : 0;
      for (let a = 0; a < cin; a++) s += x[r * cin + a]! * weight[a * cout + b]!;
      out[r * cout + b] = s;
    }
  }
  return out;
}

/** Linear backward: gradX = g @ Wᵀ [N, Cin], gradWeight = xᵀ @ g [Cin, Cout], gradBias = Σ_r g [Cout]. */
export function linearBackward(
  x: Float64Array,
  gradOut: Float64Array,
  n: number,
  cin: number,
  cout: number,
  weight: Float64Array,
): { gradX: Float64Array; gradWeight: Float64Array; gradBias: Float64Array } {
  validateFeatures(x, n, cin, 'x');
  validateFeatures(gradOut, n, cout, 'gradOut');
  const gradX = new Float64Array(n * cin);
  const gradWeight = new Float64Array(cin * cout);
  const gradBias = new Float64Array(cout);
  for (let r = 0; r < n; r++) {
    for (let b = 0; b < cout; b++) {
      const g = gradOut[r * cout + b]!;
      gradBias[b] = gradBias[b]! + g;
      for (let a = 0; a < cin; a++) {
        gradX[r * cin + a] = gradX[r * cin + a]! + g * weight[a * cout + b]!;
        gradWeight[a * cout + b] = gradWeight[a * cout + b]! + x[r * cin + a]! * g;
      }
    }
  }
  return { gradX, gradWeight, gradBias };
}

// ---------------------------------------------------------- cross-entropy

/** Options of the softmax cross-entropy. */
export interface CrossEntropyOptions {
  /** Float64Array [C] per-class weights w; default all 1. */
  readonly classWeights?: Float64Array;
  /** Rows with this label contribute nothing; default −100 (PyTorch). */
  readonly ignoreIndex?: number;
}

function checkLabels(labels: Int32Array, n: number, c: number, ignoreIndex: number): void {
  if (!(labels instanceof Int32Array) || labels.length !== n) {
    throw new ShapeError(`labels must be an Int32Array [N] = [${n}] (one class per active site); got length ${labels.length}.`);
  }
  for (let r = 0; r < n; r++) {
    const y = labels[r]!;
    if (y !== ignoreIndex && (y < 0 || y >= c)) {
      throw new InputValueError(`labels[${r}] = ${y} is not a class in 0..${c - 1} nor ignoreIndex (${ignoreIndex}); fix the label or set options.ignoreIndex.`);
    }
  }
}

function logSoftmaxRow(logits: Float64Array, r: number, c: number, out: Float64Array): void {
  let m = -Infinity;
  for (let j = 0; j < c; j++) m = Math.max(m, logits[r * c + j]!);
  let s = 0;
  for (let j = 0; j < c; j++) s += Math.exp(logits[r * c + j]! - m);
  const lse = m + Math.log(s);
  for (let j = 0; j < c; j++) out[j] = logits[r * c + j]! - lse;
}

function weightsOf(options: CrossEntropyOptions, c: number): { w: (y: number) => number; ignore: number } {
  const cw = options.classWeights;
  if (cw) checkVector(cw, c, 'options.classWeights');
  return { w: (y) => (cw ? cw[y]! : 1), ignore: options.ignoreIndex ?? -100 };
}

/**
 * Mean softmax cross-entropy over active sites, weighted as PyTorch's
 * `cross_entropy(reduction='mean', weight=w)`:
 *
 *     loss = Σ_r w[y_r] · (−log softmax(logits_r)[y_r]) / Σ_r w[y_r]
 *
 * over rows whose label is not ignoreIndex. With no such row (or Σ w = 0)
 * the result is 0/0 = NaN, as in PyTorch.
 *
 * @param logits Float64Array [N, C]
 * @param labels Int32Array [N]
 * @returns loss and the weight sum Σ w[y_r]
 */
export function softmaxCrossEntropyForward(
  logits: Float64Array,
  labels: Int32Array,
  n: number,
  c: number,
  options: CrossEntropyOptions = {},
): { loss: number; weightSum: number } {
  checkCount(n, 'n');
  checkCount(c, 'c', 1);
  validateFeatures(logits, n, c, 'logits');
  const { w, ignore } = weightsOf(options, c);
  checkLabels(labels, n, c, ignore);
  const lp = new Float64Array(c);
  let num = 0;
  let den = 0;
  for (let r = 0; r < n; r++) {
    const y = labels[r]!;
    if (y === ignore) continue;
    logSoftmaxRow(logits, r, c, lp);
    num -= w(y) * lp[y]!;
    den += w(y);
  }
  return { loss: num / den, weightSum: den };
}

/**
 * Gradient of {@link softmaxCrossEntropyForward} times `gradLoss`:
 * d/dlogits_r = gradLoss · w[y_r] · (softmax(logits_r) − onehot(y_r)) / Σ w. Float64Array [N, C];
 * ignored rows get 0.
 */
export function softmaxCrossEntropyBackward(
  logits: Float64Array,
  labels: Int32Array,
  n: number,
  c: number,
  options: CrossEntropyOptions = {},
  gradLoss = 1,
): Float64Array {
  validateFeatures(logits, n, c, 'logits');
  const { w, ignore } = weightsOf(options, c);
  checkLabels(labels, n, c, ignore);
  let den = 0;
  for (let r = 0; r < n; r++) if (labels[r] !== ignore) den += w(labels[r]!);
  const grad = new Float64Array(n * c);
  const lp = new Float64Array(c);
  for (let r = 0; r < n; r++) {
    const y = labels[r]!;
    if (y === ignore) continue;
    logSoftmaxRow(logits, r, c, lp);
    const s = (gradLoss * w(y)) / den;
    for (let j = 0; j < c; j++) grad[r * c + j] = s * (Math.exp(lp[j]!) - (j === y ? 1 : 0));
  }
  return grad;
}

// ------------------------------------------------ ReferenceOp adapters
// Thin wrappers so that the GPU tests can hand these references to
// `gradcheck` (src/autodiff/gradcheck.ts) unchanged.

function rows2(t: HostTensor | undefined, argName: string): [number, number] {
  if (!t || t.shape.length !== 2) {
    throw new ShapeError(`${argName} must be a rank-2 [N, C] host tensor; got shape ${show(t ? [...t.shape] : undefined)}.`);
  }
  return [t.shape[0]!, t.shape[1]!];
}

/** BatchNorm: inputs x [N, C], gamma [C], beta [C]; output [N, C]. Attributes: {@link BatchNormOptions}. */
export const batchNormReference: ReferenceOp<BatchNormOptions> = {
  forward([x, gamma, beta], attrs): HostTensor {
    const [n, c] = rows2(x, 'x');
    return { shape: [n, c], data: batchNormForward(x!.data, n, c, gamma!.data, beta!.data, attrs).out };
  },
  backward([x, gamma, beta], g, attrs) {
    const [n, c] = rows2(x, 'x');
    const fwd = batchNormForward(x!.data, n, c, gamma!.data, beta!.data, attrs);
    const r = batchNormBackward(x!.data, g.data, n, c, gamma!.data, fwd);
    return [r.gradX, r.gradGamma, r.gradBeta];
  },
};

/** BatchNorm followed by LeakyReLU (the fused `leakyRelu` option of sparseBatchNorm); attributes as BatchNorm's plus `slope`. */
export const batchNormLeakyReluReference: ReferenceOp<BatchNormOptions & { readonly slope: number }> = {
  forward([x, gamma, beta], attrs): HostTensor {
    const z = batchNormReference.forward([x!, gamma!, beta!], attrs);
    return { shape: z.shape, data: leakyReluForward(z.data, attrs.slope) };
  },
  backward([x, gamma, beta], g, attrs) {
    const z = batchNormReference.forward([x!, gamma!, beta!], attrs);
    const gz = { shape: g.shape, data: leakyReluBackward(z.data, g.data, attrs.slope) };
    return batchNormReference.backward([x!, gamma!, beta!], gz, attrs);
  },
};

/** ReLU on any shape. */
export const reluReference: ReferenceOp<null> = {
  forward: ([x]) => ({ shape: x!.shape, data: reluForward(x!.data) }),
  backward: ([x], g) => [reluBackward(x!.data, g.data)],
};

/** LeakyReLU on any shape; attribute `slope`. */
export const leakyReluReference: ReferenceOp<{ readonly slope: number }> = {
  forward: ([x], { slope }) => ({ shape: x!.shape, data: leakyReluForward(x!.data, slope) }),
  backward: ([x], g, { slope }) => [leakyReluBackward(x!.data, g.data, slope)],
};

/** Add of two feature arrays on the same coords (coords checked by the caller): inputs a, b [N, C]. */
export const addReference: ReferenceOp<null> = {
  forward([a, b]): HostTensor {
    if (a!.data.length !== b!.data.length) throw new ShapeError(`a and b have ${a!.data.length} and ${b!.data.length} elements; add needs equal shapes.`);
    return { shape: a!.shape, data: a!.data.map((v, i) => v + b!.data[i]!) };
  },
  backward: (_inputs, g) => [Float64Array.from(g.data), Float64Array.from(g.data)],
};

/** Concat: inputs a [N, Ca], b [N, Cb]; output [N, Ca + Cb]. */
export const concatReference: ReferenceOp<null> = {
  forward([a, b]): HostTensor {
    const [n, ca] = rows2(a, 'a');
    const [, cb] = rows2(b, 'b');
    return { shape: [n, ca + cb], data: concatFeatures(a!.data, ca, b!.data, cb, n) };
  },
  backward([a, b], g) {
    const [n, ca] = rows2(a, 'a');
    const [, cb] = rows2(b, 'b');
    const r = concatBackward(g.data, ca, cb, n);
    return [r.gradA, r.gradB];
  },
};

/** Max pooling over `map`: input feats [N_in, C]; output [N_out, C]. */
export const maxPoolReference: ReferenceOp<{ readonly map: KernelMap }> = {
  forward([x], { map }): HostTensor {
    const [, c] = rows2(x, 'feats');
    return { shape: [map.numOut, c], data: maxPoolForward(x!.data, map, c).out };
  },
  backward([x], g, { map }) {
    const [, c] = rows2(x, 'feats');
    return [maxPoolBackward(g.data, maxPoolForward(x!.data, map, c).argmax, map.numIn, c)];
  },
};

/** Average pooling over `map`: input feats [N_in, C]; output [N_out, C]. */
export const avgPoolReference: ReferenceOp<{ readonly map: KernelMap; readonly divisor?: AvgPoolDivisor }> = {
  forward([x], { map, divisor }): HostTensor {
    const [, c] = rows2(x, 'feats');
    return { shape: [map.numOut, c], data: avgPoolForward(x!.data, map, c, divisor ?? 'active').out };
  },
  backward([x], g, { map, divisor }) {
    const [, c] = rows2(x, 'feats');
    return [avgPoolBackward(g.data, map, c, avgPoolForward(x!.data, map, c, divisor ?? 'active').divisor)];
  },
};

/** Global average pooling: input feats [N, C]; output [batchSize, C]. */
export const globalAvgPoolReference: ReferenceOp<{ readonly coords: Int32Array; readonly dim: SpatialDim; readonly batchSize: number }> = {
  forward([x], { coords, dim, batchSize }): HostTensor {
    const [, c] = rows2(x, 'feats');
    return { shape: [batchSize, c], data: globalAvgPoolForward(coords, x!.data, dim, c, batchSize).out };
  },
  backward([x], g, { coords, dim, batchSize }) {
    const [, c] = rows2(x, 'feats');
    const { counts } = globalAvgPoolForward(coords, x!.data, dim, c, batchSize);
    return [globalAvgPoolBackward(g.data, coords, dim, c, counts)];
  },
};

/** Linear: inputs x [N, Cin], weight [Cin, Cout], bias [Cout]; output [N, Cout]. */
export const linearReference: ReferenceOp<null> = {
  forward([x, w, b]): HostTensor {
    const [n, cin] = rows2(x, 'x');
    const [, cout] = rows2(w, 'weight');
    return { shape: [n, cout], data: linearForward(x!.data, n, cin, cout, w!.data, b!.data) };
  },
  backward([x, w], g) {
    const [n, cin] = rows2(x, 'x');
    const [, cout] = rows2(w, 'weight');
    const r = linearBackward(x!.data, g.data, n, cin, cout, w!.data);
    return [r.gradX, r.gradWeight, r.gradBias];
  },
};

/** Softmax cross-entropy: input logits [N, C]; output the loss, shape [1]. */
export const crossEntropyReference: ReferenceOp<CrossEntropyOptions & { readonly labels: Int32Array }> = {
  forward([x], attrs): HostTensor {
    const [n, c] = rows2(x, 'logits');
    return { shape: [1], data: Float64Array.of(softmaxCrossEntropyForward(x!.data, attrs.labels, n, c, attrs).loss) };
  },
  backward([x], g, attrs) {
    const [n, c] = rows2(x, 'logits');
    return [softmaxCrossEntropyBackward(x!.data, attrs.labels, n, c, attrs, g.data[0]!)];
  },
};
