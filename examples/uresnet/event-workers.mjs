// Generates training events on worker threads, so that a fast GPU does not
// wait for the CPU: a 'default'-preset event (768³, about 6k voxels) takes
// about 50 ms to generate, longer than a GPU training step may take.
// Events depend only on their seed, so the order in which workers finish
// changes nothing: every batch is the same as with synchronous generation.
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { generateEvent } from '../../dist/events/index.js';

/** Event `seed` as a labelled segmentation event (energy in MeV as the one input feature). */
export function segmentationEvent(seed, preset, volume) {
  const e = generateEvent({ preset, ...(volume ? { volumeVoxels: volume } : {}), seed });
  return { coords: e.coords, energy: e.energy, labels: e.labels };
}

/**
 * A source of events by seed. With `workers` > 0 it keeps that many worker
 * threads busy; with 0 (the default where there are 4 cores or fewer, such as
 * a CPU-only machine whose cores run the software GPU) it generates in place.
 */
export function eventSource({ preset, volume, workers = availableParallelism() > 4 ? Math.min(4, availableParallelism() - 2) : 0 }) {
  if (workers <= 0) {
    return { workers: 0, batch: async (seeds) => seeds.map((s) => segmentationEvent(s, preset, volume)), close: async () => {} };
  }
  const pool = Array.from({ length: workers }, () => new Worker(new URL(import.meta.url), { workerData: null }));
  const pending = new Map();
  let next = 0;
  for (const w of pool) {
    w.on('message', ({ seed, event, error }) => {
      const p = pending.get(seed);
      pending.delete(seed);
      if (error) p.reject(new Error(`event ${seed}: ${error}`));
      else p.resolve(event);
    });
    w.on('error', (err) => {
      for (const p of pending.values()) p.reject(err);
      pending.clear();
    });
  }
  const one = (seed) =>
    new Promise((resolve, reject) => {
      pending.set(seed, { resolve, reject });
      pool[next++ % pool.length].postMessage({ seed, preset, volume });
    });
  return {
    workers,
    batch: (seeds) => Promise.all(seeds.map(one)),
    close: () => Promise.all(pool.map((w) => w.terminate())),
  };
}

if (!isMainThread && parentPort) {
  parentPort.on('message', ({ seed, preset, volume }) => {
    try {
      const event = segmentationEvent(seed, preset, volume);
      parentPort.postMessage({ seed, event }, [event.coords.buffer, event.energy.buffer, event.labels.buffer]);
    } catch (e) {
      parentPort.postMessage({ seed, error: String(e?.message ?? e) });
    }
  });
}
