/**
 * U-ResNet checkpoints in the safetensors format: every parameter and
 * BatchNorm running statistic as an F32 tensor under its name
 * (docs/uresnet.md lists names and layouts), plus the model configuration
 * as JSON in the metadata, so that a checkpoint can rebuild its model.
 *
 * @module
 */
import { InputValueError, ShapeError, show } from '../errors.js';
import type { GpuContext } from '../runtime/context.js';
import { readSafetensors, writeSafetensors, type SafetensorsFile, type WriteSafetensorsOptions } from './safetensors.js';
import { resolveUResNetConfig, UResNet, type ResolvedUResNetConfig, type UResNetConfig } from './uresnet.js';
import { platform } from '#platform';

/** Metadata key of the format tag. */
export const CHECKPOINT_FORMAT_KEY = 'format';
/** Format tag written by {@link saveUResNetWeights}. */
export const CHECKPOINT_FORMAT = 'ghostgrad.uresnet.v1';
/** Metadata key of the JSON configuration. */
export const CHECKPOINT_CONFIG_KEY = 'ghostgrad.uresnet.config';

/**
 * Serialises a model's parameters and BatchNorm buffers (read back from the
 * GPU) as safetensors bytes. The model is not modified.
 *
 * @param extraMetadata more string metadata (e.g. the training step)
 * @param options `dtype`: 'F32' (default, exact), or 'BF16' / 'F16' for a
 *   file half the size whose weights are rounded (see {@link WriteSafetensorsOptions})
 */
export async function saveUResNetWeights(
  model: UResNet,
  extraMetadata: Readonly<Record<string, string>> = {},
  options: WriteSafetensorsOptions = {},
): Promise<Uint8Array> {
  const entries = model.stateEntries();
  const data = await Promise.all(entries.map((e) => e.tensor.read() as Promise<Float32Array>));
  // A model poisoned by a bad step must not become a checkpoint (and, with a
  // fixed path, replace the last good one).
  entries.forEach((e, i) => {
    const values = data[i]!;
    for (let j = 0; j < values.length; j++) {
      if (!Number.isFinite(values[j]!)) {
        throw new InputValueError(
          `saveUResNetWeights: ${show(e.name)}[${j}] = ${show(values[j])}; the model holds non-finite values, so no checkpoint is written (an existing file is kept)`,
        );
      }
    }
  });
  return writeSafetensors(
    entries.map((e, i) => ({ name: e.name, shape: e.tensor.shape, data: data[i]! })),
    { ...extraMetadata, [CHECKPOINT_FORMAT_KEY]: CHECKPOINT_FORMAT, [CHECKPOINT_CONFIG_KEY]: JSON.stringify(model.config) },
    options,
  );
}

/** Options of {@link loadUResNetWeights}. */
export interface LoadWeightsOptions {
  /**
   * When false, names the model lacks are ignored and missing BatchNorm
   * buffers keep their current values (missing parameters are still an
   * error). Default true: the names must match exactly.
   */
  readonly strict?: boolean;
}

/** Config fields that change a model's outputs without changing any shape. */
const BEHAVIOUR_FIELDS = ['leakiness', 'bnEps', 'kernelSize', 'dim'] as const;

/**
 * Loads safetensors bytes (or an already parsed file) into a model, in
 * place. Everything is checked before anything is written, so a failed load
 * leaves the model unchanged.
 *
 * @throws InputValueError naming the tensors that are missing from the file or
 *   unknown to the model, a non-finite value, or a configuration mismatch
 *   recorded in the metadata (e.g. another LeakyReLU slope);
 *   ShapeError naming a tensor whose shape differs from the model's
 */
export function loadUResNetWeights(model: UResNet, source: Uint8Array | SafetensorsFile, options: LoadWeightsOptions = {}): void {
  const file = source instanceof Uint8Array ? readSafetensors(source) : source;
  const strict = options.strict ?? true;
  const stored = storedConfig(file);
  if (stored) {
    for (const k of BEHAVIOUR_FIELDS) {
      if (stored[k] !== undefined && stored[k] !== model.config[k]) {
        throw new InputValueError(
          `loadUResNetWeights: the checkpoint was saved with config.${k} = ${show(stored[k])} but the model has ${show(model.config[k])}; ` +
            'build the model with the checkpoint\'s configuration (uresnetFromSafetensors does this)',
        );
      }
    }
  }
  const entries = model.stateEntries();
  const known = new Set(entries.map((e) => e.name));
  const missing = entries.filter((e) => !file.tensors.has(e.name) && (strict || e.kind === 'parameter')).map((e) => e.name);
  if (missing.length) {
    throw new InputValueError(
      `loadUResNetWeights: the checkpoint lacks ${missing.length} tensor(s) the model needs: ${preview(missing)}; ` +
        'check depth, reps and the name mapping (docs/uresnet.md), or pass { strict: false } to keep current BatchNorm statistics',
    );
  }
  const extra = [...file.tensors.keys()].filter((n) => !known.has(n));
  if (extra.length && strict) {
    throw new InputValueError(
      `loadUResNetWeights: the checkpoint has ${extra.length} tensor(s) the model does not: ${preview(extra)}; ` +
        'check depth, reps and the name mapping (docs/uresnet.md), or pass { strict: false } to ignore them',
    );
  }
  for (const e of entries) {
    const t = file.tensors.get(e.name);
    if (!t) continue;
    if (t.shape.length !== e.tensor.shape.length || t.shape.some((d, i) => d !== e.tensor.shape[i])) {
      throw new ShapeError(
        `loadUResNetWeights: tensor ${show(e.name)} has shape ${show([...t.shape])} in the checkpoint but ${show([...e.tensor.shape])} in the model; ` +
          'build the model with the checkpoint\'s filters / depth / inChannels / numClasses, or convert the layout (docs/uresnet.md)',
      );
    }
    for (let i = 0; i < t.data.length; i++) {
      if (!Number.isFinite(t.data[i]!)) {
        throw new InputValueError(`loadUResNetWeights: tensor ${show(e.name)} holds ${show(t.data[i])} at element ${i}; a checkpoint must be finite`);
      }
    }
    if (e.name.endsWith('.running_var')) {
      const j = t.data.findIndex((v) => v < 0);
      if (j >= 0) throw new InputValueError(`loadUResNetWeights: tensor ${show(e.name)}[${j}] = ${t.data[j]} is a negative variance`);
    }
  }
  for (const e of entries) {
    const t = file.tensors.get(e.name);
    if (t) e.tensor.write(t.data);
  }
}

