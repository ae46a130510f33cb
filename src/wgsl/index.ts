/**
 * Access to the embedded WGSL sources (see scripts/embed-wgsl.mjs).
 *
 * @module
 */
import { wgslSources, type WgslName } from './sources.generated.js';

/** The WGSL source of `src/wgsl/<name>.wgsl`. */
export function wgsl(name: WgslName): string {
  return wgslSources[name];
}

export type { WgslName };
