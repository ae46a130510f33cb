/**
 * Fitting a SIREN to a photon library on the GPU (siren-lartpc's recipe):
 * minibatches of voxels, log-scale targets, visibility-weighted L2 loss,
 * Adam; and the "visibility bias" accuracy metric over the whole table.
 *
 * @module
 */
import { checkOptionKeys, InputValueError, NonFiniteError, ShapeError, show } from '../../errors.js';
import { Adam } from '../../autodiff/optimizers.js';
import { backward, noGrad } from '../../autodiff/tape.js';
import { seededRandom } from '../../autodiff/numeric.js';
import { tensor } from '../../runtime/tensor.js';
import { type PhotonLibrary, createPhotonLibrary, voxelCenter } from './photon-library.reference.js';
import { type SirenNetwork, type SirenPath, sirenForward } from './siren.js';
import type { VisibilityTransformOptions, VisibilityWeightOptions } from './visibility.reference.js';
import { logToVisibility, visibilityLossWeights, visibilityToLog, weightedL2Loss } from './visibility.js';

/** Progress report passed to {@link FitSirenOptions.onProgress}. */
export interface FitProgress {
  step: number;
  /** Minibatch loss at this step. */
  loss: number;
}

/** Options of {@link fitSirenToLibrary}. */
export interface FitSirenOptions {
  /** Optimisation steps; default 1000. */
  steps?: number;
  /** Voxels per minibatch; default 4096. */
  batchSize?: number;
  /** Adam learning rate; default 1e-4 (a SIREN with ω0 = 30 diverges at much larger rates). */
  lr?: number;
  /** Minibatch sampling seed; default 0. */
  seed?: number;
  /** Log transform of the targets; default { sinOut: true } for a sine output, {} for a linear one. */
  transform?: VisibilityTransformOptions;
  /** Loss weights from target visibilities; `false` for an unweighted loss. Default siren-lartpc's. */
  weighting?: VisibilityWeightOptions | false;
  /** Called every `progressEvery` steps (and at the last) with the minibatch loss. */
  onProgress?: (progress: FitProgress) => void;
  /** Default 100. */
  progressEvery?: number;
  path?: SirenPath;
  /**
   * What a step does when its loss or a gradient is NaN or ±Inf (checked
   * before the update, from one readback of the loss and a GPU count of
   * non-finite gradients): `'throw'` (default) a NonFiniteError, `'skip'` the
   * update and count it in `skippedSteps`. Either way the weights and Adam's
   * state stay as they were. The cost is one round trip per step.
   */
  onNonFinite?: 'throw' | 'skip';
}

/** Result of {@link fitSirenToLibrary}. */
export interface FitSirenResult {
  steps: number;
  /** Loss at the last reported step. */
  finalLoss: number;
  /** Loss at every reported step. */
  history: FitProgress[];
  /** Steps (1-based) skipped for a non-finite loss or gradient (`onNonFinite: 'skip'`). */
  skippedSteps: number[];
}

function normalisedCentre(lib: PhotonLibrary, ix: number, iy: number, iz: number, out: Float32Array, at: number): void {
  const c = voxelCenter(lib.meta, ix, iy, iz);
  for (let a = 0; a < 3; a++) out[at + a] = (2 * (c[a]! - lib.meta.min[a]!)) / (lib.meta.max[a]! - lib.meta.min[a]!) - 1;
}

function checkNetForLibrary(op: string, net: SirenNetwork, lib: PhotonLibrary): void {
  createPhotonLibrary(lib.meta, lib.data);
  if (net.config.inputDim !== 3) throw new ShapeError(`${op}: the network must take 3 inputs (x, y, z), has inputDim ${net.config.inputDim}`);
  if (net.config.outputDim !== lib.meta.numPhotodetectors) {
    throw new ShapeError(
      `${op}: the network has ${net.config.outputDim} outputs but the library has ${lib.meta.numPhotodetectors} photodetectors; ` +
        'config.outputDim must equal numPhotodetectors',
    );
  }
}

function positiveInteger(op: string, name: string, v: number): number {
  if (!(Number.isInteger(v) && v > 0)) throw new InputValueError(`${op}: options.${name} = ${show(v)} must be a positive integer`);
  return v;
}

/**
 * Trains `net` in place to reproduce the table: each step draws `batchSize`
 * voxels uniformly (with replacement), evaluates the SIREN at their
 * normalised centres, and minimises the weighted L2 loss between its output
 * and the log-transformed visibilities with Adam.
 *
 * @param lib host table (the GPU sees only minibatches, so any table size works)
 * @throws ShapeError when the network's output count differs from the library's photodetector count
 */
