// GPU photon propagation (src/wgsl/photon-mc/propagate.wgsl) against the
// float64 reference and against analytic expectations.
//
// Agreement with the reference: both draw the same Philox uniforms, so a
// photon's history differs only where f32 rounding (positions, logarithms,
// trigonometry, ~1e-7 relative) moves an event across a boundary: a wall hit
// within ~1e-5 cm of a photodetector edge, a free path within rounding of the
// wall distance, an arrival time at a bin edge. Those flips are rare (none
// were seen in the runs below; the bounds allow 1 in 500 photons), so the
// tests (1) compare fates photon by photon and (2) require every count to
// differ from the reference by no more than the number of photons whose fate
// differed. Statistical checks use binomial σ and a 4σ bound (χ²: mean + 4σ)
// with fixed seeds, so they are deterministic.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InputValueError } from '../../src/errors.js';
import { parseDetector, validateDetector, withOptics, type Detector, type DetectorSpec, type Vec3 } from '../../src/kernels/photon-mc/detector.js';
import { propagateGpu, tracePhotonsGpu, type GpuPropagationResult } from '../../src/kernels/photon-mc/propagate.js';
import { propagateReference, tracePhoton, type PropagationResult } from '../../src/kernels/photon-mc/propagate.reference.js';
import { photodetectorSolidAngle } from '../../src/kernels/photon-mc/solid-angle.js';
import { pointSources } from '../../src/kernels/photon-mc/sources.js';
import { testGpu } from '../helpers/gpu.js';
import { chiSquare, chiSquareBound, expectBinomial, midpoint2D } from './helpers.js';

const NO_BULK = { rayleighLengthCm: null, absorptionLengthCm: null } as const;
const cubeJson = readFileSync(new URL('../../examples/detectors/cube.json', import.meta.url), 'utf8');

/** A 100 cm cube with reflecting walls of both kinds, scattering and absorption on, and photodetectors on four faces. */
function reflectingCube(): Detector {
  return validateDetector({
    name: 'reflecting cube',
    volumes: [
      {
        min: [-50, -50, -50],
        max: [50, 50, 50],
        faces: {
          'x-': { model: 'reflecting', reflectivity: 0.9, reflection: 'specular' },
          'x+': { model: 'reflecting', reflectivity: 0.6, reflection: 'lambertian' },
          'y-': { model: 'reflecting', reflectivity: 0.95, reflection: 'lambertian' },
          'y+': { model: 'reflecting', reflectivity: 0.5, reflection: 'specular' },
        },
      },
    ],
    optics: { rayleighLengthCm: 60, absorptionLengthCm: 500 },
    photodetectors: [
      { volume: 0, face: 'x+', shape: 'rectangle', center: [50, 0, 0], size: [30, 20], efficiency: 0.7 },
      { volume: 0, face: 'z-', shape: 'disc', center: [10, -10, -50], radius: 15, efficiency: 1 },
      { volume: 0, face: 'y-', shape: 'rectangle', center: [-20, -50, 10], size: [20, 40], efficiency: 0.3 },
      { volume: 0, face: 'z+', shape: 'disc', center: [0, 0, 50], radius: 20, efficiency: 0.5 },
    ],
  } satisfies DetectorSpec);
}

function expectConserved(r: GpuPropagationResult): void {
  for (let s = 0; s < r.sourceCount; s++) {
    expect(r.detectedTotal[s]! + r.absorbedBulk[s]! + r.absorbedWall[s]! + r.lost[s]!).toBe(r.emitted[s]);
    let sum = 0;
    for (let p = 0; p < r.photodetectorCount; p++) sum += r.detected[s * r.photodetectorCount + p]!;
    expect(sum).toBe(r.detectedTotal[s]);
  }
}

