/**
 * Runs system containers with runc: the distribution's init as PID 1 in its own namespaces (a user namespace
 * of its own unless privileged), its root filesystem on a qcow2 disk in the same pools as VM disks, a conmon
 * per container that holds its console and reaps it, and veth NICs on the same bridges as VM taps. Containers
 * outlive the agent; a new agent finds them again from their runtime files and runc's state.
 */
import fs from 'node:fs';
import { waitForExit } from '../exit-waiters.js';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DroverError, isDroverError } from '../../shared/errors.js';
import { run } from '../../shared/exec.js';
import type { GuestNetworkInterface } from '../../guest-agent/types.js';
import type { VmSpec, VmState } from '../../vms/spec.js';
import type { ConsoleConnection, Driver, DriverCapabilities, ExecResult, GuestUsage, LiveLimits, RuntimeStatus } from '../types.js';
import { isAlive, signalProcess } from '../qemu/process.js';
import { CONTAINER_CAPABILITIES } from '../capabilities.js';
import { capabilitiesIn, ociConfig, containerResources, signalNumber } from './bundle.js';
import { attachConsole, conmonPaths, createContainer, decodeConsoleLog, readExitStatus, type ConmonPaths } from './conmon.js';
import { IdRanges } from './id-ranges.js';
import { attachNics, detachNics } from './network.js';
import { diskMonitor, freeze, mountRootDisk, trackWrites, ROOT_NODE, shiftOwnership, unmountRootDisk, type MountedRootDisk } from './rootfs.js';
import { Runc } from './runc.js';

const LIVENESS_INTERVAL_MS = 500;
const LIVE: readonly VmState[] = ['running', 'paused', 'starting', 'stopping'];

/** What the driver persists per container (`container.json`), so a restarted agent can find and judge it. */
interface ContainerFile {
  spec: VmSpec;
  state: VmState;
  guestReady: boolean;
  pid?: number;
  conmonPid?: number;
  startedAt?: string;
  crashReason?: string;
  crashedAt?: string;
  idBase?: number;
  disk?: MountedRootDisk;
}

interface ContainerRuntime {
  dir: string;
  paths: ConmonPaths;
  file: ContainerFile;
  /** Set when Drover asked init to go, so its exit is not a crash. */
  exitExpected: boolean;
  /** Set by reboot(): the exit that follows starts the container again. */
  rebootRequested: boolean;
  exiting: boolean;
  exitWaiters: Array<() => void>;
}

export interface ContainerDriverOptions {
  /** Directory for per-container bundles, mounts, console logs and runtime state. */
  runDir: string;
  /**
   * Where root filesystems are mounted: every directory above a mount must be searchable by the container's
   * own root user (an unprivileged host id), which a data directory made with mode 0700 is not. Default
   * /run/drover/rootfs.
   */
  mountDir?: string;
}

/** Where containers' root filesystems are mounted unless the driver is told otherwise. */
export const DEFAULT_MOUNT_DIR = '/run/drover/rootfs';

/** The container driver: one of the two drivers behind `Driver`, for guests of type 'container'. */
export class ContainerDriver implements Driver {
  readonly kind = 'runc';
  readonly guestType = 'container' as const;
  readonly capabilities: DriverCapabilities = CONTAINER_CAPABILITIES;
  private readonly runc: Runc;
  private readonly ids: IdRanges;
  private readonly runtimes = new Map<string, ContainerRuntime>();
  private readonly listeners: Array<(status: RuntimeStatus) => void> = [];
  private readonly resetListeners: Array<(id: string) => void> = [];
  private readonly guestAddresses = new Map<string, string[]>();
  private readonly livenessTimer: NodeJS.Timeout;
  private readonly mountDir: string;

  constructor(private readonly options: ContainerDriverOptions) {
    fs.mkdirSync(options.runDir, { recursive: true });
    this.mountDir = options.mountDir ?? DEFAULT_MOUNT_DIR;
    fs.mkdirSync(this.mountDir, { recursive: true, mode: 0o711 });
    fs.chmodSync(this.mountDir, 0o711);
    this.runc = new Runc(path.join(options.runDir, 'runc'));
    this.ids = new IdRanges(path.join(options.runDir, 'id-ranges.json'));
    this.livenessTimer = setInterval(() => this.checkLiveness(), LIVENESS_INTERVAL_MS);
    this.livenessTimer.unref();
  }

