import fs from 'node:fs';
import { waitForExit } from '../exit-waiters.js';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { DroverError } from '../../shared/errors.js';
import { QmpClient } from '../../qmp/client.js';
import { GuestAgentClient } from '../../guest-agent/client.js';
import type { GuestNetworkInterface } from '../../guest-agent/types.js';
import type { VmSpec, VmState } from '../../vms/spec.js';
import type { ConsoleConnection, Driver, DriverCapabilities, ExecResult, GuestUsage, LiveLimits, RuntimeStatus } from '../types.js';
import { QEMU_CAPABILITIES } from '../capabilities.js';
import { hostCpuModels, requireOfferedCpuModel } from './cpu-models.js';
import { processUsage } from './usage.js';
import { buildQemuArgs, runtimePaths, tapName, type LaunchOptions, type RuntimePaths } from './cmdline.js';
import { bridgeExists, ensureBridge } from '../../network/bridge.js';
import { ip } from '../../network/commands.js';
import { overlayBridgeName } from '../../network/overlay.js';
import { createTap, deleteTap } from '../../network/tap.js';
import { isOurQemu, readPidFile, signalProcess, spawnQemu, tailLog } from './process.js';
import { applyCpuLimit, removeCpuLimit } from './cgroups.js';
import { readRuntimeFile, writeRuntimeFile, type RuntimeFile } from './runtime-file.js';

const QMP_CONNECT_TIMEOUT_MS = 15_000;
const LIVENESS_INTERVAL_MS = 1_000;

/** One VM this driver runs (or ran): its process, monitor connection and state. */
interface VmRuntime {
  spec: VmSpec;
  paths: RuntimePaths;
  file: RuntimeFile;
  qmp?: QmpClient;
  guestAgent?: GuestAgentClient;
  /** Set when Drover itself asked QEMU to go away, so the exit is not a crash. */
  exitExpected: boolean;
  /** Set once QEMU reported SHUTDOWN: the guest powered off, or QEMU was told to quit. */
  shutdownReason?: string;
  exitWaiters: Array<() => void>;
  /** Exit status, when this process spawned QEMU. */
  exitInfo?: { code: number | null; signal: NodeJS.Signals | null };
}

export interface QemuDriverOptions {
  /** Directory for per-VM sockets, logs and runtime state; must be short (unix socket paths). */
  runDir: string;
  accelerator: 'kvm' | 'tcg';
}

/** Runs VMs as independent QEMU processes and manages them over QMP and the guest agent. */
export class QemuDriver implements Driver {
  readonly kind = 'qemu';
  readonly guestType = 'vm' as const;
  readonly capabilities: DriverCapabilities = QEMU_CAPABILITIES;
  private readonly runtimes = new Map<string, VmRuntime>();
  private readonly listeners: Array<(status: RuntimeStatus) => void> = [];
  private readonly resetListeners: Array<(id: string) => void> = [];
  private readonly guestAddresses = new Map<string, string[]>();
  private readonly livenessTimer: NodeJS.Timeout;

  constructor(private readonly options: QemuDriverOptions) {
    fs.mkdirSync(options.runDir, { recursive: true });
    this.livenessTimer = setInterval(() => this.checkLiveness(), LIVENESS_INTERVAL_MS);
    this.livenessTimer.unref();
  }

  /** The accelerator this host runs every VM with. */
  get accelerator(): 'kvm' | 'tcg' {
    return this.options.accelerator;
  }

  /** Paths of a VM's runtime files (console log, sockets), whether or not it runs. */
  paths(id: string): RuntimePaths {
    return runtimePaths(this.options.runDir, id);
  }

  /** The QEMU arguments this driver would use for `spec`. */
  commandLine(spec: VmSpec): string[] {
    return buildQemuArgs(spec, this.paths(spec.id), this.options.accelerator);
  }

  /** Refuses a spec QEMU would refuse (read-only IDE disks, say) or a CPU model this host does not offer. */
  async validate(spec: VmSpec): Promise<void> {
    if (spec.container) throw new DroverError('IMAGE_TYPE_MISMATCH', `${spec.name}: a VM boots a VM image, not a container image`);
    this.commandLine(spec);
    requireOfferedCpuModel(spec.cpuModel ?? 'qemu64', await hostCpuModels(this.options.accelerator));
  }