/** Largest |GPU − reference| over every count array. */
function maxCountDifference(g: GpuPropagationResult, r: PropagationResult): number {
  let worst = 0;
  const pairs: [ArrayLike<number>, ArrayLike<number>][] = [
    [g.emitted, r.emitted],
    [g.detected, r.detected],
    [g.detectedTotal, r.detectedTotal],
    [g.absorbedBulk, r.absorbedBulk],
    [g.absorbedWall, r.absorbedWall],
    [g.lost, r.lost],
  ];
  if (g.time && r.time) pairs.push([g.time.counts, r.time.counts], [g.time.underflow, r.time.underflow], [g.time.overflow, r.time.overflow]);
  for (const [a, b] of pairs) {
    expect(a.length).toBe(b.length);
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  }
  return worst;
}

function bits(a: Float64Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

describe('GPU propagation reproduces the float64 reference', () => {
  const cases: { name: string; det: () => Detector; points: Vec3[]; maxSteps?: number }[] = [
    { name: 'cube.json, default optics (scattering + absorption)', det: () => parseDetector(cubeJson), points: [[0, 0, 0], [20, -30, 35]] },
    { name: 'reflecting walls (specular + Lambertian), scattering, absorption', det: reflectingCube, points: [[-10, 5, 0], [40, 40, -40]] },
    { name: 'photons lost at maxSteps = 4', det: reflectingCube, points: [[0, 0, 0]], maxSteps: 4 },
    {
      name: '2x2-like, both drift volumes',
      det: () => parseDetector(readFileSync(new URL('../../examples/detectors/2x2-like.json', import.meta.url), 'utf8')),
      points: [[-15, 40, 20], [5, -60, -30]],
    },
  ];
  for (const c of cases) {
    it(`${c.name}: fates photon by photon and all counts`, async () => {
      const ctx = await testGpu();
      const det = c.det();
      const src = pointSources(det, c.points);
      const n = 3000;
      const opts = {
        photonsPerSource: n,
        seed: 11,
        timeHistogram: { bins: 20, binWidthNs: 1 },
        ...(c.maxSteps ? { maxSteps: c.maxSteps } : {}),
      };
      const rec = await tracePhotonsGpu(ctx, det, src, opts, { start: 0, end: n }, 0, src.count);
      let differ = 0;
      const pathErr: number[] = [];
      for (let s = 0; s < src.count; s++) {
        for (let p = 0; p < n; p++) {
          const t = tracePhoton(det, src, opts, s, p);
          const i = s * n + p;
          if (t.fateCode !== rec.fate[i] || t.photodetector !== rec.photodetector[i]) differ++;
          else pathErr.push(Math.abs(t.pathCm - rec.pathCm[i]!) / Math.max(1, t.pathCm));
        }
      }
      // Borderline flips only (see the file comment).
      expect(differ).toBeLessThanOrEqual(Math.ceil((src.count * n) / 500));
      // f32 path lengths: rounding (~1e-7 relative per operation) is amplified
      // by successive scatterings and reflections, so the typical photon agrees
      // to ~1e-6 and the worst of thousands to ~1e-3.
      pathErr.sort((a, b) => a - b);
      expect(pathErr[Math.floor(pathErr.length * 0.99)]!).toBeLessThan(1e-5);
      expect(pathErr[pathErr.length - 1]!).toBeLessThan(2e-3);

      const g = await propagateGpu(ctx, det, src, opts);
      const r = propagateReference(det, src, opts);
      expectConserved(g);
      if (c.maxSteps) expect(g.lost[0]).toBeGreaterThan(0);
      // Arrival-time bins may flip too when a path ends within rounding of a bin edge.
      expect(maxCountDifference(g, r)).toBeLessThanOrEqual(differ + Math.ceil((src.count * n) / 1000));
      // The recorded fates add up to the kernel's atomic counters exactly.
      for (let s = 0; s < src.count; s++) {
        const tally = [0, 0, 0, 0];
        for (let p = 0; p < n; p++) tally[rec.fate[s * n + p]!]!++;
        expect([g.detectedTotal[s], g.absorbedBulk[s], g.absorbedWall[s], g.lost[s]]).toEqual(tally);
      }
    });
  }
});

describe('GPU propagation against analytic expectations', () => {
  it('no scattering or absorption, absorbing walls: visibility = efficiency · Ω/4π', async () => {
    const ctx = await testGpu();
    const det = withOptics(
      validateDetector({
        volumes: [{ min: [-50, -50, -50], max: [50, 50, 50] }],
        photodetectors: [
          { volume: 0, face: 'x+', shape: 'rectangle', center: [50, 0, 0], size: [20, 20], efficiency: 1 },
          { volume: 0, face: 'x-', shape: 'rectangle', center: [-50, 10, -20], size: [30, 10], efficiency: 0.5 },
          { volume: 0, face: 'y+', shape: 'disc', center: [5, 50, 5], radius: 12, efficiency: 0.25 },
          { volume: 0, face: 'z-', shape: 'disc', center: [-30, 30, -50], radius: 8, efficiency: 1 },
        ],
      } satisfies DetectorSpec),
      NO_BULK,
    );
    const points: Vec3[] = [[0, 0, 0], [30, -20, 10], [-40, 25, -35]];
    const n = 400_000;
    const g = await propagateGpu(ctx, det, pointSources(det, points), { photonsPerSource: n, seed: 3 });
    expectConserved(g);
    for (let s = 0; s < points.length; s++) {
      expect(g.absorbedBulk[s]).toBe(0);
      for (let p = 0; p < det.photodetectors.length; p++) {
        const expected = (det.photodetectors[p]!.efficiency * photodetectorSolidAngle(det, p, points[s]!)) / (4 * Math.PI);
        expectBinomial(g.detected[s * 4 + p]!, n, expected, `source ${s} pd ${p}`);
      }
    }
  });

  it('absorption only: visibility scales with ⟨exp(−r/λ)⟩ over the photodetector', async () => {
    const ctx = await testGpu();
    const lambda = 40;
    const det = validateDetector({
      volumes: [{ min: [-50, -50, -50], max: [50, 50, 50] }],
      optics: { rayleighLengthCm: null, absorptionLengthCm: lambda },
      photodetectors: [{ volume: 0, face: 'x+', shape: 'rectangle', center: [50, 0, 0], size: [16, 16], efficiency: 1 }],
    } satisfies DetectorSpec);
    const points: Vec3[] = [[40, 0, 0], [0, 5, -5], [-45, 0, 0]];
    const n = 600_000;
    const g = await propagateGpu(ctx, det, pointSources(det, points), { photonsPerSource: n, seed: 5 });
    expectConserved(g);
    for (let s = 0; s < points.length; s++) {
      const [px, py, pz] = points[s]!;
      const h = 50 - px;
      // ∫ exp(−r/λ) cos θ / r² dA / 4π over the 16 × 16 cm square.
      const expected =
        midpoint2D(
          (u, v) => {
            const r = Math.sqrt(h * h + (u - py) ** 2 + (v - pz) ** 2);
            return (Math.exp(-r / lambda) * h) / (r * r * r);
          },
          -8,
          8,
          -8,
          8,
          200,
        ) /
        (4 * Math.PI);
      expectBinomial(g.detected[s]!, n, expected, `source at x = ${px}`);
    }
    // The steep scaling itself: the far source sees ~exp(−85/40) of the near one's flux per solid angle.
    expect(g.detected[2]! / g.detected[0]!).toBeLessThan(0.01);
  });

  it('first Rayleigh scattering angle follows (3/8)(1 + cos²θ)', async () => {
    const ctx = await testGpu();
    const det = validateDetector({
      volumes: [{ min: [-50, -50, -50], max: [50, 50, 50] }],
      optics: { rayleighLengthCm: 5, absorptionLengthCm: null },
      photodetectors: [],
    } satisfies DetectorSpec);
    const n = 200_000;
    // maxSteps = 2: only the first scattering is needed, the rest of each history is cut (counted as lost).
    const rec = await tracePhotonsGpu(ctx, det, pointSources(det, [[0, 0, 0]]), { photonsPerSource: n, seed: 9, maxSteps: 2 }, { start: 0, end: n });
    const bins = 20;
    const observed = new Float64Array(bins);
    let scattered = 0;
    let outOfRange = 0;
    for (const c of rec.firstScatterCos) {
      if (Number.isNaN(c)) continue;
      if (Math.abs(c) > 1 + 1e-6) outOfRange++;
      observed[Math.max(0, Math.min(bins - 1, Math.floor(((c + 1) / 2) * bins)))]!++;
      scattered++;
    }
    expect(outOfRange).toBe(0);
    // The source sits 10 mean free paths from every wall: P(no scatter) ≈ e^-10.
    expect(scattered).toBeGreaterThan(n - 100);
    const cdf = (m: number): number => (3 / 8) * (m + (m * m * m) / 3) + 0.5;
    const expected = Float64Array.from({ length: bins }, (_, b) => scattered * (cdf(-1 + (2 * (b + 1)) / bins) - cdf(-1 + (2 * b) / bins)));
    expect(chiSquare(observed, expected)).toBeLessThan(chiSquareBound(bins - 1));
    const flat = new Float64Array(bins).fill(scattered / bins);
    expect(chiSquare(observed, flat)).toBeGreaterThan(chiSquareBound(bins - 1));
  });
});

describe('GPU propagation: chunking, determinism, resources', () => {
  it('counts are bitwise identical for any photonsPerDispatch, and on repeated runs', async () => {
    const ctx = await testGpu();
    const det = reflectingCube();
    const src = pointSources(det, [[0, 0, 0], [30, 10, -20], [-45, -45, 45]]);
    const base = { photonsPerSource: 20_000, seed: 21, timeHistogram: { bins: 16, binWidthNs: 2, startNs: 1 } };
    const runs: GpuPropagationResult[] = [];
    for (const photonsPerDispatch of [1 << 20, 20_000, 7_777, 64, 50_000]) {
      runs.push(await propagateGpu(ctx, det, src, { ...base, photonsPerDispatch }));
    }
    // Source batches (counters read back into the float64 accumulators after each).
    runs.push(await propagateGpu(ctx, det, src, { ...base, sourcesPerBatch: 1 }));
    runs.push(await propagateGpu(ctx, det, src, { ...base, sourcesPerBatch: 2, photonsPerDispatch: 30_000 }));
    runs.push(await propagateGpu(ctx, det, src, base));
    const key = (r: GpuPropagationResult): string =>
      [r.detected, r.detectedTotal, r.absorbedBulk, r.absorbedWall, r.lost, r.time!.counts, r.time!.underflow, r.time!.overflow].map(bits).join('|');
    for (const r of runs.slice(1)) expect(key(r)).toBe(key(runs[0]!));
    expectConserved(runs[0]!);
    // A different seed gives different counts.
    const other = await propagateGpu(ctx, det, src, { ...base, seed: 22 });
    expect(key(other)).not.toBe(key(runs[0]!));
  });

  it('a dispatch beyond 65 535 workgroups folds into y and gives the same counts', async () => {
    const ctx = await testGpu();
    // Absorbing walls, no bulk processes: one segment per photon keeps 4.5 M photons cheap on lavapipe.
    const det = validateDetector({
      volumes: [{ min: [0, 0, 0], max: [10, 10, 10] }],
      optics: NO_BULK,
      photodetectors: [{ volume: 0, face: 'z+', shape: 'disc', center: [5, 5, 10], radius: 3, efficiency: 0.5 }],
    } satisfies DetectorSpec);
    const src = pointSources(det, [[5, 5, 2]]);
    const n = 4_500_000;
    expect(Math.ceil(n / 64)).toBeGreaterThan(ctx.limits.maxComputeWorkgroupsPerDimension);
    const one = await propagateGpu(ctx, det, src, { photonsPerSource: n, photonsPerDispatch: 1 << 23 });
    const many = await propagateGpu(ctx, det, src, { photonsPerSource: n, photonsPerDispatch: 1 << 20 });
    expect([one.detected[0], one.absorbedWall[0], one.lost[0]]).toEqual([many.detected[0], many.absorbedWall[0], many.lost[0]]);
    expectConserved(one);
    const expected = (0.5 * photodetectorSolidAngle(det, 0, [5, 5, 2])) / (4 * Math.PI);
    expectBinomial(one.detected[0]!, n, expected, 'folded dispatch');
  });

  it('fewer photons per source than a workgroup: workgroups span many sources', async () => {
    const ctx = await testGpu();
    const det = reflectingCube();
    const points: Vec3[] = Array.from({ length: 40 }, (_, i) => [-45 + 2.2 * i, 10 - i, 3 * (i % 7)] as Vec3);
    const src = pointSources(det, points);
    const opts = { photonsPerSource: 37, seed: 2 };
    const g = await propagateGpu(ctx, det, src, opts);
    const r = propagateReference(det, src, opts);
    expectConserved(g);
    // With 1480 photons no borderline flip is expected; allow one.
    expect(maxCountDifference(g, r)).toBeLessThanOrEqual(1);
    const again = await propagateGpu(ctx, det, src, { ...opts, photonsPerDispatch: 100, sourcesPerBatch: 7 });
    expect(bits(again.detected)).toBe(bits(g.detected));
    expect(bits(again.absorbedWall)).toBe(bits(g.absorbedWall));
  });

  it('reports progress up to the total and frees every buffer', async () => {
    const ctx = await testGpu();
    const det = parseDetector(cubeJson);
    const src = pointSources(det, [[0, 0, 0], [1, 2, 3], [-4, 5, 6]]);
    const before = ctx.stats().liveBytes;
    const seen: number[] = [];
    await propagateGpu(ctx, det, src, {
      photonsPerSource: 1000,
      photonsPerDispatch: 2000,
      timeHistogram: { bins: 4, binWidthNs: 5 },
      onProgress: (p) => {
        expect(p.photonsTotal).toBe(3000);
        seen.push(p.photonsDone);
      },
    });
    expect(seen).toEqual([2000, 3000]);
    await tracePhotonsGpu(ctx, det, src, { photonsPerSource: 10 }, { start: 0, end: 10 });
    expect(ctx.stats().liveBytes).toBe(before);
    // Failed validation allocates nothing either.
    await expect(propagateGpu(ctx, det, src, { photonsPerSource: 0 })).rejects.toThrow(InputValueError);
    expect(ctx.stats().liveBytes).toBe(before);
  });
});

describe('GPU propagation rejects bad input', () => {
  it('zero photons, bad dispatch size, bad sources, unvalidated detector', async () => {
    const ctx = await testGpu();
    const det = parseDetector(cubeJson);
    const src = pointSources(det, [[0, 0, 0]]);
    await expect(propagateGpu(ctx, det, src, { photonsPerSource: 0 })).rejects.toThrow(/options\.photonsPerSource: zero photons requested/);
    await expect(propagateGpu(ctx, det, src, { photonsPerSource: 1.5 })).rejects.toThrow(/options\.photonsPerSource/);
    await expect(propagateGpu(ctx, det, src, { photonsPerSource: 10, photonsPerDispatch: 0 })).rejects.toThrow(/options\.photonsPerDispatch/);
    await expect(propagateGpu(ctx, det, src, { photonsPerSource: 10, sourcesPerBatch: 0 })).rejects.toThrow(/options\.sourcesPerBatch/);
    await expect(propagateGpu(ctx, det, src, { photonsPerSource: 10, seed: -1 })).rejects.toThrow(/options\.seed/);
    await expect(propagateGpu(ctx, det, src, { photonsPerSource: 10, timeHistogram: { bins: 4, binWidthNs: 0 } })).rejects.toThrow(
      /options\.timeHistogram\.binWidthNs/,
    );
    const outside = { count: 1, positions: Float64Array.of(0, 0, 70), volumes: Uint32Array.of(0) };
    await expect(propagateGpu(ctx, det, outside, { photonsPerSource: 10 })).rejects.toThrow(/sources\.positions\[2\].*outside volumes\[0\]/);
    const raw = JSON.parse(cubeJson) as Detector;
    await expect(propagateGpu(ctx, raw, src, { photonsPerSource: 10 })).rejects.toThrow(/detector: expected a validated Detector/);
    await expect(tracePhotonsGpu(ctx, det, src, { photonsPerSource: 10 }, { start: 5, end: 5 })).rejects.toThrow(/range:/);
  });
});
