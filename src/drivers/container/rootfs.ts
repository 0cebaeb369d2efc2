/**
 * A container's root filesystem is a qcow2 disk like a VM's, so snapshots, linked and full clones, quotas
 * (its virtual size) and shared pools work the same way. To mount it, qemu-storage-daemon exports the qcow2
 * as a raw file over FUSE (this host has no nbd module), a loop device reads that file, and ext4 is mounted
 * from the loop device. The loop device does buffered I/O: with direct I/O through the FUSE export, ext4's
 * metadata came back damaged after a remount (its checksums failed), so pages are cached twice instead. The daemon's QMP monitor is the disk's
 * monitor: live snapshots and block statistics go through it, as they go through QEMU's for a VM.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DroverError, type ErrorCode } from '../../shared/errors.js';
import { QmpClient } from '../../qmp/client.js';
import { run } from '../../shared/exec.js';
import { isAlive, readPidFile, signalProcess } from '../qemu/process.js';

/** A mounted root disk: the processes and devices that hold it, all found again from these fields after an agent restart. */
export interface MountedRootDisk {
  disk: string;
  daemonPid: number;
  monitorSocket: string;
  exportFile: string;
  loopDevice: string;
  /** The loop device's block numbers, which its I/O limits (blkio cgroup) name. */
  major: number;
  minor: number;
  mountPoint: string;
}

/** The node name of the root disk in the storage daemon: the same name QEMU gives a VM's root drive. */
export const ROOT_NODE = 'drive-root';

/** Exports `disk` (qcow2), loop-mounts its ext4 filesystem at `mountPoint`; undoes what it did when a step fails. */
export async function mountRootDisk(disk: string, dir: string, mountPoint: string): Promise<MountedRootDisk> {
  const exportFile = path.join(dir, 'disk.raw');
  const monitorSocket = path.join(dir, 'disk.qmp');
  const pidFile = path.join(dir, 'disk.pid');
  await unmountQuietly(mountPoint);
  await unmountQuietly(exportFile);
  fs.rmSync(monitorSocket, { force: true });
  fs.writeFileSync(exportFile, '');
  fs.mkdirSync(mountPoint, { recursive: true });
  const undo: Array<() => Promise<unknown>> = [];
  try {
    const daemonPid = await startStorageDaemon(disk, monitorSocket, pidFile, 'VM_START_FAILED', [
      '--export', `type=fuse,id=root,node-name=${ROOT_NODE},mountpoint=${exportFile},writable=on`,
    ]);
    undo.push(() => stopDaemon(daemonPid, monitorSocket, exportFile));
    const loop = (await run('losetup', ['--find', '--show', exportFile], { timeoutMs: 30_000, errorCode: 'VM_START_FAILED' })).stdout.trim();
    undo.push(() => run('losetup', ['-d', loop], { allowFailure: true }));
    await growFilesystem(loop);
    await run('mount', ['-t', 'ext4', '-o', 'nodev', loop, mountPoint], { timeoutMs: 60_000, errorCode: 'VM_START_FAILED' });
    const [major, minor] = blockNumbers(loop);
    return { disk, daemonPid, monitorSocket, exportFile, loopDevice: loop, major, minor, mountPoint };
  } catch (err) {
    for (const step of undo.reverse()) await step().catch(() => undefined);
    throw err;
  }
}

/**
 * A disk grown since its filesystem was made (`--disk` bigger than the image) gets the filesystem grown to fill
 * it, before it is mounted: checked first, as resize2fs asks, then resized offline (online growth is refused here).
 */
