import WebSocket from 'ws';
import { DroverError, ERRORS, type ErrorCode } from '../../shared/errors.js';
import type { VmView, SnapshotView, CreateVmRequest } from '../../vms/schemas.js';
import type { VmRecord as VmRecordOnHost } from '../../vms/records.js';
import type { NbdTarget } from '../../drivers/types.js';
import type { ExecResult } from '../../drivers/types.js';
import type { MigrateRequest, MigrationView } from '../../migration/schemas.js';

/** What an agent says about its host (GET /api/v1/host). */
export interface AgentHostInfo {
  hostname: string;
  version: string;
  accelerator: { accelerator: 'kvm' | 'tcg'; reason: string; probedAt: string; durationMs: number };
  capacity: { cpus: number; memoryMiB: number };
  usage: { vmsRunning: number; vmsDefined: number; cpusAllocated: number; memoryMiBAllocated: number; load1: number };
  /** Absent from agents that predate pool reporting. */
  pools?: Array<{ name: string; kind: 'local' | 'shared' }>;
  cpuModels?: string[];
}

/** An image in an agent's library. */
export interface AgentImage {
  name: string;
  format: string;
  sourceFormat: string;
  virtualSizeBytes: number;
  actualSizeBytes: number;
  sha256: string;
  createdAt: string;
  osNotes: string;
  /** Absent from agents older than container images: read as 'vm'. */
  type?: 'vm' | 'container';
  container?: { init: string[]; stopSignal: string };
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** The controller's client for one host agent's API; agent errors keep their codes. */
export class AgentClient {
  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  /** Sends a request to the agent; HOST_UNREACHABLE when it cannot be reached. */
  async request<T>(method: string, route: string, body?: unknown, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.url}${route}`, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const timedOut = (err as Error).name === 'TimeoutError';
      throw new DroverError(timedOut ? 'TIMEOUT' : 'HOST_UNREACHABLE', `${method} ${this.url}${route}: ${(err as Error).message}`, { cause: err });
    }
    const text = await res.text();
    const isJson = (res.headers.get('content-type') ?? '').includes('json');
    let parsed: unknown = text;
    try {
      parsed = text && isJson ? JSON.parse(text) : text;
    } catch {
      throw new DroverError('HOST_UNREACHABLE', `${method} ${this.url}${route}: the agent answered ${res.status} with a body that is not JSON`);
    }
    if (!res.ok) {
      // The agent refusing the controller's own credential is a host problem, not the caller's token.
      if (res.status === 401) {
        throw new DroverError('HOST_CREDENTIAL_REJECTED', `${method} ${this.url}${route}`);
      }
      const e = (parsed && typeof parsed === 'object' ? parsed : {}) as { code?: string; detail?: string; message?: string };
      const code = e.code && e.code in ERRORS ? (e.code as ErrorCode) : 'INTERNAL';
      throw new DroverError(code, e.detail ?? (code === 'INTERNAL' ? `agent answered ${res.status}: ${e.message ?? text}` : undefined));
    }
    return parsed as T;
  }

  host(): Promise<AgentHostInfo> {
    return this.request('GET', '/api/v1/host', undefined, 5_000);
  }

  listVms(): Promise<VmView[]> {
    return this.request('GET', '/api/v1/vms', undefined, 10_000);
  }

  getVm(name: string): Promise<VmView> {
    return this.request('GET', `/api/v1/vms/${encodeURIComponent(name)}`);
  }

  createVm(body: CreateVmRequest): Promise<VmView> {
    return this.request('POST', '/api/v1/vms', body, 10 * 60_000);
  }

  /** Starts the VM; `generation` is HA's, for a VM it protects. */
  start(name: string, generation?: number): Promise<VmView> {
    return this.request('POST', `/api/v1/vms/${encodeURIComponent(name)}/start`, generation !== undefined ? { generation } : {}, 60_000);
  }

  /** start, kill, reboot, pause or resume. */
  action(name: string, action: 'start' | 'kill' | 'reboot' | 'pause' | 'resume'): Promise<VmView> {
    return this.request('POST', `/api/v1/vms/${encodeURIComponent(name)}/${action}`, undefined, 60_000);
  }

  stop(name: string, timeoutMs: number): Promise<VmView> {
    return this.request('POST', `/api/v1/vms/${encodeURIComponent(name)}/stop?timeoutMs=${timeoutMs}`, undefined, timeoutMs + 30_000);
  }

  waitReady(name: string, timeoutMs: number): Promise<VmView> {
    return this.request('POST', `/api/v1/vms/${encodeURIComponent(name)}/wait-ready`, { timeoutMs }, timeoutMs + 10_000);
  }

  /** Sets (kbit/s) or removes (null) the rate limit of NIC `index`, live if the VM runs. */
  setNicRateLimit(name: string, index: number, rateLimitKbit: number | null): Promise<VmView> {
    return this.request('PUT', `/api/v1/vms/${encodeURIComponent(name)}/nics/${index}/rate-limit`, { rateLimitKbit }, 60_000);
  }

  /** Changes a VM's CPU cap, memory or process limit: kept for its next start, and live where its driver can. */
  setLimits(name: string, limits: { cpuLimitPercent?: number | null; memoryMiB?: number; pidsLimit?: number | null }): Promise<VmView> {
    return this.request('PUT', `/api/v1/vms/${encodeURIComponent(name)}/limits`, limits, 60_000);
  }

  /** Cold move, source: the guest's host record. */
  coldRecord(name: string): Promise<VmRecordOnHost> {
    return this.request('GET', `/api/v1/vms/${encodeURIComponent(name)}/cold-move/record`, undefined, 30_000);
  }

  /** Cold move, source: copies the guest's whole root disk into `target` while it runs, recording its writes from then on. */
  coldCopy(name: string, target: NbdTarget): Promise<{ bytes: number }> {
    return this.request('POST', `/api/v1/vms/${encodeURIComponent(name)}/cold-move/copy`, target, 3_600_000);
  }

  /** Cold move, source, once the guest stopped: copies the clusters written since coldCopy began. */
  coldCopyChanges(name: string, target: NbdTarget): Promise<{ bytes: number }> {
    return this.request('POST', `/api/v1/vms/${encodeURIComponent(name)}/cold-move/copy-changes`, target, 3_600_000);
  }

  /** Cold move, source: forgets the guest that now lives on the destination. */
  async coldRelease(name: string, sharedDisksInUse: boolean): Promise<void> {
    await this.request('POST', `/api/v1/vms/${encodeURIComponent(name)}/cold-move/release`, { sharedDisksInUse }, 60_000);
  }

  /** Cold move, destination: an empty disk served over NBD (copy), or the shared disks checked (shared). */
  coldPrepare(body: { record: VmRecordOnHost; storage: 'shared' | 'copy' }): Promise<{ target?: NbdTarget }> {
    return this.request('POST', '/api/v1/cold-moves/incoming', body, 120_000);
  }

  /** Cold move, destination: defines the guest from the copied (or shared) disk. */
  coldFinish(name: string): Promise<VmView> {
    return this.request('POST', `/api/v1/cold-moves/incoming/${encodeURIComponent(name)}/finish`, undefined, 120_000);
  }

  /** Cold move, destination: drops what a prepared move made. */
  async coldAbort(name: string): Promise<void> {
    await this.request('DELETE', `/api/v1/cold-moves/incoming/${encodeURIComponent(name)}`, undefined, 60_000);
  }

  async deleteVm(name: string, force: boolean): Promise<void> {
    await this.request('DELETE', `/api/v1/vms/${encodeURIComponent(name)}${force ? '?force=true' : ''}`, undefined, 60_000);
  }

  exec(name: string, body: { command: string; args?: string[]; input?: string; timeoutMs?: number }): Promise<ExecResult> {
    return this.request('POST', `/api/v1/vms/${encodeURIComponent(name)}/exec`, body, (body.timeoutMs ?? 60_000) + 10_000);
  }

  clone(name: string, target: string, mode: 'linked' | 'full'): Promise<VmView> {
    return this.request('POST', `/api/v1/vms/${encodeURIComponent(name)}/clone`, { name: target, mode }, 30 * 60_000);
  }

  snapshots(name: string): Promise<SnapshotView[]> {
    return this.request('GET', `/api/v1/vms/${encodeURIComponent(name)}/snapshots`);
  }

  snapshotCreate(name: string, snapshot: string): Promise<SnapshotView[]> {
    return this.request('POST', `/api/v1/vms/${encodeURIComponent(name)}/snapshots`, { name: snapshot }, 10 * 60_000);
  }

  snapshotRevert(name: string, snapshot: string): Promise<SnapshotView[]> {
    return this.request('POST', `/api/v1/vms/${encodeURIComponent(name)}/snapshots/${encodeURIComponent(snapshot)}/revert`, undefined, 10 * 60_000);
  }

  snapshotDelete(name: string, snapshot: string): Promise<SnapshotView[]> {
    return this.request('DELETE', `/api/v1/vms/${encodeURIComponent(name)}/snapshots/${encodeURIComponent(snapshot)}`, undefined, 10 * 60_000);
  }

  consoleLog(name: string, tailBytes?: number): Promise<string> {
    return this.request('GET', `/api/v1/vms/${encodeURIComponent(name)}/console/log${tailBytes ? `?tailBytes=${tailBytes}` : ''}`);
  }

  /** Opens the VM's serial console on the agent as a WebSocket. */
  console(name: string): WebSocket {
    return new WebSocket(`${this.url.replace(/^http/, 'ws')}/api/v1/vms/${encodeURIComponent(name)}/console`, {
      headers: { authorization: `Bearer ${this.token}` },
    });
  }

  /** Opens the VM's VNC display (raw RFB) on the agent as a WebSocket. */
  vnc(name: string): WebSocket {
    return new WebSocket(`${this.url.replace(/^http/, 'ws')}/api/v1/vms/${encodeURIComponent(name)}/vnc`, {
      headers: { authorization: `Bearer ${this.token}` },
    });
  }

  /** Starts live-migrating VM `name` away from this (source) agent; answers at once with the migration. */
  migrate(name: string, body: MigrateRequest): Promise<MigrationView> {
    return this.request('POST', `/api/v1/vms/${encodeURIComponent(name)}/migrate`, body, 60_000);
  }

  /** A migration this agent runs or ran, with its progress and, once finished, QEMU's statistics. */
  migration(id: string): Promise<MigrationView> {
    return this.request('GET', `/api/v1/migrations/${encodeURIComponent(id)}`, undefined, 10_000);
  }

  /** Every migration this agent remembers: those under way and the latest finished ones, oldest first. */
  migrations(): Promise<MigrationView[]> {
    return this.request('GET', '/api/v1/migrations', undefined, 10_000);
  }

  /** Asks the agent to roll a migration back; refused once it is past switchover. */
  cancelMigration(id: string): Promise<MigrationView> {
    return this.request('POST', `/api/v1/migrations/${encodeURIComponent(id)}/cancel`, undefined, 60_000);
  }

  listImages(): Promise<AgentImage[]> {
    return this.request('GET', '/api/v1/images');
  }

  importImage(body: { path: string; name: string; format?: string; osNotes?: string }): Promise<AgentImage> {
    return this.request('POST', '/api/v1/images/import', body, 60 * 60_000);
  }

  async deleteImage(name: string): Promise<void> {
    await this.request('DELETE', `/api/v1/images/${encodeURIComponent(name)}`);
  }
}