  onStateChange(listener: (status: RuntimeStatus) => void): void {
    this.listeners.push(listener);
  }

  /** Calls back with the VM's id whenever its guest resets: a reboot from inside the guest, or reboot(). */
  onGuestReset(listener: (id: string) => void): void {
    this.resetListeners.push(listener);
  }

  status(id: string): RuntimeStatus {
    const rt = this.runtimes.get(id);
    if (rt) return this.toStatus(id, rt.file);
    const file = readRuntimeFile(this.paths(id).runtimeFile);
    if (file) return this.toStatus(id, file);
    return { id, state: 'stopped', guestReady: false };
  }

  async start(spec: VmSpec): Promise<RuntimeStatus> {
    return this.launch(spec, {});
  }

  /**
   * Starts QEMU as the target of an incoming live migration: `-incoming defer -S` with the source's exact
   * machine type and firmware. The VM is 'paused' until someone runs `cont` (its RESUME event makes it 'running').
   * `guestStartedAt` (the source's start time) becomes this VM's startedAt: the same guest runs on, so its uptime does.
   */
  async startIncoming(spec: VmSpec, source: { machineType: string; firmware: string }, guestStartedAt?: string): Promise<RuntimeStatus> {
    return this.launch(spec, { ...source, incoming: true }, guestStartedAt);
  }

  private async launch(spec: VmSpec, launch: LaunchOptions, guestStartedAt?: string): Promise<RuntimeStatus> {
    const current = this.runtimes.get(spec.id);
    if (current && ['running', 'paused', 'starting', 'stopping'].includes(current.file.state)) {
      throw new DroverError('VM_ALREADY_RUNNING', spec.name);
    }
    for (const disk of spec.disks) {
      if (!fs.existsSync(disk.path)) throw new DroverError('DISK_NOT_FOUND', `${disk.name}: ${disk.path}`);
    }
    if (spec.boot && !fs.existsSync(spec.boot.kernel)) throw new DroverError('FILE_NOT_FOUND', spec.boot.kernel);
    const paths = this.paths(spec.id);
    const args = buildQemuArgs(spec, paths, this.options.accelerator, launch);
    fs.mkdirSync(paths.dir, { recursive: true });
    for (const stale of [paths.qmp, paths.guestAgent, paths.console, paths.vnc, paths.pidFile]) fs.rmSync(stale, { force: true });
    fs.writeFileSync(paths.qemuLog, '');

    const rt: VmRuntime = {
      spec,
      paths,
      file: { spec, state: 'starting', accelerator: this.options.accelerator, guestReady: false },
      exitExpected: false,
      exitWaiters: [],
    };
    this.runtimes.set(spec.id, rt);
    this.save(rt);

    try {
      await this.setupTaps(spec);
    } catch (err) {
      await this.teardownTaps(spec);
      this.setState(rt, 'stopped');
      throw err;
    }
    const spawned = spawnQemu(args, paths.qemuLog, spec.cpuPinning);
    rt.file.pid = spawned.pid;
    rt.file.startedAt = guestStartedAt ?? new Date().toISOString();
    this.save(rt);
    let exitedEarly = false;
    void spawned.exited.then((info) => {
      rt.exitInfo = info;
      exitedEarly = true;
      this.handleExit(rt);
    });

    try {
      rt.qmp = await QmpClient.connect(paths.qmp, { timeoutMs: QMP_CONNECT_TIMEOUT_MS });
    } catch (err) {
      signalProcess(spawned.pid, 'SIGKILL');
      await sleep(50);
      const detail = tailLog(paths.qemuLog) || (err as Error).message;
      this.setState(rt, 'stopped');
      throw new DroverError('VM_START_FAILED', detail, { cause: err });
    }
    if (exitedEarly) throw new DroverError('VM_START_FAILED', tailLog(paths.qemuLog) || 'QEMU exited during start');
    this.watchMonitor(rt);
    if (spec.cpuLimitPercent) applyCpuLimit(spec.id, spawned.pid, spec.cpuLimitPercent);
    this.setState(rt, launch.incoming ? 'paused' : 'running');
    return this.status(spec.id);
  }

