/**
 * SIREN on the GPU: parameters as tensors, a fused whole-network forward and
 * backward (`src/wgsl/photon/siren.wgsl`), the per-layer fallback built from
 * the core matmul, and the differentiable input Jacobian (spatial gradient).
 * The float64 reference is `siren.reference.ts`.
 *
 * @module
 */
import { DeviceLimitError, InputValueError, ShapeError, show } from '../../errors.js';
import { defineOp, type SaveContext } from '../../autodiff/tape.js';
import type { GpuContext } from '../../runtime/context.js';
import type { KernelSpec } from '../../runtime/kernel.js';
import { empty, tensor, type Tensor } from '../../runtime/tensor.js';
import { wgsl } from '../../wgsl/index.js';
import { checkDType } from '../checks.js';
import { fillLike } from '../core/elementwise.js';
import { matmulRaw } from '../core/matmul.js';
import {
  type SirenBiasInit,
  type SirenConfig,
  type SirenLayerShape,
  type SirenParams,
  initSirenParams,
  sirenLayerShapes,
  validateSirenConfig,
  validateSirenParams,
} from './siren.reference.js';

const source = wgsl('photon/siren');
const spec = (entryPoint: string): KernelSpec => ({ name: `photon.${entryPoint}`, source, entryPoint });
const forwardSpec = spec('siren_forward');
const backwardSpec = spec('siren_backward');
const partialSpec = spec('weight_grad_partial');
const biasPartialSpec = spec('bias_grad_partial');
const reduceSpec = spec('weight_grad_reduce');
const packSpec = spec('pack_transpose');
const biasActSpec = spec('bias_activation');
const actBackwardSpec = spec('activation_backward');

/** Threads per workgroup of the fused kernels and of the elementwise helpers. */
const FUSED_WG = 64;
const ELEM_WG = 256;
/** Output block side and row slab of weight_grad_partial; threads of bias_grad_partial. */
const WG_BLOCK = 64;
const WG_SLAB = 16;
const BIAS_WG = 64;
/** Aim for at least this many workgroups per weight-gradient dispatch (fills a large GPU). */
const WG_TARGET_GROUPS = 512;
/** Rows per slice at least: fewer, longer slices amortise the partial writes and their reduction. */
const WG_MIN_SLICE_ROWS = 256;
/** Upper bound for one chunk's scratch buffer (saved activations), bytes. */
const SCRATCH_CAP_BYTES = 64 * 1024 * 1024;
/** Largest number of vec4 slots per neuron (points / 4) the fused kernels use; more only costs workgroup memory. */
const PV_MAX = 4;

/** Which implementation evaluates the network. */
export type SirenPath = 'auto' | 'fused' | 'per-layer';

/**
 * A SIREN whose parameters live on the GPU. `weights[l]` is W_l [out_l, in_l]
 * (PyTorch layout) and `biases[l]` is b_l [out_l], as in {@link SirenParams}.
 */
export interface SirenNetwork {
  readonly ctx: GpuContext;
  readonly config: SirenConfig;
  readonly weights: readonly Tensor[];
  readonly biases: readonly Tensor[];
  /** Weights and biases interleaved, W_0, b_0, W_1, b_1, … (what an optimizer takes). */
  parameters(): Tensor[];
  /** Frees the parameter tensors (and their gradients). */
  dispose(): void;
}

/** Options of {@link createSiren}. */
export interface CreateSirenOptions {
  /** Initial parameters (float64 host arrays); default: {@link initSirenParams} with `seed`. */
  params?: SirenParams;
  /** Seed of the Sitzmann initialisation when `params` is absent; default 0. */
  seed?: number;
  biasInit?: SirenBiasInit;
  /** Whether the parameters require gradients; default true. */
  requiresGrad?: boolean;
}

/**
 * Uploads a SIREN's parameters. Validates the config and the parameter shapes.
 *
 * @throws InputValueError for an invalid config; ShapeError for parameters that do not fit it
 */
