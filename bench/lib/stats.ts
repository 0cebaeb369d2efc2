/** Median of `samples` (mean of the middle two for an even count); undefined when empty. */
export function median(samples: readonly number[]): number | undefined {
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid] as number; // mid < length, which is > 0
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] as number) + upper) / 2;
}

/** Median, min and max of `samples`, or {} when there are none. */
export function summarize(samples: readonly number[]): { median?: number; min?: number; max?: number } {
  const mid = median(samples);
  if (mid === undefined) return {};
  return { median: mid, min: Math.min(...samples), max: Math.max(...samples) };
}

/** The `fraction` (0..1) percentile of `samples` by the nearest-rank method; undefined when empty. */
export function percentile(samples: readonly number[], fraction: number): number | undefined {
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(fraction * sorted.length)));
  return sorted[rank - 1];
}
