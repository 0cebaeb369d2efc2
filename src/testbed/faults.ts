/**
 * `testbed fault`: what goes wrong with a real host, done to a testbed host, for HA tests and demos.
 * - power-off: SIGKILL the host's agent and every QEMU it started (a pulled plug: nothing shuts down);
 *   power-on: start its agent again, which finds its data directory and joins as before.
 * - network-down / network-up: take the host's link to the testbed bridge down or up. The controller
 *   and the other hosts lose it; its own disks and the shared directory stay reachable, as storage
 *   on another network would (the host is isolated, not dead).
 * - freeze / thaw: SIGSTOP / SIGCONT the agent and its QEMUs, as a hung kernel would stop them.
 * Processes are found only by the pids the testbed and the agent recorded, checked against their
 * command lines; the fault state is kept in the state file, so `testbed status` shows it. The
 * testbed's simulated hardware powers hosts off too (watchdog, fence switch); power-on undoes that alike.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeSimulatedPower } from '../fencing/simulated-device.js';
import { DroverError } from '../shared/errors.js';
import { run } from '../shared/exec.js';
import { resetSimulatedWatchdog } from './hardware.js';
import { agentLaunch, hostProcesses, isHostAgent, killHostProcesses, signal, startHostAgent, waitGone } from './processes.js';
import { hostFaults, readState, updateHost, type TestbedHostFaults, type TestbedState } from './state.js';
import { type TestbedController, waitForAgentBack } from './up.js';

export const FAULTS = ['power-off', 'power-on', 'network-down', 'network-up', 'freeze', 'thaw', 'agent-crash'] as const;

/** How long a crashed agent stays down before it is started again: systemd's RestartSec for drover-agent. */
const AGENT_RESTART_DELAY_MS = 2_000;
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
    case 'agent-crash':
      if (faults.poweredOff) return 'it is powered off';
      if (faults.frozen) return 'it is frozen';
      return undefined;
    case 'thaw':
      return faults.frozen ? undefined : 'it is not frozen';
  }
}

/**
 * Applies `fault` to testbed host `hostName` in `dir`. TESTBED_FAULT_REFUSED when it does not fit the
 * host's state (power-on of a running host, thaw of one not frozen...); power-on waits until the agent
 * answers the controller again.
 */
export async function applyFault(dir: string, hostName: string, fault: Fault, controller: TestbedController): Promise<FaultResult> {
  const testbedDir = path.resolve(dir);
  const state: TestbedState | undefined = readState(testbedDir);
  if (!state) throw new DroverError('TESTBED_NOT_FOUND', testbedDir);
  const host = state.hosts.find((h) => h.name === hostName);
  if (!host) throw new DroverError('NOT_FOUND', `no testbed host ${hostName}; it has ${state.hosts.map((h) => h.name).join(', ')}`);
  const refusal = faultRefusal(fault, hostFaults(host));
  if (refusal) throw new DroverError('TESTBED_FAULT_REFUSED', `${fault} ${hostName}: ${refusal}`);

  let pids: number[] = [];
  // Only what this fault changes is written, over the state as it is then (the hardware daemon writes it too).
  let change: Partial<TestbedHostFaults>;
  switch (fault) {
    case 'power-off':
      pids = await killHostProcesses(host);
      // A powered-off host is no longer frozen: nothing is left to thaw.
      change = { poweredOff: true, frozen: false };
      break;
    case 'agent-crash':
    case 'power-on': {
      if (fault === 'agent-crash') {
        // The agent alone dies, as on a bug; its QEMUs keep running. systemd starts it again shortly after.
        if (host.pid !== null && isHostAgent(host.pid, host)) {
          signal(host.pid, 'SIGKILL');
          await waitGone([host.pid], 5_000);
        }
        await new Promise((resolve) => setTimeout(resolve, AGENT_RESTART_DELAY_MS));
      } else {
        // A power cycle, before the agent starts: the switch reads on again (else the hardware daemon would take the
        // running host for a fenced one), and the watchdog comes up disarmed, as a reset leaves real hardware.
        if (state.fenceDir) writeSimulatedPower(state.fenceDir, host.name, 'on');
        if (host.watchdogFile) resetSimulatedWatchdog(host.watchdogFile, 'reset: the host was powered on');
      }
      const logOffset = fs.existsSync(host.logFile) ? fs.statSync(host.logFile).size : 0;
      // The token it first joined with: the agent sees it already joined. A testbed from before tokens were kept gets a fresh one.
      const pid = startHostAgent(host, agentLaunch(state, host, host.joinToken ?? (await controller.mintJoinToken())));
      host.pid = pid;
      pids = [pid];
      const updated = await updateHost(testbedDir, hostName, (h) => {
        h.pid = pid;
        h.faults = { ...hostFaults(h), poweredOff: false };
        delete h.poweredOffBy;
      });
      const faults = hostFaults(updated?.hosts.find((h) => h.name === hostName) ?? host);
      // With its network down the agent cannot reach the controller; it runs, and that is all power-on promises.
      await waitForAgentBack(host, logOffset, faults.networkDown ? undefined : controller, 120_000);
      return { host: hostName, fault, pids, faults };
    }
    case 'network-down':
    case 'network-up':
      await run('ip', ['link', 'set', 'dev', host.veth, fault === 'network-down' ? 'down' : 'up'], { errorCode: 'NETWORK_ERROR' });
      change = { networkDown: fault === 'network-down' };
      break;
    case 'freeze':
    case 'thaw':
      pids = hostProcesses(host);
      for (const pid of pids) signal(pid, fault === 'freeze' ? 'SIGSTOP' : 'SIGCONT');
      change = { frozen: fault === 'freeze' };
      break;
  }
  const updated = await updateHost(testbedDir, hostName, (h) => {
    h.faults = { ...hostFaults(h), ...change };
    if (fault === 'power-off') h.poweredOffBy = 'fault';
  });
  return { host: hostName, fault, pids, faults: hostFaults(updated?.hosts.find((h) => h.name === hostName) ?? host) };
}
