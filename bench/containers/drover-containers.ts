/**
 * Drover's side of the container comparisons: ContainerDriver itself (what the host agent calls), in the benchmark's
 * process, with a runtime directory of the benchmark's own. Each container gets a fresh linked-clone overlay of the
 * image's qcow2, as `vm create` makes.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ContainerDriver, containerProcesses, destroyContainers } from '../../src/drivers/container/driver.js';
import { macFor } from '../../src/vms/mac.js';
import type { VmSpec } from '../../src/vms/spec.js';
import { runChecked } from '../lib/process.js';
import type { ContainerImage } from './images.js';
import { cgroupCpuSeconds, cgroupPids, processCpuSeconds } from './procfs.js';
import { type Teardown, killIfOurs, quietly } from './teardown.js';

/** How long a container may take from start until runc exec answers. */
export const CONTAINER_READY_TIMEOUT_MS = 60_000;

/** The fields of the driver's per-container runtime file (container.json) the benchmark reads. */
interface ContainerRuntimeFile {
  spec: VmSpec;
  conmonPid?: number;
  disk?: { daemonPid: number; monitorSocket: string; exportFile: string; loopDevice: string; mountPoint: string };
}

export interface ContainerSettings {
  memoryMiB: number;
  cpus: number;
  /** The overlay's virtual size, when the container needs more room than the image has (the driver grows the filesystem). */
  diskSize?: string;
  /** A bridge for one NIC (a veth whose host end joins it), when the container needs a network. */
  bridge?: string;
}

/** A ContainerDriver over a runtime directory the benchmark owns; everything it starts is torn down by close(). */
export class DroverContainers {
  readonly driver: ContainerDriver;
  private readonly specs = new Map<string, VmSpec>();

  private constructor(readonly runDir: string) {
    this.driver = new ContainerDriver({ runDir });
  }

  /** A driver over `<workDir>/<label>`, registered with `teardown` (destroyContainers, then the directory). */
  static open(workDir: string, label: string, teardown: Teardown): DroverContainers {
    const runDir = path.join(workDir, label);
    fs.mkdirSync(runDir, { recursive: true, mode: 0o755 });
    const containers = new DroverContainers(runDir);
    teardown.add(`Drover containers in ${runDir}`, () => containers.close(), () => destroyContainersNow(runDir));
    return containers;
  }

  /** The spec of a new container of `image` on a fresh overlay (made here, untimed). */
  async create(image: ContainerImage, name: string, settings: ContainerSettings): Promise<VmSpec> {
    const id = randomUUID();
    const disk = path.join(this.runDir, `${id}.qcow2`);
    await runChecked('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', image.disk, disk, ...(settings.diskSize ? [settings.diskSize] : [])]);
    const spec: VmSpec = {
      id,
      name,
      type: 'container',
      container: { init: image.init, stopSignal: image.stopSignal },
      cpus: settings.cpus,
      memoryMiB: settings.memoryMiB,
      devices: 'virtio',
      disks: [{ name: 'root', path: disk }],
      nics: settings.bridge ? [{ mode: 'bridge', bridge: settings.bridge, mac: macFor(id, 0) }] : [],
    };
    this.specs.set(id, spec);
    return spec;
  }

  /** Starts the container and waits until runc exec answers inside; resolves with the milliseconds that took. */
  async startReady(spec: VmSpec): Promise<number> {
    const started = performance.now();
    await this.driver.start(spec);
    await this.driver.waitReady(spec.id, CONTAINER_READY_TIMEOUT_MS);
    return performance.now() - started;
  }

  /** Runs `script` with sh inside; throws when it exits non-zero. */
  async sh(id: string, script: string, timeoutMs = 120_000): Promise<string> {
    const result = await this.driver.exec(id, 'sh', ['-c', script], { timeoutMs });
    if (result.exitCode !== 0) throw new Error(`container command failed (${result.exitCode}): ${script}: ${result.stderr.trim() || result.stdout.trim()}`);
    return result.stdout;
  }

  /** Kills the container's init (SIGKILL; everything else in it goes with its PID namespace) and waits until it is cleaned up. */
  async kill(id: string): Promise<void> {
    const state = this.driver.status(id).state;
    if (state === 'running' || state === 'paused' || state === 'starting' || state === 'stopping') await this.driver.kill(id);
  }

  /** Kills the container if it runs, forgets it and deletes its overlay. */
  async remove(id: string): Promise<void> {
    await this.kill(id);
    this.driver.forget(id);
    const spec = this.specs.get(id);
    if (spec) fs.rmSync(spec.disks[0]?.path ?? '', { force: true });
    this.specs.delete(id);
  }

  /** Every process that belongs to the container: those in its cgroup, its conmon and its disk's storage daemon. */
  processes(id: string): number[] {
    return [...cgroupPids('pids', `/drover-ct/${id}`), ...this.helperProcesses(id)];
  }

  /** The processes Drover runs beside the container: its conmon and its disk's qemu-storage-daemon. */
  helperProcesses(id: string): number[] {
    const file = this.runtimeFile(id);
    return [file?.conmonPid, file?.disk?.daemonPid].filter((pid): pid is number => pid !== undefined);
  }

  /** CPU seconds used by the container's cgroup plus its conmon and storage daemon. */
  cpuSeconds(id: string): number {
    const file = this.runtimeFile(id);
    return cgroupCpuSeconds(`/drover-ct/${id}`) + (file?.conmonPid ? processCpuSeconds(file.conmonPid) : 0) + (file?.disk?.daemonPid ? processCpuSeconds(file.disk.daemonPid) : 0);
  }

  /** The processes of all containers under the runtime directory, as the driver finds them (for a leak check). */
  allProcesses(): number[] {
    return containerProcesses(this.runDir);
  }

  /** Tears down every container of this driver (also those a failed step left behind), then stops the driver's timer. */
  async close(): Promise<void> {
    for (const id of [...this.specs.keys()]) await this.remove(id).catch(() => undefined);
    await destroyContainers(this.runDir);
    await this.driver.detach();
  }

  private runtimeFile(id: string): ContainerRuntimeFile | undefined {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.runDir, id, 'container.json'), 'utf8')) as ContainerRuntimeFile;
    } catch {
      return undefined;
    }
  }
}

/**
 * Ctrl-C: the synchronous version of destroyContainers for one runtime directory: kills each container's init,
 * conmon and storage daemon by the pids its runtime file names (checked), removes it from runc, and releases its
 * mount, loop device and export.
 */
function destroyContainersNow(runDir: string): void {
  let entries: fs.Dirent[] = [];
  try {
    entries = fs.readdirSync(runDir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const pid of containerProcesses(runDir)) killIfOurs(pid, '');
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name === 'runc') continue;
    let file: ContainerRuntimeFile;
    try {
      file = JSON.parse(fs.readFileSync(path.join(runDir, entry.name, 'container.json'), 'utf8')) as ContainerRuntimeFile;
    } catch {
      continue;
    }
    quietly('runc', ['--root', path.join(runDir, 'runc'), 'delete', '--force', file.spec.id]);
    if (!file.disk) continue;
    quietly('umount', [file.disk.mountPoint]);
    quietly('losetup', ['-d', file.disk.loopDevice]);
    killIfOurs(file.disk.daemonPid, file.disk.monitorSocket);
    quietly('umount', ['--lazy', file.disk.exportFile]);
  }
}
