/**
 * A QMP client over QEMU's monitor unix socket: typed commands matched to replies by `id` (many may be
 * in flight), typed events, and coded errors (QMP_ERROR, QMP_TIMEOUT, QMP_DISCONNECTED).
 */
import type net from 'node:net';
import { DroverError } from '../shared/errors.js';
import type { QmpArgs, QmpCommandName, QmpReturn, VersionInfo } from './commands.js';
import type { QmpEventMessage, QmpEventName, QmpEvents } from './events.js';
import { connectUnixSocket, errorMessage, LineDecoder, UnixConnectError } from './transport.js';

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;
/** Key of the handlers that see every event; QMP event names are upper-case words, so it cannot clash. */
const ANY_EVENT = '*';

/** What QEMU announces when a client connects. */
export interface QmpGreeting {
  version: VersionInfo;
  capabilities: string[];
}

/** QEMU answered a command with `{"error": {"class", "desc"}}`; `qmpClass` keeps QEMU's error class. */
export class QmpCommandError extends DroverError {
  constructor(
    readonly command: string,
    readonly qmpClass: string,
    readonly description: string,
  ) {
    super('QMP_ERROR', `${command}: ${description}`);
    this.name = 'QmpCommandError';
  }
}

export interface QmpConnectOptions {
  /** How long to wait for the socket, the greeting and capabilities negotiation together; default 10 s. */
  timeoutMs?: number;
  /** Default per-command timeout for execute(); default 30 s. */
  commandTimeoutMs?: number;
}

export interface QmpExecuteOptions {
  timeoutMs?: number;
}

/** Arguments may be left out exactly when the command has no required argument. */
export type QmpExecuteRest<K extends QmpCommandName> =
  Record<string, never> extends QmpArgs<K>
    ? [args?: QmpArgs<K>, opts?: QmpExecuteOptions]
    : [args: QmpArgs<K>, opts?: QmpExecuteOptions];

export type QmpEventHandler<E extends QmpEventName> = (data: QmpEvents[E], message: QmpEventMessage<E>) => void;

interface PendingCommand {
  command: string;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

type AnyEventHandler = (data: unknown, message: QmpEventMessage) => void;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Runs a user callback; a throw is a bug in its owner, so it is surfaced without breaking the stream for others. */
function callSafely(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
  }
}

/** One connection to a QEMU monitor. Create it with QmpClient.connect(). */
export class QmpClient {
  private readonly decoder = new LineDecoder();
  private readonly pending = new Map<number, PendingCommand>();
  private readonly eventHandlers = new Map<string, Set<AnyEventHandler>>();
  private readonly disconnectHandlers = new Set<(err: DroverError) => void>();
  /** Fired on every close, including close(); used to fail pending waitForEvent calls. */
  private readonly closeListeners = new Set<(err: DroverError) => void>();
  private nextId = 1;
  private closedBy: 'client' | 'peer' | undefined;
  private closeError: DroverError | undefined;
  private lastSocketError: Error | undefined;
  private greetingWaiter: ((greeting: QmpGreeting) => void) | undefined;
  private greetingValue: QmpGreeting | undefined;

  private constructor(
    private readonly socket: net.Socket,
    readonly socketPath: string,
    private readonly commandTimeoutMs: number,
  ) {
    socket.on('data', (chunk: Buffer) => {
      for (const line of this.decoder.push(chunk)) this.onLine(line);
    });
    socket.on('error', (err) => {
      this.lastSocketError = err;
    });
    socket.on('close', () => this.onClose());
  }

  /** Connects, reads the greeting and negotiates capabilities; retries a missing/refused socket until timeoutMs. */
  static async connect(socketPath: string, opts: QmpConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    let socket: net.Socket;
    try {
      socket = await connectUnixSocket(socketPath, deadline);
    } catch (err) {
      if (err instanceof UnixConnectError && err.timedOut) {
        throw new DroverError('QMP_TIMEOUT', `no QMP socket at ${socketPath} after ${timeoutMs} ms`, { cause: err });
      }
      throw new DroverError('QMP_DISCONNECTED', errorMessage(err), { cause: err });
    }
    const client = new QmpClient(socket, socketPath, opts.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS);
    try {
      await client.waitForGreeting(Math.max(deadline - Date.now(), 100));
      await client.executeRaw('qmp_capabilities', undefined, { timeoutMs: Math.max(deadline - Date.now(), 100) });
      return client;
    } catch (err) {
      socket.destroy();
      throw err;
    }
  }

