/** Debian's runc, run with a state directory of Drover's own, so Drover sees only the containers it made. */
import { spawn } from 'node:child_process';
import { DroverError } from '../../shared/errors.js';
import { run } from '../../shared/exec.js';
import type { ExecResult } from '../types.js';

export interface RuncState {
  status: 'created' | 'running' | 'paused' | 'stopped' | 'creating';
  pid: number;
}

/** Path of runc; DROVER_RUNC overrides. */
export function runcBinary(): string {
  return process.env.DROVER_RUNC ?? 'runc';
}

export class Runc {
  constructor(readonly root: string) {}

  /** The global options every runc call gets. */
  get globalArgs(): string[] {
    return ['--root', this.root];
  }

  /** The container's state, or undefined when runc does not know it. */
  async state(id: string): Promise<RuncState | undefined> {
    const result = await run(runcBinary(), [...this.globalArgs, 'state', id], { allowFailure: true, timeoutMs: 10_000 });
    if (result.code !== 0) return undefined;
    const parsed = JSON.parse(result.stdout) as { status: RuncState['status']; pid: number };
    return { status: parsed.status, pid: parsed.pid };
  }

  start(id: string): Promise<unknown> {
    return this.call(['start', id]);
  }

  /** Sends `signal` (a number) to init, or to every process with `all`. */
  kill(id: string, signal: number, all = false): Promise<unknown> {
    return this.call(['kill', ...(all ? ['--all'] : []), id, String(signal)]);
  }

  pause(id: string): Promise<unknown> {
    return this.call(['pause', id]);
  }

  resume(id: string): Promise<unknown> {
    return this.call(['resume', id]);
  }

  /** Forgets a stopped container (its cgroups go too); `force` kills it first. */
  async delete(id: string, force = false): Promise<void> {
    await run(runcBinary(), [...this.globalArgs, 'delete', ...(force ? ['--force'] : []), id], { allowFailure: true, timeoutMs: 30_000 });
  }

  /** Changes the resources of a running container (a JSON LinuxResources document on stdin). */
  update(id: string, resources: object): Promise<unknown> {
    return run(runcBinary(), [...this.globalArgs, 'update', '--resources', '-', id], {
      input: JSON.stringify(resources),
      timeoutMs: 30_000,
      errorCode: 'INVALID_ARGUMENT',
    });
  }

  /** Runs a program in the container as its root, with `input` on stdin; the exit code is the program's (128 + signal when killed). */
  exec(id: string, path: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(
        runcBinary(),
        [...this.globalArgs, 'exec', '--env', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '--env', 'HOME=/root', '--cwd', '/', id, path, ...args],
        { stdio: ['pipe', 'pipe', 'pipe'] },
      );
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, opts.timeoutMs ?? 60_000);
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(new DroverError('DEPENDENCY_MISSING', `runc: ${e.message}`, { cause: e }));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (timedOut) return reject(new DroverError('TIMEOUT', `${path} ran longer than ${opts.timeoutMs ?? 60_000} ms`));
        const stderr = Buffer.concat(err).toString('utf8');
        // runc itself failing (no such container, not running) is not the program's exit code.
        if (code !== 0 && /^time="[^"]*" level=error msg="exec failed/m.test(stderr)) {
          const why = /msg="([^"]*)"/.exec(stderr)?.[1] ?? stderr.trim();
          return reject(new DroverError(/no such file|not found/i.test(why) ? 'GUEST_EXEC_FAILED' : 'VM_NOT_RUNNING', why));
        }
        resolve({ exitCode: code ?? 128 + (signal ? 9 : 0), stdout: Buffer.concat(out).toString('utf8'), stderr });
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input ?? '');
    });
  }

  private call(args: string[]): Promise<unknown> {
    return run(runcBinary(), [...this.globalArgs, ...args], { timeoutMs: 30_000, errorCode: 'VM_START_FAILED' });
  }
}