export function createSiren(ctx: GpuContext, config: SirenConfig, options: CreateSirenOptions = {}): SirenNetwork {
  validateSirenConfig(config);
  const params = options.params ?? initSirenParams(config, options.seed ?? 0, options.biasInit ?? 'pytorch');
  validateSirenParams(config, params);
  const requiresGrad = options.requiresGrad ?? true;
  const shapes = sirenLayerShapes(config);
  const weights = shapes.map((s, l) =>
    tensor(ctx, Float32Array.from(params.weights[l]!), [s.outFeatures, s.inFeatures], { requiresGrad, label: `siren.W${l}` }).keep(),
  );
  const biases = shapes.map((s, l) =>
    tensor(ctx, Float32Array.from(params.biases[l]!), [s.outFeatures], { requiresGrad, label: `siren.b${l}` }).keep(),
  );
  return {
    ctx,
    config,
    weights,
    biases,
    parameters: () => weights.flatMap((w, l) => [w, biases[l]!]),
    dispose: () => {
      for (const t of [...weights, ...biases]) t.dispose();
    },
  };
}

/** Reads the parameters back as float64 host arrays. */
export async function readSirenParams(net: SirenNetwork): Promise<SirenParams> {
  return {
    weights: await Promise.all(net.weights.map((w) => w.readF64())),
    biases: await Promise.all(net.biases.map((b) => b.readF64())),
  };
}

// ---------------------------------------------------------------- layout

interface LayerLayout extends SirenLayerShape {
  wOff: number;
  bOff: number;
  zCol: number;
  hCol: number;
}

interface NetLayout {
  layers: LayerLayout[];
  wSize: number;
  bSize: number;
  zStride: number;
  hStride: number;
  maxWidth: number;
}

function layoutOf(config: SirenConfig): NetLayout {
  let wSize = 0;
  let bSize = 0;
  let zStride = 0;
  let hStride = 0;
  let maxWidth = 0;
  const layers = sirenLayerShapes(config).map((s) => {
    const l: LayerLayout = { ...s, wOff: wSize, bOff: bSize, zCol: zStride, hCol: hStride };
    wSize += s.inFeatures * s.outFeatures;
    bSize += s.outFeatures;
    zStride += s.outFeatures;
    hStride += s.inFeatures;
    maxWidth = Math.max(maxWidth, s.inFeatures, s.outFeatures);
    return l;
  });
  return { layers, wSize, bSize, zStride, hStride, maxWidth };
}

/** The layer table of a layout, uploaded once per context and layout (owned by the context: do not dispose). */
function layerTable(ctx: GpuContext, layout: NetLayout): Tensor {
  const words = new Uint32Array(layout.layers.length * 8);
  const f = new Float32Array(words.buffer);
  layout.layers.forEach((l, i) => {
    words.set([l.inFeatures, l.outFeatures, l.wOff, l.bOff, l.zCol, l.hCol], i * 8);
    f[i * 8 + 6] = l.omega;
    words[i * 8 + 7] = l.sine ? 1 : 0;
  });
  return ctx.constant(`siren.layers:${words.join(',')}`, () => tensor(ctx, words, [words.length], { dtype: 'u32', label: 'siren.layers' }));
}

/** Tile shape of the fused kernels, or null when the widest layer does not fit in workgroup memory. */
export interface FusedTiling {
  /** Points per workgroup. */
  tileP: number;
  /** vec4 slots per neuron. */
  pv: number;
}

/**
 * The fused kernels' tile for a network on this device: two halves of
 * `maxWidth × pv` vec4 must fit in `maxComputeWorkgroupStorageSize`.
 */
export function sirenFusedTiling(ctx: GpuContext, config: SirenConfig, jacobian = false): FusedTiling | null {
  const maxWidth = layoutOf(config).maxWidth;
  const limit = ctx.limits.maxComputeWorkgroupStorageSize;
  for (let pv = PV_MAX; pv >= 1; pv /= 2) {
    if (2 * maxWidth * pv * 16 <= limit) return { pv, tileP: jacobian ? pv : pv * 4 };
  }
  return null;
}

function fusedConstants(layout: NetLayout, t: FusedTiling, jac: boolean): Record<string, number | boolean> {
  const half = layout.maxWidth * t.pv;
  return { TILE_P: t.tileP, PV: t.pv, ACT_HALF: half, ACT_TOTAL: 2 * half, WG: FUSED_WG, JAC: jac };
}

