/**
 * A fake qemu-guest-agent for tests: a unix-socket server speaking the agent's side of the protocol
 * (0xFF parser reset, guest-sync-delimited, one reply per command in order, guest-exec with scripted
 * programs). It produces on demand what a real guest only does by accident: stale bytes in the
 * channel, an agent that has not started yet, slow replies.
 */
import fs from 'node:fs/promises';
import net from 'node:net';
import { errorMessage } from '../qmp/transport.js';
import { listenFakeSocket } from '../qmp/fake-socket.js';

/** What a scripted guest program does; runMs is how long guest-exec-status reports it running. */
export interface FakeGuestProgramResult {
  exitCode?: number;
  signal?: number;
  stdout?: string;
  stderr?: string;
  runMs?: number;
}

export type FakeGuestProgram = (args: string[], input: string, env: string[] | undefined) => FakeGuestProgramResult;

/** Return this from a handler to send no reply (as the agent does for guest-shutdown). */
export const NO_REPLY: unique symbol = Symbol('NO_REPLY');

/** Computes a command's `return` value; throw FakeAgentError for an error reply. */
export type FakeAgentHandler = (args: Record<string, unknown>) => unknown;

/** Throw from a handler to answer `{"error": {"class", "desc"}}`. */
export class FakeAgentError extends Error {
  constructor(
    readonly agentClass: string,
    desc: string,
  ) {
    super(desc);
  }
}

export interface FakeGuestAgentOptions {
  /** Where to listen; default a socket in a fresh temporary directory, removed by close(). */
  socketPath?: string;
  /** Bytes each new connection receives first, as if an earlier client left them in the channel. */
  staleBytes?: Buffer | string;
  /** Start as a guest whose agent is not running yet: requests pile up unanswered until startAnswering(). */
  silent?: boolean;
}

interface Connection {
  socket: net.Socket;
  outbox: Promise<void>;
}

function stringList(value: unknown): string[] | undefined {
  return Array.isArray(value) ? value.map(String) : undefined;
}

interface GuestProcess {
  result: FakeGuestProgramResult;
  doneAt: number;
}

/** A scriptable stand-in for qemu-guest-agent. Create it with FakeGuestAgent.start(). */
export class FakeGuestAgent {
  /** Every command the agent processed, in order (guest-sync-delimited included). */
  readonly received: { execute: string; arguments: Record<string, unknown> }[] = [];
  /** Files for guest-file-*, by path. */
  readonly files = new Map<string, Buffer>();
  private readonly handlers = new Map<string, FakeAgentHandler>();
  private readonly delays = new Map<string, number>();
  private readonly programs = new Map<string, FakeGuestProgram>();
  private readonly processes = new Map<number, GuestProcess>();
  private readonly openFiles = new Map<number, { path: string; offset: number; chunks: Buffer[] }>();
  private readonly connections = new Set<Connection>();
  /** Requests received while silent; `line` undefined stands for input the parser rejected. */
  private backlog: { connection: Connection; line: string | undefined }[] = [];
  /** Unfinished input. It belongs to the agent, not the connection: the guest's parser outlives host clients. */
  private partial = Buffer.alloc(0);
  /** Reply delays in progress, cut short by close() so a test run does not wait them out. */
  private readonly delayTimers = new Map<NodeJS.Timeout, () => void>();
  private silent: boolean;
  private nextPid = 1000;

  private constructor(
    private readonly server: net.Server,
    readonly socketPath: string,
    private readonly ownedDir: string | undefined,
    private readonly opts: FakeGuestAgentOptions,
  ) {
    this.silent = opts.silent ?? false;
    this.installDefaults();
    server.on('connection', (socket) => this.accept(socket));
  }

  /** Starts listening; a stale socket file at socketPath is replaced. */
  static async start(opts: FakeGuestAgentOptions = {}): Promise<FakeGuestAgent> {
    const { server, socketPath, ownedDir } = await listenFakeSocket(opts.socketPath, 'drover-fake-qga-', 'qga.sock');
    return new FakeGuestAgent(server, socketPath, ownedDir, opts);
  }

  /** Sets how `command` is answered (replacing the default). */
  handle(command: string, handler: FakeAgentHandler): this {
    this.handlers.set(command, handler);
    return this;
  }

  /** Answers `command` with a fixed value. */
  reply(command: string, value: unknown): this {
    return this.handle(command, () => value);
  }

  /** Answers `command` with an error. */
  fail(command: string, agentClass: string, desc: string): this {
    return this.handle(command, () => {
      throw new FakeAgentError(agentClass, desc);
    });
  }

  /** Holds replies to `command` back for `ms`; later replies wait behind it, as with the real agent. */
  delay(command: string, ms: number): this {
    this.delays.set(command, ms);
    return this;
  }

  /** Scripts the program guest-exec runs for `programPath`; unknown paths fail as missing files do. */
  program(programPath: string, program: FakeGuestProgram): this {
    this.programs.set(programPath, program);
    return this;
  }