  async stop(id: string, opts: { timeoutMs?: number } = {}): Promise<RuntimeStatus> {
    const rt = this.requireLive(id);
    rt.exitExpected = true;
    this.setState(rt, 'stopping');
    // A paused guest cannot react to the power button.
    if (rt.file.state === 'paused') await rt.qmp?.execute('cont').catch(() => undefined);
    await rt.qmp?.execute('system_powerdown').catch(() => undefined);
    if (await this.waitForExit(rt, opts.timeoutMs ?? 60_000)) return this.status(id);
    return this.kill(id);
  }

  async kill(id: string): Promise<RuntimeStatus> {
    const rt = this.requireLive(id);
    rt.exitExpected = true;
    await rt.qmp?.execute('quit', undefined, { timeoutMs: 2_000 }).catch(() => undefined);
    if (!(await this.waitForExit(rt, 3_000)) && rt.file.pid) {
      signalProcess(rt.file.pid, 'SIGKILL');
      await this.waitForExit(rt, 5_000);
    }
    return this.status(id);
  }

  async reboot(id: string): Promise<RuntimeStatus> {
    const rt = this.requireRunning(id);
    rt.file.guestReady = false;
    this.save(rt);
    await this.monitor(rt).execute('system_reset');
    return this.status(id);
  }

  async pause(id: string): Promise<RuntimeStatus> {
    const rt = this.requireRunning(id);
    await this.monitor(rt).execute('stop');
    this.setState(rt, 'paused');
    return this.status(id);
  }

  async resume(id: string): Promise<RuntimeStatus> {
    const rt = this.requireLive(id);
    if (rt.file.state !== 'paused') throw new DroverError('VM_NOT_PAUSED', rt.spec.name);
    await this.monitor(rt).execute('cont');
    this.setState(rt, 'running');
    return this.status(id);
  }

  async waitReady(id: string, timeoutMs: number): Promise<void> {
    const rt = this.requireRunning(id);
    const agent = await this.guestAgent(rt, timeoutMs);
    await agent.waitReady(timeoutMs);
    rt.file.guestReady = true;
    this.save(rt);
    this.emit(rt);
  }

  /** True when the guest agent answers guest-ping within `timeoutMs`; false when it does not, or the VM does not run. */
  async pingGuest(id: string, timeoutMs: number): Promise<boolean> {
    const rt = this.runtimes.get(id);
    if (!rt || rt.file.state !== 'running') return false;
    try {
      const agent = await this.guestAgent(rt, timeoutMs);
      await agent.ping(timeoutMs);
      return true;
    } catch {
      return false;
    }
  }

  async exec(id: string, path: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
    const rt = this.requireRunning(id);
    const agent = await this.guestAgent(rt, 5_000);
    return agent.exec(path, args, opts);
  }

  /** The guest's network interfaces with addresses and counters, from the guest agent; remembers the addresses. */
  async guestNetwork(id: string): Promise<GuestNetworkInterface[]> {
    const rt = this.requireRunning(id);
    const agent = await this.guestAgent(rt, 2_000);
    const nics = await agent.networkInterfaces();
    const addresses = nics
      .filter((n) => n.name !== 'lo')
      .flatMap((n) => n.addresses)
      .filter((a) => !(a.family === 'ipv6' && a.address.toLowerCase().startsWith('fe80')))
      .map((a) => a.address);
    this.guestAddresses.set(id, addresses);
    return nics;
  }

  /** The guest's IP addresses as its agent last reported them (empty until then, and after it stops). */
  addresses(id: string): string[] {
    return this.guestAddresses.get(id) ?? [];
  }

  /** CPU and memory from /proc, disk from QMP blockstats, network from the guest agent when it answers. */
  async usage(id: string): Promise<GuestUsage | undefined> {
    const status = this.status(id);
    if (!status.pid || (status.state !== 'running' && status.state !== 'paused')) return undefined;
    const process = processUsage(status.pid);
    const usage: GuestUsage = { cpuSeconds: process.cpuSeconds, memoryRssBytes: process.rssBytes, diskReadBytes: 0, diskWriteBytes: 0, netRxBytes: 0, netTxBytes: 0 };
    try {
      const qmp = await this.qmp(id);
      const block = (await qmp.executeRaw('query-blockstats', undefined, { timeoutMs: 2_000 })) as Array<{ stats: { rd_bytes: number; wr_bytes: number } }>;
      for (const b of block) {
        usage.diskReadBytes += b.stats.rd_bytes;
        usage.diskWriteBytes += b.stats.wr_bytes;
      }
    } catch {
      // The monitor is busy or gone; the next round will have figures.
    }
    if (status.guestReady) {
      try {
        for (const nic of await this.guestNetwork(id)) {
          if (nic.name === 'lo') continue;
          usage.netRxBytes += nic.statistics?.rxBytes ?? 0;
          usage.netTxBytes += nic.statistics?.txBytes ?? 0;
        }
      } catch {
        // The guest agent did not answer in time; network counters stay at zero this round.
      }
    }
    return usage;
  }

