import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InputValueError } from '../../src/errors.js';
import {
  parseDetector,
  validateDetector,
  withOptics,
  type Detector,
  type DetectorSpec,
  type PhotodetectorSpec,
  type Vec3,
  type WallModelSpec,
} from '../../src/kernels/photon-mc/detector.js';
import {
  createPropagationResult,
  propagateChunk,
  propagateReference,
  tracePhoton,
  visibility,
  type PropagationResult,
} from '../../src/kernels/photon-mc/propagate.reference.js';
import { discSolidAngleOnAxis, photodetectorSolidAngle, rectangleSolidAngle } from '../../src/kernels/photon-mc/solid-angle.js';
import { gridSources, pointSources, type SourceSet } from '../../src/kernels/photon-mc/sources.js';
import { binomialPull, chiSquare, chiSquareBound, expectBinomial, midpoint2D } from './helpers.js';

const NO_BULK = { rayleighLengthCm: null, absorptionLengthCm: null } as const;

/** A 100 cm cube centred at the origin with the given photodetectors and walls, no bulk processes by default. */
function cube(photodetectors: PhotodetectorSpec[], faces?: VolumeFaces, optics: DetectorSpec['optics'] = NO_BULK): Detector {
  return validateDetector({
    volumes: [{ min: [-50, -50, -50], max: [50, 50, 50], ...(faces ? { faces } : {}) }],
    optics,
    photodetectors,
  } satisfies DetectorSpec);
}
type VolumeFaces = Partial<Record<'x-' | 'x+' | 'y-' | 'y+' | 'z-' | 'z+', WallModelSpec>>;

function sourcePoint(s: SourceSet, i: number): Vec3 {
  return [s.positions[3 * i]!, s.positions[3 * i + 1]!, s.positions[3 * i + 2]!];
}

/** Conservation: per source detected + absorbed (bulk, wall) + lost = emitted, and Σ_pd detected = detectedTotal. */
function expectConserved(r: PropagationResult): void {
  for (let s = 0; s < r.sourceCount; s++) {
    expect(r.detectedTotal[s]! + r.absorbedBulk[s]! + r.absorbedWall[s]! + r.lost[s]!).toBe(r.emitted[s]);
    let sum = 0;
    for (let p = 0; p < r.photodetectorCount; p++) sum += r.detected[s * r.photodetectorCount + p]!;
    expect(sum).toBe(r.detectedTotal[s]);
  }
}

/** ∫ over an axis-aligned rectangle photodetector of w(r)·cosθ/r² dA / 4π, seen from `p` (midpoint rule). */
function weightedAcceptance(p: Vec3, center: Vec3, axis: 0 | 1 | 2, su: number, sv: number, w: (r: number) => number, n = 300): number {
  const [ua, va] = axis === 0 ? [1, 2] : axis === 1 ? [0, 2] : [0, 1];
  const h = Math.abs(center[axis] - p[axis]);
  return (
    midpoint2D(
      (u, v) => {
        const du = u - p[ua as 0 | 1 | 2];
        const dv = v - p[va as 0 | 1 | 2];
        const r = Math.sqrt(h * h + du * du + dv * dv);
        return (w(r) * h) / (r * r * r);
      },
      center[ua as 0 | 1 | 2] - su / 2,
      center[ua as 0 | 1 | 2] + su / 2,
      center[va as 0 | 1 | 2] - sv / 2,
      center[va as 0 | 1 | 2] + sv / 2,
      n,
    ) /
    (4 * Math.PI)
  );
}