  async validate(spec: VmSpec): Promise<void> {
    if (!spec.container) throw new DroverError('IMAGE_TYPE_MISMATCH', `${spec.name}: a container needs a container image (its init and stop signal)`);
    if (spec.disks.length !== 1) throw new DroverError('GUEST_TYPE_UNSUPPORTED', `${spec.name}: a container has one disk, its root filesystem`);
    if (spec.nics.some((n) => n.mode === 'user')) {
      throw new DroverError('GUEST_TYPE_UNSUPPORTED', `${spec.name}: containers have no user-mode NIC (port forwards); give a bridge or a virtual network`);
    }
    if (spec.boot) throw new DroverError('GUEST_TYPE_UNSUPPORTED', `${spec.name}: a container boots no kernel of its own`);
    signalNumber(spec.container.stopSignal);
    if (!spec.container.privileged) this.ids.range();
  }

  onStateChange(listener: (status: RuntimeStatus) => void): void {
    this.listeners.push(listener);
  }

  onGuestReset(listener: (id: string) => void): void {
    this.resetListeners.push(listener);
  }

  status(id: string): RuntimeStatus {
    const rt = this.runtimes.get(id);
    if (rt) return this.toStatus(id, rt.file);
    const file = readFile(this.fileOf(this.dirOf(id)));
    return file ? this.toStatus(id, file) : { id, state: 'stopped', guestReady: false };
  }

  async start(spec: VmSpec): Promise<RuntimeStatus> {
    const current = this.runtimes.get(spec.id);
    if (current && LIVE.includes(current.file.state)) throw new DroverError('VM_ALREADY_RUNNING', spec.name);
    await this.validate(spec);
    const disk = spec.disks[0];
    if (!disk || !fs.existsSync(disk.path)) throw new DroverError('DISK_NOT_FOUND', `${disk?.name ?? 'root'}: ${disk?.path ?? ''}`);
    const dir = this.dirOf(spec.id);
    fs.mkdirSync(dir, { recursive: true });
    const paths = conmonPaths(dir);
    const rt: ContainerRuntime = current ?? { dir, paths, file: { spec, state: 'stopped', guestReady: false }, exitExpected: false, rebootRequested: false, exiting: false, exitWaiters: [] };
    rt.file = { spec, state: 'starting', guestReady: false, ...(spec.container?.privileged ? {} : { idBase: this.ids.allocate(spec.id) }) };
    rt.exitExpected = false;
    rt.rebootRequested = false;
    rt.exiting = false;
    this.runtimes.set(spec.id, rt);
    this.setState(rt, 'starting');
    try {
      await this.launch(rt);
    } catch (err) {
      await this.cleanUp(rt);
      this.setState(rt, 'stopped');
      throw isDroverError(err) ? err : new DroverError('VM_START_FAILED', (err as Error).message, { cause: err });
    }
    return this.status(spec.id);
  }

  /** Mounts the root disk, makes the bundle, has conmon create the container, wires its NICs and starts init. */
  private async launch(rt: ContainerRuntime): Promise<void> {
    const { spec } = rt.file;
    // A container of this id left behind (a crash mid-start) goes first; runc keeps its state in a directory per id.
    if (fs.existsSync(path.join(this.runc.root, spec.id))) await this.runc.delete(spec.id, true);
    fs.rmSync(rt.paths.bundle, { recursive: true, force: true });
    fs.mkdirSync(rt.paths.bundle, { recursive: true });
    const rootfs = path.join(this.mountDir, spec.id);
    rt.file.disk = await mountRootDisk(spec.disks[0]!.path, rt.dir, rootfs); // validate() checked there is one disk
    this.save(rt);
    const owner = rt.file.idBase ?? 0;
    const root = rootfs;
    const current = fs.statSync(root).uid;
    // The files belong to whichever range the container last ran with (0: fresh from an image, or privileged).
    if (current !== owner) shiftOwnership(root, current - (current % 65_536), owner);
    writeGuestFile(root, 'etc/hostname', `${spec.name}\n`, owner);
    const cgroupsPath = `/drover-ct/${spec.id}`;
    const config = ociConfig(spec, { rootfs, ...(rt.file.idBase !== undefined ? { idBase: rt.file.idBase } : {}), cgroupsPath, rootDevice: rt.file.disk, grantable: grantableCapabilities() });
    fs.writeFileSync(path.join(rt.paths.bundle, 'config.json'), JSON.stringify(config, null, 2));
    const created = await createContainer(spec.id, rt.paths, this.runc.globalArgs);
    rt.file.pid = created.initPid;
    rt.file.conmonPid = created.conmonPid;
    this.save(rt);
    if (rt.file.idBase !== undefined) delegateSystemdCgroup(cgroupsPath, rt.file.idBase);
    await attachNics(spec, created.initPid);
    await this.runc.start(spec.id);
    rt.file.startedAt = new Date().toISOString();
    this.setState(rt, 'running');
  }

