/**
 * The tiny image's root file system: busybox init, qemu-ga with its libraries, kernel modules
 * for NICs, consoles and ACPI, packed as an ext4 file system (label drover-root) in a qcow2 disk.
 */
import { chmod, copyFile, mkdir, open, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../../shared/exec.js';
import { DroverError } from '../../shared/errors.js';
import type { KernelModule } from './modules.js';
import { QEMU_GA_BINARY } from './packages.js';
import { copyOverlay, installBusybox, installedModulePath, installModules, makeDirectories } from './staging.js';

/** Modules rcS loads at boot: NICs QEMU offers, virtio console/RNG/balloon, and the ACPI power button. */
export const ROOTFS_MODULES = [
  'virtio_console',
  'virtio_net',
  'e1000',
  'e1000e',
  '8139cp',
  '8139too',
  'virtio_rng',
  'virtio_balloon',
  'button',
  'evdev',
];
/** Shipped (for modprobe) but not loaded at boot. */
export const ROOTFS_OPTIONAL_MODULES = ['vmw_vsock_virtio_transport'];

export const ROOT_FS_LABEL = 'drover-root';
export const ROOT_DISK_BYTES = 256 * 1024 * 1024;

/** depmod's index files copied from the kernel package so depmod can regenerate the rest for the subset. */
const KERNEL_INDEX_FILES = ['modules.builtin', 'modules.builtin.modinfo', 'modules.order'];

export interface RootDirectoryInput {
  /** The guest overlay for the root file system (inittab, rcS, udhcpc script, ...). */
  overlayDir: string;
  /** The extracted kernel's /lib/modules/<kernelVersion>. */
  moduleTree: string;
  kernelVersion: string;
  /** Every module to ship, in load order. */
  shippedModules: KernelModule[];
  /** The subset of shippedModules rcS loads, in load order. */
  bootModules: KernelModule[];
  /** qemu-ga's shared libraries on the host, the dynamic loader included. */
  qemuGaLibraries: string[];
  /** An empty directory that becomes the file system's root. */
  rootDir: string;
}

/** Fills `rootDir` with the complete root file system tree. */
export async function buildRootDirectory(input: RootDirectoryInput): Promise<void> {
  const root = input.rootDir;
  await makeDirectories(
    root,
    ['bin', 'sbin', 'lib', 'lib64', 'usr/bin', 'usr/sbin', 'etc/drover', 'dev', 'proc', 'sys', 'run', 'tmp', 'root', 'mnt', 'var/log'],
    { tmp: 0o1777, root: 0o700 },
  );
  await copyOverlay(input.overlayDir, root);
  await installBusybox(root);

  await copyFile(QEMU_GA_BINARY, path.join(root, QEMU_GA_BINARY));
  await chmod(path.join(root, QEMU_GA_BINARY), 0o755);
  for (const library of input.qemuGaLibraries) {
    // ldd names libraries by the path the loader uses; copyFile follows the host's symlinks.
    await mkdir(path.dirname(path.join(root, library)), { recursive: true });
    await copyFile(library, path.join(root, library));
    await chmod(path.join(root, library), 0o755);
  }
  await symlink('../run', path.join(root, 'var', 'run'));
  await symlink('../proc/self/mounts', path.join(root, 'etc', 'mtab'));

  await installModules(input.moduleTree, input.kernelVersion, input.shippedModules, root);
  const targetTree = path.join(root, 'lib', 'modules', input.kernelVersion);
  for (const file of KERNEL_INDEX_FILES) await copyFile(path.join(input.moduleTree, file), path.join(targetTree, file));
  await run('depmod', ['-b', root, input.kernelVersion], { errorCode: 'IMAGE_BUILD_FAILED' });
  const loadList = input.bootModules.map((module) => `${installedModulePath(module)}\n`).join('');
  await writeFile(path.join(root, 'etc', 'drover', 'modules.load'), loadList, { mode: 0o644 });
}

/** Packs `rootDir` into an ext4 file system labelled drover-root and converts it to a qcow2 disk; returns its virtual size. */
export async function makeRootDisk(rootDir: string, rawPath: string, qcow2Path: string): Promise<number> {
  const raw = await open(rawPath, 'w');
  try {
    await raw.truncate(ROOT_DISK_BYTES);
  } finally {
    await raw.close();
  }
  await run('mkfs.ext4', ['-q', '-F', '-L', ROOT_FS_LABEL, '-m', '1', '-E', 'root_owner=0:0', '-d', rootDir, rawPath], {
    errorCode: 'IMAGE_BUILD_FAILED',
  });
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', rawPath, qcow2Path], { errorCode: 'IMAGE_BUILD_FAILED' });
  const { stdout } = await run('qemu-img', ['info', '--output=json', qcow2Path], { errorCode: 'IMAGE_BUILD_FAILED' });
  // Only the one field is read, and its type is checked next.
  const info = JSON.parse(stdout) as { 'virtual-size'?: unknown };
  if (typeof info['virtual-size'] !== 'number') throw new DroverError('IMAGE_BUILD_FAILED', `qemu-img info ${qcow2Path} gave no virtual-size`);
  return info['virtual-size'];
}