async function growFilesystem(device: string): Promise<void> {
  const header = (await run('dumpe2fs', ['-h', device], { timeoutMs: 30_000, allowFailure: true })).stdout;
  const blocks = Number(/^Block count:\s+(\d+)/m.exec(header)?.[1]);
  const blockSize = Number(/^Block size:\s+(\d+)/m.exec(header)?.[1]);
  const deviceBytes = Number((await run('blockdev', ['--getsize64', device], { timeoutMs: 10_000 })).stdout.trim());
  if (!blocks || !blockSize || deviceBytes - blocks * blockSize < 4 * 1024 * 1024) return;
  // e2fsck -p exits 1 when it fixed something, which is fine; 4 and above means it could not.
  const check = await run('e2fsck', ['-f', '-p', device], { timeoutMs: 600_000, allowFailure: true });
  if (check.code >= 4) throw new DroverError('VM_START_FAILED', `the root filesystem needs repair before it can grow: ${check.stdout.trim() || check.stderr.trim()}`);
  await run('resize2fs', [device], { timeoutMs: 600_000, errorCode: 'VM_START_FAILED' });
}

/**
 * Starts a qemu-storage-daemon on qcow2 `disk` (its node named ROOT_NODE) with a QMP monitor at `monitorSocket`
 * and `extra` arguments (an export), daemonized; returns its pid. `errorCode` says what failed for the caller.
 */
export async function startStorageDaemon(disk: string, monitorSocket: string, pidFile: string, errorCode: ErrorCode, extra: string[] = []): Promise<number> {
  await run(
    'qemu-storage-daemon',
    [
      '--blockdev', `driver=file,node-name=file-root,filename=${disk},cache.direct=off`,
      '--blockdev', `driver=qcow2,node-name=${ROOT_NODE},file=file-root`,
      ...extra,
      '--chardev', `socket,id=monitor,path=${monitorSocket},server=on,wait=off`,
      '--monitor', 'chardev=monitor',
      '--pidfile', pidFile,
      '--daemonize',
    ],
    { timeoutMs: 30_000, errorCode },
  );
  const pid = readPidFile(pidFile);
  if (!pid) throw new DroverError(errorCode, 'qemu-storage-daemon left no pid file');
  return pid;
}

/** Unmounts the filesystem, frees the loop device and stops the storage daemon; each step tolerates what is already gone. */
export async function unmountRootDisk(mounted: MountedRootDisk): Promise<void> {
  // A plain unmount, retried while the last container processes let go: a lazy one would return before ext4
  // wrote its last blocks, and stopping the daemon then would leave the filesystem damaged.
  for (let attempt = 0; isMountedHere(mounted.mountPoint); attempt++) {
    const result = await run('umount', [mounted.mountPoint], { allowFailure: true, timeoutMs: 60_000 });
    if (result.code === 0) break;
    if (attempt >= 100) throw new DroverError('STORAGE_ERROR', `${mounted.mountPoint} stays busy: ${result.stderr.trim()}`);
    await sleep(100);
  }
  if (mounted.loopDevice && loopBacks(mounted.loopDevice, mounted.exportFile)) {
    await run('losetup', ['-d', mounted.loopDevice], { allowFailure: true, timeoutMs: 30_000 });
    for (let i = 0; i < 100 && loopBacks(mounted.loopDevice, mounted.exportFile); i++) await sleep(50);
  }
  await stopDaemon(mounted.daemonPid, mounted.monitorSocket, mounted.exportFile);
  // The empty mount point goes too; rmdir refuses anything that is still mounted or not empty.
  if (!isMountedHere(mounted.mountPoint)) {
    try {
      fs.rmdirSync(mounted.mountPoint);
    } catch {
      // Already gone, or not empty: left for the next start, which mounts over it.
    }
  }
}

/** True while loop device `device` reads `file` (it is not yet detached, or was reused for another file). */
function loopBacks(device: string, file: string): boolean {
  try {
    return fs.readFileSync(`/sys/class/block/${path.basename(device)}/loop/backing_file`, 'utf8').trim() === file;
  } catch {
    return false;
  }
}

/** True while the storage daemon that exports the disk runs. */
export function rootDiskAlive(mounted: MountedRootDisk): boolean {
  return isAlive(mounted.daemonPid);
}

/** The storage daemon's monitor. */
export function diskMonitor(mounted: MountedRootDisk): Promise<QmpClient> {
  return QmpClient.connect(mounted.monitorSocket, { timeoutMs: 5_000 });
}