  async stop(id: string, opts: { timeoutMs?: number } = {}): Promise<RuntimeStatus> {
    const rt = this.requireLive(id);
    rt.exitExpected = true;
    if (rt.file.state === 'paused') await this.runc.resume(id).catch(() => undefined);
    this.setState(rt, 'stopping');
    // An init that has not installed its handler yet (systemd in its first moments) ignores the signal: ask
    // again every second until it goes or the time is up.
    const ask = (): void => {
      if (rt.file.pid) signalProcess(rt.file.pid, signalNumber(rt.file.spec.container!.stopSignal) as unknown as NodeJS.Signals); // validate() checked it
    };
    ask();
    const again = setInterval(ask, 1_000);
    try {
      if (await this.waitForExit(rt, opts.timeoutMs ?? 60_000)) return this.status(id);
    } finally {
      clearInterval(again);
    }
    return this.kill(id);
  }

  async kill(id: string): Promise<RuntimeStatus> {
    const rt = this.requireLive(id);
    rt.exitExpected = true;
    rt.rebootRequested = false;
    if (rt.file.pid) signalProcess(rt.file.pid, 'SIGKILL');
    if (!(await this.waitForExit(rt, 10_000))) {
      await this.runc.kill(id, 9, true).catch(() => undefined);
      await this.waitForExit(rt, 10_000);
    }
    return this.status(id);
  }

  /** Asks init to power off, and starts the container again once it has; the state stays 'running' meanwhile. */
  async reboot(id: string): Promise<RuntimeStatus> {
    const rt = this.requireRunning(id);
    rt.rebootRequested = true;
    rt.file.guestReady = false;
    this.save(rt);
    if (rt.file.pid) signalProcess(rt.file.pid, signalNumber(rt.file.spec.container!.stopSignal) as unknown as NodeJS.Signals);
    // An init that does not go within a minute is killed; the restart follows either way.
    setTimeout(() => {
      if (rt.rebootRequested && rt.file.pid && isAlive(rt.file.pid)) signalProcess(rt.file.pid, 'SIGKILL');
    }, 60_000).unref();
    return this.status(id);
  }

  async pause(id: string): Promise<RuntimeStatus> {
    const rt = this.requireRunning(id);
    await this.runc.pause(id);
    this.setState(rt, 'paused');
    return this.status(id);
  }

  async resume(id: string): Promise<RuntimeStatus> {
    const rt = this.requireLive(id);
    if (rt.file.state !== 'paused') throw new DroverError('VM_NOT_PAUSED', rt.file.spec.name);
    await this.runc.resume(id);
    this.setState(rt, 'running');
    return this.status(id);
  }

