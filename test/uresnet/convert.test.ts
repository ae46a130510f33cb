// Conversion of lartpc_mlreco3d (MinkowskiEngine) U-ResNet state dicts into
// ghostgrad checkpoints and back. The synthetic state dict below is built
// independently of src/models/convert.ts: its names follow lartpc_mlreco3d's
// module tree (mlreco/models/uresnet.py UResNet_Chain,
// layers/common/uresnet_layers.py, layers/common/blocks.py ResNetBlock) and
// its kernels MinkowskiEngine's layout ([V, Cin, Cout], first spatial axis
// fastest in the tap index, src/kernel_region.hpp coordinate_at). A host
// float64 forward pass written from those sources checks that the converted
// model computes the same logits on the GPU.
import { describe, expect, it } from 'vitest';
import { testGpu } from '../helpers/gpu.js';
import { InputValueError, ShapeError } from '../../src/errors.js';
import { seededRandom } from '../../src/autodiff/numeric.js';
import { noGrad } from '../../src/autodiff/tape.js';
import { sparseTensor, type SparseTensor } from '../../src/kernels/sparse/index.js';
import {
  CONVERT_IGNORED_KEY,
  CONVERT_PREFIX_KEY,
  UResNet,
  checkpointConfig,
  convertMinkowskiUResNet,
  loadUResNetWeights,
  readSafetensors,
  saveUResNetWeights,
  toMinkowskiUResNet,
  type SafetensorsFile,
  type SafetensorsTensor,
} from '../../src/models/index.js';
import { bits } from './helpers.js';

interface MeConfig {
  depth: number;
  filters: number;
  reps: number;
  numInput: number;
  numClasses: number;
  dim: 2 | 3;
}

const SMALL: MeConfig = { depth: 3, filters: 4, reps: 2, numInput: 1, numClasses: 5, dim: 3 };

/**
 * A lartpc_mlreco3d UResNet_Chain state_dict with MinkowskiEngine layouts, in
 * PyTorch's registration order, with DataParallel's `module.` prefix and
 * BatchNorm's num_batches_tracked (exported as an F32 scalar).
 */
function minkowskiStateDict(cfg: MeConfig, seed: number, prefix = 'module.'): SafetensorsFile {
  const rand = seededRandom(seed);
  const tensors = new Map<string, SafetensorsTensor>();
  const add = (name: string, shape: number[], lo: number, hi: number): void => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());
    tensors.set(prefix + name, { name: prefix + name, dtype: 'F32', shape, data });
  };
  const v3 = 3 ** cfg.dim;
  const v2 = 2 ** cfg.dim;
  const conv = (name: string, v: number, cin: number, cout: number): void => {
    const s = 1 / Math.sqrt(v * cin);
    add(`${name}.kernel`, [v, cin, cout], -s, s);
  };
  const bn = (name: string, ch: number): void => {
    add(`${name}.bn.weight`, [ch], 0.5, 1.5);
    add(`${name}.bn.bias`, [ch], -0.2, 0.2);
    add(`${name}.bn.running_mean`, [ch], -0.2, 0.2);
    add(`${name}.bn.running_var`, [ch], 0.5, 1.5);
    tensors.set(`${prefix}${name}.bn.num_batches_tracked`, { name: `${prefix}${name}.bn.num_batches_tracked`, dtype: 'F32', shape: [], data: new Float32Array([1234]) });
  };
  // ResNetBlock registers act_fn1, act_fn2, residual, conv1, norm1, conv2, norm2.
  const block = (name: string, cin: number, cout: number): void => {
    if (cin !== cout) add(`${name}.residual.linear.weight`, [cout, cin], -1 / Math.sqrt(cin), 1 / Math.sqrt(cin));
    conv(`${name}.conv1`, v3, cin, cout);
    bn(`${name}.norm1`, cin);
    conv(`${name}.conv2`, v3, cout, cout);
    bn(`${name}.norm2`, cout);
  };
  const P = Array.from({ length: cfg.depth }, (_, i) => cfg.filters * (i + 1));
  conv('net.encoder.input_layer', v3, cfg.numInput, cfg.filters);
  for (let i = 0; i < cfg.depth - 1; i++) {
    bn(`net.encoder.encoding_conv.${i}.0`, P[i]!);
    conv(`net.encoder.encoding_conv.${i}.2`, v2, P[i]!, P[i + 1]!);
  }
  for (let i = 0; i < cfg.depth; i++) for (let r = 0; r < cfg.reps; r++) block(`net.encoder.encoding_block.${i}.${r}`, P[i]!, P[i]!);
  for (let j = 0, i = cfg.depth - 2; i >= 0; i--, j++) {
    for (let r = 0; r < cfg.reps; r++) block(`net.decoder.decoding_block.${j}.${r}`, (r === 0 ? 2 : 1) * P[i]!, P[i]!);
  }
  for (let j = 0, i = cfg.depth - 2; i >= 0; i--, j++) {
    bn(`net.decoder.decoding_conv.${j}.0`, P[i + 1]!);
    conv(`net.decoder.decoding_conv.${j}.2`, v2, P[i + 1]!, P[i]!);
  }
  bn('output.0', cfg.filters);
  add('linear_segmentation.linear.weight', [cfg.numClasses, cfg.filters], -0.5, 0.5);
  add('linear_segmentation.linear.bias', [cfg.numClasses], -0.1, 0.1);
  return { tensors, metadata: { format: 'pt' } };
}

