/**
 * The peer of Drover's containers: runc run by hand on an OCI bundle made from the same image. The image is
 * converted to a raw file once; each container gets a sparse copy of it, loop-mounted read-write, its files shifted
 * once to the container's id range (untimed: a hand-run bundle is prepared before it is run). config.json is
 * `runc spec`'s template with the container settings Drover writes (init, environment, capabilities, mounts,
 * namespaces with a user namespace, the id map and the same cgroup limits) and no terminal, so both run the same
 * container; what differs is the machinery around it: no qcow2 export over FUSE, no ownership check, no conmon, one
 * `runc run -d` instead of create and start. Readiness is checked with the same `runc exec ... true` as Drover's.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ociConfig } from '../../src/drivers/container/bundle.js';
import { subordinateRange } from '../../src/drivers/container/id-ranges.js';
import { shiftOwnership } from '../../src/drivers/container/rootfs.js';
import { Runc, runcBinary } from '../../src/drivers/container/runc.js';
import type { VmSpec } from '../../src/vms/spec.js';
import { runChecked } from '../lib/process.js';
import type { ContainerImage, ContainerImageName } from './images.js';
import { cgroupCpuSeconds, cgroupPids } from './procfs.js';
import { type Teardown, quietly } from './teardown.js';

const ID_RANGE_SIZE = 65_536;
/** The cgroup v1 hierarchies runc makes a container's cgroup in; the benchmark removes its parent from each. */
const HIERARCHIES = ['blkio', 'cpu', 'cpuacct', 'cpuset', 'devices', 'freezer', 'memory', 'pids', 'systemd'];

/** A loop-mounted copy of an image, owned by one id range. */
export interface PeerRootfs {
  raw: string;
  loopDevice: string;
  mountPoint: string;
  idBase: number;
  major: number;
  minor: number;
  /** Unmounts it, frees the loop device and deletes the copy. */
  release: () => Promise<void>;
}

export interface PeerSettings {
  memoryMiB: number;
  cpus: number;
}

/** Hand-run runc with its own state directory and cgroup parent; everything it makes is registered with the teardown. */
export class HandRunRunc {
  readonly runc: Runc;
  /** The cgroup every container of this peer is made under: /<parent>/<id> in each hierarchy. */
  readonly cgroupParent: string;
  private template?: Record<string, unknown>;
  private readonly masters = new Map<ContainerImageName, string>();
  private readonly removers = new Map<string, () => Promise<void>>();
  private slotsTaken = 0;

  private constructor(
    private readonly workDir: string,
    private readonly teardown: Teardown,
    token: string,
  ) {
    this.runc = new Runc(path.join(workDir, 'runc'));
    this.cgroupParent = `/drvbench-${token}`;
  }

  /** A peer whose files live in `<workDir>/runc-peer`; its cgroup parent is removed at teardown. */
  static open(workDir: string, teardown: Teardown, token: string): HandRunRunc {
    const dir = path.join(workDir, 'runc-peer');
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    const peer = new HandRunRunc(dir, teardown, token);
    const removeCgroups = (): void => {
      for (const hierarchy of HIERARCHIES) quietly('rmdir', [`/sys/fs/cgroup/${hierarchy}${peer.cgroupParent}`]);
    };
    teardown.add(`cgroup ${peer.cgroupParent}`, async () => removeCgroups(), removeCgroups);
    return peer;
  }

