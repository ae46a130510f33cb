/**
 * Conversion between ghostgrad U-ResNet checkpoints and the `state_dict()` of
 * lartpc_mlreco3d's MinkowskiEngine U-ResNet (`UResNet_Chain`), both held as
 * parsed safetensors files. Host only: no GPU, no file system.
 *
 * Facts the mapping relies on (read in the sources; docs/uresnet.md cites them):
 *
 * - lartpc_mlreco3d (`mlreco/models/uresnet.py`, `UResNet_Chain`): the
 *   modules are `net` (`layers/common/uresnet_layers.py`, `UResNet` with
 *   `encoder` and `decoder`), `output` (nn.Sequential: BatchNorm, LeakyReLU)
 *   and `linear_segmentation` (`ME.MinkowskiLinear`, bias on), plus
 *   `linear_ghost` when `ghost: True`.
 * - `UResNetEncoder`: `input_layer` (MinkowskiConvolution, kernel
 *   `input_kernel`), `encoding_block[i]` = nn.Sequential of `reps`
 *   `ResNetBlock`s, `encoding_conv[i]` = nn.Sequential(BN, act,
 *   MinkowskiConvolution k 2 s 2) for i < depth − 1 (empty for the last level).
 * - `UResNetDecoder`: index j = 0 … depth − 2 runs from the coarsest level
 *   (level depth − 2 − j); `decoding_conv[j]` = nn.Sequential(BN, act,
 *   MinkowskiConvolutionTranspose k 2 s 2); `decoding_block[j]` = `reps`
 *   `ResNetBlock`s, the first from 2·P to P. The decoder calls
 *   `ME.cat(eTensor, x)`: skip first, as in ghostgrad.
 * - `ResNetBlock` (`layers/common/blocks.py`): `norm1` (over Cin), `conv1`,
 *   `norm2`, `conv2`, and `residual` = `ME.MinkowskiLinear(Cin, Cout,
 *   bias=allow_bias)` when Cin ≠ Cout (else a parameter-free Identity).
 *   Forward: conv1(act(norm1(x))) → conv2(act(norm2(·))) + residual(x).
 * - MinkowskiEngine v0.5: `MinkowskiBatchNorm.bn` is a torch.nn.BatchNorm1d;
 *   `MinkowskiLinear.linear` a torch.nn.Linear ([out, in]); convolution and
 *   transposed convolution store `kernel` [V, in_channels, out_channels]
 *   and, with bias, `bias` [1, out]. Kernel taps enumerate the first spatial
 *   axis fastest (`kernel_region::coordinate_at`); odd kernels are centred,
 *   even ones start at 0. The transposed convolution reuses the strided
 *   convolution's kernel map with in and out swapped
 *   (`CoordinateMapManager::kernel_map`), so coarse site q with tap k feeds
 *   fine site 2q + d_k through W[k], exactly ghostgrad's convention.
 *
 * @module
 */
import { InputValueError, ShapeError, show } from '../errors.js';
import { fromMinkowski, toMinkowski } from '../kernels/sparse/layout.js';
import { CHECKPOINT_CONFIG_KEY, CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_KEY, checkpointConfig } from './checkpoint.js';
import type { SafetensorsFile, SafetensorsTensor } from './safetensors.js';
import { resolveUResNetConfig, type ResolvedUResNetConfig, type UResNetConfig } from './uresnet.js';

/** The state-dict key (after the prefix) that locates a lartpc_mlreco3d U-ResNet: its input convolution. */
export const MINKOWSKI_URESNET_ANCHOR = 'net.encoder.input_layer.kernel';
/** Metadata key recording where a converted file came from. */
export const CONVERTED_FROM_KEY = 'ghostgrad.convert.from';
/** Metadata key listing (as JSON) the source tensors a conversion ignored. */
export const CONVERT_IGNORED_KEY = 'ghostgrad.convert.ignored';
/** Metadata key recording the key prefix a conversion stripped. */
export const CONVERT_PREFIX_KEY = 'ghostgrad.convert.prefix';
/** Value of {@link CONVERTED_FROM_KEY} for a lartpc_mlreco3d checkpoint. */
export const MINKOWSKI_URESNET_SOURCE = 'lartpc_mlreco3d.UResNet_Chain (MinkowskiEngine)';