function packWeights(ctx: GpuContext, layout: NetLayout, weights: readonly Tensor[], transpose: boolean): Tensor {
  const out = empty(ctx, [Math.max(1, layout.wSize)], 'f32', { label: transpose ? 'siren.wt' : 'siren.w' });
  layout.layers.forEach((l, i) => {
    const w = weights[i]!;
    if (transpose) {
      const n = l.outFeatures * l.inFeatures;
      ctx.run(packSpec, { pack_src: w, pack_dst: out, pk: { rows: l.outFeatures, cols: l.inFeatures, offset: l.wOff } }, ctx.grid(n, ELEM_WG));
    } else {
      ctx.commandEncoder().copyBufferToBuffer(w.buffer, w.byteOffset, out.buffer, out.byteOffset + l.wOff * 4, w.byteLength);
    }
  });
  return out;
}

function packBiases(ctx: GpuContext, layout: NetLayout, biases: readonly Tensor[]): Tensor {
  const out = empty(ctx, [layout.bSize], 'f32', { label: 'siren.b' });
  layout.layers.forEach((l, i) => {
    ctx.commandEncoder().copyBufferToBuffer(biases[i]!.buffer, biases[i]!.byteOffset, out.buffer, out.byteOffset + l.bOff * 4, biases[i]!.byteLength);
  });
  return out;
}

function dummy(ctx: GpuContext): Tensor {
  return empty(ctx, [1], 'f32', { label: 'siren.unused' });
}

interface FusedRun {
  config: SirenConfig;
  layout: NetLayout;
  tiling: FusedTiling;
  jac: boolean;
}

/** Points per backward chunk: the saved activations of one chunk fit one binding and the scratch cap. */
function chunkPoints(ctx: GpuContext, run: FusedRun, batch: number, requested?: number): number {
  const g = run.jac ? 4 : 1;
  const perPoint = 4 * g * Math.max(run.layout.zStride, run.layout.hStride);
  const cap = Math.min(ctx.limits.maxStorageBufferBindingSize, SCRATCH_CAP_BYTES);
  let c = Math.max(run.tiling.tileP, Math.floor(cap / perPoint / run.tiling.tileP) * run.tiling.tileP);
  if (requested !== undefined) c = Math.max(run.tiling.tileP, Math.floor(requested / run.tiling.tileP) * run.tiling.tileP);
  return Math.min(c, Math.max(batch, 1));
}

function netParams(run: FusedRun, count: number, point0: number, save: boolean, hasGy = false, hasGj = false) {
  return {
    count,
    point0,
    num_layers: run.layout.layers.length,
    in_dim: run.config.inputDim,
    out_dim: run.config.outputDim,
    z_stride: run.layout.zStride,
    h_stride: run.layout.hStride,
    save: save ? 1 : 0,
    has_gy: hasGy ? 1 : 0,
    has_gj: hasGj ? 1 : 0,
  };
}

/** Runs the fused forward over all points (chunks of `chunk` only matter when saving). */
function fusedForward(
  ctx: GpuContext,
  run: FusedRun,
  x: Tensor,
  packs: { wt: Tensor; bias: Tensor; layers: Tensor },
  y: Tensor,
  jac: Tensor,
  save: { zs: Tensor; hs: Tensor; count: number; point0: number } | null,
): void {
  const count = save ? save.count : x.shape[0]!;
  const point0 = save ? save.point0 : 0;
  // Writable bindings may not alias, so unused ones get their own placeholders.
  const zs = save ? save.zs : dummy(ctx);
  const hs = save ? save.hs : dummy(ctx);
  const jacOut = jac === y || !run.jac ? dummy(ctx) : jac;
  const tiles = Math.ceil(count / run.tiling.tileP);
  ctx.run(
    forwardSpec,
    { x, wt: packs.wt, bias: packs.bias, layers: packs.layers, y, jac: jacOut, zs, hs, net: netParams(run, count, point0, save !== null) },
    ctx.grid(tiles, 1),
    fusedConstants(run.layout, run.tiling, run.jac),
  );
  if (!save) {
    zs.dispose();
    hs.dispose();
  }
  if (jacOut !== jac) jacOut.dispose();
}

/**
 * dL/dW, dL/db of every layer from saved activations and adjoints of one
 * chunk: split-K partials per row slice, then an ordered reduction that adds
 * into gw/gb (accumulating over chunks).
 */
