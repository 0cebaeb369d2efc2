/**
 * A Drover cluster on this machine for the HA benchmark and the HA soak: `drover up --listen 0.0.0.0` on a temporary
 * data dir, with its own local host put in maintenance (it does not reach the testbed's shared storage, so it takes no
 * HA VM), and a testbed of three hosts with shared storage (`drover testbed up`), simulated watchdogs, and simulated
 * fence devices unless `fence: 'none'`.
 *
 * Faults are applied with the testbed's own code (`applyFault`, what `drover testbed fault` runs) in this process, so
 * the moment of the fault is known to the millisecond rather than after the CLI's start-up; power-on goes through the
 * CLI, because it starts the host's agent again with the CLI's own command line. QEMU processes are counted per VM
 * from each host's pid files checked against /proc (src/testbed/processes.ts `hostQemuPids`).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HaStatus } from '../../src/controller/ha/service.js';
import { run, type RunResult } from '../../src/shared/exec.js';
import { applyFault, type Fault } from '../../src/testbed/faults.js';
import { agentLogTail, hostQemuPids } from '../../src/testbed/processes.js';
import { readState, type TestbedHost } from '../../src/testbed/state.js';
import { testbedDown } from '../../src/testbed/down.js';
import type { TestbedController } from '../../src/testbed/up.js';
import { cleanupDrover, startDrover, type TestDrover } from '../../tests/helpers/up.js';
import { onInterrupt } from '../lib/cleanup.js';

const API_TIMEOUT_MS = 30_000;
const CLI = (repoRoot: string) => ['--import', 'tsx', path.join(repoRoot, 'src', 'cli', 'main.ts')];

/** A VM as GET /api/v1/vms/:name shows it (the fields the HA benchmark reads). */
export interface VmView {
  name: string;
  host: string | null;
  state: string;
  guestReady: boolean;
  pid: number | null;
}

/** An event as GET /api/v1/events lists it. */
export interface EventView {
  id: number;
  time: string;
  action: string;
  object: { type: string; name: string | null };
  detail: unknown;
}

/** One QEMU process of a VM on a testbed host; `stopped` when SIGSTOPped (a frozen host), so it runs no guest code. */
export interface QemuInstance {
  host: string;
  pid: number;
  stopped: boolean;
}

/** The one-letter state of `pid` (R, S, D, T...), or undefined when it is gone. */
function processState(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** The VM name a Drover QEMU runs, from its `-name guest=NAME,...` argument. */
function qemuVmName(pid: number): string | undefined {
  try {
    const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const value = args[args.indexOf('-name') + 1];
    return value ? /^guest=([^,]+)/.exec(value)?.[1] : undefined;
  } catch {
    return undefined;
  }
}

/** The message of any thrown value. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** What went wrong with a CLI command, for an error message. */
function cliFailure(args: string[], result: RunResult): string {
  const output = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-4).join(' | ');
  return `drover ${args.slice(0, 3).join(' ')} exited with ${result.code}: ${output}`;
}

/** A controller and a three-host testbed; see the file comment. `close` removes everything, also after a failed start. */
export class HaCluster {
  private drover: TestDrover | undefined;
  private readonly forget: () => void;

  private constructor(
    private readonly repoRoot: string,
    /** Holds the controller's data dir, its CLI config and the testbed; deleted by `close`. */
    readonly root: string,
    readonly fence: 'simulated' | 'none',
  ) {
    const testbedDir = this.testbedDir;
    this.forget = onInterrupt(() => {
      // Interrupted: finally blocks will not run, so the testbed goes down synchronously, through the CLI.
      if (this.drover) spawnSync(process.execPath, [...CLI(repoRoot), 'testbed', 'down', '--dir', testbedDir], { cwd: repoRoot, env: this.cliEnv(), stdio: 'ignore', timeout: 120_000 });
      const pid = this.drover?.process.pid;
      if (pid !== undefined) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      fs.rmSync(root, { recursive: true, force: true });
    });
  }

