/**
 * `testbed fault`: what goes wrong with a real host, done to a testbed host, for HA tests and demos.
 * - power-off: SIGKILL the host's agent and every QEMU it started (a pulled plug: nothing shuts down);
 *   power-on: start its agent again, which finds its data directory and joins as before.
 * - network-down / network-up: take the host's link to the testbed bridge down or up. The controller
 *   and the other hosts lose it; its own disks and the shared directory stay reachable, as storage
 *   on another network would (the host is isolated, not dead).
 * - freeze / thaw: SIGSTOP / SIGCONT the agent and its QEMUs, as a hung kernel would stop them.
 * Processes are found only by the pids the testbed and the agent recorded, checked against their
 * command lines; the fault state is kept in the state file, so `testbed status` shows it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isAlive } from '../drivers/qemu/process.js';
import { DroverError } from '../shared/errors.js';
import { run } from '../shared/exec.js';
import { hostQemuPids, isHostAgent, signal, startHostAgent, waitGone } from './processes.js';
import { readState, writeState, type TestbedHost, type TestbedState } from './state.js';
import { type TestbedController, waitForAgentBack } from './up.js';

export const FAULTS = ['power-off', 'power-on', 'network-down', 'network-up', 'freeze', 'thaw'] as const;
export type Fault = (typeof FAULTS)[number];

/** What a fault did. */
export interface FaultResult {
  host: string;
  fault: Fault;
  /** The processes it signalled or started. */
  pids: number[];
  /** The host's faults afterwards. */
  faults: TestbedHostFaults;
}

/** The faults a testbed host is under (all false: healthy). */
export interface TestbedHostFaults {
  poweredOff: boolean;
  networkDown: boolean;
  frozen: boolean;
}

/** The faults recorded for `host`. */
export function hostFaults(host: TestbedHost): TestbedHostFaults {
  return { poweredOff: host.faults?.poweredOff ?? false, networkDown: host.faults?.networkDown ?? false, frozen: host.faults?.frozen ?? false };
}

/** Why `fault` does not fit `host`'s state now, or undefined when it does. */
export function faultRefusal(fault: Fault, faults: TestbedHostFaults): string | undefined {
  switch (fault) {
    case 'power-off':
      return faults.poweredOff ? 'it is already powered off' : undefined;
    case 'power-on':
      return faults.poweredOff ? undefined : 'it is not powered off';
    case 'network-down':
      return faults.networkDown ? 'its network is already down' : undefined;
    case 'network-up':
      return faults.networkDown ? undefined : 'its network is not down';
    case 'freeze':
      if (faults.poweredOff) return 'it is powered off';
      return faults.frozen ? 'it is already frozen' : undefined;
    case 'thaw':
      return faults.frozen ? undefined : 'it is not frozen';
  }
}

/** The live processes of `host`: its agent (when it is the recorded one) and the QEMUs it started. */
function hostProcesses(host: TestbedHost): number[] {
  const agent = host.pid !== null && isHostAgent(host.pid, host) ? [host.pid] : [];
  return [...agent, ...hostQemuPids(host)];
}

/**
 * Applies `fault` to testbed host `hostName` in `dir`. TESTBED_FAULT_REFUSED when it does not fit the
 * host's state (power-on of a running host, thaw of one not frozen...); power-on waits until the agent
 * answers the controller again.
 */
export async function applyFault(dir: string, hostName: string, fault: Fault, controller: TestbedController): Promise<FaultResult> {
  const state: TestbedState | undefined = readState(path.resolve(dir));
  if (!state) throw new DroverError('TESTBED_NOT_FOUND', path.resolve(dir));
  const host = state.hosts.find((h) => h.name === hostName);
  if (!host) throw new DroverError('NOT_FOUND', `no testbed host ${hostName}; it has ${state.hosts.map((h) => h.name).join(', ')}`);
  const faults = hostFaults(host);
  const refusal = faultRefusal(fault, faults);
  if (refusal) throw new DroverError('TESTBED_FAULT_REFUSED', `${fault} ${hostName}: ${refusal}`);

  let pids: number[] = [];
  switch (fault) {
    case 'power-off': {
      pids = hostProcesses(host);
      for (const pid of pids) signal(pid, 'SIGKILL');
      if (!(await waitGone(pids, 10_000))) throw new DroverError('INTERNAL', `processes ${pids.filter(isAlive).join(', ')} of ${hostName} did not exit after SIGKILL`);
      faults.poweredOff = true;
      // A powered-off host is no longer frozen: nothing is left to thaw.
      faults.frozen = false;
      break;
    }
    case 'power-on': {
      const logOffset = fs.existsSync(host.logFile) ? fs.statSync(host.logFile).size : 0;
      host.pid = startHostAgent(host, {
        controllerUrl: state.controllerUrl,
        // The token it first joined with: the agent sees it already joined. A testbed from before tokens were kept gets a fresh one.
        joinToken: host.joinToken ?? (await controller.mintJoinToken()),
        sharedDir: state.sharedDir,
        ...(state.cpuOvercommit !== undefined ? { cpuOvercommit: state.cpuOvercommit } : {}),
      });
      pids = [host.pid];
      faults.poweredOff = false;
      host.faults = faults;
      writeState(state);
      // With its network down the agent cannot reach the controller; it runs, and that is all power-on promises.
      await waitForAgentBack(host, logOffset, faults.networkDown ? undefined : controller, 120_000);
      break;
    }
    case 'network-down':
    case 'network-up':
      await run('ip', ['link', 'set', 'dev', host.veth, fault === 'network-down' ? 'down' : 'up'], { errorCode: 'NETWORK_ERROR' });
      faults.networkDown = fault === 'network-down';
      break;
    case 'freeze':
    case 'thaw':
      pids = hostProcesses(host);
      for (const pid of pids) signal(pid, fault === 'freeze' ? 'SIGSTOP' : 'SIGCONT');
      faults.frozen = fault === 'freeze';
      break;
  }
  host.faults = faults;
  writeState(state);
  return { host: hostName, fault, pids, faults };
}
