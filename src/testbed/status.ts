import path from 'node:path';
import { readSimulatedWatchdogRecord } from '../agent/watchdog.js';
import { readSimulatedPower } from '../fencing/simulated-device.js';
import { DroverError } from '../shared/errors.js';
import { namespaceExists } from './namespaces.js';
import { hostQemuPids, isHardwareDaemon, isHostAgent } from './processes.js';
import { hostFaults, readState, type PowerCut, type TestbedHost, type TestbedHostFaults, type TestbedState } from './state.js';

/** A testbed host's fence device: none, or its simulated power switch. */
export type TestbedHostFence =
  | { kind: 'none' }
  | {
      kind: 'simulated';
      /** The switch's power record: off once it fenced the host (until power-on). */
      power: 'on' | 'off';
      /** Whether the controller took it as the host's fence device; null before `up` tried. */
      registered: boolean | null;
      error?: string;
    };

/** A testbed host's watchdog: none, or its simulated one as the feed file says. */
export type TestbedHostWatchdog =
  | { kind: 'none' }
  | {
      kind: 'simulated';
      file: string;
      armed: boolean;
      /** While armed. */
      timeoutSeconds?: number;
      /** When the agent last fed it, while armed. */
      fedAt?: string;
      /** How often it powered the host off. */
      resets: number;
    };

/** One testbed host as it is now. */
export interface TestbedHostStatus {
  name: string;
  namespace: string;
  address: string;
  agentUrl: string;
  pid: number | null;
  namespaceExists: boolean;
  agentRunning: boolean;
  qemuPids: number[];
  /** The controller's view (healthy, unreachable...), when it could be asked. */
  health: string | null;
  /** Faults applied with `testbed fault` (or a power cut by the simulated hardware) and not undone. */
  faults: TestbedHostFaults;
  /** What cut the power of a host that is off. */
  poweredOffBy: PowerCut | null;
  fence: TestbedHostFence;
  watchdog: TestbedHostWatchdog;
}

/** The testbed's simulated hardware daemon, when it has one. */
export interface TestbedHardwareStatus {
  pid: number | null;
  running: boolean;
  logFile: string;
}

function fenceOf(state: TestbedState, host: TestbedHost): TestbedHostFence {
  if (!state.fenceDir) return { kind: 'none' };
  return {
    kind: 'simulated',
    power: readSimulatedPower(state.fenceDir, host.name).state,
    registered: host.fenceRegistered ?? null,
    ...(host.fenceError ? { error: host.fenceError } : {}),
  };
}

function watchdogOf(host: TestbedHost): TestbedHostWatchdog {
  if (!host.watchdogFile) return { kind: 'none' };
  const record = readSimulatedWatchdogRecord(host.watchdogFile);
  return {
    kind: 'simulated',
    file: host.watchdogFile,
    armed: record?.armed ?? false,
    ...(record?.armed ? { timeoutSeconds: record.timeoutSeconds, fedAt: record.fedAt } : {}),
    resets: host.watchdogResets ?? 0,
  };
}

/** The testbed in `dir` and what each of its hosts is doing; TESTBED_NOT_FOUND when there is none. */
export async function testbedStatus(
  dir: string,
  controllerHealth: (name: string) => Promise<string | null>,
): Promise<{ state: TestbedState; hosts: TestbedHostStatus[]; hardware: TestbedHardwareStatus | null }> {
  const state = readState(path.resolve(dir));
  if (!state) throw new DroverError('TESTBED_NOT_FOUND', path.resolve(dir));
  const hosts = await Promise.all(
    state.hosts.map(async (host) => ({
      name: host.name,
      namespace: host.namespace,
      address: host.address,
      agentUrl: host.agentUrl,
      pid: host.pid,
      namespaceExists: namespaceExists(host.namespace),
      agentRunning: host.pid !== null && isHostAgent(host.pid, host),
      qemuPids: hostQemuPids(host),
      health: await controllerHealth(host.name).catch(() => null),
      faults: hostFaults(host),
      poweredOffBy: hostFaults(host).poweredOff ? (host.poweredOffBy ?? 'fault') : null,
      fence: fenceOf(state, host),
      watchdog: watchdogOf(host),
    })),
  );
  const hardware = state.hardware
    ? { pid: state.hardware.pid, running: state.hardware.pid !== null && isHardwareDaemon(state.hardware.pid, state), logFile: state.hardware.logFile }
    : null;
  return { state, hosts, hardware };
}
