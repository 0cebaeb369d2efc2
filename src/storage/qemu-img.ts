/**
 * A typed wrapper around qemu-img. Every failure becomes a coded DroverError; "No space left on device"
 * is NO_SPACE whatever the subcommand. Sizes are bytes, formats are qemu-img's names ("qcow2", "raw", "vhdx"…).
 */
import path from 'node:path';
import { run } from '../shared/exec.js';
import { DroverError, type ErrorCode } from '../shared/errors.js';

export interface SnapshotInfo {
  id: string;
  name: string;
  vmStateSize: number;
  /** ISO 8601 time the snapshot was taken. */
  date: string;
  /** Guest clock at the snapshot; a double, so exact only below ~104 days of guest uptime. */
  vmClockNs: number;
}

export interface ImageInfo {
  format: string;
  virtualSizeBytes: number;
  actualSizeBytes: number;
  backingFile?: string;
  backingFormat?: string;
  dirty?: boolean;
  snapshots: SnapshotInfo[];
  /** qcow2 only: the image carries the "corrupt" flag QEMU sets after detecting metadata damage. */
  corrupt?: boolean;
  /** Files other than the image itself that opening it reads: backing file, qcow2 data file, VMDK extents. */
  externalFiles: string[];
  /** qcow2 only: the names of the persistent dirty bitmaps the image carries. */
  bitmaps: string[];
}

export interface CheckResult {
  format: string;
  /** False when the format has no consistency check (raw). */
  supported: boolean;
  leakedClusters: number;
}

export interface Measurement {
  requiredBytes: number;
  fullyAllocatedBytes: number;
}

type Rule = [RegExp, ErrorCode];

// Order matters: the first matching rule wins, so specific causes come before "Could not open".
const COMMON_RULES: Rule[] = [
  [/No space left on device|Disk quota exceeded/i, 'NO_SPACE'],
  [/Failed to get "?\w+"? lock|Is another process using the image/i, 'DISK_IN_USE'],
  [/No such file or directory|Permission denied/i, 'FILE_NOT_FOUND'],
  [/Could not open|not in .* format|Unknown driver|header too short|Unsupported .* version/i, 'IMAGE_INVALID'],
];

async function qemuImg(args: string[], opts: { rules?: Rule[]; fallback?: ErrorCode; timeoutMs?: number } = {}) {
  const result = await run('qemu-img', args, { allowFailure: true, timeoutMs: opts.timeoutMs, errorCode: 'STORAGE_ERROR' });
  if (result.code === 0) return result;
  const message = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-5).join('\n');
  const rules = [...(opts.rules ?? []), ...COMMON_RULES];
  const code = rules.find(([pattern]) => pattern.test(message))?.[1] ?? opts.fallback ?? 'STORAGE_ERROR';
  throw new DroverError(code, `qemu-img ${args[0]} exited ${result.code}: ${message}`);
}

function parseJson(text: string, what: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through to the coded error below
  }
  throw new DroverError('STORAGE_ERROR', `qemu-img ${what} printed unexpected output: ${text.slice(0, 200)}`);
}

function num(obj: Record<string, unknown>, key: string, fallback?: number): number {
  const value = obj[key];
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (fallback !== undefined) return fallback;
  throw new DroverError('STORAGE_ERROR', `qemu-img output lacks the number "${key}"`);
}

