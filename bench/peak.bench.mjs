// The adapter's measured fp32 FMA peak (register-only kernel, see
// measurePeakGflops in harness.mjs): the denominator of every suite's
// percentOfPeak column.
import { machineInfo, measurePeakGflops, setupGpu, writeResults } from './harness.mjs';

const { ctx } = await setupGpu();
const peak = await measurePeakGflops(ctx, { trials: 5 });
console.error(`peak fp32 FMA: ${peak.gflops.toFixed(1)} GFLOP/s (${peak.source})`);
writeResults('peak', {
  rows: [{ case: 'fp32 FMA, registers only', gflops: peak.gflops, source: peak.source }],
  columns: ['case', 'gflops', 'source'],
  meta: { ...machineInfo(ctx) },
  notes: [
    'Best of 5 runs, each sized to last ≥ 100 ms; kernel time from GPU timestamps where available. 8 independent vec4 fma chains per invocation, no memory traffic but one store.',
    'Every other suite measures this figure in its own run (or takes PEAK_FP32_GFLOPS) and reports percentOfPeak against it.',
  ],
});
await ctx.dispose();
