import { describe, expect, it } from 'vitest';
import { testGpu } from '../helpers/gpu.js';
import { backward, gradcheck, seededRandom, sum, tensor } from '../../src/index.js';
import { type ChainParamName, type ChainParams, defaultGeometry, driftPoints, physicsTensor, scaledPhysics } from '../../src/kernels/drift/index.js';
import { driftBackward, driftForward } from '../../src/reference.js';
import { DRIFT_TABLE, VELOCITY_TABLE } from './cases.js';
import { NOMINAL, bits, host, liveBytes, scaledParams, thetaGrad, type ReferenceOp } from './gpu-helpers.js';

const G = defaultGeometry();

/** Reference of (points [m×5], θ) ↦ drifted [m×6]. */
function reference(nominal: ChainParams, names: readonly ChainParamName[], geometry = G): ReferenceOp<null> {
  const unpack = (d: Float64Array) => {
    const m = d.length / 5;
    const col = (c: number) => Float64Array.from({ length: m }, (_, i) => d[5 * i + c]!);
    return { m, u: col(0), v: col(1), w: col(2), t0: col(3), q0: col(4) };
  };
  return {
    forward([pts, theta]) {
      const p = unpack(pts!.data);
      const r = driftForward(p.w, p.t0, scaledParams(nominal, names, theta!.data), geometry);
      const out = new Float64Array(p.m * 6);
      for (let i = 0; i < p.m; i++) {
        out.set([p.u[i]!, p.v[i]!, r.arrival[i]!, r.sigmaT[i]!, r.sigmaTime[i]!, p.q0[i]! * r.attenuation[i]!], 6 * i);
      }
      return host(out, [p.m, 6]);
    },
    backward([pts, theta], g) {
      const p = unpack(pts!.data);
      const params = scaledParams(nominal, names, theta!.data);
      const fwd = driftForward(p.w, p.t0, params, geometry);
      const col = (c: number) => Float64Array.from({ length: p.m }, (_, i) => g.data[6 * i + c]!);
      const gq = col(5);
      const r = driftBackward(p.w, params, geometry, fwd, {
        arrival: col(2),
        sigmaT: col(3),
        sigmaTime: col(4),
        attenuation: Float64Array.from(gq, (x, i) => x * p.q0[i]!),
      });
      const gp = new Float64Array(p.m * 5);
      for (let i = 0; i < p.m; i++) gp.set([g.data[6 * i]!, g.data[6 * i + 1]!, r.w[i]!, r.t0[i]!, gq[i]! * fwd.attenuation[i]!], 5 * i);
      return [gp, thetaGrad(nominal, names, r.params)];
    },
  };
}

function randomPoints(m: number, seed: number) {
  const rand = seededRandom(seed);
  const d = new Float64Array(m * 5);
  for (let i = 0; i < m; i++) d.set([30 * rand(), 30 * rand(), 0.5 + 29 * rand(), 10 * rand(), 100 + 900 * rand()], 5 * i);
  return host(d, [m, 5]);
}

describe('drift GPU: drift', () => {
  it('mobility velocity matches the BNL/larnd-sim table', async () => {
    const ctx = await testGpu();
    // One point 1 cm from the anode: t_d = 1/v.
    const pts = tensor(ctx, Float32Array.of(1, 1, 1, 0, 1), [1, 5]);
    for (const [E, T, v] of VELOCITY_TABLE) {
      const phys = physicsTensor(ctx, { eField: E, temperature: T });
      const out = driftPoints(pts, phys, G);
      const r = await out.readF64();
      // f32: rational function + pow, ~1e-6 relative.
      expect(Math.abs(1 / r[2]! - v) / v).toBeLessThan(3e-6);
      out.dispose();
      phys.dispose();
    }
    pts.dispose();
  });

  it('drift time, lifetime and diffusion match the larnd-sim formula table', async () => {
    const ctx = await testGpu();
    const t0 = [0, 5, -2];
    const pts = tensor(ctx, Float32Array.from(DRIFT_TABLE.flatMap((row, i) => [1, 2, row[0]!, t0[i]!, 1])), [DRIFT_TABLE.length, 5]);
    const phys = physicsTensor(ctx);
    const out = await driftPoints(pts, phys, G).readF64();
    const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
    DRIFT_TABLE.forEach((row, i) => {
      expect(rel(out[6 * i + 2]!, row[1]! + t0[i]!)).toBeLessThan(3e-6);
      expect(rel(out[6 * i + 5]!, row[2]!)).toBeLessThan(3e-6);
      expect(rel(out[6 * i + 3]!, row[3]!)).toBeLessThan(3e-6);
      expect(rel(out[6 * i + 4]!, row[5]!)).toBeLessThan(3e-6);
    });
    pts.dispose();
    phys.dispose();
  });

  const cases: { label: string; nominal: ChainParams; names: ChainParamName[]; geometry?: typeof G }[] = [
    {
      label: 'mobility velocity, σ0 > 0',
      nominal: { ...NOMINAL, sigma0L: 0.01, sigma0T: 0.02 },
      names: ['eField', 'temperature', 'lifetime', 'dL', 'dT', 'sigma0L', 'sigma0T'],
    },
    {
      label: 'given vDrift, anode at the far side',
      nominal: { ...NOMINAL, vDrift: 0.16 },
      names: ['vDrift', 'lifetime', 'dL', 'dT'],
      geometry: defaultGeometry({ anode_cm: 30.27225, cathode_cm: 0 }),
    },
  ];
  for (const c of cases) {
    it(`gradcheck: ${c.label}`, async () => {
      const ctx = await testGpu();
      const g = c.geometry ?? G;
      const sp = scaledPhysics(ctx, c.names, c.nominal);
      const report = await gradcheck({
        ctx,
        gpu: ([pts, theta]) => driftPoints(pts!, sp.apply(theta!), g),
        reference: reference(c.nominal, c.names, g),
        inputs: [randomPoints(40, 3), host(new Float64Array(c.names.length).fill(1))],
        attrs: null,
        // Per point a handful of f32 ops (sqrt, exp, one rational function):
        // ~1e-6 relative; parameter sums over 40 points add 40·2⁻²⁴.
        tolerance: { reference: 1e-6, forward: 1e-5, gpu: 3e-5 },
      });
      sp.dispose();
      expect(report.referenceError).toBeLessThan(1e-6);
      expect(report.forwardError).toBeLessThan(1e-5);
      expect(report.gpuError).toBeLessThan(3e-5);
    });
  }

  it('is bitwise deterministic and leak-free', async () => {
    const ctx = await testGpu();
    const base = await liveBytes(ctx);
    const pts = randomPoints(3000, 9);
    const once = () =>
      ctx.scope(async () => {
        const p = tensor(ctx, Float32Array.from(pts.data), pts.shape, { requiresGrad: true });
        const phys = physicsTensor(ctx, {}, { requiresGrad: true });
        const out = driftPoints(p, phys, G);
        backward(sum(out));
        return [await bits(out), await bits(p.grad!), await bits(phys.grad!)];
      });
    const a = await once();
    const b = await once();
    a.forEach((x, i) => expect(b[i]).toEqual(x));
    expect(await liveBytes(ctx)).toBe(base);
  });
});
