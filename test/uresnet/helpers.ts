import { generateEvent } from '../../src/events/index.js';
import type { SegmentationEvent } from '../../src/models/index.js';

/**
 * Small labelled events from the synthetic LArTPC generator: 'small' preset in
 * a 48³ volume, 120–340 voxels each (a few hundred per event keeps a training
 * step around two seconds on lavapipe).
 */
export function smallEvents(count: number, seed = 0, volumeVoxels = 48): SegmentationEvent[] {
  return Array.from({ length: count }, (_, i) => {
    const e = generateEvent({ preset: 'small', volumeVoxels, seed: seed + i });
    return { coords: e.coords, energy: e.energy, labels: e.labels };
  });
}

/** Bits of a float array, for bitwise comparisons. */
export function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}
