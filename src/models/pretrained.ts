/**
 * The pretrained U-ResNets shipped in the package, by name, and a loader
 * that finds them from an installed package in Node and in a browser.
 *
 * The files live in the package's `examples/uresnet/` (reachable as
 * `ghostgrad/examples/uresnet/<file>` through package.json "exports"). The
 * loader resolves them relative to this module: a file read in Node, a
 * fetch in a browser. A bundler that does not copy the files next to its
 * output (esbuild) needs `options.source`: the file's URL or its bytes.
 *
 * @module
 */
import { platform } from '#platform';
import { checkOptionKeys, InputValueError, show } from '../errors.js';
import type { GpuContext } from '../runtime/context.js';
import { uresnetFromSafetensors } from './checkpoint.js';
import type { UResNet, UResNetConfig } from './uresnet.js';

/** What each shipped model is; the training record is also in its safetensors metadata. */
export const PRETRAINED_URESNETS = {
  'uresnet-d4f16': {
    file: 'uresnet-d4f16.safetensors',
    summary:
      'depth 4, 16 filters, 1.4 M parameters, BF16 (2.8 MB); 25,204 Adam steps on synthetic 192³ LArTPC events; ' +
      '94.7 ± 0.3 % voxel accuracy on 512 held-out events, 95.1 ± 0.3 % with the 8 reflections averaged (docs/uresnet.md)',
  },
  'uresnet-small': {
    file: 'uresnet-small.safetensors',
    summary: 'depth 3, 8 filters, F32 (0.6 MB); 150 steps, the demo-sized model: tracks and blips, not yet showers or Michel electrons',
  },
} as const;

/** Name of a shipped pretrained U-ResNet. */
export type PretrainedUResNetName = keyof typeof PRETRAINED_URESNETS;

/** Options of {@link loadPretrainedUResNet}. */
export interface PretrainedOptions {
  /**
   * Where the file is, when not next to the package's modules: its URL
   * (string or URL, fetched; `file:` URLs are read in Node) or its bytes.
   */
  source?: string | URL | Uint8Array;
  /** Configuration overrides, as for {@link uresnetFromSafetensors}. */
  overrides?: UResNetConfig;
}

const OPTION_KEYS = ['source', 'overrides'] as const;

function checkName(name: unknown): asserts name is PretrainedUResNetName {
  if (typeof name !== 'string' || !Object.hasOwn(PRETRAINED_URESNETS, name)) {
    throw new InputValueError(`loadPretrainedUResNet: unknown model ${show(name)}; the shipped models are ${Object.keys(PRETRAINED_URESNETS).join(', ')}`);
  }
}

/** The URL of a shipped model's file, resolved from this module (a `file:` URL in Node). */
export function pretrainedUResNetUrl(name: PretrainedUResNetName): URL {
  checkName(name);
  return new URL(`../../examples/uresnet/${PRETRAINED_URESNETS[name].file}`, import.meta.url);
}

/**
 * Loads a shipped pretrained U-ResNet, in eval mode.
 *
 * @param name one of {@link PRETRAINED_URESNETS}
 * @throws InputValueError for an unknown name or option, or a file that
 *   cannot be read (the message names the URL and says to pass `source`)
 */
export async function loadPretrainedUResNet(ctx: GpuContext, name: PretrainedUResNetName, options: PretrainedOptions = {}): Promise<UResNet> {
  checkName(name);
  checkOptionKeys('loadPretrainedUResNet', options, OPTION_KEYS);
  let bytes: Uint8Array;
  if (options.source instanceof Uint8Array) {
    bytes = options.source;
  } else {
    let url: URL;
    try {
      // A relative URL string resolves against the page, where there is one.
      url = options.source === undefined ? pretrainedUResNetUrl(name) : new URL(options.source, globalThis.location?.href);
    } catch {
      throw new InputValueError(`loadPretrainedUResNet: options.source ${show(String(options.source))} is not a URL; give an absolute URL, or the file's bytes`);
    }
    try {
      bytes = await platform.readUrl(url);
    } catch (e) {
      throw new InputValueError(
        `loadPretrainedUResNet: cannot read ${show(name)} from ${url.href} (${(e as Error).message}); ` +
          `where a bundler did not copy the package's examples/uresnet/ files, pass options.source (the file's URL or bytes)`,
      );
    }
  }
  return uresnetFromSafetensors(ctx, bytes, options.overrides ?? {});
}
