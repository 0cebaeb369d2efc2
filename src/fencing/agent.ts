/**
 * Running a ClusterLabs fence agent (fence_ipmilan, fence_redfish, ...) and reading its answer.
 *
 * The interface, as relied on here:
 * - Options go to the agent's stdin as `key=value` lines, one per line; `#` lines are comments,
 *   unknown keys are ignored, and the last of repeated keys wins. No argv is passed: agents read
 *   stdin only when they get no arguments (fencing.py process_input()).
 * - Exit codes (ClusterLabs fence-agents doc/FenceAgentAPI.md, "Agent Operations and Return
 *   Values"; the same in Debian 12's fence-agents 4.12.1, /usr/share/fence/fencing.py
 *   fence_action(), whose fail() always exits EC_GENERIC_ERROR = 1):
 *     off, on, reboot: 0 success; 1 failure, including a device that could not be reached or a
 *       change that could not be verified.
 *     status: 0 reachable and on; 2 reachable and off; 1 unreachable or unknown. fencing.py also
 *       prints "Status: ON" / "Status: OFF" on stdout.
 *     monitor: 0 reachable; 1 unreachable; 2 reachable but off (single-port devices only).
 *     metadata: 0, with the XML on stdout.
 *   Any other exit code, or death by a signal, is taken as a failure: Drover never guesses.
 * - A timeout is a failure, never success (FenceAgentAPI.md, "Timeout is a failure, not success").
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DroverError } from '../shared/errors.js';
import { repoRoot } from '../shared/paths.js';
import { checkAgentName, checkFenceOptions, redactText } from './device.js';

/** The actions Drover asks agents for. */
export const FENCE_ACTIONS = ['off', 'on', 'reboot', 'status', 'monitor', 'metadata'] as const;
export type FenceAction = (typeof FENCE_ACTIONS)[number];
export type PowerState = 'on' | 'off';

/** What each action's success tells, on top of the agent's (redacted) output. */
export interface FenceActionResults {
  off: { done: true };
  on: { done: true };
  reboot: { done: true };
  status: { state: PowerState };
  /** `state` is 'off' only when a single-port device said so with exit code 2. */
  monitor: { reachable: true; state?: 'off' };
  metadata: { xml: string };
}

export type FenceAgentResult<A extends FenceAction> = FenceActionResults[A] & {
  action: A;
  /** The end of the agent's stdout and stderr, secrets removed; for showing to a person. */
  stdout: string;
  stderr: string;
};

/** Where agents are looked for, in order: these directories, then PATH, then the sbin directories. */
export interface FenceAgentLookup {
  agentDirs?: string[];
}

export interface RunFenceAgentOptions extends FenceAgentLookup {
  /** Kill the agent and fail after this long; default 60 s (Pacemaker's default stonith-timeout). */
  timeoutMs?: number;
  /** Aborting kills the agent as a timeout does; the call fails with FENCE_CANCELLED (FENCE_AGENT_TIMEOUT for a TimeoutError reason). */
  signal?: AbortSignal;
}

/** The error for a fence call given up because `signal` was aborted; a timeout signal reads as a timeout. */
export function abortedFenceError(signal: AbortSignal, describe: string): DroverError {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') return new DroverError('FENCE_AGENT_TIMEOUT', `${describe} was given up: ${reason.message}`);
  return new DroverError('FENCE_CANCELLED', `${describe} was cancelled${reason instanceof Error ? `: ${reason.message}` : ''}`);
}

const DEFAULT_TIMEOUT_MS = 60_000;
/** Fence agents live in sbin, which a non-root PATH often lacks; the repo's bin holds the simulated agent. */
const FALLBACK_DIRS = ['/usr/sbin', '/sbin', '/usr/local/sbin', path.join(repoRoot, 'bin')];
/** More than any agent's metadata (fence_ipmilan's is ~9 KiB); an agent writing more is broken. */
const MAX_OUTPUT_BYTES = 4 * 1024 * 1024;
/** How long to wait for an exited agent's pipes to close (a leftover child may hold them open). */
const PIPE_GRACE_MS = 1000;
/** How long to wait for the agent to die after SIGKILL before giving up on it. */
const KILL_GRACE_MS = 2000;

