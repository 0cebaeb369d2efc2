/**
 * Everything the containers benchmark creates (processes, containers, mounts, loop devices, bridges, temp dirs,
 * kernel settings) is registered here as it is made, with its undo: an async one for the normal path and the
 * finally blocks, and a synchronous one for Ctrl-C (lib/cleanup.ts), when finally blocks do not run. Undos run
 * newest first, each at most once, and a failing one does not stop the others.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isAlive } from '../../src/drivers/qemu/process.js';
import { onInterrupt } from '../lib/cleanup.js';

interface Step {
  label: string;
  undo: () => Promise<void>;
  release: () => void;
}

/** A stack of undo steps; see the file comment. */
export class Teardown {
  private readonly steps: Step[] = [];

  constructor(private readonly log: (message: string) => void) {}

  /**
   * Registers a resource just made: `undo` removes it, `interrupted` does the same synchronously on Ctrl-C.
   * The returned function removes it now (and forgets the step); calling it again does nothing.
   */
  add(label: string, undo: () => Promise<void>, interrupted: () => void): () => Promise<void> {
    const step: Step = { label, undo, release: onInterrupt(interrupted) };
    this.steps.push(step);
    return async () => {
      const index = this.steps.indexOf(step);
      if (index === -1) return;
      this.steps.splice(index, 1);
      try {
        await step.undo();
      } finally {
        step.release();
      }
    };
  }

  /** Runs every remaining undo, newest first; logs failures and never throws. */
  async runAll(): Promise<void> {
    while (this.steps.length) {
      const step = this.steps.pop() as Step; // length > 0
      try {
        await step.undo();
      } catch (err) {
        this.log(`cleanup of ${step.label} failed: ${err instanceof Error ? err.message : String(err)}`);
      } finally {
        step.release();
      }
    }
  }
}

/** Runs a command synchronously for an interrupt-time undo, ignoring its failure (the thing may be gone already). */
export function quietly(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 10_000 });
  } catch {
    // Already gone, or cannot be helped while the process exits.
  }
}

/** SIGKILLs `pid` if it is alive and its command line still contains `marker` (so a reused pid is never hit). */
export function killIfOurs(pid: number | undefined, marker: string): void {
  if (!pid || !isAlive(pid)) return;
  try {
    if (!fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker)) return;
    process.kill(pid, 'SIGKILL');
  } catch {
    // Exited meanwhile.
  }
}

/**
 * A fresh temp directory for the benchmark's files, registered for removal. Mode 0755, because the containers'
 * mapped root users must be able to reach their root filesystems below it; the path stays short for unix sockets.
 */
export function makeWorkDir(teardown: Teardown, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
  fs.chmodSync(dir, 0o755);
  teardown.add(`directory ${dir}`, async () => removeDir(dir), () => removeDir(dir));
  return dir;
}

/** Removes `dir`, unless something is still mounted below it: then it throws rather than delete through the mount. */
export function removeDir(dir: string): void {
  const mounted = mountsBelow(dir);
  if (mounted.length) throw new Error(`left ${dir} in place: ${mounted.join(', ')} still mounted`);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Mount points at or below `dir`, in this process's mount namespace and in the host's (PID 1's). */
export function mountsBelow(dir: string): string[] {
  const found = new Set<string>();
  for (const table of ['/proc/self/mountinfo', '/proc/1/mountinfo']) {
    let text = '';
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const mountPoint = line.split(' ')[4]?.replace(/\\040/g, ' ');
      if (mountPoint && (mountPoint === dir || mountPoint.startsWith(`${dir}/`))) found.add(mountPoint);
    }
  }
  return [...found];
}