/** The ghostgrad name of a lartpc_mlreco3d key (without prefix), by pattern, as in docs/uresnet.md. */
function ghostgradName(key: string, depth: number): string | null {
  const dec = (j: string): number => depth - 2 - Number(j);
  const blockPart = (rest: string): string =>
    rest
      .replace(/^norm([12])\.bn\./, 'bn$1.')
      .replace(/^conv([12])\.kernel$/, 'conv$1.weight')
      .replace(/^residual\.linear\.weight$/, 'proj.weight');
  let m: RegExpExecArray | null;
  if (key.endsWith('.num_batches_tracked')) return null;
  if (key === 'net.encoder.input_layer.kernel') return 'input.conv.weight';
  if ((m = /^net\.encoder\.encoding_block\.(\d+)\.(\d+)\.(.*)$/.exec(key))) return `encoder.${m[1]}.block.${m[2]}.${blockPart(m[3]!)}`;
  if ((m = /^net\.encoder\.encoding_conv\.(\d+)\.0\.bn\.(.*)$/.exec(key))) return `encoder.${m[1]}.down.bn.${m[2]}`;
  if ((m = /^net\.encoder\.encoding_conv\.(\d+)\.2\.kernel$/.exec(key))) return `encoder.${m[1]}.down.conv.weight`;
  if ((m = /^net\.decoder\.decoding_conv\.(\d+)\.0\.bn\.(.*)$/.exec(key))) return `decoder.${dec(m[1]!)}.up.bn.${m[2]}`;
  if ((m = /^net\.decoder\.decoding_conv\.(\d+)\.2\.kernel$/.exec(key))) return `decoder.${dec(m[1]!)}.up.conv.weight`;
  if ((m = /^net\.decoder\.decoding_block\.(\d+)\.(\d+)\.(.*)$/.exec(key))) return `decoder.${dec(m[1]!)}.block.${m[2]}.${blockPart(m[3]!)}`;
  if ((m = /^output\.0\.bn\.(.*)$/.exec(key))) return `output.bn.${m[1]}`;
  if ((m = /^linear_segmentation\.linear\.(weight|bias)$/.exec(key))) return `output.linear.${m[1]}`;
  throw new Error(`test: unmapped key ${key}`);
}

/** MinkowskiEngine tap index of per-axis kernel position pos (first axis fastest). */
function meTap(pos: readonly number[], k: number): number {
  let t = 0;
  for (let a = pos.length - 1; a >= 0; a--) t = t * k + pos[a]!;
  return t;
}

/** Per-axis position of ghostgrad tap index t (last axis fastest). */
function ggPos(t: number, k: number, dim: number): number[] {
  const pos = new Array<number>(dim);
  for (let a = dim - 1; a >= 0; a--) {
    pos[a] = t % k;
    t = Math.floor(t / k);
  }
  return pos;
}

