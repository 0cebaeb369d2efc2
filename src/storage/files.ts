import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DroverError, type ErrorCode } from '../shared/errors.js';

/** A fresh sibling temp path for `finalPath` (`<finalPath>.tmp-<random>`), on the same filesystem so rename is atomic. */
export function tempPathFor(finalPath: string): string {
  return `${finalPath}.tmp-${randomBytes(6).toString('hex')}`;
}

/** True for the names tempPathFor produces, so listings can skip half-written files. */
export function isTempName(fileName: string): boolean {
  return /\.tmp-[0-9a-f]{12}$/.test(fileName);
}

/** Maps a Node fs error to a coded DroverError: ENOSPC/EDQUOT → NO_SPACE, ENOENT/EACCES → FILE_NOT_FOUND, else `fallback`. */
export function fsError(err: unknown, what: string, fallback: ErrorCode = 'STORAGE_ERROR'): DroverError {
  if (err instanceof DroverError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') return new DroverError('NO_SPACE', `${what}: ${message}`, { cause: err });
  if (code === 'ENOENT' || code === 'EACCES') return new DroverError('FILE_NOT_FOUND', `${what}: ${message}`, { cause: err });
  return new DroverError(fallback, `${what}: ${message}`, { cause: err });
}

/** Removes a file if it exists; never throws (used on cleanup paths where the first error matters). */
export async function removeQuietly(filePath: string): Promise<void> {
  await fs.rm(filePath, { force: true }).catch(() => undefined);
}

/** True when something exists at `filePath` (a dangling symlink counts). */
export async function exists(filePath: string): Promise<boolean> {
  try {
    await fs.lstat(filePath);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw fsError(err, filePath);
  }
}

/** Bytes an unprivileged writer may still use on the filesystem holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  try {
    const stats = await fs.statfs(dir);
    return stats.bavail * stats.bsize;
  } catch (err) {
    throw fsError(err, `statfs ${dir}`);
  }
}

/** Throws NO_SPACE when `neededBytes` do not fit on the filesystem holding `dir`. */
export async function ensureFreeSpace(dir: string, neededBytes: number): Promise<void> {
  const free = await freeBytes(dir);
  if (neededBytes > free) {
    throw new DroverError('NO_SPACE', `${dir} has ${free} bytes free, ${neededBytes} are needed`);
  }
}

/** Hex SHA-256 of a file's content, streamed so large images need no memory. */
export async function sha256File(filePath: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    await pipeline(createReadStream(filePath), hash);
  } catch (err) {
    throw fsError(err, `reading ${filePath}`);
  }
  return hash.digest('hex');
}

/** Flushes a file's data to stable storage, so a rename that publishes it never exposes an empty file after a crash. */
export async function syncFile(filePath: string): Promise<void> {
  try {
    const handle = await fs.open(filePath, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw fsError(err, `fsync ${filePath}`);
  }
}

/** Flushes a directory entry change (rename, unlink); best effort, as some filesystems refuse fsync on directories. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r').catch(() => undefined);
  if (!handle) return;
  await handle.sync().catch(() => undefined);
  await handle.close();
}

/**
 * Moves a finished temp file to `finalPath` atomically and without replacing anything there:
 * throws `existsCode` if `finalPath` already exists. Precondition: both on the same filesystem.
 */
export async function publishNoClobber(tempPath: string, finalPath: string, existsCode: ErrorCode): Promise<void> {
  await syncFile(tempPath);
  try {
    // link() fails with EEXIST instead of overwriting, which rename() would do silently.
    await fs.link(tempPath, finalPath);
    await fs.unlink(tempPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new DroverError(existsCode, finalPath, { cause: err });
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EMLINK') throw fsError(err, finalPath);
    // This filesystem has no hard links: check-then-rename, safe under the caller's own serialization.
    if (await exists(finalPath)) throw new DroverError(existsCode, finalPath);
    await fs.rename(tempPath, finalPath).catch((renameErr: unknown) => {
      throw fsError(renameErr, finalPath);
    });
  }
  await syncDir(path.dirname(finalPath));
}

/** Moves a finished temp file over `finalPath` atomically (replacing whatever is there). */
export async function publishReplace(tempPath: string, finalPath: string): Promise<void> {
  await syncFile(tempPath);
  try {
    await fs.rename(tempPath, finalPath);
  } catch (err) {
    throw fsError(err, finalPath);
  }
  await syncDir(path.dirname(finalPath));
}

/**
 * Runs `write(tempPath)` against a fresh temp path next to `finalPath`, then publishes it without clobbering.
 * On any failure the temp file is removed, so nothing half-created is left behind.
 */
export async function writeAtomically(
  finalPath: string,
  existsCode: ErrorCode,
  write: (tempPath: string) => Promise<void>,
): Promise<void> {
  const tempPath = tempPathFor(finalPath);
  try {
    await write(tempPath);
    await publishNoClobber(tempPath, finalPath, existsCode);
  } catch (err) {
    await removeQuietly(tempPath);
    throw fsError(err, finalPath);
  }
}