function weightGradients(
  ctx: GpuContext,
  run: FusedRun,
  rows: number,
  ds: Tensor,
  hs: Tensor,
  gW: Tensor[],
  gb: Tensor[],
  accumulate: boolean,
): void {
  const group = run.jac ? 4 : 1;
  for (const [l, layer] of run.layout.layers.entries()) {
    const cols = layer.inFeatures + 1;
    const blocks = Math.ceil(layer.inFeatures / WG_BLOCK) * Math.ceil(layer.outFeatures / WG_BLOCK);
    const n = layer.outFeatures * cols;
    const maxSlices = Math.max(1, Math.floor(ctx.limits.maxStorageBufferBindingSize / 4 / n));
    let slices = Math.min(maxSlices, Math.max(1, Math.ceil(WG_TARGET_GROUPS / blocks)), Math.max(1, Math.ceil(rows / WG_MIN_SLICE_ROWS)));
    const sliceRows = Math.ceil(Math.ceil(rows / slices) / WG_SLAB) * WG_SLAB;
    slices = Math.ceil(rows / sliceRows);
    const partial = empty(ctx, [slices * n], 'f32', { label: 'siren.partial' });
    const wg = {
      rows,
      slice_rows: sliceRows,
      n_out: layer.outFeatures,
      n_in: layer.inFeatures,
      a_stride: run.layout.zStride,
      a_col: layer.zCol,
      b_stride: run.layout.hStride,
      b_col: layer.hCol,
    };
    ctx.run(
      partialSpec,
      { a_src: ds, b_src: hs, partial, wg },
      [Math.ceil(layer.inFeatures / WG_BLOCK), Math.ceil(layer.outFeatures / WG_BLOCK), slices],
      { GROUP: group },
    );
    ctx.run(biasPartialSpec, { a_src: ds, partial, wg }, [Math.ceil(layer.outFeatures / BIAS_WG), 1, slices], { GROUP: group });
    ctx.run(
      reduceSpec,
      { parts: partial, gw: gW[l]!, gb: gb[l]!, rp: { n, n_in: layer.inFeatures, slices, accumulate: accumulate ? 1 : 0 } },
      ctx.grid(n, ELEM_WG),
    );
    partial.dispose();
  }
}

interface FusedAttrs {
  run: FusedRun;
  /** Backward chunk size override (tests force several chunks). */
  chunk: number | undefined;
}

/**
 * Backward of the fused network for one set of output adjoints: chunks of
 * points, each propagating adjoints and adding its weight-gradient partials.
 * A chunk's saved activations come from the forward when it saved them
 * (single chunk), else the chunk's forward is recomputed with saving.
 */
