// Geometry and drift physics from larnd-sim's YAML files. The fixtures in
// test/fixtures/larnd-sim-geometry are small files in larnd-sim's formats
// with made-up numbers; the expected values below are worked out by hand
// from larnd-sim's rules (tile extent = channel grid + one pitch, centred;
// offsets swapped x ↔ z into the internal frame; cathode one drift length
// from the anode in the tile orientation's direction).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { testGpu } from '../helpers/gpu.js';
import { InputValueError } from '../../src/errors.js';
import { larndSimGeometry, loadLarndSimGeometry, physicsTensor, segmentsFromObjects, segmentsTensor, simulateCharge } from '../../src/kernels/drift/index.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/larnd-sim-geometry/${name}`, import.meta.url));
const detprop = readFileSync(fixture('two-module.yaml'), 'utf8');
const layout = readFileSync(fixture('two-tile-layout.yaml'), 'utf8');
const p = 0.4434;

afterEach(() => vi.restoreAllMocks());

describe('larndSimGeometry', () => {
  it("builds one TPC per module offset and anode, in larnd-sim's internal frame", () => {
    const d = larndSimGeometry(detprop, layout, { frame: 'larnd-sim' });
    expect(d.pixelPitch_cm).toBeCloseTo(p, 12);
    expect(d.driftLength_cm).toBe(30);
    expect(d.tick_us).toBe(0.1);
    expect(d.tpcs.map((t) => [t.index, t.module, t.anode])).toEqual([[0, 1, 1], [1, 1, 2], [2, 2, 1], [3, 2, 2]]);
    const [t0, t1, t2, t3] = d.tpcs.map((t) => t.geometry);
    expect(t0).toMatchObject({ driftAxis: 'z', anode_cm: -30, cathode_cm: 0, nPixels: [4, 6] });
    expect(t0!.pixelOrigin_cm[0]).toBeCloseTo(-2 * p, 12);
    expect(t0!.pixelOrigin_cm[1]).toBeCloseTo(-20 - 3 * p, 12);
    expect(t1).toMatchObject({ anode_cm: 30, cathode_cm: 0 });
    // Module 2 sits at detector (x, z) = (70, 5): internal z += 70, x += 5.
    expect(t2).toMatchObject({ anode_cm: 40, cathode_cm: 70 });
    expect(t2!.pixelOrigin_cm[0]).toBeCloseTo(5 - 2 * p, 12);
    expect(t3).toMatchObject({ anode_cm: 100, cathode_cm: 70 });
  });

  it('reads the drift physics per module, in ghostgrad units', () => {
    const d = larndSimGeometry(detprop, layout);
    expect(d.tpcs[0]!.physics).toEqual({ eField: 0.5, temperature: 88, lifetime: 1800, dL: 4, dT: 8.8 });
    expect(d.tpcs[3]!.physics.eField).toBe(0.45);
  });

  it('the detector frame (default) drifts along x with pixels along (y, z), matching loadLarndSimSegments', () => {
    const d = larndSimGeometry(detprop, layout);
    const g = d.tpcs[0]!.geometry;
    expect(g).toMatchObject({ driftAxis: 'x', anode_cm: -30, cathode_cm: 0, nPixels: [6, 4] });
    expect(g.pixelOrigin_cm[0]).toBeCloseTo(-20 - 3 * p, 12);
    expect(g.pixelOrigin_cm[1]).toBeCloseTo(-2 * p, 12);
  });

  it('simulating a track inside a TPC with its geometry gives cells and no outside warning', async () => {
    const ctx = await testGpu();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const tpc = larndSimGeometry(detprop, layout).tpcs[0]!;
    // Detector frame: 15 cm from the anode at x = -30, at the pixel plane's centre.
    const segments = segmentsTensor(ctx, segmentsFromObjects([{ x_start: -15, y_start: -20.2, z_start: -0.3, x_end: -14.6, y_end: -19.8, z_end: 0.3, dE: 1.2, dx: 0.8, t0: 0 }]));
    const physics = physicsTensor(ctx, tpc.physics);
    const sim = await simulateCharge(segments, physics, { geometry: tpc.geometry });
    expect(sim.length).toBeGreaterThan(0);
    expect(warn).not.toHaveBeenCalled();
    sim.dispose();
    segments.dispose();
    physics.dispose();
  });

  it('reads the files from paths, and names the file and key of what is wrong', async () => {
    const d = await loadLarndSimGeometry(fixture('two-module.yaml'), fixture('two-tile-layout.yaml'));
    expect(d.tpcs).toHaveLength(4);
    await expect(loadLarndSimGeometry(fixture('missing.yaml'), fixture('two-tile-layout.yaml'))).rejects.toThrow(/cannot read ".*missing\.yaml" \(ENOENT\)/);
    expect(() => larndSimGeometry(detprop.replace(/tpc_offsets:[\s\S]*?tile_map/, 'tile_map'), layout)).toThrow(/detector properties lacks "tpc_offsets"/);
    expect(() => larndSimGeometry(detprop, layout.replace('pixel_pitch: 4.434', 'pixel_pitch: -1'))).toThrow(/pixel layout pixel_pitch = -1 is not a valid number/);
    expect(() => larndSimGeometry(detprop, layout.replace('2: [1, 1, -1]', '2: [-1, 1, -1]'))).toThrow(/tiles of anode 1 have different drift directions/);
    expect(() => larndSimGeometry(detprop, layout.replace('2: [-300.0, 6.651, 0.0]', '2: [-300.0, 7.0, 0.0]'))).toThrow(/not a whole number of 0.4434 cm pixels/);
    expect(() => larndSimGeometry(detprop.replace('e_field: [0.50, 0.45]', 'e_field: [0.5, 0.4, 0.3]'), layout)).toThrow(/e_field lists 3 values for 2 module/);
    expect(() => larndSimGeometry('a: [', layout)).toThrow(InputValueError);
    expect(() => larndSimGeometry(detprop, layout, { frame: 'detector' } as never)).toThrow(/options.frame = "detector"/);
  });
});
