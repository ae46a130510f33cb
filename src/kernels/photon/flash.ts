/**
 * Flash hypothesis on the GPU, PE_d = Σ_i V_d(p_i + Δ) q_i, for a SIREN or a
 * voxel-table visibility model, with gradients w.r.t. Δ, q, p and the SIREN
 * parameters through the tape. WGSL: `src/wgsl/photon/flash.wgsl`; reference:
 * `flash.reference.ts`.
 *
 * @module
 */
import { checkOptionKeys, ShapeError, show } from '../../errors.js';
import { defineOp } from '../../autodiff/tape.js';
import type { GpuContext } from '../../runtime/context.js';
import type { KernelSpec } from '../../runtime/kernel.js';
import { empty, type Tensor } from '../../runtime/tensor.js';
import { wgsl } from '../../wgsl/index.js';
import { checkDType } from '../checks.js';
import type { Box3 } from './checks.js';
import { type GpuPhotonLibrary, photonLibraryLookup } from './photon-library.js';
import { type SirenNetwork, type SirenPath, sirenForward } from './siren.js';
import type { OutsidePolicy, PoissonNllOptions, VisibilityTransformOptions } from './visibility.reference.js';
import { checkNonNegative, logToVisibility, normalizeCoordinates, poissonNll } from './visibility.js';

const WG = 256;
const COL_WG = 64;
const COL_ROWS = 256;
const source = wgsl('photon/flash');
const columnSpec: KernelSpec = { name: 'photon.column_partial', source, entryPoint: 'column_partial' };
const shiftSpec: KernelSpec = { name: 'photon.shift_points', source, entryPoint: 'shift_points' };
const gvisSpec: KernelSpec = { name: 'photon.flash_backward_vis', source, entryPoint: 'flash_backward_vis' };
const gqSpec: KernelSpec = { name: 'photon.flash_backward_charge', source, entryPoint: 'flash_backward_charge' };

/**
 * Σ over rows of columns 0 … cols−1 of a [rows, stride] tensor, optionally
 * weighted per row, in passes of fixed 256-row tiles (deterministic).
 * @returns [cols]
 */
function columnSums(ctx: GpuContext, src: Tensor, rows: number, cols: number, stride: number, weight: Tensor | null): Tensor {
  let cur = src;
  let curRows = rows;
  let curStride = stride;
  let w = weight;
  for (;;) {
    const tiles = Math.max(1, Math.ceil(curRows / COL_ROWS));
    const out = empty(ctx, tiles === 1 ? [cols] : [tiles, cols]);
    const spare = w ? null : empty(ctx, [1]);
    ctx.run(
      columnSpec,
      { csrc: cur, cw: w ?? spare!, cpart: out, cp: { rows: curRows, cols, stride: curStride, has_w: w ? 1 : 0 } },
      [Math.ceil(cols / COL_WG), tiles],
    );
    spare?.dispose();
    if (cur !== src) cur.dispose();
    if (tiles === 1) return out;
    cur = out;
    curRows = tiles;
    curStride = cols;
    w = null;
  }
}

// ---------------------------------------------------------------- shift

const shiftOp = defineOp<{ xOnly: boolean }>({
  name: 'shiftPoints',
  forward: ([p, s], { xOnly }) => {
    const ctx = p!.ctx;
    const out = empty(ctx, p!.shape);
    if (p!.size > 0) ctx.run(shiftSpec, { pin: p!, shift: s!, pout: out, sp: { n: p!.size, x_only: xOnly ? 1 : 0 } }, ctx.grid(p!.size, WG));
    return out;
  },
  vjp: ({ gradOutputs: [g], inputs: [p], attrs: { xOnly }, needsGrad }) => {
    const ctx = p!.ctx;
    const rows = p!.shape[0]!;
    return [g!, needsGrad[1] ? columnSums(ctx, g!, rows, xOnly ? 1 : 3, 3, null) : null];
  },
});

/**
 * p + Δ for every point. Differentiable in both: dL/dΔ = Σ_i dL/dp_i (a
 * fixed-order column sum).
 *
 * @param points [N, 3] cm
 * @param shift [3] (Δx, Δy, Δz) cm, or [1] for a shift along the drift axis x only
 * @returns [N, 3] cm
 */