describe('reference propagator against analytic expectations', () => {
  it('no scattering or absorption, absorbing walls: visibility = efficiency · Ω/4π', () => {
    const det = cube([
      { volume: 0, face: 'x+', shape: 'rectangle', center: [50, 0, 0], size: [20, 20], efficiency: 1 },
      { volume: 0, face: 'x-', shape: 'rectangle', center: [-50, 10, -20], size: [30, 10], efficiency: 0.5 },
      { volume: 0, face: 'y+', shape: 'disc', center: [5, 50, 5], radius: 12, efficiency: 0.25 },
      { volume: 0, face: 'z-', shape: 'disc', center: [-30, 30, -50], radius: 8, efficiency: 1 },
      { volume: 0, face: 'z+', shape: 'rectangle', center: [20, -20, 50], size: [40, 25], efficiency: 0.8 },
    ]);
    const src = pointSources(det, [
      [0, 0, 0],
      [10, -20, 30],
      [-35, 25, -40],
    ]);
    const n = 200000;
    const r = propagateReference(det, src, { photonsPerSource: n, seed: 11 });
    expectConserved(r);
    const v = visibility(r);
    // Besides each count, the sum over all (source, photodetector) pairs must agree:
    // a few-% bias common to all of them would show up there first.
    let sumK = 0;
    let sumMean = 0;
    let sumVar = 0;
    for (let s = 0; s < src.count; s++) {
      expect(r.absorbedBulk[s]).toBe(0);
      expect(r.lost[s]).toBe(0);
      for (let p = 0; p < det.photodetectors.length; p++) {
        const expected =
          (det.photodetectors[p]!.efficiency * photodetectorSolidAngle(det, p, sourcePoint(src, s))) / (4 * Math.PI);
        const k = r.detected[s * det.photodetectors.length + p]!;
        expect(v[s * det.photodetectors.length + p]).toBe(k / n);
        expectBinomial(k, n, expected, `source ${s} pd ${p}`);
        sumK += k;
        sumMean += n * expected;
        sumVar += n * expected * (1 - expected);
      }
    }
    expect(Math.abs(sumK - sumMean) / Math.sqrt(sumVar)).toBeLessThan(4);
  });

  it('multi-volume 2x2-like detector: volumes are optically independent, tiles see Ω/4π', () => {
    const two = withOptics(parseDetector(readFileSync('examples/detectors/2x2-like.json', 'utf8')), NO_BULK);
    const src = gridSources(two, 1, [1, 3, 1]);
    const n = 40000;
    const r = propagateReference(two, src, { photonsPerSource: n, seed: 5 });
    expectConserved(r);
    const np = two.photodetectors.length;
    for (let s = 0; s < src.count; s++) {
      for (let p = 0; p < np; p++) {
        const pd = two.photodetectors[p]!;
        const k = r.detected[s * np + p]!;
        if (pd.volume === 0) {
          expect(k, `tile ${pd.name} in the other drift volume`).toBe(0);
        } else {
          const expected = photodetectorSolidAngle(two, p, sourcePoint(src, s)) / (4 * Math.PI);
          expectBinomial(k, n, expected, `source ${s} tile ${pd.name}`);
        }
      }
    }
  });

  it('bulk absorption multiplies straight-path visibility by exp(−r/λ_abs)', () => {
    const center: Vec3 = [50, 0, 0];
    const pds: PhotodetectorSpec[] = [{ volume: 0, face: 'x+', shape: 'rectangle', center: [50, 0, 0], size: [60, 60], efficiency: 1 }];
    const lambda = 60;
    const clear = cube(pds);
    const murky = cube(pds, undefined, { rayleighLengthCm: null, absorptionLengthCm: lambda });
    const src = pointSources(clear, [[-40, 0, 0]]);
    const p = sourcePoint(src, 0);
    const n = 1000000;
    const opts = { photonsPerSource: n, seed: 21 };
    const r0 = propagateReference(clear, src, opts);
    const r1 = propagateReference(murky, src, opts);
    expectConserved(r1);
    const n0 = r0.detected[0]!;
    const n1 = r1.detected[0]!;
    // Same seed ⇒ same directions and same absorption draws: the photons detected
    // with absorption are a subset of those detected without.
    expect(n1).toBeLessThanOrEqual(n0);
    const plain = weightedAcceptance(p, center, 0, 60, 60, () => 1);
    const attenuated = weightedAcceptance(p, center, 0, 60, 60, (r) => Math.exp(-r / lambda));
    expect(plain).toBeCloseTo(rectangleSolidAngle(p, center, 0, 60, 60) / (4 * Math.PI), 7); // quadrature sanity
    const ratio = attenuated / plain;
    // paths are 90 ... 99.5 cm long: the ratio lies between the two exponentials
    expect(ratio).toBeLessThan(Math.exp(-90 / lambda));
    expect(ratio).toBeGreaterThan(Math.exp(-Math.sqrt(90 ** 2 + 2 * 30 ** 2) / lambda));
    // Given the n0 photons aimed at the detector, each survives with exp(−r/λ): binomial in n0.
    expectBinomial(n1, n0, ratio, 'ratio with/without absorption');
    expectBinomial(n1, n, attenuated, 'absolute visibility with absorption');
    expect(r1.absorbedBulk[0]! + r1.absorbedWall[0]! + n1).toBe(n);
    expect(r1.lost[0]).toBe(0);
  });

  it('first segment: P(absorbed) and P(scattered) follow the exponential free paths (maxSteps = 1)', () => {
    const lR = 40;
    const lA = 70;
    const mu = 1 / lR + 1 / lA;
    const det = cube([], undefined, { rayleighLengthCm: lR, absorptionLengthCm: lA });
    const src = pointSources(det, [[10, -20, 5]]);
    const p = sourcePoint(src, 0);
    // E[exp(−μ r_wall)] over isotropic directions = Σ_faces ∫ exp(−μ r) cosθ / (4π r²) dA.
    let escape = 0;
    for (const axis of [0, 1, 2] as const) {
      for (const side of [-50, 50]) {
        const c: [number, number, number] = [0, 0, 0];
        c[axis] = side;
        escape += weightedAcceptance(p, c, axis, 100, 100, (r) => Math.exp(-mu * r), 400);
      }
    }
    const n = 200000;
    // With one segment allowed, a photon that scatters first is still alive: "lost".
    const r = propagateReference(det, src, { photonsPerSource: n, seed: 3, maxSteps: 1 });
    expectConserved(r);
    const interact = 1 - escape;
    expectBinomial(r.absorbedBulk[0]!, n, (interact * (1 / lA)) / mu, 'absorbed before the wall');
    expectBinomial(r.lost[0]!, n, (interact * (1 / lR)) / mu, 'scattered before the wall');
    expectBinomial(r.absorbedWall[0]!, n, escape, 'reached the wall');
  });

  it('scattering in the propagator: angle between successive segments follows (1 + cos²θ)', () => {
    const det = validateDetector({
      volumes: [{ min: [-5000, -5000, -5000], max: [5000, 5000, 5000] }],
      optics: { rayleighLengthCm: 10, absorptionLengthCm: null },
      photodetectors: [],
    });
    const src = pointSources(det, [[0, 0, 0]]);
    const opts = { photonsPerSource: 20000, seed: 6, maxSteps: 2 };
    const bins = 20;
    const hist = new Float64Array(bins);
    for (let i = 0; i < opts.photonsPerSource; i++) {
      const v = tracePhoton(det, src, opts, 0, i).vertices; // emission, scatter 1, scatter 2
      const a = [v[3]! - v[0]!, v[4]! - v[1]!, v[5]! - v[2]!];
      const b = [v[6]! - v[3]!, v[7]! - v[4]!, v[8]! - v[5]!];
      const c = (a[0]! * b[0]! + a[1]! * b[1]! + a[2]! * b[2]!) / (Math.hypot(a[0]!, a[1]!, a[2]!) * Math.hypot(b[0]!, b[1]!, b[2]!));
      hist[Math.min(bins - 1, Math.floor(((c + 1) / 2) * bins))]!++;
    }
    const cdf = (m: number): number => (3 / 8) * (m + (m * m * m) / 3) + 0.5;
    const expected = Array.from({ length: bins }, (_, b) => opts.photonsPerSource * (cdf(-1 + (2 * (b + 1)) / bins) - cdf(-1 + (2 * b) / bins)));
    expect(chiSquare(hist, expected)).toBeLessThan(chiSquareBound(bins - 1));
    // nobody reaches a wall 50 m away in a single segment: all are still alive ("lost") after it
    const r = propagateReference(det, src, { ...opts, maxSteps: 1 });
    expect(r.lost[0]).toBe(opts.photonsPerSource);
  });

  it('specular mirror wall: visibility = (Ω(source) + R·Ω(mirror image)) / 4π', () => {
    const R = 0.7;
    const det = cube(
      [
        { volume: 0, face: 'x+', shape: 'rectangle', center: [50, 5, -5], size: [30, 30], efficiency: 1 },
        { volume: 0, face: 'y+', shape: 'rectangle', center: [-30, 50, 0], size: [20, 20], efficiency: 1 },
      ],
      { 'x-': { model: 'reflecting', reflectivity: R, reflection: 'specular' } },
    );
    const src = pointSources(det, [[-20, 10, 5]]);
    const s = sourcePoint(src, 0);
    const image: Vec3 = [-100 - s[0], s[1], s[2]]; // reflection in the plane x = −50
    const n = 400000;
    const r = propagateReference(det, src, { photonsPerSource: n, seed: 8 });
    expectConserved(r);
    for (let k = 0; k < 2; k++) {
      const expected =
        (photodetectorSolidAngle(det, k, s) + R * photodetectorSolidAngle(det, k, image)) / (4 * Math.PI);
      expectBinomial(r.detected[k]!, n, expected, `pd ${k}`);
      // the mirror term matters: without it the pull would be large
      expect(Math.abs(binomialPull(r.detected[k]!, n, photodetectorSolidAngle(det, k, s) / (4 * Math.PI)))).toBeGreaterThan(8);
    }
  });

  it('Lambertian wall: visibility = direct + R·∫ irradiance × view factor (4-D quadrature)', () => {
    const R = 0.9;
    const det = cube(
      [{ volume: 0, face: 'x+', shape: 'rectangle', center: [50, 0, 0], size: [30, 30], efficiency: 1 }],
      { 'x-': { model: 'reflecting', reflectivity: R, reflection: 'lambertian' } },
    );
    const src = pointSources(det, [[-20, 10, 5]]);
    const s = sourcePoint(src, 0);
    const hs = s[0] + 50; // distance of the source from the diffuse wall
    const L = 100; // wall-to-detector distance
    // fraction of photons reaching the wall at (y, z): hs / (4π r³) dA; from there the
    // diffuse view factor to the detector is ∫ cosθ_C cosθ_D / (π r²) dA_D = ∫ L² / (π r⁴) dA_D.
    const viewFactor = (y: number, z: number): number =>
      midpoint2D(
        (yd, zd) => {
          const q = L * L + (yd - y) ** 2 + (zd - z) ** 2;
          return (L * L) / (Math.PI * q * q);
        },
        -15,
        15,
        -15,
        15,
        16,
      );
    const reflected = midpoint2D(
      (y, z) => {
        const q = hs * hs + (y - s[1]) ** 2 + (z - s[2]) ** 2;
        return (hs / (4 * Math.PI * q * Math.sqrt(q))) * viewFactor(y, z);
      },
      -50,
      50,
      -50,
      50,
      100,
    );
    const direct = photodetectorSolidAngle(det, 0, s) / (4 * Math.PI);
    const n = 400000;
    const r = propagateReference(det, src, { photonsPerSource: n, seed: 9 });
    expectConserved(r);
    expectBinomial(r.detected[0]!, n, direct + R * reflected, 'diffuse + direct');
    expect(Math.abs(binomialPull(r.detected[0]!, n, direct))).toBeGreaterThan(8);
  });

  it('reflecting closed box: P(still alive after M wall hits) = R^M, for both reflection kinds', () => {
    for (const reflection of ['specular', 'lambertian'] as const) {
      const R = 0.9;
      const M = 10;
      const det = validateDetector({
        volumes: [{ min: [0, 0, 0], max: [30, 124, 62] }],
        walls: { model: 'reflecting', reflectivity: R, reflection },
        optics: NO_BULK,
        photodetectors: [],
      });
      const n = 50000;
      const r = propagateReference(det, pointSources(det, [[7, 100, 13]]), { photonsPerSource: n, seed: 2, maxSteps: M });
      expectConserved(r);
      expectBinomial(r.lost[0]!, n, R ** M, `${reflection} lost`);
      expect(r.absorbedBulk[0]).toBe(0);
    }
  });
});

