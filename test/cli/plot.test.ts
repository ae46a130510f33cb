// The demo's figures carry what a reader needs: a title, axis labels with
// units, a legend, and (for the loss) the step of the minimum marked.
import { describe, expect, it } from 'vitest';
import { heatmapSvg, lineChartSvg } from '../../src/cli/plot.js';
import { generateEvent, renderComparisonSvg } from '../../src/events/index.js';

describe('demo figures', () => {
  it('a line chart has its title, axis labels, legend, reference line and marker', () => {
    const svg = lineChartSvg({
      title: 'Lifetime fit: τ',
      xLabel: 'Adam step',
      yLabel: 'electron lifetime (ms)',
      series: [{ name: 'fitted τ', x: [1, 2, 3], y: [2.2, 1.7, 1.5] }],
      reference: { y: 1.5, label: 'truth 1.5 ms' },
      marker: { x: 3, y: 1.5, label: 'minimum at step 3' },
    });
    for (const text of ['Lifetime fit: τ', 'Adam step', 'electron lifetime (ms)', 'fitted τ', 'truth 1.5 ms', 'minimum at step 3']) expect(svg).toContain(`>${text}</text>`);
    expect(svg).toMatch(/<circle [^>]*stroke="#d62728"/);
  });

  it('the event display names truth and prediction, the planes and the classes', () => {
    const e = generateEvent({ preset: 'small', volumeVoxels: 32, seed: 2 });
    const svg = renderComparisonSvg(e, e.labels);
    for (const text of ['truth', 'prediction', 'shower', 'track']) expect(svg.toLowerCase()).toContain(text);
  });

  it('a heat-map figure has its title, axis labels with units, panel titles, a colour bar and a difference bar', () => {
    const values = Float64Array.from({ length: 12 }, (_, i) => 10 ** (-3 + i / 4));
    const svg = heatmapSvg({
      title: 'Visibility, slice x = 12.5 cm',
      xLabel: 'y (cm)',
      yLabel: 'z (cm)',
      xRange: [0, 40],
      yRange: [0, 30],
      log: true,
      colourLabel: 'visibility, log',
      panels: [{ title: 'Monte Carlo table', values, rows: 3, cols: 4 }],
      difference: { title: '(surrogate − table) / table', values: values.map((v, i) => (i % 2 ? 0.1 : -0.2)), rows: 3, cols: 4, colourLabel: 'relative difference' },
    });
    for (const text of ['Visibility, slice x = 12.5 cm', 'y (cm)', 'z (cm)', 'Monte Carlo table', '(surrogate − table) / table', 'visibility, log', 'relative difference', '1e-3', '1e-1', '0', '-0.20', '0.20']) {
      expect(svg, text).toContain(`>${text}</text>`);
    }
    // 12 cells per panel, plus the 2 × 32 colour-bar steps.
    expect(svg.match(/<rect /g)!.length).toBeGreaterThanOrEqual(2 * 12 + 64);
  });
});