/** The ghostgrad tensor expected from a lartpc_mlreco3d one, permuted by hand. */
function expected(key: string, t: SafetensorsTensor, dim: number): { shape: number[]; data: Float32Array } {
  if (key.endsWith('.kernel')) {
    const [v, cin, cout] = t.shape as [number, number, number];
    const k = Math.round(v ** (1 / dim));
    const out = new Float32Array(t.data.length);
    for (let g = 0; g < v; g++) {
      const src = meTap(ggPos(g, k, dim), k);
      out.set(t.data.subarray(src * cin * cout, (src + 1) * cin * cout), g * cin * cout);
    }
    return { shape: [v, cin, cout], data: out };
  }
  if (key.endsWith('linear.weight')) {
    const [o, i] = t.shape as [number, number];
    const out = new Float32Array(t.data.length);
    for (let a = 0; a < i; a++) for (let b = 0; b < o; b++) out[a * o + b] = t.data[b * i + a]!;
    return { shape: [i, o], data: out };
  }
  return { shape: [...t.shape], data: t.data };
}

function snapshot(file: SafetensorsFile): Map<string, Float32Array> {
  return new Map([...file.tensors].map(([k, t]) => [k, Float32Array.from(t.data)]));
}

function without(file: SafetensorsFile, ...drop: string[]): SafetensorsFile {
  return { tensors: new Map([...file.tensors].filter(([k]) => !drop.includes(k))), metadata: file.metadata };
}

