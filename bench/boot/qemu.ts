/** Boot variant "hand-run QEMU": Drover's own QEMU command line, spawned directly with no agent in between. */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { buildQemuArgs, runtimePaths } from '../../src/drivers/qemu/cmdline.js';
import { qemuBinary, tailLog } from '../../src/drivers/qemu/process.js';
import { macFor } from '../../src/vms/mac.js';
import type { VmSpec } from '../../src/vms/spec.js';
import type { BenchmarkContext } from '../lib/types.js';
import { onInterrupt } from '../lib/cleanup.js';
import { exited, stopChild } from '../lib/process.js';
import { BOOT_TIMEOUT_MS, GUEST, type BootVariant, createOverlay, guestCmdline, makeWorkDir, waitForGuestAgent } from './guest.js';

/** The VM spec Drover's host agent derives for `POST /vms {image: 'tiny', memoryMiB: 256, cpus: 1}`. */
export function droverEquivalentSpec(ctx: BenchmarkContext, id: string, name: string, disk: string): VmSpec {
  return {
    id,
    name,
    cpus: GUEST.cpus,
    memoryMiB: GUEST.memoryMiB,
    devices: GUEST.devices,
    disks: [{ name: 'root', path: disk }],
    nics: [{ mode: 'user', mac: macFor(id, 0) }],
    boot: { kernel: ctx.tiny.kernel, initrd: ctx.tiny.initrd, cmdline: guestCmdline(ctx.tiny, name) },
    // Drover's default for new VMs (HostVmService.create), so the device list matches.
    vnc: true,
  };
}

/** Spawns qemu-system-x86_64 with QemuDriver's arguments and times it to the first guest-agent answer. */
export function qemuVariant(ctx: BenchmarkContext): BootVariant {
  let workDir: string | undefined;
  let lastArgs: string[] = [];

  return {
    name: 'qemu',
    label: 'Hand-run QEMU (same command line)',
    async prepare() {
      workDir = makeWorkDir('qemu');
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
        await createOverlay(ctx.tiny.disk, disk);
        const args = buildQemuArgs(droverEquivalentSpec(ctx, id, `boot-${run}`, disk), paths, ctx.accelerator.accelerator);
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
        return performance.now() - started;
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
