/**
 * `testbed up`: N hosts on one machine, each a network namespace with its own agent (and so its own
 * QEMUs), joined to a running controller through the public API. The hosts reach the controller at
 * the testbed bridge's address on the controller's port, so the controller must listen there too
 * (`drover up --listen 0.0.0.0`); `controllerUrl` overrides that address.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DroverError } from '../shared/errors.js';
import { simulatedFenceDevice } from '../fencing/simulated-device.js';
import type { FenceDevice } from '../fencing/device.js';
import { removeTestbed } from './down.js';
import { HARDWARE_STARTED_LINE } from './hardware.js';
import { bridgeFor, createBridge, createHostNetwork, hostNetwork, MAX_HOSTS, pickSubnet } from './namespaces.js';
import { isAlive } from '../drivers/qemu/process.js';
import { agentLaunch, agentLogTail, startHardware, startHostAgent } from './processes.js';
import { readState, STATE_FILE, updateHost, updateState, writeState, type TestbedHost, type TestbedState } from './state.js';

/** The controller as the testbed uses it: only through its public API. */
export interface TestbedController {
  /** The controller's URL as this machine reaches it (DROVER_URL). */
  url: string;
  /** POST /api/v1/hosts/join-tokens: a fresh one-time join token. */
  mintJoinToken(): Promise<string>;
  /** GET /api/v1/hosts/NAME: its health and address, or undefined when there is no such host. */
  getHost(name: string): Promise<{ health: string; address: string } | undefined>;
  /** DELETE /api/v1/hosts/NAME; throws the API's error (HOST_HAS_VMS while VM records name it). */
  removeHost(name: string): Promise<void>;
  /** PUT /api/v1/hosts/NAME/fence: the host's fence device, which HA powers it off with; throws the API's error. */
  setFenceDevice(name: string, device: FenceDevice): Promise<void>;
}

/** What `testbed up` builds, and against which controller. */
export interface TestbedUpOptions {
  dir: string;
  hosts: number;
  storage: 'shared' | 'local';
  controller: TestbedController;
  /** The controller's URL as the hosts reach it; default the bridge address on the controller's port. */
  controllerUrl?: string;
  /** vCPUs each host may place per physical CPU (the hosts share this machine's CPUs); default the agent's. */
  cpuOvercommit?: number;
  /** Host names are this plus 1..N; default `host`. */
  namePrefix?: string;
  /** simulated (default): every host gets a simulated power switch, registered at the controller as its fence device. */
  fence?: 'simulated' | 'none';
  /** simulated (default): every agent gets a simulated watchdog, which the hardware daemon runs. */
  watchdog?: 'simulated' | 'none';
  /** How long every agent together may take to join; default 120 s. */
  joinTimeoutMs?: number;
  /** Progress lines for people. */
  onProgress?: (message: string) => void;
  /** What went wrong without taking the testbed down (a fence device the controller did not take). */
  onWarning?: (message: string) => void;
}

const AGENT_PORT = 7701;
const JOINED_LINE = 'drover agent joined';
const LISTENING_LINE = 'drover agent listening on';

/**
 * Waits until `host`'s agent, started again, logs past `logOffset` that it listens and, when `controller` is
 * given, the controller sees the host healthy at its address; TESTBED_HOST_FAILED if the agent exits or time runs out.
 */