/** Options of {@link convertMinkowskiUResNet}. */
export interface ConvertMinkowskiOptions {
  /**
   * The key prefix in front of the `UResNet_Chain` module names, for example
   * `'module.'` (a lartpc_mlreco3d training checkpoint: the model is wrapped
   * in DataParallel), `'module.backbone.'` (`uresnet_ppn_chain`),
   * `'module.uresnet_lonely.'` (full chain) or `''` (the bare module).
   * Default: detected from the one key that ends with
   * {@link MINKOWSKI_URESNET_ANCHOR}.
   */
  readonly prefix?: string;
  /**
   * When true (default), every tensor under the prefix must be converted (or
   * be a BatchNorm `num_batches_tracked`, which is dropped). When false,
   * tensors the U-ResNet does not use (e.g. the `linear_ghost` head) are
   * ignored and listed in the metadata key {@link CONVERT_IGNORED_KEY}.
   * Convolution and projection biases are never ignored: they change the
   * outputs and ghostgrad's U-ResNet has none. Tensors outside the prefix
   * (e.g. PPN layers beside `backbone.`) are always ignored and listed.
   */
  readonly strict?: boolean;
}

/** Options of {@link toMinkowskiUResNet}. */
export interface ToMinkowskiOptions {
  /** Prefix to put in front of every `UResNet_Chain` key (e.g. `'module.'`). Default `''`. */
  readonly prefix?: string;
}

type Kind = 'copy' | 'linear' | 'kernel';

/** One tensor: its ghostgrad name and shape, its lartpc_mlreco3d name and shape, and how to convert. */
interface Rule {
  readonly gg: string;
  readonly me: string;
  readonly ggShape: readonly number[];
  readonly meShape: readonly number[];
  readonly kind: Kind;
  /** Kernel size per axis (kernel rules only). */
  readonly kernelSize: number;
}

interface Layout {
  /** In ghostgrad checkpoint order (parameters in construction order, then BatchNorm buffers). */
  readonly rules: readonly Rule[];
  /** MinkowskiBatchNorm module paths (`….bn`), whose `num_batches_tracked` is dropped. */
  readonly norms: readonly string[];
  /** MinkowskiEngine module paths of convolutions and linear layers that ghostgrad builds without bias. */
  readonly biasFree: readonly string[];
}

/**
 * Every tensor of a ghostgrad U-ResNet with its lartpc_mlreco3d counterpart,
 * in ghostgrad checkpoint order (mirrors the construction order in uresnet.ts;
 * test/uresnet/convert.test.ts checks it against `UResNet.stateShapes()`).
 */
