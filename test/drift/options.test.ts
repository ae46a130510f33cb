// Strict options in the drift chain: a misspelt key is an error that names
// it and the nearest valid key, never a silent default (issue: a typo in
// `lifetime` simulated with 2,200 µs).
import { describe, expect, it } from 'vitest';
import { checkOptionKeys, InputValueError, nearestKey } from '../../src/errors.js';
import { defaultChainConfig, defaultGeometry, physicsTensor, resolveReadoutOptions, scaledPhysics } from '../../src/kernels/drift/index.js';
import { electronicsForward } from '../../src/reference.js';
import { testGpu } from '../helpers/gpu.js';

describe('option keys', () => {
  it('nearestKey finds typos, swaps and case slips, and nothing for unrelated words', () => {
    expect(nearestKey('lifetme', ['lifetime', 'eField'])).toBe('lifetime');
    expect(nearestKey('geometery', ['model', 'geometry', 'readout'])).toBe('geometry');
    expect(nearestKey('pixelPitch', ['pixelPitch_cm', 'tick_us'])).toBe('pixelPitch_cm');
    expect(nearestKey('nSgima', ['nSigma'])).toBe('nSigma');
    expect(nearestKey('LIFETIME', ['lifetime'])).toBe('lifetime');
    expect(nearestKey('banana', ['lifetime', 'eField'])).toBeNull();
  });

  it('checkOptionKeys names the key, the suggestion and the valid keys, and refuses non-objects', () => {
    expect(() => checkOptionKeys('f options', { lifetme: 5 }, ['lifetime'])).toThrow(
      'f options: unknown option "lifetme" (did you mean "lifetime"?); the options are lifetime',
    );
    expect(() => checkOptionKeys('f options', { zzz: 1 }, ['lifetime'])).toThrow('f options: unknown option "zzz"; the options are lifetime');
    expect(() => checkOptionKeys('f options', 5, ['lifetime'])).toThrow(InputValueError);
    expect(() => checkOptionKeys('f options', [1], ['lifetime'])).toThrow(InputValueError);
    expect(() => checkOptionKeys('f options', undefined, ['lifetime'])).not.toThrow();
  });

  it('every drift entry point refuses misspelt keys with a suggestion', async () => {
    const ctx = await testGpu();
    expect(() => physicsTensor(ctx, { lifetme: 5 } as never)).toThrow(/physicsTensor params: unknown option "lifetme" \(did you mean "lifetime"\?\)/);
    expect(() => physicsTensor(ctx, {}, { requiresGrd: true } as never)).toThrow(/did you mean "requiresGrad"/);
    expect(() => scaledPhysics(ctx, ['lifetime'], { lifetim: 5 } as never)).toThrow(/scaledPhysics nominal: unknown option "lifetim"/);
    expect(() => defaultGeometry({ pixelPitch: 0.2 } as never)).toThrow(/defaultGeometry overrides: unknown option "pixelPitch" \(did you mean "pixelPitch_cm"\?\)/);
    expect(() => defaultChainConfig({ geometery: defaultGeometry() } as never)).toThrow(/chain config: unknown option "geometery" \(did you mean "geometry"\?\)/);
    expect(() => resolveReadoutOptions({ nSgima: 3 } as never)).toThrow(/readout options: unknown option "nSgima" \(did you mean "nSigma"\?\)/);
    const empty = { length: 0, pixelX: new Int32Array(0), pixelY: new Int32Array(0), tick: new Int32Array(0), charge: new Float64Array(0) };
    expect(() => electronicsForward(empty, { gain: 4 } as never)).toThrow(/electronics: unknown option "gain"/);
    // Valid keys still work, and the defaults are what they were.
    expect(defaultGeometry({ pixelPitch_cm: 0.2 }).pixelPitch_cm).toBe(0.2);
    const p = physicsTensor(ctx, { lifetime: 5 });
    p.dispose();
  });
});
