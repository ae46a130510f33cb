/**
 * GPU blurred-MSE loss between two sparse pixel–tick images, as a tape op.
 * WGSL: `src/wgsl/drift/loss.wgsl`; reference: `loss.reference.ts`.
 *
 * Design: the images are scattered into one dense *bounding box* of their
 * union support, padded by the blur radius, and blurred by three separable
 * 1-D gathers (fixed order); the sums of squares use the core fixed-order
 * tree reduction. The box costs its volume in memory (4 bytes × 4 buffers
 * per cell), which suits events of a module or less; `maxBoxCells` guards it.
 *
 * @module
 */
import { DeviceLimitError, InputValueError, ShapeError, show } from '../../errors.js';
import { defineOp } from '../../autodiff/tape.js';
import type { GpuContext } from '../../runtime/context.js';
import type { KernelSpec } from '../../runtime/kernel.js';
import { empty, tensor, zeros, type Tensor } from '../../runtime/tensor.js';
import { wgsl } from '../../wgsl/index.js';
import { reduceSum } from '../core/reduce.js';
import { type BlurOptions, DEFAULT_BLUR_OPTIONS, type SparseGridValues } from './loss.reference.js';
import type { CellBounds } from './readout.js';

const WG = 256;
const spec = (entryPoint: string): KernelSpec => ({ name: `drift.${entryPoint}`, source: wgsl('drift/loss'), entryPoint });
const scatterSpec = spec('box_scatter');
const blurSpec = spec('box_blur');
const squareSpec = spec('box_square');
const finalizeSpec = spec('loss_finalize');
const gatherSpec = spec('box_gather');

/** Default bound on the dense box, cells (64 Mi cells = 256 MiB per buffer). */
export const DEFAULT_MAX_BOX_CELLS = 2 ** 26;

/** A sparse pixel–tick image on the GPU: unique cells and a value per cell. */
export interface SparseImage {
  /** f32 [E] values (electrons, or electronics output). */
  readonly values: Tensor;
  /** i32 [E, 3] (pixelX, pixelY, tick) per entry; cells must be unique. */
  readonly cells: Tensor;
  /** Inclusive bounds of `cells`, null when E = 0. */
  readonly bounds: CellBounds | null;
}

/**
 * Uploads a host sparse image (duplicates merged in input order) as a
 * {@link SparseImage}; the caller owns and disposes `values` and `cells`.
 */
export function sparseImageFromHost(ctx: GpuContext, image: SparseGridValues): SparseImage {
  const acc = new Map<string, number>();
  const order: [number, number, number][] = [];
  for (let e = 0; e < image.length; e++) {
    const px = image.pixelX[e]!;
    const py = image.pixelY[e]!;
    const t = image.tick[e]!;
    const v = image.value[e]!;
    if (!Number.isFinite(v)) throw new InputValueError(`sparseImageFromHost: value[${e}] = ${show(v)} must be finite`);
    const k = `${px},${py},${t}`;
    const prev = acc.get(k);
    if (prev === undefined) order.push([px, py, t]);
    acc.set(k, (prev ?? 0) + v);
  }
  const E = order.length;
  const cells = new Int32Array(E * 3);
  const values = new Float32Array(E);
  let bounds: CellBounds | null = null;
  order.forEach(([px, py, t], i) => {
    cells.set([px, py, t], i * 3);
    values[i] = acc.get(`${px},${py},${t}`)!;
    if (!bounds) bounds = { pixelX: [px, px], pixelY: [py, py], tick: [t, t] };
    else {
      bounds.pixelX = [Math.min(bounds.pixelX[0], px), Math.max(bounds.pixelX[1], px)];
      bounds.pixelY = [Math.min(bounds.pixelY[0], py), Math.max(bounds.pixelY[1], py)];
      bounds.tick = [Math.min(bounds.tick[0], t), Math.max(bounds.tick[1], t)];
    }
  });
  return { values: tensor(ctx, values, [E]), cells: tensor(ctx, cells, [E, 3], { dtype: 'i32' }), bounds };
}

