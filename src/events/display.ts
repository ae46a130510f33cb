/**
 * A tiny 2D event display: projects a voxelised event onto a plane (xy, xz
 * or yz), colours each pixel by semantic class, and renders the image as an
 * SVG string or a PNG (minimal encoder: 8-bit RGB, one IDAT chunk, zlib via
 * Node's built-in `node:zlib`). `renderComparisonPng` puts truth and
 * prediction side by side for the segmentation demo.
 *
 * No static Node import: the PNG encoder obtains `node:zlib` through
 * `process.getBuiltinModule` when it exists (Node ≥ 20.16) and otherwise
 * writes uncompressed ("stored") deflate blocks, still a valid PNG, so this
 * module also loads in a browser bundle.
 *
 * @module
 */

import { InputValueError, ShapeError, show } from '../errors.js';
import { crc32 } from './crc32.js';
import { NUM_SEMANTIC_CLASSES, SEMANTIC_CLASSES } from './generator.js';

/** RGB colour, components 0 … 255. */
export type Rgb = readonly [number, number, number];

/**
 * Class colours in label order (shower, track, Michel, delta, low-energy),
 * chosen to stay distinguishable on the black background.
 */
export const CLASS_COLORS: readonly Rgb[] = Object.freeze([
  [255, 140, 0], // shower: orange
  [70, 150, 255], // track: blue
  [255, 60, 220], // Michel: magenta
  [60, 220, 90], // delta: green
  [170, 170, 170], // low energy: grey
] as const);

/** Colour of a pixel whose label is outside 0 … 4 (e.g. −1 "ignore" in predictions). */
export const UNKNOWN_CLASS_COLOR: Rgb = [255, 255, 255];

/** Projection plane: the first letter is the image's horizontal axis, the second its vertical axis (pointing up). */
export type ProjectionPlane = 'xy' | 'xz' | 'yz';

/** The part of an event the display needs (an `LArTPCEvent` or a batch). */
export interface DisplayEvent {
  /** Int32Array [N, 4] rows (batch, x, y, z). */
  readonly coords: Int32Array;
  /** Energy per voxel, MeV. */
  readonly energy: ArrayLike<number>;
  /** Label per voxel, 0 … 4. */
  readonly labels: Int32Array;
  /** Edge of the cubic volume, voxels; if absent, the largest coordinate + 1. */
  readonly volumeVoxels?: number;
}

/** Options of {@link projectEvent} and the renderers. */
export interface ProjectionOptions {
  /** Plane. Default 'xy'. */
  readonly plane?: ProjectionPlane;
  /** Labels to colour by instead of `event.labels` (e.g. predictions), Int32Array [N]. */
  readonly labels?: Int32Array;
  /** Only rows with this batch index (column 0). Default: all rows. */
  readonly batch?: number;
  /** Pixels per voxel, integer 1 … 16. Default 1. */
  readonly scale?: number;
  /** Voxels per pixel (integer ≥ 1) before scaling, to shrink large volumes. Default 1. */
  readonly downsample?: number;
  /**
   * Dim pixels by projected energy (log scale, 35 % … 100 % brightness) so
   * that faint blips look faint. Default true.
   */
  readonly shade?: boolean;
}

/** An 8-bit RGB raster, rows top to bottom. */
export interface RgbImage {
  /** Width, pixels. */
  readonly width: number;
  /** Height, pixels. */
  readonly height: number;
  /** Uint8Array [height, width, 3]. */
  readonly rgb: Uint8Array;
}

interface Projected {
  readonly w: number;
  readonly h: number;
  /** Per projected cell: label of the highest-energy voxel, −2 for empty. */
  readonly label: Int32Array;
  /** Per projected cell: summed energy, MeV. */
  readonly energy: Float64Array;
}

const AXES: Record<ProjectionPlane, readonly [number, number]> = { xy: [1, 2], xz: [1, 3], yz: [2, 3] };

function checkPlane(plane: unknown): ProjectionPlane {
  if (plane !== 'xy' && plane !== 'xz' && plane !== 'yz') {
    throw new InputValueError(`options.plane = ${show(plane)} is not a projection plane; pass 'xy', 'xz' or 'yz'.`);
  }
  return plane;
}

function checkIntOption(name: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new InputValueError(`options.${name} = ${show(v)} is invalid; pass an integer in ${min} … ${max}.`);
  }
  return v;
}

