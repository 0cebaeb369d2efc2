import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { DroverError } from '../../shared/errors.js';
import type { VmView } from '../../vms/schemas.js';
import type { EventLog } from '../events/event-log.js';
import { SYSTEM_ACTOR, type Actor } from '../actor.js';
import { ACTIVE_OPERATION_STATES, type HostRecord, type HostTags, type VmRecord, type VmState } from '../store/records.js';
import type { Repositories, Store, Transaction } from '../store/store.js';
import { AgentClient, type AgentHostInfo } from './agent-client.js';
import type { VmStats } from '../../vms/stats.js';
import { localPoolOf } from '../cluster/view.js';

const MiB = 1024 * 1024;
/** Heartbeats a host may miss before it is declared unreachable. */
const MISSES_BEFORE_UNREACHABLE = 3;
/** States an operation owns: the reconciler leaves them alone until the operation ends. */
const OPERATION_STATES: readonly VmState[] = ['creating', 'deleting'];

/** A VM a host runs that the controller has no record of: shown, never killed. */
export interface UnmanagedVm {
  name: string;
  state: string;
  pid?: number;
  seenSince: string;
}

/** What registering a host needs; the placement settings keep their stored (or default) values when absent. */
export interface HostRegistration {
  name: string;
  /** The agent's URL, as the controller reaches it. */
  address: string;
  /** The bearer token the controller presents to the agent. */
  credential: string;
  tags?: HostTags;
  cpuOvercommit?: number;
  memoryOvercommit?: number;
}

/** The host named `name` in `repos` (the store, or a transaction's view of it); NOT_FOUND when there is none. */
export async function hostByName(repos: Repositories, name: string): Promise<HostRecord> {
  const host = await repos.hosts.getByName(name);
  if (!host) throw new DroverError('NOT_FOUND', `host ${name}; run \`drover host list\``);
  return host;
}

/** Hosts and their agents: registration, heartbeats, and reconciling what hosts run with the store. */
export class HostService {
  private readonly clients = new Map<string, AgentClient>();
  private readonly unmanaged = new Map<string, UnmanagedVm[]>();
  private readonly misses = new Map<string, number>();
  private readonly stats = new Map<string, VmStats[]>();
  private readonly hostInfo = new Map<string, AgentHostInfo>();
  private timer: NodeJS.Timeout | undefined;
  private beating = false;
  /** VMs another service is moving right now (HA restarting them): the reconcile leaves their records alone. */
  skipVm: ((vmId: string) => boolean) | undefined;

  constructor(
    private readonly store: Store,
    private readonly events: EventLog,
    private readonly logger?: Logger,
  ) {}

  /**
   * Adds a host (or updates the address, credential and given placement settings of one with that
   * name). `within` runs inside the registering transaction: if it throws, nothing is stored.
   */
  async register(input: HostRegistration, actor: Actor, within?: (tx: Transaction, host: HostRecord) => Promise<void>): Promise<HostRecord> {
    const client = new AgentClient(input.address, input.credential);
    const info = await client.host();
    const now = new Date().toISOString();
    const host = await this.store.transaction(async (tx) => {
      const existing = await tx.hosts.getByName(input.name);
      const fields = {
        address: input.address,
        credential: input.credential,
        version: info.version,
        accelerator: info.accelerator.accelerator,
        capacity: { cpus: info.capacity.cpus, memoryBytes: info.capacity.memoryMiB * MiB, diskBytes: 0 },
        ...reportedPlacementFacts(info, input.name),
        health: 'healthy' as const,
        lastHeartbeat: now,
        ...(input.tags ? { tags: input.tags } : {}),
        ...(input.cpuOvercommit !== undefined ? { cpuOvercommit: input.cpuOvercommit } : {}),
        ...(input.memoryOvercommit !== undefined ? { memoryOvercommit: input.memoryOvercommit } : {}),
      };
      const record: HostRecord = existing
        ? await tx.hosts.update(existing.id, { ...fields, state: existing.state === 'offline' ? 'ready' : existing.state })
        : { id: randomUUID(), name: input.name, tags: [], cpuOvercommit: 1, memoryOvercommit: 1, pools: [], cpuModels: [], fenceDevice: null, ...fields, usage: { cpus: 0, memoryBytes: 0, diskBytes: 0 }, state: 'ready', createdAt: now, updatedAt: now };
      if (!existing) await tx.hosts.insert(record);
      await this.events.record(
        { actor, objectType: 'host', objectId: record.id, objectName: record.name, action: existing ? 'host.updated' : 'host.registered', hostId: record.id, result: 'success', detail: { address: input.address, accelerator: info.accelerator } },
        tx,
      );
      await within?.(tx, record);
      return record;
    });
    this.clients.set(host.id, client);
    this.hostInfo.set(host.id, info);
    await this.reconcileHost(host);
    return host;
  }

  /** The agent client for a host; HOST_UNREACHABLE when it has no credential. */
  async client(hostId: string): Promise<AgentClient> {
    const cached = this.clients.get(hostId);
    if (cached) return cached;
    const host = await this.store.hosts.get(hostId);
    if (!host?.credential) throw new DroverError('HOST_UNREACHABLE', `host ${host?.name ?? hostId} has no agent credential`);
    const client = new AgentClient(host.address, host.credential);
    this.clients.set(hostId, client);
    return client;
  }