export async function fitSirenToLibrary(net: SirenNetwork, lib: PhotonLibrary, options: FitSirenOptions = {}): Promise<FitSirenResult> {
  const op = 'fitSirenToLibrary';
  checkOptionKeys(`${op} options`, options, ['steps', 'batchSize', 'lr', 'seed', 'transform', 'weighting', 'onProgress', 'progressEvery', 'path', 'onNonFinite']);
  const onNonFinite = options.onNonFinite ?? 'throw';
  if (onNonFinite !== 'throw' && onNonFinite !== 'skip') throw new InputValueError(`${op}: options.onNonFinite = ${show(onNonFinite)}; use 'throw' (default) or 'skip'`);
  checkNetForLibrary(op, net, lib);
  const steps = positiveInteger(op, 'steps', options.steps ?? 1000);
  const batch = positiveInteger(op, 'batchSize', options.batchSize ?? 4096);
  const every = positiveInteger(op, 'progressEvery', options.progressEvery ?? 100);
  const transform = options.transform ?? (net.config.outputActivation === 'sine' ? { sinOut: true } : {});
  const weighting = options.weighting ?? {};
  const ctx = net.ctx;
  const rand = seededRandom(options.seed ?? 0);
  const [nx, ny, nz] = lib.meta.shape;
  const npd = lib.meta.numPhotodetectors;
  const adam = new Adam(net.parameters(), { lr: options.lr ?? 1e-4 });
  const coords = new Float32Array(batch * 3);
  const targets = new Float32Array(batch * npd);
  const history: FitProgress[] = [];
  const skippedSteps: number[] = [];
  try {
    for (let step = 1; step <= steps; step++) {
      for (let b = 0; b < batch; b++) {
        const ix = Math.floor(rand() * nx);
        const iy = Math.floor(rand() * ny);
        const iz = Math.floor(rand() * nz);
        normalisedCentre(lib, ix, iy, iz, coords, 3 * b);
        const off = ((ix * ny + iy) * nz + iz) * npd;
        targets.set(lib.data.subarray(off, off + npd), b * npd);
      }
      const report = step % every === 0 || step === steps;
      const loss = await ctx.scope(async () => {
        const u = tensor(ctx, coords, [batch, 3]);
        const v = tensor(ctx, targets, [batch, npd]);
        const pred = sirenForward(net, u, options.path ? { path: options.path } : {});
        const w = weighting === false ? undefined : visibilityLossWeights(v, weighting);
        const l = weightedL2Loss(pred, visibilityToLog(v, transform), w);
        adam.zeroGrad();
        backward(l);
        // The update is recorded only once the loss and gradients are known to be finite.
        const { loss: value, nonFiniteGradients: bad } = await adam.lossAndNonFinite(l);
        if (!Number.isFinite(value) || bad > 0) {
          adam.zeroGrad();
          if (onNonFinite === 'throw') {
            throw new NonFiniteError(
              `${op}: step ${step} has loss ${show(value)} and ${bad} non-finite gradient value(s); it was not applied (weights and Adam state unchanged). ` +
                "Lower the learning rate or check the library, or pass onNonFinite: 'skip'",
            );
          }
          skippedSteps.push(step);
          return value;
        }
        adam.step();
        return value;
      });
      if (report) {
        const p = { step, loss };
        history.push(p);
        options.onProgress?.(p);
      }
    }
  } finally {
    adam.zeroGrad();
    adam.dispose();
  }
  return { steps, finalLoss: history[history.length - 1]?.loss ?? Number.NaN, history, skippedSteps };
}

/** Result of {@link evaluateSirenOnLibrary}. */
export interface SirenAccuracy {
  /** siren-lartpc's bias: mean 2|p − t|/(p + t) over voxels·PDs with t > threshold (NaN if none). */
  bias: number;
  /** Number of (voxel, photodetector) entries with t > threshold. */
  count: number;
}

/**
 * Evaluates the network at every voxel centre (chunks of `chunk` voxels, no
 * tape) and computes siren-lartpc's accuracy metric on linear-scale
 * visibilities, mean 2|p − t|/(p + t) over entries with t > `threshold`.
 * The metric is accumulated on the host in float64 from the read-back
 * predictions.
 */
export async function evaluateSirenOnLibrary(
  net: SirenNetwork,
  lib: PhotonLibrary,
  options: { transform?: VisibilityTransformOptions; threshold?: number; chunk?: number; path?: SirenPath } = {},
): Promise<SirenAccuracy> {
  const op = 'evaluateSirenOnLibrary';
  checkNetForLibrary(op, net, lib);
  const threshold = options.threshold ?? 4.5e-5;
  const chunk = positiveInteger(op, 'chunk', options.chunk ?? 16384);
  const transform = options.transform ?? (net.config.outputActivation === 'sine' ? { sinOut: true } : {});
  const ctx = net.ctx;
  const [nx, ny, nz] = lib.meta.shape;
  const npd = lib.meta.numPhotodetectors;
  const voxels = nx * ny * nz;
  let sum = 0;
  let count = 0;
  const coords = new Float32Array(chunk * 3);
  for (let v0 = 0; v0 < voxels; v0 += chunk) {
    const n = Math.min(chunk, voxels - v0);
    for (let k = 0; k < n; k++) {
      const v = v0 + k;
      normalisedCentre(lib, Math.floor(v / (ny * nz)), Math.floor(v / nz) % ny, v % nz, coords, 3 * k);
    }
    // noGrad around the synchronous forward only: held across the read's
    // await, it would stop recording in any other work meanwhile.
    const pred = await ctx.scope(async () => {
      const u = tensor(ctx, coords.subarray(0, 3 * n), [n, 3]);
      const v = noGrad(() => logToVisibility(sirenForward(net, u, options.path ? { path: options.path } : {}), transform));
      return v.read();
    });
    const t = lib.data.subarray(v0 * npd, (v0 + n) * npd);
    for (let i = 0; i < t.length; i++) {
      const tv = t[i]!;
      if (!(tv > threshold)) continue;
      const pv = pred[i]!;
      sum += (2 * Math.abs(pv - tv)) / (pv + tv);
      count++;
    }
  }
  return { bias: count > 0 ? sum / count : Number.NaN, count };
}