function kernel1d(sigma: number, truncate: number): number[] {
  if (sigma === 0) return [1];
  const r = Math.ceil(truncate * sigma);
  const w: number[] = [];
  let s = 0;
  for (let o = -r; o <= r; o++) {
    const v = Math.exp((-0.5 * o * o) / (sigma * sigma));
    w.push(v);
    s += v;
  }
  return w.map((v) => v / s);
}

interface Box {
  bx: number;
  by: number;
  bt: number;
  x0: number;
  y0: number;
  t0: number;
  ru: number;
  rt: number;
}

interface LossAttrs {
  predCells: Tensor;
  targetCells: Tensor;
  box: Box;
  /** 1-D kernel along pixels, then along ticks. */
  kernel: Float32Array;
}

function boxUniforms(box: Box, n: number, axis: number, radius = 0, woff = 0): Record<string, number> {
  return { n, bx: box.bx, by: box.by, bt: box.bt, x0: box.x0, y0: box.y0, t0: box.t0, axis, radius, woff };
}

/** K ∗ src on the box: three separable gathers. Returns a new tensor. */
function blur3(src: Tensor, a: LossAttrs, weights: Tensor): Tensor {
  const ctx = src.ctx;
  const { box } = a;
  const n = box.bx * box.by * box.bt;
  let cur = src;
  const axes: [number, number, number][] = [
    [2, box.rt, 2 * box.ru + 1],
    [1, box.ru, 0],
    [0, box.ru, 0],
  ];
  for (const [axis, radius, woff] of axes) {
    const dst = empty(ctx, [n]);
    ctx.run(blurSpec, { src: cur, dst, weights, params: boxUniforms(box, n, axis, radius, woff) }, ctx.grid(n, WG));
    if (cur !== src) cur.dispose();
    cur = dst;
  }
  return cur;
}

function scatter(grid: Tensor, cells: Tensor, values: Tensor, sign: number, box: Box): void {
  const E = values.size;
  grid.ctx.run(scatterSpec, { cells, vals: values, grid, params: boxUniforms(box, E, sign) }, grid.ctx.grid(E, WG));
}

function sumOfSquares(x: Tensor, box: Box): Tensor {
  const n = x.size;
  const sq = empty(x.ctx, [n]);
  x.ctx.run(squareSpec, { src: x, dst: sq, params: boxUniforms(box, n, 0) }, x.ctx.grid(n, WG));
  const s = reduceSum(sq);
  sq.dispose();
  return s;
}

const lossOp = defineOp<LossAttrs>({
  name: 'drift.blurredMse',
  forward: ([pred, target], a, saver) => {
    const ctx = pred!.ctx;
    const n = a.box.bx * a.box.by * a.box.bt;
    const weights = tensor(ctx, a.kernel);
    const d = zeros(ctx, [n]);
    scatter(d, a.predCells, pred!, 1, a.box);
    scatter(d, a.targetCells, target!, -1, a.box);
    const b = blur3(d, a, weights);
    d.dispose();
    const t = zeros(ctx, [n]);
    scatter(t, a.targetCells, target!, 1, a.box);
    const kt = blur3(t, a, weights);
    t.dispose();
    const sb = sumOfSquares(b, a.box);
    const st = sumOfSquares(kt, a.box);
    kt.dispose();
    const sums = empty(ctx, [2]);
    const enc = ctx.commandEncoder();
    enc.copyBufferToBuffer(sb.buffer, sb.byteOffset, sums.buffer, sums.byteOffset, 4);
    enc.copyBufferToBuffer(st.buffer, st.byteOffset, sums.buffer, sums.byteOffset + 4, 4);
    sb.dispose();
    st.dispose();
    const loss = empty(ctx, [1], 'f32', { label: 'drift.blurredMse' });
    ctx.run(finalizeSpec, { sums, loss_out: loss }, 1);
    // b, sums and weights are the forward's own intermediates: saved, the
    // tape owns them and frees them after backward.
    if (saver.recording) saver.save(b, sums, weights);
    else {
      b.dispose();
      sums.dispose();
      weights.dispose();
    }
    return loss;
  },
  vjp: ({ gradOutputs: [g], saved: [b, sums, weights], attrs: a, inputs: [pred], needsGrad }) => {
    if (!needsGrad[0]) return [null, null];
    const ctx = b!.ctx;
    const kb = blur3(b!, a, weights!);
    const E = pred!.size;
    const gvals = empty(ctx, [E]);
    ctx.run(gatherSpec, { cells: a.predCells, sums: sums!, g: g!, kb, gvals, params: boxUniforms(a.box, E, 0) }, ctx.grid(E, WG));
    return [gvals, null];
  },
});

