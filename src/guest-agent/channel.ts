/**
 * The byte-level channel to qemu-guest-agent. Replies carry no id, so requests run one at a time, and
 * the channel may hold stale bytes (a previous client's replies, or a timed-out answer arriving late):
 * before a request on an unsynced channel it sends 0xFF plus guest-sync-delimited and drops every byte
 * up to the 0xFF-prefixed reply carrying its own random id.
 */
import { randomInt } from 'node:crypto';
import type net from 'node:net';
import { DroverError } from '../shared/errors.js';
import { connectUnixSocket, errorMessage } from '../qmp/transport.js';

/** The agent answered `{"error": {"class", "desc"}}`; `agentClass` keeps its error class. */
export class GuestAgentCommandError extends DroverError {
  constructor(
    readonly command: string,
    readonly agentClass: string,
    readonly description: string,
  ) {
    super('GUEST_EXEC_FAILED', `${command}: ${description}`);
    this.name = 'GuestAgentCommandError';
  }
}

const DELIMITER = 0xff;
const NEWLINE = 0x0a;
/** Unread bytes kept while no request waits; more than this is junk and forces a resync. */
const MAX_IDLE_BUFFER = 1 << 20;

interface Reader {
  /** Takes what it waits for from the channel's buffer, if it has arrived. */
  consume: () => void;
  reject: (err: Error) => void;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function unavailable(detail: string): DroverError {
  return new DroverError('GUEST_AGENT_UNAVAILABLE', detail);
}

/** One socket to a guest agent, with request serialization and resynchronization. */
export class GuestAgentChannel {
  private socket: net.Socket | undefined;
  private buffer: Buffer = Buffer.alloc(0);
  private reader: Reader | undefined;
  private needsSync = true;
  private closedByClient = false;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly socketPath: string) {}

  /** True while a socket is open (the agent behind it may still be silent). */
  get isOpen(): boolean {
    return this.socket !== undefined && !this.socket.destroyed;
  }

