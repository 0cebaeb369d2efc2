import { isDroverError } from '../shared/errors.js';

export type OutputFormat = 'table' | 'json';

/** Column headers mapped to getters; a getter answering undefined or null shows "-". */
export type Columns<T> = Record<string, (row: T) => string | number | boolean | null | undefined>;

/** Renders rows as an aligned table with upper-case headers, two spaces between columns. */
export function formatTable<T>(rows: readonly T[], columns: Columns<T>): string {
  const headers = Object.keys(columns);
  const cells = rows.map((row) => headers.map((h) => String(columns[h]?.(row) ?? '-')));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]?.length ?? 0)));
  const line = (values: string[]): string => values.map((v, i) => v.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [headers.map((h) => h.toUpperCase()), ...cells].map((values) => `${line(values)}\n`).join('');
}

/** Prints rows as an aligned table, or the rows themselves as JSON. */
export function printTable<T>(rows: readonly T[], columns: Columns<T>, format: OutputFormat): void {
  if (format === 'json') printJson(rows);
  else process.stdout.write(formatTable(rows, columns));
}

/** Prints a value as indented JSON on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
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

/** Prints an error the way every command does: code and actionable message on stderr (JSON with -o json). */
export function printError(err: unknown, format: OutputFormat = 'table'): void {
  const coded = err as { code?: unknown; message?: unknown; toJSON?: () => unknown };
  if (isDroverError(err) || (typeof coded.code === 'string' && typeof coded.message === 'string')) {
    const code = coded.code as string;
    if (format === 'json') process.stderr.write(`${JSON.stringify(typeof coded.toJSON === 'function' ? coded.toJSON() : { code, message: coded.message })}\n`);
    else process.stderr.write(`error ${code}: ${coded.message as string}\n`);
    return;
  }
  const message = err instanceof Error ? err.message : String(err);
  if (format === 'json') process.stderr.write(`${JSON.stringify({ code: 'INTERNAL', message })}\n`);
  else process.stderr.write(`error: ${message}\n`);
}

/** Renders a progress bar line: `[#####.....]  50%  copying disk`. */
export function renderProgress(fraction: number, message: string, width = 20): string {
  const clamped = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const filled = Math.round(clamped * width);
  const percent = `${Math.round(clamped * 100)}%`.padStart(4);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${percent}${message ? `  ${message}` : ''}`;
}

/** A progress line on a tty (nothing when stderr is not a terminal); long lines are cut to the terminal width. */
export function progress(step: string): void {
  if (!process.stderr.isTTY) return;
  const columns = process.stderr.columns || 80;
  process.stderr.write(`\r\x1b[K${step.length >= columns ? `${step.slice(0, columns - 2)}…` : step}`);
}

/** Ends a progress line. */
export function progressDone(): void {
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
}

const SPINNER_FRAMES = ['|', '/', '-', '\\'];

/** Shows a spinner with elapsed seconds while `work` runs, on a tty only; clears it afterwards. */
export async function withSpinner<T>(text: string, work: () => Promise<T>): Promise<T> {
  if (!process.stderr.isTTY) return work();
  const started = Date.now();
  let frame = 0;
  const draw = (): void => progress(`${SPINNER_FRAMES[frame++ % SPINNER_FRAMES.length]} ${text} (${Math.floor((Date.now() - started) / 1000)}s)`);
  draw();
  const timer = setInterval(draw, 120);
  try {
    return await work();
  } finally {
    clearInterval(timer);
    progressDone();
  }
}
