/**
 * Site-preserving sparse layers on the GPU: ReLU, LeakyReLU, add, channel
 * concat and linear (1×1 conv). Each is one tape op on the feature tensors;
 * the coordinate set passes through unchanged. WGSL: `src/wgsl/sparse/ops.wgsl`
 * (concat, bias) and the core kernels (elementwise, matmul); float64
 * reference: `ops.reference.ts`.
 *
 * @module
 */
import { InputValueError, ShapeError, show } from '../../errors.js';
import { defineOp } from '../../autodiff/tape.js';
import type { KernelSpec } from '../../runtime/kernel.js';
import { empty, type Tensor } from '../../runtime/tensor.js';
import { wgsl } from '../../wgsl/index.js';
import { checkDType } from '../checks.js';
import { add, leakyRelu, relu } from '../core/elementwise.js';
import { matmulRaw } from '../core/matmul.js';
import { columnSum } from './columns.js';
import { checkChannelVector, checkSparse, describe } from './op-checks.js';
import type { CoordinateSet, SparseTensor } from './sparse-tensor.js';

const WG = 256;
type OpsEntry = 'copy_cols' | 'slice_cols' | 'bias_add';
const specs = new Map<OpsEntry, KernelSpec>();
function spec(entry: OpsEntry): KernelSpec {
  let s = specs.get(entry);
  if (!s) specs.set(entry, (s = { name: `sparse.${entry}`, source: wgsl('sparse/ops'), entryPoint: entry }));
  return s;
}

// ---------------------------------------------------------- activations

/** ReLU on the features: max(x, 0); gradient 0 at x = 0. Same sites, [N, C]. */
export function sparseRelu(x: SparseTensor): SparseTensor {
  checkSparse('sparseRelu', 'x', x);
  return x.withFeats(relu(x.feats));
}

/** LeakyReLU on the features: x for x > 0, slope·x otherwise (default 0.01, gradient slope at 0). */
export function sparseLeakyRelu(x: SparseTensor, slope = 0.01): SparseTensor {
  checkSparse('sparseLeakyRelu', 'x', x);
  return x.withFeats(leakyRelu(x.feats, slope));
}

// ---------------------------------------------------------------- add

/** True when two coordinate sets hold the same sites in the same row order. */
function sameSites(a: CoordinateSet, b: CoordinateSet): { same: boolean; row: number } {
  if (a === b) return { same: true, row: -1 };
  if (a.dim !== b.dim || a.n !== b.n) return { same: false, row: -1 };
  const ha = a.host;
  const hb = b.host;
  for (let i = 0; i < ha.length; i++) {
    if (ha[i] !== hb[i]) return { same: false, row: Math.floor(i / (1 + a.dim)) };
  }
  return { same: true, row: -1 };
}

/**
 * a + b on the same sites. The coordinate sets must be the same object or
 * hold identical coordinates row by row (the result uses a's set).
 *
 * @param a sparse tensor [N, C]
 * @param b sparse tensor [N, C] on the same sites
 * @throws InputValueError when the sites differ; ShapeError when channel counts differ
 */
export function sparseAdd(a: SparseTensor, b: SparseTensor): SparseTensor {
  const op = 'sparseAdd';
  checkSparse(op, 'a', a);
  checkSparse(op, 'b', b);
  const s = sameSites(a.coords, b.coords);
  if (!s.same) {
    const why =
      a.dim !== b.dim ? `a is ${a.dim}D and b is ${b.dim}D`
      : a.n !== b.n ? `a has ${a.n} sites and b has ${b.n}`
      : `coordinate row ${s.row} differs`;
    throw new InputValueError(
      `${op}: a and b are on different coordinate sets (#${a.coords.id} and #${b.coords.id}: ${why}); ` +
        'add needs the same sites in the same row order: produce both from one tensor with site-preserving ops, or align them first',
    );
  }
  if (a.channels !== b.channels) {
    throw new ShapeError(`${op}: a has ${a.channels} channels but b has ${b.channels}; add needs equal channel counts (use sparseLinear to project one)`);
  }
  return a.withFeats(add(a.feats, b.feats));
}

// -------------------------------------------------------------- concat

