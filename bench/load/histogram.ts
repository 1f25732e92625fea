/** Buckets grow by 1 %: percentiles are exact to within 1 % of their value. */
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
/** 1 µs resolution floor; values are recorded in milliseconds. */
const FLOOR_MS = 0.001;
/** Covers up to ten minutes. */
const BUCKETS = Math.ceil(Math.log(600_000 / FLOOR_MS) / LOG_GROWTH) + 1;

export interface LatencySummary {
  count: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

/** A latency histogram of constant size, cheap enough to record every delivery. */
export class Histogram {
  private readonly counts = new Uint32Array(BUCKETS);
  private total = 0;
  private max = 0;

  record(valueMs: number): void {
    const clamped = valueMs < FLOOR_MS ? FLOOR_MS : valueMs;
    const bucket = Math.min(BUCKETS - 1, Math.ceil(Math.log(clamped / FLOOR_MS) / LOG_GROWTH));
    this.counts[bucket] = (this.counts[bucket] ?? 0) + 1;
    this.total += 1;
    if (valueMs > this.max) this.max = valueMs;
  }

  /** The upper bound of the bucket holding the `quantile`-th value. */
  percentile(quantile: number): number | null {
    if (this.total === 0) return null;
    const rank = Math.max(1, Math.ceil(quantile * this.total));
    let seen = 0;
    for (const [bucket, count] of this.counts.entries()) {
      seen += count;
      if (seen >= rank) return Math.min(this.max, FLOOR_MS * GROWTH ** bucket);
    }
    return this.max;
  }

  summary(): LatencySummary {
    return {
      count: this.total,
      p50Ms: round(this.percentile(0.5)),
      p99Ms: round(this.percentile(0.99)),
      maxMs: this.total === 0 ? null : round(this.max),
    };
  }
}

function round(value: number | null): number | null {
  return value === null ? null : Math.round(value * 1000) / 1000;
}
