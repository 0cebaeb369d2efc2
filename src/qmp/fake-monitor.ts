/**
 * A fake QMP monitor for tests: a unix-socket server that speaks QEMU's side of QMP (greeting,
 * capabilities negotiation, replies echoing `id`, timestamped events) with scriptable answers.
 * It stands in for QEMU where a test needs failures QEMU won't produce on demand.
 */
import fs from 'node:fs/promises';
import net from 'node:net';
import type { VersionInfo } from './commands.js';
import { errorMessage, LineDecoder, sleep } from './transport.js';
import { listenFakeSocket } from './fake-socket.js';

/** Return this from a handler to never answer the command. */
export const NO_REPLY: unique symbol = Symbol('NO_REPLY');

/** Throw this from a handler to answer `{"error": {"class", "desc"}}`. */
export class FakeQmpError extends Error {
  constructor(
    readonly qmpClass: string,
    desc: string,
  ) {
    super(desc);
    this.name = 'FakeQmpError';
  }
}

/** One command as the fake received it. */
export interface ReceivedCommand {
  execute: string;
  arguments: Record<string, unknown>;
  id: unknown;
}

/** Computes a command's `return` value; may be async (to delay), throw FakeQmpError, or return NO_REPLY. */
export type FakeCommandHandler = (args: Record<string, unknown>, command: ReceivedCommand) => unknown;

export interface FakeQmpMonitorOptions {
  /** Where to listen; default a socket in a fresh temporary directory, removed by close(). */
  socketPath?: string;
  version?: VersionInfo;
  /** Cut every outgoing message into pieces of this many bytes, written a few ms apart. */
  chunkSize?: number;
  /** Wait this long after a client connects before sending the greeting. */
  greetingDelayMs?: number;
}

interface Connection {
  socket: net.Socket;
  negotiated: boolean;
  outbox: Promise<void>;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const DEFAULT_VERSION: VersionInfo = { qemu: { major: 7, minor: 2, micro: 0 }, package: 'fake-monitor' };

/** A scriptable stand-in for QEMU's QMP monitor socket. Create it with FakeQmpMonitor.start(). */
export class FakeQmpMonitor {
  /** Every command received after negotiation (qmp_capabilities included), in arrival order. */
  readonly received: ReceivedCommand[] = [];
  private readonly handlers = new Map<string, FakeCommandHandler>();
  private readonly connections = new Set<Connection>();
  private readonly commandWaiters: { command: string; resolve: (c: ReceivedCommand) => void }[] = [];
  private readonly clientWaiters: (() => void)[] = [];

  private constructor(
    private readonly server: net.Server,
    readonly socketPath: string,
    private readonly ownedDir: string | undefined,
    private readonly opts: FakeQmpMonitorOptions,
  ) {
    const version = opts.version ?? DEFAULT_VERSION;
    this.handle('qmp_capabilities', () => ({}));
    this.handle('query-version', () => version);
    this.handle('query-status', () => ({ status: 'running', running: true, singlestep: false }));
    server.on('connection', (socket) => this.accept(socket));
  }

  /** Starts listening; a stale socket file at socketPath is replaced, as QEMU does. */
  static async start(opts: FakeQmpMonitorOptions = {}): Promise<FakeQmpMonitor> {
    const { server, socketPath, ownedDir } = await listenFakeSocket(opts.socketPath, 'drover-fake-qmp-', 'qmp.sock');
    return new FakeQmpMonitor(server, socketPath, ownedDir, opts);
  }

  /** Sets how `command` is answered (replacing any earlier handler). */
  handle(command: string, handler: FakeCommandHandler): this {
    this.handlers.set(command, handler);
    return this;
  }

  /** Answers `command` with a fixed `return` value. */
  reply(command: string, value: unknown): this {
    return this.handle(command, () => value);
  }

  /** Answers `command` with a QMP error. */
  fail(command: string, qmpClass: string, desc: string): this {
    return this.handle(command, () => {
      throw new FakeQmpError(qmpClass, desc);
    });
  }

  /** Sends an event to every negotiated client. */
  emit(event: string, data?: Record<string, unknown>): void {
    const now = Date.now();
    const timestamp = { seconds: Math.floor(now / 1000), microseconds: (now % 1000) * 1000 };
    const message = data === undefined ? { timestamp, event } : { timestamp, event, data };
    for (const connection of this.connections) if (connection.negotiated) this.send(connection, message);
  }