  /** Ready means a program runs inside: runc exec answers. */
  async waitReady(id: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rt = this.requireRunning(id);
      if (await this.pingGuest(id, Math.max(500, deadline - Date.now()))) {
        rt.file.guestReady = true;
        this.save(rt);
        this.emit(rt);
        return;
      }
      if (Date.now() >= deadline) throw new DroverError('GUEST_AGENT_UNAVAILABLE', `${rt.file.spec.name}: nothing ran inside within ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  async pingGuest(id: string, timeoutMs: number): Promise<boolean> {
    const rt = this.runtimes.get(id);
    if (!rt || rt.file.state !== 'running') return false;
    try {
      return (await this.runc.exec(id, 'true', [], { timeoutMs })).exitCode === 0;
    } catch {
      return false;
    }
  }

  async exec(id: string, file: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
    this.requireRunning(id);
    return this.runc.exec(id, file, args, opts);
  }

  async guestNetwork(id: string): Promise<GuestNetworkInterface[]> {
    const rt = this.requireRunning(id);
    const pid = rt.file.pid!; // running containers have an init pid
    const inNetns = async (args: string[]) =>
      JSON.parse((await run('nsenter', [`--net=/proc/${pid}/ns/net`, '--', 'ip', '-j', ...args], { timeoutMs: 5_000, errorCode: 'NETWORK_ERROR' })).stdout) as Array<Record<string, unknown>>;
    const links = await inNetns(['-s', 'link', 'show']);
    const addrs = await inNetns(['address', 'show']);
    const nics: GuestNetworkInterface[] = links.map((link) => {
      const name = String(link.ifname);
      const stats = link.stats64 as { rx: Record<string, number>; tx: Record<string, number> } | undefined;
      const info = (addrs.find((a) => a.ifname === name)?.addr_info ?? []) as Array<{ family: string; local: string; prefixlen: number }>;
      return {
        name,
        ...(typeof link.address === 'string' ? { macAddress: link.address } : {}),
        addresses: info.map((a) => ({ family: a.family === 'inet6' ? ('ipv6' as const) : ('ipv4' as const), address: a.local, prefix: a.prefixlen })),
        ...(stats
          ? {
              statistics: {
                rxBytes: stats.rx.bytes ?? 0, rxPackets: stats.rx.packets ?? 0, rxErrors: stats.rx.errors ?? 0, rxDropped: stats.rx.dropped ?? 0,
                txBytes: stats.tx.bytes ?? 0, txPackets: stats.tx.packets ?? 0, txErrors: stats.tx.errors ?? 0, txDropped: stats.tx.dropped ?? 0,
              },
            }
          : {}),
      };
    });
    this.guestAddresses.set(
      id,
      nics.filter((n) => n.name !== 'lo').flatMap((n) => n.addresses).filter((a) => !(a.family === 'ipv6' && a.address.startsWith('fe80'))).map((a) => a.address),
    );
    return nics;
  }

  addresses(id: string): string[] {
    return this.guestAddresses.get(id) ?? [];
  }

  /** CPU, memory and disk I/O from the container's cgroups; network from its namespace's counters. */
  async usage(id: string): Promise<GuestUsage | undefined> {
    const rt = this.runtimes.get(id);
    if (!rt || !rt.file.pid || (rt.file.state !== 'running' && rt.file.state !== 'paused')) return undefined;
    const cg = (controller: string, file: string) => readText(`/sys/fs/cgroup/${controller}/drover-ct/${id}/${file}`);
    const memoryStat = Object.fromEntries(cg('memory', 'memory.stat').split('\n').map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
    const usage: GuestUsage = {
      cpuSeconds: Number(cg('cpuacct', 'cpuacct.usage') || 0) / 1e9,
      memoryRssBytes: Math.max(0, Number(cg('memory', 'memory.usage_in_bytes') || 0) - (memoryStat.total_inactive_file ?? 0)),
      diskReadBytes: 0,
      diskWriteBytes: 0,
      netRxBytes: 0,
      netTxBytes: 0,
    };
    for (const line of cg('blkio', 'blkio.throttle.io_service_bytes').split('\n')) {
      const [, op, value] = line.split(' ');
      if (op === 'Read') usage.diskReadBytes += Number(value);
      if (op === 'Write') usage.diskWriteBytes += Number(value);
    }
    for (const line of readText(`/proc/${rt.file.pid}/net/dev`).split('\n').slice(2)) {
      const [name, rest] = line.split(':');
      if (!rest || name?.trim() === 'lo') continue;
      const fields = rest.trim().split(/\s+/).map(Number);
      usage.netRxBytes += fields[0] ?? 0;
      usage.netTxBytes += fields[8] ?? 0;
    }
    return usage;
  }

  /** Freezes the filesystem, snapshots the qcow2 through the storage daemon's monitor, and thaws. */
  async snapshotLive(id: string, diskNames: string[], snapshot: string, action: 'create' | 'delete'): Promise<void> {
    const rt = this.requireLive(id);
    if (!rt.file.disk || diskNames.some((d) => d !== 'root')) throw new DroverError('DISK_NOT_FOUND', `${rt.file.spec.name} has one disk, root`);
    const qmp = await diskMonitor(rt.file.disk);
    const thaw = action === 'create' ? await freeze(rt.file.disk) : async () => undefined;
    try {
      const command = action === 'create' ? 'blockdev-snapshot-internal-sync' : 'blockdev-snapshot-delete-internal-sync';
      await qmp.execute(command, { device: ROOT_NODE, name: snapshot });
    } finally {
      await thaw();
      qmp.close();
    }
  }

  async trackRootDiskWrites(id: string): Promise<void> {
    const rt = this.requireLive(id);
    if (!rt.file.disk) throw new DroverError('VM_NOT_RUNNING', rt.file.spec.name);
    await trackWrites(rt.file.disk);
  }

  async setLimits(id: string, limits: LiveLimits): Promise<void> {
    const rt = this.requireLive(id);
    const spec: VmSpec = { ...rt.file.spec, container: { ...rt.file.spec.container! } };
    if (limits.memoryMiB !== undefined) spec.memoryMiB = limits.memoryMiB;
    if (limits.cpuLimitPercent !== undefined) {
      if (limits.cpuLimitPercent === null) delete spec.cpuLimitPercent;
      else spec.cpuLimitPercent = limits.cpuLimitPercent;
    }
    if (limits.pidsLimit !== undefined) {
      if (limits.pidsLimit === null) delete spec.container!.pidsLimit;
      else spec.container!.pidsLimit = limits.pidsLimit;
    }
    const resources = containerResources(spec, rt.file.disk ?? { major: 0, minor: 0 });
    delete resources.devices;
    delete resources.blockIO;
    // runc update leaves out pids when no limit is given; "max" is written as -1.
    if (limits.pidsLimit === null) resources.pids = { limit: -1 };
    await this.runc.update(id, resources);
    rt.file.spec = spec;
    this.save(rt);
  }

  consoleLog(id: string, tailBytes?: number): Buffer {
    const text = Buffer.from(decodeConsoleLog(readText(conmonPaths(this.dirOf(id)).consoleLog)));
    return tailBytes ? text.subarray(Math.max(0, text.length - tailBytes)) : text;
  }

  async attachConsole(id: string): Promise<ConsoleConnection> {
    const rt = this.requireLive(id);
    return attachConsole(rt.paths);
  }

  vncSocket(): string | undefined {
    return undefined;
  }

  async recover(): Promise<RuntimeStatus[]> {
    const found: RuntimeStatus[] = [];
    for (const entry of fs.readdirSync(this.options.runDir, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name === 'runc' || this.runtimes.has(entry.name)) continue;
      const dir = path.join(this.options.runDir, entry.name);
      const file = readFile(this.fileOf(dir));
      if (!file) continue;
      const id = file.spec.id;
      const rt: ContainerRuntime = { dir, paths: conmonPaths(dir), file, exitExpected: false, rebootRequested: false, exiting: false, exitWaiters: [] };
      this.runtimes.set(id, rt);
      if (LIVE.includes(file.state)) {
        const state = await this.runc.state(id);
        if (state && (state.status === 'running' || state.status === 'paused') && state.pid === file.pid && isAlive(state.pid)) {
          this.setState(rt, state.status);
        } else {
          const exit = readExitStatus(rt.paths, id);
          await this.cleanUp(rt);
          this.markCrashed(rt, `init exited while the host agent was not running${exit !== undefined ? ` (${describeExit(exit)})` : ''}`);
        }
      }
      found.push(this.status(id));
    }
    return found;
  }

  async detach(): Promise<void> {
    clearInterval(this.livenessTimer);
  }

  forget(id: string): void {
    const rt = this.runtimes.get(id);
    if (rt && !['stopped', 'crashed'].includes(rt.file.state)) throw new DroverError('VM_NOT_STOPPED', rt.file.spec.name);
    this.runtimes.delete(id);
    this.guestAddresses.delete(id);
    this.ids.release(id);
    fs.rmSync(this.dirOf(id), { recursive: true, force: true });
  }

  private dirOf(id: string): string {
    return path.join(this.options.runDir, id);
  }

  private fileOf(dir: string): string {
    return path.join(dir, 'container.json');
  }

  private requireLive(id: string): ContainerRuntime {
    const rt = this.runtimes.get(id);
    if (!rt || !LIVE.includes(rt.file.state)) throw new DroverError('VM_NOT_RUNNING', rt?.file.spec.name ?? id);
    return rt;
  }

  private requireRunning(id: string): ContainerRuntime {
    const rt = this.requireLive(id);
    if (rt.file.state !== 'running') throw new DroverError('VM_NOT_RUNNING', `${rt.file.spec.name} is ${rt.file.state}`);
    return rt;
  }

  private checkLiveness(): void {
    for (const rt of this.runtimes.values()) {
      if (rt.exiting || !rt.file.pid || !['running', 'paused', 'stopping'].includes(rt.file.state)) continue;
      if (!isAlive(rt.file.pid)) void this.handleExit(rt);
    }
  }

  /** Init is gone: tidy up, then stopped (asked for, or powered off from inside), started again (a reboot), or crashed. */
  private async handleExit(rt: ContainerRuntime): Promise<void> {
    rt.exiting = true;
    try {
      // conmon writes the status just after it reaps init.
      let exit = readExitStatus(rt.paths, rt.file.spec.id);
      for (let i = 0; i < 20 && exit === undefined; i++) {
        await sleep(50);
        exit = readExitStatus(rt.paths, rt.file.spec.id);
      }
      await this.cleanUp(rt);
      // In a PID namespace, reboot() ends init with SIGHUP and power-off with SIGINT (129 and 130 from conmon).
      const guestReboot = exit === 129;
      if ((rt.rebootRequested || guestReboot) && !rt.exitExpected) {
        rt.rebootRequested = false;
        try {
          rt.file = { ...rt.file, state: 'running', guestReady: false };
          await this.launch(rt);
          for (const listener of this.resetListeners) listener(rt.file.spec.id);
        } catch (err) {
          await this.cleanUp(rt);
          this.markCrashed(rt, `restarting after a reboot failed: ${(err as Error).message}`);
        }
      } else if (rt.exitExpected || exit === 130) {
        this.setState(rt, 'stopped');
      } else {
        const log = decodeConsoleLog(readText(rt.paths.consoleLog)).trim().split('\n').slice(-2).join(' | ');
        this.markCrashed(rt, `init ${exit !== undefined ? describeExit(exit) : 'disappeared'}${log ? `; console: ${log.slice(0, 300)}` : ''}`);
      }
    } finally {
      rt.exiting = false;
      for (const wake of rt.exitWaiters.splice(0)) wake();
    }
  }

  /** Removes the runc container, its NICs and its mounts; safe to repeat. */
  private async cleanUp(rt: ContainerRuntime): Promise<void> {
    await this.runc.delete(rt.file.spec.id, true).catch(() => undefined);
    await detachNics(rt.file.spec).catch(() => undefined);
    if (rt.file.disk) await unmountRootDisk(rt.file.disk).catch(() => undefined);
    delete rt.file.disk;
    delete rt.file.pid;
    delete rt.file.conmonPid;
    this.guestAddresses.delete(rt.file.spec.id);
    this.save(rt);
  }

  private markCrashed(rt: ContainerRuntime, reason: string): void {
    rt.file.crashReason = reason;
    rt.file.crashedAt = new Date().toISOString();
    this.setState(rt, 'crashed');
  }

  private waitForExit(rt: ContainerRuntime, timeoutMs: number): Promise<boolean> {
    return waitForExit(() => (rt.file.state === 'stopped' || rt.file.state === 'crashed') && !rt.exiting, rt.exitWaiters, timeoutMs);
  }

  private setState(rt: ContainerRuntime, state: VmState): void {
    rt.file.state = state;
    if (state === 'stopped' || state === 'crashed') rt.file.guestReady = false;
    if (state !== 'crashed') delete rt.file.crashReason;
    this.save(rt);
    this.emit(rt);
  }

  private save(rt: ContainerRuntime): void {
    const file = this.fileOf(rt.dir);
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(rt.file, null, 2));
    fs.renameSync(`${file}.tmp`, file);
  }

  private emit(rt: ContainerRuntime): void {
    const status = this.toStatus(rt.file.spec.id, rt.file);
    for (const listener of this.listeners) listener(status);
  }

  private toStatus(id: string, file: ContainerFile): RuntimeStatus {
    const live = LIVE.includes(file.state);
    return {
      id,
      state: file.state,
      guestReady: file.guestReady,
      ...(live && file.pid ? { pid: file.pid } : {}),
      ...(live && file.startedAt ? { startedAt: file.startedAt } : {}),
      ...(file.crashReason ? { crashReason: file.crashReason } : {}),
    };
  }
}

/** The capabilities this process may hand on: its bounding set. */
function grantableCapabilities(): string[] {
  const mask = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readText('/proc/self/status'))?.[1];
  return mask ? capabilitiesIn(mask) : [];
}

/** "exited with status N" or "was killed by signal N" from conmon's 128 + signal convention. */
function describeExit(status: number): string {
  return status > 128 ? `was killed by signal ${status - 128}` : `exited with status ${status}`;
}

function readFile(file: string): ContainerFile | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as ContainerFile;
  } catch {
    return undefined;
  }
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Writes `relative` under the container's root as the container's root user owns it. */
function writeGuestFile(root: string, relative: string, content: string, owner: number): void {
  const file = path.join(root, relative);
  if (!fs.existsSync(path.dirname(file))) return;
  fs.rmSync(file, { force: true });
  fs.writeFileSync(file, content);
  fs.chownSync(file, owner, owner);
}

/**
 * Hands the container's name=systemd cgroup to its root user, so systemd can make its own cgroups beneath. The
 * resource controllers stay root's on the host: the container cannot lift its own limits.
 */
function delegateSystemdCgroup(cgroupsPath: string, owner: number): void {
  const dir = path.join('/sys/fs/cgroup/systemd', cgroupsPath);
  if (!fs.existsSync(dir)) return;
  fs.chownSync(dir, owner, owner);
  for (const entry of ['cgroup.procs', 'tasks', 'cgroup.clone_children', 'notify_on_release']) {
    const file = path.join(dir, entry);
    if (fs.existsSync(file)) fs.chownSync(file, owner, owner);
  }
}

/**
 * The live processes of the containers recorded under `runDir` (init, its conmon, its disk's storage daemon),
 * each checked against what it must be, so a reused pid is never named. A pulled plug kills these.
 */
export function containerProcesses(runDir: string): number[] {
  const pids: number[] = [];
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(runDir, { withFileTypes: true });
  } catch {
    return [];
  }
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name === 'runc') continue;
    const dir = path.join(runDir, entry.name);
    const file = readFile(path.join(dir, 'container.json'));
    if (!file || !LIVE.includes(file.state)) continue;
    const candidates: Array<[number | undefined, string]> = [
      [file.conmonPid, dir],
      [file.disk?.daemonPid, file.disk?.monitorSocket ?? dir],
    ];
    for (const [pid, marker] of candidates) if (pid && commandLineHas(pid, marker)) pids.push(pid);
    // init's command line is the image's; it is ours when it runs in the container's cgroup.
    if (file.pid && isAlive(file.pid) && readText(`/proc/${file.pid}/cgroup`).includes(`/drover-ct/${file.spec.id}`)) pids.push(file.pid);
  }
  return pids;
}

function commandLineHas(pid: number, marker: string): boolean {
  return isAlive(pid) && readText(`/proc/${pid}/cmdline`).includes(marker);
}

/**
 * Tears down every container recorded under `runDir` without an agent: kills each init by the pid its runtime
 * file names (checked against runc's state, so a reused pid is never hit), then removes the runc container, its
 * NICs and its mounts. For tests and the testbed, which own the whole directory.
 */
export async function destroyContainers(runDir: string): Promise<void> {
  if (!fs.existsSync(runDir)) return;
  const runc = new Runc(path.join(runDir, 'runc'));
  for (const entry of fs.readdirSync(runDir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name === 'runc') continue;
    const file = readFile(path.join(runDir, entry.name, 'container.json'));
    if (!file) continue;
    const state = await runc.state(file.spec.id);
    if (state && state.pid === file.pid && isAlive(state.pid)) signalProcess(state.pid, 'SIGKILL');
    for (let i = 0; i < 50 && state && isAlive(state.pid); i++) await sleep(20);
    await runc.delete(file.spec.id, true);
    await detachNics(file.spec).catch(() => undefined);
    if (file.disk) await unmountRootDisk(file.disk).catch(() => undefined);
  }
}