  /** Starts `drover up` and `testbed up --hosts 3 --storage shared --fence FENCE`, and parks the controller's own host. */
  static async start(repoRoot: string, prefix: string, fence: 'simulated' | 'none', log: (message: string) => void): Promise<HaCluster> {
    const cluster = new HaCluster(repoRoot, fs.mkdtempSync(path.join(os.tmpdir(), `drvb-${prefix}-`)), fence);
    try {
      fs.mkdirSync(cluster.configHome);
      cluster.drover = await startDrover(cluster.dataDir, cluster.configHome, '0.0.0.0');
      log(`${prefix}: drover up (pid ${cluster.drover.process.pid}) at ${cluster.drover.url}; testbed up --hosts 3 --storage shared --fence ${fence}`);
      const args = ['testbed', 'up', '--hosts', '3', '--storage', 'shared', '--fence', fence, '--dir', cluster.testbedDir, '-o', 'json'];
      const up = await cluster.cli(args, 300_000);
      if (up.code !== 0) throw new Error(cliFailure(args, up));
      const testbedNames = new Set(cluster.hosts().map((h) => h.name));
      const { hosts } = await cluster.api<{ hosts: Array<{ name: string }> }>('GET', '/api/v1/hosts');
      for (const { name } of hosts.filter((h) => !testbedNames.has(h.name))) {
        const parked = await cluster.api<{ operation: { id: string } }>('POST', `/api/v1/hosts/${name}/maintenance/enter`, { force: true });
        await cluster.waitOperation(parked.operation.id);
      }
      return cluster;
    } catch (err) {
      await cluster.close().catch((closeErr: unknown) => log(`${prefix}: clean-up after a failed start: ${errorText(closeErr)}`));
      throw err;
    }
  }

  get dataDir(): string {
    return path.join(this.root, 'data');
  }

  get configHome(): string {
    return path.join(this.root, 'config');
  }

  /** Short: a VM's runtime dir under it (host1/run/<uuid>) must leave room for its unix sockets' 108-byte paths. */
  get testbedDir(): string {
    return path.join(this.root, 'tb');
  }

  private cliEnv(): NodeJS.ProcessEnv {
    const drover = this.drover;
    return { ...process.env, ...(drover ? { DROVER_URL: drover.url, DROVER_TOKEN: drover.token } : {}), XDG_CONFIG_HOME: this.configHome };
  }

  /** Runs the CLI from source against this controller; never throws for a non-zero exit. */
  cli(args: string[], timeoutMs = 180_000): Promise<RunResult> {
    return run(process.execPath, [...CLI(this.repoRoot), ...args], { cwd: this.repoRoot, env: this.cliEnv(), allowFailure: true, timeoutMs });
  }

