import { destroyContainers } from '../drivers/container/driver.js';
import fs from 'node:fs';
import path from 'node:path';
import { DroverError } from '../shared/errors.js';
import { removeBridge, removeHostNetwork } from './namespaces.js';
import { stopHardware, stopHostProcesses } from './processes.js';
import { readState, removeState, type TestbedState } from './state.js';
import type { TestbedController } from './up.js';

/** What `testbed down` removed. */
export interface DownResult {
  /** False when the directory held no testbed (nothing to do). */
  found: boolean;
  id?: string;
  /** Agent and QEMU pids that were stopped, and the hardware daemon's. */
  pids: number[];
  namespaces: string[];
  links: string[];
}

/** What the controller was told about a removed testbed's hosts. */
export interface ForgetResult {
  forgotten: string[];
  /** Hosts the controller keeps, with why (VM records still name them, or it could not be asked). */
  kept: Array<{ host: string; reason: string }>;
}

/**
 * Has the controller forget the testbed's hosts, so the next testbed starts from a clean host list.
 * Only a host at the testbed's own agent address is this testbed's (a same-named host elsewhere is
 * left alone), and the controller refuses one that VM records still name. Never throws.
 */
export async function forgetHosts(state: TestbedState, controller: TestbedController): Promise<ForgetResult> {
  const result: ForgetResult = { forgotten: [], kept: [] };
  for (const host of state.hosts) {
    try {
      const known = await controller.getHost(host.name);
      if (!known) continue;
      if (known.address !== host.agentUrl) {
        result.kept.push({ host: host.name, reason: `the controller's ${host.name} is at ${known.address}, not this testbed's ${host.agentUrl}` });
        continue;
      }
      await controller.removeHost(host.name);
      result.forgotten.push(host.name);
    } catch (err) {
      result.kept.push({ host: host.name, reason: (err as Error).message });
    }
  }
  return result;
}

/**
 * Removes the testbed in `dir`: its hardware daemon and agents (by recorded pid) and their QEMUs (by the
 * pids under each host's run dir), veths, namespaces, the bridge, and every file it made; the directory itself
 * goes too once empty. Idempotent; works on the state a crashed `testbed up` left. If a step fails
 * it carries on with the rest, keeps the state file so it can be run again, and throws.
 */
export async function testbedDown(dir: string): Promise<DownResult> {
  const state = readState(path.resolve(dir));
  if (!state) return { found: false, pids: [], namespaces: [], links: [] };
  return removeTestbed(state);
}

/** Removes everything `state` names; see testbedDown. */
export async function removeTestbed(state: TestbedState): Promise<DownResult> {
  const failures: string[] = [];
  const attempt = async (what: string, step: () => Promise<void> | void): Promise<void> => {
    try {
      await step();
    } catch (err) {
      failures.push(`${what}: ${(err as Error).message}`);
    }
  };
  const result: DownResult = { found: true, id: state.id, pids: [], namespaces: [], links: [] };

  // The hardware daemon first, so that it takes no host being stopped for one that lost power.
  await attempt('stopping the hardware daemon', async () => void result.pids.push(...(await stopHardware(state))));
  // Processes first: a namespace with live processes would only disappear from /run/netns.
  await Promise.all(state.hosts.map((host) => attempt(`stopping ${host.name}`, async () => void result.pids.push(...(await stopHostProcesses(host))))));
  // Containers leave mounts and loop devices behind them, which only their runtime files lead to.
  for (const host of state.hosts) await attempt(`containers of ${host.name}`, () => destroyContainers(path.join(host.dataDir, 'containers')));
  for (const host of state.hosts) {
    await attempt(`network of ${host.name}`, async () => {
      await removeHostNetwork(host);
      result.namespaces.push(host.namespace);
      result.links.push(host.veth);
    });
  }
  await attempt(`bridge ${state.bridge.name}`, async () => {
    await removeBridge(state.bridge);
    result.links.push(state.bridge.name);
  });
  if (failures.length > 0) throw new DroverError('INTERNAL', `testbed down left things behind; fix and run it again:\n${failures.join('\n')}`);

  for (const host of state.hosts) fs.rmSync(host.dataDir, { recursive: true, force: true });
  if (state.sharedDir) fs.rmSync(state.sharedDir, { recursive: true, force: true });
  if (state.fenceDir) fs.rmSync(state.fenceDir, { recursive: true, force: true });
  if (state.hardware) fs.rmSync(state.hardware.logFile, { force: true });
  removeState(state.dir);
  try {
    // Only when empty: the testbed never removes what it did not make.
    fs.rmdirSync(state.dir);
  } catch (err) {
    if (!['ENOENT', 'ENOTEMPTY', 'EEXIST'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
  }
  return result;
}
