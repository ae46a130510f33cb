// Visibility maps from the GPU propagator: grid order and photon-library
// layout, agreement with the reference run on gridSources, chunk independence,
// the table file format and input validation.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputValueError } from '../../src/errors.js';
import { interpolateVisibilityRef, photonLibraryOffset, voxelCenter } from '../../src/kernels/photon/photon-library.reference.js';
import { parseDetector, withOptics, type DetectorSpec } from '../../src/kernels/photon-mc/detector.js';
import { propagateReference } from '../../src/kernels/photon-mc/propagate.reference.js';
import { gridSources } from '../../src/kernels/photon-mc/sources.js';
import {
  decodeVisibilityTable,
  encodeVisibilityTable,
  generateVisibilityMap,
  loadVisibilityTable,
  saveVisibilityTable,
  visibilityTableToLibrary,
  type VisibilityTable,
} from '../../src/kernels/photon-mc/visibility-map.js';
import { testGpu } from '../helpers/gpu.js';

const cubeJson = readFileSync(new URL('../../examples/detectors/cube.json', import.meta.url), 'utf8');
const twoByTwoJson = readFileSync(new URL('../../examples/detectors/2x2-like.json', import.meta.url), 'utf8');

function f32Bits(a: Float32Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

describe('generateVisibilityMap', () => {
  it('writes the photon-library layout (x slowest) from x-fastest grid sources, matching the reference', async () => {
    const ctx = await testGpu();
    // Default optics (scattering + absorption); an anisotropic grid so that a transposed order cannot pass.
    const det = parseDetector(cubeJson);
    const grid = [3, 2, 4] as const;
    const n = 4000;
    const table = await generateVisibilityMap(ctx, det, { grid, photonsPerSource: n, seed: 4 });
    const np = det.photodetectors.length;
    expect(table.meta).toEqual({ min: [-50, -50, -50], max: [50, 50, 50], shape: [3, 2, 4], numPhotodetectors: np });
    expect(table.data.length).toBe(3 * 2 * 4 * np);
    expect(table.photodetectors).toEqual(det.photodetectors.map((p) => p.name));
    const src = gridSources(det, 0, grid);
    const ref = propagateReference(det, src, { photonsPerSource: n, seed: 4 });
    const lib = visibilityTableToLibrary(table);
    let entries = 0;
    let exact = 0;
    const [nx, ny, nz] = grid;
    for (let ix = 0; ix < nx; ix++) {
      for (let iy = 0; iy < ny; iy++) {
        for (let iz = 0; iz < nz; iz++) {
          const s = ix + nx * (iy + ny * iz);
          // The library's voxel centre is the reference's source position.
          expect(voxelCenter(lib.meta, ix, iy, iz)).toEqual([...src.positions.subarray(3 * s, 3 * s + 3)]);
          const at = voxelCenter(lib.meta, ix, iy, iz);
          const looked = interpolateVisibilityRef(lib, Float64Array.from(at));
          for (let d = 0; d < np; d++) {
            const v = table.data[photonLibraryOffset(lib.meta, ix, iy, iz, d)]!;
            // Interpolation at a voxel centre returns that voxel's value.
            expect(looked[d]).toBeCloseTo(v, 7);
            const gpuCount = Math.round(v * n);
            const refCount = ref.detected[s * np + d]!;
            // Borderline f32 flips aside, the counts are the reference's (see propagate-gpu.test.ts).
            expect(Math.abs(gpuCount - refCount)).toBeLessThanOrEqual(2);
            if (gpuCount === refCount) exact++;
            entries++;
          }
        }
      }
    }
    expect(exact / entries).toBeGreaterThan(0.98);
  });

  it('covers every photodetector of the detector; those of other volumes see nothing (2x2-like, volume 1)', async () => {
    const ctx = await testGpu();
    const det = parseDetector(twoByTwoJson);
    const table = await generateVisibilityMap(ctx, det, { grid: [2, 3, 2], volume: 1, photonsPerSource: 20_000, seed: 1 });
    expect(table.meta!.min).toEqual([0, -62, -31]);
    expect(table.meta!.max).toEqual([30, 62, 31]);
    expect(table.volume).toBe(1);
    const np = det.photodetectors.length;
    expect(np).toBe(48);
    let inside = 0;
    for (let v = 0; v < 12; v++) {
      for (let d = 0; d < np; d++) {
        const x = table.data[v * np + d]!;
        if (det.photodetectors[d]!.volume === 0) expect(x).toBe(0);
        else inside += x;
      }
    }
    expect(inside).toBeGreaterThan(0);
    // Counts conserve photons per voxel.
    const c = table.counts!;
    for (let s = 0; s < 12; s++) expect(c.detectedTotal[s]! + c.absorbedBulk[s]! + c.absorbedWall[s]! + c.lost[s]!).toBe(20_000);
  });

  it('is bitwise identical for any dispatch size (visibilities and time tables), and deterministic', async () => {
    const ctx = await testGpu();
    const det = parseDetector(cubeJson);
    const base = { grid: [2, 2, 3] as const, photonsPerSource: 5000, seed: 8, timeHistogram: { bins: 10, binWidthNs: 1.5 } };
    const tables: VisibilityTable[] = [];
    for (const photonsPerDispatch of [1 << 20, 4999, 5000, 333]) tables.push(await generateVisibilityMap(ctx, det, { ...base, photonsPerDispatch }));
    tables.push(await generateVisibilityMap(ctx, det, base));
    const key = (t: VisibilityTable): string => [t.data, t.time!.data, t.time!.underflow, t.time!.overflow].map(f32Bits).join('|');
    for (const t of tables.slice(1)) expect(key(t)).toBe(key(tables[0]!));
    // Time bins, underflow and overflow add up to the visibility.
    const t = tables[0]!;
    const np = det.photodetectors.length;
    for (let i = 0; i < t.data.length; i++) {
      let sum = t.time!.underflow[i]! + t.time!.overflow[i]!;
      for (let b = 0; b < 10; b++) sum += t.time!.data[i * 10 + b]!;
      expect(sum).toBeCloseTo(t.data[i]!, 6);
    }
    expect(t.data.length).toBe(12 * np);
  });

  it('point sources keep the given order and carry their positions', async () => {
    const ctx = await testGpu();
    const det = withOptics(parseDetector(cubeJson), { rayleighLengthCm: null, absorptionLengthCm: null });
    const table = await generateVisibilityMap(ctx, det, { points: [[45, 0, 0], [-45, 0, 0]], photonsPerSource: 50_000 });
    expect(table.meta).toBeNull();
    expect(Array.from(table.points!)).toEqual([45, 0, 0, -45, 0, 0]);
    // pd 0 is on x−, pd 1 on x+: each point is close to one of them.
    expect(table.data[0 * 6 + 1]!).toBeGreaterThan(10 * table.data[0 * 6 + 0]!);
    expect(table.data[1 * 6 + 0]!).toBeGreaterThan(10 * table.data[1 * 6 + 1]!);
    expect(() => visibilityTableToLibrary(table)).toThrow(/point-source table has no voxel grid/);
  });

  it('leaves no GPU memory behind', async () => {
    const ctx = await testGpu();
    const before = ctx.stats().liveBytes;
    await generateVisibilityMap(ctx, parseDetector(cubeJson), { grid: [1, 1, 2], photonsPerSource: 100, timeHistogram: { bins: 3, binWidthNs: 1 } });
    expect(ctx.stats().liveBytes).toBe(before);
  });
});

describe('visibility table files', () => {
  it('round-trip bit for bit (grid with time table, and points)', async () => {
    const ctx = await testGpu();
    const det = parseDetector(cubeJson);
    const grid = await generateVisibilityMap(ctx, det, { grid: [2, 1, 2], photonsPerSource: 2000, seed: 3, timeHistogram: { bins: 5, binWidthNs: 2 } });
    const points = await generateVisibilityMap(ctx, det, { points: [[1, 2, 3]], photonsPerSource: 2000 });
    const dir = mkdtempSync(join(tmpdir(), 'ghostgrad-vt-'));
    try {
      for (const t of [grid, points]) {
        const path = join(dir, 'table.ggvt');
        await saveVisibilityTable(path, t);
        const back = await loadVisibilityTable(path);
        expect(f32Bits(back.data)).toBe(f32Bits(t.data));
        expect(back.meta).toEqual(t.meta);
        expect(back.points).toEqual(t.points);
        expect(back.photodetectors).toEqual(t.photodetectors);
        expect([back.photonsPerSource, back.seed, back.maxSteps, back.detector, back.volume]).toEqual([t.photonsPerSource, t.seed, t.maxSteps, t.detector, t.volume]);
        expect(back.counts).toBeNull();
        if (t.time) {
          expect(f32Bits(back.time!.data)).toBe(f32Bits(t.time.data));
          expect(f32Bits(back.time!.overflow)).toBe(f32Bits(t.time.overflow));
        } else {
          expect(back.time).toBeNull();
        }
      }
      // Layout on disk: magic, header length, JSON header, little-endian f32 payload.
      const bytes = encodeVisibilityTable(grid);
      expect(new TextDecoder().decode(bytes.subarray(0, 8))).toBe('GGVTAB1\n');
      const h = new DataView(bytes.buffer).getUint32(8, true);
      expect(h % 4).toBe(0);
      const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + h))) as { sections: { name: string }[] };
      expect(header.sections.map((s) => s.name)).toEqual(['visibility', 'time', 'timeUnderflow', 'timeOverflow']);
      expect(new DataView(bytes.buffer).getFloat32(12 + h + 4, true)).toBe(grid.data[1]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects foreign, truncated and future files', async () => {
    const ctx = await testGpu();
    const t = await generateVisibilityMap(ctx, parseDetector(cubeJson), { grid: [1, 1, 1], photonsPerSource: 10 });
    const bytes = encodeVisibilityTable(t);
    expect(() => decodeVisibilityTable(new TextEncoder().encode('P6\n2 2\n255\n\u0000\u0000\u0000\u0000'))).toThrow(/magic/);
    expect(() => decodeVisibilityTable(bytes.subarray(0, bytes.length - 4))).toThrow(/truncated/);
    const h = new DataView(bytes.buffer).getUint32(8, true);
    const text = new TextDecoder().decode(bytes.subarray(12, 12 + h)).replace('"version":1', '"version":9');
    const future = Uint8Array.from(bytes);
    future.set(new TextEncoder().encode(text), 12);
    expect(() => decodeVisibilityTable(future)).toThrow(/header\.version is 9/);
  });
});