  /** The agent starts: requests received while silent are answered in order, then new ones as they come. */
  startAnswering(): void {
    this.silent = false;
    for (const { connection, line } of this.backlog.splice(0)) this.process(connection, line);
  }

  /** Writes raw bytes to every client. */
  sendRaw(bytes: Buffer | string): void {
    for (const connection of this.connections) this.write(connection, bytes, 0);
  }

  /** Destroys every client connection (QEMU exiting). */
  dropConnection(): void {
    for (const connection of this.connections) connection.socket.destroy();
    this.connections.clear();
  }

  /** Stops listening, drops clients and removes the temporary directory it created. */
  async close(): Promise<void> {
    this.dropConnection();
    for (const [timer, wake] of this.delayTimers) {
      clearTimeout(timer);
      wake();
    }
    this.delayTimers.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (this.ownedDir) await fs.rm(this.ownedDir, { recursive: true, force: true });
  }

  private accept(socket: net.Socket): void {
    const connection: Connection = { socket, outbox: Promise.resolve() };
    this.connections.add(connection);
    socket.on('error', () => {}); // clients vanishing mid-write are normal in tests
    socket.on('close', () => this.connections.delete(connection));
    socket.on('data', (chunk: Buffer) => this.onData(connection, chunk));
    if (this.opts.staleBytes !== undefined) this.write(connection, this.opts.staleBytes, 0);
  }

