#!/usr/bin/env node
/**
 * The `ghostgrad` command-line tool.
 *
 *     ghostgrad info              adapter, features, limits, software or hardware
 *     ghostgrad demo              the main job (see README)
 *     ghostgrad bench [suite...]  benchmark suites → bench/results/*.json|md
 *     ghostgrad photon-mc ...     GPU photon Monte Carlo → visibility table file
 *
 * @module
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { createGpu } from '../runtime/context.js';
import { GhostgradError } from '../errors.js';
import { selfCheck } from './selfcheck.js';
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

async function demo(options: { steps: string }): Promise<void> {
  const steps = Number(options.steps);
  if (!Number.isInteger(steps) || steps < 2) throw new CommanderError(2, 'ghostgrad.steps', `--steps must be an integer ≥ 2, got ${options.steps}`);
  const ctx = await createGpu();
  const a = ctx.adapter;
  console.log(`ghostgrad demo on ${a.description || a.device || a.vendor} (${a.isSoftware ? 'software' : 'hardware'}; features: ${a.features.join(', ') || 'none'})`);
  const r = await selfCheck(ctx, steps);
  console.log(`runtime self-check: forward+backward ${r.forwardBackwardMs.toFixed(1)} ms, dL/dW max relative error vs float64 ${r.gradientError.toExponential(2)}`);
  console.log(`Adam, ${steps} steps: loss ${r.lossStart.toFixed(4)} -> ${r.lossEnd.toFixed(4)}`);
  await ctx.dispose();
  if (!r.passed) {
    console.error('self-check FAILED');
    process.exitCode = 1;
  }
}

function bench(suites: string[]): void {
  const runner = fileURLToPath(new URL('../../bench/run.mjs', import.meta.url));
  if (!existsSync(runner)) {
    throw new CommanderError(
      2,
      'ghostgrad.bench',
      'benchmarks ship with the source repository, not the npm package; clone ghostgrad and run `npm run bench` there',
    );
  }
  const r = spawnSync(process.execPath, [runner, ...suites], { stdio: 'inherit' });
  process.exitCode = r.status ?? 1;
}

export function buildProgram(): Command {
  const program = new Command('ghostgrad')
    .description('Differentiable WebGPU kernels for neutrino-detector ML and simulation')
    .showHelpAfterError()
    .exitOverride();
  program.command('info').description('print the WebGPU adapter, its features and limits').option('--json', 'machine-readable output').action(info);
  program
    .command('demo')
    .description('run the main job: runtime self-check and the kernel families that exist')
    .option('--steps <n>', 'optimizer steps of the self-check fit', '200')
    .action(demo);
  program
    .command('bench')
    .description('run benchmark suites (all when none is named) and write bench/results/*.json and *.md')
    .argument('[suite...]', 'suite names: files bench/<suite>.bench.mjs')
    .action(bench);
  registerPhotonMc(program);
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