  /** Calls the controller's API; throws with the answer's code and message unless it is 2xx. */
  async api<T>(method: string, route: string, body?: unknown): Promise<T> {
    const drover = this.drover;
    if (!drover) throw new Error('the controller is not running');
    const res = await fetch(`${drover.url}${route}`, {
      method,
      headers: { authorization: `Bearer ${drover.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(API_TIMEOUT_MS),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${route}: HTTP ${res.status}: ${text.slice(0, 400)}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Waits for operation `id` to end; throws unless it succeeded. */
  async waitOperation(id: string, timeoutMs = 300_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const op = await this.api<{ state: string; error: unknown }>('GET', `/api/v1/operations/${id}?wait=10`);
      if (op.state === 'succeeded') return;
      if (op.state === 'failed' || op.state === 'cancelled') throw new Error(`operation ${id} ${op.state}: ${JSON.stringify(op.error)}`);
    }
    throw new Error(`operation ${id} did not end within ${timeoutMs / 1000} s`);
  }

  /** The testbed's hosts as its state file has them now. */
  hosts(): TestbedHost[] {
    const state = readState(this.testbedDir);
    if (!state) throw new Error(`no testbed in ${this.testbedDir}`);
    return state.hosts;
  }

  /** Creates HA VM `name` on `host` (shared pool, the tiny image), starts it and waits until its guest answers. */
  async createHaVm(name: string, host: string): Promise<void> {
    const args = ['vm', 'create', name, '--image', 'tiny', '--pool', 'shared', '--ha', '--host', host, '--start', '--wait', '-o', 'json'];
    const created = await this.cli(args, 300_000);
    if (created.code !== 0) throw new Error(cliFailure(args, created));
  }

  /** Deletes VM `name` (killing it first), waiting for the deletion; a VM that is not there is fine. */
  async deleteVm(name: string): Promise<void> {
    const drover = this.drover;
    if (!drover) return;
    const res = await fetch(`${drover.url}/api/v1/vms/${name}?force=true`, { method: 'DELETE', headers: { authorization: `Bearer ${drover.token}` }, signal: AbortSignal.timeout(API_TIMEOUT_MS) });
    if (res.status === 404) return;
    const body = (await res.json()) as { operation?: { id: string } };
    if (res.status !== 202 || !body.operation) throw new Error(`DELETE vm ${name}: HTTP ${res.status}: ${JSON.stringify(body)}`);
    await this.waitOperation(body.operation.id);
  }

  vm(name: string): Promise<VmView> {
    return this.api<VmView>('GET', `/api/v1/vms/${name}`);
  }

  haStatus(): Promise<HaStatus> {
    return this.api<HaStatus>('GET', '/api/v1/ha/status');
  }

  /** Events recorded at or after `since` (ISO), oldest first. */
  async eventsSince(since: string): Promise<EventView[]> {
    return (await this.api<{ events: EventView[] }>('GET', `/api/v1/events?since=${encodeURIComponent(since)}&order=asc&limit=1000`)).events;
  }

  /**
   * Applies `fault` to testbed host `host`. Power-on runs `drover testbed fault HOST power-on` (it waits until the
   * agent answers the controller again); the others run here, and resolve once the fault is done.
   */
  async fault(host: string, fault: Fault): Promise<void> {
    if (fault === 'power-on') {
      const args = ['testbed', 'fault', host, 'power-on', '--dir', this.testbedDir];
      const result = await this.cli(args, 180_000);
      if (result.code !== 0) throw new Error(cliFailure(args, result));
      return;
    }
    await applyFault(this.testbedDir, host, fault, this.controller());
  }

  /** The controller as the testbed's code reaches it (only power-on uses it, and that goes through the CLI). */
  private controller(): TestbedController {
    return {
      url: this.drover?.url ?? '',
      mintJoinToken: async () => (await this.api<{ token: string }>('POST', '/api/v1/hosts/join-tokens', {})).token,
      getHost: async (name) => this.api<{ health: string; address: string }>('GET', `/api/v1/hosts/${name}`).catch(() => undefined),
      removeHost: async (name) => void (await this.api('DELETE', `/api/v1/hosts/${name}`)),
      setFenceDevice: async (name, device) => void (await this.api('PUT', `/api/v1/hosts/${name}/fence`, device)),
    };
  }

  /** Every QEMU on the testbed's hosts, by the VM it runs. */
  census(): Map<string, QemuInstance[]> {
    const byVm = new Map<string, QemuInstance[]>();
    for (const host of this.hosts()) {
      for (const pid of hostQemuPids(host)) {
        const vm = qemuVmName(pid);
        const state = processState(pid);
        if (!vm || state === undefined) continue;
        byVm.set(vm, [...(byVm.get(vm) ?? []), { host: host.name, pid, stopped: state === 'T' || state === 't' }]);
      }
    }
    return byVm;
  }

  /** The last lines of `host`'s agent log, for failure messages. */
  agentLog(host: string, lines = 8): string {
    const found = this.hosts().find((h) => h.name === host);
    return found ? agentLogTail(found, lines) : '(no such host)';
  }

  /** Waits until every testbed host is judged ok by HA (or `timeoutMs` passes); returns the hosts that are not. */
  async waitHostsOk(timeoutMs: number): Promise<string[]> {
    const names = new Set(this.hosts().map((h) => h.name));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await this.haStatus();
      const notOk = status.hosts.filter((h) => names.has(h.name) && h.liveness !== 'ok').map((h) => `${h.name} ${h.liveness}`);
      if (notOk.length === 0 || Date.now() > deadline) return notOk;
      await sleep(250);
    }
  }

  /** Takes the testbed down, stops `drover up` (by its pid) and deletes the controller's data, the config and the temp dir. */
  async close(): Promise<void> {
    try {
      await testbedDown(this.testbedDir);
    } finally {
      await cleanupDrover(this.drover, this.dataDir);
      fs.rmSync(this.root, { recursive: true, force: true });
      this.forget();
    }
  }
}
