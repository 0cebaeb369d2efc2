/**
 * Each container has a small monitor process, Debian's conmon: it runs `runc create`, holds the pty master of
 * the container's console (Node cannot receive that file descriptor over SCM_RIGHTS), logs what the console
 * prints, reaps init and writes its exit status to a file. Typing into the console goes through conmon's attach
 * socket, a SOCK_SEQPACKET socket Node cannot open either, so socat carries it.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DroverError } from '../../shared/errors.js';
import { runcBinary } from './runc.js';
import type { ConsoleConnection } from '../types.js';

/** The files of one container's monitor, all inside its runtime directory. */
export interface ConmonPaths {
  bundle: string;
  pidFile: string;
  initPidFile: string;
  exitDir: string;
  consoleLog: string;
  attachSocket: string;
}

export function conmonPaths(dir: string): ConmonPaths {
  return {
    bundle: path.join(dir, 'bundle'),
    pidFile: path.join(dir, 'conmon.pid'),
    initPidFile: path.join(dir, 'init.pid'),
    exitDir: path.join(dir, 'exit'),
    consoleLog: path.join(dir, 'console.log'),
    attachSocket: path.join(dir, 'bundle', 'attach'),
  };
}

/** Most bytes of console log kept; conmon starts it again beyond this. */
const CONSOLE_LOG_MAX_BYTES = 4 * 1024 * 1024;

/**
 * Starts conmon, which runs `runc create` for container `id` from `paths.bundle`; resolves with init's pid once
 * it exists (stopped at its exec fifo until `runc start`). VM_START_FAILED with runc's complaint otherwise.
 */
export function createContainer(id: string, paths: ConmonPaths, runcGlobalArgs: string[]): Promise<{ initPid: number; conmonPid: number }> {
  fs.mkdirSync(paths.exitDir, { recursive: true });
  fs.rmSync(path.join(paths.exitDir, id), { force: true });
  const args = [
    '--api-version', '1',
    '-c', id, '-u', id, '-n', id,
    '-r', resolveBinary(runcBinary()),
    ...runcGlobalArgs.flatMap((a) => ['--runtime-arg', a]),
    '-b', paths.bundle,
    '-p', paths.initPidFile,
    '--conmon-pidfile', paths.pidFile,
    '--exit-dir', paths.exitDir,
    '-l', `k8s-file:${paths.consoleLog}`,
    '--log-size-max', String(CONSOLE_LOG_MAX_BYTES),
    '--full-attach',
    '--socket-dir-path', path.dirname(paths.attachSocket),
    '-t',
    '--leave-stdin-open',
  ];
  return new Promise((resolve, reject) => {
    // conmon reports on the sync pipe (fd 3): {"pid": N} once runc created the container, or a negative pid and a message.
    const child = spawn('conmon', args, { detached: true, stdio: ['ignore', 'ignore', 'pipe', 'pipe'], env: { ...process.env, _OCI_SYNCPIPE: '3' } });
    let sync = '';
    let stderr = '';
    const timer = setTimeout(() => fail('conmon did not report within 60 s'), 60_000);
    const fail = (why: string): void => {
      clearTimeout(timer);
      reject(new DroverError('VM_START_FAILED', why));
    };
    child.on('error', (err) => fail(`conmon: ${err.message}`));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const pipe = child.stdio[3] as NodeJS.ReadableStream;
    pipe.on('data', (d: Buffer) => {
      sync += d.toString();
      const match = /\{[^}]*\}/.exec(sync);
      if (!match) return;
      clearTimeout(timer);
      const message = JSON.parse(match[0]) as { pid?: number; data?: number; message?: string };
      const pid = message.pid ?? message.data ?? -1;
      const conmonPid = Number.parseInt(fs.readFileSync(paths.pidFile, 'utf8').trim(), 10);
      if (pid > 0) resolve({ initPid: pid, conmonPid });
      else reject(new DroverError('VM_START_FAILED', cleanRuncMessage(message.message ?? stderr) || 'runc create failed'));
      (pipe as unknown as { destroy(): void }).destroy();
    });
    pipe.on('end', () => {
      if (!/\{[^}]*\}/.test(sync)) fail(cleanRuncMessage(stderr) || 'conmon exited without reporting');
    });
    child.unref();
  });
}

/** The exit status conmon recorded for init (128 + signal when a signal ended it); undefined while none is written. */
export function readExitStatus(paths: ConmonPaths, id: string): number | undefined {
  try {
    const text = fs.readFileSync(path.join(paths.exitDir, id), 'utf8').trim();
    return text === '' ? undefined : Number.parseInt(text, 10);
  } catch {
    return undefined;
  }
}

/**
 * The console's output as the guest printed it. conmon's k8s-file log prefixes every chunk with a time, a stream
 * and P (partial line) or F (full line); this strips them back off.
 */
export function decodeConsoleLog(log: string): string {
  let out = '';
  for (const line of log.split('\n')) {
    const match = /^\S+ \S+ ([PF]) ?(.*)$/s.exec(line);
    if (!match) continue;
    out += match[1] === 'F' ? `${match[2]}\n` : match[2];
  }
  return out;
}

/** Follows the console log from its current end, and types into the console through conmon's attach socket. */
export function attachConsole(paths: ConmonPaths): ConsoleConnection {
  const outputListeners: Array<(data: Buffer) => void> = [];
  const closeListeners: Array<() => void> = [];
  let offset = fs.existsSync(paths.consoleLog) ? fs.statSync(paths.consoleLog).size : 0;
  let partial = '';
  let closed = false;
  const readNew = (): void => {
    let size: number;
    try {
      size = fs.statSync(paths.consoleLog).size;
    } catch {
      return;
    }
    if (size < offset) offset = 0; // conmon started the log again
    if (size === offset) return;
    const fd = fs.openSync(paths.consoleLog, 'r');
    try {
      const buf = Buffer.alloc(size - offset);
      fs.readSync(fd, buf, 0, buf.length, offset);
      offset = size;
      const text = partial + buf.toString('utf8');
      const cut = text.lastIndexOf('\n');
      partial = text.slice(cut + 1);
      const decoded = decodeConsoleLog(text.slice(0, cut + 1));
      if (decoded) for (const l of outputListeners) l(Buffer.from(decoded));
    } finally {
      fs.closeSync(fd);
    }
  };
  const timer = setInterval(readNew, 50);
  const input = spawn('socat', ['-u', 'STDIN', `UNIX-CONNECT:${paths.attachSocket},type=5`], { stdio: ['pipe', 'ignore', 'ignore'] });
  input.stdin.on('error', () => undefined);
  const close = (): void => {
    if (closed) return;
    closed = true;
    clearInterval(timer);
    input.kill();
    for (const l of closeListeners) l();
  };
  input.on('exit', close);
  input.on('error', close);
  return {
    write: (data) => {
      if (!closed) input.stdin.write(data);
    },
    onOutput: (l) => outputListeners.push(l),
    onClose: (l) => closeListeners.push(l),
    close,
  };
}

function cleanRuncMessage(text: string): string {
  const msgs = [...text.matchAll(/msg="((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]?.replace(/\\"/g, '"'));
  return (msgs.length ? msgs.join('; ') : text).trim().slice(0, 2000);
}

function resolveBinary(name: string): string {
  if (name.includes('/')) return name;
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const full = path.join(dir, name);
    if (fs.existsSync(full)) return full;
  }
  return name;
}
