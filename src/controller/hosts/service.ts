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
/** A host counts as pushing its state while its lease renewals arrive this recently... */
const PUSH_RENEWAL_FRESH_MS = 5_000;
/** ...and its last report this recently (hosts send one at least every 5 s by default). */
const PUSH_REPORT_FRESH_MS = 20_000;
/** Taken off a report's collection time, for the network and clocks: records an operation changed after it are newer than the report. */
const PUSH_SLACK_MS = 250;

/** A report a host pushed, waiting for the next round. */
interface PushedReport {
  info: AgentHostInfo;
  vms: VmView[];
  stats: VmStats[];
  /** When the agent collected it, by the controller's clock (less some slack). */
  collectedAt: string;
}

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
  /** Reports hosts pushed since the last round, by host id. */
  private readonly pushed = new Map<string, PushedReport>();
  /** When each host last renewed its lease, and last pushed a report (the controller's clock). */
  private readonly lastRenewal = new Map<string, number>();
  private readonly lastReport = new Map<string, number>();
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

  /** A host's lease renewal arrived (HA keeps the lease itself). */
  noteRenewal(hostId: string, at = Date.now()): void {
    this.lastRenewal.set(hostId, at);
  }

  /** A host pushed its state with a lease renewal: applied at the next round, in one transaction with the other hosts' reports. */
  acceptReport(hostId: string, report: { ageMs: number; host: AgentHostInfo; vms: VmView[]; stats: VmStats[] }, receivedAt = Date.now()): void {
    this.pushed.set(hostId, { info: report.host, vms: report.vms, stats: report.stats, collectedAt: new Date(receivedAt - report.ageMs - PUSH_SLACK_MS).toISOString() });
    this.lastReport.set(hostId, receivedAt);
    this.lastRenewal.set(hostId, receivedAt);
  }

  /** True when the controller has no report of the host yet (it just became the leader, or the host never pushed): the lease answer asks for one. */
  wantsReport(hostId: string): boolean {
    return !this.lastReport.has(hostId);
  }

  /** True while the host pushes its state: it is not polled. */
  private pushes(hostId: string, now: number): boolean {
    return now - (this.lastRenewal.get(hostId) ?? 0) < PUSH_RENEWAL_FRESH_MS && now - (this.lastReport.get(hostId) ?? 0) < PUSH_REPORT_FRESH_MS;
  }

  /**
   * One round: applies the reports pushing hosts sent since the last round, all in one
   * transaction, and polls the hosts that do not push (older agents, or one whose renewals
   * stopped: its poll then finds out whether it is reachable). Overlapping calls are skipped.
   */
  async heartbeat(): Promise<void> {
    if (this.beating) return;
    this.beating = true;
    try {
      const now = Date.now();
      const hosts = await this.store.hosts.list();
      const reports: Array<[HostRecord, PushedReport]> = [];
      const polled: HostRecord[] = [];
      for (const host of hosts) {
        if (!this.pushes(host.id, now)) polled.push(host);
        else {
          const report = this.pushed.get(host.id);
          this.pushed.delete(host.id);
          if (report) reports.push([host, report]);
        }
      }
      // All hosts at once: a dead host's timeout must not hold up the others. One host's failure must not stop the others, nor the controller.
      await Promise.all([
        this.applyReports(reports).catch((err: unknown) => this.logger?.error({ err }, 'applying pushed host reports failed')),
        ...polled.map((host) => this.reconcileHost(host).catch((err: unknown) => this.logger?.error({ err, host: host.name }, 'reconciling a host failed'))),
      ]);
    } finally {
      this.beating = false;
    }
  }

  /** Applies pushed reports: one transaction for all of them; should that fail, one per host, so that one bad host does not hold up the rest. */
  private async applyReports(reports: Array<[HostRecord, PushedReport]>): Promise<void> {
    if (reports.length === 0) return;
    for (const [host, report] of reports) this.remember(host, report.info, report.stats);
    try {
      await this.store.transaction(async (tx) => {
        const busy = await busyVmIds(tx);
        for (const [host, report] of reports) await this.apply(tx, host, report.info, report.vms, report.collectedAt, busy);
      });
    } catch (err) {
      this.logger?.warn({ err, hosts: reports.length }, 'a batch of host reports failed; applying them one by one');
      for (const [host, report] of reports) {
        await this.store
          .transaction((tx) => this.apply(tx, host, report.info, report.vms, report.collectedAt))
          .catch((one: unknown) => this.logger?.error({ err: one, host: host.name }, 'applying a host report failed'));
      }
    }
  }

  private remember(host: HostRecord, info: AgentHostInfo, stats: VmStats[]): void {
    this.misses.set(host.id, 0);
    this.hostInfo.set(host.id, info);
    this.stats.set(host.id, stats);
  }

  /** Reconciles one host by asking its agent: its health and usage, and the state of every VM on it. */
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
    this.remember(host, info, stats);
    await this.store.transaction((tx) => this.apply(tx, host, info, vms, fetchStarted));
  }

  /** Writes what a host reported, collected at `fetchStarted`: records an operation changed after that are left alone. */
  private async apply(tx: Transaction, host: HostRecord, info: AgentHostInfo, vms: VmView[], fetchStarted: string, busyVms?: ReadonlySet<string>): Promise<void> {
    const now = new Date().toISOString();
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
    const busy = busyVms ?? (await busyVmIds(tx));
    for (const record of known) {
      if (record.updatedAt >= fetchStarted || busy.has(record.id) || this.skipVm?.(record.id)) continue;
      await this.reconcileVm(tx, host, record, byName.get(record.name));
    }
    // What the host runs that is not recorded here: looked up by name (usually none), never by listing every VM.
    const knownNames = new Set(known.map((v) => v.name));
    const strangers: VmView[] = [];
    for (const vm of vms) if (!knownNames.has(vm.name) && !(await tx.vms.getByName(vm.name))) strangers.push(vm);
    await this.trackUnmanaged(tx, host, strangers, now);
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

/** VMs an operation is working on: the reconcile leaves their records to it. */
async function busyVmIds(tx: Transaction): Promise<Set<string>> {
  return new Set((await tx.operations.list({ states: ACTIVE_OPERATION_STATES, targetType: 'vm', limit: 100_000 })).map((o) => o.targetId));
}

/** The pools (the agent's `local` named after the host, as the scheduler's view does) and CPU models an agent reported; nothing from an agent that does not report them. */
function reportedPlacementFacts(info: AgentHostInfo, hostName: string): Partial<Pick<HostRecord, 'pools' | 'cpuModels'>> {
  return {
    ...(info.pools ? { pools: info.pools.map((pool) => (pool.kind === 'local' ? { name: localPoolOf({ name: hostName }), kind: 'local' as const } : pool)) } : {}),
    ...(info.cpuModels ? { cpuModels: info.cpuModels } : {}),
  };
}
