/**
 * GPU recombination (Box / Birks / EMB) as a tape op: electrons escaping
 * recombination per segment, differentiable w.r.t. the segment table (dE, dx,
 * and for EMB the endpoints) and every physics parameter.
 * WGSL: `src/wgsl/drift/recombination.wgsl`; reference: `recombination.reference.ts`.
 *
 * @module
 */
import { InputValueError, show } from '../../errors.js';
import { defineOp } from '../../autodiff/tape.js';
import type { KernelSpec } from '../../runtime/kernel.js';
import { empty, type Tensor } from '../../runtime/tensor.js';
import { wgsl } from '../../wgsl/index.js';
import { type Axis, axisIndex } from './geometry.js';
import { columnSums } from './primitives.js';
import { DEFAULT_RECOMBINATION_OPTIONS, type RecombinationModel } from './recombination.reference.js';
import { PHYSICS_PARAM_COUNT, checkPhysicsTensor, checkSegmentsTensor } from './tensors.js';
import { SEGMENT_STRIDE } from './segments.js';

const WG = 256;
const MODEL_CODE: Record<RecombinationModel, number> = { box: 0, birks: 1, emb: 2 };
const fwdSpec: KernelSpec = { name: 'drift.recombination_forward', source: wgsl('drift/recombination'), entryPoint: 'recombination_forward' };
const bwdSpec: KernelSpec = { name: 'drift.recombination_backward', source: wgsl('drift/recombination'), entryPoint: 'recombination_backward' };

/** Options of {@link recombination}. */
export interface GpuRecombinationOptions {
  /** 'box' (default), 'birks' or 'emb'. */
  model?: RecombinationModel;
  /** Drift axis, for the EMB angle (default 'z'). */
  driftAxis?: Axis;
  /** dE/dx assumed for dx = 0, MeV/cm (default 2.1). */
  pointDEdx_MeV_per_cm?: number;
}

interface RecAttrs {
  model: number;
  axis: number;
  pointDEdx: number;
}

function uniforms(n: number, a: RecAttrs): Record<string, number> {
  return { n, model: a.model, drift_axis: a.axis, point_dedx: a.pointDEdx };
}

const recombinationOp = defineOp<RecAttrs>({
  name: 'drift.recombination',
  forward: ([seg, phys], attrs, saver) => {
    saver.save(seg!, phys!);
    const ctx = seg!.ctx;
    const n = seg!.shape[0]!;
    const electrons = empty(ctx, [n], 'f32', { label: 'drift.electrons' });
    ctx.run(fwdSpec, { seg: seg!, phys: phys!, electrons, params: uniforms(n, attrs) }, ctx.grid(n, WG));
    return electrons;
  },
  vjp: ({ gradOutputs: [g], saved: [seg, phys], attrs, needsGrad }) => {
    const ctx = seg!.ctx;
    const n = seg!.shape[0]!;
    const gseg = empty(ctx, [n, SEGMENT_STRIDE]);
    const gpart = empty(ctx, [n, PHYSICS_PARAM_COUNT]);
    ctx.run(bwdSpec, { seg: seg!, phys: phys!, g: g!, gseg, gpart, params: uniforms(n, attrs) }, ctx.grid(n, WG));
    const gphys = needsGrad[1] ? columnSums(gpart, n, PHYSICS_PARAM_COUNT) : null;
    return [needsGrad[0] ? gseg : null, gphys];
  },
});

/**
 * Electrons escaping recombination per segment, n_e = R(dE/dx, cos²φ)·dE/W_ion
 * (Box, Birks or EMB; see docs/drift.md), as an f32 [n] tensor (electrons).
 * Differentiable w.r.t. `segments` (dE MeV⁻¹, dx cm⁻¹, EMB endpoints cm⁻¹) and
 * `physics` (Ab, kb, birksA, birksK, embR, eField, density, wIon); the
 * parameter gradients are fixed-order column sums over segments.
 *
 * @param segments f32 [n, 11] packed segments ({@link segmentsTensor})
 * @param physics f32 [15] physics parameters ({@link physicsTensor})
 */
export function recombination(segments: Tensor, physics: Tensor, options: GpuRecombinationOptions = {}): Tensor {
  checkSegmentsTensor('recombination', segments);
  checkPhysicsTensor('recombination', physics);
  const model = options.model ?? 'box';
  if (!(model in MODEL_CODE)) throw new InputValueError(`recombination: model = ${show(model)}; use 'box', 'birks' or 'emb'`);
  const pointDEdx = options.pointDEdx_MeV_per_cm ?? DEFAULT_RECOMBINATION_OPTIONS.pointDEdx_MeV_per_cm;
  if (!(pointDEdx >= 0) || !Number.isFinite(pointDEdx)) {
    throw new InputValueError(`recombination: pointDEdx_MeV_per_cm = ${show(pointDEdx)} must be a finite dE/dx ≥ 0 in MeV/cm (default 2.1)`);
  }
  return recombinationOp([segments, physics], { model: MODEL_CODE[model], axis: axisIndex(options.driftAxis ?? 'z'), pointDEdx })[0]!;
}
