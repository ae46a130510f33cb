#!/usr/bin/env node
/**
 * The `ghostgrad` command-line tool.
 *
 *     ghostgrad info              adapter, features, limits, software or hardware
 *     ghostgrad demo              the main job (see README)
 *     ghostgrad bench [suite...]  benchmark suites → bench/results/*.json|md
 *     ghostgrad photon-mc ...     GPU photon Monte Carlo → visibility table file
 *     ghostgrad provision         install Mesa lavapipe where no Vulkan driver exists
 *
 * @module
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { createGpu } from '../runtime/context.js';
import { GhostgradError } from '../errors.js';
import { runDemo } from './demo.js';
import { packageVersion, prepareOutputFolder, shippedPath } from './paths.js';
import { registerPhotonMc } from './photon-mc.js';

function ensureRuntimeDir(): void {
  // Dawn's Vulkan loader wants XDG_RUNTIME_DIR; minimal shells and CI lack it.
  if (!process.env['XDG_RUNTIME_DIR']) {
    mkdirSync('/tmp/ghostgrad-xdg', { recursive: true, mode: 0o700 });
    process.env['XDG_RUNTIME_DIR'] = '/tmp/ghostgrad-xdg';
  }
}

const LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

async function info(options: { json?: boolean }): Promise<void> {
  const ctx = await createGpu();
  const a = ctx.adapter;
  const limits = Object.fromEntries(LIMITS.map((k) => [k, ctx.limits[k]]));
  if (options.json) {
    console.log(JSON.stringify({ adapter: a, limits }, null, 2));
  } else {
    console.log(`adapter:      ${a.description || a.device || '(unnamed)'}`);
    console.log(`vendor:       ${a.vendor || '?'} ${a.architecture}`);
    console.log(`software:     ${a.isSoftware ? 'yes (CPU implementation; use for correctness, not speed)' : 'no'}`);
    console.log(`features:     ${a.features.join(', ') || 'none of shader-f16, subgroups, timestamp-query'}`);
    for (const [k, v] of Object.entries(limits)) console.log(`${k.padEnd(36)} ${v}`);
  }
  await ctx.dispose();
}

async function demo(options: { fitSteps: string; finetune: string; seed: string; out: string }): Promise<void> {
  const fitSteps = Number(options.fitSteps);
  if (!Number.isInteger(fitSteps) || fitSteps < 2) {
    throw new CommanderError(2, 'ghostgrad.steps', `--fit-steps must be an integer ≥ 2, got ${options.fitSteps}`);
  }
  const fineTuneSteps = Number(options.finetune);
  if (!Number.isInteger(fineTuneSteps) || fineTuneSteps < 0) {
    throw new CommanderError(2, 'ghostgrad.finetune', `--finetune must be an integer ≥ 0, got ${options.finetune}`);
  }
  const seed = Number(options.seed);
  if (!Number.isInteger(seed)) throw new CommanderError(2, 'ghostgrad.seed', `--seed must be an integer, got ${options.seed}`);
  prepareOutputFolder('--out', options.out);
  const ctx = await createGpu();
  try {
    await runDemo(ctx, { outDir: options.out, fitSteps, fineTuneSteps, seed });
  } finally {
    await ctx.dispose();
  }
}

/** The benchmark runner; present in a source checkout, not in the npm package. */
const benchRunner = shippedPath('bench/run.mjs');

function bench(suites: string[]): void {
  if (!existsSync(benchRunner)) {
    throw new CommanderError(
      2,
      'ghostgrad.bench',
      'benchmarks ship with the source repository, not the npm package; clone ghostgrad and run `npm run bench` there',
    );
  }
  const r = spawnSync(process.execPath, [benchRunner, ...suites], { stdio: 'inherit' });
  process.exitCode = r.status ?? 1;
}

function provision(): void {
  const script = shippedPath('scripts/provision-lavapipe.sh');
  const r = spawnSync('bash', [script], { stdio: 'inherit' });
  process.exitCode = r.status ?? 1;
}

export function buildProgram(): Command {
  const program = new Command('ghostgrad')
    .description('Differentiable WebGPU kernels for neutrino-detector ML and simulation')
    .version(packageVersion(), '-V, --version', 'print the ghostgrad version')
    .showHelpAfterError()
    .exitOverride();
  program.command('info').description('print the WebGPU adapter, its features and limits').option('--json', 'machine-readable output').action(info);
  program
    .command('demo')
    .description('run the main job: runtime self-check and the kernel families that exist')
    .option('--fit-steps <n>', 'Adam steps refining the electron lifetime after its total-charge start', '6')
    .option('--finetune <n>', 'Adam steps fine-tuning the pretrained U-ResNet before it segments the event', '0')
    .option('--seed <n>', 'seed of the synthetic event', '7')
    .option('--out <dir>', 'folder for the pictures and report.json', 'demo-output')
    .action(demo);
  // Listed only where the suites exist (a source checkout); an installed
  // package keeps the command, hidden, for its explanation.
  program
    .command('bench', { hidden: !existsSync(benchRunner) })
    .description('run benchmark suites (all when none is named) and write bench/results/*.json and *.md')
    .argument('[suite...]', 'suite names: files bench/<suite>.bench.mjs')
    .action(bench);
  registerPhotonMc(program);
  program
    .command('provision')
    .description('where no Vulkan driver exists (Debian 12, no GPU), install Mesa >= 25 lavapipe from bookworm-backports; needs root or sudo')
    .action(provision);
  return program;
}

async function main(): Promise<void> {
  ensureRuntimeDir();
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode !== 0 && !e.code.startsWith('commander.')) console.error(`error: ${e.message}`);
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    if (e instanceof GhostgradError) {
      console.error(`${e.name}: ${e.message}`);
      process.exitCode = 1;
      return;
    }
    throw e;
  }
}

await main();