function project(event: DisplayEvent, options: ProjectionOptions): Projected {
  const plane = checkPlane(options.plane ?? 'xy');
  const ds = checkIntOption('downsample', options.downsample ?? 1, 1, 4096);
  const n = event.coords.length / 4;
  if (!Number.isInteger(n) || event.energy.length !== n) {
    throw new ShapeError(`event has ${event.coords.length} coordinate values and ${event.energy.length} energies; pass coords [N, 4] (batch, x, y, z) and one energy per row.`);
  }
  const labels = options.labels ?? event.labels;
  if (labels.length !== n) {
    throw new ShapeError(`${options.labels ? 'options.labels' : 'event.labels'} has ${labels.length} entries but the event has ${n} voxels; pass one label per coords row.`);
  }
  let size = event.volumeVoxels ?? 0;
  if (event.volumeVoxels === undefined) {
    for (let i = 0; i < n; i++) for (let a = 1; a <= 3; a++) size = Math.max(size, event.coords[4 * i + a]! + 1);
  }
  const cells = Math.max(1, Math.ceil(size / ds));
  const [ax, ay] = AXES[plane];
  const label = new Int32Array(cells * cells).fill(-2);
  const top = new Float64Array(cells * cells).fill(-Infinity);
  const energy = new Float64Array(cells * cells);
  for (let i = 0; i < n; i++) {
    if (options.batch !== undefined && event.coords[4 * i] !== options.batch) continue;
    const u = Math.floor(event.coords[4 * i + ax]! / ds);
    const v = Math.floor(event.coords[4 * i + ay]! / ds);
    if (u < 0 || v < 0 || u >= cells || v >= cells) continue;
    // Image rows run top to bottom; the vertical axis points up.
    const c = (cells - 1 - v) * cells + u;
    const e = event.energy[i]!;
    energy[c] = energy[c]! + e;
    // The most energetic voxel along the line of sight sets the colour, as
    // in the usual LArTPC projections.
    if (e > top[c]!) {
      top[c] = e;
      label[c] = labels[i]!;
    }
  }
  return { w: cells, h: cells, label, energy };
}

function pixelColor(label: number, energy: number, maxLog: number, shade: boolean): Rgb {
  const base = label >= 0 && label < NUM_SEMANTIC_CLASSES ? CLASS_COLORS[label]! : UNKNOWN_CLASS_COLOR;
  if (!shade) return base;
  // log(1 + E/0.05 MeV) maps the faintest voxels to 35 % and the brightest to 100 %.
  const f = 0.35 + 0.65 * Math.min(1, Math.log1p(energy / 0.05) / maxLog);
  return [Math.round(base[0] * f), Math.round(base[1] * f), Math.round(base[2] * f)];
}

/**
 * Projects an event onto a plane and colours it by class, black background.
 * Each pixel takes the label of the most energetic voxel projected onto it.
 *
 * @throws InputValueError for a bad option; ShapeError for mismatched arrays
 */
export function projectEvent(event: DisplayEvent, options: ProjectionOptions = {}): RgbImage {
  const scale = checkIntOption('scale', options.scale ?? 1, 1, 16);
  const shade = options.shade ?? true;
  const p = project(event, options);
  let maxLog = 1e-12;
  for (let c = 0; c < p.energy.length; c++) if (p.label[c]! !== -2) maxLog = Math.max(maxLog, Math.log1p(p.energy[c]! / 0.05));
  const width = p.w * scale;
  const height = p.h * scale;
  const rgb = new Uint8Array(width * height * 3);
  for (let v = 0; v < p.h; v++) {
    for (let u = 0; u < p.w; u++) {
      const c = v * p.w + u;
      const l = p.label[c]!;
      if (l === -2) continue;
      const col = pixelColor(l, p.energy[c]!, maxLog, shade);
      for (let dy = 0; dy < scale; dy++) {
        for (let dx = 0; dx < scale; dx++) {
          const o = ((v * scale + dy) * width + u * scale + dx) * 3;
          rgb[o] = col[0];
          rgb[o + 1] = col[1];
          rgb[o + 2] = col[2];
        }
      }
    }
  }
  return { width, height, rgb };
}

/**
 * Places images in a grid, row-major, separated by `gap` grey pixels.
 *
 * @param images row-major list of rows × cols images (each row may differ in height)
 */
