/**
 * A disk-booted copy of the tiny guest, for measuring what a guest with its own bootloader pays: an MBR disk
 * whose one partition holds the tiny root file system plus /boot with Debian's compressed kernel, the tiny
 * initramfs and extlinux (Debian's syslinux), which SeaBIOS starts from the disk like any installed system.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { onInterrupt } from '../lib/cleanup.js';
import { runChecked } from '../lib/process.js';

/** Where the partition starts: 1 MiB, as partitioning tools align it. */
const PARTITION_START_SECTOR = 2048;
const SECTOR = 512;
/** extlinux's MBR boot code (Debian's extlinux package), which chains to the active partition's extlinux. */
const MBR_CODE = '/usr/lib/EXTLINUX/mbr.bin';

/** The first 512 bytes of the disk: syslinux's boot code and one active Linux partition of `sectors` sectors. */
export function masterBootRecord(bootCode: Buffer, sectors: number): Buffer {
  if (bootCode.length > 440) throw new Error(`MBR boot code is ${bootCode.length} bytes; at most 440 fit`);
  const mbr = Buffer.alloc(SECTOR);
  bootCode.copy(mbr, 0);
  const entry = 0x1be;
  mbr[entry] = 0x80; // active: the boot code starts this partition
  mbr.writeUInt8(0xfe, entry + 1); // CHS fields say "use LBA"
  mbr.writeUInt16LE(0xffff, entry + 2);
  mbr[entry + 4] = 0x83; // Linux
  mbr.writeUInt8(0xfe, entry + 5);
  mbr.writeUInt16LE(0xffff, entry + 6);
  mbr.writeUInt32LE(PARTITION_START_SECTOR, entry + 8);
  mbr.writeUInt32LE(sectors, entry + 12);
  mbr.writeUInt16LE(0xaa55, 510);
  return mbr;
}

/**
 * Builds `output` (qcow2): the tiny root file system (`rootDisk`, qcow2) in a bootable partition, with `kernel`
 * and `initrd` in /boot and extlinux booting them with `cmdline` at once (no menu, no timeout). Needs root
 * (a loop mount); `work` is an empty directory for the intermediate files.
 */
export async function buildDiskBootedImage(opts: { rootDisk: string; kernel: string; initrd: string; cmdline: string; work: string; output: string }): Promise<void> {
  if (!fs.existsSync(MBR_CODE)) throw new Error(`${MBR_CODE} is missing; apt-get install extlinux (scripts/setup does)`);
  const filesystem = path.join(opts.work, 'root.ext4');
  await runChecked('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', opts.rootDisk, filesystem]);
  const mountPoint = path.join(opts.work, 'mnt');
  fs.mkdirSync(mountPoint);
  const loop = (await runChecked('losetup', ['--find', '--show', filesystem])).trim();
  // This loop device and mount are the ones made here, released by name (and by onInterrupt if the run is stopped).
  const releaseLoop = onInterrupt(() => execFileSync('losetup', ['-d', loop]));
  try {
    await runChecked('mount', ['-t', 'ext4', loop, mountPoint]);
    const releaseMount = onInterrupt(() => execFileSync('umount', [mountPoint]));
    try {
      const boot = path.join(mountPoint, 'boot');
      fs.mkdirSync(path.join(boot, 'extlinux'), { recursive: true });
      fs.copyFileSync(opts.kernel, path.join(boot, 'vmlinuz'));
      fs.copyFileSync(opts.initrd, path.join(boot, 'initrd.img'));
      fs.writeFileSync(
        path.join(boot, 'extlinux', 'extlinux.conf'),
        `DEFAULT tiny\nPROMPT 0\nTIMEOUT 0\nLABEL tiny\n  LINUX /boot/vmlinuz\n  INITRD /boot/initrd.img\n  APPEND ${opts.cmdline}\n`,
      );
      await runChecked('extlinux', ['--install', path.join(boot, 'extlinux')]);
    } finally {
      await runChecked('umount', [mountPoint]);
      releaseMount();
    }
  } finally {
    await runChecked('losetup', ['-d', loop]);
    releaseLoop();
  }
  const raw = path.join(opts.work, 'disk.raw');
  const filesystemBytes = fs.statSync(filesystem).size;
  const disk = fs.openSync(raw, 'w');
  try {
    fs.writeSync(disk, masterBootRecord(fs.readFileSync(MBR_CODE), filesystemBytes / SECTOR), 0, SECTOR, 0);
    fs.ftruncateSync(disk, PARTITION_START_SECTOR * SECTOR + filesystemBytes);
  } finally {
    fs.closeSync(disk);
  }
  await runChecked('dd', [`if=${filesystem}`, `of=${raw}`, `bs=1M`, `seek=${PARTITION_START_SECTOR * SECTOR}`, 'oflag=seek_bytes', 'conv=notrunc,sparse', 'status=none']);
  await runChecked('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, opts.output]);
  fs.rmSync(raw, { force: true });
  fs.rmSync(filesystem, { force: true });
}
