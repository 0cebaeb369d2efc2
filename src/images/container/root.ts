/**
 * The parts every container image shares: clearing what identifies the build host or one machine from the root
 * directory, and packing the directory as a bare ext4 file system (no partition table) in a qcow2 file.
 */
import { chmod, lstat, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../../shared/exec.js';
import { DroverError } from '../../shared/errors.js';

const MiB = 1024 * 1024;
const BLOCK = 4096;
export const ROOT_FS_LABEL = 'rootfs';
export const MIN_DISK_BYTES = 64 * MiB;
/** The share of the file system left free after the build, for the container's own writes. */
export const FREE_FRACTION = 0.4;

/**
 * Makes `rootDir` fit the image contract: an empty /etc/machine-id (systemd then takes the machine-id the driver
 * passes as container_uuid), an empty /etc/resolv.conf, `hostname` in /etc/hostname, an /etc/hosts, and empty
 * mount points for what the runtime mounts (/dev, /proc, /sys).
 */
export async function prepareImageRoot(rootDir: string, hostname: string): Promise<void> {
  const etc = path.join(rootDir, 'etc');
  await mkdir(etc, { recursive: true });
  // Writable by root without CAP_DAC_OVERRIDE, so systemd-machine-id-commit can store the id the container got.
  await writeFile(path.join(etc, 'machine-id'), '', { mode: 0o644 });
  await chmod(path.join(etc, 'machine-id'), 0o644);
  // D-Bus may have stored its own copy of the build's id; its tmpfiles rule links it to /etc/machine-id at boot.
  const dbusId = path.join(rootDir, 'var', 'lib', 'dbus', 'machine-id');
  if ((await lstat(dbusId).catch(() => null))?.isFile()) await rm(dbusId);
  // mmdebstrap copies the build host's resolv.conf (it may be a symlink to systemd-resolved's local resolver, too).
  await rm(path.join(etc, 'resolv.conf'), { force: true });
  await writeFile(path.join(etc, 'resolv.conf'), '', { mode: 0o644 });
  await writeFile(path.join(etc, 'hostname'), `${hostname}\n`, { mode: 0o644 });
  await chmod(path.join(etc, 'hostname'), 0o644);
  if (!(await lstat(path.join(etc, 'hosts')).catch(() => null))) {
    await writeFile(path.join(etc, 'hosts'), '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n', { mode: 0o644 });
  }
  // The runtime mounts its own /dev; device nodes made by the build would only hide under it.
  const dev = path.join(rootDir, 'dev');
  await rm(dev, { recursive: true, force: true });
  for (const [directory, mode] of [['dev', 0o755], ['proc', 0o555], ['sys', 0o555], ['run', 0o755], ['tmp', 0o1777]] as const) {
    await mkdir(path.join(rootDir, directory), { recursive: true });
    await chmod(path.join(rootDir, directory), mode);
  }
}

/** Blocks and inodes a directory tree needs in ext4 with 4 KiB blocks (a slight overestimate: no inline data). */
export async function measureTree(dir: string): Promise<{ bytes: number; inodes: number }> {
  let bytes = 0;
  let inodes = 0;
  const walk = async (current: string): Promise<void> => {
    for (const entry of await readdir(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      const info = await lstat(full);
      inodes += 1;
      if (info.isDirectory()) {
        bytes += BLOCK;
        await walk(full);
      } else if (info.isFile()) {
        // Hard links are counted once per name: an overestimate, which only leaves more room.
        bytes += Math.ceil(info.size / BLOCK) * BLOCK;
      } else if (info.isSymbolicLink() && info.size >= 60) {
        bytes += BLOCK; // shorter targets fit in the inode itself
      }
    }
  };
  await walk(dir);
  return { bytes, inodes };
}

/**
 * Packs `rootDir` into a bare ext4 file system labelled "rootfs" at `rawPath` (mke2fs -d: no mounting) and converts
 * it to the qcow2 file `qcow2Path`. The file system is sized to leave about 40% of it free (at least 64 MiB); no
 * blocks are reserved for root, whose uid the driver shifts away. Returns the disk's size and free space.
 */
export async function makeContainerDisk(rootDir: string, rawPath: string, qcow2Path: string): Promise<{ virtualSizeBytes: number; freeBytes: number }> {
  const tree = await measureTree(rootDir);
  // Room for at least twice as many files as the build holds.
  const inodes = Math.max(4096, tree.inodes * 2);
  // Metadata: the inode tables (256 bytes an inode), plus the journal and group descriptors, about 3% more.
  let sizeBytes = roundUp(Math.max(MIN_DISK_BYTES, (tree.bytes + inodes * 256) / (1 - FREE_FRACTION) / 0.97), MiB);
  for (let attempt = 1; ; attempt++) {
    await rm(rawPath, { force: true });
    await run(
      'mkfs.ext4',
      ['-q', '-F', '-T', 'default', '-b', String(BLOCK), '-N', String(inodes), '-m', '0', '-L', ROOT_FS_LABEL, '-E', 'root_owner=0:0', '-d', rootDir, rawPath, `${sizeBytes / 1024}k`],
      { errorCode: 'IMAGE_BUILD_FAILED' },
    );
    const { blockCount, freeBlocks, blockSize } = await superblock(rawPath);
    const free = freeBlocks / blockCount;
    if (free >= FREE_FRACTION || attempt === 3) {
      if (free < FREE_FRACTION) throw new DroverError('IMAGE_BUILD_FAILED', `the root file system keeps only ${Math.round(free * 100)}% free`);
      await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', rawPath, qcow2Path], { errorCode: 'IMAGE_BUILD_FAILED' });
      await rm(rawPath, { force: true });
      return { virtualSizeBytes: sizeBytes, freeBytes: freeBlocks * blockSize };
    }
    // The estimate was short: size again from the space the files really took.
    const usedBytes = (blockCount - freeBlocks) * blockSize;
    sizeBytes = roundUp(usedBytes / (1 - FREE_FRACTION) / 0.97, MiB);
  }
}

/** Block count, free blocks and block size of the ext4 file system in `file`, from its superblock. */
export async function superblock(file: string): Promise<{ blockCount: number; freeBlocks: number; blockSize: number }> {
  const { stdout } = await run('dumpe2fs', ['-h', file], { errorCode: 'IMAGE_BUILD_FAILED' });
  const field = (name: string): number => {
    const value = Number(new RegExp(`^${name}:\\s*(\\d+)$`, 'm').exec(stdout)?.[1]);
    if (!Number.isSafeInteger(value) || value <= 0) throw new DroverError('IMAGE_BUILD_FAILED', `dumpe2fs -h ${file} gave no "${name}"`);
    return value;
  };
  return { blockCount: field('Block count'), freeBlocks: field('Free blocks'), blockSize: field('Block size') };
}

function roundUp(value: number, unit: number): number {
  return Math.ceil(value / unit) * unit;
}