export function tileImages(images: readonly RgbImage[], cols: number, gap = 4): RgbImage {
  checkIntOption('cols', cols, 1, 1024);
  const rows = Math.ceil(images.length / cols);
  const colW = Array.from({ length: cols }, (_, c) => Math.max(0, ...images.filter((_, i) => i % cols === c).map((im) => im.width)));
  const rowH = Array.from({ length: rows }, (_, r) => Math.max(0, ...images.slice(r * cols, r * cols + cols).map((im) => im.height)));
  const width = colW.reduce((a, b) => a + b, 0) + gap * (cols - 1);
  const height = rowH.reduce((a, b) => a + b, 0) + gap * (rows - 1);
  const rgb = new Uint8Array(width * height * 3).fill(64);
  let y0 = 0;
  for (let r = 0; r < rows; r++) {
    let x0 = 0;
    for (let c = 0; c < cols; c++) {
      const im = images[r * cols + c];
      if (im) {
        for (let y = 0; y < im.height; y++) {
          rgb.set(im.rgb.subarray(y * im.width * 3, (y + 1) * im.width * 3), ((y0 + y) * width + x0) * 3);
        }
      }
      x0 += colW[c]! + gap;
    }
    y0 += rowH[r]! + gap;
  }
  return { width, height, rgb };
}

// ------------------------------------------------------------------- PNG



function adler32(bytes: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < bytes.length; i++) {
    a = (a + bytes[i]!) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** zlib stream of uncompressed deflate blocks (≤ 65535 bytes each), for runtimes without node:zlib. */
function zlibStored(data: Uint8Array): Uint8Array {
  const blocks = Math.max(1, Math.ceil(data.length / 65535));
  const out = new Uint8Array(2 + data.length + 5 * blocks + 4);
  out[0] = 0x78;
  out[1] = 0x01;
  let o = 2;
  for (let b = 0; b < blocks; b++) {
    const start = b * 65535;
    const len = Math.min(65535, data.length - start);
    out[o++] = b === blocks - 1 ? 1 : 0;
    out[o++] = len & 0xff;
    out[o++] = len >>> 8;
    out[o++] = ~len & 0xff;
    out[o++] = (~len >>> 8) & 0xff;
    out.set(data.subarray(start, start + len), o);
    o += len;
  }
  const ad = adler32(data);
  out[o++] = ad >>> 24;
  out[o++] = (ad >>> 16) & 0xff;
  out[o++] = (ad >>> 8) & 0xff;
  out[o] = ad & 0xff;
  return out;
}

type DeflateSync = (data: Uint8Array) => Uint8Array;

function nodeDeflate(): DeflateSync | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const zlib = proc?.getBuiltinModule?.('node:zlib') as { deflateSync?: DeflateSync } | undefined;
  return zlib?.deflateSync ?? null;
}

/**
 * Encodes an RGB image as a PNG: signature, IHDR (8-bit, colour type 2 RGB,
 * no interlace), one IDAT (filter type 0 per row, zlib-compressed) and IEND.
 *
 * @param compress use node:zlib when available (default true); false writes stored blocks
 * @returns the PNG file bytes
 * @throws ShapeError if rgb.length ≠ width · height · 3
 */
export function encodePng(image: RgbImage, compress = true): Uint8Array {
  const { width, height, rgb } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || rgb.length !== width * height * 3) {
    throw new ShapeError(`image is ${show(width)} × ${show(height)} with ${rgb.length} bytes; an RGB image needs width, height ≥ 1 and width · height · 3 bytes.`);
  }
  const raw = new Uint8Array((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0;
    raw.set(rgb.subarray(y * width * 3, (y + 1) * width * 3), y * (width * 3 + 1) + 1);
  }
  const deflate = compress ? nodeDeflate() : null;
  const idat = deflate ? new Uint8Array(deflate(raw)) : zlibStored(raw);
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: truecolour RGB
  // compression 0, filter 0, interlace 0 stay zero
  const chunks: [string, Uint8Array][] = [['IHDR', ihdr], ['IDAT', idat], ['IEND', new Uint8Array(0)]];
  const total = 8 + chunks.reduce((s, [, d]) => s + 12 + d.length, 0);
  const out = new Uint8Array(total);
  out.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 0);
  const odv = new DataView(out.buffer);
  let o = 8;
  for (const [type, data] of chunks) {
    odv.setUint32(o, data.length);
    for (let i = 0; i < 4; i++) out[o + 4 + i] = type.charCodeAt(i);
    out.set(data, o + 8);
    odv.setUint32(o + 8 + data.length, crc32(out, o + 4, o + 8 + data.length));
    o += 12 + data.length;
  }
  return out;
}

/** PNG of one projection of an event (see {@link projectEvent}). */
export function renderPng(event: DisplayEvent, options: ProjectionOptions = {}): Uint8Array {
  return encodePng(projectEvent(event, options));
}