const concatOp = defineOp<{ widths: readonly number[] }>({
  name: 'sparse.concat',
  forward: (xs, { widths }) => {
    const ctx = xs[0]!.ctx;
    const rows = xs[0]!.shape[0]!;
    const total = widths.reduce((s, w) => s + w, 0);
    const out = empty(ctx, [rows, total]);
    let offset = 0;
    xs.forEach((x, k) => {
      const width = widths[k]!;
      ctx.run(spec('copy_cols'), { src: x, dst: out, params: { rows, width, total, offset } }, ctx.grid(rows * width, WG));
      offset += width;
    });
    return out;
  },
  vjp: ({ gradOutputs: [g], attrs: { widths }, inputs, needsGrad }) => {
    const ctx = g!.ctx;
    const rows = g!.shape[0]!;
    const total = g!.shape[1]!;
    let offset = 0;
    return inputs.map((_, k) => {
      const width = widths[k]!;
      const at = offset;
      offset += width;
      if (!needsGrad[k]) return null;
      const dx = empty(ctx, [rows, width]);
      ctx.run(spec('slice_cols'), { src: g!, dst: dx, params: { rows, width, total, offset: at } }, ctx.grid(rows * width, WG));
      return dx;
    });
  },
});

/**
 * Concatenates features along channels: [N, C₀] ⊕ [N, C₁] ⊕ … → [N, ΣCₖ],
 * on the first tensor's sites. All tensors must be on the same sites (as
 * {@link sparseAdd}). The backward splits the gradient by columns.
 */
export function sparseConcat(xs: readonly SparseTensor[]): SparseTensor {
  const op = 'sparseConcat';
  if (!Array.isArray(xs) || xs.length === 0) {
    throw new InputValueError(`${op}: xs must be a non-empty array of SparseTensors; got ${describe(xs)}${Array.isArray(xs) ? ' of length 0' : ''}`);
  }
  xs.forEach((x, k) => checkSparse(op, `xs[${k}]`, x));
  const first = xs[0]!;
  xs.forEach((x, k) => {
    if (k === 0) return;
    const s = sameSites(first.coords, x.coords);
    if (!s.same) {
      throw new InputValueError(
        `${op}: xs[${k}] is on coordinate set #${x.coords.id}, not on xs[0]'s #${first.coords.id}` +
          `${s.row >= 0 ? ` (row ${s.row} differs)` : ''}; concat needs the same sites in the same row order`,
      );
    }
  });
  return first.withFeats(concatOp(xs.map((x) => x.feats), { widths: xs.map((x) => x.channels) })[0]!);
}

// -------------------------------------------------------------- linear

const linearOp = defineOp<{ hasBias: boolean }>({
  name: 'sparse.linear',
  forward: ([x, w, bias], { hasBias }, saver) => {
    saver.save(x!, w!);
    const y0 = matmulRaw(x!, w!);
    if (!hasBias) return y0;
    const ctx = x!.ctx;
    const [rows, width] = y0.shape as [number, number];
    const y = empty(ctx, [rows, width]);
    ctx.run(spec('bias_add'), { x: y0, bias: bias!, y, params: { rows, width, total: width, offset: 0 } }, ctx.grid(rows * width, WG));
    y0.dispose();
    return y;
  },
  // dx = g·Wᵀ, dW = xᵀ·g, dbias = Σ_rows g (fixed-order column sum)
  vjp: ({ gradOutputs: [g], saved: [x, w], attrs: { hasBias }, needsGrad }) => {
    const [rows, width] = g!.shape as [number, number];
    return [
      needsGrad[0] ? matmulRaw(g!, w!, false, true) : null,
      needsGrad[1] ? matmulRaw(x!, g!, true, false) : null,
      ...(hasBias ? [needsGrad[2] ? columnSum(g!, rows, width) : null] : []),
    ];
  },
});

/**
 * Linear layer on the features (a 1×1 sparse convolution):
 * `out = x @ weight + bias`, same sites.
 *
 * @param x sparse tensor [N, Cin]
 * @param weight f32 [Cin, Cout]
 * @param bias f32 [Cout], or null for none
 * @returns sparse tensor [N, Cout]
 */
export function sparseLinear(x: SparseTensor, weight: Tensor, bias: Tensor | null = null): SparseTensor {
  const op = 'sparseLinear';
  checkSparse(op, 'x', x);
  if (weight === null || typeof weight !== 'object' || (weight as { isTensor?: boolean }).isTensor !== true) {
    throw new InputValueError(`${op}: weight must be an f32 Tensor [Cin, Cout]; got ${describe(weight)}`);
  }
  checkDType(op, 'weight', weight);
  if (weight.shape.length !== 2 || weight.shape[0] !== x.channels || weight.shape[1]! < 1) {
    throw new ShapeError(
      `${op}: weight has shape ${show(weight.shape)} but x has ${x.channels} channels; weight must be [Cin, Cout] = [${x.channels}, Cout] with Cout ≥ 1`,
    );
  }
  const cout = weight.shape[1]!;
  if (bias !== null) checkChannelVector(op, 'bias', bias, cout);
  const y = linearOp(bias ? [x.feats, weight, bias] : [x.feats, weight], { hasBias: bias !== null })[0]!;
  return x.withFeats(y);
}