/** The configuration stored in a checkpoint's metadata, or null when absent. */
export function checkpointConfig(source: Uint8Array | SafetensorsFile): ResolvedUResNetConfig | null {
  const file = source instanceof Uint8Array ? readSafetensors(source) : source;
  const c = storedConfig(file);
  return c ? resolveUResNetConfig(c) : null;
}

function storedConfig(file: SafetensorsFile): UResNetConfig | null {
  const text = file.metadata[CHECKPOINT_CONFIG_KEY];
  if (text === undefined) return null;
  try {
    const c = JSON.parse(text) as unknown;
    if (c === null || typeof c !== 'object') throw new Error('not an object');
    return c as UResNetConfig;
  } catch (e) {
    throw new InputValueError(`checkpoint metadata ${show(CHECKPOINT_CONFIG_KEY)} is not a JSON object (${(e as Error).message})`);
  }
}

/**
 * Checks, before anything is allocated, that the file's tensors have the
 * shapes the configuration implies at the places that fix its size: the
 * input conv (kernel volume, input channels, filters), the output layer
 * (classes), the deepest down-sampling conv (depth) and the blocks of level
 * 0 (reps). A configuration that claims a model the file cannot hold (a
 * 164 kB file claiming filters 256) is refused at once instead of
 * allocating gigabytes first.
 */
function checkFileHoldsConfig(c: ResolvedUResNetConfig, file: SafetensorsFile): void {
  const v = c.kernelSize ** c.dim;
  const planes = Array.from({ length: c.depth }, (_, i) => c.filters * (i + 1));
  const expect = (name: string, shape: readonly number[] | null): void => {
    const t = file.tensors.get(name);
    const got = t ? show(t.shape) : 'absent';
    const want = shape ? show(shape) : 'absent';
    if (got !== want) {
      throw new ShapeError(
        `checkpoint: ${show(name)} is ${got} in the file, but the configuration (depth ${c.depth}, filters ${c.filters}, reps ${c.reps}, ` +
          `dim ${c.dim}, kernelSize ${c.kernelSize}, inChannels ${c.inChannels}, numClasses ${c.numClasses}) needs ${want}; ` +
          'the metadata does not describe these weights (or pass the right overrides)',
      );
    }
  };
  expect('input.conv.weight', [v, c.inChannels, planes[0]!]);
  expect('output.linear.weight', [planes[0]!, c.numClasses]);
  if (c.depth > 1) expect(`encoder.${c.depth - 2}.down.conv.weight`, [2 ** c.dim, planes[c.depth - 2]!, planes[c.depth - 1]!]);
  expect(`encoder.${c.depth - 1}.down.conv.weight`, null);
  expect(`encoder.0.block.${c.reps - 1}.conv1.weight`, [v, planes[0]!, planes[0]!]);
  expect(`encoder.0.block.${c.reps}.conv1.weight`, null);
}

/**
 * Builds a model from a checkpoint that carries its configuration (as
 * written by {@link saveUResNetWeights}) and loads its weights. The model is
 * returned in eval mode.
 *
 * @param overrides configuration fields to use when the metadata has none
 *   (e.g. a converted PyTorch checkpoint); the stored configuration wins otherwise
 */
export function uresnetFromSafetensors(ctx: GpuContext, bytes: Uint8Array, overrides: UResNetConfig = {}): UResNet {
  const file = readSafetensors(bytes);
  const stored = storedConfig(file);
  const config = { ...overrides, ...(stored ?? {}) };
  checkFileHoldsConfig(resolveUResNetConfig(config), file);
  const model = new UResNet(ctx, config);
  try {
    loadUResNetWeights(model, file);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model.eval();
}

/**
 * Writes a model's checkpoint to a file (Node only); `options` as in
 * {@link saveUResNetWeights}. The write goes to a temporary file in the same
 * folder, then a rename: an interrupted or failed write keeps the previous
 * file whole.
 */
export async function saveUResNet(
  model: UResNet,
  path: string,
  extraMetadata: Readonly<Record<string, string>> = {},
  options: WriteSafetensorsOptions = {},
): Promise<void> {
  const bytes = await saveUResNetWeights(model, extraMetadata, options);
  await platform.writeFileAtomic(path, bytes);
}

/** Reads a checkpoint file and builds its model, in eval mode (Node only). */
export async function loadUResNet(ctx: GpuContext, path: string, overrides: UResNetConfig = {}): Promise<UResNet> {
  return uresnetFromSafetensors(ctx, await platform.readFile(path), overrides);
}

function preview(names: readonly string[]): string {
  const shown = names.slice(0, 6).map((n) => show(n)).join(', ');
  return names.length > 6 ? `${shown}, … (${names.length - 6} more)` : shown;
}