function layoutOf(c: ResolvedUResNetConfig): Layout {
  const params: Rule[] = [];
  const buffers: Rule[] = [];
  const norms: string[] = [];
  const biasFree: string[] = [];
  const vSub = c.kernelSize ** c.dim;
  const vDown = 2 ** c.dim;
  const planes = Array.from({ length: c.depth }, (_, i) => c.filters * (i + 1));
  const p = (i: number): number => planes[i]!;
  const kernel = (gg: string, me: string, v: number, cin: number, cout: number, ks: number): void => {
    params.push({ gg: `${gg}.weight`, me: `${me}.kernel`, ggShape: [v, cin, cout], meShape: [v, cin, cout], kind: 'kernel', kernelSize: ks });
    biasFree.push(me);
  };
  const norm = (gg: string, me: string, ch: number): void => {
    const bn = `${me}.bn`;
    for (const f of ['weight', 'bias'] as const) params.push({ gg: `${gg}.${f}`, me: `${bn}.${f}`, ggShape: [ch], meShape: [ch], kind: 'copy', kernelSize: 0 });
    for (const f of ['running_mean', 'running_var'] as const) buffers.push({ gg: `${gg}.${f}`, me: `${bn}.${f}`, ggShape: [ch], meShape: [ch], kind: 'copy', kernelSize: 0 });
    norms.push(bn);
  };
  const block = (gg: string, me: string, cin: number, cout: number): void => {
    norm(`${gg}.bn1`, `${me}.norm1`, cin);
    kernel(`${gg}.conv1`, `${me}.conv1`, vSub, cin, cout, c.kernelSize);
    norm(`${gg}.bn2`, `${me}.norm2`, cout);
    kernel(`${gg}.conv2`, `${me}.conv2`, vSub, cout, cout, c.kernelSize);
    if (cin !== cout) {
      params.push({ gg: `${gg}.proj.weight`, me: `${me}.residual.linear.weight`, ggShape: [cin, cout], meShape: [cout, cin], kind: 'linear', kernelSize: 0 });
      biasFree.push(`${me}.residual.linear`);
    }
  };
  kernel('input.conv', 'net.encoder.input_layer', vSub, c.inChannels, p(0), c.kernelSize);
  for (let i = 0; i < c.depth; i++) {
    for (let r = 0; r < c.reps; r++) block(`encoder.${i}.block.${r}`, `net.encoder.encoding_block.${i}.${r}`, p(i), p(i));
    if (i < c.depth - 1) {
      norm(`encoder.${i}.down.bn`, `net.encoder.encoding_conv.${i}.0`, p(i));
      kernel(`encoder.${i}.down.conv`, `net.encoder.encoding_conv.${i}.2`, vDown, p(i), p(i + 1), 2);
    }
  }
  for (let i = c.depth - 2; i >= 0; i--) {
    const j = c.depth - 2 - i;
    norm(`decoder.${i}.up.bn`, `net.decoder.decoding_conv.${j}.0`, p(i + 1));
    kernel(`decoder.${i}.up.conv`, `net.decoder.decoding_conv.${j}.2`, vDown, p(i + 1), p(i), 2);
    for (let r = 0; r < c.reps; r++) block(`decoder.${i}.block.${r}`, `net.decoder.decoding_block.${j}.${r}`, r === 0 ? 2 * p(i) : p(i), p(i));
  }
  norm('output.bn', 'output.0', p(0));
  params.push({ gg: 'output.linear.weight', me: 'linear_segmentation.linear.weight', ggShape: [p(0), c.numClasses], meShape: [c.numClasses, p(0)], kind: 'linear', kernelSize: 0 });
  params.push({ gg: 'output.linear.bias', me: 'linear_segmentation.linear.bias', ggShape: [c.numClasses], meShape: [c.numClasses], kind: 'copy', kernelSize: 0 });
  return { rules: [...params, ...buffers], norms, biasFree };
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function names(list: readonly string[]): string {
  return list.map((n) => show(n)).join(', ');
}

/** [rows, cols] → [cols, rows], as a new array. */
function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

/** Converts one tensor's data from the layout of one side to the other's. */
function convertData(rule: Rule, data: Float32Array, c: ResolvedUResNetConfig, direction: 'toGhostgrad' | 'toMinkowski'): Float32Array {
  switch (rule.kind) {
    case 'copy':
      return Float32Array.from(data);
    case 'linear': {
      // Minkowski/PyTorch nn.Linear [out, in]; ghostgrad [in, out].
      const [cin, cout] = rule.ggShape as [number, number];
      return direction === 'toGhostgrad' ? transpose(data, cout, cin) : transpose(data, cin, cout);
    }
    case 'kernel': {
      const [, cin, cout] = rule.ggShape as [number, number, number];
      const f = direction === 'toGhostgrad' ? fromMinkowski : toMinkowski;
      // f32 → f64 → f32 is exact; the permutation only moves [Cin, Cout] blocks.
      return Float32Array.from(f(Float64Array.from(data), c.dim, rule.kernelSize, cin, cout));
    }
  }
}

function checkFile(fn: string, file: SafetensorsFile): void {
  if (file === null || typeof file !== 'object' || !(file.tensors instanceof Map) || file.metadata === null || typeof file.metadata !== 'object') {
    throw new InputValueError(`${fn}: file must be a parsed safetensors file { tensors: Map, metadata } (use readSafetensors(bytes)); got ${show(file)}`);
  }
  const bad: string[] = [];
  for (const [name, t] of file.tensors) {
    if (!t || !(t.data instanceof Float32Array) || !Array.isArray(t.shape) || t.data.length !== product(t.shape)) bad.push(name);
  }
  if (bad.length) {
    throw new ShapeError(`${fn}: tensor(s) ${names(bad)} have data whose length is not the product of their shape (or no Float32Array data); read the file with readSafetensors`);
  }
}

/** Finds the key prefix of the U-ResNet in a lartpc_mlreco3d state dict. */
function findPrefix(fn: string, keys: readonly string[], given: string | undefined): string {
  const candidates = keys.filter((k) => k.endsWith(MINKOWSKI_URESNET_ANCHOR)).map((k) => k.slice(0, k.length - MINKOWSKI_URESNET_ANCHOR.length));
  const valid = candidates.filter((p) => p === '' || p.endsWith('.'));
  const hint = valid.length
    ? `the file's U-ResNet prefix${valid.length > 1 ? 'es are' : ' is'} ${names(valid)}; pass ${valid.length > 1 ? 'one of them' : 'it'} as options.prefix (or leave prefix out to detect it)`
    : `no key ends with ${show(MINKOWSKI_URESNET_ANCHOR)}, so this is not the state_dict() of a lartpc_mlreco3d UResNet_Chain (see docs/uresnet.md)`;
  if (given !== undefined) {
    if (typeof given !== 'string') throw new InputValueError(`${fn}: options.prefix = ${show(given)} must be a string such as "module." or ""`);
    if (!keys.includes(given + MINKOWSKI_URESNET_ANCHOR)) {
      throw new InputValueError(`${fn}: options.prefix = ${show(given)} but the file has no tensor ${show(given + MINKOWSKI_URESNET_ANCHOR)} (the U-ResNet's input convolution); ${hint}`);
    }
    return given;
  }
  if (valid.length !== 1) {
    throw new InputValueError(`${fn}: cannot detect the key prefix: ${hint}`);
  }
  return valid[0]!;
}

/** Infers the ghostgrad configuration from a lartpc_mlreco3d state dict (keys without the prefix). */
function inferConfig(fn: string, get: (k: string) => SafetensorsTensor | undefined, keys: readonly string[], prefix: string, given: UResNetConfig): UResNetConfig {
  const inferred: { -readonly [K in keyof UResNetConfig]: UResNetConfig[K] } = {};
  const maxIndex = (re: RegExp): number | undefined => {
    let m = -1;
    for (const k of keys) {
      const hit = re.exec(k);
      if (hit) m = Math.max(m, Number(hit[1]));
    }
    return m >= 0 ? m + 1 : undefined;
  };
  const depth = maxIndex(/^net\.encoder\.encoding_block\.(\d+)\./);
  if (depth !== undefined) inferred.depth = depth;
  const reps = maxIndex(/^net\.encoder\.encoding_block\.0\.(\d+)\./);
  if (reps !== undefined) inferred.reps = reps;
  const input = get(MINKOWSKI_URESNET_ANCHOR)!;
  if (input.shape.length !== 3) {
    throw new ShapeError(
      `${fn}: tensor ${show(prefix + MINKOWSKI_URESNET_ANCHOR)} has shape ${show([...input.shape])}; a MinkowskiEngine convolution kernel is [V, Cin, Cout] ` +
        '(kernel_size 1 stores [Cin, Cout], which ghostgrad cannot use: its input convolution has the blocks\' kernel size, 3 in lartpc_mlreco3d)',
    );
  }
  inferred.inChannels = input.shape[1]!;
  inferred.filters = input.shape[2]!;
  const cls = get('linear_segmentation.linear.weight');
  if (cls && cls.shape.length === 2) inferred.numClasses = cls.shape[0]!;
  const down = get('net.encoder.encoding_conv.0.2.kernel');
  const conv = get('net.encoder.encoding_block.0.0.conv1.kernel');
  let dim = given.dim;
  if (dim === undefined && down && down.shape.length === 3) dim = down.shape[0] === 4 ? 2 : down.shape[0] === 8 ? 3 : undefined;
  if (dim === undefined && conv && conv.shape.length === 3) dim = conv.shape[0] === 9 ? 2 : conv.shape[0] === 27 ? 3 : undefined;
  if (dim !== undefined) inferred.dim = dim;
  const d = dim ?? 3;
  if (conv && conv.shape.length === 3) {
    const ks = Math.round(conv.shape[0]! ** (1 / d));
    if (ks ** d === conv.shape[0]) inferred.kernelSize = ks;
  }
  return { ...inferred, ...stripUndefined(given) };
}

function stripUndefined(o: UResNetConfig): UResNetConfig {
  const r: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) r[k] = v;
  return r as UResNetConfig;
}

