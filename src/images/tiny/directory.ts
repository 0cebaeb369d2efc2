/**
 * Crash-safe handling of the image directory: one builder at a time (a pid lock file),
 * cleanup of directories left by builders that died, and swapping a finished build in.
 */
import { link, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DroverError } from '../../shared/errors.js';

const LOCK_WAIT_MS = 10 * 60_000;

/** Runs `action` while holding `<dir>.lock`; waits for a live holder, takes over from a dead one. */
export async function withDirectoryLock<T>(dir: string, action: () => Promise<T>): Promise<T> {
  const lockPath = `${dir}.lock`;
  const candidate = `${lockPath}.${process.pid}`;
  // link() publishes the lock with its pid already written, so no reader sees an empty lock.
  await writeFile(candidate, String(process.pid));
  try {
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      const taken = await link(candidate, lockPath).then(
        () => true,
        (err: NodeJS.ErrnoException) => {
          if (err.code === 'EEXIST') return false;
          throw err;
        },
      );
      if (taken) break;
      const holder = Number(await readFile(lockPath, 'utf8').catch(() => '0'));
      if (!processAlive(holder)) {
        await rm(lockPath, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new DroverError('IMAGE_BUILD_FAILED', `another build (pid ${holder}) still holds ${lockPath}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  } finally {
    await rm(candidate, { force: true });
  }
  try {
    return await action();
  } finally {
    await rm(lockPath, { force: true });
  }
}

/** A fresh path beside `dir` for a build owned by this process. */
export function buildPathFor(dir: string): string {
  return `${dir}.build-${process.pid}-${Date.now()}`;
}

/** Swaps `buildDir` in as `dir`; the old directory is moved aside, restored if the swap fails, deleted after. */
export async function replaceDirectory(buildDir: string, dir: string): Promise<void> {
  const retired = `${dir}.old-${process.pid}-${Date.now()}`;
  const hadOld = await rename(dir, retired).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return false;
      throw err;
    },
  );
  try {
    await rename(buildDir, dir);
  } catch (err) {
    if (hadOld) await rename(retired, dir);
    throw err;
  }
  if (hadOld) await rm(retired, { recursive: true, force: true });
}

/** Deletes build and retired directories beside `dir` whose owning process is gone. */
export async function removeAbandonedBuilds(dir: string): Promise<void> {
  const parent = path.dirname(dir);
  const pattern = new RegExp(`^${escapeRegExp(path.basename(dir))}\\.(?:build|old)-(\\d+)-\\d+$`);
  for (const name of await readdir(parent)) {
    const pid = Number(pattern.exec(name)?.[1]);
    if (pid && !processAlive(pid)) await rm(path.join(parent, name), { recursive: true, force: true });
  }
}

function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
