/** Small statistics helpers shared by the benchmarks. */

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

export function formatRate(value: number): string {
  if (value >= 1e9) return `${(value / 1e9).toFixed(2)} G`;
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)} M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)} k`;
  return value.toFixed(0);
}

export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** Bucket edges grow by 1 % from 1 µs: 1.01^1852 µs is over 100 s. */
const HISTOGRAM_STEP = Math.log(1.01);
const HISTOGRAM_BUCKETS = 1853;

/**
 * Latencies in µs counted in log-scale buckets 1 % wide, so recording one allocates nothing;
 * a percentile reads as its bucket's upper edge (at most 1 % high).
 */
export class LatencyHistogram {
  private readonly counts = new Uint32Array(HISTOGRAM_BUCKETS);
  count = 0;

  record(micros: number): void {
    const bucket =
      micros <= 1 ? 0 : Math.min(HISTOGRAM_BUCKETS - 1, Math.ceil(Math.log(micros) / HISTOGRAM_STEP));
    this.counts[bucket] = (this.counts[bucket] ?? 0) + 1;
    this.count++;
  }

  /** The p-th percentile (0 < p ≤ 100) of what was recorded; NaN when nothing was. */
  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let bucket = 0; bucket < HISTOGRAM_BUCKETS; bucket++) {
      seen += this.counts[bucket] as number;
      if (seen >= rank) return Math.exp(bucket * HISTOGRAM_STEP);
    }
    return Math.exp((HISTOGRAM_BUCKETS - 1) * HISTOGRAM_STEP);
  }
}
