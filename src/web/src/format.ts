/** Formatting for people: sizes, durations, times. */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 → "1.5 KiB". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '-';
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 100 || unit === 0 ? Math.round(value) : value.toFixed(1).replace(/\.0$/, '')} ${UNITS[unit]}`;
}

export function formatMiB(mib: number): string {
  return formatBytes(mib * 1024 * 1024);
}

/** 93784 s → "1d 2h"; 125 s → "2m 5s". Two units at most. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  const s = Math.floor(ms / 1000);
  const parts: Array<[number, string]> = [
    [Math.floor(s / 86400), 'd'],
    [Math.floor((s % 86400) / 3600), 'h'],
    [Math.floor((s % 3600) / 60), 'm'],
    [s % 60, 's'],
  ];
  const first = parts.findIndex(([n]) => n > 0);
  if (first === -1) return '0s';
  return parts
    .slice(first, first + 2)
    .filter(([n], i) => i === 0 || n > 0)
    .map(([n, u]) => `${n}${u}`)
    .join(' ');
}

/** Milliseconds for short spans: 400 → "0.4 s", 6000 → "6 s"; a minute or more as formatDuration; null → "-". */
export function formatSeconds(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '-';
  if (ms >= 60_000) return formatDuration(ms);
  return `${(ms / 1000).toFixed(1).replace(/\.0$/, '')} s`;
}

/** "5s ago", "3m ago", or the date for anything older than a day. */
export function formatAge(iso: string | null, now: number): string {
  if (!iso) return 'never';
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  const ms = Math.max(0, now - at);
  if (ms > 86_400_000) return formatTime(iso);
  return `${formatDuration(ms)} ago`;
}

/** Local date and time, to the second. */
export function formatTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, { year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

export function percent(part: number, whole: number): number {
  return whole > 0 ? Math.round((part / whole) * 100) : 0;
}
