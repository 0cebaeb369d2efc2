/**
 * VM disk operations for the host agent. Paths come from the caller (a VM's own directory); every create
 * writes a temp file next to the target and renames it into place, so a failure leaves nothing half-created.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { DroverError } from '../shared/errors.js';
import { validateName } from '../shared/names.js';
import { ensureFreeSpace, fsError, writeAtomically } from './files.js';
import * as qemuImg from './qemu-img.js';

/** The smallest disk Drover creates (1 MiB): below that no guest can use it. */
export const MIN_DISK_BYTES = 1024 * 1024;
/** The largest disk Drover creates (64 TiB), far below qcow2's own limit, to catch unit mistakes. */
export const MAX_DISK_BYTES = 64 * 1024 ** 4;

/** Throws INVALID_SIZE unless `sizeBytes` is a whole number of 512-byte sectors between 1 MiB and 64 TiB. */
export function validateDiskSize(sizeBytes: unknown): asserts sizeBytes is number {
  const ok =
    typeof sizeBytes === 'number' &&
    Number.isSafeInteger(sizeBytes) &&
    sizeBytes >= MIN_DISK_BYTES &&
    sizeBytes <= MAX_DISK_BYTES &&
    sizeBytes % 512 === 0;
  if (!ok) {
    throw new DroverError(
      'INVALID_SIZE',
      `disk size ${String(sizeBytes)}: must be a whole number of bytes, a multiple of 512, from ${MIN_DISK_BYTES} to ${MAX_DISK_BYTES}`,
    );
  }
}

async function requireDisk(diskPath: string): Promise<void> {
  try {
    const stats = await fs.stat(diskPath);
    if (!stats.isFile()) throw new DroverError('DISK_NOT_FOUND', `${diskPath} is not a regular file`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new DroverError('DISK_NOT_FOUND', diskPath, { cause: err });
    throw fsError(err, diskPath);
  }
}

async function requireFile(filePath: string): Promise<void> {
  await fs.access(filePath, fs.constants.R_OK).catch((err: unknown) => {
    throw fsError(err, filePath);
  });
}

async function requireAbsent(diskPath: string): Promise<void> {
  try {
    await fs.lstat(diskPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw fsError(err, diskPath);
  }
  throw new DroverError('DISK_EXISTS', diskPath);
}

/** Creates an empty qcow2 disk at `diskPath` (DISK_EXISTS if taken); INVALID_SIZE unless 1 MiB–64 TiB in 512-byte sectors. */
export async function createBlankDisk(diskPath: string, sizeBytes: number): Promise<void> {
  validateDiskSize(sizeBytes);
  await requireAbsent(diskPath);
  await writeAtomically(diskPath, 'DISK_EXISTS', (temp) => qemuImg.create(temp, sizeBytes));
}

/**
 * Creates a qcow2 overlay at `diskPath` backed by the qcow2 image `basePath` (recorded as an absolute path);
 * `sizeBytes` may grow the disk beyond the base's size, never shrink it.
 */
export async function createLinkedClone(diskPath: string, basePath: string, sizeBytes?: number): Promise<void> {
  const base = path.resolve(basePath);
  await requireFile(base);
  await requireAbsent(diskPath);
  const baseInfo = await qemuImg.info(base);
  if (baseInfo.format !== 'qcow2') {
    throw new DroverError('IMAGE_FORMAT_UNSUPPORTED', `a linked clone's base must be qcow2; ${base} is ${baseInfo.format}`);
  }
  const size = sizeBytes ?? baseInfo.virtualSizeBytes;
  validateDiskSize(size);
  if (size < baseInfo.virtualSizeBytes) {
    throw new DroverError('INVALID_SIZE', `${size} bytes is smaller than the base image (${baseInfo.virtualSizeBytes} bytes)`);
  }
  await writeAtomically(diskPath, 'DISK_EXISTS', (temp) =>
    qemuImg.create(temp, size, { backingFile: base, backingFormat: 'qcow2' }),
  );
}

/**
 * Copies `srcPath` (any format qemu-img reads, with its backing chain flattened) into a standalone qcow2 at
 * `diskPath`. Fails with NO_SPACE before writing when the copy cannot fit, and also if the disk fills during it.
 */
export async function createFullClone(diskPath: string, srcPath: string): Promise<void> {
  await requireFile(srcPath);
  await requireAbsent(diskPath);
  const srcInfo = await qemuImg.info(srcPath);
  const needed = await qemuImg.measure(srcPath, { srcFormat: srcInfo.format, dstFormat: 'qcow2' });
  await ensureFreeSpace(path.dirname(path.resolve(diskPath)), needed.requiredBytes);
  await writeAtomically(diskPath, 'DISK_EXISTS', (temp) =>
    qemuImg.convert(srcPath, temp, { srcFormat: srcInfo.format, dstFormat: 'qcow2' }),
  );
}

/** Grows a stopped VM's qcow2 disk to `sizeBytes`; shrinking is refused (INVALID_SIZE) because it would cut guest data. */
export async function resizeDisk(diskPath: string, sizeBytes: number): Promise<void> {
  validateDiskSize(sizeBytes);
  await requireDisk(diskPath);
  const current = await qemuImg.info(diskPath);
  if (sizeBytes < current.virtualSizeBytes) {
    throw new DroverError('INVALID_SIZE', `${sizeBytes} bytes is smaller than the disk (${current.virtualSizeBytes} bytes)`);
  }
  if (sizeBytes > current.virtualSizeBytes) await qemuImg.resize(diskPath, sizeBytes);
}

/** Internal snapshots of a disk, oldest first (works while the VM runs; it reads without the lock). */
export async function snapshotList(diskPath: string): Promise<qemuImg.SnapshotInfo[]> {
  await requireDisk(diskPath);
  return qemuImg.snapshotList(diskPath);
}

async function findSnapshot(diskPath: string, name: string): Promise<qemuImg.SnapshotInfo | undefined> {
  validateName('snapshot', name);
  await requireDisk(diskPath);
  return (await qemuImg.snapshotList(diskPath)).find((s) => s.name === name);
}

/** Takes an internal snapshot `name` of a stopped VM's disk; SNAPSHOT_EXISTS if taken, DISK_IN_USE if a QEMU holds it. */
export async function snapshotCreate(diskPath: string, name: string): Promise<qemuImg.SnapshotInfo> {
  if (await findSnapshot(diskPath, name)) throw new DroverError('SNAPSHOT_EXISTS', name);
  await qemuImg.snapshotCreate(diskPath, name);
  const created = (await qemuImg.snapshotList(diskPath)).find((s) => s.name === name);
  if (!created) throw new DroverError('STORAGE_ERROR', `snapshot ${name} is missing right after qemu-img created it`);
  return created;
}

/** Reverts a stopped VM's disk to snapshot `name` (the snapshot is kept); SNAPSHOT_NOT_FOUND if absent. */
export async function snapshotRevert(diskPath: string, name: string): Promise<void> {
  // Names start with a letter and qemu-img ids are numbers, so `name` can never select another snapshot by id.
  if (!(await findSnapshot(diskPath, name))) throw new DroverError('SNAPSHOT_NOT_FOUND', name);
  await qemuImg.snapshotApply(diskPath, name);
}

/** Deletes snapshot `name` from a stopped VM's disk; SNAPSHOT_NOT_FOUND if absent. */
export async function snapshotDelete(diskPath: string, name: string): Promise<void> {
  if (!(await findSnapshot(diskPath, name))) throw new DroverError('SNAPSHOT_NOT_FOUND', name);
  await qemuImg.snapshotDelete(diskPath, name);
}