/** Options of {@link blurredMse}. */
export interface GpuBlurOptions extends BlurOptions {
  /** Largest dense box allowed, cells (default 2^26). */
  maxBoxCells: number;
}

function checkImage(what: string, im: SparseImage): number {
  const E = im.values.size;
  if (im.values.dtype !== 'f32' || im.values.rank !== 1) throw new ShapeError(`blurredMse: ${what}.values must be f32 [E]; got ${im.values.dtype} ${show(im.values.shape)}`);
  if (im.cells.dtype !== 'i32' || im.cells.rank !== 2 || im.cells.shape[0] !== E || im.cells.shape[1] !== 3) {
    throw new ShapeError(`blurredMse: ${what}.cells must be i32 [${E}, 3] (pixelX, pixelY, tick); got ${im.cells.dtype} ${show(im.cells.shape)}`);
  }
  if (E > 0 && !im.bounds) throw new InputValueError(`blurredMse: ${what}.bounds is null but it has ${E} cells; pass its bounds`);
  return E;
}

/**
 * L = Σ_x [(K ∗ (P − T))(x)]² / Σ_x [(K ∗ T)(x)]² (see `blurredMseLoss` and
 * docs/drift.md) as an f32 [1] tensor; differentiable w.r.t. `pred.values`.
 * K is the separable truncated Gaussian of σ `sigmaPixels` (both pixel axes)
 * and `sigmaTicks`.
 *
 * @throws DeviceLimitError when the padded bounding box exceeds `maxBoxCells`
 */
export function blurredMse(pred: SparseImage, target: SparseImage, options: Partial<GpuBlurOptions> = {}): Tensor {
  const o: GpuBlurOptions = { ...DEFAULT_BLUR_OPTIONS, maxBoxCells: DEFAULT_MAX_BOX_CELLS, ...options };
  for (const [name, v] of [
    ['sigmaPixels', o.sigmaPixels],
    ['sigmaTicks', o.sigmaTicks],
    ['truncate', o.truncate],
  ] as const) {
    if (!(v >= 0) || !Number.isFinite(v)) throw new InputValueError(`blurredMse: options.${name} = ${show(v)} must be finite and ≥ 0`);
  }
  checkImage('pred', pred);
  checkImage('target', target);
  const ku = kernel1d(o.sigmaPixels, o.truncate);
  const kt = kernel1d(o.sigmaTicks, o.truncate);
  const ru = (ku.length - 1) / 2;
  const rt = (kt.length - 1) / 2;
  const bs = [pred.bounds, target.bounds].filter((b): b is CellBounds => b !== null);
  const lo = (k: keyof CellBounds) => Math.min(...bs.map((b) => b[k][0]));
  const hi = (k: keyof CellBounds) => Math.max(...bs.map((b) => b[k][1]));
  const box: Box =
    bs.length === 0
      ? { bx: 1, by: 1, bt: 1, x0: 0, y0: 0, t0: 0, ru: 0, rt: 0 }
      : {
          x0: lo('pixelX') - ru,
          y0: lo('pixelY') - ru,
          t0: lo('tick') - rt,
          bx: hi('pixelX') - lo('pixelX') + 1 + 2 * ru,
          by: hi('pixelY') - lo('pixelY') + 1 + 2 * ru,
          bt: hi('tick') - lo('tick') + 1 + 2 * rt,
          ru,
          rt,
        };
  const cellsN = box.bx * box.by * box.bt;
  if (cellsN > o.maxBoxCells) {
    throw new DeviceLimitError(
      `blurredMse: the images' padded bounding box has ${box.bx}×${box.by}×${box.bt} = ${cellsN} cells, over maxBoxCells = ${o.maxBoxCells}; ` +
        'compare smaller regions (crop both images) or raise maxBoxCells if the memory is available',
    );
  }
  return lossOp([pred.values, target.values], { predCells: pred.cells, targetCells: target.cells, box, kernel: Float32Array.from([...ku, ...kt]) })[0]!;
}