  /** Writes raw text to every client, as is (for malformed or batched input). */
  sendRaw(text: string): void {
    for (const connection of this.connections) this.write(connection, text);
  }

  /** Destroys every client connection, as if QEMU had died. */
  dropConnection(): void {
    for (const connection of this.connections) connection.socket.destroy();
    this.connections.clear();
  }

  /** Resolves when a client is connected (at once if one already is). */
  waitForClient(): Promise<void> {
    if (this.connections.size > 0) return Promise.resolve();
    return new Promise((resolve) => this.clientWaiters.push(resolve));
  }

  /** Resolves with the next arrival of `command` after this call. */
  waitForCommand(command: string): Promise<ReceivedCommand> {
    return new Promise((resolve) => this.commandWaiters.push({ command, resolve }));
  }

  /** Number of connected clients. */
  get clientCount(): number {
    return this.connections.size;
  }

  /** Stops listening, drops clients and removes the temporary directory it created. */
  async close(): Promise<void> {
    this.dropConnection();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (this.ownedDir) await fs.rm(this.ownedDir, { recursive: true, force: true });
  }

  private accept(socket: net.Socket): void {
    const connection: Connection = { socket, negotiated: false, outbox: Promise.resolve() };
    this.connections.add(connection);
    socket.on('error', () => {}); // a client vanishing mid-write is normal in tests
    socket.on('close', () => this.connections.delete(connection));
    const decoder = new LineDecoder();
    socket.on('data', (chunk: Buffer) => {
      for (const line of decoder.push(chunk)) void this.onLine(connection, line);
    });
    for (const wake of this.clientWaiters.splice(0)) wake();
    const greet = (): void => {
      const version = this.opts.version ?? DEFAULT_VERSION;
      this.send(connection, { QMP: { version, capabilities: ['oob'] } });
    };
    if (this.opts.greetingDelayMs) {
      const timer = setTimeout(greet, this.opts.greetingDelayMs);
      socket.on('close', () => clearTimeout(timer));
    } else {
      greet();
    }
  }

  private async onLine(connection: Connection, line: string): Promise<void> {
    let request: Record<string, unknown>;
    try {
      // The client under test writes these; a wrong shape shows up as a failed assertion, not a crash here.
      request = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.send(connection, { error: { class: 'GenericError', desc: 'JSON parse error' } });
      return;
    }
    const command: ReceivedCommand = {
      execute: String(request.execute),
      arguments: isObject(request.arguments) ? request.arguments : {},
      id: request.id,
    };
    const answer = (body: Record<string, unknown>): void => {
      this.send(connection, command.id === undefined ? body : { ...body, id: command.id });
    };
    if (!connection.negotiated && command.execute !== 'qmp_capabilities') {
      answer({ error: { class: 'CommandNotFound', desc: "Expecting capabilities negotiation with 'qmp_capabilities'" } });
      return;
    }
    this.received.push(command);
    const waiterIndex = this.commandWaiters.findIndex((w) => w.command === command.execute);
    if (waiterIndex >= 0) this.commandWaiters.splice(waiterIndex, 1)[0]?.resolve(command);
    const handler = this.handlers.get(command.execute);
    if (!handler) {
      answer({ error: { class: 'CommandNotFound', desc: `The command ${command.execute} has not been found` } });
      return;
    }
    try {
      const result = await handler(command.arguments, command);
      if (result === NO_REPLY) return;
      if (command.execute === 'qmp_capabilities') connection.negotiated = true;
      answer({ return: result ?? {} });
    } catch (err) {
      const qmpClass = err instanceof FakeQmpError ? err.qmpClass : 'GenericError';
      answer({ error: { class: qmpClass, desc: errorMessage(err) } });
    }
  }

  private send(connection: Connection, message: object): void {
    this.write(connection, `${JSON.stringify(message)}\r\n`);
  }

  /** Queues a write so chunked messages never interleave. */
  private write(connection: Connection, text: string): void {
    const chunkSize = this.opts.chunkSize;
    connection.outbox = connection.outbox.then(async () => {
      if (connection.socket.destroyed) return;
      if (!chunkSize) {
        connection.socket.write(text);
        return;
      }
      const bytes = Buffer.from(text);
      for (let offset = 0; offset < bytes.length; offset += chunkSize) {
        if (connection.socket.destroyed) return;
        connection.socket.write(bytes.subarray(offset, offset + chunkSize));
        await sleep(2);
      }
    });
  }
}
