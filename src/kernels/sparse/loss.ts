/**
 * Softmax cross-entropy over the active sites of a sparse tensor, as a tape
 * op on the logits. WGSL: `src/wgsl/sparse/loss.wgsl` (row sums by
 * `core/reduce.wgsl`); float64 reference: `ops.reference.ts`
 * (`softmaxCrossEntropyForward/Backward`).
 *
 * @module
 */
import { checkOptionKeys, DTypeError, InputValueError, ShapeError, show } from '../../errors.js';
import { defineOp } from '../../autodiff/tape.js';
import type { KernelSpec } from '../../runtime/kernel.js';
import { empty, tensor, type Tensor } from '../../runtime/tensor.js';
import { wgsl } from '../../wgsl/index.js';
import { reduceSum } from '../core/reduce.js';
import { fillLike } from '../core/elementwise.js';
import { checkSparse, describe } from './op-checks.js';
import type { SparseTensor } from './sparse-tensor.js';

const WG = 256;
type LossEntry = 'ce_rows' | 'ce_finish' | 'ce_backward';
const specs = new Map<LossEntry, KernelSpec>();
function spec(entry: LossEntry): KernelSpec {
  let s = specs.get(entry);
  if (!s) specs.set(entry, (s = { name: `sparse.${entry}`, source: wgsl('sparse/loss'), entryPoint: entry }));
  return s;
}

/** Bits of a quiet NaN, passed to the kernels (WGSL has no NaN constant). */
const QUIET_NAN_BITS = 0x7fc00000;

/** PyTorch's default ignore index. */
export const CROSS_ENTROPY_IGNORE_INDEX = -100;

/** Options of {@link sparseCrossEntropy}. */
export interface SparseCrossEntropyOptions {
  /** Per-class weights w, [C]: a host array or an f32 tensor. Default all 1. */
  readonly classWeights?: Float32Array | Float64Array | readonly number[] | Tensor;
  /** Rows with this label contribute nothing (loss and gradient); default −100. */
  readonly ignoreIndex?: number;
  /**
   * The loss when no row counts (every label ignored, or every label's
   * class weight 0): `'nan'` (default, PyTorch's 0/0) or `'zero'` (loss 0
   * and zero gradients: such a batch teaches nothing, and poisons nothing).
   */
  readonly emptyLoss?: 'nan' | 'zero';
}

interface CeAttrs {
  /** Labels on the GPU: the caller's tensor, or one uploaded by the wrapper-owned forward. */
  readonly labels: Tensor | Int32Array;
  readonly weights: Tensor | Float32Array | null;
  readonly ignoreIndex: number;
  /** 1 for `emptyLoss: 'zero'`. */
  readonly emptyZero: number;
}

const crossEntropyOp = defineOp<CeAttrs>({
  name: 'sparse.crossEntropy',
  forward: ([logits], a, saver) => {
    const ctx = logits!.ctx;
    const [rows, classes] = logits!.shape as [number, number];
    // Host arrays are uploaded here so that the tape owns their GPU copies
    // (saved intermediates are freed after backward, or right away when not recording).
    const { labels, weights, temps } = gpuOperands(logits!, a);
    const params = { rows, classes, ignore_index: a.ignoreIndex, nan_bits: QUIET_NAN_BITS, empty_zero: a.emptyZero };
    const wnll = empty(ctx, [rows]);
    const wsum = empty(ctx, [rows]);
    const lse = empty(ctx, [rows, 2]);
    ctx.run(spec('ce_rows'), { logits: logits!, labels, weights, wnll, wsum, lse, params }, ctx.grid(rows, WG));
    const num = reduceSum(wnll);
    const den = reduceSum(wsum);
    wnll.dispose();
    wsum.dispose();
    const loss = empty(ctx, [1]);
    ctx.run(spec('ce_finish'), { num, den, loss, params }, 1);
    num.dispose();
    if (saver.recording) {
      // Order matters (see operandsOf): [logits, lse, den, uploaded labels?, made weights?].
      // Caller-owned label / weight tensors are referenced through attrs, never saved,
      // because the tape frees every saved tensor that is not an input or output.
      saver.save(logits!, lse, den, ...temps);
    } else {
      lse.dispose();
      den.dispose();
      for (const t of temps) t.dispose();
    }
    return loss;
  },
  vjp: ({ gradOutputs: [gloss], saved, attrs: a }) => {
    const [logits, lse, den] = saved;
    const { labels, weights } = operandsOf(saved, a);
    const ctx = logits!.ctx;
    const [rows, classes] = logits!.shape as [number, number];
    const dlogits = empty(ctx, [rows, classes]);
    ctx.run(
      spec('ce_backward'),
      { logits: logits!, labels: labels!, weights: weights!, lse: lse!, den: den!, gloss: gloss!, dlogits, params: { rows, classes, ignore_index: a.ignoreIndex, nan_bits: QUIET_NAN_BITS, empty_zero: a.emptyZero } },
      ctx.grid(rows * classes, WG),
    );
    return [dlogits];
  },
});

