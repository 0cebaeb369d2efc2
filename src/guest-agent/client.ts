/**
 * A client for qemu-guest-agent over the unix socket QEMU exposes for the guest's
 * org.qemu.guest_agent.0 port: readiness, command execution, network and OS facts, fsfreeze,
 * shutdown and small file transfers. Errors: GUEST_AGENT_UNAVAILABLE (no answer), GUEST_EXEC_FAILED
 * (the agent refused; GuestAgentCommandError), TIMEOUT (a guest process ran too long).
 */
import { DroverError, isDroverError } from '../shared/errors.js';
import { sleep } from '../qmp/transport.js';
import { GuestAgentChannel, GuestAgentCommandError } from './channel.js';
import type {
  GuestAgentInfo,
  GuestExecOptions,
  GuestExecResult,
  GuestFsfreezeStatus,
  GuestNetworkInterface,
  GuestOsInfo,
  GuestShutdownMode,
} from './types.js';

export { GuestAgentCommandError } from './channel.js';
export type * from './types.js';

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const DEFAULT_EXEC_TIMEOUT_MS = 60_000;
/** How long one readiness attempt waits before sending a fresh sync. */
const READY_ATTEMPT_MS = 1_000;
/** How long shutdown() waits for an error before assuming the agent accepted it. */
const NO_REPLY_WAIT_MS = 1_000;
const FILE_CHUNK_BYTES = 1 << 20;

type Wire = Record<string, unknown>;