function fusedBackward(
  ctx: GpuContext,
  attrs: FusedAttrs,
  x: Tensor,
  weights: readonly Tensor[],
  biases: readonly Tensor[],
  gy: Tensor | null,
  gj: Tensor | null,
  saved: { zs: Tensor; hs: Tensor } | null = null,
): { dx: Tensor; gW: Tensor[]; gb: Tensor[] } {
  const { run } = attrs;
  const batch = x.shape[0]!;
  const layers = layerTable(ctx, run.layout);
  const wt = packWeights(ctx, run.layout, weights, true);
  const wmat = packWeights(ctx, run.layout, weights, false);
  const bias = packBiases(ctx, run.layout, biases);
  const gW = run.layout.layers.map((l) => empty(ctx, [l.outFeatures, l.inFeatures]));
  const gb = run.layout.layers.map((l) => empty(ctx, [l.outFeatures]));
  const dx = empty(ctx, [batch, run.config.inputDim]);
  const spare = dummy(ctx);
  const yScratch = empty(ctx, [Math.max(1, batch * run.config.outputDim)]);
  const jScratch = run.jac ? empty(ctx, [Math.max(1, batch * run.config.outputDim * run.config.inputDim)]) : spare;
  const chunk = chunkPoints(ctx, run, batch, attrs.chunk);
  const g = run.jac ? 4 : 1;
  // Activations saved by a single-chunk forward make the recomputation unnecessary.
  const reuse = saved !== null && chunk >= batch;
  const zs = reuse ? saved.zs : empty(ctx, [chunk * run.layout.zStride * g], 'f32', { label: 'siren.zs' });
  const hs = reuse ? saved.hs : empty(ctx, [chunk * run.layout.hStride * g], 'f32', { label: 'siren.hs' });
  const ds = empty(ctx, [chunk * run.layout.zStride * g], 'f32', { label: 'siren.ds' });
  if (batch === 0) {
    for (const t of [...gW, ...gb]) ctx.commandEncoder().clearBuffer(t.buffer, t.byteOffset, Math.ceil(t.byteLength / 4) * 4);
  }
  for (let point0 = 0; point0 < batch; point0 += chunk) {
    const count = Math.min(chunk, batch - point0);
    if (!reuse) fusedForward(ctx, run, x, { wt, bias, layers }, yScratch, jScratch, { zs, hs, count, point0 });
    ctx.run(
      backwardSpec,
      {
        layers,
        net: netParams(run, count, point0, false, gy !== null, gj !== null),
        gy: gy ?? spare,
        gj: gj ?? spare,
        wmat,
        zsaved: zs,
        ds,
        dx,
      },
      ctx.grid(Math.ceil(count / run.tiling.tileP), 1),
      fusedConstants(run.layout, run.tiling, run.jac),
    );
    weightGradients(ctx, run, count * g, ds, hs, gW, gb, point0 > 0);
  }
  for (const t of [wt, wmat, bias, spare, yScratch, ds]) t.dispose();
  if (!reuse) {
    zs.dispose();
    hs.dispose();
  }
  if (jScratch !== spare) jScratch.dispose();
  return { dx, gW, gb };
}

/**
 * Runs the fused forward for an op. When the tape records and one backward
 * chunk holds the whole batch, the forward saves its pre-activations and layer
 * inputs for the backward (no recomputation); otherwise the backward
 * recomputes them chunk by chunk.
 */
function fusedOpForward(inputs: readonly Tensor[], attrs: FusedAttrs, saver: SaveContext, withJacobian: boolean): Tensor[] {
  const [x, ...params] = inputs;
  saver.save(...inputs);
  const ctx = x!.ctx;
  const { run } = attrs;
  const layers = layerTable(ctx, run.layout);
  const wt = packWeights(ctx, run.layout, params.filter((_, i) => i % 2 === 0), true);
  const bias = packBiases(ctx, run.layout, params.filter((_, i) => i % 2 === 1));
  const batch = x!.shape[0]!;
  const y = empty(ctx, [batch, run.config.outputDim]);
  const jac = withJacobian ? empty(ctx, [batch, run.config.outputDim, run.config.inputDim]) : null;
  const spare = dummy(ctx);
  const g = run.jac ? 4 : 1;
  const keep = saver.recording && batch > 0 && chunkPoints(ctx, run, batch, attrs.chunk) >= batch;
  if (keep) {
    const zs = empty(ctx, [batch * run.layout.zStride * g], 'f32', { label: 'siren.zs' });
    const hs = empty(ctx, [batch * run.layout.hStride * g], 'f32', { label: 'siren.hs' });
    fusedForward(ctx, run, x!, { wt, bias, layers }, y, jac ?? spare, { zs, hs, count: batch, point0: 0 });
    saver.save(zs, hs);
  } else if (batch > 0) {
    fusedForward(ctx, run, x!, { wt, bias, layers }, y, jac ?? spare, null);
  }
  for (const t of [wt, bias, spare]) t.dispose();
  return jac ? [y, jac] : [y];
}

/** Splits saved tensors into inputs and the optional saved activations. */
function savedParts(saved: readonly Tensor[], attrs: FusedAttrs) {
  const n = 1 + 2 * attrs.run.layout.layers.length;
  const [x, ...params] = saved.slice(0, n);
  const acts = saved.length >= n + 2 ? { zs: saved[n]!, hs: saved[n + 1]! } : null;
  return { x: x!, weights: params.filter((_, i) => i % 2 === 0), biases: params.filter((_, i) => i % 2 === 1), acts };
}