describe('arrival times', () => {
  it('time = path · 1/v_g; histogram, underflow and overflow add up to the detections', () => {
    const det = cube([{ volume: 0, face: 'x+', shape: 'rectangle', center: [50, 0, 0], size: [20, 20], efficiency: 1 }]);
    const inv = det.optics.inverseGroupVelocityNsPerCm;
    expect(inv).toBeCloseTo(7.46 / 100, 12);
    const src = pointSources(det, [[0, 0, 0]]);
    const n = 200000;
    const fine = propagateReference(det, src, {
      photonsPerSource: n,
      seed: 4,
      timeHistogram: { bins: 100, binWidthNs: 0.05 },
    });
    const t = fine.time!;
    expect(t.underflow[0]! + t.overflow[0]!).toBe(0);
    let total = 0;
    for (let b = 0; b < t.bins; b++) {
      const c = t.counts[b]!;
      total += c;
      // all direct paths are 50 ... √(50² + 2·10²) cm long
      if (c > 0) {
        expect((b + 1) * 0.05).toBeGreaterThan(50 * inv);
        expect(b * 0.05).toBeLessThan(Math.sqrt(2700) * inv);
      }
    }
    expect(total).toBe(fine.detected[0]);

    // One bin starting at 3.8 ns: earlier photons travelled r < 3.8/inv, i.e. hit
    // inside a disc of radius √(r² − 50²) on the axis, whose solid angle is exact.
    const tCut = 3.8;
    const coarse = propagateReference(det, src, {
      photonsPerSource: n,
      seed: 4,
      timeHistogram: { bins: 1, binWidthNs: 0.05, startNs: tCut },
    });
    const ct = coarse.time!;
    expect(ct.underflow[0]! + ct.counts[0]! + ct.overflow[0]!).toBe(coarse.detected[0]);
    expect(coarse.detected[0]).toBe(fine.detected[0]); // binning does not change the physics
    const rho = Math.sqrt((tCut / inv) ** 2 - 2500);
    expect(rho).toBeLessThan(10);
    expectBinomial(ct.underflow[0]!, n, discSolidAngleOnAxis(50, rho) / (4 * Math.PI), 'early photons');
    expect(ct.overflow[0]!).toBeGreaterThan(0);
  });

  it('tracePhoton: a direct hit travels the straight source-to-hit distance', () => {
    const det = cube([{ volume: 0, face: 'x+', shape: 'rectangle', center: [50, 0, 0], size: [60, 60], efficiency: 1 }]);
    const src = pointSources(det, [[1, 2, 3]]);
    const opts = { photonsPerSource: 1000, seed: 1 };
    let found = 0;
    for (let i = 0; i < 1000 && found < 5; i++) {
      const tr = tracePhoton(det, src, opts, 0, i);
      if (tr.fate !== 'detected') continue;
      found++;
      expect(tr.vertices.length).toBe(6);
      expect(tr.vertices[3]).toBe(50);
      const d = Math.hypot(tr.vertices[3]! - 1, tr.vertices[4]! - 2, tr.vertices[5]! - 3);
      expect(tr.pathCm).toBeCloseTo(d, 10);
      expect(tr.timeNs).toBeCloseTo(d * 0.0746, 10);
      expect(tr.steps).toBe(1);
      expect(tr.photodetector).toBe(0);
    }
    expect(found).toBe(5);
  });
});