export async function waitForAgentBack(host: TestbedHost, logOffset: number, controller: TestbedController | undefined, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (host.pid === null || !isAlive(host.pid)) throw new DroverError('TESTBED_HOST_FAILED', `the agent of ${host.name} exited:\n${agentLogTail(host)}`);
    const log = fs.readFileSync(host.logFile).subarray(logOffset).toString('utf8');
    if (log.includes(LISTENING_LINE)) {
      const seen = controller ? await controller.getHost(host.name) : undefined;
      if (!controller || (seen?.health === 'healthy' && seen.address === host.agentUrl)) return;
    }
    if (Date.now() > deadline) throw new DroverError('TESTBED_HOST_FAILED', `${host.name}'s agent did not come back within ${timeoutMs / 1000} s:\n${agentLogTail(host)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The testbed as planned: every name and path, before anything exists. */
function plan(options: TestbedUpOptions, dir: string, subnet: number): TestbedState {
  const id = randomBytes(3).toString('hex');
  const bridge = bridgeFor(id, subnet);
  const port = new URL(options.controller.url).port || '80';
  const fence = options.fence ?? 'simulated';
  const watchdog = options.watchdog ?? 'simulated';
  const hosts: TestbedHost[] = Array.from({ length: options.hosts }, (_, index) => {
    const name = `${options.namePrefix ?? 'host'}${index + 1}`;
    const network = hostNetwork(id, subnet, index + 1);
    const dataDir = path.join(dir, name);
    return {
      name,
      ...network,
      agentUrl: `http://${network.address}:${AGENT_PORT}`,
      dataDir,
      logFile: path.join(dataDir, 'agent.log'),
      pid: null,
      ...(watchdog === 'simulated' ? { watchdogFile: path.join(dataDir, 'watchdog') } : {}),
    };
  });
  return {
    version: 1,
    id,
    dir,
    createdAt: new Date().toISOString(),
    storage: options.storage,
    sharedDir: options.storage === 'shared' ? path.join(dir, 'shared') : null,
    controllerUrl: options.controllerUrl ?? `http://${bridge.address}:${port}`,
    ...(options.cpuOvercommit !== undefined ? { cpuOvercommit: options.cpuOvercommit } : {}),
    fence,
    fenceDir: fence === 'simulated' ? path.join(dir, 'fence') : null,
    watchdog,
    hardware: fence === 'simulated' || watchdog === 'simulated' ? { pid: null, logFile: path.join(dir, 'hardware.log') } : null,
    bridge,
    hosts,
  };
}

/** Refuses a directory that holds a testbed, or anything else; creates it when missing. */
function claimDirectory(dir: string): void {
  if (readState(dir)) throw new DroverError('TESTBED_EXISTS', dir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const foreign = fs.readdirSync(dir).filter((entry) => entry !== STATE_FILE);
  if (foreign.length > 0) throw new DroverError('INVALID_ARGUMENT', `${dir} is not empty (${foreign.slice(0, 3).join(', ')}); give the testbed a directory of its own`);
}

/** Throws TESTBED_CONTROLLER_UNREACHABLE unless the controller answers at `url` (as the hosts will call it). */
async function checkControllerReachable(url: string): Promise<void> {
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(5000) });
    if (res.ok) return;
    throw new Error(`answered ${res.status}`);
  } catch (err) {
    const reason = err instanceof Error && err.cause instanceof Error ? err.cause.message : (err as Error).message;
    throw new DroverError('TESTBED_CONTROLLER_UNREACHABLE', `${url}/healthz: ${reason}`, { cause: err });
  }
}

