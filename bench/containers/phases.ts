/**
 * Where a Drover container start goes. The driver does not time its own steps, so this probe runs them one by one
 * outside it, with the same exported functions and arguments ContainerDriver.launch() uses, on a fresh overlay:
 * the stale-container delete, the disk (qemu-storage-daemon FUSE export, loop device, ext4 mount, resize2fs), the
 * ownership shift, the bundle, conmon running `runc create`, the cgroup hand-over and loopback (nsenter), `runc start`
 * and the first `runc exec true`. The sum is set beside the driver's own measured time, so a step the probe misses
 * would show as a gap.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ID_RANGE_SIZE, ociConfig } from '../../src/drivers/container/bundle.js';
import { conmonPaths, createContainer } from '../../src/drivers/container/conmon.js';
import { IdRanges } from '../../src/drivers/container/id-ranges.js';
import { attachNics } from '../../src/drivers/container/network.js';
import { mountRootDisk, shiftOwnership, unmountRootDisk, type MountedRootDisk } from '../../src/drivers/container/rootfs.js';
import { Runc, runcBinary } from '../../src/drivers/container/runc.js';
import type { VmSpec } from '../../src/vms/spec.js';
import { runChecked, runCommand } from '../lib/process.js';
import type { ContainerImage } from './images.js';
import { type Teardown, killIfOurs, quietly } from './teardown.js';

/** The steps of one start, in milliseconds, in the order the driver takes them. */
export interface StartPhases {
  staleDelete: number;
  disk: number;
  idShift: number;
  bundle: number;
  create: number;
  cgroupAndLoopback: number;
  start: number;
  firstExec: number;
  /** Not part of the start: resize2fs run again on the mounted disk, alone, to show its share of `disk`. */
  resizeAgain: number;
  /** Files whose owner the shift changed. */
  filesShifted: number;
}

export const PHASE_LABELS: Record<Exclude<keyof StartPhases, 'filesShifted' | 'resizeAgain'>, string> = {
  staleDelete: '`runc delete` of a stale container of that id',
  disk: 'disk: qemu-storage-daemon FUSE export, loop device, ext4 mount, resize2fs',
  idShift: 'ownership shift to the id range',
  bundle: '/etc/hostname and config.json',
  create: 'conmon running `runc create`',
  cgroupAndLoopback: 'systemd cgroup hand-over, loopback up (nsenter)',
  start: '`runc start`',
  firstExec: 'first `runc exec true` answers',
};

/** Runs the driver's start steps by hand, one container at a time, each torn down after it is timed. */
export class DroverPhaseProbe {
  private readonly runc: Runc;
  private readonly ids: IdRanges;

  constructor(
    private readonly dir: string,
    private readonly teardown: Teardown,
  ) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    this.runc = new Runc(path.join(dir, 'runc'));
    this.ids = new IdRanges(path.join(dir, 'id-ranges.json'));
  }

  /** One first start of `image` on a fresh overlay, step by step. */
  async measure(image: ContainerImage, name: string, memoryMiB: number): Promise<StartPhases> {
    const id = randomUUID();
    const dir = path.join(this.dir, id);
    fs.mkdirSync(dir, { recursive: true });
    const overlay = path.join(this.dir, `${id}.qcow2`);
    await runChecked('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', image.disk, overlay]);
    const spec: VmSpec = {
      id,
      name,
      type: 'container',
      container: { init: image.init, stopSignal: image.stopSignal },
      cpus: 1,
      memoryMiB,
      devices: 'virtio',
      disks: [{ name: 'root', path: overlay }],
      nics: [],
    };
    const paths = conmonPaths(dir);
    const idBase = this.ids.allocate(id);
    let disk: MountedRootDisk | undefined;
    const release = this.teardown.add(
      `phase probe container ${id}`,
      async () => {
        await this.runc.delete(id, true);
        if (disk) await unmountRootDisk(disk);
        this.ids.release(id);
        fs.rmSync(dir, { recursive: true, force: true });
        fs.rmSync(overlay, { force: true });
      },
      () => {
        quietly(runcBinary(), [...this.runc.globalArgs, 'delete', '--force', id]);
        if (!disk) return;
        quietly('umount', [disk.mountPoint]);
        quietly('losetup', ['-d', disk.loopDevice]);
        killIfOurs(disk.daemonPid, disk.monitorSocket);
        quietly('umount', ['--lazy', disk.exportFile]);
      },
    );
    try {
      let mark = performance.now();
      const lap = (): number => {
        const now = performance.now();
        const ms = now - mark;
        mark = now;
        return ms;
      };
      await this.runc.delete(id, true);
      fs.rmSync(paths.bundle, { recursive: true, force: true });
      fs.mkdirSync(paths.bundle, { recursive: true });
      const staleDelete = lap();
      const rootfs = path.join(paths.bundle, 'rootfs');
      disk = await mountRootDisk(overlay, dir, rootfs);
      const diskMs = lap();
      const root = rootfs;
      const current = fs.statSync(root).uid;
      const filesShifted = current !== idBase ? shiftOwnership(root, current - (current % ID_RANGE_SIZE), idBase) : 0;
      const idShift = lap();
      const hostname = path.join(root, 'etc/hostname');
      fs.rmSync(hostname, { force: true });
      fs.writeFileSync(hostname, `${name}\n`);
      fs.chownSync(hostname, idBase, idBase);
      const cgroupsPath = `/drover-ct/${id}`;
      const config = ociConfig(spec, { rootfs, idBase, cgroupsPath, rootDevice: disk });
      fs.writeFileSync(path.join(paths.bundle, 'config.json'), JSON.stringify(config, null, 2));
      const bundle = lap();
      const created = await createContainer(id, paths, this.runc.globalArgs);
      const create = lap();
      const systemdCgroup = path.join('/sys/fs/cgroup/systemd', cgroupsPath);
      if (fs.existsSync(systemdCgroup)) {
        for (const entry of ['', 'cgroup.procs', 'tasks', 'cgroup.clone_children', 'notify_on_release']) {
          const file = path.join(systemdCgroup, entry);
          if (fs.existsSync(file)) fs.chownSync(file, idBase, idBase);
        }
      }
      await attachNics(spec, created.initPid);
      const cgroupAndLoopback = lap();
      await this.runc.start(id);
      const start = lap();
      for (let tries = 0; ; tries++) {
        const ok = await this.runc.exec(id, 'true', [], { timeoutMs: 30_000 }).then((r) => r.exitCode === 0, () => false);
        if (ok) break;
        if (tries >= 300) throw new Error(`phase probe: runc exec did not answer in ${id}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const firstExec = lap();
      const resize = await runCommand('resize2fs', [disk.loopDevice]);
      const resizeAgain = lap();
      if (resize.code !== 0) throw new Error(`resize2fs ${disk.loopDevice}: ${resize.stderr.trim()}`);
      return { staleDelete, disk: diskMs, idShift, bundle, create, cgroupAndLoopback, start, firstExec, resizeAgain, filesShifted };
    } finally {
      await release();
    }
  }
}