  /** Internal snapshots of the named drives, one QMP command each, while QEMU runs. */
  async snapshotLive(id: string, diskNames: string[], snapshot: string, action: 'create' | 'delete'): Promise<void> {
    const qmp = await this.qmp(id);
    for (const name of diskNames) {
      if (action === 'create') await qmp.execute('blockdev-snapshot-internal-sync', { device: `drive-${name}`, name: snapshot });
      else await qmp.execute('blockdev-snapshot-delete-internal-sync', { device: `drive-${name}`, name: snapshot });
    }
  }

  /** A VM moves by live migration, which mirrors its disks itself. */
  async trackRootDiskWrites(id: string): Promise<void> {
    throw new DroverError('GUEST_TYPE_UNSUPPORTED', `${this.status(id).id}: a VM's disks move with its live migration`);
  }

  /** A running VM's CPU cap changes at once (its cgroup); memory and process limits need a restart. */
  async setLimits(id: string, limits: LiveLimits): Promise<void> {
    const rt = this.requireLive(id);
    if (limits.memoryMiB !== undefined || limits.pidsLimit !== undefined) {
      throw new DroverError('GUEST_TYPE_UNSUPPORTED', `${rt.spec.name}: a VM's memory changes at its next start; it has no process limit`);
    }
    if (limits.cpuLimitPercent === undefined) return;
    if (limits.cpuLimitPercent === null) {
      // 64 cores' worth, the most a VM can have: no cap, while the process stays in its cgroup.
      if (rt.file.pid) applyCpuLimit(id, rt.file.pid, 6400);
    } else if (!rt.file.pid || !applyCpuLimit(id, rt.file.pid, limits.cpuLimitPercent)) {
      throw new DroverError('GUEST_TYPE_UNSUPPORTED', `${rt.spec.name}: this host offers no CPU controller to cap it with`);
    }
    rt.spec = { ...rt.spec };
    if (limits.cpuLimitPercent === null) delete rt.spec.cpuLimitPercent;
    else rt.spec.cpuLimitPercent = limits.cpuLimitPercent;
  }

  consoleLog(id: string, tailBytes?: number): Buffer {
    const log = this.paths(id).serialLog;
    const text = fs.existsSync(log) ? fs.readFileSync(log) : Buffer.alloc(0);
    return tailBytes ? text.subarray(Math.max(0, text.length - tailBytes)) : text;
  }

  /** Connects to QEMU's serial console socket. */
  async attachConsole(id: string): Promise<ConsoleConnection> {
    this.requireLive(id);
    const stream = net.connect(this.paths(id).console);
    await new Promise<void>((resolve, reject) => {
      stream.once('connect', resolve);
      stream.once('error', (err) => reject(new DroverError('VM_NOT_RUNNING', `serial console unavailable: ${err.message}`)));
    });
    return {
      write: (data) => stream.write(data),
      onOutput: (l) => stream.on('data', l),
      onClose: (l) => {
        stream.on('close', l);
        stream.on('error', l);
      },
      close: () => stream.destroy(),
    };
  }

  vncSocket(id: string): string | undefined {
    return this.paths(id).vnc;
  }

  /** Sends one QMP command to a running VM (used by storage and migration code on the host). */
  async qmp(id: string): Promise<QmpClient> {
    return this.monitor(this.requireLive(id));
  }