const sirenFusedOp = defineOp<FusedAttrs>({
  name: 'sirenFused',
  forward: (inputs, attrs, saver) => fusedOpForward(inputs, attrs, saver, false),
  vjp: ({ gradOutputs: [gy], saved, attrs }) => {
    const { x, weights, biases, acts } = savedParts(saved, attrs);
    const { dx, gW, gb } = fusedBackward(x.ctx, attrs, x, weights, biases, gy!, null, acts);
    return [dx, ...gW.flatMap((w, l) => [w, gb[l]!])];
  },
});

// ---------------------------------------------------------------- per-layer path

interface LayerAttrs {
  omega: number;
  sine: boolean;
}

/** One layer h' = act(W h + b) from the core matmul plus a bias/activation kernel. */
const sirenLayerOp = defineOp<LayerAttrs>({
  name: 'sirenLayer',
  forward: ([h, w, b], { omega, sine }, saver) => {
    const ctx = h!.ctx;
    const pre = matmulRaw(h!, w!, false, true);
    const out = empty(ctx, pre.shape);
    const n = pre.size;
    if (n > 0) {
      ctx.run(
        biasActSpec,
        { pre, layer_bias: b!, act_out: out, ap: { n, n_out: w!.shape[0]!, omega, sine: sine ? 1 : 0 } },
        ctx.grid(n, ELEM_WG),
      );
    }
    saver.save(h!, w!, pre);
    if (!saver.recording) pre.dispose();
    return out;
  },
  vjp: ({ gradOutputs: [g], saved: [h, w, pre], attrs: { omega, sine }, needsGrad }) => {
    const ctx = h!.ctx;
    const n = pre!.size;
    const delta = empty(ctx, pre!.shape);
    if (n > 0) {
      ctx.run(
        actBackwardSpec,
        { act_grad: g!, act_pre: pre!, act_delta: delta, abp: { n, n_out: w!.shape[0]!, omega, sine: sine ? 1 : 0 } },
        ctx.grid(n, ELEM_WG),
      );
    }
    const batch = h!.shape[0]!;
    const ones = empty(ctx, [1, batch]);
    const onesFilled = batch > 0 ? fillLike(ones, 1) : ones;
    // Column sums as a [1, B]·[B, out] product: a fixed-order reduction over points.
    const gb = needsGrad[2] ? matmulRaw(onesFilled, delta) : null;
    return [
      needsGrad[0] ? matmulRaw(delta, w!) : null,
      needsGrad[1] ? matmulRaw(delta, h!, true, false) : null,
      gb ? reshape1d(gb) : null,
    ];
  },
});

/** [1, n] → [n] by copy (tensors carry their own shape). */
function reshape1d(t: Tensor): Tensor {
  const out = empty(t.ctx, [t.size]);
  if (t.size > 0) t.ctx.commandEncoder().copyBufferToBuffer(t.buffer, t.byteOffset, out.buffer, out.byteOffset, t.byteLength);
  return out;
}

// ---------------------------------------------------------------- public ops

function checkInput(op: string, net: SirenNetwork, x: Tensor): void {
  checkDType(op, 'x', x);
  if (x.rank !== 2 || x.shape[1] !== net.config.inputDim) {
    throw new ShapeError(
      `${op}: x has shape ${show(x.shape)} but the network takes [B, ${net.config.inputDim}] (config.inputDim = ${net.config.inputDim}); ` +
        'pass one row of coordinates per point',
    );
  }
  if (x.ctx !== net.ctx) throw new InputValueError(`${op}: x and the network live on different GPU contexts; create both on one context`);
}

/** Options of {@link sirenForward}. */
export interface SirenForwardOptions {
  /**
   * 'auto' (default): the fused kernel when the widest layer fits in
   * workgroup memory, else the per-layer path. 'fused' throws
   * DeviceLimitError when it does not fit.
   */
  path?: SirenPath;
  /** Points per backward chunk (default: as many as fit a 64 MiB scratch buffer). Tests use small values. */
  backwardChunk?: number;
}

/**
 * Evaluates the SIREN, y = SIREN(x), recording a tape node when x or the
 * parameters require gradients (gradients for W, b and x).
 *
 * @param x [B, inputDim] points (normalised coordinates in [−1, 1] for visibility)
 * @returns y [B, outputDim]
 * @throws ShapeError when x is not [B, inputDim]; DeviceLimitError for `path: 'fused'` on a too-wide network
 */
