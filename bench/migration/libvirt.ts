/**
 * libvirt migration peer: two libvirt daemons, each in its own network namespace (own address on a bridge this
 * benchmark creates, as a testbed host has) and its own mount namespace (private /run/libvirt, /var/lib/libvirt,
 * /var/log/libvirt, /var/cache/libvirt and /etc/libvirt, bind-mounted from temp dirs), listening on TCP without
 * auth, so that `virsh migrate --live SRC DST` moves a domain from one to the other. The host's own libvirtd (if
 * any) is never touched: everything is found again by the pid files and names recorded here.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bridgeFor, createBridge, createHostNetwork, hostNetwork, pickSubnet, removeBridge, removeHostNetwork } from '../../src/testbed/namespaces.js';
import type { TestbedHost, TestbedState } from '../../src/testbed/state.js';
import { macFor } from '../../src/vms/mac.js';
import { QBOOT_PATH, domainXml } from '../boot/domain-xml.js';
import { BOOT_TIMEOUT_MS, GUEST, VariantUnavailable, createOverlay, guestCmdline, makeWorkDir } from '../boot/guest.js';
import { onInterrupt } from '../lib/cleanup.js';
import { runCommand, stopChild } from '../lib/process.js';
import type { BenchmarkContext } from '../lib/types.js';
import { BUSY_BOUND_MS, BUSY_LOOP, BUSY_SETUP, DidNotConverge, type Load, type Measured, message } from './shared.js';

/** The directories a libvirt daemon keeps state in; each daemon gets a private copy of every one. */
const PRIVATE_DIRS = { run: '/run/libvirt', lib: '/var/lib/libvirt', log: '/var/log/libvirt', cache: '/var/cache/libvirt', etc: '/etc/libvirt' } as const;
const READY_TIMEOUT_MS = 60_000;
const MIGRATE_TIMEOUT_MS = 180_000;

/** One libvirt daemon of the pair: its namespace, address, private root and the processes it owns. */
interface Daemon {
  host: TestbedHost;
  root: string;
  child?: ChildProcess;
  uri: string;
}

/** The key/value lines of `virsh domjobinfo`, keyed by label ("Time elapsed" → "717 ms"). */
export function parseJobInfo(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^\s*([^:]+?):\s+(.*?)\s*$/.exec(line);
    if (match?.[1] && match[2] !== undefined) out.set(match[1], match[2].replace(/\s+/g, ' '));
  }
  return out;
}

/** The leading number of a domjobinfo value ("717 ms" → 717); undefined when absent. */
function numberOf(info: Map<string, string>, key: string): number | undefined {
  const value = Number.parseFloat(info.get(key) ?? '');
  return Number.isFinite(value) ? value : undefined;
}

/** The pid in `file` if that process is alive, runs `comm`, and names `marker` on its command line (so it is ours). */
function ownedPid(file: string, comm: string, marker: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 1) return undefined;
    if (fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== comm) return undefined;
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker) ? pid : undefined;
  } catch {
    return undefined;
  }
}