  private onData(connection: Connection, chunk: Buffer): void {
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      if (chunk[i] !== 0xff) continue;
      this.partial = Buffer.concat([this.partial, chunk.subarray(start, i)]);
      this.takeLines(connection);
      // 0xFF resets the agent's JSON parser: half a command before it is reported and dropped.
      if (this.partial.toString().trim() !== '') this.enqueue(connection, undefined);
      this.partial = Buffer.alloc(0);
      start = i + 1;
    }
    this.partial = Buffer.concat([this.partial, chunk.subarray(start)]);
    this.takeLines(connection);
  }

  private takeLines(connection: Connection): void {
    for (let end = this.partial.indexOf(0x0a); end >= 0; end = this.partial.indexOf(0x0a)) {
      const line = this.partial.subarray(0, end).toString().trim();
      this.partial = this.partial.subarray(end + 1);
      if (line !== '') this.enqueue(connection, line);
    }
  }

  private enqueue(connection: Connection, line: string | undefined): void {
    if (this.silent) this.backlog.push({ connection, line });
    else this.process(connection, line);
  }

  private process(connection: Connection, line: string | undefined): void {
    let request: { execute?: unknown; arguments?: Record<string, unknown> } = {};
    try {
      // The client under test writes these; a wrong shape just yields the parse-error reply below.
      if (line !== undefined) request = JSON.parse(line) as typeof request;
    } catch {
      request = {};
    }
    if (typeof request.execute !== 'string') {
      this.send(connection, { error: { class: 'GenericError', desc: 'JSON parse error' } }, 0);
      return;
    }
    const command = request.execute;
    const args = request.arguments ?? {};
    this.received.push({ execute: command, arguments: args });
    const delayMs = this.delays.get(command) ?? 0;
    if (command === 'guest-sync-delimited') {
      this.write(connection, Buffer.concat([Buffer.from([0xff]), Buffer.from(`${JSON.stringify({ return: args.id })}\n`)]), delayMs);
      return;
    }
    const handler = this.handlers.get(command);
    if (!handler) {
      this.send(connection, { error: { class: 'CommandNotFound', desc: `The command ${command} has not been found` } }, delayMs);
      return;
    }
    try {
      const result = handler(args);
      if (result !== NO_REPLY) this.send(connection, { return: result ?? {} }, delayMs);
    } catch (err) {
      const agentClass = err instanceof FakeAgentError ? err.agentClass : 'GenericError';
      this.send(connection, { error: { class: agentClass, desc: errorMessage(err) } }, delayMs);
    }
  }

  private send(connection: Connection, message: object, delayMs: number): void {
    this.write(connection, `${JSON.stringify(message)}\n`, delayMs);
  }

  private write(connection: Connection, bytes: Buffer | string, delayMs: number): void {
    connection.outbox = connection.outbox.then(async () => {
      if (delayMs > 0) await this.sleep(delayMs);
      if (!connection.socket.destroyed) connection.socket.write(bytes);
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.delayTimers.delete(timer);
        resolve();
      }, ms);
      this.delayTimers.set(timer, resolve);
    });
  }

  private installDefaults(): void {
    this.reply('guest-ping', {});
    this.handle('guest-sync', (args) => args.id);
    this.handle('guest-info', () => ({
      version: '7.2.0-fake',
      supported_commands: [...this.handlers.keys(), 'guest-sync-delimited'].map((name) => ({
        name,
        enabled: true,
        'success-response': name !== 'guest-shutdown',
      })),
    }));
    this.reply('guest-get-osinfo', {
      id: 'debian', name: 'Debian GNU/Linux', 'pretty-name': 'Debian GNU/Linux 12 (bookworm)',
      version: '12 (bookworm)', 'version-id': '12', 'kernel-release': '6.1.0-fake', machine: 'x86_64',
    });
    this.reply('guest-network-get-interfaces', [
      { name: 'lo', 'hardware-address': '00:00:00:00:00:00', 'ip-addresses': [{ 'ip-address-type': 'ipv4', 'ip-address': '127.0.0.1', prefix: 8 }] },
      {
        name: 'eth0',
        'hardware-address': '52:54:00:12:34:56',
        'ip-addresses': [
          { 'ip-address-type': 'ipv4', 'ip-address': '10.0.2.15', prefix: 24 },
          { 'ip-address-type': 'ipv6', 'ip-address': 'fe80::5054:ff:fe12:3456', prefix: 64 },
        ],
        statistics: { 'rx-bytes': 100, 'rx-packets': 2, 'rx-errs': 0, 'rx-dropped': 0, 'tx-bytes': 50, 'tx-packets': 1, 'tx-errs': 0, 'tx-dropped': 0 },
      },
    ]);
    let frozen = false;
    this.handle('guest-fsfreeze-freeze', () => {
      frozen = true;
      return 1;
    });
    this.handle('guest-fsfreeze-thaw', () => {
      frozen = false;
      return 1;
    });
    this.handle('guest-fsfreeze-status', () => (frozen ? 'frozen' : 'thawed'));
    this.handle('guest-shutdown', () => NO_REPLY);
    this.handle('guest-exec', (args) => this.startProcess(args));
    this.handle('guest-exec-status', (args) => this.processStatus(Number(args.pid)));
    this.installFileHandlers();
  }

  private startProcess(args: Record<string, unknown>): { pid: number } {
    const programPath = String(args.path);
    const program = this.programs.get(programPath);
    if (!program) {
      throw new FakeAgentError('GenericError', `Guest agent command failed, error was 'Failed to execute child process “${programPath}” (No such file or directory)'`);
    }
    const input = typeof args['input-data'] === 'string' ? Buffer.from(args['input-data'], 'base64').toString() : '';
    const result = program(stringList(args.arg) ?? [], input, stringList(args.env));
    const pid = this.nextPid++;
    this.processes.set(pid, { result, doneAt: Date.now() + (result.runMs ?? 0) });
    return { pid };
  }

  private processStatus(pid: number): Record<string, unknown> {
    const running = this.processes.get(pid);
    if (!running) throw new FakeAgentError('GenericError', `Invalid parameter 'pid'`);
    if (Date.now() < running.doneAt) return { exited: false };
    this.processes.delete(pid);
    const { result } = running;
    return {
      exited: true,
      ...(result.signal !== undefined ? { signal: result.signal } : { exitcode: result.exitCode ?? 0 }),
      ...(result.stdout ? { 'out-data': Buffer.from(result.stdout).toString('base64'), 'out-truncated': false } : {}),
      ...(result.stderr ? { 'err-data': Buffer.from(result.stderr).toString('base64'), 'err-truncated': false } : {}),
    };
  }

  private installFileHandlers(): void {
    let nextHandle = 1;
    this.handle('guest-file-open', (args) => {
      const filePath = String(args.path);
      const mode = String(args.mode ?? 'r');
      if (mode === 'r' && !this.files.has(filePath)) throw new FakeAgentError('GenericError', `failed to open file '${filePath}'`);
      if (mode === 'w') this.files.set(filePath, Buffer.alloc(0));
      const handle = nextHandle++;
      this.openFiles.set(handle, { path: filePath, offset: 0, chunks: [] });
      return handle;
    });
    const openFile = (args: Record<string, unknown>): { path: string; offset: number; chunks: Buffer[] } => {
      const file = this.openFiles.get(Number(args.handle));
      if (!file) throw new FakeAgentError('GenericError', 'handle not found');
      return file;
    };
    this.handle('guest-file-read', (args) => {
      const file = openFile(args);
      const data = this.files.get(file.path) ?? Buffer.alloc(0);
      const part = data.subarray(file.offset, file.offset + Number(args.count ?? 4096));
      file.offset += part.length;
      return { count: part.length, 'buf-b64': part.toString('base64'), eof: file.offset >= data.length };
    });
    this.handle('guest-file-write', (args) => {
      const file = openFile(args);
      const part = Buffer.from(String(args['buf-b64']), 'base64');
      this.files.set(file.path, Buffer.concat([this.files.get(file.path) ?? Buffer.alloc(0), part]));
      return { count: part.length, eof: false };
    });
    this.handle('guest-file-close', (args) => {
      openFile(args);
      this.openFiles.delete(Number(args.handle));
      return {};
    });
  }
}