  async recover(): Promise<RuntimeStatus[]> {
    const found: RuntimeStatus[] = [];
    for (const id of fs.readdirSync(this.options.runDir)) {
      const paths = this.paths(id);
      const file = readRuntimeFile(paths.runtimeFile);
      if (!file || this.runtimes.has(id)) continue;
      const rt: VmRuntime = { spec: file.spec, paths, file, exitExpected: false, exitWaiters: [] };
      const live = file.state !== 'stopped' && file.state !== 'crashed';
      const pid = readPidFile(paths.pidFile) ?? file.pid;
      if (live && pid && isOurQemu(pid, paths.dir)) {
        this.runtimes.set(id, rt);
        try {
          rt.qmp = await QmpClient.connect(paths.qmp, { timeoutMs: 5_000 });
          const qs = await rt.qmp.execute('query-status');
          rt.file.pid = pid;
          this.watchMonitor(rt);
          // Anything not running (paused, inmigrate, postmigrate...) is paused from the guest's point of view.
          this.setState(rt, qs.running ? 'running' : 'paused');
        } catch (err) {
          this.markCrashed(rt, `monitor unreachable after agent restart: ${(err as Error).message}`);
        }
      } else if (live) {
        this.runtimes.set(id, rt);
        this.markCrashed(rt, 'QEMU exited while the host agent was not running');
      }
      found.push(this.status(id));
    }
    return found;
  }

  async detach(): Promise<void> {
    clearInterval(this.livenessTimer);
    for (const rt of this.runtimes.values()) {
      rt.guestAgent?.close();
      rt.qmp?.close();
    }
  }

  /** Forgets a stopped VM's runtime state (its console log goes too). */
  forget(id: string): void {
    const rt = this.runtimes.get(id);
    if (rt && !['stopped', 'crashed'].includes(rt.file.state)) throw new DroverError('VM_NOT_STOPPED', rt.spec.name);
    this.runtimes.delete(id);
    fs.rmSync(this.paths(id).dir, { recursive: true, force: true });
  }

  /**
   * Creates a tap on its bridge for every bridged or virtual-network NIC (a stale tap from a crash is replaced).
   * A virtual network's bridge must exist already: the controller sets it up on the host (see network/overlay.ts).
   */
  private async setupTaps(spec: VmSpec): Promise<void> {
    for (const [index, nic] of spec.nics.entries()) {
      if (nic.mode === 'user') continue;
      const tap = tapName(spec.id, index);
      const rate = nic.rateLimitKbit ? { rateLimitKbit: nic.rateLimitKbit } : {};
      if (nic.mode === 'bridge') {
        await ensureBridge(nic.bridge);
        await deleteTap(tap);
        await createTap(tap, { bridge: nic.bridge, ...rate });
        continue;
      }
      const bridge = overlayBridgeName(nic.vni);
      if (!(await bridgeExists(bridge))) {
        throw new DroverError('NETWORK_ERROR', `virtual network ${nic.network} (bridge ${bridge}) is not set up on this host; the controller sets it up before it starts a VM here`);
      }
      await deleteTap(tap);
      await createTap(tap, { bridge, ...rate });
      await ip(['link', 'set', 'dev', tap, 'mtu', String(nic.mtu)]);
    }
  }

  private async teardownTaps(spec: VmSpec): Promise<void> {
    for (const [index, nic] of spec.nics.entries()) {
      if (nic.mode !== 'user') await deleteTap(tapName(spec.id, index)).catch(() => undefined);
    }
  }

  private monitor(rt: VmRuntime): QmpClient {
    if (!rt.qmp) throw new DroverError('QMP_DISCONNECTED', rt.spec.name);
    return rt.qmp;
  }

  private async guestAgent(rt: VmRuntime, timeoutMs: number): Promise<GuestAgentClient> {
    if (!rt.guestAgent) rt.guestAgent = await GuestAgentClient.connect(rt.paths.guestAgent, { timeoutMs });
    return rt.guestAgent;
  }

  private requireLive(id: string): VmRuntime {
    const rt = this.runtimes.get(id);
    if (!rt || !['running', 'paused', 'starting', 'stopping'].includes(rt.file.state)) {
      throw new DroverError('VM_NOT_RUNNING', rt?.spec.name ?? id);
    }
    return rt;
  }

  private requireRunning(id: string): VmRuntime {
    const rt = this.requireLive(id);
    if (rt.file.state !== 'running') throw new DroverError('VM_NOT_RUNNING', `${rt.spec.name} is ${rt.file.state}`);
    return rt;
  }

