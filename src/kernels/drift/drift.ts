/**
 * GPU drift of quadrature points as a tape op: drift velocity (given, or
 * μ(E, T)·E), drift time, lifetime attenuation and diffusion σ_T, σ_t with σ0.
 * WGSL: `src/wgsl/drift/drift.wgsl`; reference: `drift.reference.ts`.
 *
 * @module
 */
import { ShapeError, show } from '../../errors.js';
import { defineOp } from '../../autodiff/tape.js';
import type { KernelSpec } from '../../runtime/kernel.js';
import { empty, type Tensor } from '../../runtime/tensor.js';
import { wgsl } from '../../wgsl/index.js';
import { checkDType } from '../checks.js';
import { type DetectorGeometry, driftSign, validateGeometry } from './geometry.js';
import { columnSums } from './primitives.js';
import { PHYSICS_PARAM_COUNT, checkPhysicsTensor } from './tensors.js';

const WG = 256;
/** Columns of a point row: [u, v, w, t0, q0]. */
export const POINT_COLUMNS = ['u', 'v', 'w', 't0', 'q0'] as const;
/** Columns of a drifted point row: [u, v, arrival, sigmaT, sigmaTime, charge]. */
export const DRIFTED_COLUMNS = ['u', 'v', 'arrival', 'sigmaT', 'sigmaTime', 'charge'] as const;

const fwdSpec: KernelSpec = { name: 'drift.drift_forward', source: wgsl('drift/drift'), entryPoint: 'drift_forward' };
const bwdSpec: KernelSpec = { name: 'drift.drift_backward', source: wgsl('drift/drift'), entryPoint: 'drift_backward' };

interface DriftAttrs {
  anode: number;
  sgn: number;
}

const driftOp = defineOp<DriftAttrs>({
  name: 'drift.drift',
  forward: ([pts, phys], a, saver) => {
    saver.save(pts!, phys!);
    const ctx = pts!.ctx;
    const m = pts!.shape[0]!;
    const out = empty(ctx, [m, DRIFTED_COLUMNS.length], 'f32', { label: 'drift.drifted' });
    ctx.run(fwdSpec, { phys: phys!, pts: pts!, out, params: { m, anode: a.anode, sgn: a.sgn } }, ctx.grid(m, WG));
    return out;
  },
  vjp: ({ gradOutputs: [g], saved: [pts, phys], attrs: a, needsGrad }) => {
    const ctx = pts!.ctx;
    const m = pts!.shape[0]!;
    const gpts = empty(ctx, [m, POINT_COLUMNS.length]);
    const gpart = empty(ctx, [m, PHYSICS_PARAM_COUNT]);
    ctx.run(bwdSpec, { phys: phys!, pts: pts!, g: g!, gpts, gpart, params: { m, anode: a.anode, sgn: a.sgn } }, ctx.grid(m, WG));
    return [needsGrad[0] ? gpts : null, needsGrad[1] ? columnSums(gpart, m, PHYSICS_PARAM_COUNT) : null];
  },
});

/**
 * Drifts points to the anode of `geometry`. Input rows [u, v, w, t0, q0]
 * (cm, cm, cm, µs, electrons); output f32 [m, 6] rows
 * [u, v, arrival µs, σ_T cm, σ_t µs, charge e⁻] with
 * t_d = s·(w − anode)/v, arrival = t0 + t_d, charge = q0·e^{−t_d/τ},
 * σ_T = √(2 D_T t_d + σ0_T²), σ_t = √(2 D_L t_d + σ0_L²)/v.
 * Differentiable w.r.t. the points and physics (eField, temperature, vDrift,
 * lifetime, dL, dT, sigma0L, sigma0T); parameter gradients are fixed-order
 * column sums over points.
 *
 * @param points f32 [m, 5]
 * @param physics f32 [15] ({@link physicsTensor}); vDrift = 0 derives v from eField and temperature
 */
export function driftPoints(points: Tensor, physics: Tensor, geometry: DetectorGeometry): Tensor {
  checkDType('driftPoints', 'points', points);
  if (points.rank !== 2 || points.shape[1] !== POINT_COLUMNS.length) {
    throw new ShapeError(`driftPoints: points has shape ${show(points.shape)}; it must be [m, 5] with columns ${POINT_COLUMNS.join(', ')}`);
  }
  checkPhysicsTensor('driftPoints', physics);
  validateGeometry(geometry);
  return driftOp([points, physics], { anode: geometry.anode_cm, sgn: driftSign(geometry) })[0]!;
}
