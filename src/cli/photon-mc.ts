/**
 * `ghostgrad photon-mc`: generate a visibility table (photon library) for a
 * detector on the GPU and write it as a table file (docs/photon-mc.md).
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { type Command, CommanderError } from 'commander';
import { createGpu } from '../runtime/context.js';
import { parseDetector } from '../kernels/photon-mc/detector.js';
import { generateVisibilityMap, saveVisibilityTable, type VisibilityMapOptions } from '../kernels/photon-mc/visibility-map.js';
import { checkOutputFile, shippedPath } from './paths.js';
import { progress } from './progress.js';

interface PhotonMcFlags {
  detector: string;
  grid: string;
  photons: string;
  seed: string;
  out: string;
  volume: string;
  timeBins?: string;
  maxSteps: string;
  photonsPerDispatch?: string;
  quiet?: boolean;
}

/** Voxels per axis the CLI accepts (a table of 65536³ voxels would not fit in memory anyway). */
const MAX_VOXELS_PER_AXIS = 65536;

function usage(message: string): never {
  throw new CommanderError(2, 'ghostgrad.photon-mc', message);
}

/** A non-negative integer flag value within [min, max]. */
function integerFlag(flag: string, text: string, min: number, max: number, example: string): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isInteger(v) || v < min || v > max) {
    usage(`${flag} must be an integer in [${min}, ${max}], got ${JSON.stringify(text)}; e.g. ${flag} ${example}`);
  }
  return v;
}

function parseGrid(text: string): [number, number, number] {
  const parts = text.split(',');
  if (parts.length !== 3) usage(`--grid must be three voxel counts nx,ny,nz, got ${JSON.stringify(text)}; e.g. --grid 10,20,10`);
  return parts.map((p, a) => {
    const v = Number(p);
    if (p.trim() === '' || !Number.isInteger(v) || v < 1 || v > MAX_VOXELS_PER_AXIS) {
      usage(`--grid: n${'xyz'[a]} must be an integer in [1, ${MAX_VOXELS_PER_AXIS}], got ${JSON.stringify(p)} in ${JSON.stringify(text)}; e.g. --grid 10,20,10`);
    }
    return v;
  }) as [number, number, number];
}

function parseTimeBins(text: string): NonNullable<VisibilityMapOptions['timeHistogram']> {
  const parts = text.split(',');
  if (parts.length < 2 || parts.length > 3) {
    usage(`--time-bins must be bins,widthNs[,startNs], got ${JSON.stringify(text)}; e.g. --time-bins 100,0.5`);
  }
  const bins = integerFlag('--time-bins (bins)', parts[0]!, 1, 1 << 16, '100,0.5');
  const width = Number(parts[1]);
  if (!(Number.isFinite(width) && width > 0)) usage(`--time-bins: bin width must be a positive number of ns, got ${JSON.stringify(parts[1])}`);
  const start = parts[2] === undefined ? 0 : Number(parts[2]);
  if (!Number.isFinite(start)) usage(`--time-bins: start must be a finite time in ns, got ${JSON.stringify(parts[2])}`);
  return { bins, binWidthNs: width, startNs: start };
}

