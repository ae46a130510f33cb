/**
 * The full GPU charge chain: recombination → clipping + line quadrature →
 * drift → pixel/tick readout [→ electronics], every stage a tape op, plus
 * the normalised physics-parameter assembly used by fits.
 *
 * @module
 */
import { checkOptionKeys, InputValueError, ShapeError, show } from '../../errors.js';
import { defineOp } from '../../autodiff/tape.js';
import type { GpuContext } from '../../runtime/context.js';
import type { KernelSpec } from '../../runtime/kernel.js';
import { empty, tensor, type Tensor } from '../../runtime/tensor.js';
import { wgsl } from '../../wgsl/index.js';
import { type ChainConfig, type ChainParamName, type ChainParams, DEFAULT_CHAIN_PARAMS, defaultChainConfig } from './chain.reference.js';
import { driftPoints } from './drift.js';
import { activeBox } from './geometry.js';
import { electronics } from './electronics.js';
import type { SparseImage } from './loss.js';
import { type CellBounds, type QuadraturePlan, type ReadoutPlan, pixelReadout, planQuadratureReading, planReadout, readoutStats, samplePoints } from './readout.js';
import type { ReadoutStats, SparsePixelCharge } from './readout.reference.js';
import { recombination } from './recombination.js';
import type { RecombinationModel } from './recombination.reference.js';
import { PHYSICS_PARAM_COUNT, PHYSICS_PARAM_NAMES, checkPhysicsTensor, checkSegmentsTensor, physicsValues, validatePhysicsValues } from './tensors.js';

const assembleSpec: KernelSpec = { name: 'drift.params_assemble', source: wgsl('drift/params'), entryPoint: 'params_assemble' };
const paramsBackSpec: KernelSpec = { name: 'drift.params_backward', source: wgsl('drift/params'), entryPoint: 'params_backward' };

interface AssembleAttrs {
  nominal: Tensor;
  slot: Tensor;
  which: Tensor;
}

const assembleOp = defineOp<AssembleAttrs>({
  name: 'drift.scaledPhysics',
  forward: ([theta], a) => {
    const ctx = theta!.ctx;
    const phys = empty(ctx, [PHYSICS_PARAM_COUNT], 'f32', { label: 'drift.physics' });
    ctx.run(assembleSpec, { theta: theta!, nominal: a.nominal, slot: a.slot, phys }, 1);
    return phys;
  },
  vjp: ({ gradOutputs: [g], inputs: [theta], attrs: a }) => {
    const ctx = theta!.ctx;
    const gtheta = empty(ctx, theta!.shape);
    ctx.run(paramsBackSpec, { nominal: a.nominal, which: a.which, g: g!, gtheta, params: { k: theta!.size } }, 1);
    return [gtheta];
  },
});

/** Normalised parameterisation of the physics tensor for fits. */
export interface ScaledPhysics {
  /** Parameters fitted, in the order of θ. */
  readonly names: readonly ChainParamName[];
  /** Nominal values (θ = 1). */
  readonly nominal: Readonly<ChainParams>;
  /** physics = nominal ⊙ θ on the fitted entries (a tape op: gradients reach θ). */
  apply(theta: Tensor): Tensor;
  /** Frees the nominal/index tensors. */
  dispose(): void;
}

/**
 * Builds physics = nominal·θ for the parameters `names` (others fixed at
 * nominal), so that a fit optimises θ ≈ 1 for every parameter whatever its
 * unit. vDrift may be fitted only with a non-null nominal vDrift.
 */
