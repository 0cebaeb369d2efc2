/**
 * The testbed's side of the simulated power switch, bin/fence_drover_simulated: the device config
 * that points at a testbed host, the pid list the switch kills when the host is fenced, and the
 * switch's power record, which the testbed reads (was the host fenced?) and sets on at power-on.
 * The record formats are described in that script's header; besides the script itself, this file
 * is the one writer of them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DroverError } from '../shared/errors.js';
import type { FenceDevice } from './device.js';

/** The simulated agent's name; it lives in the repository's bin/, where agent lookup finds it. */
export const SIMULATED_FENCE_AGENT = 'fence_drover_simulated';

/** The ways the simulated switch can misbehave, for tests. */
export type SimulatedMisbehaviour = 'fail' | 'hang' | 'ignore-off';

/** A fence device that is the simulated power switch of testbed host `host`, keeping its records in `stateDir`. */
export function simulatedFenceDevice(stateDir: string, host: string, simulate?: SimulatedMisbehaviour): FenceDevice {
  return { agent: SIMULATED_FENCE_AGENT, options: { plug: host, 'state-dir': stateDir, ...(simulate ? { simulate } : {}) } };
}

/** The same rule as the switch's plug, so a host name can only ever be a file in the state directory. */
function checkPlug(host: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(host)) throw new DroverError('INVALID_ARGUMENT', `${JSON.stringify(host)} is not a testbed host name`);
}

/** The argv of live process `pid` from /proc, or undefined when it is gone (or a zombie, whose cmdline is empty). */
function commandLine(pid: number): string[] | undefined {
  try {
    const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (args[args.length - 1] === '') args.pop();
    return args.length > 0 ? args : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Records `pids` as the processes that "run on" testbed host `host`, with their command lines so
 * the switch can tell a reused pid; pids already gone are left out. Replaces the list atomically.
 * List the host's agent before its QEMUs, so the switch kills the one that could start more first.
 */
export function writeSimulatedHostPids(stateDir: string, host: string, pids: number[]): void {
  checkPlug(host);
  const lines: string[] = [];
  for (const pid of pids) {
    if (!Number.isInteger(pid) || pid <= 1) throw new DroverError('INVALID_ARGUMENT', `${pid} is not a process id`);
    const argv = commandLine(pid);
    if (argv) lines.push(`${pid} ${JSON.stringify(argv)}`);
  }
  const file = path.join(stateDir, `${host}.pids`);
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, lines.map((line) => `${line}\n`).join(''));
  fs.renameSync(temporary, file);
}

/** The switch's power record for `host` and when it was last written; a host without one is on (`mtimeMs` null). */
export function readSimulatedPower(stateDir: string, host: string): { state: 'on' | 'off'; mtimeMs: number | null } {
  checkPlug(host);
  const file = path.join(stateDir, `${host}.power`);
  try {
    const mtimeMs = fs.statSync(file).mtimeMs;
    return { state: fs.readFileSync(file, 'utf8').trim() === 'off' ? 'off' : 'on', mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'on', mtimeMs: null };
    throw err;
  }
}

/** Sets the switch's power record for `host`, as its `on` and `off` actions do; the testbed's power-on sets it on. */
export function writeSimulatedPower(stateDir: string, host: string, state: 'on' | 'off'): void {
  checkPlug(host);
  const file = path.join(stateDir, `${host}.power`);
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, `${state}\n`);
  fs.renameSync(temporary, file);
}
