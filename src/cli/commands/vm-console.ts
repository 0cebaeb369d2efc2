import type { IncomingMessage } from 'node:http';
import type { Command } from 'commander';
import WebSocket from 'ws';
import { DroverError, ERRORS } from '../../shared/errors.js';
import { ApiError, apiPath, type ApiClient } from '../client.js';
import { apiClient, withOutput, type OutputOptions } from '../options.js';
import { printJson } from '../output.js';
import { secondsToMs } from '../parse.js';

/** Ctrl-]: the byte that ends an interactive console session, as in telnet and virsh. */
const DETACH_BYTE = 0x1d;
/** With stdin not a terminal: once it ends, close after this long without console output. */
const PIPED_IDLE_CLOSE_MS = 1000;
/** How long after the upgrade the "connected" hint waits, so a refused attach shows only its error. */
const HINT_DELAY_MS = 150;

interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  signal?: number;
}

/** `drover vm console VM` and `drover vm exec VM -- CMD ARGS...`. */
export function registerVmConsoleCommands(vm: Command): void {
  vm.command('console')
    .description('Attach to the serial console (Ctrl-] detaches); --log prints what it has written so far')
    .argument('<vm>', 'VM name')
    .option('--log', 'print the console log and exit instead of attaching')
    .action(async (name: string, opts: { log?: boolean }) => {
      const client = apiClient();
      if (opts.log) {
        process.stdout.write(await client.request<string>('GET', apiPath('vms', name, 'console', 'log')));
        return;
      }
      await attachConsole(client, name);
    });

  const exec = vm
    .command('exec')
    .description("Run a command in the guest (through its agent); prints its output and exits with its exit code")
    .argument('<vm>', 'VM name')
    .argument('<command>', 'program to run, e.g. /bin/sh')
    .argument('[args...]', 'its arguments; put `--` before the command when they start with "-"')
    .option('-i, --stdin', 'send our standard input to the command')
    .option('--timeout <seconds>', 'kill the command after this long', secondsToMs)
    .usage('[options] <vm> -- <command> [args...]');
  withOutput(exec).action(async (name: string, command: string, args: string[], opts: OutputOptions & { stdin?: boolean; timeout?: number }) => {
    const client = apiClient();
    const input = opts.stdin ? await readStdin() : undefined;
    const body = { command, args, ...(input !== undefined ? { input } : {}), ...(opts.timeout !== undefined ? { timeoutMs: opts.timeout } : {}) };
    const result = await client.request<ExecResult>('POST', apiPath('vms', name, 'exec'), body);
    if (opts.output === 'json') printJson(result);
    else {
      process.stdout.write(result.stdout);
      process.stderr.write(result.stderr);
    }
    process.exitCode = exitCodeOf(result);
  });
}

/** Our exit code for the guest command's result: its own, or 128 + signal like a shell. */
export function exitCodeOf(result: { exitCode: number; signal?: number }): number {
  if (result.signal) return 128 + result.signal;
  return Number.isInteger(result.exitCode) && result.exitCode >= 0 && result.exitCode <= 255 ? result.exitCode : 1;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Joins stdin/stdout to the console WebSocket until Ctrl-], the server closing, or (piped) stdin ending. */
async function attachConsole(client: ApiClient, name: string): Promise<void> {
  const url = `${(await client.workingUrl()).replace(/^http/, 'ws')}${apiPath('vms', name, 'console')}`;
  const socket = new WebSocket(url, { headers: { authorization: `Bearer ${client.token}` } });
  const stdin = process.stdin;
  const interactive = stdin.isTTY;
  await new Promise<void>((resolve, reject) => {
    let idleTimer: NodeJS.Timeout | undefined;
    let hintTimer: NodeJS.Timeout | undefined;
    let hinted = false;
    let stdinEnded = false;
    const armIdleClose = (): void => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => socket.close(1000, 'input ended'), PIPED_IDLE_CLOSE_MS);
    };
    const showHint = (): void => {
      if (hinted) return;
      hinted = true;
      clearTimeout(hintTimer);
      process.stderr.write(`Connected to the serial console of VM ${name}.${interactive ? ' Press Ctrl-] to detach.' : ''}\r\n`);
    };
    const onInput = (chunk: Buffer): void => {
      const detachAt = chunk.indexOf(DETACH_BYTE);
      if (detachAt < 0) return socket.send(chunk);
      if (detachAt > 0) socket.send(chunk.subarray(0, detachAt));
      socket.close(1000, 'detached');
    };
    const onInputEnd = (): void => {
      stdinEnded = true;
      armIdleClose();
    };
    const cleanup = (): void => {
      clearTimeout(idleTimer);
      clearTimeout(hintTimer);
      stdin.off('data', onInput);
      stdin.off('end', onInputEnd);
      if (interactive) stdin.setRawMode(false);
      stdin.pause();
    };
    // The upgrade was refused: the body is the API's error. (With this listener, ws emits no 'error' for it.)
    socket.on('unexpected-response', (_request, response) => {
      void responseError(response)
        .then(reject, reject)
        .finally(() => {
          cleanup();
          socket.terminate();
        });
    });
    socket.on('error', (err) => {
      cleanup();
      reject(new DroverError('CONTROLLER_UNREACHABLE', `console connection to ${url} failed: ${err.message}`, { cause: err }));
    });
    socket.on('open', () => {
      // The API refuses an unknown or stopped VM by closing right after the upgrade: hint only once that has not happened.
      hintTimer = setTimeout(showHint, HINT_DELAY_MS);
      if (interactive) stdin.setRawMode(true);
      stdin.on('data', onInput);
      stdin.on('end', onInputEnd);
      stdin.resume();
    });
    socket.on('message', (data: Buffer) => {
      showHint();
      process.stdout.write(data);
      if (stdinEnded) armIdleClose();
    });
    socket.on('close', (code, reason) => {
      cleanup();
      const why = reason.toString();
      if (code !== 1000 && code !== 1001 && code !== 1005) return reject(closeError(code, why));
      if (interactive) process.stderr.write(`\r\nDetached from VM ${name}${why && why !== 'detached' ? ` (${why})` : ''}.\r\n`);
      resolve();
    });
  });
}

/** The ApiError carried by a refused WebSocket upgrade (e.g. 404 VM_NOT_FOUND, 409 VM_NOT_RUNNING). */
async function responseError(response: IncomingMessage): Promise<ApiError> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  let body: { code?: string; message?: string; detail?: string; field?: string } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // Not the API's error shape: report the status.
  }
  const status = response.statusCode ?? 500;
  return new ApiError(status, body.code ?? 'INTERNAL', body.message ?? `HTTP ${status} on the console WebSocket: ${text.slice(0, 200)}`, body.detail, body.field);
}

/**
 * The error a console WebSocket closed with. The API closes with 4000 + HTTP status and the error's
 * message (cut to fit a close frame) as the reason; the code is found by that message in the error table.
 */
export function closeError(code: number, reason: string): Error {
  if (code >= 4000 && code < 5000) {
    const match = Object.entries(ERRORS).find(([, e]) => e.status === code - 4000 && (reason.startsWith(e.message) || e.message.startsWith(reason)));
    const message = match && reason.startsWith(match[1].message) ? match[1].message : reason;
    const detail = match ? /^ \((.*)\)$/s.exec(reason.slice(message.length))?.[1] : undefined;
    return new ApiError(code - 4000, match?.[0] ?? 'INTERNAL', message || `HTTP ${code - 4000}`, detail);
  }
  return new DroverError('HOST_UNREACHABLE', `the console connection closed with code ${code}${reason ? `: ${reason}` : ''}`);
}
