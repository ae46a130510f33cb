import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InputValueError } from '../../src/errors.js';
import {
  DEFAULT_OPTICS,
  faceAxis,
  findVolume,
  parseDetector,
  validateDetector,
  withOptics,
  type DetectorSpec,
} from '../../src/kernels/photon-mc/detector.js';

function cubeSpec(): DetectorSpec {
  return {
    name: 'test cube',
    volumes: [{ min: [0, 0, 0], max: [100, 100, 100] }],
    photodetectors: [
      { volume: 0, face: 'x+', shape: 'rectangle', center: [100, 50, 50], size: [20, 10], efficiency: 0.5 },
      { volume: 0, face: 'z-', shape: 'disc', center: [30, 40, 0], radius: 5, efficiency: 1 },
    ],
  };
}

/** Expect validation of `mutate(cubeSpec())` to throw InputValueError mentioning every fragment. */
function expectRejected(mutate: (s: Record<string, any>) => unknown, ...fragments: string[]): void {
  const spec = structuredClone(cubeSpec()) as unknown as Record<string, any>;
  const replaced = mutate(spec);
  const value = replaced === undefined ? spec : replaced;
  let error: unknown;
  try {
    validateDetector(value);
  } catch (e) {
    error = e;
  }
  expect(error, 'expected an InputValueError').toBeInstanceOf(InputValueError);
  const message = (error as Error).message;
  for (const f of fragments) expect(message).toContain(f);
}

describe('detector: valid descriptions', () => {
  it('applies defaults: optics from Babicz et al., absorbing walls, names', () => {
    const d = validateDetector(cubeSpec());
    expect(d.optics).toEqual(DEFAULT_OPTICS);
    expect(d.optics.refractiveIndex).toBe(1.358);
    expect(d.optics.rayleighLengthCm).toBe(99.1);
    expect(d.optics.absorptionLengthCm).toBe(2000);
    expect(d.optics.inverseGroupVelocityNsPerCm).toBeCloseTo(0.0746, 12);
    expect(d.optics.wavelengthNm).toBe(128);
    expect(d.volumes[0]!.walls.every((w) => w.model === 'absorbing')).toBe(true);
    expect(d.volumes[0]!.name).toBe('volume0');
    expect(d.photodetectors[1]!.name).toBe('pd1');
    expect(d.photodetectors[0]!.axis).toBe(0);
    expect(d.photodetectors[0]!.faceIndex).toBe(1);
  });

  it('resolves detector-, volume- and face-level wall models', () => {
    const spec = cubeSpec();
    spec.walls = { model: 'reflecting', reflectivity: 0.3, reflection: 'lambertian' };
    spec.volumes[0]!.faces = { 'y-': { model: 'reflecting', reflectivity: 1, reflection: 'specular' }, 'z+': { model: 'absorbing' } };
    const d = validateDetector(spec);
    const w = d.volumes[0]!.walls;
    expect(w[0]).toEqual({ model: 'reflecting', reflectivity: 0.3, reflection: 'lambertian' });
    expect(w[2]).toEqual({ model: 'reflecting', reflectivity: 1, reflection: 'specular' });
    expect(w[5]).toEqual({ model: 'absorbing' });
  });

  it('accepts null optics lengths as "process off" and snaps centres onto the plane', () => {
    const spec = cubeSpec();
    spec.optics = { rayleighLengthCm: null, absorptionLengthCm: null };
    spec.photodetectors[0]!.center = [100 + 5e-5, 50, 50];
    const d = validateDetector(spec);
    expect(d.optics.rayleighLengthCm).toBe(Infinity);
    expect(d.optics.absorptionLengthCm).toBe(Infinity);
    expect(d.photodetectors[0]!.center[0]).toBe(100);
    const d2 = withOptics(d, { absorptionLengthCm: 50 });
    expect(d2.optics.absorptionLengthCm).toBe(50);
    expect(d2.optics.rayleighLengthCm).toBe(Infinity);
  });

  it('loads the shipped examples', () => {
    const cube = parseDetector(readFileSync('examples/detectors/cube.json', 'utf8'));
    expect(cube.volumes).toHaveLength(1);
    expect(cube.photodetectors).toHaveLength(6);
    const two = parseDetector(readFileSync('examples/detectors/2x2-like.json', 'utf8'));
    expect(two.volumes).toHaveLength(2);
    expect(two.photodetectors).toHaveLength(48);
    expect(two.name).toContain('not the official geometry');
    // 12 tiles on each side wall (z- and z+) of each drift volume.
    for (const vol of [0, 1]) {
      for (const face of ['z-', 'z+'] as const) {
        expect(two.photodetectors.filter((p) => p.volume === vol && p.face === face)).toHaveLength(12);
      }
    }
    expect(faceAxis('z+')).toBe(2);
    expect(findVolume(two, [-10, 0, 0])).toBe(0);
    expect(findVolume(two, [10, 0, 0])).toBe(1);
    expect(findVolume(two, [40, 0, 0])).toBe(-1);
  });
});

