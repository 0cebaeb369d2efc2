/**
 * Boot variants "hand-run QEMU": Drover's own QEMU command line, spawned directly with no agent in between, and the
 * same line with another firmware or kernel file, the configurations Drover's choice is measured against.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { buildQemuArgs, runtimePaths } from '../../src/drivers/qemu/cmdline.js';
import { qemuBinary, tailLog } from '../../src/drivers/qemu/process.js';
import { macFor } from '../../src/vms/mac.js';
import type { DeviceModel, VmSpec } from '../../src/vms/spec.js';
import type { BenchmarkContext } from '../lib/types.js';
import { onInterrupt } from '../lib/cleanup.js';
import { exited, stopChild } from '../lib/process.js';
import { readBootPhases } from './breakdown.js';
import { BOOT_TIMEOUT_MS, GUEST, type BootVariant, createOverlay, guestCmdline, makeWorkDir, waitForGuestAgent } from './guest.js';
import { buildDiskBootedImage } from './disk-image.js';
import { debianBzImage } from './kernels.js';

/** The VM spec Drover's host agent derives for `POST /vms {image: 'tiny', memoryMiB: 256, cpus: 1, devices}`. */
export function droverEquivalentSpec(ctx: BenchmarkContext, id: string, name: string, disk: string, devices: DeviceModel): VmSpec {
  return {
    id,
    name,
    cpus: GUEST.cpus,
    memoryMiB: GUEST.memoryMiB,
    devices,
    disks: [{ name: 'root', path: disk }],
    nics: [{ mode: 'user', mac: macFor(id, 0) }],
    boot: { kernel: ctx.tiny.kernel, initrd: ctx.tiny.initrd, cmdline: guestCmdline(ctx.tiny, name) },
    // Drover's default for new VMs (HostVmService.create), so the device list matches.
    vnc: true,
  };
}

/** A way of running the tiny guest by hand: Drover's command line, or that line with one choice changed. */
export interface QemuConfiguration {
  name: string;
  label: string;
  devices: DeviceModel;
  /** A firmware file for -bios instead of Drover's choice (qboot for direct kernel boot); bios-256k.bin is SeaBIOS. */
  firmware?: string;
  /** Boot Debian's compressed bzImage instead of the image's unpacked PVH kernel. */
  bzImage?: boolean;
  /**
   * Boot from the disk, as a VM with its own bootloader does: the image's files on a partitioned disk with
   * extlinux and Debian's bzImage (disk-image.ts), and no -kernel, so Drover's line has QEMU's default SeaBIOS.
   */
  diskBoot?: boolean;
  /** Read where the time went (breakdown.ts) after each boot, untimed. */
  breakdown?: boolean;
}

/** Spawns qemu-system-x86_64 with QemuDriver's arguments (changed as `config` says) and times it to the first guest-agent answer. */
export function qemuVariant(ctx: BenchmarkContext, config: QemuConfiguration): BootVariant {
  let workDir: string | undefined;
  let kernel = ctx.tiny.kernel;
  let baseDisk = ctx.tiny.disk;
  let lastArgs: string[] = [];

  return {
    name: config.name,
    label: config.label,
    async prepare() {
      workDir = makeWorkDir(config.name);
      if (config.bzImage || config.diskBoot) kernel = await debianBzImage(ctx, workDir);
      if (config.diskBoot) {
        const work = path.join(workDir, 'disk-build');
        fs.mkdirSync(work);
        baseDisk = path.join(workDir, 'disk-booted.qcow2');
        const cmdline = guestCmdline(ctx.tiny, 'disk-booted');
        await buildDiskBootedImage({ rootDisk: ctx.tiny.disk, kernel, initrd: ctx.tiny.initrd, cmdline, work, output: baseDisk });
        fs.rmSync(work, { recursive: true, force: true });
      }
    },
    async boot(run) {
      if (!workDir) throw new Error('prepare() was not called');
      const id = randomUUID();
      const paths = runtimePaths(path.join(workDir, 'run'), id);
      fs.mkdirSync(paths.dir, { recursive: true });
      const disk = path.join(paths.dir, 'root.qcow2');
      let child: ChildProcess | undefined;
      let release = (): void => {};
      try {
        await createOverlay(baseDisk, disk);
        const spec = droverEquivalentSpec(ctx, id, `boot-${run}`, disk, config.devices);
        if (config.diskBoot) delete spec.boot;
        else if (spec.boot) spec.boot.kernel = kernel;
        const args = buildQemuArgs(spec, paths, ctx.accelerator.accelerator, config.firmware ? { firmware: config.firmware } : {});
        lastArgs = args;
        const log = fs.openSync(paths.qemuLog, 'w');
        const started = performance.now();
        try {
          child = spawn(qemuBinary(), args, { stdio: ['ignore', log, log] });
        } finally {
          fs.closeSync(log);
        }
        const spawned = child;
        release = onInterrupt(() => spawned.kill('SIGKILL'));
        const spawnError = new Promise<never>((_, reject) => spawned.once('error', reject));
        const earlyExit = exited(spawned).then(() => {
          throw new Error(`QEMU exited before the guest was ready (code ${spawned.exitCode}, signal ${spawned.signalCode}): ${tailLog(paths.qemuLog, 3)}`);
        });
        const ready = waitForGuestAgent(paths.guestAgent, BOOT_TIMEOUT_MS);
        // The losers of the race below settle later (QEMU exits when killed); that must not count as unhandled.
        for (const loser of [ready, earlyExit, spawnError]) loser.catch(() => undefined);
        await Promise.race([ready, earlyExit, spawnError]);
        const answered = performance.now();
        const phases = config.breakdown ? await readBootPhases(paths.guestAgent, started, answered) : undefined;
        return { ms: answered - started, ...(phases ? { phases } : {}) };
      } finally {
        if (child?.pid !== undefined) await stopChild(child, 'SIGKILL');
        release();
        fs.rmSync(paths.dir, { recursive: true, force: true });
      }
    },
    async close() {
      if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
    },
    notes() {
      return [];
    },
    qemuArgs() {
      return lastArgs;
    },
  };
}
