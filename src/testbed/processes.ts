/**
 * The testbed's processes: one agent per host, started inside the host's namespace, the QEMUs
 * those agents start, and the simulated hardware daemon in the root namespace. All are only ever
 * found by the pids the testbed or the agent recorded, and a pid is signalled only when its command
 * line still names the host's directory or the testbed (pids get reused).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { isAlive, isOurQemu, readPidFile } from '../drivers/qemu/process.js';
import { containerProcesses } from '../drivers/container/driver.js';
import { DroverError } from '../shared/errors.js';
import { repoRoot } from '../shared/paths.js';
import { formatWatchdogSpec } from '../agent/watchdog.js';
import type { TestbedHost, TestbedState } from './state.js';

/** What the agent of `host` is started with, beyond its namespace. */
export interface AgentLaunch {
  controllerUrl: string;
  joinToken: string;
  sharedDir: string | null;
  /** vCPUs each host may place per physical CPU; absent: the agent's default. */
  cpuOvercommit?: number;
  /** The agent's --watchdog; absent: none. */
  watchdog?: string;
}

/** How `host`'s agent is started in testbed `state` with `joinToken`: the same at `up` and at every power-on. */
export function agentLaunch(state: TestbedState, host: TestbedHost, joinToken: string): AgentLaunch {
  return {
    controllerUrl: state.controllerUrl,
    joinToken,
    sharedDir: state.sharedDir,
    ...(state.cpuOvercommit !== undefined ? { cpuOvercommit: state.cpuOvercommit } : {}),
    ...(host.watchdogFile ? { watchdog: formatWatchdogSpec({ kind: 'simulated', feedFile: host.watchdogFile }) } : {}),
  };
}

/** The command that runs this very Drover CLI (from source under tsx, or compiled). */
function droverCommand(): string[] {
  const entry = process.argv[1];
  if (!entry) throw new DroverError('INTERNAL', 'cannot tell which drover program is running');
  return [process.execPath, ...process.execArgv, entry];
}

/**
 * Starts `drover agent` for `host` inside its network namespace (nsenter execs in place, so the pid
 * is the agent's), detached, logging to `host.logFile`; returns its pid. The admin token is kept
 * out of its environment: an agent needs only its join token.
 */
export function startHostAgent(host: TestbedHost, launch: AgentLaunch): number {
  const args = [
    'agent',
    '--controller', launch.controllerUrl,
    '--join-token', launch.joinToken,
    '--name', host.name,
    '--data-dir', host.dataDir,
    '--listen', `${host.address}:${new URL(host.agentUrl).port}`,
    ...(launch.sharedDir ? ['--shared-storage', launch.sharedDir] : []),
    ...(launch.cpuOvercommit !== undefined ? ['--cpu-overcommit', String(launch.cpuOvercommit)] : []),
    ...(launch.watchdog ? ['--watchdog', launch.watchdog] : []),
  ];
  // Only the network namespace changes. `ip netns exec` would also give the agent a mount namespace of its own,
  // with /sys remounted (no cgroup hierarchies in it) and gone with the agent, taking its containers' mounts along.
  return spawnDetached('nsenter', [`--net=/run/netns/${host.namespace}`, '--', ...droverCommand(), ...args], host.logFile);
}

/** Spawns `command` detached from this process (it outlives the CLI), logging to `logFile`, without the admin token. */
function spawnDetached(command: string, args: string[], logFile: string): number {
  const env = { ...process.env };
  delete env.DROVER_TOKEN;
  delete env.DROVER_URL;
  const log = fs.openSync(logFile, 'a');
  try {
    const child = spawn(command, args, { cwd: repoRoot, detached: true, stdio: ['ignore', log, log], env });
    child.unref();
    if (child.pid === undefined) throw new DroverError('DEPENDENCY_MISSING', `${command} could not be started`);
    return child.pid;
  } finally {
    fs.closeSync(log);
  }
}

/**
 * Starts the testbed's simulated hardware daemon, `drover testbed hardware --dir DIR --id ID`, in this (the root)
 * namespace, so that freezing a host does not freeze it; returns its pid. Precondition: `state.hardware` is set.
 */
export function startHardware(state: TestbedState): number {
  if (!state.hardware) throw new DroverError('INTERNAL', 'this testbed has no simulated hardware to start');
  return spawnDetached(process.execPath, [...droverCommand().slice(1), 'testbed', 'hardware', '--dir', state.dir, '--id', state.id], state.hardware.logFile);
}