function tensorOf(name: string, shape: readonly number[], data: Float32Array): SafetensorsTensor {
  return { name, dtype: 'F32', shape: Object.freeze([...shape]), data };
}

/**
 * Converts the `state_dict()` of a lartpc_mlreco3d MinkowskiEngine U-ResNet
 * (`mlreco.models.uresnet.UResNet_Chain`), exported to safetensors, into a
 * ghostgrad U-ResNet checkpoint that `loadUResNetWeights` and
 * `uresnetFromSafetensors` accept.
 *
 * Every tensor is renamed (`net.encoder.encoding_block.{i}.{r}.norm1.bn.weight`
 * → `encoder.{i}.block.{r}.bn1.weight`, …; the table is in docs/uresnet.md);
 * convolution kernels are re-laid from MinkowskiEngine's tap order to
 * ghostgrad's with {@link fromMinkowski}; `nn.Linear` weights ([out, in]) are
 * transposed to [in, out]; BatchNorm `num_batches_tracked` is dropped. The
 * first decoder block needs no channel permutation: lartpc_mlreco3d also
 * concatenates the skip tensor first. The input is not modified.
 *
 * Depth, filters, reps, inChannels, numClasses, dim and kernelSize are
 * inferred from the keys and shapes unless `config` gives them. Fields that
 * no weight reveals — `leakiness`, `bnEps`, `bnMomentum` — come from
 * `config` or ghostgrad's defaults (0.33, 1e-4, 0.01: the values of
 * lartpc_mlreco3d's shipped configs; its code defaults without a
 * `norm_layer.args` / `activation.args` block are eps 1e-5 and slope 0.01).
 * The resolved configuration goes into the metadata, so
 * `checkpointConfig(result)` rebuilds the matching model.
 *
 * @param file the parsed safetensors file (`readSafetensors(bytes)`), e.g.
 *   `torch.load(ckpt)['state_dict']` saved with `safetensors.torch.save_file`
 * @param config ghostgrad configuration fields to use instead of inferring them
 * @param options `prefix` (default: detected) and `strict` (default true)
 * @returns a new file: every ghostgrad tensor, F32, in checkpoint order, with
 *   the format tag and the configuration in the metadata
 * @throws InputValueError when the prefix cannot be found (naming the key it
 *   looked for and the prefixes present); listing every tensor the U-ResNet
 *   needs that the file lacks and every tensor the conversion would not
 *   consume; for convolution / projection biases (`allow_bias: True`), which
 *   ghostgrad's model does not have
 * @throws ShapeError listing every tensor whose shape differs from what the
 *   configuration needs
 *
 * @example
 * ```ts
 * const torchFile = readSafetensors(fs.readFileSync('uresnet_torch.safetensors'));
 * const converted = convertMinkowskiUResNet(torchFile);          // prefix 'module.' detected
 * const model = new UResNet(ctx, checkpointConfig(converted)!);
 * loadUResNetWeights(model, converted);
 * ```
 */
