/** Runs a bounded HTTP load (a fixed list of GETs at a fixed concurrency) from a separate process. */
import { fork } from 'node:child_process';
import { onInterrupt } from '../lib/cleanup.js';

/** What the load generator is asked to do: GET each path of `warmupPaths` (not timed), then of `paths`. */
export interface LoadRequest {
  url: string;
  token: string;
  concurrency: number;
  warmupPaths: string[];
  paths: string[];
}

/** Latencies (ms, from sending the request to the last body byte) of the successful counted requests. */
export interface LoadReply {
  samples: number[];
  failures: string[];
  /** From the first counted request sent to the last one answered. */
  wallMs: number;
}

const WORKER = new URL(`./load-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/** Forks the load generator (with this process's loader flags, so it runs under tsx too) and waits for its reply. */
export function runLoad(load: LoadRequest): Promise<LoadReply> {
  return new Promise((resolve, reject) => {
    const child = fork(WORKER, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const forget = onInterrupt(() => child.kill('SIGKILL'));
    let reply: LoadReply | undefined;
    child.once('message', (message: LoadReply) => (reply = message));
    child.once('error', (err) => {
      forget();
      reject(err);
    });
    child.once('exit', (code, signal) => {
      forget();
      if (reply) resolve(reply);
      else reject(new Error(`the load generator exited (${signal ?? `code ${code}`}) without a reply`));
    });
    child.send(load);
  });
}