  async list(): Promise<HostRecord[]> {
    return this.store.hosts.list();
  }

  get(name: string): Promise<HostRecord> {
    return hostByName(this.store, name);
  }

  /** Forgets a host with no VM records on it and no VM moving to it; HOST_HAS_VMS otherwise. */
  async remove(name: string, actor: Actor): Promise<void> {
    const host = await this.get(name);
    await this.store.transaction(async (tx) => {
      const vms = await tx.vms.listByHost(host.id);
      if (vms.length > 0) throw new DroverError('HOST_HAS_VMS', `${name}: ${vms.map((v) => v.name).join(', ')}`);
      const arriving = (await tx.vms.list()).filter((v) => v.movingTo === host.id);
      if (arriving.length > 0) throw new DroverError('HOST_HAS_VMS', `${name}: ${arriving.map((v) => `${v.name} is moving there`).join(', ')}`);
      await tx.hosts.delete(host.id);
      await this.events.record({ actor, objectType: 'host', objectId: host.id, objectName: host.name, action: 'host.removed', hostId: host.id, result: 'success', detail: {} }, tx);
    });
    this.clients.delete(host.id);
    this.unmanaged.delete(host.id);
    this.stats.delete(host.id);
    this.hostInfo.delete(host.id);
    this.misses.delete(host.id);
  }

  /** VMs the host runs that the controller does not know. */
  unmanagedOn(hostId: string): UnmanagedVm[] {
    return this.unmanaged.get(hostId) ?? [];
  }

  /** The last usage figures each host reported for its VMs. */
  vmStats(): Map<string, VmStats[]> {
    return this.stats;
  }

  /** The last facts each host's agent reported about itself. */
  lastHostInfo(hostId: string): AgentHostInfo | undefined {
    return this.hostInfo.get(hostId);
  }

