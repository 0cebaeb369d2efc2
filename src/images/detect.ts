/**
 * Cheap, best-effort look inside a disk image: partition table type and filesystem signatures, found by
 * copying the first MiB of the disk and of each partition out through `qemu-img dd` and asking `blkid -p`.
 * It never mounts or runs anything from the image, and never fails an import: on any error it reports less.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run } from '../shared/exec.js';

export interface DetectedPartition {
  number: number;
  startBytes: number;
  sizeBytes: number;
  /** MBR type byte ("0x83") or GPT type GUID. */
  typeCode: string;
  filesystem?: string;
  label?: string;
}

export interface DetectedLayout {
  /** "dos" or "gpt" when the disk has a partition table. */
  partitionTable?: string;
  /** A filesystem written on the whole disk, without a partition table. */
  filesystem?: string;
  label?: string;
  partitions: DetectedPartition[];
}

const SECTOR = 512;
const PROBE_SECTORS = 2048; // 1 MiB covers every common superblock (ext*, xfs, btrfs, vfat, iso9660, swap)
const MAX_PARTITIONS = 16;

function parsePairs(text: string): Map<string, string> {
  const pairs = new Map<string, string>();
  for (const line of text.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) pairs.set(line.slice(0, at), line.slice(at + 1));
  }
  return pairs;
}

async function copyOut(image: string, format: string, startSector: number, out: string): Promise<void> {
  // qemu-img 7.2's dd counts skipped blocks in `count`, so count = skip + wanted; a dd that
  // does not would copy a little more, which is harmless because blkid reads from the start.
  const args = ['dd', '-U', '-f', format, '-O', 'raw', `bs=${SECTOR}`, `skip=${startSector}`];
  args.push(`count=${startSector + PROBE_SECTORS}`, `if=${image}`, `of=${out}`);
  await run('qemu-img', args, { timeoutMs: 60_000, errorCode: 'STORAGE_ERROR' });
}

async function probe(file: string): Promise<Map<string, string>> {
  // blkid exits 2 when it finds nothing: that is an answer, not an error.
  const result = await run('blkid', ['-p', '-o', 'export', file], { allowFailure: true, timeoutMs: 30_000 });
  return parsePairs(result.stdout);
}

async function listPartitions(head: string): Promise<Omit<DetectedPartition, 'filesystem' | 'label'>[]> {
  const result = await run('partx', ['-b', '-P', '-o', 'NR,START,SECTORS,TYPE', head], { allowFailure: true, timeoutMs: 30_000 });
  const partitions = [];
  for (const line of result.stdout.split('\n')) {
    const fields = new Map([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1] ?? '', m[2] ?? '']));
    const number = Number(fields.get('NR'));
    const start = Number(fields.get('START'));
    const sectors = Number(fields.get('SECTORS'));
    if (!Number.isSafeInteger(number) || !Number.isSafeInteger(start) || !Number.isSafeInteger(sectors)) continue;
    partitions.push({ number, startBytes: start * SECTOR, sizeBytes: sectors * SECTOR, typeCode: fields.get('TYPE') ?? '' });
  }
  return partitions.slice(0, MAX_PARTITIONS);
}

/** Reads the partition table and filesystem signatures of `image` (any qemu-img format); returns what it could find. */
export async function detectLayout(image: string, format: string): Promise<DetectedLayout> {
  const layout: DetectedLayout = { partitions: [] };
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'drover-detect-'));
  try {
    const head = path.join(scratch, 'head');
    await copyOut(image, format, 0, head);
    const whole = await probe(head);
    const table = whole.get('PTTYPE');
    if (!table) {
      if (whole.get('TYPE')) layout.filesystem = whole.get('TYPE');
      if (whole.get('LABEL')) layout.label = whole.get('LABEL');
      return layout;
    }
    layout.partitionTable = table;
    for (const partition of await listPartitions(head)) {
      const out = path.join(scratch, `p${partition.number}`);
      await copyOut(image, format, partition.startBytes / SECTOR, out);
      const found = await probe(out);
      layout.partitions.push({
        ...partition,
        ...(found.get('TYPE') ? { filesystem: found.get('TYPE') } : {}),
        ...(found.get('LABEL') ? { label: found.get('LABEL') } : {}),
      });
    }
    return layout;
  } catch {
    return layout;
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

/** A one-line human summary of a layout, e.g. `dos partition table; 1: ext4 "rootfs"`; empty when nothing was found. */
export function describeLayout(layout: DetectedLayout): string {
  const labelled = (fs?: string, label?: string) => `${fs ?? 'unknown'}${label ? ` "${label}"` : ''}`;
  if (layout.filesystem) return `whole-disk ${labelled(layout.filesystem, layout.label)}`;
  if (!layout.partitionTable) return '';
  const parts = layout.partitions.map((p) => `${p.number}: ${labelled(p.filesystem, p.label)}`);
  return [`${layout.partitionTable} partition table`, ...parts].join('; ');
}
