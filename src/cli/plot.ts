/**
 * Minimal pictures for the demo's report: SVG line charts (fit curves) and
 * heat-map images (visibility slices) rendered to RGB for the PNG encoder.
 *
 * @module
 */
import type { RgbImage } from '../events/display.js';

/** One curve of a line chart. */
export interface Series {
  name: string;
  x: readonly number[];
  y: readonly number[];
  color?: string;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const step0 = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? step0;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-12 * Math.abs(hi); t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/**
 * An SVG line chart with axes, ticks, labels and a legend. `logY` plots
 * log10(y) (for losses); a horizontal reference line can mark a truth value,
 * and a marker a point (the step of the minimum loss, say) with its label.
 */
export function lineChartSvg(options: {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  logY?: boolean;
  reference?: { y: number; label: string };
  marker?: { x: number; y: number; label: string };
  width?: number;
  height?: number;
}): string {
  const W = options.width ?? 640;
  const H = options.height ?? 400;
  const m = { l: 70, r: 20, t: 40, b: 50 };
  const fy = (v: number) => (options.logY ? Math.log10(Math.max(v, 1e-300)) : v);
  const xs = options.series.flatMap((s) => s.x);
  const ys = options.series.flatMap((s) => s.y.map(fy));
  if (options.reference) ys.push(fy(options.reference.y));
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) [y0, y1] = [y0 - 1, y1 + 1];
  const pad = 0.05 * (y1 - y0);
  y0 -= pad;
  y1 += pad;
  const px = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(options.title)}</text>`,
    `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="black"/>`,
    `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="black"/>`,
  ];
  for (const t of niceTicks(x0, x1)) {
    out.push(`<line x1="${px(t)}" y1="${H - m.b}" x2="${px(t)}" y2="${H - m.b + 5}" stroke="black"/>`);
    out.push(`<text x="${px(t)}" y="${H - m.b + 18}" text-anchor="middle">${t}</text>`);
  }
  for (const t of niceTicks(y0, y1)) {
    const label = options.logY ? `1e${t}` : String(t);
    out.push(`<line x1="${m.l - 5}" y1="${py(t)}" x2="${m.l}" y2="${py(t)}" stroke="black"/>`);
    out.push(`<line x1="${m.l}" y1="${py(t)}" x2="${W - m.r}" y2="${py(t)}" stroke="#eee"/>`);
    out.push(`<text x="${m.l - 8}" y="${py(t) + 4}" text-anchor="end">${esc(label)}</text>`);
  }
  out.push(`<text x="${(W + m.l) / 2}" y="${H - 12}" text-anchor="middle">${esc(options.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${(H - m.b + m.t) / 2}) rotate(-90)" text-anchor="middle">${esc(options.yLabel)}</text>`);
  if (options.reference) {
    const y = py(fy(options.reference.y));
    out.push(`<line x1="${m.l}" y1="${y}" x2="${W - m.r}" y2="${y}" stroke="#555" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${W - m.r - 4}" y="${y - 5}" text-anchor="end" fill="#555">${esc(options.reference.label)}</text>`);
  }
  if (options.marker) {
    const mx = px(options.marker.x);
    const my = py(fy(options.marker.y));
    out.push(`<circle cx="${mx.toFixed(1)}" cy="${my.toFixed(1)}" r="5" fill="none" stroke="#d62728" stroke-width="2"/>`);
    out.push(`<text x="${(mx + 8).toFixed(1)}" y="${(my - 8).toFixed(1)}" fill="#d62728">${esc(options.marker.label)}</text>`);
  }
  options.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    const pts = s.x.map((x, j) => `${px(x).toFixed(1)},${py(fy(s.y[j]!)).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${pts}" fill="none" stroke="${color}" stroke-width="2"/>`);
    out.push(`<rect x="${W - m.r - 150}" y="${m.t + 8 + 18 * i}" width="12" height="3" fill="${color}"/>`);
    out.push(`<text x="${W - m.r - 132}" y="${m.t + 13 + 18 * i}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

type Rgb = [number, number, number];

/** Piecewise-linear colour ramp through `stops`, t in [0, 1] (clamped). */
function rampThrough(stops: readonly Rgb[], t: number): Rgb {
  const s = Math.min(stops.length - 1 - 1e-9, Math.max(0, t) * (stops.length - 1));
  const k = Math.floor(s);
  const u = s - k;
  const a = stops[k]!;
  const b = stops[k + 1]!;
  return [a[0] + u * (b[0] - a[0]), a[1] + u * (b[1] - a[1]), a[2] + u * (b[2] - a[2])];
}

/** Perceptually ordered sequential ramp (viridis-like): dark blue, teal, green, yellow. */
const SEQUENTIAL: readonly Rgb[] = [[32, 24, 96], [34, 120, 142], [94, 201, 98], [253, 231, 37]];
/** Diverging ramp for signed differences: blue, white (0), red. */
const DIVERGING: readonly Rgb[] = [[33, 102, 172], [247, 247, 247], [178, 24, 43]];
const ramp = (t: number): Rgb => rampThrough(SEQUENTIAL, t);
const hex = ([r, g, b]: Rgb): string => `#${[r, g, b].map((v) => Math.round(v).toString(16).padStart(2, '0')).join('')}`;

/** One panel of {@link heatmapSvg}: values [rows, cols], row 0 at the bottom (the vertical axis points up). */
export interface HeatmapPanel {
  readonly title: string;
  readonly values: ArrayLike<number>;
  readonly rows: number;
  readonly cols: number;
}

/**
 * Heat maps side by side on shared axes, as SVG: a title, axis labels with
 * units, a colour bar with its quantity (log10 ticks as powers of ten when
 * `log`), and optionally a signed-difference panel with its own diverging
 * colour bar, symmetric about 0.
 */
export function heatmapSvg(options: {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Axis ranges of every panel, in the labels' units. */
  xRange: readonly [number, number];
  yRange: readonly [number, number];
  panels: readonly HeatmapPanel[];
  colourLabel: string;
  log?: boolean;
  difference?: HeatmapPanel & { readonly colourLabel: string };
}): string {
  const f = (v: number) => (options.log ? Math.log10(Math.max(v, 1e-300)) : v);
  let lo = Infinity;
  let hi = -Infinity;
  for (const p of options.panels) {
    for (let i = 0; i < p.rows * p.cols; i++) {
      const v = f(p.values[i]!);
      if (Number.isFinite(v)) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    }
  }
  if (!(hi > lo)) hi = lo + 1;
  let dmax = 0;
  if (options.difference) for (let i = 0; i < options.difference.rows * options.difference.cols; i++) dmax = Math.max(dmax, Math.abs(options.difference.values[i]!) || 0);
  if (!(dmax > 0)) dmax = 1;
  const [x0, x1] = options.xRange;
  const [y0, y1] = options.yRange;
  const pw = 220;
  const ph = Math.round((pw * (y1 - y0)) / (x1 - x0));
  const m = { l: 60, t: 56, b: 48, gap: 24, bar: 96 };
  const all = [...options.panels, ...(options.difference ? [options.difference] : [])];
  const W = m.l + all.length * (pw + m.gap) + m.bar * (options.difference ? 2 : 1);
  const H = m.t + ph + m.b;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="15">${esc(options.title)}</text>`,
  ];
  const bar = (x: number, label: string, colour: (t: number) => Rgb, ticks: readonly [number, string][]): void => {
    const steps = 32;
    for (let k = 0; k < steps; k++) {
      out.push(`<rect x="${x}" y="${(m.t + ph - ((k + 1) * ph) / steps).toFixed(1)}" width="14" height="${(ph / steps + 0.5).toFixed(1)}" fill="${hex(colour((k + 0.5) / steps))}"/>`);
    }
    out.push(`<rect x="${x}" y="${m.t}" width="14" height="${ph}" fill="none" stroke="black"/>`);
    for (const [t, text] of ticks) {
      const y = m.t + ph - t * ph;
      out.push(`<line x1="${x + 14}" y1="${y.toFixed(1)}" x2="${x + 18}" y2="${y.toFixed(1)}" stroke="black"/>`);
      out.push(`<text x="${x + 20}" y="${(y + 4).toFixed(1)}">${esc(text)}</text>`);
    }
    out.push(`<text transform="translate(${x - 6} ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(label)}</text>`);
  };
  all.forEach((p, i) => {
    const left = m.l + i * (pw + m.gap);
    const isDiff = options.difference !== undefined && p === options.difference;
    const cw = pw / p.cols;
    const chh = ph / p.rows;
    for (let r = 0; r < p.rows; r++) {
      for (let c = 0; c < p.cols; c++) {
        const v = p.values[r * p.cols + c]!;
        const colour = isDiff ? rampThrough(DIVERGING, 0.5 + v / (2 * dmax)) : ramp((f(v) - lo) / (hi - lo));
        out.push(`<rect x="${(left + c * cw).toFixed(2)}" y="${(m.t + ph - (r + 1) * chh).toFixed(2)}" width="${(cw + 0.3).toFixed(2)}" height="${(chh + 0.3).toFixed(2)}" fill="${hex(colour)}"/>`);
      }
    }
    out.push(`<rect x="${left}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="black"/>`);
    out.push(`<text x="${left + pw / 2}" y="${m.t - 8}" text-anchor="middle">${esc(p.title)}</text>`);
    for (const t of niceTicks(x0, x1)) {
      const x = left + ((t - x0) / (x1 - x0)) * pw;
      out.push(`<line x1="${x.toFixed(1)}" y1="${m.t + ph}" x2="${x.toFixed(1)}" y2="${m.t + ph + 4}" stroke="black"/>`);
      out.push(`<text x="${x.toFixed(1)}" y="${m.t + ph + 16}" text-anchor="middle">${t}</text>`);
    }
    out.push(`<text x="${left + pw / 2}" y="${H - 10}" text-anchor="middle">${esc(options.xLabel)}</text>`);
    if (i === 0) {
      for (const t of niceTicks(y0, y1)) {
        const y = m.t + ph - ((t - y0) / (y1 - y0)) * ph;
        out.push(`<line x1="${left - 4}" y1="${y.toFixed(1)}" x2="${left}" y2="${y.toFixed(1)}" stroke="black"/>`);
        out.push(`<text x="${left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end">${t}</text>`);
      }
      out.push(`<text transform="translate(14 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(options.yLabel)}</text>`);
    }
  });
  const barsAt = m.l + all.length * (pw + m.gap) + 16;
  // Powers of ten for a log scale (decades), nice numbers otherwise.
  const decades = options.log ? Array.from({ length: Math.floor(hi) - Math.ceil(lo) + 1 }, (_, k) => Math.ceil(lo) + k) : [];
  const ticks = decades.length >= 2 ? decades : niceTicks(lo, hi);
  const label = (t: number): string => (!options.log ? String(t) : decades.length >= 2 ? `1e${t}` : Number((10 ** t).toPrecision(2)).toString());
  const valueTicks = ticks.map((t): [number, string] => [(t - lo) / (hi - lo), label(t)]);
  bar(barsAt, options.colourLabel, ramp, valueTicks);
  if (options.difference) {
    const d = options.difference;
    const diffTicks: [number, string][] = [
      [0, (-dmax).toPrecision(2)],
      [0.5, '0'],
      [1, dmax.toPrecision(2)],
    ];
    bar(barsAt + m.bar, d.colourLabel, (t) => rampThrough(DIVERGING, t), diffTicks);
  }
  out.push('</svg>');
  return out.join('\n');
}

/**
 * A heat map of a [rows, cols] array (row 0 at the top) as an RGB image,
 * scaled up by `pixel`, with a perceptually ordered colour ramp
 * (dark blue → yellow). `log` maps log10 of the values.
 */
export function heatmapImage(
  values: ArrayLike<number>,
  rows: number,
  cols: number,
  options: { pixel?: number; log?: boolean; /** colour-scale limits (after the log) shared between images */ range?: readonly [number, number] } = {},
): RgbImage {
  const pixel = options.pixel ?? 4;
  const f = (v: number) => (options.log ? Math.log10(Math.max(v, 1e-12)) : v);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < rows * cols; i++) {
    const v = f(values[i]!);
    if (Number.isFinite(v)) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  if (options.range) [lo, hi] = options.range;
  if (!(hi > lo)) hi = lo + 1;
  const width = cols * pixel;
  const height = rows * pixel;
  const data = new Uint8Array(width * height * 3);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const [R, G, B] = ramp((f(values[r * cols + c]!) - lo) / (hi - lo));
      for (let dy = 0; dy < pixel; dy++) {
        for (let dx = 0; dx < pixel; dx++) {
          const o = ((r * pixel + dy) * width + c * pixel + dx) * 3;
          data[o] = R;
          data[o + 1] = G;
          data[o + 2] = B;
        }
      }
    }
  }
  return { width, height, rgb: data };
}