export function shiftPoints(points: Tensor, shift: Tensor): Tensor {
  checkDType('shiftPoints', 'points', points);
  checkDType('shiftPoints', 'shift', shift);
  if (points.rank !== 2 || points.shape[1] !== 3) throw new ShapeError(`shiftPoints: points has shape ${show(points.shape)}; it must be [N, 3] (cm)`);
  if (shift.rank !== 1 || (shift.size !== 3 && shift.size !== 1)) {
    throw new ShapeError(`shiftPoints: shift has shape ${show(shift.shape)}; pass [3] (Δx, Δy, Δz) or [1] (Δx along the drift axis), in cm`);
  }
  return shiftOp([points, shift], { xOnly: shift.size === 1 })[0]!;
}

// ---------------------------------------------------------------- flash sum

const flashSumOp = defineOp<null>({
  name: 'flashSum',
  forward: ([vis, q], _, saver) => {
    saver.save(vis!, q!);
    return columnSums(vis!.ctx, vis!, vis!.shape[0]!, vis!.shape[1]!, vis!.shape[1]!, q!);
  },
  vjp: ({ gradOutputs: [g], saved: [vis, q], needsGrad }) => {
    const ctx = vis!.ctx;
    const n = vis!.shape[0]!;
    const npd = vis!.shape[1]!;
    const fp = { n, npd };
    let gv: Tensor | null = null;
    let gq: Tensor | null = null;
    if (needsGrad[0]) {
      gv = empty(ctx, vis!.shape);
      if (gv.size > 0) ctx.run(gvisSpec, { gpe: g!, q: q!, gvis_out: gv, fp }, ctx.grid(gv.size, WG));
    }
    if (needsGrad[1]) {
      gq = empty(ctx, q!.shape);
      if (n > 0) ctx.run(gqSpec, { gpe: g!, vis: vis!, gq_out: gq, fp }, ctx.grid(n, WG));
    }
    return [gv, gq];
  },
});

/**
 * PE_d = Σ_i V[i, d] q_i from visibilities and photon counts, summed over
 * points in a fixed order. Differentiable in V and q.
 *
 * @param visibility V, [N, numPhotodetectors]
 * @param charges q, [N] photons
 * @returns PE, [numPhotodetectors]
 */
export function flashSum(visibility: Tensor, charges: Tensor): Tensor {
  checkDType('flashSum', 'visibility', visibility);
  checkDType('flashSum', 'charges', charges);
  if (visibility.rank !== 2) throw new ShapeError(`flashSum: visibility has shape ${show(visibility.shape)}; it must be [N, numPhotodetectors]`);
  if (charges.rank !== 1 || charges.size !== visibility.shape[0]) {
    throw new ShapeError(
      `flashSum: charges has shape ${show(charges.shape)} but visibility has ${visibility.shape[0]} rows; give one photon count per deposit`,
    );
  }
  return flashSumOp([visibility, charges], null)[0]!;
}

// ---------------------------------------------------------------- models

/** A visibility model on the GPU: a voxel table or a SIREN surrogate. */
export type GpuVisibilityModel =
  | { readonly kind: 'table'; readonly library: GpuPhotonLibrary; readonly outside: OutsidePolicy }
  | {
      readonly kind: 'siren';
      readonly network: SirenNetwork;
      readonly box: Box3;
      readonly transform: VisibilityTransformOptions;
      readonly outside: OutsidePolicy;
      readonly path: SirenPath;
    };

/** A table model (trilinear lookup; no trainable parameters). */
export function tableVisibilityModelGpu(library: GpuPhotonLibrary, outside: OutsidePolicy = 'error'): GpuVisibilityModel {
  return { kind: 'table', library, outside };
}

/** Options of {@link sirenVisibilityModelGpu}. */
export interface SirenVisibilityModelOptions {
  /** Log transform the network was trained on; default { sinOut: true } (siren-lartpc's published configs). */
  transform?: VisibilityTransformOptions;
  outside?: OutsidePolicy;
  path?: SirenPath;
}

/**
 * A SIREN model: p (cm) → u = normalise(p, box) → y = SIREN(u) → V = inverse log transform of y.
 *
 * @throws ShapeError when the network's inputDim is not 3
 */
export function sirenVisibilityModelGpu(network: SirenNetwork, box: Box3, options: SirenVisibilityModelOptions = {}): GpuVisibilityModel {
  if (network.config.inputDim !== 3) {
    throw new ShapeError(`sirenVisibilityModelGpu: a visibility SIREN takes (x, y, z), so config.inputDim must be 3, got ${network.config.inputDim}`);
  }
  return { kind: 'siren', network, box, transform: options.transform ?? { sinOut: true }, outside: options.outside ?? 'error', path: options.path ?? 'auto' };
}