export function convertMinkowskiUResNet(file: SafetensorsFile, config: UResNetConfig = {}, options: ConvertMinkowskiOptions = {}): SafetensorsFile {
  const fn = 'convertMinkowskiUResNet';
  checkFile(fn, file);
  if (config === null || typeof config !== 'object') throw new InputValueError(`${fn}: config must be an object of UResNetConfig fields (or omitted); got ${show(config)}`);
  if (options === null || typeof options !== 'object') throw new InputValueError(`${fn}: options must be an object { prefix?, strict? }; got ${show(options)}`);
  const allKeys = [...file.tensors.keys()];
  const prefix = findPrefix(fn, allKeys, options.prefix);
  const strict = options.strict ?? true;
  const outside = allKeys.filter((k) => !k.startsWith(prefix));
  const keys = allKeys.filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
  const get = (k: string): SafetensorsTensor | undefined => file.tensors.get(prefix + k);
  const c = resolveUResNetConfig(inferConfig(fn, get, keys, prefix, config));
  const { rules, norms, biasFree } = layoutOf(c);

  const used = new Set(rules.map((r) => r.me));
  for (const bn of norms) used.add(`${bn}.num_batches_tracked`);
  const missing = rules.filter((r) => !file.tensors.has(prefix + r.me)).map((r) => prefix + r.me);
  const unconsumed = keys.filter((k) => !used.has(k));
  const biasKeys = new Set(biasFree.map((m) => `${m}.bias`));
  const biases = unconsumed.filter((k) => biasKeys.has(k)).map((k) => prefix + k);
  if (biases.length) {
    throw new InputValueError(
      `${fn}: the checkpoint has convolution / projection bias(es) ${names(biases)} (lartpc_mlreco3d allow_bias: True); ` +
        'ghostgrad\'s U-ResNet has no convolution or projection biases (allow_bias: False, the default), so this checkpoint cannot be converted exactly',
    );
  }
  const extra = strict ? unconsumed.map((k) => prefix + k) : [];
  if (missing.length || extra.length) {
    const parts: string[] = [];
    if (missing.length) parts.push(`the file lacks ${missing.length} tensor(s) the U-ResNet needs: ${names(missing)}`);
    if (extra.length) parts.push(`${extra.length} tensor(s) under the prefix would not be converted: ${names(extra)}`);
    throw new InputValueError(
      `${fn}: ${parts.join('; ')}. Configuration used: depth ${c.depth}, reps ${c.reps}, filters ${c.filters}, dim ${c.dim} (prefix ${show(prefix)}); ` +
        'check these (pass them in config), the prefix, and that the file is a lartpc_mlreco3d UResNet_Chain state_dict' +
        (extra.length ? '; pass { strict: false } to ignore tensors the U-ResNet does not use (e.g. linear_ghost)' : ''),
    );
  }
  const wrong: string[] = [];
  for (const r of rules) {
    const t = get(r.me)!;
    if (!sameShape(t.shape, r.meShape)) wrong.push(`${show(prefix + r.me)} is ${show([...t.shape])}, needs ${show([...r.meShape])}`);
  }
  if (wrong.length) {
    throw new ShapeError(
      `${fn}: ${wrong.length} tensor(s) have the wrong shape for depth ${c.depth}, reps ${c.reps}, filters ${c.filters}, inChannels ${c.inChannels}, ` +
        `numClasses ${c.numClasses}, dim ${c.dim}, kernelSize ${c.kernelSize}: ${wrong.join('; ')}. ` +
        'Planes are filters·(level + 1) as in lartpc_mlreco3d; pass the checkpoint\'s values in config or leave them out to infer them',
    );
  }
  const tensors = new Map<string, SafetensorsTensor>();
  for (const r of rules) tensors.set(r.gg, tensorOf(r.gg, r.ggShape, convertData(r, get(r.me)!.data, c, 'toGhostgrad')));
  const ignored = [...outside, ...(strict ? [] : unconsumed.map((k) => prefix + k))];
  return {
    tensors,
    metadata: Object.freeze({
      [CHECKPOINT_FORMAT_KEY]: CHECKPOINT_FORMAT,
      [CHECKPOINT_CONFIG_KEY]: JSON.stringify(c),
      [CONVERTED_FROM_KEY]: MINKOWSKI_URESNET_SOURCE,
      [CONVERT_PREFIX_KEY]: prefix,
      [CONVERT_IGNORED_KEY]: JSON.stringify(ignored),
    }),
  };
}