function killPid(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/** Two isolated libvirt daemons on a private bridge; `migrate` moves a fresh tiny guest from the first to the second. */
export class LibvirtPair {
  private daemons: Daemon[] = [];
  private bridge: TestbedState['bridge'] | undefined;
  private shared = '';
  private releases: Array<() => void> = [];
  /** The domain XML of the last run, for the notes. */
  lastXml = '';

  constructor(private readonly ctx: BenchmarkContext) {}

  /** Creates the bridge, namespaces and daemons; throws VariantUnavailable when this machine cannot run them. */
  async start(): Promise<void> {
    if (!this.ctx.libvirt.available) throw new VariantUnavailable(this.ctx.libvirt.reason);
    for (const tool of ['libvirtd', 'virtlogd', 'unshare', 'ip']) {
      if (spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0) throw new VariantUnavailable(`${tool} is not installed`);
    }
    const id = randomBytes(3).toString('hex');
    const subnet = await pickSubnet();
    const testbedBridge = bridgeFor(id, subnet);
    // Own kernel names (drvbl-), so neither `drover testbed down` nor this benchmark can take the other's for its own.
    this.bridge = { ...testbedBridge, name: `drvbl-${id}` };
    const bridge = this.bridge;
    this.releases.push(onInterrupt(() => spawnSync('ip', ['link', 'delete', 'dev', bridge.name], { stdio: 'ignore' })));
    await createBridge(bridge);
    this.shared = makeWorkDir('lv-shared');
    for (const n of [1, 2]) {
      const network = hostNetwork(id, subnet, n);
      const host: TestbedHost = {
        name: `libvirt${n}`,
        namespace: `drvbl-${id}-h${n}`,
        veth: `drvbl${id}h${n}`,
        address: network.address,
        agentUrl: '',
        dataDir: '',
        logFile: '',
        pid: null,
      };
      const root = makeWorkDir(`lv${n}`);
      const daemon: Daemon = { host, root, uri: `qemu+tcp://${host.address}/system` };
      this.daemons.push(daemon);
      this.releases.push(
        onInterrupt(() => {
          this.killDaemonSync(daemon);
          spawnSync('ip', ['link', 'delete', 'dev', host.veth], { stdio: 'ignore' });
          spawnSync('ip', ['netns', 'delete', host.namespace], { stdio: 'ignore' });
        }),
      );
      await createHostNetwork(host, bridge);
      this.writeConfig(daemon);
      this.startDaemon(daemon);
    }
    for (const daemon of this.daemons) await this.waitReady(daemon);
  }

  /** A private copy of the host's /etc/libvirt (its qemu.conf runs QEMU as root), plus TCP listening and a host UUID of its own. */
  private writeConfig(daemon: Daemon): void {
    for (const dir of Object.keys(PRIVATE_DIRS)) fs.mkdirSync(path.join(daemon.root, dir), { recursive: true });
    const etc = path.join(daemon.root, 'etc');
    if (fs.existsSync(PRIVATE_DIRS.etc)) fs.cpSync(PRIVATE_DIRS.etc, etc, { recursive: true });
    fs.writeFileSync(
      path.join(etc, 'libvirtd.conf'),
      [
        'listen_tcp = 1',
        'listen_tls = 0',
        `listen_addr = "${daemon.host.address}"`,
        'auth_tcp = "none"',
        // Both daemons read the same SMBIOS/machine id; libvirt refuses to migrate to a host with the source's UUID.
        `host_uuid = "${randomUUID()}"`,
        '',
      ].join('\n'),
    );
    // Where the source's QEMU sends the migration stream: this daemon's own address, not the machine's hostname.
    fs.appendFileSync(path.join(etc, 'qemu.conf'), `\nmigration_host = "${daemon.host.address}"\n`);
  }

  /** `ip netns exec NS unshare --mount`, bind-mount the private dirs, start virtlogd, then exec libvirtd in the foreground. */
  private startDaemon(daemon: Daemon): void {
    const q = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;
    const mounts = Object.entries(PRIVATE_DIRS).map(([dir, target]) => `mkdir -p ${target} && mount --bind ${q(path.join(daemon.root, dir))} ${target}`);
    const script = [
      'set -e',
      ...mounts,
      `virtlogd -d -p ${q(path.join(daemon.root, 'virtlogd.pid'))}`,
      `exec libvirtd --listen -p ${q(path.join(daemon.root, 'libvirtd.pid'))}`,
    ].join('\n');
    const log = fs.openSync(path.join(daemon.root, 'daemon.log'), 'w');
    try {
      daemon.child = spawn('ip', ['netns', 'exec', daemon.host.namespace, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', script], {
        stdio: ['ignore', log, log],
      });
    } finally {
      fs.closeSync(log);
    }
    daemon.child.on('error', () => undefined);
  }

  private async waitReady(daemon: Daemon): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let last = '';
    while (Date.now() < deadline) {
      if (daemon.child && (daemon.child.exitCode !== null || daemon.child.signalCode !== null)) break;
      const result = await runCommand('virsh', ['-c', daemon.uri, 'version'], { timeoutMs: 10_000 }).catch((err: unknown) => ({ code: -1, stdout: '', stderr: message(err) }));
      if (result.code === 0) return;
      last = result.stderr.trim();
      await sleep(500);
    }
    throw new VariantUnavailable(`libvirtd in namespace ${daemon.host.namespace} did not answer on ${daemon.uri}: ${last}; log: ${this.logTail(daemon)}`);
  }

  private logTail(daemon: Daemon): string {
    try {
      return fs.readFileSync(path.join(daemon.root, 'daemon.log'), 'utf8').trim().split('\n').slice(-3).join(' / ');
    } catch {
      return 'none';
    }
  }

  private virsh(daemon: Daemon, args: string[], timeoutMs = 60_000) {
    return runCommand('virsh', ['-c', daemon.uri, ...args], { timeoutMs });
  }

  /** Boots a fresh guest on the first daemon (not timed), makes it busy if asked, and live-migrates it with libvirt's defaults. */
  async migrate(run: number, load: Load): Promise<Measured> {
    const [src, dst] = this.daemons as [Daemon, Daemon];
    const name = `drover-bench-${process.pid}-mig-${load}-${run}`;
    const dir = path.join(this.shared, `run-${load}-${run}`);
    fs.mkdirSync(dir);
    const xmlFile = path.join(dir, 'domain.xml');
    // The same paths on both sides, as on shared storage: the destination QEMU opens the same disk and re-binds the sockets.
    this.lastXml = domainXml({
      name,
      accelerator: this.ctx.accelerator.accelerator,
      memoryMiB: GUEST.memoryMiB,
      cpus: GUEST.cpus,
      firmware: QBOOT_PATH,
      kernel: this.ctx.tiny.kernel,
      initrd: this.ctx.tiny.initrd,
      cmdline: guestCmdline(this.ctx.tiny, `mig-${load}-${run}`),
      disk: path.join(dir, 'root.qcow2'),
      mac: macFor(randomUUID(), 0),
      serialLog: path.join(dir, 'serial.log'),
      guestAgentSocket: path.join(dir, 'qga.sock'),
      vncSocket: path.join(dir, 'vnc.sock'),
    });
    fs.writeFileSync(xmlFile, this.lastXml);
    const release = onInterrupt(() => this.killDomainSync(name));
    try {
      await createOverlay(this.ctx.tiny.disk, path.join(dir, 'root.qcow2'));
      const created = await this.virsh(src, ['create', xmlFile], 120_000);
      if (created.code !== 0) throw new Error(`virsh create: ${created.stderr.trim()}`);
      // libvirt holds the guest agent channel itself once the guest opens it, so the agent is reached through libvirt.
      await this.waitForGuestAgent(src, name);
      if (load === 'busy') {
        for (const script of [BUSY_SETUP, BUSY_LOOP]) await this.guestExec(src, name, script);
        await sleep(2_000);
      }
      return await this.migrateDomain(src, dst, name, load);
    } finally {
      for (const daemon of [src, dst]) await this.virsh(daemon, ['destroy', name]).catch(() => undefined);
      this.killDomainSync(name);
      release();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Sends one guest agent command through libvirt (`virsh qemu-agent-command`) and returns its `return` value. */
  private async agentCommand(daemon: Daemon, name: string, command: object): Promise<unknown> {
    const result = await this.virsh(daemon, ['qemu-agent-command', name, JSON.stringify(command)]);
    if (result.code !== 0) throw new Error(`virsh qemu-agent-command: ${result.stderr.trim()}`);
    return (JSON.parse(result.stdout) as { return?: unknown }).return;
  }

  private async waitForGuestAgent(daemon: Daemon, name: string): Promise<void> {
    const deadline = Date.now() + BOOT_TIMEOUT_MS;
    for (;;) {
      try {
        await this.agentCommand(daemon, name, { execute: 'guest-ping' });
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`the guest agent did not answer within ${BOOT_TIMEOUT_MS / 1000} s: ${message(err)}`);
      }
      await sleep(200);
    }
  }

  /** Runs `sh -c script` in the guest through libvirt and waits for it to exit 0. */
  private async guestExec(daemon: Daemon, name: string, script: string): Promise<void> {
    const started = (await this.agentCommand(daemon, name, { execute: 'guest-exec', arguments: { path: '/bin/sh', arg: ['-c', script], 'capture-output': true } })) as { pid: number };
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      const status = (await this.agentCommand(daemon, name, { execute: 'guest-exec-status', arguments: { pid: started.pid } })) as { exited: boolean; exitcode?: number };
      if (status.exited) {
        if (status.exitcode !== 0) throw new Error(`guest command failed (${status.exitcode}): ${script}`);
        return;
      }
      await sleep(200);
    }
    throw new Error(`guest command still running after 120 s: ${script}`);
  }

  private async migrateDomain(src: Daemon, dst: Daemon, name: string, load: Load): Promise<Measured> {
    // --unsafe only skips libvirt's check that the disk is on a cluster filesystem (or cache=none): the disk is on
    // storage both daemons see, as Drover's shared pool is. Nothing else is set: libvirt's defaults throughout.
    // What libvirt's default bandwidth is (read only; it differs from QEMU's own 128 MiB/s default).
    const speed = (await this.virsh(src, ['migrate-getspeed', name])).stdout.trim();
    const args = ['-c', src.uri, 'migrate', '--live', '--unsafe', '--verbose', name, dst.uri];
    const started = performance.now();
    const child = spawn('virsh', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const done = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    const bound = load === 'busy' ? BUSY_BOUND_MS : MIGRATE_TIMEOUT_MS;
    const finished = await Promise.race([done, sleep(bound).then(() => undefined)]);
    if (finished === undefined) {
      const progress = parseJobInfo((await this.virsh(src, ['domjobinfo', name])).stdout);
      const abort = await this.virsh(src, ['domjobabort', name]);
      const code = await Promise.race([done, sleep(30_000).then(() => 'still running')]);
      if (code === 'still running') await stopChild(child, 'SIGKILL');
      const dirtyPages = numberOf(progress, 'Dirty rate') ?? 0;
      const state = (await this.virsh(src, ['domstate', name])).stdout.trim();
      throw new DidNotConverge(
        `did not converge in ${bound / 1000} s (iteration ${progress.get('Iteration') ?? '?'}, ${progress.get('Data processed') ?? '?'} sent, ${((dirtyPages * 4096) / 2 ** 20).toFixed(0)} MiB/s dirtied); ` +
          `virsh domjobabort → ${abort.code === 0 ? 'aborted' : abort.stderr.trim()}, guest ${state || 'gone'} on the source`,
      );
    }
    const wallMs = performance.now() - started;
    if (finished !== 0) throw new Error(`virsh migrate exited ${finished}: ${output.trim().split('\n').slice(-2).join(' | ')}`);
    const state = (await this.virsh(dst, ['domstate', name])).stdout.trim();
    if (state !== 'running') throw new Error(`the domain is "${state}" on the destination after virsh migrate returned`);
    const info = parseJobInfo((await this.virsh(dst, ['domjobinfo', '--completed', name])).stdout);
    const totalMs = numberOf(info, 'Time elapsed');
    const downtimeMs = numberOf(info, 'Total downtime');
    if (totalMs === undefined || downtimeMs === undefined) throw new Error(`domjobinfo --completed has no time elapsed or downtime: ${JSON.stringify([...info])}`);
    return {
      totalMs,
      downtimeMs,
      wallMs: Math.round(wallMs),
      // libvirt's downtime already runs from pausing on the source to resuming on the destination.
      pausedMs: downtimeMs,
      detail: `iterations ${info.get('Iteration') ?? '?'}, ${info.get('Data processed') ?? '?'} sent, postcopy requests ${info.get('Postcopy requests') ?? '0'}, bandwidth limit ${speed || '?'} MiB/s (virsh migrate-getspeed)`,
    };
  }

  /** SIGKILLs domain `name`'s QEMU on either daemon, by the pid file libvirt wrote in that daemon's private /run/libvirt. */
  private killDomainSync(name: string): void {
    for (const daemon of this.daemons) killPid(ownedPid(path.join(daemon.root, 'run', 'qemu', `${name}.pid`), 'qemu-system-x86', `guest=${name}`), 'SIGKILL');
  }

  private killDaemonSync(daemon: Daemon): void {
    killPid(ownedPid(path.join(daemon.root, 'libvirtd.pid'), 'libvirtd', daemon.root), 'SIGKILL');
    killPid(ownedPid(path.join(daemon.root, 'virtlogd.pid'), 'virtlogd', daemon.root), 'SIGKILL');
    if (daemon.child?.pid !== undefined && daemon.child.exitCode === null) daemon.child.kill('SIGKILL');
  }

  /** Stops both daemons (SIGTERM, then SIGKILL) and virtlogds by their recorded pids, removes the namespaces, bridge and dirs. */
  async close(): Promise<void> {
    for (const daemon of this.daemons) {
      const virtlogd = ownedPid(path.join(daemon.root, 'virtlogd.pid'), 'virtlogd', daemon.root);
      if (daemon.child) await stopChild(daemon.child, 'SIGTERM', 10_000);
      killPid(ownedPid(path.join(daemon.root, 'libvirtd.pid'), 'libvirtd', daemon.root), 'SIGKILL');
      killPid(virtlogd, 'SIGTERM');
      for (let i = 0; i < 50 && virtlogd !== undefined && fs.existsSync(`/proc/${virtlogd}`); i++) await sleep(100);
      killPid(virtlogd, 'SIGKILL');
      await removeHostNetwork(daemon.host).catch(() => undefined);
      fs.rmSync(daemon.root, { recursive: true, force: true });
    }
    if (this.bridge) await removeBridge(this.bridge).catch(() => undefined);
    if (this.shared) fs.rmSync(this.shared, { recursive: true, force: true });
    for (const release of this.releases) release();
    this.releases = [];
  }
}