function record(value: unknown): Record<string, unknown> {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function parseSnapshot(raw: unknown): SnapshotInfo {
  const s = record(raw);
  const dateMs = num(s, 'date-sec', 0) * 1000 + Math.floor(num(s, 'date-nsec', 0) / 1e6);
  return {
    id: String(s.id ?? ''),
    name: String(s.name ?? ''),
    vmStateSize: num(s, 'vm-state-size', 0),
    date: new Date(dateMs).toISOString(),
    vmClockNs: num(s, 'vm-clock-sec', 0) * 1e9 + num(s, 'vm-clock-nsec', 0),
  };
}

function externalFilesOf(imagePath: string, info: Record<string, unknown>): string[] {
  const files: string[] = [];
  const backing = info['full-backing-filename'] ?? info['backing-filename'];
  if (typeof backing === 'string') files.push(backing);
  const specific = record(record(info['format-specific']).data);
  if (typeof specific['data-file'] === 'string') files.push(specific['data-file']);
  const self = path.resolve(imagePath);
  for (const extent of Array.isArray(specific.extents) ? specific.extents : []) {
    const name = record(extent).filename;
    if (typeof name !== 'string') continue;
    // qemu-img names the image's own extent as it was opened, and other extents relative to the descriptor.
    if (path.resolve(name) === self || path.resolve(path.dirname(self), name) === self) continue;
    files.push(path.resolve(path.dirname(self), name));
  }
  return files;
}

/** Describes an image without taking its lock (-U), so it works on a disk a running QEMU holds; `format` skips probing. */
export async function info(imagePath: string, opts: { format?: string } = {}): Promise<ImageInfo> {
  const args = ['info', '-U', '--output=json', ...(opts.format ? ['-f', opts.format] : []), imagePath];
  const { stdout } = await qemuImg(args, { timeoutMs: 60_000 });
  const raw = parseJson(stdout, 'info');
  const specific = record(record(raw['format-specific']).data);
  const backingFile = raw['full-backing-filename'] ?? raw['backing-filename'];
  const backingFormat = raw['backing-filename-format'];
  return {
    format: String(raw.format ?? ''),
    virtualSizeBytes: num(raw, 'virtual-size'),
    actualSizeBytes: num(raw, 'actual-size', 0),
    ...(typeof backingFile === 'string' ? { backingFile } : {}),
    ...(typeof backingFormat === 'string' ? { backingFormat } : {}),
    ...(typeof raw['dirty-flag'] === 'boolean' ? { dirty: raw['dirty-flag'] } : {}),
    snapshots: Array.isArray(raw.snapshots) ? raw.snapshots.map(parseSnapshot) : [],
    ...(typeof specific.corrupt === 'boolean' ? { corrupt: specific.corrupt } : {}),
    externalFiles: externalFilesOf(imagePath, raw),
    bitmaps: (Array.isArray(specific.bitmaps) ? specific.bitmaps : []).map((b) => record(b).name).filter((n): n is string => typeof n === 'string'),
  };
}

/** Checks an image's metadata read-only; throws IMAGE_CORRUPT on errors, returns leaks (harmless) and whether the format supports checks. */
export async function check(imagePath: string, opts: { format?: string } = {}): Promise<CheckResult> {
  const args = ['check', '-U', '--output=json', ...(opts.format ? ['-f', opts.format] : []), imagePath];
  const result = await run('qemu-img', args, { allowFailure: true, errorCode: 'STORAGE_ERROR' });
  const message = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-5).join('\n');
  // Exit codes (qemu-img(1)): 0 clean, 1 check not completed, 2 corrupted, 3 leaks only, 63 format has no check.
  if (result.code === 63) return { format: opts.format ?? 'raw', supported: false, leakedClusters: 0 };
  if (result.code === 0 || result.code === 2 || result.code === 3) {
    const raw = parseJson(result.stdout, 'check');
    const corruptions = num(raw, 'corruptions', 0) + num(raw, 'check-errors', 0);
    if (result.code === 2 || corruptions > 0) {
      throw new DroverError('IMAGE_CORRUPT', `${imagePath}: ${corruptions} errors found by qemu-img check`);
    }
    return { format: String(raw.format ?? ''), supported: true, leakedClusters: num(raw, 'leaks', 0) };
  }
  // Exit 1: the image could not be opened (invalid) or the check broke off part-way (treated as corrupt).
  const rule = COMMON_RULES.find(([pattern]) => pattern.test(message));
  throw new DroverError(rule?.[1] ?? 'IMAGE_CORRUPT', `qemu-img check exited ${result.code}: ${message}`);
}