/** The absolute path of agent `name`; throws FENCE_AGENT_NOT_FOUND when it is malformed or not installed. */
export function resolveFenceAgent(name: string, lookup: FenceAgentLookup = {}): string {
  checkAgentName(name);
  // Relative PATH entries are skipped: the agent runs as root, and "." would run whatever the cwd holds.
  const pathDirs = (process.env.PATH ?? '').split(':').filter((dir) => path.isAbsolute(dir));
  for (const dir of [...(lookup.agentDirs ?? []), ...pathDirs, ...FALLBACK_DIRS]) {
    const candidate = path.join(dir, name);
    try {
      if (!fs.statSync(candidate).isFile()) continue;
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // Not here; try the next directory.
    }
  }
  throw new DroverError('FENCE_AGENT_NOT_FOUND', `${name} is not installed (looked in ${[...(lookup.agentDirs ?? []), 'PATH', ...FALLBACK_DIRS].join(', ')})`);
}

/** The stdin an agent gets: the options, then the action last so no option can override it. */
export function agentInput(options: Record<string, string>, action: FenceAction): string {
  return [...Object.entries(options).map(([key, value]) => `${key}=${value}`), `action=${action}`, ''].join('\n');
}

interface AgentExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The environment an agent runs with: enough to find its helpers, none of Drover's own secrets. */
function agentEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C', LC_ALL: 'C' };
  // Cloud agents (fence_aws, fence_gce) find their credentials files under HOME.
  if (process.env.HOME) env.HOME = process.env.HOME;
  if (process.env.TMPDIR) env.TMPDIR = process.env.TMPDIR;
  return env;
}

/**
 * Spawns the agent in its own process group, feeds it `input` and collects its output. On timeout
 * (or runaway output, or `abort`) it SIGKILLs that group by the pid it started, so helpers the
 * agent spawned (ipmitool, ssh) die with it, and rejects. `describe` names the call in errors; `redact` cleans text.
 */
function spawnAgent(program: string, input: string, timeoutMs: number, describe: string, redact: (text: string) => string, abort?: AbortSignal): Promise<AgentExit> {
  return new Promise((resolve, reject) => {
    if (abort?.aborted) return reject(abortedFenceError(abort, describe));
    const child = spawn(program, [], { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: agentEnvironment(), cwd: '/' });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let outputBytes = 0;
    let failure: DroverError | undefined;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];

    const finish = (): void => {
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      abort?.removeEventListener('abort', onAbort);
      child.stdout.destroy();
      child.stderr.destroy();
      if (failure) return reject(failure);
      const text = (chunks: Buffer[]): string => Buffer.concat(chunks).toString('utf8');
      resolve({ code: exit?.code ?? null, signal: exit?.signal ?? null, stdout: text(stdout), stderr: text(stderr) });
    };
    const killGroup = (why: DroverError): void => {
      // Once the agent is reaped its pid, and so the group id, may be reused: signal only before.
      if (exit || failure) return;
      failure = why;
      try {
        // A negative pid is the process group the agent leads (detached: true made it a leader).
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
      // If it does not die (uninterruptible sleep), give up waiting rather than hang the caller.
      timers.push(setTimeout(finish, KILL_GRACE_MS));
    };
    const tail = (): string => tailLines(redact(Buffer.concat(stderr).toString('utf8')) || redact(Buffer.concat(stdout).toString('utf8')));
    const collect = (into: Buffer[]) => (chunk: Buffer): void => {
      outputBytes += chunk.length;
      if (outputBytes > MAX_OUTPUT_BYTES) {
        killGroup(new DroverError('FENCE_AGENT_FAILED', `${describe} wrote more than ${MAX_OUTPUT_BYTES} bytes of output and was killed`));
      } else {
        into.push(chunk);
      }
    };

    timers.push(
      setTimeout(() => {
        const said = tail();
        killGroup(new DroverError('FENCE_AGENT_TIMEOUT', `${describe} ran longer than ${timeoutMs} ms and was killed (pid ${child.pid ?? '?'})${said ? `: ${said}` : ''}`));
      }, timeoutMs),
    );
    const onAbort = (): void => {
      if (abort) killGroup(abortedFenceError(abort, describe));
    };
    abort?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', collect(stdout));
    child.stderr.on('data', collect(stderr));
    // An agent may exit without reading stdin (metadata does); the EPIPE that follows means nothing.
    child.stdin.on('error', () => undefined);
    child.on('error', (err: NodeJS.ErrnoException) => {
      failure ??= new DroverError(err.code === 'ENOENT' ? 'FENCE_AGENT_NOT_FOUND' : 'FENCE_AGENT_FAILED', `${describe} could not be started: ${err.code ?? err.message}`, { cause: err });
      exit ??= { code: null, signal: null };
      finish();
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      timers.push(setTimeout(finish, PIPE_GRACE_MS));
    });
    child.on('close', finish);
    child.stdin.end(input);
  });
}

