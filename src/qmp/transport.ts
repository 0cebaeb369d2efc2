/**
 * Unix-socket plumbing shared by the QMP and guest-agent clients: connecting to a socket QEMU
 * may not have created yet, and cutting a byte stream into lines.
 */
import net from 'node:net';
import { StringDecoder } from 'node:string_decoder';

/** Errors worth retrying while QEMU is still starting: no socket file yet, or nobody listening on it yet. */
const RETRYABLE = new Set(['ENOENT', 'ECONNREFUSED', 'EAGAIN']);

/** Why connectUnixSocket gave up: the deadline passed (`timedOut`) or a non-retryable error (errno in `errno`). */
export class UnixConnectError extends Error {
  constructor(
    message: string,
    readonly timedOut: boolean,
    readonly errno: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'UnixConnectError';
  }
}

/** The message of anything thrown (catch clauses see `unknown`). */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function connectOnce(path: string, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(path);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error(`connect to ${path} timed out`), { code: 'ETIMEDOUT' }));
    }, Math.max(timeoutMs, 1));
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
  });
}

/**
 * Connects to a unix socket, retrying ENOENT/ECONNREFUSED with backoff (20 ms → 200 ms) until `deadline`
 * (a Date.now() value); throws UnixConnectError.
 */
export async function connectUnixSocket(path: string, deadline: number): Promise<net.Socket> {
  let delay = 20;
  let lastErrno: string | undefined;
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      throw new UnixConnectError(`no listener on ${path} before the deadline (last error: ${lastErrno ?? 'none'})`, true, lastErrno);
    }
    try {
      return await connectOnce(path, remaining);
    } catch (err) {
      // Socket errors from node:net are always ErrnoExceptions.
      const errno = (err as NodeJS.ErrnoException).code;
      if (errno === 'ETIMEDOUT') throw new UnixConnectError(`connect to ${path} timed out`, true, errno, { cause: err });
      if (!errno || !RETRYABLE.has(errno)) {
        throw new UnixConnectError(`cannot connect to ${path}: ${errorMessage(err)}`, false, errno, { cause: err });
      }
      lastErrno = errno;
    }
    await sleep(Math.min(delay, Math.max(deadline - Date.now(), 0)));
    delay = Math.min(delay * 2, 200);
  }
}

/** Cuts a UTF-8 byte stream into lines; keeps partial lines (and split multi-byte characters) for the next chunk. */
export class LineDecoder {
  private readonly decoder = new StringDecoder('utf8');
  private rest = '';

  /** Returns the complete, non-empty lines the chunk finishes, without their `\r\n` or `\n`. */
  push(chunk: Buffer | string): string[] {
    this.rest += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    const parts = this.rest.split('\n');
    this.rest = parts.pop() ?? '';
    return parts.map((line) => line.replace(/\r$/, '')).filter((line) => line.trim() !== '');
  }

  /** Bytes received after the last newline (for diagnostics). */
  get pending(): string {
    return this.rest;
  }
}
