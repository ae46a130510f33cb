/**
 * GPU front end on merged pixel–tick charges as a tape op: sigmoid-relaxed
 * threshold and larnd-sim ADC digitisation.
 * WGSL: `src/wgsl/drift/electronics.wgsl`; reference: `electronics.reference.ts`.
 *
 * @module
 */
import { InputValueError } from '../../errors.js';
import { defineOp } from '../../autodiff/tape.js';
import type { KernelSpec } from '../../runtime/kernel.js';
import { empty, type Tensor } from '../../runtime/tensor.js';
import { wgsl } from '../../wgsl/index.js';
import { checkDType } from '../checks.js';
import { DEFAULT_ELECTRONICS_PARAMS, type ElectronicsParams, validateElectronicsParams } from './electronics.reference.js';

const WG = 256;
const fwdSpec: KernelSpec = { name: 'drift.electronics_forward', source: wgsl('drift/electronics'), entryPoint: 'electronics_forward' };
const bwdSpec: KernelSpec = { name: 'drift.electronics_backward', source: wgsl('drift/electronics'), entryPoint: 'electronics_backward' };

type Uniforms = Record<string, number>;

const electronicsOp = defineOp<{ u: Uniforms }>({
  name: 'drift.electronics',
  forward: ([q], { u }, saver) => {
    saver.save(q!);
    const ctx = q!.ctx;
    const value = empty(ctx, q!.shape, 'f32', { label: 'drift.electronics.value' });
    const adc = empty(ctx, q!.shape, 'i32', { label: 'drift.electronics.adc' });
    ctx.run(fwdSpec, { q: q!, value, adc, params: u }, ctx.grid(q!.size, WG));
    return [value, adc];
  },
  vjp: ({ gradOutputs: [g], saved: [q], attrs: { u } }) => {
    const ctx = q!.ctx;
    const gq = empty(ctx, q!.shape);
    ctx.run(bwdSpec, { q: q!, g: g!, gq, params: u }, ctx.grid(q!.size, WG));
    return [gq];
  },
});

/** Output of {@link electronics}. */
export interface ElectronicsOutput {
  /** f32 [E]: Q_s (electrons) or pedestal-subtracted continuous ADC counts; differentiable. */
  value: Tensor;
  /** i32 [E]: digitised ADC counts (larnd-sim digitize), not differentiable. */
  adc: Tensor;
}

/**
 * LArPix-like front end on merged cell charges (electrons):
 * Q_s = Q·sigmoid((Q − θ)/w) (w = 0: hard step), adc = min(round(max(a, 0)), N − 1)
 * with a = (Q_s·g + V_ped − V_cm)·N/(V_ref − V_cm) (larnd-sim defaults), and the
 * differentiable `value` per `params.output`. Gradient w.r.t. the charges only;
 * the electronics settings are constants here. Integration and noise are
 * CPU-reference features: `integrationTicks` must be 1 and `noiseSeed` null.
 */
export function electronics(charge: Tensor, params: Partial<ElectronicsParams> = {}): ElectronicsOutput {
  checkDType('electronics', 'charge', charge);
  const p: ElectronicsParams = { ...DEFAULT_ELECTRONICS_PARAMS, ...params };
  validateElectronicsParams(p);
  if (p.integrationTicks !== 1) {
    throw new InputValueError(`electronics: integrationTicks = ${p.integrationTicks} is not supported on the GPU; use 1 (or electronicsForward on the CPU)`);
  }
  if (p.noiseSeed !== null) {
    throw new InputValueError(`electronics: noiseSeed = ${p.noiseSeed}: noise is not supported on the GPU; use null (or electronicsForward on the CPU)`);
  }
  const u: Uniforms = {
    e: charge.size,
    apply_threshold: p.applyThreshold ? 1 : 0,
    output_adc: p.output === 'adc' ? 1 : 0,
    adc_counts: p.adcCounts,
    threshold: p.threshold_e,
    width: p.thresholdWidth_e,
    gain: p.gain_mV_per_e,
    v_ref: p.vRef_mV,
    v_cm: p.vCm_mV,
    v_ped: p.vPedestal_mV,
  };
  const [value, adc] = electronicsOp([charge], { u });
  return { value: value!, adc: adc! };
}
