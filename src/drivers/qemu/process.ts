import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { DroverError } from '../../shared/errors.js';

/** Path of the QEMU system emulator; DROVER_QEMU overrides. */
export function qemuBinary(): string {
  return process.env.DROVER_QEMU ?? 'qemu-system-x86_64';
}

/** True when `pid` is a live process (not a zombie waiting to be reaped). */
export function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state letter follows the parenthesised command name, which may itself contain spaces.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** True when `pid` is a QEMU whose command line mentions `marker` (guards against pid reuse). */
export function isOurQemu(pid: number, marker: string): boolean {
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(marker) && isAlive(pid);
  } catch {
    return false;
  }
}

/** Reads a QEMU pidfile; undefined when missing or unreadable. */
export function readPidFile(file: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export interface SpawnedQemu {
  pid: number;
  /** Resolves with the exit code and signal if this process started QEMU and QEMU exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts QEMU in its own session so it outlives the agent; its stdout and stderr go to `logFile`.
 * `cpus`, when given, pins the whole process to those host CPUs from the first instruction.
 */
export function spawnQemu(args: string[], logFile: string, cpus?: number[]): SpawnedQemu {
  const log = fs.openSync(logFile, 'a');
  const [cmd, argv] = cpus?.length
    ? ['taskset', ['-c', cpus.join(','), qemuBinary(), ...args]]
    : [qemuBinary(), args];
  try {
    const child = spawn(cmd, argv, { detached: true, stdio: ['ignore', log, log] });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.on('exit', (code, signal) => resolve({ code, signal }));
      child.on('error', () => resolve({ code: 127, signal: null }));
    });
    child.unref();
    if (child.pid === undefined) throw new DroverError('DEPENDENCY_MISSING', `${cmd} could not be started`);
    return { pid: child.pid, exited };
  } finally {
    fs.closeSync(log);
  }
}

/** The last lines of QEMU's own log, for error details. */
export function tailLog(file: string, lines = 5): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Sends a signal to `pid`, ignoring a process that is already gone. */
export function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