  private watchMonitor(rt: VmRuntime): void {
    const qmp = this.monitor(rt);
    qmp.on('SHUTDOWN', (data) => {
      rt.shutdownReason = data.reason;
    });
    qmp.on('STOP', () => {
      if (rt.file.state === 'running') this.setState(rt, 'paused');
    });
    qmp.on('RESUME', () => {
      if (rt.file.state === 'paused') this.setState(rt, 'running');
    });
    qmp.on('RESET', () => {
      rt.file.guestReady = false;
      this.save(rt);
      for (const listener of this.resetListeners) listener(rt.spec.id);
    });
    qmp.onDisconnect(() => {
      rt.qmp = undefined;
      // The monitor closes just before the process is gone; give the kernel a moment to reap it.
      setTimeout(() => this.checkRuntime(rt), 100).unref();
    });
  }

  /** Treats a vanished QEMU as stopped (when expected or guest-initiated) or crashed. */
  private handleExit(rt: VmRuntime): void {
    if (rt.file.state === 'stopped' || rt.file.state === 'crashed') return;
    rt.guestAgent?.close();
    rt.guestAgent = undefined;
    rt.qmp?.close();
    rt.qmp = undefined;
    removeCpuLimit(rt.spec.id);
    this.guestAddresses.delete(rt.spec.id);
    void this.teardownTaps(rt.spec);
    const reason = rt.shutdownReason;
    if (rt.exitExpected || reason === 'guest-shutdown' || reason === 'host-qmp-quit') {
      this.setState(rt, 'stopped');
    } else {
      const how = rt.exitInfo?.signal
        ? `killed by ${rt.exitInfo.signal}`
        : rt.exitInfo?.code !== undefined && rt.exitInfo.code !== null
          ? `exited with code ${rt.exitInfo.code}`
          : reason
            ? `shut down unexpectedly (${reason})`
            : 'the process disappeared without a shutdown event';
      const log = tailLog(rt.paths.qemuLog, 2);
      this.markCrashed(rt, `QEMU ${how}${log ? `; last log: ${log}` : ''}`);
    }
    for (const wake of rt.exitWaiters.splice(0)) wake();
  }

  private markCrashed(rt: VmRuntime, reason: string): void {
    rt.file.crashReason = reason;
    rt.file.crashedAt = new Date().toISOString();
    this.setState(rt, 'crashed');
  }

  private checkRuntime(rt: VmRuntime): void {
    const live = ['running', 'paused', 'starting', 'stopping'].includes(rt.file.state);
    if (live && rt.file.pid && !isOurQemu(rt.file.pid, rt.paths.dir)) {
      // Let the spawn exit handler supply the exit code when it is about to fire.
      setTimeout(() => this.handleExit(rt), rt.exitInfo ? 0 : 50).unref();
    }
  }

  private checkLiveness(): void {
    for (const rt of this.runtimes.values()) {
      if (rt.file.state !== 'starting') this.checkRuntime(rt);
    }
  }

  private waitForExit(rt: VmRuntime, timeoutMs: number): Promise<boolean> {
    return waitForExit(() => rt.file.state === 'stopped' || rt.file.state === 'crashed', rt.exitWaiters, timeoutMs);
  }

  private setState(rt: VmRuntime, state: VmState): void {
    rt.file.state = state;
    if (state === 'stopped' || state === 'crashed') rt.file.guestReady = false;
    if (state !== 'crashed') delete rt.file.crashReason;
    this.save(rt);
    this.emit(rt);
  }

  private save(rt: VmRuntime): void {
    writeRuntimeFile(rt.paths.runtimeFile, rt.file);
  }

  private emit(rt: VmRuntime): void {
    const status = this.toStatus(rt.spec.id, rt.file);
    for (const listener of this.listeners) listener(status);
  }

  private toStatus(id: string, file: RuntimeFile): RuntimeStatus {
    const live = ['running', 'paused', 'starting', 'stopping'].includes(file.state);
    return {
      id,
      state: file.state,
      guestReady: file.guestReady,
      accelerator: file.accelerator,
      ...(live && file.pid ? { pid: file.pid } : {}),
      ...(live && file.startedAt ? { startedAt: file.startedAt } : {}),
      ...(file.crashReason ? { crashReason: file.crashReason } : {}),
    };
  }
}
