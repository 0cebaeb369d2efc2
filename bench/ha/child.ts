/** A forked helper process of the HA benchmark, asked things over IPC and answered by request id (lease-protocol.ts). */
import { fork, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { onInterrupt } from '../lib/cleanup.js';
import { exited, stopChild } from '../lib/process.js';
import type { ChildReply } from './lease-protocol.js';

/** A request without its id, which `ask` adds. */
type Unnumbered<R> = R extends { id: number } ? Omit<R, 'id'> : never;

/** One child process run from `module` (under this process's loader flags, so .ts runs under tsx too). */
export class IpcChild<Request extends { id: number; kind: string }> {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (reply: Record<string, unknown>) => void; reject: (err: Error) => void }>();
  private readonly child: ChildProcess;
  private readonly forget: () => void;
  private exitText: string | undefined;

  constructor(
    module: URL,
    private readonly name: string,
    execArgv: string[] = [],
  ) {
    this.child = fork(module, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [...process.execArgv, ...execArgv] });
    const child = this.child;
    this.forget = onInterrupt(() => child.kill('SIGKILL'));
    child.on('message', (message: ChildReply) => {
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (message.ok) waiter.resolve(message);
      else waiter.reject(new Error(`${this.name}: ${message.error}`));
    });
    child.on('exit', (code, signal) => {
      this.exitText = `${this.name} exited (${signal ?? `code ${code}`})`;
      for (const waiter of this.pending.values()) waiter.reject(new Error(this.exitText));
      this.pending.clear();
      this.forget();
    });
  }

  /** The child's pid. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Sends `request` and resolves with the child's answer; rejects on its error, its exit, or after `timeoutMs`. */
  ask<T extends Record<string, unknown> = Record<string, unknown>>(request: Unnumbered<Request>, timeoutMs = 60_000): Promise<T> {
    if (this.exitText) return Promise.reject(new Error(this.exitText));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: no answer to ${request.kind} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply as T);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      this.child.send({ ...request, id });
    });
  }

  /** Waits up to `waitMs` for the child to exit by itself (after a `stop` request), then kills it. */
  async close(waitMs = 15_000): Promise<void> {
    const gone = await Promise.race([exited(this.child).then(() => true), sleep(waitMs).then(() => false)]);
    if (!gone) await stopChild(this.child, 'SIGKILL');
    this.forget();
  }
}