describe('generateVisibilityMap rejects bad input', () => {
  const good: DetectorSpec = {
    volumes: [{ min: [0, 0, 0], max: [100, 100, 100] }],
    photodetectors: [{ volume: 0, face: 'x+', shape: 'rectangle', center: [100, 50, 50], size: [20, 20], efficiency: 1 }],
  };
  const spec = (patch: (s: DetectorSpec) => void): DetectorSpec => {
    const s = structuredClone(good) as DetectorSpec;
    patch(s);
    return s;
  };
  const cases: [string, object, RegExp][] = [
    ['malformed field', spec((s) => ((s.photodetectors[0] as { efficiency: number }).efficiency = 1.5)), /photodetectors\[0\]\.efficiency/],
    ['photodetector off its wall', spec((s) => ((s.photodetectors[0] as { center: number[] }).center = [99, 50, 50])), /photodetectors\[0\]\.center.*not on face "x\+"/],
    ['zero-size photodetector', spec((s) => ((s.photodetectors[0] as { size: number[] }).size = [0, 20])), /photodetectors\[0\]\.size\[0\]/],
    ['negative Rayleigh length', spec((s) => (s.optics = { rayleighLengthCm: -3 })), /optics\.rayleighLengthCm/],
    ['empty volume', spec((s) => (s.volumes[0]!.max = [0, 100, 100])), /volumes\[0\]/],
    ['unknown field', { ...good, colour: 'blue' }, /colour/],
  ];
  for (const [name, detector, message] of cases) {
    it(`${name}: the error names the field`, async () => {
      const ctx = await testGpu();
      await expect(generateVisibilityMap(ctx, detector, { grid: [1, 1, 1], photonsPerSource: 10 })).rejects.toThrow(message);
    });
  }

  it('bad options: zero photons, grid and points, bad grid, bad volume', async () => {
    const ctx = await testGpu();
    const det = parseDetector(cubeJson);
    const before = ctx.stats().liveBytes;
    await expect(generateVisibilityMap(ctx, det, { grid: [2, 2, 2], photonsPerSource: 0 })).rejects.toThrow(/zero photons requested/);
    await expect(generateVisibilityMap(ctx, det, { photonsPerSource: 10 })).rejects.toThrow(/give exactly one of them, got neither/);
    await expect(generateVisibilityMap(ctx, det, { grid: [1, 1, 1], points: [[0, 0, 0]], photonsPerSource: 10 })).rejects.toThrow(/got both/);
    await expect(generateVisibilityMap(ctx, det, { grid: [2, 0, 2], photonsPerSource: 10 })).rejects.toThrow(/options\.grid\[1\]: voxel count must be a positive integer, got 0/);
    await expect(generateVisibilityMap(ctx, det, { grid: [2, 2, 2], volume: 3, photonsPerSource: 10 })).rejects.toThrow(/options\.volume: no volume 3/);
    await expect(generateVisibilityMap(ctx, det, { points: [[0, 0, 80]], photonsPerSource: 10 })).rejects.toThrow(/outside every volume/);
    await expect(generateVisibilityMap(ctx, det, { grid: [1, 1, 1], photonsPerSource: 10, photonsPerDispatch: -1 })).rejects.toThrow(InputValueError);
    expect(ctx.stats().liveBytes).toBe(before);
  });
});
