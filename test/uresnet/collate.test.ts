// Host-side helpers of the models family: configuration, collation, metrics (no GPU).
import { describe, expect, it } from 'vitest';
import { InputValueError, ShapeError } from '../../src/errors.js';
import { collateEvents, resolveUResNetConfig, segmentationMetrics, uresnetPlanes, URESNET_DEFAULTS } from '../../src/models/index.js';

describe('configuration', () => {
  it('defaults to lartpc_mlreco3d settings and planes filters·(1…depth)', () => {
    expect(resolveUResNetConfig()).toEqual(URESNET_DEFAULTS);
    expect(URESNET_DEFAULTS).toMatchObject({ depth: 5, filters: 32, reps: 2, leakiness: 0.33, bnEps: 1e-4, bnMomentum: 0.01, numClasses: 5 });
    expect(uresnetPlanes()).toEqual([32, 64, 96, 128, 160]);
    expect(uresnetPlanes({ depth: 3, filters: 8 })).toEqual([8, 16, 24]);
    expect(resolveUResNetConfig({ depth: undefined as unknown as number }).depth).toBe(5);
    expect(() => resolveUResNetConfig({ bnMomentum: 2 })).toThrow(/config\.bnMomentum = 2/);
    expect(() => resolveUResNetConfig({ dim: 4 as 3 })).toThrow(InputValueError);
  });
});

describe('collateEvents', () => {
  const a = { coords: new Int32Array([7, 1, 2, 3, 7, 1, 2, 4]), energy: new Float32Array([0.5, 1.5]), labels: new Int32Array([1, 4]) };
  const b = { coords: new Int32Array([0, 1, 2, 3]), features: new Float32Array([2]), labels: new Int32Array([0]) };

  it('rewrites the batch column, concatenates, and copies without modifying inputs', () => {
    const before = a.coords.slice();
    const r = collateEvents([a, { coords: new Int32Array(0), energy: new Float32Array(0), labels: new Int32Array(0) }, b], { numClasses: 5 });
    expect(Array.from(r.coords)).toEqual([0, 1, 2, 3, 0, 1, 2, 4, 2, 1, 2, 3]);
    expect(Array.from(r.features)).toEqual([0.5, 1.5, 2]);
    expect(Array.from(r.labels!)).toEqual([1, 4, 0]);
    expect(Array.from(r.offsets)).toEqual([0, 2, 2, 3]);
    expect(a.coords).toEqual(before);
    expect(collateEvents([{ coords: a.coords, energy: a.energy }]).labels).toBeNull();
  });

  it('names the event and field of bad input', () => {
    expect(() => collateEvents([a, { ...b, features: new Float32Array(3) }])).toThrow(ShapeError);
    expect(() => collateEvents([a], { inChannels: 2 })).toThrow(/events\[0\]: the model expects 2 input channel/);
    expect(() => collateEvents([{ ...a, features: new Float32Array(2) }])).toThrow(/both features and energy/);
    expect(() => collateEvents([{ ...a, energy: new Float32Array([1, NaN]) }])).toThrow(/events\[0\]: feature value 1 is NaN/);
    expect(() => collateEvents([{ ...a, coords: new Int32Array(5) }])).toThrow(/not a multiple of 4 columns/);
    expect(() => collateEvents([{ ...a, labels: new Int32Array([1]) }])).toThrow(/labels must be an Int32Array of 2/);
    expect(() => collateEvents([a, { ...b, labels: new Int32Array([5]) }], { numClasses: 5 })).toThrow(/events\[1\]\.labels\[0\] = 5/);
    expect(() => collateEvents([{ ...a, labels: new Int32Array([-100, 1]) }], { numClasses: 5 })).not.toThrow();
    expect(() => collateEvents([{ coords: a.coords, energy: a.energy }], { requireLabels: true })).toThrow(/has no labels/);
  });
});

describe('segmentationMetrics', () => {
  it('computes accuracy per class and the confusion matrix, skipping the ignore index', () => {
    const m = segmentationMetrics(new Int32Array([0, 1, 1, 2, 0]), new Int32Array([0, 1, 0, 2, -100]), 4);
    expect(m.accuracy).toBe(3 / 4);
    expect(m.voxels).toBe(4);
    expect(m.classCounts).toEqual([2, 1, 1, 0]);
    expect(m.classAccuracy.slice(0, 3)).toEqual([0.5, 1, 1]);
    expect(m.classAccuracy[3]).toBeNaN();
    expect(m.confusion[0]).toEqual([1, 1, 0, 0]);
    expect(() => segmentationMetrics(new Int32Array(2), new Int32Array(3), 4)).toThrow(ShapeError);
    expect(() => segmentationMetrics(new Int32Array([9]), new Int32Array([0]), 4)).toThrow(InputValueError);
  });
});
