/**
 * The testbed's state file, `<dir>/testbed.json`: everything `testbed up` made or is about to make
 * (namespaces, veths, the bridge, agent pids, directories), so `testbed down` can remove exactly
 * that, even after `up` crashed halfway. `up` writes each thing here before it creates it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DroverError } from '../shared/errors.js';
import { defaultDataDir } from '../shared/paths.js';

/** The file's name inside the testbed directory. */
export const STATE_FILE = 'testbed.json';

/** One simulated host: a network namespace with its own agent, data directory and address. */
export interface TestbedHost {
  /** The host's name at the controller: host1, host2... */
  name: string;
  /** Its network namespace: drvtb-<id>-h<n>. */
  namespace: string;
  /** The root-namespace end of its veth pair, a port of the testbed bridge (the other end is eth0 inside). */
  veth: string;
  /** Its IPv4 address on the testbed bridge. */
  address: string;
  /** Where its agent listens, as the controller calls it. */
  agentUrl: string;
  /** The agent's data directory: disks, images and QEMU runtime dirs (`run/<vm>/qemu.pid`). */
  dataDir: string;
  /** The agent's stdout and stderr. */
  logFile: string;
  /** The agent's pid once started; null before. */
  pid: number | null;
  /**
   * The one-time join token the agent first started with (spent once it joined): an agent started again with it
   * (power-on) sees it already joined and does not join anew.
   */
  joinToken?: string;
  /** Faults applied with `testbed fault` and not undone; absent: none. */
  faults?: { poweredOff: boolean; networkDown: boolean; frozen: boolean };
}

/** Everything one testbed consists of. */
export interface TestbedState {
  version: 1;
  /** Random hex id in every name the testbed gives the kernel. */
  id: string;
  /** The testbed directory (absolute). */
  dir: string;
  createdAt: string;
  storage: 'shared' | 'local';
  /** The directory standing in for NAS/NFS storage, passed to every agent; null for local storage. */
  sharedDir: string | null;
  /** The controller's URL as the hosts reach it (through the bridge). */
  controllerUrl: string;
  /** The agents' --cpu-overcommit, so an agent started again (power-on) starts the same way; absent: the agent's default. */
  cpuOvercommit?: number;
  /** The Linux bridge in the root namespace every host's veth is a port of. */
  bridge: { name: string; address: string; prefixLength: number };
  hosts: TestbedHost[];
}

/** The testbed directory when --dir is not given: `testbed` in Drover's data directory. */
export function defaultTestbedDir(): string {
  return path.join(defaultDataDir(), 'testbed');
}

/** The state of the testbed in `dir`, or undefined when there is none. */
export function readState(dir: string): TestbedState | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, STATE_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new DroverError('INTERNAL', `reading ${path.join(dir, STATE_FILE)}: ${(err as Error).message}`, { cause: err });
  }
  const state = JSON.parse(text) as Partial<TestbedState>;
  if (state.version !== 1 || typeof state.id !== 'string' || !Array.isArray(state.hosts) || !state.bridge) {
    throw new DroverError('INVALID_ARGUMENT', `${path.join(dir, STATE_FILE)} is not a Drover testbed state file`);
  }
  // Checked above for the fields `down` relies on; the rest was written by `up` itself.
  return state as TestbedState;
}

/** Writes the state atomically (a temp file renamed over the old one), so a crash never leaves half a file. */
export function writeState(state: TestbedState): void {
  const file = path.join(state.dir, STATE_FILE);
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(temp, file);
}

/** Removes the state file: the last step of `testbed down`. */
export function removeState(dir: string): void {
  fs.rmSync(path.join(dir, STATE_FILE), { force: true });
}