export function scaledPhysics(
  ctx: GpuContext,
  names: readonly ChainParamName[],
  nominal: Partial<ChainParams> = {},
  options: { model?: RecombinationModel } = {},
): ScaledPhysics {
  checkOptionKeys('scaledPhysics nominal', nominal, Object.keys(DEFAULT_CHAIN_PARAMS));
  checkOptionKeys('scaledPhysics options', options, ['model']);
  const full: ChainParams = { ...DEFAULT_CHAIN_PARAMS, ...nominal };
  const values = physicsValues(full, options.model ?? 'box');
  const slot = new Int32Array(PHYSICS_PARAM_COUNT).fill(-1);
  const which = new Uint32Array(Math.max(1, names.length));
  names.forEach((n, j) => {
    const k = PHYSICS_PARAM_NAMES.indexOf(n);
    if (k < 0) throw new InputValueError(`scaledPhysics: ${show(n)} is not a physics parameter; use one of ${PHYSICS_PARAM_NAMES.join(', ')}`);
    if (slot[k] !== -1) throw new InputValueError(`scaledPhysics: ${show(n)} is listed twice`);
    if (values[k] === 0) throw new InputValueError(`scaledPhysics: nominal ${n} is 0, so it cannot be normalised; give a non-zero nominal value`);
    slot[k] = j;
    which[j] = k;
  });
  const tNominal = tensor(ctx, values);
  const tSlot = tensor(ctx, slot, [PHYSICS_PARAM_COUNT], { dtype: 'i32' });
  const tWhich = tensor(ctx, which, [which.length], { dtype: 'u32' });
  return {
    names: [...names],
    nominal: Object.freeze(full),
    apply(theta: Tensor): Tensor {
      if (theta.dtype !== 'f32' || theta.size !== names.length) {
        throw new ShapeError(`scaledPhysics.apply: theta has shape ${show(theta.shape)} (${theta.dtype}); it must be f32 [${names.length}] (${names.join(', ')})`);
      }
      return assembleOp([theta], { nominal: tNominal, slot: tSlot, which: tWhich })[0]!;
    },
    dispose() {
      tNominal.dispose();
      tSlot.dispose();
      tWhich.dispose();
    },
  };
}

/** Segments tensors already warned about, so that a fit loop warns once, not every iteration. */
const warnedOutside = new WeakSet<Tensor>();

/** Applies `config.onOutside` to the count of segments outside the active volume. */
function reportOutside(segments: Tensor, nOutside: number, c: ChainConfig): void {
  if (nOutside === 0) return;
  const n = segments.shape[0]!;
  const box = activeBox(c.geometry);
  const volume = `the active volume [${box.min.map((v) => v.toFixed(2)).join(', ')}] … [${box.max.map((v) => v.toFixed(2)).join(', ')}] cm (drift axis ${c.geometry.driftAxis})`;
  const what = `${nOutside} of ${n} segment(s) lie wholly outside ${volume}`;
  if (nOutside === n) {
    throw new InputValueError(
      `simulateCharge: all ${what}, so nothing would be read out; check the geometry (defaultGeometry is the 2x2-like default, not your detector) and the segments' frame (driftAxisSwap)`,
    );
  }
  if (c.onOutside === 'error') throw new InputValueError(`simulateCharge: ${what} (config.onOutside: 'error'); they would deposit nothing`);
  if (c.onOutside === 'warn' && !warnedOutside.has(segments)) {
    warnedOutside.add(segments);
    console.warn(`ghostgrad simulateCharge: ${what}; they deposit nothing (config.onOutside: 'drop' silences this, 'error' refuses)`);
  }
}

/** Result of {@link simulateCharge}: a sparse image plus its intermediates. */
export interface SimulatedCharge extends SparseImage {
  /**
   * f32 [E]: collected charge per cell (electrons), or the electronics
   * `value` when `config.electronics` is set. Differentiable.
   */
  readonly values: Tensor;
  /** i32 [E, 3] (pixelX, pixelY, tick), sorted lexicographically, unique. */
  readonly cells: Tensor;
  /** Number of cells E. */
  readonly length: number;
  readonly bounds: CellBounds | null;
  /** f32 [n] electrons after recombination. */
  readonly electrons: Tensor;
  /** f32 [m, 5] quadrature points; f32 [m, 6] drifted points. */
  readonly points: Tensor;
  readonly drifted: Tensor;
  /** f32 [E] collected charge before electronics (= values without electronics). */
  readonly charge: Tensor;
  /** i32 [E] ADC counts when electronics are on, else null. */
  readonly adc: Tensor | null;
  readonly quadraturePlan: QuadraturePlan;
  readonly readoutPlan: ReadoutPlan;
  /** Charge bookkeeping (fixed-order GPU sums, read back). */
  stats(): Promise<ReadoutStats>;
  /** Reads the image back as a host sparse list (values as `charge`). */
  toHost(): Promise<SparsePixelCharge>;
  /** Frees every tensor of the result (call after backward). */
  dispose(): void;
}