  /**
   * A fresh rootfs for one container: a sparse copy of the image's raw form, loop-mounted, its files moved to an id
   * range of its own (taken from the top of root's subordinate range, away from the blocks Drover hands out from the bottom).
   */
  async rootfs(image: ContainerImage, name: string): Promise<PeerRootfs> {
    const master = await this.master(image);
    const range = subordinateRange('/etc/subuid');
    if (!range) throw new Error('root has no subordinate id range in /etc/subuid (scripts/setup adds it)');
    const slots = Math.floor(range.count / ID_RANGE_SIZE);
    if (this.slotsTaken >= slots / 2) throw new Error('the hand-run containers used up half of root\'s subordinate id range');
    const idBase = range.start + (slots - 1 - this.slotsTaken++) * ID_RANGE_SIZE;
    const raw = path.join(this.workDir, `${name}.raw`);
    const mountPoint = path.join(this.workDir, name, 'rootfs');
    fs.mkdirSync(mountPoint, { recursive: true, mode: 0o755 });
    await runChecked('cp', ['--sparse=always', master, raw]);
    const loopDevice = (await runChecked('losetup', ['--find', '--show', raw])).trim();
    const release = this.teardown.add(
      `hand-run rootfs ${mountPoint}`,
      async () => {
        await unmountRetrying(mountPoint);
        await runChecked('losetup', ['-d', loopDevice]).catch(() => undefined);
        fs.rmSync(raw, { force: true });
        fs.rmSync(path.dirname(mountPoint), { recursive: true, force: true });
      },
      () => {
        quietly('umount', [mountPoint]);
        quietly('losetup', ['-d', loopDevice]);
      },
    );
    try {
      await runChecked('mount', ['-t', 'ext4', loopDevice, mountPoint]);
      shiftOwnership(mountPoint, 0, idBase);
    } catch (err) {
      await release();
      throw err;
    }
    const [major, minor] = fs.readFileSync(`/sys/class/block/${path.basename(loopDevice)}/dev`, 'utf8').trim().split(':').map(Number);
    return { raw, loopDevice, mountPoint, idBase, major: major ?? 0, minor: minor ?? 0, release };
  }

  /** Writes the bundle of container `id` (config.json beside the rootfs) and returns its directory. */
  async bundle(image: ContainerImage, id: string, name: string, rootfs: PeerRootfs, settings: PeerSettings): Promise<string> {
    const template = await this.specTemplate();
    const cgroupsPath = `${this.cgroupParent}/${id}`;
    // The same VmSpec Drover starts, so ociConfig gives exactly Drover's container settings.
    const spec: VmSpec = {
      id,
      name,
      type: 'container',
      container: { init: image.init, stopSignal: image.stopSignal },
      cpus: settings.cpus,
      memoryMiB: settings.memoryMiB,
      devices: 'virtio',
      disks: [{ name: 'root', path: rootfs.raw }],
      nics: [],
    };
    const drover = ociConfig(spec, { rootfs: rootfs.mountPoint, idBase: rootfs.idBase, cgroupsPath, rootDevice: { major: rootfs.major, minor: rootfs.minor } }) as {
      process: Record<string, unknown>;
      mounts: unknown[];
      linux: Record<string, unknown>;
    };
    const config = {
      ...template,
      process: { ...drover.process, terminal: false },
      root: { path: rootfs.mountPoint, readonly: false },
      hostname: name,
      mounts: drover.mounts,
      linux: {
        ...(template.linux as Record<string, unknown>),
        uidMappings: drover.linux.uidMappings,
        gidMappings: drover.linux.gidMappings,
        namespaces: drover.linux.namespaces,
        cgroupsPath,
        resources: drover.linux.resources,
      },
    };
    const dir = path.dirname(rootfs.mountPoint);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
    // systemd makes cgroups below its own: Drover hands the container's name=systemd cgroup to its root user, so the same here.
    if (image.systemd) {
      const systemdCgroup = `/sys/fs/cgroup/systemd${cgroupsPath}`;
      fs.mkdirSync(systemdCgroup, { recursive: true });
      for (const file of ['', 'cgroup.procs', 'tasks', 'cgroup.clone_children', 'notify_on_release']) {
        const target = path.join(systemdCgroup, file);
        if (fs.existsSync(target)) fs.chownSync(target, rootfs.idBase, rootfs.idBase);
      }
    }
    return dir;
  }