function asRecord(value: unknown, command: string): Wire {
  // A non-array object from JSON.parse has string keys only.
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Wire;
  throw new DroverError('GUEST_AGENT_UNAVAILABLE', `${command}: unexpected reply ${JSON.stringify(value)?.slice(0, 200)}`);
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function decodeBase64(value: unknown): string {
  return typeof value === 'string' ? Buffer.from(value, 'base64').toString('utf8') : '';
}

/** A connection to one VM's guest agent. Create it with GuestAgentClient.connect() or GuestAgentClient.waitReady(). */
export class GuestAgentClient {
  private readonly channel: GuestAgentChannel;

  private constructor(
    readonly socketPath: string,
    private readonly requestTimeoutMs: number,
  ) {
    this.channel = new GuestAgentChannel(socketPath);
  }

  /** Opens the socket and syncs with the agent; GUEST_AGENT_UNAVAILABLE if either fails within timeoutMs. */
  static async connect(
    socketPath: string,
    opts: { timeoutMs?: number; requestTimeoutMs?: number } = {},
  ): Promise<GuestAgentClient> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const client = new GuestAgentClient(socketPath, opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
    try {
      await client.ping(timeoutMs);
      return client;
    } catch (err) {
      client.close();
      throw err;
    }
  }

  /** Keeps connecting and pinging until the agent answers (e.g. while the guest boots); GUEST_AGENT_UNAVAILABLE at the deadline. */
  static async waitReady(socketPath: string, timeoutMs: number): Promise<GuestAgentClient> {
    const client = new GuestAgentClient(socketPath, DEFAULT_REQUEST_TIMEOUT_MS);
    try {
      await client.waitReady(timeoutMs);
      return client;
    } catch (err) {
      client.close();
      throw err;
    }
  }

  /** Resyncs and pings until the agent answers (reopening the socket if it closed); GUEST_AGENT_UNAVAILABLE at the deadline. */
  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    for (;;) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      const attemptStarted = Date.now();
      try {
        this.channel.invalidate();
        await this.ping(Math.min(remaining, READY_ATTEMPT_MS));
        return;
      } catch (err) {
        lastError = err;
      }
      // A socket that fails at once (QEMU gone, refused) would otherwise spin.
      const spent = Date.now() - attemptStarted;
      if (spent < 200) await sleep(Math.min(200 - spent, Math.max(deadline - Date.now(), 0)));
    }
    const why = lastError instanceof DroverError ? `: ${lastError.detail ?? lastError.message}` : '';
    throw new DroverError('GUEST_AGENT_UNAVAILABLE', `no answer on ${this.socketPath} within ${timeoutMs} ms${why}`, {
      cause: lastError,
    });
  }

  /** Resolves when the agent answers guest-ping within timeoutMs. */
  async ping(timeoutMs = this.requestTimeoutMs): Promise<void> {
    await this.channel.request('guest-ping', undefined, timeoutMs);
  }

  /** Runs any agent command by name, untyped; same errors as the typed methods. */
  executeRaw(command: string, args?: object, opts: { timeoutMs?: number } = {}): Promise<unknown> {
    return this.channel.request(command, args, opts.timeoutMs ?? this.requestTimeoutMs);
  }

  /**
   * Runs a program in the guest (no shell) and returns its exit status and output. GUEST_EXEC_FAILED if it
   * cannot start; TIMEOUT if it runs past timeoutMs (it is left running: the agent has no kill command).
   */
  async exec(path: string, args: string[] = [], opts: GuestExecOptions = {}): Promise<GuestExecResult> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    const started = asRecord(
      await this.executeRaw('guest-exec', {
        path,
        arg: args,
        'capture-output': true,
        ...(opts.env ? { env: opts.env } : {}),
        ...(opts.input !== undefined ? { 'input-data': Buffer.from(opts.input).toString('base64') } : {}),
      }),
      'guest-exec',
    );
    const pid = started.pid;
    if (typeof pid !== 'number') throw new DroverError('GUEST_EXEC_FAILED', `guest-exec returned no pid for ${path}`);
    let delay = 20;
    for (;;) {
      const status = asRecord(await this.executeRaw('guest-exec-status', { pid }), 'guest-exec-status');
      if (status.exited === true) return this.execResult(status);
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new DroverError('TIMEOUT', `${[path, ...args].join(' ')} still running in the guest after ${timeoutMs} ms (guest pid ${pid})`);
      }
      await sleep(Math.min(delay, remaining)); // the last poll lands on the deadline
      delay = Math.min(Math.round(delay * 1.5), 200);
    }
  }

  /** The guest's network interfaces with their addresses (guest-network-get-interfaces). */
  async networkInterfaces(): Promise<GuestNetworkInterface[]> {
    const reply = await this.executeRaw('guest-network-get-interfaces');
    if (!Array.isArray(reply)) throw new DroverError('GUEST_AGENT_UNAVAILABLE', 'guest-network-get-interfaces: not a list');
    return reply.map((raw) => {
      const nic = asRecord(raw, 'guest-network-get-interfaces');
      const addresses = Array.isArray(nic['ip-addresses']) ? nic['ip-addresses'].map((a) => asRecord(a, 'ip-addresses')) : [];
      const stats = nic.statistics === undefined ? undefined : asRecord(nic.statistics, 'statistics');
      const stat = (key: string): number => (typeof stats?.[key] === 'number' ? stats[key] : 0);
      return {
        name: String(nic.name),
        ...(typeof nic['hardware-address'] === 'string' ? { macAddress: nic['hardware-address'] } : {}),
        addresses: addresses.map((a) => ({
          family: a['ip-address-type'] === 'ipv6' ? 'ipv6' : 'ipv4',
          address: String(a['ip-address']),
          prefix: Number(a.prefix),
        })),
        ...(stats
          ? {
              statistics: {
                rxBytes: stat('rx-bytes'), rxPackets: stat('rx-packets'), rxErrors: stat('rx-errs'), rxDropped: stat('rx-dropped'),
                txBytes: stat('tx-bytes'), txPackets: stat('tx-packets'), txErrors: stat('tx-errs'), txDropped: stat('tx-dropped'),
              },
            }
          : {}),
      };
    });
  }

  /** The agent's version and which commands it has enabled (guest-info). */
  async info(): Promise<GuestAgentInfo> {
    const reply = asRecord(await this.executeRaw('guest-info'), 'guest-info');
    const commands = Array.isArray(reply.supported_commands) ? reply.supported_commands : [];
    return {
      version: String(reply.version),
      commands: commands.map((raw) => {
        const c = asRecord(raw, 'guest-info');
        return { name: String(c.name), enabled: c.enabled === true, successResponse: c['success-response'] !== false };
      }),
    };
  }

  /** The guest OS (guest-get-osinfo), or undefined when the agent does not offer that command. */
  async osInfo(): Promise<GuestOsInfo | undefined> {
    let reply: Wire;
    try {
      reply = asRecord(await this.executeRaw('guest-get-osinfo'), 'guest-get-osinfo');
    } catch (err) {
      if (err instanceof GuestAgentCommandError && err.agentClass === 'CommandNotFound') return undefined;
      throw err;
    }
    const pick = (key: string): string | undefined => optionalString(reply[key]);
    const info: GuestOsInfo = {
      id: pick('id'), name: pick('name'), prettyName: pick('pretty-name'), version: pick('version'),
      versionId: pick('version-id'), variant: pick('variant'), variantId: pick('variant-id'),
      kernelRelease: pick('kernel-release'), kernelVersion: pick('kernel-version'), machine: pick('machine'),
    };
    return Object.fromEntries(Object.entries(info).filter(([, v]) => v !== undefined));
  }

  /** Freezes the guest's filesystems for a consistent snapshot; returns how many were frozen. Pair with fsthaw(). */
  async fsfreeze(timeoutMs = this.requestTimeoutMs): Promise<number> {
    return Number(await this.executeRaw('guest-fsfreeze-freeze', undefined, { timeoutMs }));
  }

  /** Thaws the guest's filesystems; returns how many were thawed. */
  async fsthaw(timeoutMs = this.requestTimeoutMs): Promise<number> {
    return Number(await this.executeRaw('guest-fsfreeze-thaw', undefined, { timeoutMs }));
  }

  /** Whether the guest's filesystems are frozen. */
  async fsfreezeStatus(): Promise<GuestFsfreezeStatus> {
    return (await this.executeRaw('guest-fsfreeze-status')) === 'frozen' ? 'frozen' : 'thawed';
  }

  /** Asks the guest OS to power down, reboot or halt. The agent sends no reply on success, only on refusal. */
  async shutdown(mode: GuestShutdownMode = 'powerdown'): Promise<void> {
    await this.channel.requestWithoutReply('guest-shutdown', { mode }, NO_REPLY_WAIT_MS, this.requestTimeoutMs);
  }

  /** Reads a whole (small) file from the guest; INVALID_SIZE past maxBytes. */
  async fileRead(path: string, maxBytes = 16 * FILE_CHUNK_BYTES): Promise<Buffer> {
    const handle = await this.executeRaw('guest-file-open', { path, mode: 'r' });
    try {
      const chunks: Buffer[] = [];
      let total = 0;
      for (;;) {
        const part = asRecord(await this.executeRaw('guest-file-read', { handle, count: FILE_CHUNK_BYTES }), 'guest-file-read');
        const bytes = Buffer.from(String(part['buf-b64'] ?? ''), 'base64');
        chunks.push(bytes);
        total += bytes.length;
        if (total > maxBytes) throw new DroverError('INVALID_SIZE', `${path} in the guest is larger than ${maxBytes} bytes`);
        if (part.eof === true || bytes.length === 0) return Buffer.concat(chunks);
      }
    } finally {
      await this.closeFile(handle);
    }
  }

  /** Writes (creates or truncates) a small file in the guest. */
  async fileWrite(path: string, data: string | Buffer): Promise<void> {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const handle = await this.executeRaw('guest-file-open', { path, mode: 'w' });
    try {
      // Mode 'w' truncates, so an empty `data` needs no write at all.
      for (let offset = 0; offset < bytes.length; offset += FILE_CHUNK_BYTES) {
        const chunk = bytes.subarray(offset, offset + FILE_CHUNK_BYTES);
        await this.executeRaw('guest-file-write', { handle, 'buf-b64': chunk.toString('base64') });
      }
    } finally {
      await this.closeFile(handle);
    }
  }

  /** Closes the socket; waiting and later calls reject with GUEST_AGENT_UNAVAILABLE. */
  close(): void {
    this.channel.close();
  }

  private async closeFile(handle: unknown): Promise<void> {
    try {
      await this.executeRaw('guest-file-close', { handle });
    } catch (err) {
      // The handle dies with the agent anyway; an unreachable agent must not hide the original error.
      if (!isDroverError(err, 'GUEST_AGENT_UNAVAILABLE')) throw err;
    }
  }

  private execResult(status: Wire): GuestExecResult {
    const signal = typeof status.signal === 'number' ? status.signal : undefined;
    const exitCode = typeof status.exitcode === 'number' ? status.exitcode : signal !== undefined ? 128 + signal : -1;
    const truncated = status['out-truncated'] === true || status['err-truncated'] === true;
    return {
      exitCode,
      stdout: decodeBase64(status['out-data']),
      stderr: decodeBase64(status['err-data']),
      ...(signal !== undefined ? { signal } : {}),
      ...(truncated ? { truncated } : {}),
    };
  }
}