describe('reproducibility and bookkeeping', () => {
  const spec = JSON.parse(readFileSync('examples/detectors/2x2-like.json', 'utf8')) as DetectorSpec;
  spec.walls = { model: 'reflecting', reflectivity: 0.5, reflection: 'lambertian' };
  spec.volumes[1]!.faces = { 'x+': { model: 'reflecting', reflectivity: 0.8, reflection: 'specular' } };
  const det = validateDetector(spec); // default optics: Rayleigh 99.1 cm, absorption 20 m
  const src = gridSources(det, 1, [2, 2, 1]);
  const opts = { photonsPerSource: 300, seed: 77, maxSteps: 12, timeHistogram: { bins: 20, binWidthNs: 1 } };

  it('conserves photons: detected + absorbed (bulk, wall) + lost = emitted, with all four outcomes present', () => {
    const r = propagateReference(det, src, { ...opts, photonsPerSource: 3000 });
    expectConserved(r);
    const sum = (a: Uint32Array): number => a.reduce((x, y) => x + y, 0);
    expect(sum(r.detectedTotal)).toBeGreaterThan(0);
    expect(sum(r.absorbedBulk)).toBeGreaterThan(0);
    expect(sum(r.absorbedWall)).toBeGreaterThan(0);
    expect(sum(r.lost)).toBeGreaterThan(0);
    const t = r.time!;
    for (let k = 0; k < r.detected.length; k++) {
      let h = t.underflow[k]! + t.overflow[k]!;
      for (let b = 0; b < t.bins; b++) h += t.counts[k * t.bins + b]!;
      expect(h).toBe(r.detected[k]);
    }
  });

  it('gives identical results for any chunking and chunk order', () => {
    const whole = propagateReference(det, src, opts);
    expectConserved(whole);
    for (const size of [97, 64, 1]) expect(propagateReference(det, src, opts, size)).toEqual(whole);
    // chunks run out of order into one accumulator
    const acc = createPropagationResult(det, src, opts);
    for (const [start, end] of [
      [200, 300],
      [0, 13],
      [13, 200],
    ] as const) {
      propagateChunk(det, src, opts, { start, end }, acc);
    }
    expect(acc).toEqual(whole);
    // and photon by photon via tracePhoton
    const fates = { detected: 0, absorbedBulk: 0, absorbedWall: 0, lost: 0 };
    for (let i = 0; i < 300; i++) fates[tracePhoton(det, src, opts, 2, i).fate]++;
    expect([fates.detected, fates.absorbedBulk, fates.absorbedWall, fates.lost]).toEqual([
      whole.detectedTotal[2],
      whole.absorbedBulk[2],
      whole.absorbedWall[2],
      whole.lost[2],
    ]);
  });

  it('is deterministic in the seed and differs between seeds', () => {
    const a = propagateReference(det, src, opts);
    const b = propagateReference(det, src, opts);
    const c = propagateReference(det, src, { ...opts, seed: 78 });
    expect(a).toEqual(b);
    expect(Array.from(c.detected)).not.toEqual(Array.from(a.detected));
  });
});

