import { describe, expect, it } from 'vitest';
import { testGpu } from '../helpers/gpu.js';
import { InputValueError, backward, gradcheck, seededRandom, sum, tensor } from '../../src/index.js';
import { type ChainParamName, DEFAULT_CHAIN_PARAMS, SEGMENT_STRIDE, defaultChainConfig, defaultGeometry, driftPoints, physicsTensor, pixelReadout, planQuadrature, planReadout, samplePoints, scaledPhysics, segmentsFromObjects, segmentsTensor, segmentsToPacked, simulateCharge, type SegmentRecord } from '../../src/kernels/drift/index.js';
import { chainForward, readoutPointsBackward, readoutPointsForward, readoutSegmentsBackward, readoutSegmentsForward } from '../../src/reference.js';
import { NOMINAL, bits, host, liveBytes, packSegmentGrads, scaledParams, thetaGrad, unpackSegments, type ReferenceOp } from './gpu-helpers.js';

const G = defaultGeometry();
const EDGE = G.pixelOrigin_cm[0] + G.nPixels[0] * G.pixelPitch_cm; // 31.038 cm

/** Drifted points [u, v, arrival, σ_T, σ_t, q], some within a few σ of the plane edges. */
function randomDrifted(m: number, seed: number) {
  const rand = seededRandom(seed);
  const d = new Float64Array(m * 6);
  for (let i = 0; i < m; i++) {
    const nearEdge = i % 4 === 0;
    const u = nearEdge ? (i % 8 === 0 ? 0.05 : EDGE - 0.05) + 0.1 * (rand() - 0.5) : 1 + 29 * rand();
    d.set([u, 1 + 29 * rand(), 5 + 100 * rand(), 0.02 + 0.06 * rand(), 0.05 + 0.25 * rand(), 100 + 900 * rand()], 6 * i);
  }
  return host(d, [m, 6]);
}

function pointsOf(d: Float64Array) {
  const m = d.length / 6;
  const col = (c: number) => Float64Array.from({ length: m }, (_, i) => d[6 * i + c]!);
  return { u: col(0), v: col(1), arrival: col(2), sigmaT: col(3), sigmaTime: col(4), charge: col(5) };
}

const N_SIGMA = 8;

const pointReference: ReferenceOp<null> = {
  forward([x]) {
    const r = readoutPointsForward(pointsOf(x!.data), G, N_SIGMA);
    return host(r.charge.charge);
  },
  backward([x], g) {
    const pts = pointsOf(x!.data);
    const fwd = readoutPointsForward(pts, G, N_SIGMA);
    const r = readoutPointsBackward(pts, G, fwd, g.data, N_SIGMA);
    const m = pts.u.length;
    const out = new Float64Array(m * 6);
    for (let i = 0; i < m; i++) out.set([r.u[i]!, r.v[i]!, r.arrival[i]!, r.sigmaT[i]!, r.sigmaTime[i]!, r.charge[i]!], 6 * i);
    return [out];
  },
};

/** Short segments inside, one crossing the cathode, one crossing the plane edge, one fully outside. */
function segmentRows(): SegmentRecord[] {
  return [
    { x_start: 5.1, y_start: 6.2, z_start: 3.3, x_end: 5.5, y_end: 6.0, z_end: 3.6, dE: 0.8, t0: 0 },
    { x_start: 12.0, y_start: 14.1, z_start: 15.2, x_end: 12.1, y_end: 14.4, z_end: 15.0, dE: 0.6, t0: 1.5 },
    { x_start: 20.2, y_start: 9.9, z_start: 29.9, x_end: 20.3, y_end: 10.1, z_end: 30.6, dE: 1.2, t0: 0 },
    { x_start: EDGE - 0.2, y_start: 22.0, z_start: 8.0, x_end: EDGE + 0.2, y_end: 22.1, z_end: 8.1, dE: 0.9, t0: 0 },
    { x_start: 8.0, y_start: 8.0, z_start: 40.0, x_end: 8.2, y_end: 8.0, z_end: 41.0, dE: 0.7, t0: 0 },
  ];
}

