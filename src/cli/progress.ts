/**
 * Progress reporting for long steps: a bar with rate and ETA on a terminal
 * (cli-progress), plain throttled lines when output is not a TTY (CI logs).
 *
 * @module
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** Sets the completed count and optional extra fields shown after the bar (e.g. loss). */
  update(done: number, fields?: Record<string, string | number>): void;
  stop(): void;
}

/** A progress reporter for `total` units of work labelled `label`. */
export function progress(label: string, total: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${label} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted} {info}`, stream, hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { info: '' });
    return {
      update: (done, fields) => bar.update(done, { info: formatFields(fields) }),
      stop: () => bar.stop(),
    };
  }
  const start = performance.now();
  let lastPrint = 0;
  return {
    update(done, fields) {
      const now = performance.now();
      if (done < total && now - lastPrint < 2000) return;
      lastPrint = now;
      const elapsed = (now - start) / 1000;
      const eta = done > 0 ? (elapsed * (total - done)) / done : NaN;
      stream.write(`${label}: ${done}/${total} (${((100 * done) / total).toFixed(0)}%) elapsed ${elapsed.toFixed(1)} s, ETA ${Number.isFinite(eta) ? eta.toFixed(1) + ' s' : '?'} ${formatFields(fields)}\n`);
    },
    stop() {},
  };
}

function formatFields(fields?: Record<string, string | number>): string {
  if (!fields) return '';
  return Object.entries(fields)
    .map(([k, v]) => `${k} ${typeof v === 'number' ? v.toPrecision(4) : v}`)
    .join(' | ');
}
