// `ghostgrad photon-mc`, run as a user meets it: the built bin as a process
// (`npm test` builds dist/ first).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDetector } from '../../src/kernels/photon-mc/detector.js';
import { gridSources } from '../../src/kernels/photon-mc/sources.js';
import { propagateReference } from '../../src/kernels/photon-mc/propagate.reference.js';
import { loadVisibilityTable } from '../../src/kernels/photon-mc/visibility-map.js';
import { createPhotonLibrary } from '../../src/kernels/photon/photon-library.reference.js';

const bin = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const detectorPath = fileURLToPath(new URL('../../examples/detectors/cube.json', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000 });
const dir = mkdtempSync(join(tmpdir(), 'ghostgrad-photon-mc-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ghostgrad photon-mc', () => {
  it('is listed and explains itself', () => {
    expect(run('--help').stdout).toContain('photon-mc');
    const r = run('photon-mc', '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: ghostgrad photon-mc');
    for (const flag of ['--detector', '--grid', '--photons', '--seed', '--out', '--volume', '--time-bins']) expect(r.stdout).toContain(flag);
  });

  it('writes a table the photon library reads, equal to the reference run on the same grid and seed', async () => {
    const out = join(dir, 'cube.ggvt');
    const r = run('photon-mc', '--detector', detectorPath, '--grid', '2,3,2', '--photons', '3000', '--seed', '5', '--out', out, '--time-bins', '20,0.5');
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/M photons\/s/);
    // Progress with an ETA (plain lines when stderr is not a terminal).
    expect(r.stderr).toMatch(/photon-mc: 36000\/36000 \(100%\).*ETA/);
    const table = await loadVisibilityTable(out);
    expect(table.meta!.shape).toEqual([2, 3, 2]);
    expect(table.seed).toBe(5);
    expect(table.time!.bins).toBe(20);
    const lib = createPhotonLibrary(table.meta!, table.data);
    const det = parseDetector(readFileSync(detectorPath, 'utf8'));
    const ref = propagateReference(det, gridSources(det, 0, [2, 3, 2]), { photonsPerSource: 3000, seed: 5 });
    const np = det.photodetectors.length;
    for (let ix = 0; ix < 2; ix++) {
      for (let iy = 0; iy < 3; iy++) {
        for (let iz = 0; iz < 2; iz++) {
          for (let d = 0; d < np; d++) {
            const v = lib.data[((ix * 3 + iy) * 2 + iz) * np + d]!;
            // f32 borderline flips aside (docs/photon-mc.md), the counts are the reference's.
            expect(Math.abs(Math.round(v * 3000) - ref.detected[(ix + 2 * (iy + 3 * iz)) * np + d]!)).toBeLessThanOrEqual(2);
          }
        }
      }
    }
  });

  it('rejects unknown flags, missing and bad values with exit code 2', () => {
    const out = join(dir, 'x.ggvt');
    const base = ['photon-mc', '--detector', detectorPath, '--out', out];
    const cases: [string[], RegExp][] = [
      [[...base, '--grid', '2,2,2', '--photons', '10', '--bogus'], /unknown option '--bogus'/],
      [['photon-mc', '--grid', '2,2,2', '--photons', '10', '--out', out], /required option '--detector <json>' not specified/],
      [[...base, '--grid', '2,2', '--photons', '10'], /--grid must be three voxel counts/],
      [[...base, '--grid', '2,x,2', '--photons', '10'], /--grid: ny must be an integer/],
      [[...base, '--grid', '2,2,2', '--photons', '0'], /--photons must be an integer in \[1, 4294967295\], got "0"/],
      [[...base, '--grid', '2,2,2', '--photons', 'lots'], /--photons must be an integer/],
      [[...base, '--grid', '2,2,2', '--photons', '10', '--seed', '-1'], /--seed must be an integer/],
      [[...base, '--grid', '2,2,2', '--photons', '10', '--volume', '4'], /--volume: detector "cube-100cm" has volumes 0\.\.0, got 4/],
      [[...base, '--grid', '2,2,2', '--photons', '10', '--time-bins', '10'], /--time-bins must be bins,widthNs/],
      [[...base, '--grid', '2,2,2', '--photons', '10', '--time-bins', '10,-1'], /bin width must be a positive number/],
      [['photon-mc', '--detector', join(dir, 'missing.json'), '--out', out, '--grid', '2,2,2', '--photons', '10'], /cannot read .*missing\.json.*ENOENT/],
    ];
    for (const [args, message] of cases) {
      const r = run(...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });

  it('checks --out before any work: a folder, a missing folder or a file as folder are one-line usage errors', () => {
    const base = ['photon-mc', '--detector', detectorPath, '--grid', '2,2,2', '--photons', '10'];
    const cases: [string, RegExp][] = [
      [dir, /it is a folder; give a file name/],
      [join(dir, 'no-such-folder', 't.ggvt'), /its folder ".*no-such-folder" does not exist/],
      [join(detectorPath, 't.ggvt'), /is not a folder/],
    ];
    for (const [out, message] of cases) {
      const r = run(...base, '--out', out);
      expect(r.status, out).toBe(2);
      expect(r.stderr.trim().split('\n'), out).toHaveLength(1);
      expect(r.stderr, out).toMatch(message);
      expect(r.stdout, out).toBe('');
    }
  });

  it("help's example names a detector file that exists", () => {
    const r = run('photon-mc', '--help');
    const path = /--detector (\S+\.json)/.exec(r.stdout)?.[1];
    expect(path).toBeDefined();
    expect(parseDetector(readFileSync(path!, 'utf8')).name.length).toBeGreaterThan(0);
  });

  it('reports an invalid detector file by field, with exit code 1', () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ volumes: [{ min: [0, 0, 0], max: [10, 10, 10] }], photodetectors: [{ volume: 0, face: 'x+', shape: 'disc', center: [9, 5, 5], radius: 1, efficiency: 1 }] }));
    const r = run('photon-mc', '--detector', bad, '--grid', '1,1,1', '--photons', '10', '--out', join(dir, 'y.ggvt'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/InputValueError: photodetectors\[0\]\.center/);
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{ "volumes": [ ');
    const m = run('photon-mc', '--detector', broken, '--grid', '1,1,1', '--photons', '10', '--out', join(dir, 'z.ggvt'));
    expect(m.status).toBe(1);
    expect(m.stderr).toMatch(/detector JSON: malformed JSON/);
  });
});
