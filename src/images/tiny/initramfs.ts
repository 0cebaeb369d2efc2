/**
 * The tiny image's initramfs: busybox, the storage and ext4 modules with their modprobe index, and an /init that
 * loads the drivers the VM's disk controllers need, finds the root disk and switches to it. Packed as a
 * zstd-compressed newc cpio archive.
 */
import { run } from '../../shared/exec.js';
import type { KernelModule } from './modules.js';
import { copyOverlay, indexModules, installBusybox, installModules, makeDirectories } from './staging.js';

/** Modules /init may load to reach an ext4 root on virtio-blk, virtio-scsi, IDE/PATA or AHCI; it picks by PCI id. */
export const INITRAMFS_MODULES = ['virtio_pci', 'virtio_blk', 'virtio_scsi', 'sd_mod', 'ata_piix', 'ahci', 'ext4', 'crc32c_generic'];
/** Loaded when the kernel has them; the accelerated crc32c only binds on CPUs with SSE4.2. */
export const INITRAMFS_OPTIONAL_MODULES = ['crc32c_intel'];

export interface InitramfsInput {
  /** The guest overlay for the initramfs (holds /init). */
  overlayDir: string;
  /** The extracted kernel's /lib/modules/<kernelVersion>. */
  moduleTree: string;
  kernelVersion: string;
  /** The modules to ship, dependencies included. */
  modules: KernelModule[];
  /** An empty directory to assemble the archive in. */
  stagingDir: string;
  /** Where to write the compressed archive. */
  output: string;
}

/** Assembles the initramfs tree in `stagingDir` and packs it into `output`. */
export async function buildInitramfs(input: InitramfsInput): Promise<void> {
  const root = input.stagingDir;
  await makeDirectories(root, ['dev', 'proc', 'sys', 'newroot', 'etc', 'bin', 'sbin', 'usr/bin', 'usr/sbin']);
  await copyOverlay(input.overlayDir, root);
  await installBusybox(root);
  await installModules(input.moduleTree, input.kernelVersion, input.modules, root);
  await indexModules(input.moduleTree, input.kernelVersion, root);

  // Root-owned whoever builds it; sorted so the archive lists files in a stable order.
  const pack =
    'set -o pipefail; cd "$0" && find . -print0 | LC_ALL=C sort -z | ' +
    'cpio --null --create --format=newc --owner=0:0 --reproducible --quiet | zstd -q -15 -T0 > "$1"';
  await run('bash', ['-c', pack, root, input.output], { errorCode: 'IMAGE_BUILD_FAILED' });
}