function withTensor(file: SafetensorsFile, name: string, shape: number[]): SafetensorsFile {
  const tensors = new Map(file.tensors);
  tensors.set(name, { name, dtype: 'F32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  return { tensors, metadata: file.metadata };
}

function rename(file: SafetensorsFile, from: string, to: string): SafetensorsFile {
  return { tensors: new Map([...file.tensors].map(([k, t]) => [k.startsWith(from) ? to + k.slice(from.length) : k, t])), metadata: file.metadata };
}

function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('test: expected an error');
}

describe('convertMinkowskiUResNet (host)', () => {
  for (const reps of [1, 2]) {
    it(`renames and re-lays every tensor exactly (depth 3, filters 4, reps ${reps}, 5 classes); input unchanged`, () => {
      const cfg = { ...SMALL, reps };
      const me = minkowskiStateDict(cfg, 7 + reps);
      const before = snapshot(me);
      const out = convertMinkowskiUResNet(me);
      // The input is untouched.
      for (const [k, t] of me.tensors) expect(bits(t.data)).toEqual(bits(before.get(k)!));
      // Every ME tensor except num_batches_tracked becomes exactly one ghostgrad tensor.
      const want = new Map<string, { shape: number[]; data: Float32Array }>();
      for (const [k, t] of me.tensors) {
        const name = ghostgradName(k.slice('module.'.length), cfg.depth);
        if (name) want.set(name, expected(k, t, 3));
      }
      expect(new Set(out.tensors.keys())).toEqual(new Set(want.keys()));
      for (const [name, w] of want) {
        const t = out.tensors.get(name)!;
        expect(t.dtype).toBe('F32');
        expect([...t.shape], name).toEqual(w.shape);
        expect(bits(t.data), name).toEqual(bits(w.data));
      }
      // The inferred configuration is in the metadata; the behaviour fields are the defaults.
      expect(checkpointConfig(out)).toMatchObject({ depth: 3, filters: 4, reps, inChannels: 1, numClasses: 5, dim: 3, kernelSize: 3, leakiness: 0.33, bnEps: 1e-4 });
      expect(out.metadata[CONVERT_PREFIX_KEY]).toBe('module.');
      expect(JSON.parse(out.metadata[CONVERT_IGNORED_KEY]!)).toEqual([]);
    });
  }

  it('round trip ME → ghostgrad → ME is exact (num_batches_tracked dropped)', () => {
    const me = minkowskiStateDict(SMALL, 3);
    const back = toMinkowskiUResNet(convertMinkowskiUResNet(me), undefined, { prefix: 'module.' });
    const kept = [...me.tensors.keys()].filter((k) => !k.endsWith('num_batches_tracked'));
    expect(new Set(back.tensors.keys())).toEqual(new Set(kept));
    for (const k of kept) {
      expect([...back.tensors.get(k)!.shape], k).toEqual([...me.tensors.get(k)!.shape]);
      expect(bits(back.tensors.get(k)!.data), k).toEqual(bits(me.tensors.get(k)!.data));
    }
  });

  it('detects other prefixes, takes an explicit one, and works in 2D', () => {
    const bare = convertMinkowskiUResNet(minkowskiStateDict(SMALL, 4, ''));
    expect(bare.metadata[CONVERT_PREFIX_KEY]).toBe('');
    // uresnet_ppn_chain: the U-ResNet is `backbone`; PPN layers beside it are ignored and listed.
    const ppn = withTensor(minkowskiStateDict(SMALL, 4, 'module.backbone.'), 'module.ppn.layer.kernel', [27, 4, 1]);
    const fromPpn = convertMinkowskiUResNet(ppn, {}, { prefix: 'module.backbone.' });
    expect(JSON.parse(fromPpn.metadata[CONVERT_IGNORED_KEY]!)).toEqual(['module.ppn.layer.kernel']);
    for (const [k, t] of bare.tensors) expect(bits(fromPpn.tensors.get(k)!.data)).toEqual(bits(t.data));
    const flat = convertMinkowskiUResNet(minkowskiStateDict({ ...SMALL, dim: 2 }, 5));
    expect(checkpointConfig(flat)).toMatchObject({ dim: 2, kernelSize: 3 });
    expect([...flat.tensors.get('encoder.0.down.conv.weight')!.shape]).toEqual([4, 4, 8]);
  });

  it('missing, extra and unsupported keys are InputValueErrors that list every name', () => {
    const me = minkowskiStateDict(SMALL, 5);
    const a = 'module.net.encoder.encoding_block.1.0.conv2.kernel';
    const b = 'module.net.decoder.decoding_conv.0.0.bn.running_var';
    const e1 = thrown(() => convertMinkowskiUResNet(without(me, a, b)));
    expect(e1).toBeInstanceOf(InputValueError);
    expect(e1.message).toContain(`"${a}"`);
    expect(e1.message).toContain(`"${b}"`);
    expect(e1.message).toMatch(/lacks 2 tensor/);

    const x1 = 'module.net.encoder.encoding_block.0.0.extra.weight';
    const x2 = 'module.linear_ghost.linear.weight';
    const extra = withTensor(withTensor(me, x1, [3]), x2, [2, 4]);
    const e2 = thrown(() => convertMinkowskiUResNet(extra));
    expect(e2).toBeInstanceOf(InputValueError);
    expect(e2.message).toContain(`"${x1}"`);
    expect(e2.message).toContain(`"${x2}"`);
    expect(e2.message).toMatch(/strict: false/);
    // strict: false ignores them and lists them in the metadata.
    const loose = convertMinkowskiUResNet(extra, {}, { strict: false });
    expect(JSON.parse(loose.metadata[CONVERT_IGNORED_KEY]!).sort()).toEqual([x2, x1].sort());

    // Convolution biases (allow_bias: True) cannot be converted, even with strict: false.
    const bias = 'module.net.encoder.encoding_block.0.1.conv1.bias';
    const e3 = thrown(() => convertMinkowskiUResNet(withTensor(me, bias, [1, 4]), {}, { strict: false }));
    expect(e3).toBeInstanceOf(InputValueError);
    expect(e3.message).toContain(`"${bias}"`);
    expect(e3.message).toMatch(/allow_bias/);

    // A config that disagrees with the file: the keys of the extra level are named.
    const e4 = thrown(() => convertMinkowskiUResNet(me, { depth: 2 }));
    expect(e4).toBeInstanceOf(InputValueError);
    expect(e4.message).toContain('"module.net.encoder.encoding_block.2.0.conv1.kernel"');
  });

  it('wrong shapes are ShapeErrors naming each tensor and both shapes', () => {
    const me = minkowskiStateDict(SMALL, 6);
    const k1 = 'module.net.encoder.encoding_conv.1.2.kernel';
    const k2 = 'module.linear_segmentation.linear.bias';
    let bad = withTensor(me, k1, [8, 8, 13]);
    bad = withTensor(bad, k2, [4]);
    const e = thrown(() => convertMinkowskiUResNet(bad));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toContain(`"${k1}" is [8, 8, 13], needs [8, 8, 12]`);
    expect(e.message).toContain(`"${k2}" is [4], needs [5]`);
    // filters given but wrong: every kernel is reported.
    expect(() => convertMinkowskiUResNet(me, { filters: 8 })).toThrow(ShapeError);
  });

  it('a wrong or ambiguous prefix is an InputValueError naming the key it looked for', () => {
    const me = minkowskiStateDict(SMALL, 8);
    const e1 = thrown(() => convertMinkowskiUResNet(me, {}, { prefix: 'backbone.' }));
    expect(e1).toBeInstanceOf(InputValueError);
    expect(e1.message).toContain('"backbone.net.encoder.input_layer.kernel"');
    expect(e1.message).toContain('"module."');
    // Any prefix in front of the UResNet_Chain names is detected.
    expect(convertMinkowskiUResNet(rename(me, 'module.', 'model.')).metadata[CONVERT_PREFIX_KEY]).toBe('model.');
    const none = rename(me, 'module.net.encoder.input_layer', 'module.net.encoder.first_layer');
    const e3 = thrown(() => convertMinkowskiUResNet(none));
    expect(e3).toBeInstanceOf(InputValueError);
    expect(e3.message).toContain('"net.encoder.input_layer.kernel"');
    // Two U-ResNets (full chain: uresnet_lonely and uresnet_deghost): the prefix must be given.
    const two = new Map([...me.tensors, ...rename(me, 'module.', 'module.uresnet_deghost.').tensors]);
    const e4 = thrown(() => convertMinkowskiUResNet({ tensors: two, metadata: {} }));
    expect(e4).toBeInstanceOf(InputValueError);
    expect(e4.message).toContain('"module."');
    expect(e4.message).toContain('"module.uresnet_deghost."');
    expect(convertMinkowskiUResNet({ tensors: two, metadata: {} }, {}, { prefix: 'module.uresnet_deghost.' }).tensors.size).toBeGreaterThan(0);
  });

  it('toMinkowskiUResNet reports missing, unknown and wrong-shaped tensors by name', () => {
    const gg = convertMinkowskiUResNet(minkowskiStateDict(SMALL, 9));
    const e1 = thrown(() => toMinkowskiUResNet(without(gg, 'decoder.1.block.0.proj.weight')));
    expect(e1).toBeInstanceOf(InputValueError);
    expect(e1.message).toContain('"decoder.1.block.0.proj.weight"');
    const e2 = thrown(() => toMinkowskiUResNet(withTensor(gg, 'decoder.0.up.conv.weight', [8, 8, 5])));
    expect(e2).toBeInstanceOf(ShapeError);
    expect(e2.message).toContain('"decoder.0.up.conv.weight"');
    const e3 = thrown(() => toMinkowskiUResNet({ tensors: gg.tensors, metadata: {} }));
    expect(e3).toBeInstanceOf(InputValueError);
    expect(e3.message).toMatch(/pass the model's configuration/);
  });
});

// ---------------------------------------------------------------------------
// Host float64 forward pass with lartpc_mlreco3d / MinkowskiEngine semantics.

interface HostSparse {
  readonly coords: Int32Array; // [N, 4] (batch, x, y, z), in stride units
  readonly feats: Float64Array; // [N, C]
  readonly c: number;
}

interface RefVariant {
  /** Tap order used to read kernels: MinkowskiEngine's (first axis fastest) or the other one. */
  readonly taps: 'minkowski' | 'last-axis-fastest';
  /** Mirror the transposed convolution's offsets (fine = 2q + 1 − d_k), the convention the docs could not rule out. */
  readonly mirrorTranspose: boolean;
}

const key = (c: Int32Array, r: number, off: readonly number[] = [0, 0, 0], scale = 1): string =>
  `${c[r * 4]},${scale * c[r * 4 + 1]! + off[0]!},${scale * c[r * 4 + 2]! + off[1]!},${scale * c[r * 4 + 3]! + off[2]!}`;

function indexOf(c: Int32Array): Map<string, number> {
  const m = new Map<string, number>();
  for (let r = 0; r < c.length / 4; r++) m.set(key(c, r), r);
  return m;
}

/** Kernel position of tap t (kernel size k, 3D) under the variant's tap order. */
function tapPos(t: number, k: number, v: RefVariant): number[] {
  const p = [t % k, Math.floor(t / k) % k, Math.floor(t / (k * k))]; // first axis fastest
  return v.taps === 'minkowski' ? p : [p[2]!, p[1]!, p[0]!];
}

function accumulate(out: Float64Array, o: number, x: HostSparse, i: number, w: Float32Array, t: number, cout: number): void {
  for (let a = 0; a < x.c; a++) {
    const f = x.feats[i * x.c + a]!;
    for (let b = 0; b < cout; b++) out[o * cout + b] = out[o * cout + b]! + f * w[(t * x.c + a) * cout + b]!;
  }
}

/** MinkowskiConvolution k 3 s 1 on its own sites: out[u] += x[u + d_k] W[k], d_k centred. */
function subConv(x: HostSparse, w: SafetensorsTensor, v: RefVariant): HostSparse {
  const [vol, , cout] = w.shape as [number, number, number];
  const n = x.coords.length / 4;
  const idx = indexOf(x.coords);
  const out = new Float64Array(n * cout);
  for (let o = 0; o < n; o++) {
    for (let t = 0; t < vol; t++) {
      const i = idx.get(key(x.coords, o, tapPos(t, 3, v).map((p) => p - 1)));
      if (i !== undefined) accumulate(out, o, x, i, w.data, t, cout);
    }
  }
  return { coords: x.coords, feats: out, c: cout };
}

/** MinkowskiConvolution k 2 s 2: coarse q = ⌊p/2⌋, out[q] += x[2q + d_k] W[k], d_k ∈ {0,1}³. */
function downConv(x: HostSparse, w: SafetensorsTensor, v: RefVariant): HostSparse {
  const cout = w.shape[2]!;
  const coarse: number[] = [];
  const seen = new Set<string>();
  for (let r = 0; r < x.coords.length / 4; r++) {
    const q = [x.coords[r * 4]!, ...[1, 2, 3].map((a) => Math.floor(x.coords[r * 4 + a]! / 2))];
    const s = q.join(',');
    if (!seen.has(s)) {
      seen.add(s);
      coarse.push(...q);
    }
  }
  const coords = Int32Array.from(coarse);
  const idx = indexOf(x.coords);
  const n = coords.length / 4;
  const out = new Float64Array(n * cout);
  for (let o = 0; o < n; o++) {
    for (let t = 0; t < 8; t++) {
      const i = idx.get(key(coords, o, tapPos(t, 2, v), 2));
      if (i !== undefined) accumulate(out, o, x, i, w.data, t, cout);
    }
  }
  return { coords, feats: out, c: cout };
}

/** MinkowskiConvolutionTranspose k 2 s 2 onto existing fine sites: out[2q + d_k] += x[q] W[k]. */
function upConv(x: HostSparse, w: SafetensorsTensor, fine: Int32Array, v: RefVariant): HostSparse {
  const cout = w.shape[2]!;
  const idx = indexOf(fine);
  const out = new Float64Array((fine.length / 4) * cout);
  for (let q = 0; q < x.coords.length / 4; q++) {
    for (let t = 0; t < 8; t++) {
      const d = tapPos(t, 2, v).map((p) => (v.mirrorTranspose ? 1 - p : p));
      const o = idx.get(key(x.coords, q, d, 2));
      if (o !== undefined) accumulate(out, o, x, q, w.data, t, cout);
    }
  }
  return { coords: fine, feats: out, c: cout };
}

function bnAct(x: HostSparse, get: (k: string) => SafetensorsTensor, name: string, eps: number, slope: number): HostSparse {
  const [g, b, m, s] = ['weight', 'bias', 'running_mean', 'running_var'].map((f) => get(`${name}.bn.${f}`).data) as Float32Array[];
  const out = new Float64Array(x.feats.length);
  for (let r = 0; r < x.feats.length / x.c; r++) {
    for (let a = 0; a < x.c; a++) {
      const y = ((x.feats[r * x.c + a]! - m![a]!) / Math.sqrt(s![a]! + eps)) * g![a]! + b![a]!;
      out[r * x.c + a] = y >= 0 ? y : slope * y;
    }
  }
  return { ...x, feats: out };
}

/** nn.Linear: y = x Wᵀ (+ b), W [out, in]. */
function linear(x: HostSparse, w: SafetensorsTensor, b?: SafetensorsTensor): HostSparse {
  const [cout, cin] = w.shape as [number, number];
  const n = x.feats.length / cin;
  const out = new Float64Array(n * cout);
  for (let r = 0; r < n; r++) {
    for (let o = 0; o < cout; o++) {
      let s = b ? b.data[o]! : 0;
      for (let a = 0; a < cin; a++) s += x.feats[r * cin + a]! * w.data[o * cin + a]!;
      out[r * cout + o] = s;
    }
  }
  return { coords: x.coords, feats: out, c: cout };
}

function add(a: HostSparse, b: HostSparse): HostSparse {
  return { ...a, feats: a.feats.map((v, i) => v + b.feats[i]!) };
}

function cat(a: HostSparse, b: HostSparse): HostSparse {
  const n = a.feats.length / a.c;
  const c = a.c + b.c;
  const out = new Float64Array(n * c);
  for (let r = 0; r < n; r++) {
    out.set(a.feats.subarray(r * a.c, (r + 1) * a.c), r * c);
    out.set(b.feats.subarray(r * b.c, (r + 1) * b.c), r * c + a.c);
  }
  return { coords: a.coords, feats: out, c };
}

/** UResNet_Chain.forward in eval mode, from lartpc_mlreco3d's module structure. */
function referenceLogits(me: SafetensorsFile, cfg: MeConfig, x: HostSparse, v: RefVariant, eps = 1e-4, slope = 0.33): Float64Array {
  const get = (k: string): SafetensorsTensor => me.tensors.get(`module.${k}`)!;
  const block = (h: HostSparse, name: string): HostSparse => {
    const res = me.tensors.has(`module.${name}.residual.linear.weight`) ? linear(h, get(`${name}.residual.linear.weight`)) : h;
    let y = subConv(bnAct(h, get, `${name}.norm1`, eps, slope), get(`${name}.conv1.kernel`), v);
    y = subConv(bnAct(y, get, `${name}.norm2`, eps, slope), get(`${name}.conv2.kernel`), v);
    return add(y, res);
  };
  let h = subConv(x, get('net.encoder.input_layer.kernel'), v);
  const enc: HostSparse[] = [];
  for (let i = 0; i < cfg.depth; i++) {
    for (let r = 0; r < cfg.reps; r++) h = block(h, `net.encoder.encoding_block.${i}.${r}`);
    enc.push(h);
    if (i < cfg.depth - 1) h = downConv(bnAct(h, get, `net.encoder.encoding_conv.${i}.0`, eps, slope), get(`net.encoder.encoding_conv.${i}.2.kernel`), v);
  }
  for (let j = 0; j < cfg.depth - 1; j++) {
    const skip = enc[cfg.depth - 2 - j]!;
    const up = upConv(bnAct(h, get, `net.decoder.decoding_conv.${j}.0`, eps, slope), get(`net.decoder.decoding_conv.${j}.2.kernel`), skip.coords, v);
    h = cat(skip, up);
    for (let r = 0; r < cfg.reps; r++) h = block(h, `net.decoder.decoding_block.${j}.${r}`);
  }
  return linear(bnAct(h, get, 'output.0', eps, 0.33), get('linear_segmentation.linear.weight'), get('linear_segmentation.linear.bias')).feats;
}

/** Two events of 70 distinct voxels each in a 6³ box (dense enough that most taps see a neighbour). */
function events(seed: number): { coords: Int32Array; feats: Float64Array } {
  const rand = seededRandom(seed);
  const coords: number[] = [];
  for (let b = 0; b < 2; b++) {
    const seen = new Set<number>();
    while (seen.size < 70) {
      const s = Math.floor(rand() * 216);
      if (seen.has(s)) continue;
      seen.add(s);
      coords.push(b, Math.floor(s / 36), Math.floor(s / 6) % 6, s % 6);
    }
  }
  const feats = Float64Array.from({ length: coords.length / 4 }, () => 0.2 + rand());
  return { coords: Int32Array.from(coords), feats };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('convertMinkowskiUResNet (GPU)', () => {
  it('loads into UResNet in checkpoint order, and the model computes the MinkowskiEngine logits; no leaks', async () => {
    const ctx = await testGpu();
    await ctx.sync();
    const base = ctx.stats().liveBytes;
    const me = minkowskiStateDict(SMALL, 11);
    const converted = convertMinkowskiUResNet(me);
    const model = new UResNet(ctx, checkpointConfig(converted)!);
    try {
      // Same names, shapes and order as the model's own checkpoint.
      expect([...converted.tensors.values()].map((t) => [t.name, [...t.shape]])).toEqual(model.stateShapes().map((s) => [s.name, [...s.shape]]));
      loadUResNetWeights(model, converted);
      for (const e of model.stateEntries()) {
        expect(bits((await e.tensor.read()) as Float32Array), e.name).toEqual(bits(converted.tensors.get(e.name)!.data));
      }
      // Forward in eval mode against the host reference.
      model.eval();
      const ev = events(5);
      const x = sparseTensor(ctx, ev.coords, ev.feats, { dim: 3, channels: 1 });
      let got: Float32Array;
      try {
        got = await ctx.scope(() =>
          noGrad(async () => {
            const y: SparseTensor = model.forward(x);
            return (await y.feats.read()) as Float32Array;
          }),
        );
      } finally {
        x.feats.dispose();
        x.coords.dispose();
      }
      const host: HostSparse = { coords: ev.coords, feats: ev.feats, c: 1 };
      const ref = referenceLogits(me, SMALL, host, { taps: 'minkowski', mirrorTranspose: false });
      const scale = Math.max(...ref.map(Math.abs));
      expect(scale).toBeGreaterThan(0.1);
      const err = maxAbsDiff(got, ref);
      expect(err).toBeLessThan(1e-4 * scale);
      // The test can tell the conventions apart: the other tap order or a mirrored
      // transposed kernel give clearly different logits.
      const wrongTaps = referenceLogits(me, SMALL, host, { taps: 'last-axis-fastest', mirrorTranspose: false });
      const mirrored = referenceLogits(me, SMALL, host, { taps: 'minkowski', mirrorTranspose: true });
      expect(maxAbsDiff(got, wrongTaps)).toBeGreaterThan(1e-2 * scale);
      expect(maxAbsDiff(got, mirrored)).toBeGreaterThan(1e-2 * scale);
    } finally {
      model.dispose();
    }
    await ctx.sync();
    expect(ctx.stats().liveBytes).toBe(base);
  });

  it('ghostgrad checkpoint → toMinkowskiUResNet → convertMinkowskiUResNet is bitwise exact', async () => {
    const ctx = await testGpu();
    const model = new UResNet(ctx, { depth: 3, filters: 4, reps: 1, seed: 3 });
    try {
      const saved = readSafetensors(await saveUResNetWeights(model));
      const me = toMinkowskiUResNet(saved, undefined, { prefix: 'module.' });
      expect(me.tensors.has('module.net.decoder.decoding_block.1.0.residual.linear.weight')).toBe(true);
      const back = convertMinkowskiUResNet(me);
      // Everything but the init seed (which no weight records) is recovered.
      expect({ ...checkpointConfig(back)!, seed: 3 }).toEqual(model.config);
      expect([...back.tensors.keys()]).toEqual([...saved.tensors.keys()]);
      for (const [k, t] of saved.tensors) expect(bits(back.tensors.get(k)!.data), k).toEqual(bits(t.data));
    } finally {
      model.dispose();
    }
  });
});