  /** Opens the socket (retrying while QEMU creates it) unless it is open; GUEST_AGENT_UNAVAILABLE at the deadline. */
  async open(deadline: number): Promise<void> {
    if (this.closedByClient) throw unavailable(`${this.socketPath}: the client was closed`);
    if (this.isOpen) return;
    let socket: net.Socket;
    try {
      socket = await connectUnixSocket(this.socketPath, deadline);
    } catch (err) {
      throw new DroverError('GUEST_AGENT_UNAVAILABLE', errorMessage(err), { cause: err });
    }
    this.socket = socket;
    this.buffer = Buffer.alloc(0);
    this.needsSync = true;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {}); // the 'close' that follows is what matters
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.needsSync = true;
      this.failReader(unavailable(`${this.socketPath}: the agent socket closed`));
    });
  }

  /** Marks the channel as needing guest-sync-delimited before the next request. */
  invalidate(): void {
    this.needsSync = true;
  }

  /** Sends one command and returns its `return` value; one request at a time, in call order. */
  request(command: string, args: object | undefined, timeoutMs: number): Promise<unknown> {
    return this.enqueue(async () => {
      const deadline = Date.now() + timeoutMs;
      await this.prepare(deadline);
      this.send(command, args);
      const reply = await this.readReply(command, deadline);
      if (isRecord(reply.error)) {
        const agentClass = typeof reply.error.class === 'string' ? reply.error.class : 'GenericError';
        const desc = typeof reply.error.desc === 'string' ? reply.error.desc : JSON.stringify(reply.error);
        throw new GuestAgentCommandError(command, agentClass, desc);
      }
      return reply.return;
    });
  }

  /**
   * Sends a command the agent does not answer on success (guest-shutdown, guest-suspend-*); an error reply
   * within `waitMs` is thrown, silence means it was accepted.
   */
  requestWithoutReply(command: string, args: object | undefined, waitMs: number, timeoutMs: number): Promise<void> {
    return this.enqueue(async () => {
      await this.prepare(Date.now() + timeoutMs);
      this.send(command, args);
      this.needsSync = true; // nothing to read means nothing proves the stream is clean afterwards
      let reply: Record<string, unknown>;
      try {
        reply = await this.readReply(command, Date.now() + waitMs);
      } catch (err) {
        if (err instanceof DroverError && err.code === 'GUEST_AGENT_UNAVAILABLE') return; // silence or the guest going down
        throw err;
      }
      if (isRecord(reply.error)) {
        const desc = typeof reply.error.desc === 'string' ? reply.error.desc : JSON.stringify(reply.error);
        throw new GuestAgentCommandError(command, String(reply.error.class ?? 'GenericError'), desc);
      }
    });
  }

  /** Closes the socket for good; the waiting request rejects with GUEST_AGENT_UNAVAILABLE. */
  close(): void {
    this.closedByClient = true;
    this.failReader(unavailable(`${this.socketPath}: closed by this client`));
    this.socket?.destroy();
    this.socket = undefined;
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const result = this.queue.then(task);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async prepare(deadline: number): Promise<void> {
    if (this.closedByClient) throw unavailable(`${this.socketPath}: the client was closed`);
    await this.open(deadline);
    if (this.needsSync) await this.sync(deadline);
  }

  private send(command: string, args: object | undefined): void {
    const message = args === undefined ? { execute: command } : { execute: command, arguments: args };
    this.socket?.write(`${JSON.stringify(message)}\n`);
  }

  /** Sends 0xFF (resets the agent's parser) and guest-sync-delimited, then drops bytes up to the matching reply. */
  private async sync(deadline: number): Promise<void> {
    const id = randomInt(1, 2 ** 47);
    this.socket?.write(Buffer.from([DELIMITER]));
    this.send('guest-sync-delimited', { id });
    await this.read('guest-sync-delimited', deadline, () => (this.takeSyncReply(id) ? true : undefined));
    this.needsSync = false;
  }

  private readReply(command: string, deadline: number): Promise<Record<string, unknown>> {
    return this.read(command, deadline, () => {
      const line = this.takeLine();
      if (line === undefined) return undefined;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        parsed = undefined;
      }
      if (!isRecord(parsed)) {
        this.needsSync = true;
        throw unavailable(`${command}: unreadable reply from the agent: ${line.slice(0, 200)}`);
      }
      return parsed;
    });
  }

  /** Waits until `take` returns something from the buffer; GUEST_AGENT_UNAVAILABLE at the deadline. */
  private read<T>(command: string, deadline: number, take: () => T | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!this.isOpen) return reject(unavailable(`${this.socketPath}: the agent socket closed`));
      const waitMs = Math.max(deadline - Date.now(), 0);
      const timer = setTimeout(() => {
        this.reader = undefined;
        this.needsSync = true; // the answer may still come and must not be taken for the next one
        reject(unavailable(`${command}: no answer from the guest agent within ${waitMs} ms`));
      }, waitMs);
      this.reader = {
        consume: () => {
          const value = take();
          if (value === undefined) return;
          clearTimeout(timer);
          this.reader = undefined;
          resolve(value);
        },
        reject: (err) => {
          clearTimeout(timer);
          this.reader = undefined;
          reject(err);
        },
      };
      this.drain();
    });
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    this.drain();
    if (!this.reader && this.buffer.length > MAX_IDLE_BUFFER) {
      this.buffer = Buffer.alloc(0);
      this.needsSync = true;
    }
  }

  private drain(): void {
    const reader = this.reader;
    if (!reader) return;
    try {
      reader.consume();
    } catch (err) {
      reader.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private failReader(err: Error): void {
    this.reader?.reject(err);
  }

  /** Takes the next complete line (without stray 0xFF bytes); undefined until one has arrived. */
  private takeLine(): string | undefined {
    for (;;) {
      const end = this.buffer.indexOf(NEWLINE);
      if (end < 0) return undefined;
      const bytes = this.buffer.subarray(0, end).filter((byte) => byte !== DELIMITER);
      this.buffer = this.buffer.subarray(end + 1);
      const line = Buffer.from(bytes).toString('utf8').trim();
      if (line !== '') return line;
    }
  }

  /** Drops bytes until a 0xFF-prefixed `{"return": id}` line; true once found. */
  private takeSyncReply(id: number): boolean {
    for (;;) {
      const start = this.buffer.indexOf(DELIMITER);
      if (start < 0) {
        this.buffer = Buffer.alloc(0);
        return false;
      }
      this.buffer = this.buffer.subarray(start);
      const end = this.buffer.indexOf(NEWLINE, 1);
      const nextStart = this.buffer.indexOf(DELIMITER, 1);
      if (nextStart >= 0 && (end < 0 || nextStart < end)) {
        this.buffer = this.buffer.subarray(nextStart);
        continue;
      }
      if (end < 0) return false;
      const line = this.buffer.subarray(1, end).toString('utf8');
      this.buffer = this.buffer.subarray(end + 1);
      try {
        const reply: unknown = JSON.parse(line);
        if (isRecord(reply) && reply.return === id) return true;
      } catch {
        // a garbled delimited line is stale output too
      }
    }
  }
}
