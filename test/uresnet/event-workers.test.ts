// The U-ResNet example's worker-thread event source (examples/uresnet/event-workers.mjs):
// the batches it returns must not depend on how many workers made them.
import { describe, expect, it } from 'vitest';

interface Event {
  coords: Int32Array;
  energy: Float32Array;
  labels: Int32Array;
}
interface EventSource {
  workers: number;
  batch(seeds: number[]): Promise<Event[]>;
  close(): Promise<unknown>;
}
type EventSourceFactory = (o: { preset: string; volume?: number; workers?: number }) => EventSource;

const load = async (): Promise<EventSourceFactory> =>
  ((await import(new URL('../../examples/uresnet/event-workers.mjs', import.meta.url).href)) as { eventSource: EventSourceFactory }).eventSource;

describe('example event workers', () => {
  it('give the same events, in seed order, as generating them in place', async () => {
    const eventSource = await load();
    const inPlace = eventSource({ preset: 'small', volume: 48, workers: 0 });
    const pooled = eventSource({ preset: 'small', volume: 48, workers: 2 });
    try {
      expect(pooled.workers).toBe(2);
      const seeds = [9, 3, 4, 11, 5];
      const [a, b] = await Promise.all([inPlace.batch(seeds), pooled.batch(seeds)]);
      expect(b.length).toBe(seeds.length);
      b.forEach((e, i) => {
        expect(e.coords).toEqual(a[i]!.coords);
        expect(new Uint32Array(e.energy.buffer, e.energy.byteOffset, e.energy.length)).toEqual(
          new Uint32Array(a[i]!.energy.buffer, a[i]!.energy.byteOffset, a[i]!.energy.length),
        );
        expect(e.labels).toEqual(a[i]!.labels);
      });
    } finally {
      await Promise.all([inPlace.close(), pooled.close()]);
    }
  });

  it("reports a generator error with the event's seed", async () => {
    const eventSource = await load();
    const pooled = eventSource({ preset: 'bogus', workers: 1 });
    try {
      await expect(pooled.batch([42])).rejects.toThrow(/event 42: .*preset/);
    } finally {
      await pooled.close();
    }
  });
});