/** Freezes the mounted filesystem (FIFREEZE) so a snapshot of the disk under it is consistent; thaw() undoes it. */
export async function freeze(mounted: MountedRootDisk): Promise<() => Promise<void>> {
  await run('fsfreeze', ['--freeze', mounted.mountPoint], { timeoutMs: 30_000 });
  return async () => {
    await run('fsfreeze', ['--unfreeze', mounted.mountPoint], { timeoutMs: 30_000, allowFailure: true });
  };
}

/** The dirty bitmap that records a cold move's writes: kept in the qcow2, read by the move's final copy. */
export const MOVE_BITMAP = 'drover-cold-move';

/**
 * Starts recording the clusters written from now on, with the filesystem frozen meanwhile so everything written
 * before is flushed into the qcow2 file: a copy of that file made while the container runs is then right except
 * for the clusters the bitmap marks. The bitmap is persistent: the daemon stores it in the qcow2 when it stops.
 */
export async function trackWrites(mounted: MountedRootDisk): Promise<void> {
  const qmp = await diskMonitor(mounted);
  const thaw = await freeze(mounted);
  try {
    // A bitmap left by an earlier move that did not finish would hide nothing, but takes the name.
    await qmp.execute('block-dirty-bitmap-remove', { node: ROOT_NODE, name: MOVE_BITMAP }).catch(() => undefined);
    await qmp.execute('block-dirty-bitmap-add', { node: ROOT_NODE, name: MOVE_BITMAP, persistent: true });
  } finally {
    await thaw();
    qmp.close();
  }
}

async function stopDaemon(pid: number, monitorSocket: string, exportFile: string): Promise<void> {
  if (isAlive(pid)) {
    try {
      const qmp = await QmpClient.connect(monitorSocket, { timeoutMs: 2_000 });
      // Deleting the export unmounts the FUSE file; quitting alone leaves a dead mount behind.
      await qmp.execute('block-export-del', { id: 'root' }).catch(() => undefined);
      await qmp.execute('quit').catch(() => undefined);
      qmp.close();
    } catch {
      // The monitor is gone; the signal below ends it.
    }
    for (let i = 0; i < 50 && isAlive(pid); i++) await sleep(20);
    if (isAlive(pid)) signalProcess(pid, 'SIGKILL');
  }
  await unmountQuietly(exportFile);
  fs.rmSync(exportFile, { force: true });
  fs.rmSync(monitorSocket, { force: true });
}

async function unmountQuietly(target: string): Promise<void> {
  if (!fs.existsSync(target) && !isMountedHere(target)) return;
  await run('umount', ['--lazy', target], { allowFailure: true, timeoutMs: 30_000 });
}

function isMountedHere(target: string): boolean {
  try {
    return fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${target} `);
  } catch {
    return false;
  }
}

function blockNumbers(device: string): [number, number] {
  const name = path.basename(device);
  const [major, minor] = fs.readFileSync(`/sys/class/block/${name}/dev`, 'utf8').trim().split(':').map(Number);
  if (major === undefined || minor === undefined) throw new DroverError('VM_START_FAILED', `no device numbers for ${device}`);
  return [major, minor];
}

/**
 * Moves the ownership of every file under `root` from the id range starting at `from` to the one starting at
 * `to` (65536 ids each): a container's files belong to the host ids its user namespace maps root to. Set-id
 * bits, which chown clears, are put back. Ids outside the old range are left as they are.
 */
export function shiftOwnership(root: string, from: number, to: number, size = 65_536): number {
  if (from === to) return 0;
  const shift = (id: number): number => (id >= from && id < from + size ? id - from + to : id);
  let count = 0;
  const walk = (file: string): void => {
    const st = fs.lstatSync(file);
    fs.lchownSync(file, shift(st.uid), shift(st.gid));
    count++;
    if (!st.isSymbolicLink() && st.mode & 0o6000) fs.chmodSync(file, st.mode & 0o7777);
    if (st.isDirectory()) for (const entry of fs.readdirSync(file)) walk(path.join(file, entry));
  };
  walk(root);
  return count;
}