/** Photodetectors of a model. */
export function modelPhotodetectors(model: GpuVisibilityModel): number {
  return model.kind === 'table' ? model.library.meta.numPhotodetectors : model.network.config.outputDim;
}

/**
 * V at each point, [N, numPhotodetectors], differentiable w.r.t. the points
 * (and the SIREN parameters).
 *
 * @param points [N, 3] cm
 */
export async function modelVisibility(model: GpuVisibilityModel, points: Tensor): Promise<Tensor> {
  if (model.kind === 'table') return photonLibraryLookup(model.library, points, model.outside);
  const u = await normalizeCoordinates(points, model.box, model.outside);
  return logToVisibility(sirenForward(model.network, u, { path: model.path }), model.transform);
}

function checkDeposits(op: string, positions: Tensor, charges: Tensor): void {
  checkDType(op, 'positions', positions);
  checkDType(op, 'charges', charges);
  if (positions.rank !== 2 || positions.shape[1] !== 3) throw new ShapeError(`${op}: positions has shape ${show(positions.shape)}; it must be [N, 3] (cm)`);
  if (charges.rank !== 1 || charges.size !== positions.shape[0]) {
    throw new ShapeError(`${op}: charges has shape ${show(charges.shape)} but positions has ${positions.shape[0]} rows; give one photon count per deposit`);
  }
}

/** Options of {@link flashHypothesis} and {@link flashMatchLoss}. */
export interface FlashOptions {
  /**
   * Check on the GPU that the photon counts (and the observed PE) are
   * finite and ≥ 0 before using them (default true). The cost is one
   * readback per call; a fit that has checked its inputs once may pass false.
   */
  readonly validate?: boolean;
}

/**
 * Flash hypothesis PE_d = Σ_i V_d(p_i + Δ) q_i for every photodetector d.
 * Recorded on the tape: gradients reach Δ, q, p and the SIREN parameters.
 *
 * @param positions p, [N, 3] cm
 * @param charges q, [N] photons
 * @param shift Δ, [3] or [1] (x only) cm; omitted means no shift
 * @returns PE, [numPhotodetectors]
 * @throws InputValueError for a NaN, infinite or negative photon count (named by index)
 */
export async function flashHypothesis(model: GpuVisibilityModel, positions: Tensor, charges: Tensor, shift?: Tensor, options: FlashOptions = {}): Promise<Tensor> {
  checkDeposits('flashHypothesis', positions, charges);
  checkOptionKeys('flashHypothesis options', options, ['validate']);
  if (options.validate ?? true) await checkNonNegative([{ tensor: charges, name: 'flashHypothesis charges', unit: 'photons' }]);
  const moved = shift ? shiftPoints(positions, shift) : positions;
  return flashSum(await modelVisibility(model, moved), charges);
}

/** Result of {@link flashMatchLoss}. */
export interface FlashMatchLoss {
  /** Poisson NLL, [1]. */
  loss: Tensor;
  /** PE hypothesis, [numPhotodetectors]. */
  hypothesis: Tensor;
}

/**
 * Flash-matching objective: the Poisson NLL of the observed PE given the
 * hypothesis of the shifted cluster. Call `backward(loss)` for gradients.
 *
 * @param observed PE per photodetector, [numPhotodetectors]
 * @throws ShapeError when observed and the model have different photodetector counts
 */
export async function flashMatchLoss(
  model: GpuVisibilityModel,
  positions: Tensor,
  charges: Tensor,
  shift: Tensor | undefined,
  observed: Tensor,
  options: PoissonNllOptions & FlashOptions = {},
): Promise<FlashMatchLoss> {
  const npd = modelPhotodetectors(model);
  if (observed.rank !== 1 || observed.size !== npd) {
    throw new ShapeError(
      `flashMatchLoss: observed has shape ${show(observed.shape)} but the visibility model has ${npd} photodetectors; ` +
        'the observation and the model must describe the same photodetectors in the same order',
    );
  }
  const { validate = true, ...nll } = options;
  checkDeposits('flashMatchLoss', positions, charges);
  // Both checks in one round trip.
  if (validate) {
    await checkNonNegative([
      { tensor: charges, name: 'flashMatchLoss charges', unit: 'photons' },
      { tensor: observed, name: 'flashMatchLoss observed', unit: 'PE' },
    ]);
  }
  const hypothesis = await flashHypothesis(model, positions, charges, shift, { validate: false });
  return { loss: poissonNll(hypothesis, observed, nll), hypothesis };
}