  /** The greeting QEMU sent (its version and offered capabilities). */
  get greeting(): QmpGreeting {
    if (!this.greetingValue) throw new DroverError('INTERNAL', 'QMP greeting read before connect() finished');
    return this.greetingValue;
  }

  /** True until the socket closes for any reason. */
  get connected(): boolean {
    return this.closedBy === undefined;
  }

  /** Runs a typed command; rejects with QmpCommandError (QMP_ERROR), QMP_TIMEOUT or QMP_DISCONNECTED. */
  execute<K extends QmpCommandName>(command: K, ...rest: QmpExecuteRest<K>): Promise<QmpReturn<K>> {
    const [args, opts] = rest;
    // The reply is QEMU's own JSON; its schema fixes the shape, so it is trusted rather than re-validated.
    return this.executeRaw(command, args, opts) as Promise<QmpReturn<K>>;
  }

  /** Runs any command by name, untyped; same errors as execute(). */
  executeRaw(command: string, args?: object, opts: QmpExecuteOptions = {}): Promise<unknown> {
    if (this.closeError) return Promise.reject(this.closeError);
    const id = this.nextId++;
    const timeoutMs = opts.timeoutMs ?? this.commandTimeoutMs;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new DroverError('QMP_TIMEOUT', `${command}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { command, resolve, reject, timer });
      const message = args === undefined ? { execute: command, id } : { execute: command, arguments: args, id };
      this.socket.write(`${JSON.stringify(message)}\n`);
    });
  }

  /** Calls `handler` for every `event` until the returned function (or off()) is called. */
  on<E extends QmpEventName>(event: E, handler: QmpEventHandler<E>): () => void {
    let handlers = this.eventHandlers.get(event);
    if (!handlers) this.eventHandlers.set(event, (handlers = new Set()));
    // The map is keyed by event name, so a handler only ever sees its own event's payload.
    handlers.add(handler as AnyEventHandler);
    return () => this.off(event, handler);
  }

  /** Removes a handler added with on(). */
  off<E extends QmpEventName>(event: E, handler: QmpEventHandler<E>): void {
    this.eventHandlers.get(event)?.delete(handler as AnyEventHandler); // same widening as in on()
  }

  /** Calls `handler` for every event, including ones the typed map does not know. */
  onAnyEvent(handler: (message: QmpEventMessage) => void): () => void {
    const wrapped: AnyEventHandler = (_data, message) => handler(message);
    let handlers = this.eventHandlers.get(ANY_EVENT);
    if (!handlers) this.eventHandlers.set(ANY_EVENT, (handlers = new Set()));
    handlers.add(wrapped);
    return () => this.eventHandlers.get(ANY_EVENT)?.delete(wrapped);
  }

  /**
   * Resolves with the data of the next `event` that passes `predicate`; TIMEOUT after timeoutMs, QMP_DISCONNECTED
   * if the socket closes. Call it before the command that triggers the event, or the event may be missed.
   */
  waitForEvent<E extends QmpEventName>(
    event: E,
    opts: { timeoutMs?: number; predicate?: (data: QmpEvents[E]) => boolean } = {},
  ): Promise<QmpEvents[E]> {
    if (this.closeError) return Promise.reject(this.closeError);
    const timeoutMs = opts.timeoutMs ?? this.commandTimeoutMs;
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        unsubscribe();
        this.closeListeners.delete(onClose);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new DroverError('TIMEOUT', `no ${event} event from QEMU within ${timeoutMs} ms`));
      }, timeoutMs);
      const onClose = (err: DroverError): void => {
        cleanup();
        reject(err);
      };
      const unsubscribe = this.on(event, (data) => {
        if (opts.predicate && !opts.predicate(data)) return;
        cleanup();
        resolve(data);
      });
      this.closeListeners.add(onClose);
    });
  }

  /**
   * Calls `handler` once if the connection is lost without close() being called (QEMU exited or crashed);
   * called right away if that already happened. Returns a function that unregisters it.
   */
  onDisconnect(handler: (err: DroverError) => void): () => void {
    if (this.closedBy === 'peer' && this.closeError) {
      const err = this.closeError;
      queueMicrotask(() => handler(err));
      return () => {};
    }
    this.disconnectHandlers.add(handler);
    return () => this.disconnectHandlers.delete(handler);
  }

  /** Closes the connection; pending commands reject with QMP_DISCONNECTED. Does not stop QEMU. */
  async close(): Promise<void> {
    if (this.closedBy) return;
    this.closedBy = 'client';
    this.failAll(new DroverError('QMP_DISCONNECTED', `${this.socketPath}: closed by this client`));
    if (this.socket.destroyed) return;
    await new Promise<void>((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.destroy();
    });
  }

  private waitForGreeting(timeoutMs: number): Promise<QmpGreeting> {
    return new Promise((resolve, reject) => {
      const onClose = (err: DroverError): void => {
        clearTimeout(timer);
        reject(err);
      };
      const timer = setTimeout(() => {
        this.closeListeners.delete(onClose);
        // QEMU serves one monitor client at a time; a second one waits in the backlog with no greeting.
        reject(new DroverError('QMP_TIMEOUT', `${this.socketPath}: no QMP greeting within ${timeoutMs} ms (is another client connected?)`));
      }, timeoutMs);
      this.closeListeners.add(onClose);
      this.greetingWaiter = (greeting) => {
        clearTimeout(timer);
        this.closeListeners.delete(onClose);
        this.greetingValue = greeting;
        resolve(greeting);
      };
    });
  }

  private onLine(line: string): void {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      // QEMU only writes JSON; an unparseable line cannot belong to any command, so it is dropped.
      return;
    }
    if (!isRecord(message)) return;
    if (isRecord(message.QMP)) {
      const qmp = message.QMP;
      // The greeting's shape is fixed by the QMP specification.
      this.greetingWaiter?.({ version: qmp.version as VersionInfo, capabilities: (qmp.capabilities as string[]) ?? [] });
      this.greetingWaiter = undefined;
    } else if (typeof message.event === 'string') {
      this.dispatchEvent(message);
    } else if (typeof message.id === 'number') {
      this.settle(message.id, message);
    }
  }

  private settle(id: number, message: Record<string, unknown>): void {
    const pending = this.pending.get(id);
    if (!pending) return; // answer to a command that already timed out
    this.pending.delete(id);
    clearTimeout(pending.timer);
    if (isRecord(message.error)) {
      const qmpClass = typeof message.error.class === 'string' ? message.error.class : 'GenericError';
      const desc = typeof message.error.desc === 'string' ? message.error.desc : JSON.stringify(message.error);
      pending.reject(new QmpCommandError(pending.command, qmpClass, desc));
    } else {
      pending.resolve(message.return);
    }
  }

  private dispatchEvent(raw: Record<string, unknown>): void {
    const message: QmpEventMessage = {
      event: raw.event as string,
      data: isRecord(raw.data) ? raw.data : {},
      // QEMU always stamps events; a fake may not, so default rather than crash.
      timestamp: isRecord(raw.timestamp) ? (raw.timestamp as QmpEventMessage['timestamp']) : { seconds: 0, microseconds: 0 },
    };
    const handlers = [...(this.eventHandlers.get(message.event) ?? []), ...(this.eventHandlers.get(ANY_EVENT) ?? [])];
    for (const handler of handlers) callSafely(() => handler(message.data, message));
  }

  private onClose(): void {
    if (this.closedBy === 'client') return;
    this.closedBy = 'peer';
    const why = this.lastSocketError ? ` (${this.lastSocketError.message})` : '';
    const err = new DroverError('QMP_DISCONNECTED', `${this.socketPath}: QEMU closed the monitor${why}`);
    this.failAll(err);
    for (const handler of [...this.disconnectHandlers]) callSafely(() => handler(err));
    this.disconnectHandlers.clear();
  }

  private failAll(err: DroverError): void {
    this.closeError = err;
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(err);
    }
    this.pending.clear();
    for (const listener of [...this.closeListeners]) listener(err);
    this.closeListeners.clear();
  }
}
