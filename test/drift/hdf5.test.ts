// loadLarndSimSegments: larnd-sim's compound `segments` dataset → Segments.
// The fixture test/fixtures/larnd-sim-segments/segments.h5 was written with
// h5py by the script in that folder's README; the expected values below are
// the ones that script writes. Other files are made on the fly with h5wasm.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import h5wasm from 'h5wasm/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputValueError } from '../../src/errors.js';
import { loadLarndSimSegments } from '../../src/kernels/drift/hdf5.js';

const fixture = fileURLToPath(new URL('../fixtures/larnd-sim-segments/segments.h5', import.meta.url));
const f32 = Math.fround;

let dir = '';
beforeAll(async () => {
  await h5wasm.ready;
  dir = mkdtempSync(join(tmpdir(), 'ghostgrad-hdf5-test-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Writes a file with one compound dataset (columns as a Map) at `name`. */
function writeCompound(file: string, name: string, columns: Map<string, Float32Array | Float64Array | Int32Array | Uint32Array>): string {
  const path = join(dir, file);
  const f = new h5wasm.File(path, 'w');
  try {
    const slash = name.lastIndexOf('/');
    const group = slash > 0 ? f.create_group(name.slice(0, slash)) : f;
    group.create_dataset({ name: name.slice(slash + 1), data: columns });
  } finally {
    f.close();
  }
  return path;
}

/** Three rows with larnd-sim's older spellings (eventID, trackID, pdgId, t0_start). */
function oldStyleColumns(overrides: Record<string, Float32Array> = {}): Map<string, Float32Array | Float64Array | Int32Array | Uint32Array> {
  const cols = new Map<string, Float32Array | Float64Array | Int32Array | Uint32Array>([
    ['eventID', new Uint32Array([4, 4, 5])],
    ['trackID', new Uint32Array([10, 11, 12])],
    ['pdgId', new Int32Array([13, -211, 2212])],
    ['x_start', new Float32Array([1, 2, 3])],
    ['y_start', new Float32Array([0, 0, 0])],
    ['z_start', new Float32Array([-1, -2, -3])],
    ['x_end', new Float32Array([1.5, 2.5, 3.5])],
    ['y_end', new Float32Array([0, 0, 0])],
    ['z_end', new Float32Array([-1, -2, -3])],
    ['dE', new Float32Array([0.25, 0.5, 0.75])],
    ['dx', new Float32Array([0.5, 0.5, 0.5])],
    ['t0_start', new Float64Array([1.5, 1.5, 2.5])],
  ]);
  for (const [k, v] of Object.entries(overrides)) cols.set(k, v);
  return cols;
}

describe('loadLarndSimSegments: larnd-sim fixture', () => {
  it('reads all 32 rows with the fixture values', async () => {
    const { segments: s, eventIds, fields } = await loadLarndSimSegments(fixture);
    expect(s.length).toBe(32);
    expect(fields).toHaveLength(30);
    expect(fields).toEqual(expect.arrayContaining(['event_id', 'traj_id', 'pdg_id', 'x_start', 'dE', 'dx', 't0', 'dEdx', 'n_electrons']));
    expect(Array.from(eventIds!)).toEqual([...Array<number>(20).fill(7), ...Array<number>(12).fill(8)]);

    // row 0: muon step from (-10, 2, 5) to (-9.5, 2, 5.25), dE 1 MeV, t0 0.5 µs
    expect([s.xStart[0], s.yStart[0], s.zStart[0], s.xEnd[0], s.yEnd[0], s.zEnd[0]]).toEqual([-10, 2, 5, -9.5, 2, 5.25]);
    expect(s.dE[0]).toBe(1);
    expect(s.dx[0]).toBe(f32(Math.hypot(0.5, 0.25)));
    expect(s.t0[0]).toBe(0.5);
    expect([s.trackId[0], s.pdgId[0]]).toEqual([1, 13]);
    // row 3: dE = 1 + 0.125·3
    expect(s.dE[3]).toBe(1.375);
    // row 19: last muon step ends at (0, 2, 10)
    expect([s.xEnd[19], s.zEnd[19]]).toEqual([0, 10]);
    // row 25: proton step 5 along y, dE 4.5 MeV, t0 12.25 µs
    expect([s.xStart[25], s.yStart[25], s.yEnd[25], s.zStart[25]]).toEqual([3, 2.5, 3, -4]);
    expect([s.dE[25], s.dx[25], s.t0[25], s.trackId[25], s.pdgId[25]]).toEqual([4.5, 0.5, 12.25, 2, 2212]);
    // row 31: last electron step
    expect([s.xStart[31], s.xEnd[31], s.dE[31], s.dx[31], s.trackId[31], s.pdgId[31]]).toEqual([3.75, 4, 0.25, 0.25, 3, 11]);
  });

  it('filters one event', async () => {
    const ev8 = await loadLarndSimSegments(fixture, { eventId: 8 });
    expect(ev8.segments.length).toBe(12);
    expect(Array.from(ev8.eventIds!)).toEqual(Array<number>(12).fill(8));
    expect(ev8.segments.yStart[5]).toBe(2.5); // file row 25
    expect(Array.from(ev8.segments.pdgId)).toEqual([...Array<number>(8).fill(2212), ...Array<number>(4).fill(11)]);
    const ev7 = await loadLarndSimSegments(fixture, { eventId: 7 });
    expect(ev7.segments.length).toBe(20);
    const none = await loadLarndSimSegments(fixture, { eventId: 99 });
    expect(none.segments.length).toBe(0);
    expect(none.eventIds).toHaveLength(0);
    await expect(loadLarndSimSegments(fixture, { eventId: 1.5 })).rejects.toThrow(InputValueError);
  });

  it('driftAxisSwap swaps the x and z columns', async () => {
    const { segments: s } = await loadLarndSimSegments(fixture, { driftAxisSwap: true });
    expect([s.xStart[0], s.yStart[0], s.zStart[0], s.xEnd[0], s.yEnd[0], s.zEnd[0]]).toEqual([5, 2, -10, 5.25, 2, -9.5]);
  });

  it('accepts the file contents as a Uint8Array', async () => {
    const bytes = new Uint8Array(readFileSync(fixture));
    const fromBytes = await loadLarndSimSegments(bytes, { eventId: 7 });
    const fromPath = await loadLarndSimSegments(fixture, { eventId: 7 });
    expect(fromBytes.segments).toEqual(fromPath.segments);
    expect(fromBytes.fields).toEqual(fromPath.fields);
  });
});

describe('loadLarndSimSegments: spellings and errors', () => {
  it('accepts the older spellings eventID, trackID, pdgId and t0_start', async () => {
    const path = writeCompound('old.h5', 'segments', oldStyleColumns());
    const { segments: s, eventIds, fields } = await loadLarndSimSegments(path);
    expect(fields).toContain('trackID');
    expect(Array.from(eventIds!)).toEqual([4, 4, 5]);
    expect(Array.from(s.trackId)).toEqual([10, 11, 12]);
    expect(Array.from(s.pdgId)).toEqual([13, -211, 2212]);
    expect(Array.from(s.t0)).toEqual([1.5, 1.5, 2.5]);
    expect(Array.from(s.dE)).toEqual([0.25, 0.5, 0.75]);
    const ev5 = await loadLarndSimSegments(path, { eventId: 5 });
    expect(Array.from(ev5.segments.xStart)).toEqual([3]);
  });

  it('reads a dataset inside a group via options.dataset', async () => {
    const path = writeCompound('nested.h5', 'mc/truth_segments', oldStyleColumns());
    const { segments } = await loadLarndSimSegments(path, { dataset: 'mc/truth_segments' });
    expect(segments.length).toBe(3);
  });

  it('names the file and lists the datasets present when the dataset is missing', async () => {
    const path = writeCompound('other.h5', 'mc/tracks', oldStyleColumns());
    const err = await loadLarndSimSegments(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputValueError);
    expect((err as Error).message).toContain(path);
    expect((err as Error).message).toContain('"segments"');
    expect((err as Error).message).toContain('"mc/tracks"');
    await expect(loadLarndSimSegments(fixture, { dataset: 'trajectories' })).rejects.toThrow(/datasets present: "segments"/);
  });

  it('names missing fields and the file', async () => {
    const cols = oldStyleColumns();
    cols.delete('dE');
    cols.delete('t0_start');
    const path = writeCompound('no-dE.h5', 'segments', cols);
    const err = await loadLarndSimSegments(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputValueError);
    const msg = (err as Error).message;
    expect(msg).toContain(path);
    expect(msg).toContain('lacks the required field(s) "dE", "t0" or "t0_start" or "t";');
  });

  it('rejects eventId when there is no event id field', async () => {
    const cols = oldStyleColumns();
    cols.delete('eventID');
    const path = writeCompound('no-event.h5', 'segments', cols);
    const all = await loadLarndSimSegments(path);
    expect(all.eventIds).toBeNull();
    await expect(loadLarndSimSegments(path, { eventId: 4 })).rejects.toThrow(/no event id field/);
  });

  it('rejects NaN and negative dE, naming the row', async () => {
    const nan = writeCompound('nan.h5', 'segments', oldStyleColumns({ dE: new Float32Array([0.25, NaN, 0.75]) }));
    await expect(loadLarndSimSegments(nan)).rejects.toThrow(/row 1 has dE = NaN/);
    const neg = writeCompound('neg.h5', 'segments', oldStyleColumns({ dE: new Float32Array([0.25, 0.5, -1]) }));
    const err = await loadLarndSimSegments(neg).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputValueError);
    expect((err as Error).message).toMatch(/row 2 has dE = -1/);
  });

  it('rejects a missing file and a file that is not HDF5', async () => {
    const missing = join(dir, 'does-not-exist.h5');
    await expect(loadLarndSimSegments(missing)).rejects.toThrow(InputValueError);
    await expect(loadLarndSimSegments(missing)).rejects.toThrow(/does not exist/);
    await expect(loadLarndSimSegments(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]))).rejects.toThrow(/not an HDF5 file/);
  });
});

describe('loadLarndSimSegments: the h5wasm module as an option, as outside Node', () => {
  it('reads bytes through a given h5wasm module (its in-memory filesystem), the same as the Node path', async () => {
    const bytes = new Uint8Array(readFileSync(fixture));
    const fromNode = await loadLarndSimSegments(fixture);
    const browserBuild = await import('h5wasm');
    const viaOption = await loadLarndSimSegments(bytes, { h5wasm: browserBuild });
    expect(viaOption.segments.length).toBe(fromNode.segments.length);
    expect(viaOption.segments).toEqual(fromNode.segments);
    expect(Array.from(viaOption.eventIds ?? [])).toEqual(Array.from(fromNode.eventIds ?? []));
  });

  it('refuses something that is not the h5wasm module, and unknown option keys, naming them', async () => {
    await expect(loadLarndSimSegments(fixture, { h5wasm: { File: 1 } })).rejects.toThrow(InputValueError);
    await expect(loadLarndSimSegments(fixture, { h5wasm: { File: 1 } })).rejects.toThrow(/options\.h5wasm must be the h5wasm module/);
    await expect(loadLarndSimSegments(fixture, { eventID: 4 } as never)).rejects.toThrow(/unknown option "eventID"/);
  });
});

describe('loadLarndSimSegments: corrupt files', () => {
  it('a file with a valid signature and a damaged body is one typed line naming file and dataset, with no HDF5-DIAG output', async () => {
    const bytes = new Uint8Array(readFileSync(fixture));
    for (let i = 200; i < bytes.length; i++) bytes[i] = (i * 7) & 255;
    const path = join(dir, 'corrupt.h5');
    writeFileSync(path, bytes);
    const stderr: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array) => {
      stderr.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    let error: unknown;
    try {
      await loadLarndSimSegments(path);
    } catch (e) {
      error = e;
    } finally {
      process.stderr.write = write;
    }
    expect(error).toBeInstanceOf(InputValueError);
    expect((error as Error).message).toMatch(/^loadLarndSimSegments: HDF5 could not read dataset "segments" of ".*corrupt\.h5": .*; the file is corrupt or truncated$/);
    expect((error as Error).message).not.toContain('\n');
    expect(stderr.join('')).not.toContain('HDF5-DIAG');
    // The reader still works on a good file afterwards (the default handler is back).
    expect((await loadLarndSimSegments(fixture)).segments.length).toBeGreaterThan(0);
  });
});