export function sirenForward(net: SirenNetwork, x: Tensor, options: SirenForwardOptions = {}): Tensor {
  checkInput('sirenForward', net, x);
  const path = options.path ?? 'auto';
  if (path !== 'auto' && path !== 'fused' && path !== 'per-layer') {
    throw new InputValueError(`sirenForward: options.path = ${show(path)}; use 'auto', 'fused' or 'per-layer'`);
  }
  const tiling = path === 'per-layer' ? null : sirenFusedTiling(net.ctx, net.config);
  if (path === 'fused' && !tiling) {
    throw new DeviceLimitError(
      `sirenForward: the widest layer (${layoutOf(net.config).maxWidth}) does not fit the fused kernel's workgroup memory ` +
        `(maxComputeWorkgroupStorageSize = ${net.ctx.limits.maxComputeWorkgroupStorageSize} bytes); use path 'per-layer' or 'auto'`,
    );
  }
  if (!tiling) {
    let h = x;
    sirenLayerShapes(net.config).forEach((s, l) => {
      h = sirenLayerOp([h, net.weights[l]!, net.biases[l]!], { omega: s.omega, sine: s.sine })[0]!;
    });
    return h;
  }
  const run: FusedRun = { config: net.config, layout: layoutOf(net.config), tiling, jac: false };
  return sirenFusedOp([x, ...net.parameters()], { run, chunk: options.backwardChunk })[0]!;
}

const sirenJacobianOp = defineOp<FusedAttrs>({
  name: 'sirenInputGradient',
  forward: (inputs, attrs, saver) => fusedOpForward(inputs, attrs, saver, true),
  vjp: ({ gradOutputs: [gy, gj], saved, attrs }) => {
    const { x, weights, biases, acts } = savedParts(saved, attrs);
    const { dx, gW, gb } = fusedBackward(x.ctx, attrs, x, weights, biases, gy ?? null, gj ?? null, acts);
    return [dx, ...gW.flatMap((w, l) => [w, gb[l]!])];
  },
});

/** Output of {@link sirenInputGradient}. */
export interface SirenInputGradient {
  /** y, [B, outputDim]. */
  output: Tensor;
  /** J[b, j, k] = ∂y_j/∂x_k, [B, outputDim, inputDim] (per unit of normalised coordinate). */
  jacobian: Tensor;
}

/**
 * The network's value and spatial gradient (input Jacobian) in one fused
 * forward-mode pass, as a differentiable op: a loss on `jacobian` and/or
 * `output` back-propagates to W, b and x (second order through the sines),
 * which is what gradient-supervised training needs.
 *
 * @param x [B, inputDim] with inputDim ≤ 3
 * @throws ShapeError for x not [B, inputDim]; InputValueError for inputDim > 3;
 *   DeviceLimitError when the widest layer does not fit the fused kernel's workgroup memory
 */
export function sirenInputGradient(net: SirenNetwork, x: Tensor, options: Pick<SirenForwardOptions, 'backwardChunk'> = {}): SirenInputGradient {
  checkInput('sirenInputGradient', net, x);
  if (net.config.inputDim > 3) {
    throw new InputValueError(
      `sirenInputGradient: config.inputDim = ${net.config.inputDim}; the fused Jacobian carries at most 3 input derivatives (x, y, z)`,
    );
  }
  const tiling = sirenFusedTiling(net.ctx, net.config, true);
  if (!tiling) {
    throw new DeviceLimitError(
      `sirenInputGradient: the widest layer (${layoutOf(net.config).maxWidth}) does not fit in workgroup memory ` +
        `(maxComputeWorkgroupStorageSize = ${net.ctx.limits.maxComputeWorkgroupStorageSize} bytes); use a narrower network`,
    );
  }
  const run: FusedRun = { config: net.config, layout: layoutOf(net.config), tiling, jac: true };
  const [output, jacobian] = sirenJacobianOp([x, ...net.parameters()], { run, chunk: options.backwardChunk });
  return { output: output!, jacobian: jacobian! };
}

/** Floating-point operations of one forward pass per point (2 per multiply-add, sines not counted). */
export function sirenForwardFlopsPerPoint(config: SirenConfig): number {
  return sirenLayerShapes(config).reduce((n, s) => n + 2 * s.inFeatures * s.outFeatures, 0);
}
