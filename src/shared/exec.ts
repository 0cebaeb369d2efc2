import { spawn } from 'node:child_process';
import { DroverError, type ErrorCode } from './errors.js';

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface RunOptions {
  timeoutMs?: number;
  input?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Error code thrown on a non-zero exit; default INTERNAL. */
  errorCode?: ErrorCode;
  /** Return the result instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
}

/** Runs a program (no shell) and collects its output; throws a DroverError on failure unless allowFailure. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, opts.timeoutMs)
      : undefined;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      const code = err.code === 'ENOENT' ? 'DEPENDENCY_MISSING' : (opts.errorCode ?? 'INTERNAL');
      reject(new DroverError(code, `${cmd}: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const result = { stdout, stderr, code: code ?? (signal ? 128 : 1) };
      if (timedOut) return reject(new DroverError('TIMEOUT', `${cmd} ${args.join(' ')} ran longer than ${opts.timeoutMs} ms`));
      if (result.code !== 0 && !opts.allowFailure) {
        const msg = (stderr.trim() || stdout.trim()).split('\n').slice(-5).join('\n');
        return reject(new DroverError(opts.errorCode ?? 'INTERNAL', `${cmd} exited ${result.code}: ${msg}`));
      }
      resolve(result);
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}
