/** Small number helpers for the containers benchmark's tables. */
import { median } from '../lib/stats.js';

/** Arithmetic mean; undefined when empty. */
export function mean(values: readonly number[]): number | undefined {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : undefined;
}

/** `value` with `digits` decimals and a unit, or '-' when there is none. */
export function fixed(value: number | undefined, digits: number, unit = ''): string {
  return value === undefined || !Number.isFinite(value) ? '-' : `${value.toFixed(digits)}${unit}`;
}

/** The median of `values` as "12.3 MiB", or '-'. */
export function medianMiB(values: readonly number[]): string {
  return fixed(median(values), 1, ' MiB');
}

/** Runs `task` over `items`, at most `limit` at a time, in order of the items. */
export async function inParallel<T, R>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index] as T, index); // index < length
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