/** GPU labels and weights for the forward; `temps` are the ones made here (owned by the op). */
function gpuOperands(logits: Tensor, a: CeAttrs): { labels: Tensor; weights: Tensor; temps: Tensor[] } {
  const ctx = logits.ctx;
  const [rows, classes] = logits.shape as [number, number];
  const temps: Tensor[] = [];
  let labels: Tensor;
  if (a.labels instanceof Int32Array) {
    labels = tensor(ctx, a.labels, [rows], { dtype: 'i32', label: 'ce.labels' });
    temps.push(labels);
  } else {
    labels = a.labels;
  }
  let weights: Tensor;
  if (a.weights === null) {
    const like = empty(ctx, [classes]);
    weights = fillLike(like, 1);
    like.dispose();
    temps.push(weights);
  } else if (a.weights instanceof Float32Array) {
    weights = tensor(ctx, a.weights, [classes], { label: 'ce.classWeights' });
    temps.push(weights);
  } else {
    weights = a.weights;
  }
  return { labels, weights, temps };
}

/** The labels and weights of a recorded forward, from attrs or the saved temporaries. */
function operandsOf(saved: readonly Tensor[], a: CeAttrs): { labels: Tensor; weights: Tensor } {
  let k = 3;
  const labels = a.labels instanceof Int32Array ? saved[k++]! : a.labels;
  const weights = a.weights === null || a.weights instanceof Float32Array ? saved[k++]! : a.weights;
  return { labels, weights };
}

/**
 * Mean softmax cross-entropy over active sites, weighted as PyTorch's
 * `cross_entropy(logits, labels, weight=w, ignore_index, reduction='mean')`:
 *
 *     loss = Σ_r w[y_r]·(logsumexp(logits_r) − logits_r[y_r]) / Σ_r w[y_r]
 *
 * over rows whose label is not ignoreIndex; NaN (0/0) when no row counts.
 * Log-sum-exp subtracts the row maximum, so large logits do not overflow.
 * Deterministic: the two sums over rows use core's fixed-order tree.
 *
 * @param logits sparse tensor [N, C], C ≥ 1 classes
 * @param labels class per site, i32 [N]: an Int32Array (range-checked here)
 *   or an i32 Tensor (not range-checked without a readback: a label outside
 *   0..C−1 that is not ignoreIndex makes the loss and gradient NaN). A Tensor
 *   is referenced, not copied: keep it alive until backward has run.
 * @returns a [1] tensor; differentiable w.r.t. the logits
 * @throws DTypeError for labels that are not i32; ShapeError for a label count ≠ N
 *   or class weights of length ≠ C; InputValueError for out-of-range labels or weights
 */
