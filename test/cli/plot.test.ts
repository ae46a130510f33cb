// The demo's figures carry what a reader needs: a title, axis labels with
// units, a legend, and (for the loss) the step of the minimum marked.
import { describe, expect, it } from 'vitest';
import { lineChartSvg } from '../../src/cli/plot.js';
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
});