  /**
   * `runc run -d`: creates and starts the container, returning once runc has. Without a terminal, init's stdin is a
   * FIFO that it holds open itself, so a shell on it waits rather than ending and being respawned; its output goes to
   * a log file in the bundle.
   */
  async run(id: string, bundle: string): Promise<void> {
    const fifo = path.join(bundle, 'stdin');
    if (!fs.existsSync(fifo)) await runChecked('mkfifo', [fifo]);
    const stdin = fs.openSync(fifo, 'r+');
    const log = fs.openSync(path.join(bundle, 'console.log'), 'a');
    const remover = this.teardown.add(`hand-run container ${id}`, () => this.runc.delete(id, true), () => quietly(runcBinary(), [...this.runc.globalArgs, 'delete', '--force', id]));
    this.removers.set(id, remover);
    try {
      const child = spawn(runcBinary(), [...this.runc.globalArgs, 'run', '--detach', '--bundle', bundle, id], { stdio: [stdin, log, log] });
      const code = await new Promise<number>((resolve, reject) => {
        child.once('error', reject);
        child.once('exit', (exitCode, signal) => resolve(exitCode ?? 128 + (signal ? 9 : 0)));
      });
      if (code !== 0) throw new Error(`runc run exited with ${code}: ${fs.readFileSync(path.join(bundle, 'console.log'), 'utf8').trim().split('\n').slice(-2).join(' | ')}`);
    } finally {
      fs.closeSync(stdin);
      fs.closeSync(log);
    }
  }

  /** Polls `runc exec ID true` until it succeeds: Drover's readiness check, the same Runc.exec call. */
  async waitExec(id: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ok = await this.runc.exec(id, 'true', [], { timeoutMs: Math.max(500, deadline - Date.now()) }).then((r) => r.exitCode === 0, () => false);
      if (ok) return;
      if (Date.now() >= deadline) throw new Error(`hand-run container ${id}: runc exec did not answer within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Runs `script` with sh inside; throws when it exits non-zero. */
  async sh(id: string, script: string, timeoutMs = 120_000): Promise<string> {
    const result = await this.runc.exec(id, 'sh', ['-c', script], { timeoutMs });
    if (result.exitCode !== 0) throw new Error(`container command failed (${result.exitCode}): ${script}: ${result.stderr.trim() || result.stdout.trim()}`);
    return result.stdout;
  }

  /** Kills init (and with it the PID namespace) and deletes the container; its cgroup goes with it. */
  async remove(id: string): Promise<void> {
    const remover = this.removers.get(id);
    this.removers.delete(id);
    await (remover ? remover() : this.runc.delete(id, true));
  }

  /** The processes in the container's cgroup. */
  processes(id: string): number[] {
    return cgroupPids('pids', `${this.cgroupParent}/${id}`);
  }

  /** CPU seconds the container's cgroup has used. */
  cpuSeconds(id: string): number {
    return cgroupCpuSeconds(`${this.cgroupParent}/${id}`);
  }

  /** The image as a raw file, converted once per run. */
  private async master(image: ContainerImage): Promise<string> {
    const known = this.masters.get(image.name);
    if (known) return known;
    const raw = path.join(this.workDir, `${image.name}.master.raw`);
    await runChecked('qemu-img', ['convert', '-O', 'raw', image.disk, raw], { timeoutMs: 300_000 });
    this.masters.set(image.name, raw);
    return raw;
  }

  /** `runc spec`'s default config.json. */
  private async specTemplate(): Promise<Record<string, unknown>> {
    if (this.template) return this.template;
    const dir = fs.mkdtempSync(path.join(this.workDir, 'spec-'));
    try {
      await runChecked(runcBinary(), ['spec', '--bundle', dir]);
      this.template = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
      return this.template;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** Unmounts `mountPoint`, retrying while the last processes of a just-killed container let go of it. */
async function unmountRetrying(mountPoint: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    if (!fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${mountPoint} `)) return;
    try {
      await runChecked('umount', [mountPoint]);
      return;
    } catch (err) {
      if (attempt >= 50) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
