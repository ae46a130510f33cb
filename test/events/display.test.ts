import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { InputValueError, ShapeError } from '../../src/errors.js';
import { crc32 } from '../../src/events/crc32.js';
import {
  CLASS_COLORS,
  encodePng,
  generateEvent,
  projectEvent,
  renderComparisonPng,
  renderComparisonSvg,
  renderPng,
  renderSvg,
  type RgbImage,
} from '../../src/events/index.js';

interface Chunk {
  type: string;
  data: Uint8Array;
}

/** Splits a PNG into chunks, checking the signature and every CRC. */
function chunks(png: Uint8Array): Chunk[] {
  expect(Array.from(png.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const out: Chunk[] = [];
  let o = 8;
  while (o < png.length) {
    const len = dv.getUint32(o);
    const type = String.fromCharCode(...png.subarray(o + 4, o + 8));
    expect(dv.getUint32(o + 8 + len)).toBe(crc32(png, o + 4, o + 8 + len));
    out.push({ type, data: png.subarray(o + 8, o + 8 + len) });
    o += 12 + len;
  }
  expect(o).toBe(png.length);
  return out;
}

/** Decodes our own PNGs (RGB, filter 0) back to pixels. */
function decode(png: Uint8Array): RgbImage {
  const cs = chunks(png);
  expect(cs.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
  const ihdr = cs[0]!.data;
  const dv = new DataView(ihdr.buffer, ihdr.byteOffset, 13);
  const width = dv.getUint32(0);
  const height = dv.getUint32(4);
  expect(Array.from(ihdr.subarray(8))).toEqual([8, 2, 0, 0, 0]); // 8-bit RGB, deflate, filter 0, no interlace
  const raw = inflateSync(cs[1]!.data);
  expect(raw.length).toBe(height * (3 * width + 1));
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    expect(raw[y * (3 * width + 1)]).toBe(0);
    rgb.set(raw.subarray(y * (3 * width + 1) + 1, (y + 1) * (3 * width + 1)), y * width * 3);
  }
  return { width, height, rgb };
}

describe('event display', () => {
  it('crc32 matches the standard check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  it('encodes a valid PNG (signature, IHDR, CRCs, IDAT round trip), compressed and stored', () => {
    const image: RgbImage = { width: 3, height: 2, rgb: Uint8Array.from({ length: 18 }, (_, i) => i * 13) };
    for (const compress of [true, false]) {
      const back = decode(encodePng(image, compress));
      expect(back.width).toBe(3);
      expect(back.height).toBe(2);
      expect(back.rgb).toEqual(image.rgb);
    }
    // Stored blocks span > 65535 bytes correctly.
    const big: RgbImage = { width: 200, height: 150, rgb: Uint8Array.from({ length: 90000 }, (_, i) => i % 251) };
    expect(decode(encodePng(big, false)).rgb).toEqual(big.rgb);
    expect(() => encodePng({ width: 2, height: 2, rgb: new Uint8Array(5) })).toThrow(ShapeError);
  });

  it('projects voxels with class colours, vertical axis up', () => {
    const event = {
      coords: Int32Array.from([0, 0, 0, 0, 0, 3, 1, 2, 0, 3, 1, 3]),
      energy: Float32Array.from([1, 2, 5]),
      labels: Int32Array.from([1, 0, 3]),
      volumeVoxels: 4,
    };
    const im = projectEvent(event, { plane: 'xy', shade: false });
    expect([im.width, im.height]).toEqual([4, 4]);
    const px = (u: number, v: number) => Array.from(im.rgb.subarray(((3 - v) * 4 + u) * 3, ((3 - v) * 4 + u) * 3 + 3));
    expect(px(0, 0)).toEqual([...CLASS_COLORS[1]!]);
    // (3, 1) holds two voxels along z: the more energetic one (label 3) wins.
    expect(px(3, 1)).toEqual([...CLASS_COLORS[3]!]);
    expect(px(1, 1)).toEqual([0, 0, 0]);
    const xz = projectEvent(event, { plane: 'xz', shade: false, scale: 2 });
    expect([xz.width, xz.height]).toEqual([8, 8]);
    expect(() => projectEvent(event, { plane: 'zz' as 'xy' })).toThrow(InputValueError);
    expect(() => projectEvent(event, { labels: new Int32Array(2) })).toThrow(ShapeError);
  });

  it('renders an event and a truth-vs-prediction comparison', () => {
    const ev = generateEvent({ seed: 2, preset: 'small' });
    const single = decode(renderPng(ev));
    expect([single.width, single.height]).toEqual([192, 192]);
    const pred = ev.labels.map((l) => (l + 1) % 5);
    const cmp = decode(renderComparisonPng(ev, pred, { downsample: 2 }));
    // Two columns (truth, prediction) × two rows (xy, xz) of 96 px, 4 px gaps.
    expect([cmp.width, cmp.height]).toEqual([196, 196]);
    const svg = renderSvg(ev, { plane: 'xz' });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('low_energy');
    const svg2 = renderComparisonSvg(ev, pred);
    expect(svg2).toContain('prediction xz');
    expect(svg2.endsWith('</svg>')).toBe(true);
  });
});