/** The last few non-empty lines of `text`, at most ~1000 characters, for error details. */
export function tailLines(text: string, lines = 8): string {
  const tail = text.split('\n').map((line) => line.trimEnd()).filter((line) => line.trim() !== '').slice(-lines).join('\n');
  return tail.length > 1000 ? `…${tail.slice(-1000)}` : tail;
}

/** The "Status: ON|OFF" line fencing.py prints, if any. */
function printedState(stdout: string): PowerState | undefined {
  for (const line of stdout.split('\n')) {
    const match = /^Status:\s*(ON|OFF)\s*$/i.exec(line.trim());
    if (match?.[1]) return match[1].toLowerCase() === 'on' ? 'on' : 'off';
  }
  return undefined;
}

/**
 * Runs `action` through fence agent `agentName` with `options` on stdin and reads the answer by
 * exit code (see the file comment). Throws FENCE_AGENT_NOT_FOUND, FENCE_OPTION_INVALID (before
 * anything runs), FENCE_AGENT_TIMEOUT, FENCE_AGENT_FAILED or FENCE_CANCELLED; no error or result
 * holds a secret.
 */
export async function runFenceAgent<A extends FenceAction>(
  agentName: string,
  options: Record<string, string>,
  action: A,
  run: RunFenceAgentOptions = {},
): Promise<FenceAgentResult<A>> {
  // Checked at run time too: the action is written to stdin, and callers may be untyped.
  if (!(FENCE_ACTIONS as readonly string[]).includes(action)) throw new DroverError('INVALID_ARGUMENT', `unknown fence action ${JSON.stringify(action)}`);
  checkFenceOptions(options);
  const program = resolveFenceAgent(agentName, run);
  const timeoutMs = run.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const describe = `${agentName} ${action}`;
  const redact = (text: string): string => redactText(text, options);
  // metadata needs no options, and the fewer places a password goes the better.
  const input = action === 'metadata' ? agentInput({}, action) : agentInput(options, action);
  const exit = await spawnAgent(program, input, timeoutMs, describe, redact, run.signal);

  const output = { stdout: tailLines(redact(exit.stdout)), stderr: tailLines(redact(exit.stderr)) };
  const failed = (why: string): DroverError => {
    const said = output.stderr || output.stdout;
    return new DroverError('FENCE_AGENT_FAILED', `${describe} ${why}${said ? `: ${said}` : ' and printed nothing'}`);
  };
  if (exit.signal) throw failed(`was killed by ${exit.signal}`);
  const code = exit.code;
  // The result is built per action below; TypeScript cannot narrow the generic A, hence the casts.
  const result = (fields: object): FenceAgentResult<A> => ({ action, ...output, ...fields }) as FenceAgentResult<A>;

  switch (action) {
    case 'off':
    case 'on':
    case 'reboot':
      if (code !== 0) throw failed(code === 1 ? 'failed (exit code 1)' : `exited with unexpected code ${code}`);
      return result({ done: true });
    case 'status': {
      if (code !== 0 && code !== 2) throw failed(code === 1 ? 'could not read the power state (exit code 1)' : `exited with unexpected code ${code}`);
      const state: PowerState = code === 0 ? 'on' : 'off';
      // A printed state that contradicts the exit code means a broken agent; trusting either half
      // could declare a running host off, so neither is.
      const printed = printedState(exit.stdout);
      if (printed && printed !== state) throw failed(`exited ${code} (${state}) but printed "Status: ${printed.toUpperCase()}"`);
      return result({ state });
    }
    case 'monitor':
      if (code !== 0 && code !== 2) throw failed(code === 1 ? 'could not reach the device (exit code 1)' : `exited with unexpected code ${code}`);
      return result(code === 2 ? { reachable: true, state: 'off' } : { reachable: true });
    case 'metadata':
      if (code !== 0) throw failed(`exited with code ${code}`);
      if (!exit.stdout.includes('<resource-agent')) throw failed('printed no <resource-agent> metadata');
      return result({ xml: exit.stdout, stdout: '' });
  }
  throw new DroverError('INTERNAL', `unknown fence action ${String(action)}`);
}