/** Creates a qcow2 image of `sizeBytes`; with `backingFile` (stored as given, so pass an absolute path) it is an overlay. */
export async function create(
  imagePath: string,
  sizeBytes: number,
  opts: { backingFile?: string; backingFormat?: string } = {},
): Promise<void> {
  const backing = opts.backingFile ? ['-b', opts.backingFile, '-F', opts.backingFormat ?? 'qcow2'] : [];
  await qemuImg(['create', '-q', '-f', 'qcow2', ...backing, imagePath, String(sizeBytes)]);
}

/** Copies `src` into a new standalone image at `dst` (backing chain flattened, zero blocks skipped). Precondition: `dst` does not exist. */
export async function convert(src: string, dst: string, opts: { srcFormat?: string; dstFormat: 'qcow2' | 'raw' }): Promise<void> {
  const from = opts.srcFormat ? ['-f', opts.srcFormat] : [];
  await qemuImg(['convert', '-q', ...from, '-O', opts.dstFormat, src, dst]);
}

/** How many bytes converting `src` to `dstFormat` will write (`required`), and the size if fully allocated. */
export async function measure(src: string, opts: { srcFormat?: string; dstFormat: 'qcow2' | 'raw' }): Promise<Measurement> {
  const from = opts.srcFormat ? ['-f', opts.srcFormat] : [];
  const { stdout } = await qemuImg(['measure', '--output=json', ...from, '-O', opts.dstFormat, src], { timeoutMs: 120_000 });
  const raw = parseJson(stdout, 'measure');
  return { requiredBytes: num(raw, 'required'), fullyAllocatedBytes: num(raw, 'fully-allocated') };
}

/** True when both images show the same guest-visible content (sizes may differ only by zeroes). */
export async function compare(a: string, b: string): Promise<boolean> {
  const result = await run('qemu-img', ['compare', '-U', '-q', a, b], { allowFailure: true, errorCode: 'STORAGE_ERROR' });
  if (result.code === 0) return true;
  if (result.code === 1) return false;
  throw new DroverError('STORAGE_ERROR', `qemu-img compare exited ${result.code}: ${result.stderr.trim()}`);
}

/** Sets a qcow2 image's virtual size; shrinking loses data, so it needs `shrink: true`. */
export async function resize(imagePath: string, sizeBytes: number, opts: { shrink?: boolean } = {}): Promise<void> {
  await qemuImg(['resize', '-q', '-f', 'qcow2', ...(opts.shrink ? ['--shrink'] : []), imagePath, String(sizeBytes)], {
    rules: [[/shrink/i, 'INVALID_SIZE']],
  });
}

const SNAPSHOT_RULES: Rule[] = [[/snapshot not found|Failed to load snapshot/i, 'SNAPSHOT_NOT_FOUND']];

// `qemu-img snapshot` has no -f; --image-opts pins the format so a disk is never probed. Commas escape as ",,".
function qcow2Opts(imagePath: string): string[] {
  return ['--image-opts', `driver=qcow2,file.driver=file,file.filename=${path.resolve(imagePath).replaceAll(',', ',,')}`];
}

/** Takes an internal snapshot of a qcow2 image that no running QEMU holds. qemu-img allows duplicate names; callers check first. */
export async function snapshotCreate(imagePath: string, name: string): Promise<void> {
  await qemuImg(['snapshot', '-q', '-c', name, ...qcow2Opts(imagePath)], { rules: SNAPSHOT_RULES });
}

/** The internal snapshots of an image (read through -U, so it also works while a VM runs). */
export async function snapshotList(imagePath: string): Promise<SnapshotInfo[]> {
  return (await info(imagePath)).snapshots;
}

/** Reverts a qcow2 image to an internal snapshot (by name or id). Precondition: no running QEMU holds it. */
export async function snapshotApply(imagePath: string, name: string): Promise<void> {
  await qemuImg(['snapshot', '-q', '-a', name, ...qcow2Opts(imagePath)], { rules: SNAPSHOT_RULES });
}

/** Deletes an internal snapshot (by name or id). Precondition: no running QEMU holds the image. */
export async function snapshotDelete(imagePath: string, name: string): Promise<void> {
  await qemuImg(['snapshot', '-q', '-d', name, ...qcow2Opts(imagePath)], { rules: SNAPSHOT_RULES });
}
