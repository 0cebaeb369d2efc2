/**
 * The tiny image's root file system: busybox init, qemu-ga with its libraries, kernel modules
 * for NICs, consoles, ACPI and the display, packed as an ext4 file system (label drover-root) in a qcow2 disk.
 */
import { chmod, copyFile, mkdir, open, symlink } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../../shared/exec.js';
import { DroverError } from '../../shared/errors.js';
import type { KernelModule } from './modules.js';
import { QEMU_GA_BINARY } from './packages.js';
import { copyOverlay, indexModules, installBusybox, installModules, makeDirectories } from './staging.js';

/**
 * The modules the root file system ships. rcS loads the ones whose device the VM has (by PCI and virtio device
 * alias): the PCI transport for virtio, both NIC models Drover offers, the virtio console (the guest agent's
 * port), RNG and balloon, the std VGA display, plus the ACPI power button. Storage drivers stay in the initramfs,
 * so a virtio guest never loads the IDE driver here either.
 */
export const ROOTFS_MODULES = ['virtio_pci', 'virtio_console', 'virtio_net', 'e1000', 'virtio_rng', 'virtio_balloon', 'bochs', 'button', 'evdev'];
/** Shipped when the kernel has them. */
export const ROOTFS_OPTIONAL_MODULES = ['vmw_vsock_virtio_transport'];

export const ROOT_FS_LABEL = 'drover-root';
export const ROOT_DISK_BYTES = 256 * 1024 * 1024;

export interface RootDirectoryInput {
  /** The guest overlay for the root file system (inittab, rcS, udhcpc script, ...). */
  overlayDir: string;
  /** The extracted kernel's /lib/modules/<kernelVersion>. */
  moduleTree: string;
  kernelVersion: string;
  /** Every module to ship, dependencies included. */
  shippedModules: KernelModule[];
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
    ['bin', 'sbin', 'lib', 'lib64', 'usr/bin', 'usr/sbin', 'dev', 'proc', 'sys', 'run', 'tmp', 'root', 'mnt', 'var/log'],
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
  await indexModules(input.moduleTree, input.kernelVersion, root);
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