async function photonMc(flags: PhotonMcFlags): Promise<void> {
  const grid = parseGrid(flags.grid);
  const photons = integerFlag('--photons', flags.photons, 1, 0xffffffff, '100000');
  const seed = integerFlag('--seed', flags.seed, 0, 0xffffffff, '1');
  const volume = integerFlag('--volume', flags.volume, 0, 0xffffffff, '0');
  const maxSteps = integerFlag('--max-steps', flags.maxSteps, 1, 0xffffffff, '1000');
  const perDispatch = flags.photonsPerDispatch === undefined ? undefined : integerFlag('--photons-per-dispatch', flags.photonsPerDispatch, 1, 1 << 26, '1048576');
  const time = flags.timeBins === undefined ? undefined : parseTimeBins(flags.timeBins);
  let text: string;
  try {
    text = readFileSync(flags.detector, 'utf8');
  } catch (e) {
    usage(`--detector: cannot read ${JSON.stringify(flags.detector)} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); give the path of a detector JSON file`);
  }
  const detector = parseDetector(text);
  if (volume >= detector.volumes.length) {
    usage(`--volume: detector "${detector.name}" has volumes 0..${detector.volumes.length - 1}, got ${volume}`);
  }
  checkOutputFile('--out', flags.out);
  const ctx = await createGpu();
  try {
    const a = ctx.adapter;
    const voxels = grid[0] * grid[1] * grid[2];
    const total = voxels * photons;
    if (!flags.quiet) {
      console.log(
        `photon-mc: ${detector.name}, volume ${volume}, grid ${grid.join('×')} (${voxels} voxels) × ${photons} photons = ${total.toExponential(3)} photons, ` +
          `seed ${seed}, on ${a.description || a.device || a.vendor}${a.isSoftware ? ' (software)' : ''}`,
      );
    }
    const bar = flags.quiet ? null : progress('photon-mc', total);
    const t0 = performance.now();
    const options: VisibilityMapOptions = {
      grid,
      volume,
      photonsPerSource: photons,
      seed,
      maxSteps,
      ...(time ? { timeHistogram: time } : {}),
      ...(perDispatch !== undefined ? { photonsPerDispatch: perDispatch } : {}),
      onProgress: (p) => bar?.update(p.photonsDone),
    };
    let table;
    try {
      table = await generateVisibilityMap(ctx, detector, options);
    } finally {
      bar?.stop();
    }
    const seconds = (performance.now() - t0) / 1000;
    await saveVisibilityTable(flags.out, table);
    const c = table.counts!;
    const sum = (x: Float64Array): number => x.reduce((s, v) => s + v, 0);
    if (!flags.quiet) {
      console.log(
        `done in ${seconds.toFixed(1)} s (${(total / seconds / 1e6).toFixed(2)} M photons/s): detected ${(sum(c.detectedTotal) / total).toExponential(3)}, ` +
          `absorbed in bulk ${(sum(c.absorbedBulk) / total).toExponential(3)}, on walls ${(sum(c.absorbedWall) / total).toExponential(3)}, ` +
          `lost ${(sum(c.lost) / total).toExponential(3)}`,
      );
      console.log(`wrote ${flags.out}: [${grid.join(', ')}, ${detector.photodetectors.length}] f32 visibility table${time ? ' + time histograms' : ''}`);
    }
  } finally {
    await ctx.dispose();
  }
}

/** Adds the `photon-mc` subcommand to the program. */
export function registerPhotonMc(program: Command): void {
  program
    .command('photon-mc')
    .description('propagate optical photons on the GPU over a voxel grid and write a visibility table (photon library)')
    .requiredOption('--detector <json>', 'detector description (JSON file, see docs/photon-mc.md)')
    .requiredOption('--grid <nx,ny,nz>', 'voxel counts over the volume')
    .requiredOption('--photons <n>', 'photons emitted per voxel (1 … 4294967295)')
    .requiredOption('--out <file>', 'output table file (JSON header + little-endian f32 payload)')
    .option('--seed <n>', 'u32 random seed', '0')
    .option('--volume <i>', 'index of the volume the grid spans', '0')
    .option('--time-bins <bins,widthNs[,startNs]>', 'also record arrival-time histograms per voxel and photodetector')
    .option('--max-steps <n>', 'segments per photon before it counts as lost', '1000')
    .option('--photons-per-dispatch <n>', 'photons per GPU dispatch (results do not depend on it)')
    .option('--quiet', 'no progress or summary output')
    .addHelpText(
      'after',
      `\nExample, with a detector description shipped in the package:\n  ghostgrad photon-mc --detector ${shippedPath('examples/detectors/2x2-like.json')} --grid 6,24,12 --photons 100000 --seed 1 --out 2x2-tpc0.ggvt\n\n` +
        'The table is [nx, ny, nz, numPhotodetectors] (x slowest) of detected/emitted per voxel centre, readable with\n' +
        'loadVisibilityTable() and createPhotonLibrary(table.meta, table.data).',
    )
    .action(photonMc);
}