describe('run-argument validation', () => {
  const det = cube([{ volume: 0, face: 'x+', shape: 'rectangle', center: [50, 0, 0], size: [20, 20], efficiency: 1 }]);
  const src = pointSources(det, [[0, 0, 0]]);

  function expectError(fn: () => unknown, ...fragments: string[]): void {
    let error: unknown;
    try {
      fn();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InputValueError);
    for (const f of fragments) expect((error as Error).message).toContain(f);
  }

  it('rejects zero or invalid photon counts, seeds, step limits and binnings', () => {
    expectError(() => propagateReference(det, src, { photonsPerSource: 0 }), 'options.photonsPerSource', 'zero photons');
    expectError(() => propagateReference(det, src, { photonsPerSource: -5 }), 'options.photonsPerSource', '-5');
    expectError(() => propagateReference(det, src, { photonsPerSource: 2.5 }), 'options.photonsPerSource', '2.5');
    expectError(() => propagateReference(det, src, { photonsPerSource: 2 ** 32 }), 'options.photonsPerSource');
    expectError(() => propagateReference(det, src, { photonsPerSource: 10, seed: -1 }), 'options.seed', '-1');
    expectError(() => propagateReference(det, src, { photonsPerSource: 10, seed: 2 ** 32 }), 'options.seed');
    expectError(() => propagateReference(det, src, { photonsPerSource: 10, maxSteps: 0 }), 'options.maxSteps', '0');
    expectError(
      () => propagateReference(det, src, { photonsPerSource: 10, timeHistogram: { bins: 0, binWidthNs: 1 } }),
      'options.timeHistogram.bins',
    );
    expectError(
      () => propagateReference(det, src, { photonsPerSource: 10, timeHistogram: { bins: 4, binWidthNs: 0 } }),
      'options.timeHistogram.binWidthNs',
    );
    expectError(() => propagateReference(det, src, { photonsPerSource: 10 }, 0), 'chunkSize', '0');
  });

  it('rejects empty, out-of-range and repeated photon ranges and mismatched accumulators', () => {
    const opts = { photonsPerSource: 10 };
    expectError(() => propagateChunk(det, src, opts, { start: 3, end: 3 }), 'range', 'zero photons');
    expectError(() => propagateChunk(det, src, opts, { start: 5, end: 11 }), 'range', '11');
    expectError(() => propagateChunk(det, src, opts, { start: -1, end: 4 }), 'range', '-1');
    const acc = propagateChunk(det, src, opts, { start: 0, end: 10 });
    expectError(() => propagateChunk(det, src, opts, { start: 0, end: 1 }, acc), 'range', 'more than photonsPerSource');
    expectError(() => propagateChunk(det, src, { photonsPerSource: 10, seed: 1 }, { start: 0, end: 1 }, acc), 'into');
  });

  it('rejects sources outside their volume and bad source specs', () => {
    expectError(() => pointSources(det, [[0, 0, 60]]), 'sources.points[0]', 'outside every volume');
    expectError(() => pointSources(det, []), 'sources.points', 'at least one');
    expectError(() => pointSources(det, [[0, 0, 0]], [3]), 'sources.volumes[0]');
    expectError(() => gridSources(det, 0, [2, 0, 2]), 'sources.divisions[1]', 'positive integer');
    expectError(() => gridSources(det, 1, [1, 1, 1]), 'sources.volume');
    const bad: SourceSet = { count: 1, positions: new Float64Array([0, 0, 70]), volumes: new Uint32Array([0]) };
    expectError(() => propagateReference(det, bad, { photonsPerSource: 10 }), 'sources.positions[2]', 'outside volumes[0]');
    expectError(() => tracePhoton(det, src, { photonsPerSource: 10 }, 0, 10), 'photon', '10');
  });

  it('grid sources sit at voxel centres, x fastest', () => {
    const g = gridSources(det, 0, [2, 1, 4]);
    expect(g.count).toBe(8);
    expect(sourcePoint(g, 0)).toEqual([-25, 0, -37.5]);
    expect(sourcePoint(g, 1)).toEqual([25, 0, -37.5]);
    expect(sourcePoint(g, 2)).toEqual([-25, 0, -12.5]);
  });
});