  /** Starts heartbeats every `intervalMs`. */
  startHeartbeats(intervalMs: number): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => void this.heartbeat().catch((err: unknown) => this.logger?.error({ err }, 'heartbeat failed')), intervalMs);
    this.timer.unref();
  }

  stopHeartbeats(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Polls every host once and reconciles; overlapping calls are skipped. */
  async heartbeat(): Promise<void> {
    if (this.beating) return;
    this.beating = true;
    try {
      // All hosts at once: a dead host's timeout must not hold up the others. One host's failure must not stop the others, nor the controller.
      await Promise.all(
        (await this.store.hosts.list()).map((host) => this.reconcileHost(host).catch((err: unknown) => this.logger?.error({ err, host: host.name }, 'reconciling a host failed'))),
      );
    } finally {
      this.beating = false;
    }
  }

  /** Reconciles one host: its health and usage, and the state of every VM on it. */
  async reconcileHost(host: HostRecord): Promise<void> {
    let info: AgentHostInfo;
    let vms: VmView[];
    let stats: VmStats[];
    // Records changed after this moment (by an operation) are newer than what the host is about to report.
    const fetchStarted = new Date().toISOString();
    try {
      const client = await this.client(host.id);
      [info, vms, stats] = await Promise.all([client.host(), client.listVms(), client.request<VmStats[]>('GET', '/api/v1/vm-stats', undefined, 5_000)]);
    } catch (err) {
      await this.missed(host, err);
      return;
    }
    this.misses.set(host.id, 0);
    this.hostInfo.set(host.id, info);
    this.stats.set(host.id, stats);
    const now = new Date().toISOString();
    await this.store.transaction(async (tx) => {
      const wasUnreachable = host.health === 'unreachable';
      await tx.hosts.update(host.id, {
        health: 'healthy',
        lastHeartbeat: now,
        version: info.version,
        accelerator: info.accelerator.accelerator,
        capacity: { cpus: info.capacity.cpus, memoryBytes: info.capacity.memoryMiB * MiB, diskBytes: 0 },
        usage: { cpus: info.usage.cpusAllocated, memoryBytes: info.usage.memoryMiBAllocated * MiB, diskBytes: 0 },
        ...reportedPlacementFacts(info, host.name),
      });
      if (wasUnreachable) {
        await this.events.record({ actor: SYSTEM_ACTOR, objectType: 'host', objectId: host.id, objectName: host.name, action: 'host.reachable', hostId: host.id, result: 'success', detail: {} }, tx);
      }
      const known = await tx.vms.listByHost(host.id);
      const byName = new Map(vms.map((v) => [v.name, v]));
      // A VM under an operation (a migration moves it between hosts) is the operation's to record.
      const busy = new Set((await tx.operations.list({ states: ACTIVE_OPERATION_STATES, targetType: 'vm', limit: 100_000 })).map((o) => o.targetId));
      for (const record of known) {
        if (record.updatedAt >= fetchStarted || busy.has(record.id) || this.skipVm?.(record.id)) continue;
        await this.reconcileVm(tx, host, record, byName.get(record.name));
      }
      const allNames = new Set((await tx.vms.list()).map((v) => v.name));
      await this.trackUnmanaged(tx, host, vms.filter((v) => !allNames.has(v.name)), now);
    });
  }

  private async reconcileVm(tx: Transaction, host: HostRecord, record: VmRecord, actual: VmView | undefined): Promise<void> {
    if (OPERATION_STATES.includes(record.state)) return;
    if (!actual) {
      if (record.state === 'error') return;
      await tx.vms.update(record.id, { state: 'error', runtime: { ...record.runtime, crashReason: `host ${host.name} no longer has this VM` } });
      await this.events.record({ actor: SYSTEM_ACTOR, objectType: 'vm', objectId: record.id, objectName: record.name, action: 'vm.missing', hostId: host.id, result: 'failure', detail: { from: record.state } }, tx);
      return;
    }
    const runtime = {
      hostVmId: actual.id,
      guestReady: actual.guestReady,
      ...(actual.pid ? { pid: actual.pid } : {}),
      ...(actual.startedAt ? { startedAt: actual.startedAt } : {}),
      ...(actual.crashReason ? { crashReason: actual.crashReason } : {}),
      ...(actual.addresses?.length ? { addresses: actual.addresses } : {}),
      ...(actual.generation !== undefined ? { generation: actual.generation } : {}),
    };
    const stateChanged = record.state !== actual.state;
    if (!stateChanged && JSON.stringify(runtime) === JSON.stringify(record.runtime)) return;
    await tx.vms.update(record.id, { state: actual.state, runtime });
    const guestChanged = (record.runtime.guestReady ?? false) !== actual.guestReady;
    const addressesChanged = JSON.stringify(record.runtime.addresses ?? []) !== JSON.stringify(actual.addresses ?? []);
    // Watchers (the web console) learn of the guest agent answering, or its addresses, from the event stream instead of polling.
    if (!stateChanged && (guestChanged || addressesChanged)) {
      await this.events.record(
        {
          actor: SYSTEM_ACTOR,
          objectType: 'vm',
          objectId: record.id,
          objectName: record.name,
          action: guestChanged ? (actual.guestReady ? 'vm.guest-ready' : 'vm.guest-lost') : 'vm.addresses-changed',
          hostId: host.id,
          result: 'success',
          detail: { guestReady: actual.guestReady, addresses: actual.addresses ?? [] },
        },
        tx,
      );
    }
    if (stateChanged) {
      await this.events.record(
        {
          actor: SYSTEM_ACTOR,
          objectType: 'vm',
          objectId: record.id,
          objectName: record.name,
          action: actual.state === 'crashed' ? 'vm.crashed' : 'vm.state-changed',
          hostId: host.id,
          result: actual.state === 'crashed' ? 'failure' : 'success',
          detail: { from: record.state, to: actual.state, ...(actual.crashReason ? { reason: actual.crashReason } : {}) },
        },
        tx,
      );
    }
  }

  private async trackUnmanaged(tx: Transaction, host: HostRecord, found: VmView[], now: string): Promise<void> {
    const before = new Map((this.unmanaged.get(host.id) ?? []).map((u) => [u.name, u]));
    const next = found.map((v) => before.get(v.name) ?? { name: v.name, state: v.state, ...(v.pid ? { pid: v.pid } : {}), seenSince: now });
    for (const vm of next) {
      if (!before.has(vm.name)) {
        this.logger?.warn({ host: host.name, vm: vm.name }, 'host runs a VM the controller does not know');
        await this.events.record({ actor: SYSTEM_ACTOR, objectType: 'vm', objectId: null, objectName: vm.name, action: 'vm.unmanaged-detected', hostId: host.id, result: 'warning', detail: { state: vm.state } }, tx);
      }
    }
    this.unmanaged.set(host.id, next);
  }

  private async missed(host: HostRecord, err: unknown): Promise<void> {
    const misses = (this.misses.get(host.id) ?? 0) + 1;
    this.misses.set(host.id, misses);
    if (misses < MISSES_BEFORE_UNREACHABLE || host.health === 'unreachable') return;
    this.logger?.warn({ host: host.name, err }, 'host unreachable');
    await this.store.transaction(async (tx) => {
      await tx.hosts.update(host.id, { health: 'unreachable' });
      await this.events.record({ actor: SYSTEM_ACTOR, objectType: 'host', objectId: host.id, objectName: host.name, action: 'host.unreachable', hostId: host.id, result: 'failure', detail: { error: (err as Error).message } }, tx);
    });
  }
}

/** The pools (the agent's `local` named after the host, as the scheduler's view does) and CPU models an agent reported; nothing from an agent that does not report them. */
function reportedPlacementFacts(info: AgentHostInfo, hostName: string): Partial<Pick<HostRecord, 'pools' | 'cpuModels'>> {
  return {
    ...(info.pools ? { pools: info.pools.map((pool) => (pool.kind === 'local' ? { name: localPoolOf({ name: hostName }), kind: 'local' as const } : pool)) } : {}),
    ...(info.cpuModels ? { cpuModels: info.cpuModels } : {}),
  };
}