describe('drift GPU: pixel readout', () => {
  it('pixelReadout: forward and backward match the reference (gradcheck)', async () => {
    const ctx = await testGpu();
    const inputs = randomDrifted(24, 11);
    const x = tensor(ctx, Float32Array.from(inputs.data), inputs.shape);
    const plan = await planReadout(x, G, N_SIGMA);
    x.dispose();
    const ref = pointReference.forward([{ shape: inputs.shape, data: Float64Array.from(inputs.data, Math.fround) }], null);
    expect(plan.nCells).toBe(ref.data.length);
    const report = await gradcheck({
      ctx,
      gpu: ([p]) => pixelReadout(p!, plan),
      reference: pointReference,
      inputs: [inputs],
      attrs: null,
      // Cells are products of three Φ differences (f32 erfc, 1.2e-7 relative)
      // summed over ≤ 24 points; gradients are φ differences over ≤ ~200 window
      // cells per point, with cancellation between the two edges of a cell:
      // ~1e-5 of the largest entry.
      tolerance: { reference: 1e-5, forward: 2e-5, gpu: 1e-4 },
    });
    plan.dispose();
    expect(report.referenceError).toBeLessThan(1e-5);
    expect(report.forwardError).toBeLessThan(2e-5);
    expect(report.gpuError).toBeLessThan(1e-4);
  });

  it('segments → quadrature → drift → readout: gradcheck incl. clipped segments', async () => {
    const ctx = await testGpu();
    const names: ChainParamName[] = ['eField', 'lifetime', 'dL', 'dT'];
    const opts = { pointsPerSegment: 5, nSigma: N_SIGMA };
    const segs = segmentsFromObjects(segmentRows());
    const elec = Float64Array.from([2.1e4, 1.5e4, 3.0e4, 2.2e4, 1.8e4]);
    const segHost = host(segmentsToPacked(segs, 'float64'), [segs.length, SEGMENT_STRIDE]);
    const segF32 = tensor(ctx, Float32Array.from(segHost.data), segHost.shape);
    const elecF32 = tensor(ctx, Float32Array.from(elec));
    const sp = scaledPhysics(ctx, names, NOMINAL);
    const qplan = await planQuadrature(segF32, elecF32, G, opts);
    const ones = tensor(ctx, Float32Array.from(names, () => 1));
    const drifted = driftPoints(samplePoints(segF32, elecF32, qplan), sp.apply(ones), G);
    const rplan = await planReadout(drifted, G, N_SIGMA);
    const reference: ReferenceOp<null> = {
      forward([s, e, th]) {
        const r = readoutSegmentsForward(unpackSegments(s!.data), e!.data, scaledParams(NOMINAL, names, th!.data), G, opts);
        return host(r.charge.charge);
      },
      backward([s, e, th], g) {
        const ss = unpackSegments(s!.data);
        const r = readoutSegmentsForward(ss, e!.data, scaledParams(NOMINAL, names, th!.data), G, opts);
        const b = readoutSegmentsBackward(r, g.data);
        return [packSegmentGrads(ss.length, b.segments), b.electrons, thetaGrad(NOMINAL, names, b.drift)];
      },
    };
    const report = await gradcheck({
      ctx,
      gpu: ([s, e, th]) => pixelReadout(driftPoints(samplePoints(s!, e!, qplan), sp.apply(th!), G), rplan),
      reference,
      inputs: [segHost, host(elec), host(names.map(() => 1))],
      attrs: null,
      // f32 positions (~1e-6 cm at 30 cm) shift Φ arguments by ~1e-5 σ: cell
      // charges agree to ~1e-5 of the largest; gradients to ~1e-4.
      // The reference-vs-central-difference part probes θ and electrons
      // (≈ 2e4) with one absolute step; its rounding error ε·|f|/h sits near 1e-5.
      tolerance: { reference: 1e-4, forward: 5e-5, gpu: 3e-4 },
    });
    for (const t of [segF32, elecF32, ones, drifted]) t.dispose();
    qplan.dispose();
    rplan.dispose();
    sp.dispose();
    expect(report.referenceError).toBeLessThan(1e-4);
    expect(report.forwardError).toBeLessThan(5e-5);
    expect(report.gpuError).toBeLessThan(3e-4);
  });

  it('conserves charge and counts clipped / outside segments like the reference', async () => {
    const ctx = await testGpu();
    const segs = segmentsFromObjects(segmentRows());
    for (const nSigma of [4, 10]) {
      const config = defaultChainConfig({ geometry: G, readout: { pointsPerSegment: 7, nSigma } });
      const ref = chainForward(segs, DEFAULT_CHAIN_PARAMS, config);
      const seg = segmentsTensor(ctx, segs);
      const phys = physicsTensor(ctx);
      const sim = await simulateCharge(seg, phys, config);
      const st = await sim.stats();
      expect([st.nInside, st.nClipped, st.nOutside, st.nPoints]).toEqual([
        ref.stats.nInside,
        ref.stats.nClipped,
        ref.stats.nOutside,
        ref.stats.nPoints,
      ]);
      expect(st.nOutside).toBe(1);
      expect(st.nClipped).toBe(2);
      const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
      // f32 sums of ≤ a few thousand positive terms: ≤ 1e-5 relative.
      for (const k of ['dETotal_MeV', 'dEActive_MeV', 'electronsProduced', 'electronsActive', 'electronsDrifted', 'electronsCollected'] as const) {
        expect(rel(st[k], ref.stats[k])).toBeLessThan(1e-5);
      }
      // Σ output = the drifted charge landing on the plane (reference's exact collected value).
      const total = (await sim.values.readF64()).reduce((a, b) => a + b, 0);
      expect(rel(total, ref.stats.electronsCollected)).toBeLessThan(1e-5);
      expect(st.electronsOffPlane).toBeGreaterThan(0); // the edge-crossing segment loses charge beyond x = 31.04 cm
      sim.dispose();
      seg.dispose();
      phys.dispose();
    }
  });

  it('is bitwise deterministic, leak-free and NaN-free (zero-length and anode points)', async () => {
    const ctx = await testGpu();
    const rows = [
      ...segmentRows(),
      // zero-length segments: a point deposit (dx = 0) and one lying on the anode (σ = 0)
      { x_start: 15, y_start: 15, z_start: 12, x_end: 15, y_end: 15, z_end: 12, dE: 0.4, dx: 0 },
      { x_start: 16.3, y_start: 3.3, z_start: 0, x_end: 16.3, y_end: 3.3, z_end: 0, dE: 0.5, dx: 0.2 },
    ];
    const segs = segmentsFromObjects(rows);
    const base = await liveBytes(ctx);
    const once = () =>
      ctx.scope(async () => {
        const seg = segmentsTensor(ctx, segs, { requiresGrad: true });
        const phys = physicsTensor(ctx, {}, { requiresGrad: true });
        const sim = await simulateCharge(seg, phys, { geometry: G });
        backward(sum(sim.values));
        const out = [await bits(sim.values), await bits(seg.grad!), await bits(phys.grad!)];
        const finite = [...(await sim.values.read()), ...(await seg.grad!.read()), ...(await phys.grad!.read())].every(Number.isFinite);
        sim.dispose();
        return { out, finite };
      });
    const a = await once();
    const b = await once();
    expect(a.finite).toBe(true);
    a.out.forEach((x, i) => expect(b.out[i]).toEqual(x));
    expect(await liveBytes(ctx)).toBe(base);
  });

  it('rejects arrival times beyond ±2^20 ticks', async () => {
    const ctx = await testGpu();
    const base = await liveBytes(ctx);
    const segs = segmentsFromObjects([{ x_start: 5, y_start: 5, z_start: 5, x_end: 5.1, y_end: 5, z_end: 5, dE: 1, t0: 2e5 }]);
    const seg = segmentsTensor(ctx, segs);
    const phys = physicsTensor(ctx);
    await expect(simulateCharge(seg, phys, { geometry: G })).rejects.toThrow(InputValueError);
    await expect(simulateCharge(seg, phys, { geometry: G })).rejects.toThrow(/2\^20 ticks/);
    seg.dispose();
    phys.dispose();
    expect(await liveBytes(ctx)).toBe(base);
  });
});
