/**
 * The testbed's state file, `<dir>/testbed.json`: everything `testbed up` made or is about to make
 * (namespaces, veths, the bridge, agent pids, directories), so `testbed down` can remove exactly
 * that, even after `up` crashed halfway. `up` writes each thing here before it creates it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isAlive } from '../drivers/qemu/process.js';
import { DroverError } from '../shared/errors.js';
import { defaultDataDir } from '../shared/paths.js';

/** The file's name inside the testbed directory. */
export const STATE_FILE = 'testbed.json';
/** Held while one writer re-reads, changes and writes the state (see updateState). */
const LOCK_FILE = `${STATE_FILE}.lock`;
const LOCK_TIMEOUT_MS = 10_000;

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
  /** Faults applied with `testbed fault` (or a power cut by the simulated hardware) and not undone; absent: none. */
  faults?: TestbedHostFaults;
  /** What cut the power of a host that is off: `testbed fault`, its simulated watchdog, or its simulated fence switch. */
  poweredOffBy?: PowerCut;
  /** The simulated watchdog's feed file (`<dataDir>/watchdog`), passed to the agent as `--watchdog simulated:FILE`; absent: no watchdog. */
  watchdogFile?: string;
  /** How often its simulated watchdog powered it off. */
  watchdogResets?: number;
  /** With --fence simulated: whether the controller took the host's fence device; absent until `up` tried. */
  fenceRegistered?: boolean;
  /** Why the controller did not take it. */
  fenceError?: string;
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

/** What powered a testbed host off. */
export type PowerCut = 'fault' | 'watchdog' | 'fence';

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
  /** --fence: simulated gives every host a simulated power switch (bin/fence_drover_simulated); absent in older testbeds: none. */
  fence?: 'simulated' | 'none';
  /** The switch's records, `<dir>/fence/<host>.pids` and `<host>.power`; null without a simulated fence. */
  fenceDir?: string | null;
  /** --watchdog: simulated gives every host a watchdog feed file that the hardware daemon watches; absent: none. */
  watchdog?: 'simulated' | 'none';
  /**
   * The simulated hardware daemon (`drover testbed hardware`, in the root namespace) that keeps the switch's pid
   * lists and runs the watchdogs; null when the testbed has neither. Its pid is null until it started.
   */
  hardware?: { pid: number | null; logFile: string } | null;
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

/** Removes the state file (and a lock left behind): the last step of `testbed down`. */
export function removeState(dir: string): void {
  fs.rmSync(path.join(dir, STATE_FILE), { force: true });
  fs.rmSync(path.join(dir, LOCK_FILE), { force: true });
}

/** Takes the state lock: a file made with O_EXCL holding our pid. A lock whose holder died is taken over. */
async function lock(dir: string): Promise<() => void> {
  const file = path.join(dir, LOCK_FILE);
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
  for (;;) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return () => fs.rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new DroverError('INTERNAL', `locking ${file}: ${(err as Error).message}`, { cause: err });
    }
    let holder = NaN;
    try {
      holder = Number(fs.readFileSync(file, 'utf8').trim());
    } catch {
      // Released meanwhile: try again at once.
      continue;
    }
    // Holders keep it for milliseconds; one that died holding it never releases it. (A newly started holder with the
    // dead one's pid is not taken for it: its pid is alive.)
    if (Number.isInteger(holder) && holder > 0 && !isAlive(holder)) {
      fs.rmSync(file, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new DroverError('INTERNAL', `${file} has been held by pid ${holder} for over ${LOCK_TIMEOUT_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Re-reads the state in `dir` under the state lock, lets `mutate` change it, and writes it back: how every
 * change after `testbed up` is made (faults, the hardware daemon), so no writer loses another's change.
 * Returns the state as written, or undefined when there is no testbed any more (nothing is written).
 */
export async function updateState(dir: string, mutate: (state: TestbedState) => void): Promise<TestbedState | undefined> {
  // A testbed taken down has no directory to lock in.
  if (!fs.existsSync(path.join(dir, STATE_FILE))) return undefined;
  const unlock = await lock(dir);
  try {
    const state = readState(dir);
    if (!state) return undefined;
    mutate(state);
    writeState(state);
    return state;
  } finally {
    unlock();
  }
}

/** updateState for one host, by name; NOT_FOUND when the testbed has no such host. */
export async function updateHost(dir: string, name: string, mutate: (host: TestbedHost, state: TestbedState) => void): Promise<TestbedState | undefined> {
  return updateState(dir, (state) => {
    const host = state.hosts.find((h) => h.name === name);
    if (!host) throw new DroverError('NOT_FOUND', `no testbed host ${name}; it has ${state.hosts.map((h) => h.name).join(', ')}`);
    mutate(host, state);
  });
}