/** Waits until every agent has logged its join and the controller calls it healthy; TESTBED_HOST_FAILED otherwise. */
async function waitForJoins(state: TestbedState, controller: TestbedController, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(state.hosts);
  while (pending.size > 0) {
    for (const host of [...pending]) {
      // Alive is enough here: the pid was spawned moments ago, and while nsenter and bin/drover exec into
      // node its /proc cmdline can read empty, which a command-line check would take for a different process.
      if (host.pid === null || !isAlive(host.pid)) {
        throw new DroverError('TESTBED_HOST_FAILED', `the agent of ${host.name} exited:\n${agentLogTail(host)}`);
      }
      if (!fs.readFileSync(host.logFile, 'utf8').includes(JOINED_LINE)) continue;
      const seen = await controller.getHost(host.name);
      if (seen?.health === 'healthy' && seen.address === host.agentUrl) pending.delete(host);
    }
    if (pending.size === 0) return;
    if (Date.now() > deadline) {
      const names = [...pending].map((h) => h.name).join(', ');
      throw new DroverError('TESTBED_HOST_FAILED', `${names} did not join within ${timeoutMs / 1000} s:\n${[...pending].map(agentLogTail).join('\n---\n')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Starts the hardware daemon and waits until it logs that it runs; TESTBED_HARDWARE_FAILED when it exits or takes over 30 s. */
async function startHardwareDaemon(state: TestbedState): Promise<TestbedState> {
  const hardware = state.hardware;
  if (!hardware) return state;
  const pid = startHardware(state);
  // Here too, so that a failure from now on (removeTestbed(state)) stops it.
  hardware.pid = pid;
  // Through the lock: from now on the daemon may write the state too.
  const updated = (await updateState(state.dir, (s) => void (s.hardware = { ...hardware }))) ?? state;
  const deadline = Date.now() + 30_000;
  const logTail = (): string => fs.readFileSync(hardware.logFile, 'utf8').trim().split('\n').slice(-15).join('\n');
  while (!fs.readFileSync(hardware.logFile, 'utf8').includes(HARDWARE_STARTED_LINE)) {
    if (!isAlive(pid)) throw new DroverError('TESTBED_HARDWARE_FAILED', `it exited:\n${logTail()}`);
    if (Date.now() > deadline) throw new DroverError('TESTBED_HARDWARE_FAILED', `it did not start within 30 s:\n${logTail()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return updated;
}

/**
 * Registers every host's simulated power switch as its fence device at the controller. A refusal (a
 * controller without the fence route answers 404) is recorded on the host and warned about, and the
 * testbed stays up: it still runs, only HA cannot fence its hosts.
 */
async function registerFenceDevices(state: TestbedState, controller: TestbedController, warn: (message: string) => void): Promise<TestbedState> {
  const fenceDir = state.fenceDir;
  if (!fenceDir) return state;
  let updated = state;
  for (const host of state.hosts) {
    let error: string | undefined;
    try {
      await controller.setFenceDevice(host.name, simulatedFenceDevice(fenceDir, host.name));
    } catch (err) {
      error = (err as Error).message;
      warn(`${host.name}: the controller did not take its fence device, so HA cannot fence it: ${error}`);
    }
    updated =
      (await updateHost(state.dir, host.name, (h) => {
        h.fenceRegistered = error === undefined;
        if (error === undefined) delete h.fenceError;
        else h.fenceError = error;
      })) ?? updated;
  }
  return updated;
}

/**
 * Starts the testbed: records the plan in `<dir>/testbed.json`, then creates the bridge, each
 * host's namespace and veth, starts and joins each agent, then starts the simulated hardware and
 * registers the hosts' fence devices (a refusal is only a warning). If any other step fails, everything made so
 * far is removed again before the error is thrown; if this process dies instead, `testbed down`
 * removes it. Returns the state.
 */
export async function testbedUp(options: TestbedUpOptions): Promise<TestbedState> {
  if (!Number.isInteger(options.hosts) || options.hosts < 1 || options.hosts > MAX_HOSTS) {
    throw new DroverError('INVALID_ARGUMENT', `--hosts must be 1-${MAX_HOSTS}, not ${options.hosts}`);
  }
  const progress = options.onProgress ?? (() => undefined);
  const dir = path.resolve(options.dir);
  claimDirectory(dir);
  const state = plan(options, dir, await pickSubnet());
  writeState(state);
  try {
    progress(`bridge ${state.bridge.name} (${state.bridge.address}/${state.bridge.prefixLength})`);
    await createBridge(state.bridge);
    await checkControllerReachable(state.controllerUrl);
    if (state.sharedDir) fs.mkdirSync(state.sharedDir, { recursive: true });
    if (state.fenceDir) fs.mkdirSync(state.fenceDir, { recursive: true, mode: 0o700 });
    for (const host of state.hosts) {
      progress(`${host.name}: namespace ${host.namespace}, ${host.address}`);
      fs.mkdirSync(host.dataDir, { recursive: true, mode: 0o700 });
      await createHostNetwork(host, state.bridge);
    }
    for (const host of state.hosts) {
      const joinToken = await options.controller.mintJoinToken();
      host.joinToken = joinToken;
      host.pid = startHostAgent(host, agentLaunch(state, host, joinToken));
      writeState(state);
      progress(`${host.name}: agent pid ${host.pid}`);
    }
    progress(`waiting for ${state.hosts.length} agent(s) to join ${state.controllerUrl}`);
    await waitForJoins(state, options.controller, options.joinTimeoutMs ?? 120_000);
    if (state.hardware) progress(`simulated hardware (${[state.fenceDir ? 'fence switches' : '', state.watchdog === 'simulated' ? 'watchdogs' : ''].filter(Boolean).join(', ')}), log ${state.hardware.logFile}`);
    const running = await startHardwareDaemon(state);
    return await registerFenceDevices(running, options.controller, options.onWarning ?? progress);
  } catch (err) {
    progress('testbed up failed; removing what it made');
    await removeTestbed(state).catch((cleanupErr: unknown) => progress(`cleanup incomplete (run \`drover testbed down\`): ${(cleanupErr as Error).message}`));
    throw err;
  }
}