export function sparseCrossEntropy(
  logits: SparseTensor,
  labels: Int32Array | Tensor,
  options: SparseCrossEntropyOptions = {},
): Tensor {
  const op = 'sparseCrossEntropy';
  checkSparse(op, 'logits', logits);
  checkOptionKeys(`${op} options`, options, ['classWeights', 'ignoreIndex', 'emptyLoss']);
  const emptyLoss = options.emptyLoss ?? 'nan';
  if (emptyLoss !== 'nan' && emptyLoss !== 'zero') {
    throw new InputValueError(`${op}: options.emptyLoss = ${show(emptyLoss)}; use 'nan' (PyTorch's 0/0, default) or 'zero'`);
  }
  const n = logits.n;
  const c = logits.channels;
  if (c < 1) throw new ShapeError(`${op}: logits has 0 channels; it needs one channel per class (C ≥ 1)`);
  const ignoreIndex = options.ignoreIndex ?? CROSS_ENTROPY_IGNORE_INDEX;
  if (!Number.isInteger(ignoreIndex) || ignoreIndex < -(2 ** 31) || ignoreIndex >= 2 ** 31) {
    throw new InputValueError(`${op}: options.ignoreIndex = ${show(ignoreIndex)} must be a 32-bit integer (PyTorch default −100)`);
  }
  if (labels instanceof Int32Array) {
    if (labels.length !== n) {
      throw new ShapeError(`${op}: labels has ${labels.length} entries but logits has ${n} sites; pass one class per site (Int32Array [${n}])`);
    }
    for (let r = 0; r < n; r++) {
      const y = labels[r]!;
      if (y !== ignoreIndex && (y < 0 || y >= c)) {
        throw new InputValueError(`${op}: labels[${r}] = ${y} is not a class in 0..${c - 1} nor ignoreIndex (${ignoreIndex}); fix the label or set options.ignoreIndex`);
      }
    }
  } else if (labels !== null && typeof labels === 'object' && (labels as { isTensor?: boolean }).isTensor === true) {
    const t = labels as Tensor;
    if (t.dtype !== 'i32') throw new DTypeError(`${op}: labels has dtype ${t.dtype}, expected i32 [${n}]; pass class indices as an Int32Array or an i32 tensor`);
    if (t.shape.length !== 1 || t.shape[0] !== n) {
      throw new ShapeError(`${op}: labels has shape ${show(t.shape)} but logits has ${n} sites; labels must be i32 [${n}]`);
    }
    void t.buffer;
  } else {
    throw new DTypeError(`${op}: labels must be an Int32Array or an i32 Tensor [${n}]; got ${describe(labels)}`);
  }
  let weights: Tensor | Float32Array | null = null;
  const cw = options.classWeights;
  if (cw !== undefined) {
    if (cw !== null && typeof cw === 'object' && (cw as { isTensor?: boolean }).isTensor === true) {
      const t = cw as Tensor;
      if (t.dtype !== 'f32') throw new DTypeError(`${op}: options.classWeights has dtype ${t.dtype}, expected f32 [${c}]`);
      if (t.shape.length !== 1 || t.shape[0] !== c) {
        throw new ShapeError(`${op}: options.classWeights has shape ${show(t.shape)} but logits has ${c} classes; pass one weight per class [${c}]`);
      }
      void t.buffer;
      weights = t;
    } else if (cw instanceof Float32Array || cw instanceof Float64Array || Array.isArray(cw)) {
      const host = cw as ArrayLike<number>;
      if (host.length !== c) {
        throw new ShapeError(`${op}: options.classWeights has ${host.length} entries but logits has ${c} classes; pass one weight per class [${c}]`);
      }
      for (let j = 0; j < c; j++) {
        const w = host[j]!;
        if (!Number.isFinite(w) || w < 0) {
          throw new InputValueError(`${op}: options.classWeights[${j}] = ${show(w)} must be a finite number ≥ 0`);
        }
      }
      weights = Float32Array.from(host);
    } else {
      throw new DTypeError(`${op}: options.classWeights must be a Float32Array, Float64Array, number[] or f32 Tensor [${c}]; got ${describe(cw)}`);
    }
  }
  return crossEntropyOp([logits.feats], { labels, weights, ignoreIndex, emptyZero: emptyLoss === 'zero' ? 1 : 0 })[0]!;
}