/**
 * The inverse of {@link convertMinkowskiUResNet}: renames and re-lays a
 * ghostgrad U-ResNet checkpoint into the `state_dict()` names and layouts of
 * lartpc_mlreco3d's `UResNet_Chain` (MinkowskiEngine kernels via
 * {@link toMinkowski}, linear weights transposed to [out, in]). BatchNorm
 * `num_batches_tracked` is not written (load with `strict=False`, or add
 * them in PyTorch). The input is not modified.
 *
 * @param file a ghostgrad checkpoint (`readSafetensors(await saveUResNetWeights(model))`)
 * @param config the model configuration, used when the file's metadata has none
 * @throws InputValueError when no configuration is available, listing every
 *   missing or unknown tensor name; ShapeError listing every wrong shape
 */
export function toMinkowskiUResNet(file: SafetensorsFile, config?: UResNetConfig, options: ToMinkowskiOptions = {}): SafetensorsFile {
  const fn = 'toMinkowskiUResNet';
  checkFile(fn, file);
  const prefix = options.prefix ?? '';
  if (typeof prefix !== 'string') throw new InputValueError(`${fn}: options.prefix = ${show(prefix)} must be a string such as "module." or ""`);
  const stored = checkpointConfig(file);
  if (!stored && config === undefined) {
    throw new InputValueError(`${fn}: the file has no ${show(CHECKPOINT_CONFIG_KEY)} metadata; pass the model's configuration as config (e.g. model.config)`);
  }
  const c = stored ?? resolveUResNetConfig(config);
  const { rules } = layoutOf(c);
  const known = new Set(rules.map((r) => r.gg));
  const missing = rules.filter((r) => !file.tensors.has(r.gg)).map((r) => r.gg);
  const extra = [...file.tensors.keys()].filter((k) => !known.has(k));
  if (missing.length || extra.length) {
    const parts: string[] = [];
    if (missing.length) parts.push(`the file lacks ${missing.length} tensor(s): ${names(missing)}`);
    if (extra.length) parts.push(`${extra.length} tensor(s) are not part of the model: ${names(extra)}`);
    throw new InputValueError(`${fn}: ${parts.join('; ')}; the configuration (depth ${c.depth}, reps ${c.reps}) must be the checkpoint's (docs/uresnet.md lists the names)`);
  }
  const wrong = rules.filter((r) => !sameShape(file.tensors.get(r.gg)!.shape, r.ggShape)).map((r) => `${show(r.gg)} is ${show([...file.tensors.get(r.gg)!.shape])}, needs ${show([...r.ggShape])}`);
  if (wrong.length) throw new ShapeError(`${fn}: ${wrong.length} tensor(s) have the wrong shape for the checkpoint's configuration: ${wrong.join('; ')}`);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const r of rules) tensors.set(prefix + r.me, tensorOf(prefix + r.me, r.meShape, convertData(r, file.tensors.get(r.gg)!.data, c, 'toMinkowski')));
  return {
    tensors,
    metadata: Object.freeze({ [CHECKPOINT_CONFIG_KEY]: JSON.stringify(c), [CONVERTED_FROM_KEY]: CHECKPOINT_FORMAT }),
  };
}
