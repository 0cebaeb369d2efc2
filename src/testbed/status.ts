import path from 'node:path';
import { DroverError } from '../shared/errors.js';
import { namespaceExists } from './namespaces.js';
import { hostQemuPids, isHostAgent } from './processes.js';
import { hostFaults, type TestbedHostFaults } from './faults.js';
import { readState, type TestbedState } from './state.js';

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
  /** Faults applied with `testbed fault` and not undone. */
  faults: TestbedHostFaults;
}

/** The testbed in `dir` and what each of its hosts is doing; TESTBED_NOT_FOUND when there is none. */
export async function testbedStatus(
  dir: string,
  controllerHealth: (name: string) => Promise<string | null>,
): Promise<{ state: TestbedState; hosts: TestbedHostStatus[] }> {
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
    })),
  );
  return { state, hosts };
}
