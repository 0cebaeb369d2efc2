/** Running host commands, and stopping only processes this benchmark started (by their pid, never by name). */
import { execFile, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

/** The outcome of a finished command. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `cmd` to completion (no shell) and returns its exit code and output; rejects only if it cannot start or times out. */
export function runCommand(cmd: string, args: string[], opts: { timeoutMs?: number; cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { timeout: opts.timeoutMs ?? 120_000, cwd: opts.cwd, env: opts.env, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        // execFile reports a non-zero exit as an error whose `code` is the exit status; anything else is a real failure.
        const code: unknown = err ? (err as { code?: unknown }).code : 0;
        if (typeof code === 'number') resolve({ code, stdout, stderr });
        else reject(new Error(`${cmd} ${args.join(' ')}: ${err?.message ?? 'failed'}${err?.killed ? ' (timed out)' : ''}`));
      },
    );
  });
}

/** Runs `cmd` and returns its stdout; throws with its stderr when it exits non-zero. */
export async function runChecked(cmd: string, args: string[], opts: { timeoutMs?: number; cwd?: string } = {}): Promise<string> {
  const result = await runCommand(cmd, args, opts);
  if (result.code !== 0) {
    const detail = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-3).join(' | ');
    throw new Error(`${cmd} ${args[0] ?? ''} exited with ${result.code}: ${detail}`);
  }
  return result.stdout;
}

/** Resolves once `child` has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Sends `signal` to `child` (a process this benchmark spawned) and waits up to `waitMs` for it to exit; SIGKILL after. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL', waitMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const done = await Promise.race([exited(child).then(() => true), sleep(waitMs).then(() => false)]);
  if (!done) {
    child.kill('SIGKILL');
    await exited(child);
  }
}
