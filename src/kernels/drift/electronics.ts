/**
 * GPU front end on merged pixel–tick charges as a tape op: optional seeded
 * Gaussian noise, causal W-tick integration per pixel, sigmoid-relaxed
 * threshold and larnd-sim ADC digitisation.
 * WGSL: `src/wgsl/drift/electronics.wgsl`; reference: `electronics.reference.ts`.
 *
 * @module
 */
import { InputValueError, ShapeError } from '../../errors.js';
import { defineOp } from '../../autodiff/tape.js';
import type { KernelSpec } from '../../runtime/kernel.js';
import { empty, type Tensor } from '../../runtime/tensor.js';
import { wgsl } from '../../wgsl/index.js';
import { checkDType, checkRank } from '../checks.js';
import { DEFAULT_ELECTRONICS_PARAMS, type ElectronicsParams, validateElectronicsParams } from './electronics.reference.js';

const WG = 256;
const spec = (entryPoint: string): KernelSpec => ({ name: `drift.${entryPoint}`, source: wgsl('drift/electronics'), entryPoint });
const integrateSpec = spec('electronics_integrate');
const integrateBwdSpec = spec('electronics_integrate_backward');
const fwdSpec = spec('electronics_forward');
const bwdSpec = spec('electronics_backward');

type Uniforms = Record<string, number>;

interface Attrs {
  u: Uniforms;
  /** i32 [E,3] sorted cells; non-null when integration or noise is on. */
  cells: Tensor | null;
}

const electronicsOp = defineOp<Attrs>({
  name: 'drift.electronics',
  forward: ([q], { u, cells }, saver) => {
    const ctx = q!.ctx;
    let qInt = q!;
    if (cells) {
      qInt = empty(ctx, q!.shape, 'f32', { label: 'drift.electronics.integrated' });
      ctx.run(integrateSpec, { q: q!, cells, qi: qInt, params: u }, ctx.grid(q!.size, WG));
    }
    const value = empty(ctx, q!.shape, 'f32', { label: 'drift.electronics.value' });
    const adc = empty(ctx, q!.shape, 'i32', { label: 'drift.electronics.adc' });
    ctx.run(fwdSpec, { q: qInt, value, adc, params: u }, ctx.grid(q!.size, WG));
    // The integrated charge is the forward's own intermediate when cells are
    // given: saved, the tape owns it and frees it after backward.
    if (saver.recording) saver.save(qInt);
    else if (cells) qInt.dispose();
    return [value, adc];
  },
  vjp: ({ gradOutputs: [g], saved: [qInt], attrs: { u, cells } }) => {
    const ctx = qInt!.ctx;
    const gInt = empty(ctx, qInt!.shape);
    ctx.run(bwdSpec, { q: qInt!, g: g!, gq: gInt, params: u }, ctx.grid(qInt!.size, WG));
    if (!cells) return [gInt];
    const gq = empty(ctx, qInt!.shape);
    ctx.run(integrateBwdSpec, { gi: gInt, cells, gq, params: u }, ctx.grid(qInt!.size, WG));
    gInt.dispose();
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

/** The float64 bits of a seed as the two Philox key words (low, high). */
export function electronicsNoiseKey(seed: number): [number, number] {
  const w = new Uint32Array(Float64Array.of(seed).buffer);
  return [w[0]!, w[1]!];
}

/**
 * LArPix-like front end on merged cell charges (electrons), aligned with the
 * sorted cell list `cells` (i32 [E,3] (pixelX, pixelY, tick), sorted by
 * (pixelX, pixelY, tick), unique — as `simulateCharge`/`planReadout` make it):
 *
 * 1. noise (when `noiseSeed` ≠ null and `noise_e` > 0): Q ← Q + σ_n·z per
 *    cell, z ~ N(0, 1) from Philox4x32-10 keyed by (seed, pixelX, pixelY,
 *    tick), so it does not depend on the order or number of cells. It equals
 *    the reference's noise in distribution, not bit for bit (the reference
 *    uses a JS PRNG in entry order);
 * 2. integration: Q_int[e] = Σ Q over the cells of the same pixel with tick in
 *    (tick_e − W, tick_e], W = `integrationTicks` (missing ticks add 0). The
 *    output lattice is the input cells: the reference's extra cells
 *    (pixel, tick + k), 0 < k < W, that hold no input charge are not emitted;
 *    on the input cells the values equal the reference's;
 * 3. Q_s = Q_int·sigmoid((Q_int − θ)/w) (w = 0: hard step), adc = min(round(max(a, 0)), N − 1)
 *    with a = (Q_s·g + V_ped − V_cm)·N/(V_ref − V_cm) (larnd-sim defaults), and the
 *    differentiable `value` per `params.output`.
 *
 * Gradient w.r.t. the charges only (noise is additive and passes it through);
 * the electronics settings are constants here. `cells` is needed only when
 * integration (W > 1) or noise is on.
 */
export function electronics(charge: Tensor, params: Partial<ElectronicsParams> = {}, cells: Tensor | null = null): ElectronicsOutput {
  checkDType('electronics', 'charge', charge);
  const p: ElectronicsParams = { ...DEFAULT_ELECTRONICS_PARAMS, ...params };
  validateElectronicsParams(p);
  const noise = p.noiseSeed !== null && p.noise_e > 0;
  const needCells = noise || p.integrationTicks > 1;
  if (needCells) {
    if (!cells) {
      throw new InputValueError(
        `electronics: integrationTicks = ${p.integrationTicks}, noiseSeed = ${p.noiseSeed} need the sorted cell list; pass cells (i32 [E,3], e.g. simulateCharge's cells)`,
      );
    }
    checkDType('electronics', 'cells', cells, 'i32');
    checkRank('electronics', 'cells', cells, 2);
    if (cells.shape[0] !== charge.size || cells.shape[1] !== 3) {
      throw new ShapeError(`electronics: cells has shape [${cells.shape.join(', ')}] but charge has ${charge.size} entries; expected [${charge.size}, 3]`);
    }
  }
  const [seedLo, seedHi] = noise ? electronicsNoiseKey(p.noiseSeed!) : [0, 0];
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
    window_ticks: p.integrationTicks,
    use_noise: noise ? 1 : 0,
    noise_sigma: p.noise_e,
    seed_lo: seedLo,
    seed_hi: seedHi,
  };
  const [value, adc] = electronicsOp([charge], { u, cells: needCells ? cells : null });
  return { value: value!, adc: adc! };
}
