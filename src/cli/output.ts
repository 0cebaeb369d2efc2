import { DroverError, isDroverError } from '../shared/errors.js';

export type OutputFormat = 'table' | 'json';

/** Parses the -o flag; anything but table or json is a usage error. */
export function outputFormat(value: string | undefined): OutputFormat {
  if (value === undefined || value === 'table') return 'table';
  if (value === 'json') return 'json';
  throw new DroverError('INVALID_ARGUMENT', `-o must be "table" or "json", not "${value}"`);
}

/** Prints rows as an aligned table (or JSON when asked); `columns` maps headers to getters. */
export function printTable<T>(rows: T[], columns: Record<string, (row: T) => string | number | undefined>, format: OutputFormat): void {
  if (format === 'json') {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  const headers = Object.keys(columns);
  const cells = rows.map((row) => headers.map((h) => String(columns[h]?.(row) ?? '-')));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]?.length ?? 0)));
  const line = (values: string[]): string => values.map((v, i) => v.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  process.stdout.write(`${line(headers.map((h) => h.toUpperCase()))}\n`);
  for (const row of cells) process.stdout.write(`${line(row)}\n`);
}

/** Prints one object as "key: value" lines, or JSON. */
export function printObject(obj: object, format: OutputFormat): void {
  if (format === 'json') {
    process.stdout.write(`${JSON.stringify(obj, null, 2)}\n`);
    return;
  }
  for (const [key, value] of Object.entries(obj)) {
    const text = typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
    process.stdout.write(`${key}: ${text}\n`);
  }
}

/** Human-readable byte counts (binary units). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 10 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

/** Prints an error the way every command does: code and actionable message on stderr. */
export function printError(err: unknown, format: OutputFormat = 'table'): void {
  if (isDroverError(err)) {
    if (format === 'json') process.stderr.write(`${JSON.stringify(err.toJSON())}\n`);
    else process.stderr.write(`error ${err.code}: ${err.message}\n`);
    return;
  }
  const api = err as { code?: unknown; message?: unknown; detail?: unknown };
  if (typeof api.code === 'string' && typeof api.message === 'string') {
    if (format === 'json') process.stderr.write(`${JSON.stringify({ code: api.code, message: api.message, detail: api.detail })}\n`);
    else process.stderr.write(`error ${api.code}: ${api.message}\n`);
    return;
  }
  process.stderr.write(`error: ${(err as Error).message ?? String(err)}\n`);
}

/** A progress line on a tty (nothing when stderr is not a terminal). */
export function progress(step: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${step}`);
}

/** Ends a progress line. */
export function progressDone(): void {
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
}
