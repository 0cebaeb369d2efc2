/** Number formatting for the scheduler's reasons, so every message reads the same way. */

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** Bytes as "512 MiB" or "1.5 GiB" (at most one decimal, trailing ".0" dropped). */
export function formatBytes(bytes: number): string {
  const negative = bytes < 0 ? '-' : '';
  const abs = Math.abs(bytes);
  if (abs >= GiB) return `${negative}${trim(abs / GiB)} GiB`;
  return `${negative}${trim(abs / MiB)} MiB`;
}

/** A count such as vCPUs, with at most one decimal ("4", "4.5"). */
export function formatAmount(value: number): string {
  return trim(value);
}

/** A ratio such as 1.5 as "1.5x". */
export function formatOvercommit(ratio: number): string {
  return `${trim(ratio, 2)}x`;
}

/** A fraction as a whole percentage ("37%"). */
export function formatPercent(fraction: number): string {
  return `${Math.round(fraction * 100)}%`;
}

function trim(value: number, decimals = 1): string {
  const rounded = Number(value.toFixed(decimals));
  return String(Object.is(rounded, -0) ? 0 : rounded);
}