/** Options of {@link renderComparisonPng} and {@link renderComparisonSvg}. */
export interface ComparisonOptions extends Omit<ProjectionOptions, 'labels' | 'plane'> {
  /** Planes, one row each. Default ['xy', 'xz']. */
  readonly planes?: readonly ProjectionPlane[];
}

/**
 * Truth (left) and prediction (right) side by side, one row per plane
 * (default xy above xz), as a PNG.
 *
 * @param predicted Int32Array [N] predicted labels for the event's rows
 */
export function renderComparisonPng(event: DisplayEvent, predicted: Int32Array, options: ComparisonOptions = {}): Uint8Array {
  const planes = options.planes ?? ['xy', 'xz'];
  const images: RgbImage[] = [];
  for (const plane of planes) {
    images.push(projectEvent(event, { ...options, plane }));
    images.push(projectEvent(event, { ...options, plane, labels: predicted }));
  }
  return encodePng(tileImages(images, 2));
}

// ------------------------------------------------------------------- SVG

function hex(c: Rgb): string {
  return `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

function svgPanel(event: DisplayEvent, options: ProjectionOptions, x0: number, y0: number, title: string): { body: string; w: number; h: number } {
  const scale = checkIntOption('scale', options.scale ?? 1, 1, 16);
  const shade = options.shade ?? true;
  const p = project(event, options);
  let maxLog = 1e-12;
  for (let c = 0; c < p.energy.length; c++) if (p.label[c]! !== -2) maxLog = Math.max(maxLog, Math.log1p(p.energy[c]! / 0.05));
  const parts: string[] = [`<rect x="${x0}" y="${y0}" width="${p.w * scale}" height="${p.h * scale}" fill="#000"/>`];
  // One <rect> per horizontal run of equal colour keeps files small.
  for (let v = 0; v < p.h; v++) {
    let u = 0;
    while (u < p.w) {
      const c = v * p.w + u;
      if (p.label[c] === -2) {
        u++;
        continue;
      }
      const col = hex(pixelColor(p.label[c]!, p.energy[c]!, maxLog, shade));
      let end = u + 1;
      while (end < p.w && p.label[v * p.w + end] !== -2 && hex(pixelColor(p.label[v * p.w + end]!, p.energy[v * p.w + end]!, maxLog, shade)) === col) end++;
      parts.push(`<rect x="${x0 + u * scale}" y="${y0 + v * scale}" width="${(end - u) * scale}" height="${scale}" fill="${col}"/>`);
      u = end;
    }
  }
  parts.push(`<text x="${x0 + 4}" y="${y0 + 14}" fill="#fff" font-family="sans-serif" font-size="12">${title}</text>`);
  return { body: parts.join(''), w: p.w * scale, h: p.h * scale };
}

function legend(x0: number, y0: number): string {
  return SEMANTIC_CLASSES.map(
    (name, i) =>
      `<rect x="${x0 + i * 110}" y="${y0}" width="10" height="10" fill="${hex(CLASS_COLORS[i]!)}"/>` +
      `<text x="${x0 + i * 110 + 14}" y="${y0 + 10}" fill="#000" font-family="sans-serif" font-size="12">${i} ${name}</text>`,
  ).join('');
}

/** SVG string of one projection, with a class legend underneath. */
export function renderSvg(event: DisplayEvent, options: ProjectionOptions = {}): string {
  const panel = svgPanel(event, options, 0, 0, options.plane ?? 'xy');
  const w = Math.max(panel.w, 560);
  const h = panel.h + 20;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">${panel.body}${legend(0, panel.h + 6)}</svg>`;
}

/** SVG string with truth (left) and prediction (right) per plane, titled, with a legend. */
export function renderComparisonSvg(event: DisplayEvent, predicted: Int32Array, options: ComparisonOptions = {}): string {
  const planes = options.planes ?? ['xy', 'xz'];
  const gap = 4;
  const parts: string[] = [];
  let y = 0;
  let width = 0;
  for (const plane of planes) {
    const t = svgPanel(event, { ...options, plane }, 0, y, `truth ${plane}`);
    const q = svgPanel(event, { ...options, plane, labels: predicted }, t.w + gap, y, `prediction ${plane}`);
    parts.push(t.body, q.body);
    width = Math.max(width, t.w + gap + q.w);
    y += Math.max(t.h, q.h) + gap;
  }
  const w = Math.max(width, 560);
  const h = y + 16;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">${parts.join('')}${legend(0, y + 2)}</svg>`;
}