/**
 * Runs the GPU chain on packed segments with a physics tensor. Every stage is
 * a tape op, so `backward()` from a loss of `values` reaches `segments` and
 * `physics` (or θ of {@link scaledPhysics}) when they require gradients.
 * Asynchronous because the sparse structure (point and cell counts) is read
 * back between stages: three round trips, (point count, physics values),
 * (readout errors, entry count) and (cell count, bounds). The physics values
 * are validated on the host when they arrive with the point count, before
 * any result exists, so a non-physical tensor costs no round trip of its own.
 *
 * @param segments f32 [n, 11] ({@link segmentsTensor})
 * @param physics f32 [15] ({@link physicsTensor} or {@link scaledPhysics})
 * @throws InputValueError for non-physical parameters (τ ≤ 0, D < 0, …)
 */
export async function simulateCharge(segments: Tensor, physics: Tensor, config: Partial<ChainConfig> = {}): Promise<SimulatedCharge> {
  checkSegmentsTensor('simulateCharge', segments);
  checkPhysicsTensor('simulateCharge', physics);
  const c = defaultChainConfig(config);
  const made: { dispose(): void }[] = [];
  try {
    const electrons = recombination(segments, physics, {
      model: c.model,
      driftAxis: c.geometry.driftAxis,
      pointDEdx_MeV_per_cm: c.pointDEdx_MeV_per_cm,
    });
    made.push(electrons);
    const { plan: qplan, alsoRead: physicsHost } = await planQuadratureReading(segments, electrons, c.geometry, c.readout, physics);
    made.push(qplan);
    validatePhysicsValues(physicsHost!, c.model);
    reportOutside(segments, qplan.nOutside, c);
    const points = samplePoints(segments, electrons, qplan);
    made.push(points);
    const drifted = driftPoints(points, physics, c.geometry);
    made.push(drifted);
    const rplan = await planReadout(drifted, c.geometry, c.readout.nSigma);
    made.push(rplan);
    const charge = pixelReadout(drifted, rplan);
    made.push(charge);
    let values = charge;
    let adc: Tensor | null = null;
    if (c.electronics) {
      const e = electronics(charge, c.electronics, rplan.cells);
      values = e.value;
      adc = e.adc;
      made.push(values, adc);
    }
    const all = [...made];
    return {
      values,
      cells: rplan.cells,
      length: rplan.nCells,
      bounds: rplan.bounds,
      electrons,
      points,
      drifted,
      charge,
      adc,
      quadraturePlan: qplan,
      readoutPlan: rplan,
      stats: () => readoutStats(qplan, drifted, charge),
      async toHost() {
        const cells = await rplan.cells.read();
        const v = await values.readF64();
        const E = rplan.nCells;
        const out = { length: E, pixelX: new Int32Array(E), pixelY: new Int32Array(E), tick: new Int32Array(E), charge: v };
        for (let i = 0; i < E; i++) {
          out.pixelX[i] = cells[3 * i]!;
          out.pixelY[i] = cells[3 * i + 1]!;
          out.tick[i] = cells[3 * i + 2]!;
        }
        return out;
      },
      dispose() {
        for (const t of all) t.dispose();
      },
    };
  } catch (e) {
    for (const t of made) t.dispose();
    throw e;
  }
}