describe('detector: validation errors name the field, the value and the fix', () => {
  it('malformed JSON', () => {
    expect(() => parseDetector('{"volumes": [')).toThrow(InputValueError);
    expect(() => parseDetector('{"volumes": [')).toThrow(/malformed JSON/);
  });

  it('not an object / missing fields / unknown fields', () => {
    expectRejected(() => 42, 'detector', 'JSON object');
    expectRejected((s) => void delete s['volumes'], 'detector.volumes', 'missing');
    expectRejected((s) => void delete s['photodetectors'], 'detector.photodetectors', 'missing');
    expectRejected((s) => void delete s['photodetectors'][0]['efficiency'], 'photodetectors[0].efficiency', 'missing');
    expectRejected((s) => void delete s['photodetectors'][1]['radius'], 'photodetectors[1].radius', 'missing');
    expectRejected((s) => void delete s['volumes'][0]['max'], 'volumes[0].max', 'missing');
    expectRejected((s) => void (s['photodetectors'][0]['efficency'] = 1), 'photodetectors[0].efficency', 'unknown field');
    expectRejected((s) => void (s['photodetectors'][1]['size'] = [1, 1]), 'photodetectors[1].size', 'unknown field');
    expectRejected((s) => void (s['optics'] = { rayleigh: 5 }), 'optics.rayleigh', 'unknown field');
    expectRejected((s) => void (s['units'] = 'mm'), 'units', 'cm');
    expectRejected((s) => void (s['volumes'] = []), 'volumes', 'at least one');
  });

  it('wrong types', () => {
    expectRejected((s) => void (s['volumes'][0]['min'] = [0, '0', 0]), 'volumes[0].min[1]', 'number');
    expectRejected((s) => void (s['volumes'][0]['min'] = [0, 0]), 'volumes[0].min', '[x, y, z]');
    expectRejected((s) => void (s['photodetectors'][0]['center'] = 'middle'), 'photodetectors[0].center', '"middle"');
    expectRejected((s) => void (s['photodetectors'][0]['size'] = 20), 'photodetectors[0].size', 'side lengths');
    expectRejected((s) => void (s['photodetectors'] = {}), 'photodetectors', 'JSON array');
    expectRejected((s) => void (s['photodetectors'][0]['shape'] = 'hexagon'), 'photodetectors[0].shape', '"hexagon"');
    expectRejected((s) => void (s['photodetectors'][0]['face'] = 'w+'), 'photodetectors[0].face', '"w+"', '"x-"');
    expectRejected((s) => void (s['photodetectors'][0]['volume'] = 3), 'photodetectors[0].volume', 'index');
    expectRejected((s) => void (s['photodetectors'][0]['volume'] = 0.5), 'photodetectors[0].volume', '0.5');
    expectRejected((s) => void (s['optics'] = { absorptionLengthCm: 'long' }), 'optics.absorptionLengthCm', 'null');
    expectRejected((s) => void (s['volumes'][0]['min'] = [0, NaN, 0]), 'volumes[0].min[1]', 'NaN');
  });

  it('non-positive lengths', () => {
    expectRejected((s) => void (s['volumes'][0]['max'] = [100, 0, 100]), 'volumes[0].max[1]', 'not positive');
    expectRejected((s) => void (s['volumes'][0]['max'] = [-5, 100, 100]), 'volumes[0].max[0]', 'not positive');
    expectRejected((s) => void (s['photodetectors'][0]['size'] = [0, 10]), 'photodetectors[0].size[0]', 'positive');
    expectRejected((s) => void (s['photodetectors'][0]['size'] = [10, -1]), 'photodetectors[0].size[1]', 'positive');
    expectRejected((s) => void (s['photodetectors'][1]['radius'] = 0), 'photodetectors[1].radius', 'positive');
    expectRejected((s) => void (s['optics'] = { rayleighLengthCm: 0 }), 'optics.rayleighLengthCm', 'positive');
    expectRejected((s) => void (s['optics'] = { absorptionLengthCm: -20 }), 'optics.absorptionLengthCm', '-20');
    expectRejected((s) => void (s['optics'] = { inverseGroupVelocityNsPerCm: 0 }), 'optics.inverseGroupVelocityNsPerCm');
    expectRejected((s) => void (s['optics'] = { wavelengthNm: -128 }), 'optics.wavelengthNm');
    expectRejected((s) => void (s['optics'] = { refractiveIndex: 0.9 }), 'optics.refractiveIndex', '≥ 1');
  });

  it('efficiency and reflectivity outside [0, 1]', () => {
    expectRejected((s) => void (s['photodetectors'][0]['efficiency'] = 1.5), 'photodetectors[0].efficiency', '1.5', '[0, 1]');
    expectRejected((s) => void (s['photodetectors'][1]['efficiency'] = -0.1), 'photodetectors[1].efficiency', '-0.1');
    expectRejected(
      (s) => void (s['walls'] = { model: 'reflecting', reflectivity: 2, reflection: 'specular' }),
      'walls.reflectivity',
      '[0, 1]',
    );
    expectRejected(
      (s) => void (s['volumes'][0]['faces'] = { 'x-': { model: 'reflecting', reflectivity: 0.5, reflection: 'glossy' } }),
      'volumes[0].faces["x-"].reflection',
      '"glossy"',
    );
    expectRejected((s) => void (s['walls'] = { model: 'mirror' }), 'walls.model', '"mirror"');
    expectRejected((s) => void (s['volumes'][0]['faces'] = { 'q+': { model: 'absorbing' } }), 'volumes[0].faces.q+');
  });

  it('photodetectors off the walls', () => {
    // centre not on the face plane
    expectRejected(
      (s) => void (s['photodetectors'][0]['center'] = [99, 50, 50]),
      'photodetectors[0].center',
      'not on face "x+"',
      'x = 100',
    );
    expectRejected((s) => void (s['photodetectors'][1]['face'] = 'z+'), 'photodetectors[1].center', 'z = 100');
    // extending beyond the face
    expectRejected(
      (s) => void (s['photodetectors'][0]['center'] = [100, 95, 50]),
      'photodetectors[0].size[0]',
      'beyond face "x+"',
    );
    expectRejected(
      (s) => void (s['photodetectors'][0]['center'] = [100, 50, 97]),
      'photodetectors[0].size[1]',
      'z ∈ [92, 102]',
    );
    expectRejected((s) => void (s['photodetectors'][1]['center'] = [2, 40, 0]), 'photodetectors[1].radius', 'beyond face "z-"');
  });

  it('overlapping photodetectors and volumes', () => {
    expectRejected(
      (s) =>
        void s['photodetectors'].push({ volume: 0, face: 'x+', shape: 'disc', center: [100, 62, 50], radius: 3, efficiency: 1 }),
      'photodetectors[2]',
      'overlaps photodetectors[0]',
    );
    // touching is fine
    const spec = cubeSpec();
    spec.photodetectors.push({ volume: 0, face: 'x+', shape: 'rectangle', center: [100, 70, 50], size: [20, 10], efficiency: 1 });
    expect(() => validateDetector(spec)).not.toThrow();
    expectRejected(
      (s) => void s['volumes'].push({ min: [50, 50, 50], max: [150, 150, 150] }),
      'volumes[1]',
      'overlaps volumes[0]',
    );
    const spec2 = cubeSpec();
    spec2.volumes.push({ min: [100, 0, 0], max: [130, 100, 100] }); // shares the x = 100 face
    expect(() => validateDetector(spec2)).not.toThrow();
  });
});