/** True when `pid` is alive and is the hardware daemon of testbed `state` (its command line names the testbed's dir and id). */
export function isHardwareDaemon(pid: number, state: TestbedState): boolean {
  try {
    const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const value = (flag: string): string | undefined => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);
    return args.includes('hardware') && value('--dir') === state.dir && value('--id') === state.id && isAlive(pid);
  } catch {
    return false;
  }
}

/** Stops the hardware daemon by its recorded pid (SIGTERM, SIGKILL after 5 s); returns the pid when it signalled one. */
export async function stopHardware(state: TestbedState): Promise<number[]> {
  const pid = state.hardware?.pid;
  if (pid === undefined || pid === null || !isHardwareDaemon(pid, state)) return [];
  signal(pid, 'SIGTERM');
  if (!(await waitGone([pid], 5000))) signal(pid, 'SIGKILL');
  if (!(await waitGone([pid], 5000))) throw new DroverError('INTERNAL', `the testbed's hardware daemon (pid ${pid}) did not exit`);
  return [pid];
}

/** True when `pid` is alive and is the agent of `host` (its command line names the host's data dir). */
export function isHostAgent(pid: number, host: TestbedHost): boolean {
  try {
    const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const at = args.indexOf('--data-dir');
    return at >= 0 && args[at + 1] === host.dataDir && isAlive(pid);
  } catch {
    return false;
  }
}

/** Pids of the live QEMUs `host`'s agent started, from the pid files under its run directory. */
export function hostQemuPids(host: TestbedHost): number[] {
  const runDir = path.join(host.dataDir, 'run');
  let entries: string[];
  try {
    entries = fs.readdirSync(runDir);
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const id of entries) {
    const pid = readPidFile(path.join(runDir, id, 'qemu.pid'));
    if (pid !== undefined && isOurQemu(pid, path.join(runDir, id))) pids.push(pid);
  }
  return pids;
}

/** The live processes of `host`: its agent (when it is the recorded one), then the QEMUs and containers it started. */
export function hostProcesses(host: TestbedHost): number[] {
  const agent = host.pid !== null && isHostAgent(host.pid, host) ? [host.pid] : [];
  return [...agent, ...hostQemuPids(host), ...containerProcesses(path.join(host.dataDir, 'containers'))];
}

/**
 * A pulled plug: SIGKILLs `host`'s agent and every QEMU it started, nothing shuts down; returns the pids.
 * INTERNAL when some are still alive 10 s later.
 */
export async function killHostProcesses(host: TestbedHost): Promise<number[]> {
  const pids = hostProcesses(host);
  for (const pid of pids) signal(pid, 'SIGKILL');
  if (!(await waitGone(pids, 10_000))) throw new DroverError('INTERNAL', `processes ${pids.filter(isAlive).join(', ')} of ${host.name} did not exit after SIGKILL`);
  return pids;
}

/** Waits until none of `pids` is alive; false if some still are after `timeoutMs`. */
export async function waitGone(pids: number[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isAlive)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return true;
}

/** Sends `name` to `pid`, if it still exists. */
export function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

/**
 * Stops `host`'s agent (SIGTERM, then SIGKILL after 5 s), then kills its QEMUs; returns the pids
 * it signalled. Processes already gone are skipped, so it is safe to repeat.
 */
export async function stopHostProcesses(host: TestbedHost): Promise<number[]> {
  const stopped: number[] = [];
  if (host.pid !== null && isHostAgent(host.pid, host)) {
    stopped.push(host.pid);
    signal(host.pid, 'SIGTERM');
    if (!(await waitGone([host.pid], 5000))) signal(host.pid, 'SIGKILL');
    await waitGone([host.pid], 5000);
  }
  // After the agent, so it cannot start another QEMU meanwhile.
  const qemus = hostQemuPids(host);
  for (const pid of qemus) signal(pid, 'SIGKILL');
  if (!(await waitGone(qemus, 10_000))) throw new DroverError('INTERNAL', `QEMU processes ${qemus.filter(isAlive).join(', ')} of ${host.name} did not exit`);
  return [...stopped, ...qemus];
}

/** The last `lines` lines of a host's agent log, for error details. */
export function agentLogTail(host: TestbedHost, lines = 15): string {
  try {
    return fs.readFileSync(host.logFile, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
