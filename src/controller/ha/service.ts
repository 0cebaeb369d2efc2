/**
 * HA in the controller: it keeps the leases agents push, reads the storage heartbeat slots through
 * a live host of each shared pool, and runs the decision engine (src/ha, `stepHa`) on a timer. It
 * carries out what the engine decides: fence a host, restart a VM elsewhere with a new generation,
 * stop a stale or isolated instance, reset a hung guest, mark a VM failed. The engine's state is
 * saved in the store before any action is sent, so a restarted controller carries a failover on
 * without a second start.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { DroverError } from '../../shared/errors.js';
import { stepHa } from '../../ha/engine.js';
import { checkAdmission } from '../../ha/admission.js';
import type { HaInput, HaReport, HaVmSettings, HostObservation, HostVmReport } from '../../ha/model.js';
import type { HaAction, HaEvent } from '../../ha/outputs.js';
import type { HaStepResult } from '../../ha/engine.js';
import { createHaState, nextGeneration, restoreHaState, serializeHaState, type HaState } from '../../ha/state.js';
import { assertHaConfig, DEFAULT_HA_CONFIG, haConfigProblems, type GuestMonitoringSettings, type HaConfig, type HaTimings } from '../../ha/timings.js';
import type { LivenessVerdict } from '../../ha/liveness.js';
import type { ClusterView } from '../../scheduler/model.js';
import { SYSTEM_ACTOR, type Actor } from '../actor.js';
import { clusterViewOf, sharedPoolsOf } from '../cluster/view.js';
import { readClusterSettings } from '../cluster/settings.js';
import type { EventLog } from '../events/event-log.js';
import type { HostService } from '../hosts/service.js';
import type { ClusterSettings, HostRecord, VmRecord } from '../store/records.js';
import type { Repositories, Store } from '../store/store.js';
import { recordPlacement } from '../vms/placements.js';
import { recordGuestReady } from '../vms/guest-ready.js';
import type { FleetMirror, FleetView } from '../cluster/fleet.js';
import { leaseCredential, type LeaseAnswer, type LeaseRenewal } from './lease-schema.js';

/** Powers hosts off through their fence devices (src/controller/hosts/fence.ts). */
export interface HostFencer {
  hasDevice(host: HostRecord): boolean;
  /** Powers the host off and checks it is off, giving up when `signal` aborts; never throws for a device that fails or hangs. */
  powerOff(hostId: string, signal?: AbortSignal): Promise<{ outcome: 'off' | 'failed'; detail: string }>;
}

/** The setting the engine's state is saved under. */
const STATE_SETTING = 'haState';
/** Hosts a slot read tries before it gives up until the next step (a pool nobody can read must not cost a request per host). */
const SLOT_READERS_PER_READ = 3;

interface Lease {
  at: number;
  renewal: LeaseRenewal;
}

interface SlotSeen {
  seq: number;
  changedAt: number;
  leaseLost: boolean;
  vms: Array<{ name: string; generation: number }>;
}

const LIVE_STATES = new Set(['running', 'paused', 'starting', 'stopping']);

/** How often a host pushes a full report even when nothing changed (usage counters for metrics, the host's facts). */
const REPORT_INTERVAL_MS = 5_000;

export class HaService {
  private state: HaState | undefined;
  private readonly leases = new Map<string, Lease>();
  private readonly slots = new Map<string, SlotSeen>();
  private readonly storageReads = new Map<string, number>();
  /** Per shared pool, the host its slots were last read through. */
  private readonly slotReaderOf = new Map<string, string>();
  private reports: HaReport[] = [];
  private verdicts: LivenessVerdict[] = [];
  private timer: NodeJS.Timeout | undefined;
  private stepping: Promise<void> | undefined;
  private readingSlots = false;
  /** VMs HA is starting right now: the host reconcile leaves their records alone. */
  private readonly restarting = new Set<string>();
  /** Per host, its HA VMs for lease answers, refreshed every step. */
  private haVmsByHost = new Map<string, LeaseAnswer['haVms']>();
  /** Per host name, the lease credential its agent must present, refreshed every step: a renewal (1,000 a second at 1,000 hosts) reads no store. */
  private leaseHosts = new Map<string, LeaseHost>();
  /** The hosts `leaseHosts` was last built from. */
  private leaseHostsFrom: HostRecord[] | undefined;
  /** What the last step built from the fleet copy. */
  private derived: FleetDerived | undefined;
  /** The state as last written to the store, so a step that changed nothing writes nothing. */
  private savedState: string | undefined;

  constructor(
    private readonly store: Store,
    private readonly events: EventLog,
    private readonly hosts: HostService,
    private readonly fencer: HostFencer | undefined,
    /** The hosts and VMs steps judge on, read again when they change (cluster/fleet.ts). */
    private readonly fleet: FleetMirror,
    /** The configuration before any `ha settings set`: the defaults. */
    private readonly baseConfig: HaConfig = DEFAULT_HA_CONFIG,
    private readonly logger?: Logger,
  ) {
    this.config = baseConfig;
  }

  /** The configuration in force: the defaults with the stored changes (`ha settings set`). */
  private config: HaConfig;
  private configLoaded = false;

  /** The HA configuration in force. */
  async settings(): Promise<HaConfig> {
    await this.loadConfig();
    return this.config;
  }

  /**
   * Changes the HA configuration (timings, guest monitoring, relocation limit): merged over what is
   * in force, checked as a whole (INVALID_ARGUMENT naming every problem), stored with an event.
   * Agents learn the timings that concern them from their next lease answer.
   */
  async updateSettings(change: HaSettingsChange, actor: Actor): Promise<HaConfig> {
    const before = await this.settings();
    const next: HaConfig = assertHaConfig({
      ...before,
      timings: { ...before.timings, ...change.timings },
      guestMonitoring: { ...before.guestMonitoring, ...change.guestMonitoring },
      ...(change.relocationLimit !== undefined ? { relocationLimit: change.relocationLimit } : {}),
    });
    await this.store.transaction(async (tx) => {
      await tx.settings.set('haConfig', JSON.parse(JSON.stringify(next)) as never);
      await this.events.record({ actor, objectType: 'cluster', objectId: null, objectName: null, action: 'ha.settings-changed', hostId: null, result: 'success', detail: JSON.parse(JSON.stringify({ change })) as never }, tx);
    });
    this.config = next;
    return next;
  }

  private async loadConfig(): Promise<void> {
    if (this.configLoaded) return;
    const stored = (await this.store.settings.get('haConfig')) as Partial<HaConfig> | undefined;
    if (stored && typeof stored === 'object') {
      const merged: HaConfig = {
        ...this.baseConfig,
        ...stored,
        timings: { ...this.baseConfig.timings, ...stored.timings },
        guestMonitoring: { ...this.baseConfig.guestMonitoring, ...stored.guestMonitoring },
      };
      if (haConfigProblems(merged).length === 0) this.config = merged;
      else this.logger?.error({ problems: haConfigProblems(merged) }, 'the stored HA settings are inconsistent; using the defaults');
    }
    this.configLoaded = true;
  }

  /** Steps every `intervalMs`. */
  start(intervalMs = 500): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => void this.step().catch((err: unknown) => this.logger?.error({ err }, 'HA step failed')), intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.stepping;
  }

  /** True while HA starts the VM: the reconcile must not take its absence on the new host for a loss. */
  isRestarting(vmId: string): boolean {
    return this.restarting.has(vmId);
  }

  /** Accepts a lease renewal from a host's agent; HA_LEASE_REJECTED when the credential is not the host's. */
  async renew(credential: string | undefined, renewal: LeaseRenewal): Promise<LeaseAnswer> {
    const at = Date.now();
    await this.loadConfig();
    const host = credential ? await this.leaseHost(renewal.host, credential) : undefined;
    if (!host) throw new DroverError('HA_LEASE_REJECTED', renewal.host);
    this.leases.set(host.id, { at, renewal });
    // The host's state rides on its renewal: the leader applies it with the next round of reports instead of polling the host.
    if (renewal.report) this.hosts.acceptReport(host.id, renewal.report, at);
    else this.hosts.noteRenewal(host.id, at);
    const t = this.config.timings;
    return {
      acceptedAt: new Date(at).toISOString(),
      reportWanted: this.hosts.wantsReport(host.id),
      haVms: this.haVmsByHost.get(host.id) ?? [],
      timings: {
        leaseIntervalMs: t.leaseIntervalMs,
        leaseExpiryMs: t.leaseExpiryMs,
        storageHeartbeatIntervalMs: t.storageHeartbeatIntervalMs,
        storageHeartbeatExpiryMs: t.storageHeartbeatExpiryMs,
        selfFenceMs: t.selfFenceMs,
        reportIntervalMs: REPORT_INTERVAL_MS,
      },
    };
  }

  /** An administrator states `hostName` is powered off (oVirt's "confirm host has been rebooted"). */
  async confirmDown(hostName: string, actor: Actor): Promise<void> {
    const host = await this.store.hosts.getByName(hostName);
    if (!host) throw new DroverError('NOT_FOUND', `host ${hostName}`);
    const verdict = this.verdicts.find((v) => v.hostId === host.id);
    if (!verdict || verdict.liveness === 'ok' || verdict.storage === 'fresh') {
      throw new DroverError('HA_HOST_NOT_DOWN', `${hostName} is ${verdict?.liveness ?? 'not judged yet'}: ${verdict?.reason ?? ''}`.trim());
    }
    this.reports.push({ kind: 'confirm-down', hostId: host.id, by: actor.name });
    await this.events.record({ actor, objectType: 'host', objectId: host.id, objectName: host.name, action: 'host.confirm-down', hostId: host.id, result: 'success', detail: { liveness: verdict.liveness } });
  }

  /**
   * The generation a start of HA VM `vm` on `hostId` must carry (a user start, or HA switched on
   * for a running VM); undefined for a VM without HA. Saved before it is handed out.
   */
  async generationForStart(vm: VmRecord, hostId: string): Promise<number | undefined> {
    if (!vm.spec.ha) return undefined;
    return this.exclusive(async () => {
      const state = await this.loadState();
      const reported = vm.runtime.generation ?? 0;
      const base = structuredClone(state);
      const record = base.vms[vm.id];
      if (record && record.generation < reported) record.generation = reported;
      const next = nextGeneration(record ? base : { ...base, vms: { ...base.vms, [vm.id]: { vmId: vm.id, phase: 'protected', generation: reported, hostId, guestResets: [], staleStops: [] } } }, vm.id, hostId);
      await this.saveState(next.state);
      return next.generation;
    });
  }

  /** What `ha status` shows. */
  async status(): Promise<HaStatus> {
    const state = await this.loadState();
    const now = Date.now();
    // HA's copy of the fleet, read again only where it changed: `ha status` polled every few hundred ms must not cost a read of every VM.
    const { hosts, vms } = await this.fleet.read();
    const settings = await readClusterSettings(this.store);
    const names = new Map(hosts.map((h) => [h.id, h.name]));
    const verdicts = new Map(this.verdicts.map((v) => [v.hostId, v]));
    return {
      hosts: hosts.map((host) => {
        const verdict = verdicts.get(host.id);
        const lease = this.leases.get(host.id);
        const slot = this.slots.get(host.name);
        const record = state.hosts[host.id];
        return {
          name: host.name,
          liveness: verdict?.liveness ?? 'unknown',
          reason: verdict?.reason ?? 'not judged yet',
          leaseAgeMs: lease ? now - lease.at : null,
          storageHeartbeatAgeMs: slot ? now - slot.changedAt : null,
          watchdog: lease?.renewal.watchdog ?? false,
          fenceDevice: this.fencer?.hasDevice(host) ?? false,
          fence: record?.fence.fencedAt !== undefined ? 'fenced' : record?.fence.inFlight ? 'in-progress' : record?.fence.lastFailure ? `failed: ${record.fence.lastFailure.reason}` : 'none',
        };
      }),
      vms: vms
        .filter((vm) => vm.spec.ha)
        .map((vm) => {
          const record = state.vms[vm.id];
          return {
            name: vm.name,
            host: vm.hostId ? (names.get(vm.hostId) ?? vm.hostId) : null,
            priority: vm.spec.ha?.priority ?? 1,
            isolation: vm.spec.ha?.isolation ?? 'keep-running',
            phase: record?.phase ?? 'protected',
            generation: record?.generation ?? 0,
            ...(record?.failover?.waiting ? { waiting: record.failover.waiting.code } : {}),
            ...(record?.failedReason ? { failedReason: record.failedReason } : {}),
          };
        }),
      admission: admissionOf(hosts, vms, settings),
      timings: { ...this.config.timings },
    };
  }

  /** The cluster's HA admission figures as they stand, or with `change` applied to one VM (its policy, or where it would run). */
  async admission(change?: { vm: VmRecord }, repos: Repositories = this.store): Promise<{ haHostFailures: number; admitted: boolean; reason: string }> {
    const settings = await readClusterSettings(repos);
    const vms = (await repos.vms.list()).map((vm) => (change && vm.id === change.vm.id ? change.vm : vm));
    return admissionOf(await repos.hosts.list(), vms, settings);
  }

  /** HA_ADMISSION_REFUSED, with the figures, when `vm` as given (protected, running where it says) would break admission control. */
  async requireAdmission(vm: VmRecord, repos: Repositories = this.store): Promise<void> {
    const result = await this.admission({ vm }, repos);
    if (!result.admitted) throw new DroverError('HA_ADMISSION_REFUSED', `${vm.name}: ${result.reason}`);
  }

  /** One step: observe, decide, save, act. Steps never overlap. */
  step(): Promise<void> {
    return this.exclusive(() => this.stepOnce());
  }

  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.stepping) await this.stepping;
    const run = fn();
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.stepping = settled;
    try {
      return await run;
    } finally {
      if (this.stepping === settled) this.stepping = undefined;
    }
  }

  private async stepOnce(): Promise<void> {
    await this.loadConfig();
    const now = Date.now();
    const state = await this.loadState();
    const settings = await readClusterSettings(this.store);
    const reports = this.reports;
    this.reports = [];
    // Steps judge on the fleet copy, brought up to date where its stamps moved. A step that would act, record an
    // event or mark a VM lost first reads the recent records again whatever the stamps say, and judges again
    // if anything had changed.
    let fleet = await this.fleet.read();
    let decision = this.decide(state, fleet, settings, reports, now);
    if (decision.result.actions.length > 0 || decision.result.events.length > 0 || decision.lost.length > 0) {
      const checked = await this.fleet.read(true);
      if (checked.hosts !== fleet.hosts || checked.vms !== fleet.vms) decision = this.decide(state, checked, settings, reports, now);
      fleet = checked;
    }
    const { hosts, vms } = fleet;
    const { result, lost } = decision;
    const hostIds = new Set(hosts.map((h) => h.id));
    for (const hostId of this.leases.keys()) if (!hostIds.has(hostId)) this.leases.delete(hostId);
    this.refreshLeaseHosts(hosts);
    const derived = this.derive(hosts, vms, settings);
    void this.readSlots(derived.poolMembers);
    this.verdicts = result.verdicts;
    this.haVmsByHost = leaseAnswersByHost(derived.haVms, result.state);
    await this.saveState(result.state);
    await this.record(result.events, hosts, vms);
    await this.markLost(lost);
    for (const action of result.actions) void this.carryOut(action, hosts, vms).catch((err: unknown) => this.logger?.error({ err, action }, 'HA action failed'));
  }

  /** The engine's step on `fleet`, and the VMs without HA it finds lost with their hosts; writes nothing. */
  private decide(state: HaState, fleet: FleetView, settings: ClusterSettings, reports: HaReport[], now: number): { result: HaStepResult; lost: LostVm[] } {
    const { hosts, vms } = fleet;
    const { cluster, byName, haVms, liveByHost } = this.derive(hosts, vms, settings);
    const storageReadAt = this.storageReadAt();
    const input: HaInput = {
      now,
      cluster,
      hosts: hosts.map((host) => this.observe(host, byName, state)),
      haVms: haVms.map((vm) => haSettings(vm)),
      reports,
      ...(storageReadAt !== undefined ? { storageReadAt } : {}),
    };
    const result = stepHa(state, input, this.config);
    return { result, lost: lostVms(result.verdicts, hosts, liveByHost) };
  }

  /** What a step builds from the fleet, kept while the copy and the settings stay the same: 30,000 VMs are not mapped again every 500 ms. */
  private derive(hosts: HostRecord[], vms: VmRecord[], settings: ClusterSettings): FleetDerived {
    const settingsText = JSON.stringify(settings);
    const last = this.derived;
    if (last && last.hosts === hosts && last.vms === vms && last.settingsText === settingsText) return last;
    const liveByHost = new Map<string, VmRecord[]>();
    for (const vm of vms) {
      if (!vm.hostId || vm.spec.ha || !LIVE_STATES.has(vm.state)) continue;
      const list = liveByHost.get(vm.hostId);
      if (list) list.push(vm);
      else liveByHost.set(vm.hostId, [vm]);
    }
    const poolMembers = new Map<string, HostRecord[]>();
    for (const host of hosts) {
      for (const pool of sharedPoolsOf(host)) {
        const members = poolMembers.get(pool);
        if (members) members.push(host);
        else poolMembers.set(pool, [host]);
      }
    }
    this.derived = {
      hosts,
      poolMembers,
      vms,
      settingsText,
      cluster: haClusterView(clusterViewOf(hosts, vms, settings), vms),
      // Every host's observation looks its VMs up by name.
      byName: new Map(vms.map((vm) => [vm.name, vm])),
      haVms: vms.filter((vm) => vm.spec.ha),
      liveByHost,
    };
    return this.derived;
  }

  private observe(host: HostRecord, byName: ReadonlyMap<string, VmRecord>, state: HaState): HostObservation {
    const lease = this.leases.get(host.id);
    const slot = this.slots.get(host.name);
    const reportOf = (name: string, generation: number | undefined, startedAt: string | undefined, guestReady: boolean, answeredAgoMs: number | undefined): HostVmReport | undefined => {
      const vm = byName.get(name);
      if (!vm) return undefined;
      // Under guest monitoring only the agent's pings count; otherwise an answering guest counts as answering now.
      const lastGuestAnswerAt = vm.spec.ha?.monitoring ? (answeredAgoMs !== undefined && lease ? lease.at - answeredAgoMs : undefined) : guestReady && lease ? lease.at : undefined;
      // An instance started before HA protected it carries no generation yet: it is the one the engine knows.
      const known = state.vms[vm.id]?.generation ?? 0;
      return {
        vmId: vm.id,
        generation: generation ?? known,
        startedAt: startedAt ? Date.parse(startedAt) : lease?.at ?? Date.now(),
        ...(lastGuestAnswerAt !== undefined ? { lastGuestAnswerAt } : {}),
      };
    };
    return {
      hostId: host.id,
      ...(lease ? { lastLeaseRenewalAt: lease.at } : {}),
      ...(slot ? { lastStorageHeartbeatAt: slot.changedAt } : {}),
      ...(lease
        ? { vms: lease.renewal.vms.filter((v) => LIVE_STATES.has(v.state)).flatMap((v) => reportOf(v.name, v.generation, v.startedAt, v.guestReady, v.guestAnsweredAgoMs) ?? []) }
        : {}),
      ...(slot
        ? { storageSlot: { leaseLost: slot.leaseLost, vms: slot.vms.flatMap((v) => (byName.get(v.name) ? [{ vmId: byName.get(v.name)?.id ?? '', generation: v.generation }] : [])) } }
        : {}),
      watchdog: lease?.renewal.watchdog ?? false,
      fenceDevice: this.fencer?.hasDevice(host) ?? false,
    };
  }

  /** When every shared pool's slots were last read; undefined until each was read once. */
  private storageReadAt(): number | undefined {
    if (this.storageReads.size === 0) return undefined;
    return Math.min(...this.storageReads.values());
  }

  /**
   * Reads every shared pool's heartbeat slots (`pools`: each with the hosts that reach it) through a host with
   * a fresh lease that reaches it: the first that answers of slotReaders' choice. Trying the next one at once matters when the first
   * has just died: until its lease is overdue it still looks fresh, and a slot change first seen
   * after a gap in the reads is dated at that later read, which delays finding a dead host failed.
   * Runs beside the step, never blocking it.
   */
  private async readSlots(pools: ReadonlyMap<string, HostRecord[]>): Promise<void> {
    if (this.readingSlots) return;
    this.readingSlots = true;
    try {
      // A pool no host reports any more (its hosts were removed) must not hold every verdict back with its old read.
      for (const pool of this.storageReads.keys()) if (!pools.has(pool)) this.storageReads.delete(pool);
      const now = Date.now();
      await Promise.all(
        [...pools].map(async ([pool, members]) => {
          for (const reader of this.slotReaders(pool, members, now)) {
            const startedAt = Date.now();
            try {
              const client = await this.hosts.client(reader.id);
              const slots = await client.request<Array<{ host: string; seq: number; leaseLost: boolean; vms: Array<{ name: string; generation: number }> }>>('GET', '/api/v1/ha/slots', undefined, 2_000);
              for (const slot of slots) {
                const seen = this.slots.get(slot.host);
                if (!seen || seen.seq !== slot.seq) this.slots.set(slot.host, { seq: slot.seq, changedAt: startedAt, leaseLost: slot.leaseLost, vms: slot.vms });
              }
              this.storageReads.set(pool, startedAt);
              this.slotReaderOf.set(pool, reader.id);
              return;
            } catch (err) {
              this.logger?.debug({ err, pool, via: reader.name }, 'reading the heartbeat slots failed');
            }
          }
        }),
      );
    } finally {
      this.readingSlots = false;
    }
  }

  /**
   * Who reads a pool's slots, at most SLOT_READERS_PER_READ: the host that read them last while it renewed
   * within a lease interval and a half, then the hosts that renewed most recently. A host that has just died
   * renewed least recently of all, so the reads do not wait on it (its lease is still young enough to pass
   * for fresh until the suspect time).
   */
  private slotReaders(pool: string, members: HostRecord[], now: number): HostRecord[] {
    const { suspectAfterMs, leaseIntervalMs } = this.config.timings;
    const renewedAt = (host: HostRecord) => this.leases.get(host.id)?.at ?? -Infinity;
    const fresh = members.filter((host) => now - renewedAt(host) < suspectAfterMs);
    const last = fresh.find((host) => host.id === this.slotReaderOf.get(pool) && now - renewedAt(host) < leaseIntervalMs * 1.5);
    const newest = fresh.filter((host) => host !== last).sort((x, y) => renewedAt(y) - renewedAt(x));
    return [...(last ? [last] : []), ...newest].slice(0, SLOT_READERS_PER_READ);
  }

  private async carryOut(action: HaAction, hosts: HostRecord[], vms: VmRecord[]): Promise<void> {
    const host = (id: string) => hosts.find((h) => h.id === id);
    const vmOf = (id: string) => vms.find((v) => v.id === id);
    switch (action.kind) {
      case 'fence-host': {
        const answer = this.fencer ? await this.fencer.powerOff(action.hostId, AbortSignal.timeout(this.config.timings.fenceTimeoutMs)) : { outcome: 'failed' as const, detail: 'no fencing service' };
        this.reports.push({ kind: 'fence-result', hostId: action.hostId, attempt: action.attempt, outcome: answer.outcome, detail: answer.detail });
        return;
      }
      case 'restart-vm':
        await this.restart(action, host(action.hostId), host(action.fromHostId), vmOf(action.vmId));
        return;
      case 'check-start': {
        const vm = vmOf(action.vmId);
        if (!vm) return;
        const view = await (await this.hosts.client(action.hostId)).getVm(vm.name).catch(() => undefined);
        const running = view !== undefined && LIVE_STATES.has(view.state) && view.generation === action.generation;
        this.reports.push({ kind: 'start-check', vmId: action.vmId, hostId: action.hostId, generation: action.generation, outcome: running ? 'running' : 'not-started' });
        return;
      }
      case 'stop-vm': {
        const vm = vmOf(action.vmId);
        if (!vm) return;
        const client = await this.hosts.client(action.hostId);
        const view = await client.getVm(vm.name).catch(() => undefined);
        if (view && LIVE_STATES.has(view.state) && (action.generation === undefined || view.generation === undefined || view.generation === action.generation)) await client.action(vm.name, 'kill');
        return;
      }
      case 'reset-guest': {
        const vm = vmOf(action.vmId);
        if (vm) await (await this.hosts.client(action.hostId)).action(vm.name, 'reboot');
        return;
      }
      case 'mark-vm-failed':
        await this.store.vms.update(action.vmId, { state: 'error', runtime: { ...(vmOf(action.vmId)?.runtime ?? {}), crashReason: `HA gave up: ${action.reason}` } });
        return;
    }
  }

  /** Moves the VM's record to the target (placement history included), then has the target start it at the generation. */
  private async restart(action: Extract<HaAction, { kind: 'restart-vm' }>, target: HostRecord | undefined, from: HostRecord | undefined, vm: VmRecord | undefined): Promise<void> {
    const report = (outcome: 'started' | 'failed', detail: string) =>
      this.reports.push({ kind: 'start-result', vmId: action.vmId, hostId: action.hostId, generation: action.generation, outcome, detail });
    if (!target || !vm?.runtime.hostVmId) {
      report('failed', !target ? 'the target host is gone' : `${vm?.name ?? action.vmId} has no host id for its disks`);
      return;
    }
    this.restarting.add(vm.id);
    try {
      if (vm.hostId !== target.id) {
        await this.store.transaction(async (tx) => {
          // The dead instance's pid and guest readiness are not the new one's: nothing may read it as ready meanwhile.
          await tx.vms.update(vm.id, { hostId: target.id, state: 'starting', desiredState: 'running', runtime: vm.runtime.hostVmId ? { hostVmId: vm.runtime.hostVmId } : {} });
          await recordPlacement(
            tx,
            vm,
            target,
            { reason: 'ha', actor: SYSTEM_ACTOR, operationId: null, detail: { from: from?.name ?? action.fromHostId, why: `restarted after host ${from?.name ?? action.fromHostId} failed`, generation: action.generation, reason: action.reason } },
          );
        });
      }
      const client = await this.hosts.client(target.id);
      const view = await client.request<{ state: string; id: string; guestReady: boolean; pid?: number; startedAt?: string }>(
        'POST',
        '/api/v1/ha/start',
        { name: vm.name, id: vm.runtime.hostVmId, generation: action.generation },
        60_000,
      );
      await this.store.vms.update(vm.id, {
        state: view.state as VmRecord['state'],
        runtime: { hostVmId: view.id, guestReady: view.guestReady, generation: action.generation, ...(view.pid ? { pid: view.pid } : {}), ...(view.startedAt ? { startedAt: view.startedAt } : {}) },
      });
      report('started', `${target.name} runs it`);
      // The guest's answer moves the next priority tier on, and the console shows it.
      void client
        .waitReady(vm.name, this.config.timings.tierTimeoutMs * 4)
        .then((ready) => recordGuestReady({ store: this.store, events: this.events }, vm.id, ready))
        .catch((err: unknown) => this.logger?.info({ err, vm: vm.name }, 'the restarted guest did not answer'));
    } catch (err) {
      report('failed', (err as Error).message);
    } finally {
      this.restarting.delete(vm.id);
    }
  }

  /** Non-HA VMs on a host that failed, was fenced or confirmed down are lost with it: shown so, with the host. */
  private async markLost(lost: LostVm[]): Promise<void> {
    for (const { vm, host, verdict } of lost) {
      const reason = `lost with host ${host.name} (${verdict.liveness}: ${verdict.reason})`;
      await this.store.transaction(async (tx) => {
        await tx.vms.update(vm.id, { state: 'error', runtime: { ...vm.runtime, crashReason: reason } });
        await this.events.record({ actor: SYSTEM_ACTOR, objectType: 'vm', objectId: vm.id, objectName: vm.name, action: 'vm.lost', hostId: host.id, result: 'failure', detail: { reason } }, tx);
      });
    }
  }

  /** Records the engine's events, with host names beside ids. */
  private async record(events: HaEvent[], hosts: HostRecord[], vms: VmRecord[]): Promise<void> {
    if (events.length === 0) return;
    const vmsById = new Map(vms.map((vm) => [vm.id, vm]));
    const names = namesById(hosts, vms);
    const hostName = (id: string | undefined) => (id ? (names.get(id) ?? id) : undefined);
    // The engine speaks in ids; people read names. A word of the reason that is an id becomes its name (one
    // lookup a word: a thousand hosts turning suspect at once must not cost a pass over every VM each).
    const named = (text: string) => text.replace(/[\w-]+/g, (word) => names.get(word) ?? word);
    await this.store.transaction(async (tx) => {
      for (const event of events) {
        const vm = event.vmId ? vmsById.get(event.vmId) : undefined;
        const restart = event.restart
          ? { ...event.restart, from: hostName(event.restart.fromHostId), to: hostName(event.restart.toHostId), steps: event.restart.steps.map((s) => ({ step: s.step, at: new Date(s.at).toISOString(), ...(s.hostId ? { host: hostName(s.hostId) } : {}) })) }
          : undefined;
        await this.events.record(
          {
            actor: SYSTEM_ACTOR,
            objectType: event.vmId ? 'vm' : 'host',
            objectId: event.vmId ?? event.hostId ?? null,
            objectName: event.vmId ? (vm?.name ?? null) : (hostName(event.hostId) ?? null),
            action: event.name,
            hostId: event.hostId ?? null,
            result: /failed|refused|limit/.test(event.name) ? 'failure' : 'success',
            detail: JSON.parse(JSON.stringify({ reason: named(event.reason), ...(event.waiting ? { waiting: event.waiting } : {}), ...(restart ? { restart } : {}) })) as never,
          },
          tx,
        );
      }
    });
  }

  private async loadState(): Promise<HaState> {
    if (this.state) return this.state;
    const saved = await this.store.settings.get(STATE_SETTING);
    let state: HaState;
    try {
      state = typeof saved === 'string' ? restoreHaState(saved, Date.now()) : createHaState(Date.now());
    } catch (err) {
      this.logger?.error({ err }, 'the saved HA state could not be read; starting afresh');
      state = createHaState(Date.now());
    }
    this.state = state;
    return state;
  }

  private async saveState(state: HaState): Promise<void> {
    const serialized = serializeHaState(state);
    if (serialized !== this.savedState) {
      await this.store.settings.set(STATE_SETTING, serialized);
      this.savedState = serialized;
    }
    this.state = state;
  }

  /**
   * The host named `name` when `credential` is its lease credential. Answered from the names and
   * credentials of the last step's host list; a host it does not know or whose credential does not
   * match there (joined or re-joined since) is read from the store. So a host removed, or a
   * credential replaced (until the new one is first presented), within the last step (500 ms) is
   * still honoured until the next step.
   */
  private async leaseHost(name: string, credential: string): Promise<LeaseHost | undefined> {
    const known = this.leaseHosts.get(name);
    if (known && sameText(credential, known.leaseCredential)) return known;
    const host = await this.store.hosts.getByName(name);
    if (!host?.credential) return undefined;
    const current = leaseHostOf(host, known);
    this.leaseHosts.set(name, current);
    return sameText(credential, current.leaseCredential) ? current : undefined;
  }

  /** Rebuilds the lease credentials by host name from `hosts`, deriving a credential again only when the agent token changed. */
  private refreshLeaseHosts(hosts: HostRecord[]): void {
    // The same copy of the hosts: nothing to rebuild (a host read since by leaseHost stays until the copy changes).
    if (hosts === this.leaseHostsFrom) return;
    this.leaseHostsFrom = hosts;
    const next = new Map<string, LeaseHost>();
    for (const host of hosts) if (host.credential) next.set(host.name, leaseHostOf(host, this.leaseHosts.get(host.name)));
    this.leaseHosts = next;
  }
}

/** What `ha status` returns. */
export interface HaStatus {
  hosts: Array<{ name: string; liveness: string; reason: string; leaseAgeMs: number | null; storageHeartbeatAgeMs: number | null; watchdog: boolean; fenceDevice: boolean; fence: string }>;
  vms: Array<{ name: string; host: string | null; priority: number; isolation: string; phase: string; generation: number; waiting?: string; failedReason?: string }>;
  admission: { haHostFailures: number; admitted: boolean; reason: string };
  timings: Record<string, number>;
}

/** A host as lease renewals need it: its id, and the lease credential derived from its agent token. */
interface LeaseHost {
  id: string;
  agentToken: string;
  leaseCredential: string;
}

/** `host`'s lease credential, reusing `previous` when it was derived from the same host and agent token (an HMAC per renewal adds up). */
function leaseHostOf(host: HostRecord, previous: LeaseHost | undefined): LeaseHost {
  const token = host.credential ?? '';
  if (previous && previous.id === host.id && previous.agentToken === token) return previous;
  return { id: host.id, agentToken: token, leaseCredential: leaseCredential(token) };
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The cluster's HA admission figures for these hosts and VMs. */
function admissionOf(hosts: HostRecord[], vms: VmRecord[], settings: ClusterSettings): { haHostFailures: number; admitted: boolean; reason: string } {
  const { haHostFailures } = settings;
  const running = vms.filter((vm) => vm.desiredState === 'running' || LIVE_STATES.has(vm.state));
  const view = clusterViewOf(hosts, running, settings);
  const result = checkAdmission(view, running.filter((vm) => vm.spec.ha).map((vm) => vm.id), haHostFailures);
  return { haHostFailures, admitted: result.admitted, reason: result.reason };
}

/** A live VM without HA on a host that failed, was fenced or was confirmed down. */
interface LostVm {
  vm: VmRecord;
  host: HostRecord;
  verdict: LivenessVerdict;
}

/** The VMs `verdicts` lose, from the live VMs without HA by host. */
function lostVms(verdicts: LivenessVerdict[], hosts: HostRecord[], liveByHost: ReadonlyMap<string, VmRecord[]>): LostVm[] {
  const lost: LostVm[] = [];
  let hostsById: Map<string, HostRecord> | undefined;
  for (const verdict of verdicts) {
    if (verdict.liveness !== 'failed' && verdict.liveness !== 'fenced' && verdict.liveness !== 'confirmed-down') continue;
    hostsById ??= new Map(hosts.map((h) => [h.id, h]));
    const host = hostsById.get(verdict.hostId);
    if (host) for (const vm of liveByHost.get(host.id) ?? []) lost.push({ vm, host, verdict });
  }
  return lost;
}

/** What HA steps build from one copy of the fleet (HaService.derive). */
interface FleetDerived {
  hosts: HostRecord[];
  vms: VmRecord[];
  settingsText: string;
  cluster: ClusterView;
  byName: Map<string, VmRecord>;
  haVms: VmRecord[];
  /** Live VMs without HA, by host: those a host's failure loses. */
  liveByHost: Map<string, VmRecord[]>;
  /** Each shared pool with the hosts that reach it. */
  poolMembers: Map<string, HostRecord[]>;
}

/** Names of hosts and VMs by id. */
function namesById(hosts: HostRecord[], vms: VmRecord[]): Map<string, string> {
  const names = new Map<string, string>();
  for (const thing of [...hosts, ...vms]) names.set(thing.id, thing.name);
  return names;
}

/** The engine's settings of an HA VM. */
function haSettings(vm: VmRecord): HaVmSettings {
  const ha = vm.spec.ha;
  return { vmId: vm.id, priority: ha?.priority ?? 1, isolationResponse: ha?.isolation ?? 'keep-running', guestMonitoring: ha?.monitoring ?? false };
}

/** The cluster as HA sees it: a VM its user stopped is on no host, so HA never restarts it. */
function haClusterView(view: ClusterView, vms: VmRecord[]): ClusterView {
  const stopped = new Set(vms.filter((vm) => vm.desiredState !== 'running').map((vm) => vm.id));
  return { ...view, vms: view.vms.map((v) => (stopped.has(v.id) ? { ...v, hostId: null } : v)) };
}

/** Each host's HA VMs for its lease answers: where the engine has them, else where the store does. */
function leaseAnswersByHost(vms: readonly VmRecord[], state: HaState): Map<string, LeaseAnswer['haVms']> {
  const out = new Map<string, LeaseAnswer['haVms']>();
  for (const vm of vms) {
    const hostId = state.vms[vm.id]?.hostId ?? vm.hostId;
    if (!vm.spec.ha || !hostId) continue;
    const entry = { name: vm.name, isolation: vm.spec.ha.isolation, monitoring: vm.spec.ha.monitoring, generation: state.vms[vm.id]?.generation ?? 0 };
    const list = out.get(hostId);
    if (list) list.push(entry);
    else out.set(hostId, [entry]);
  }
  return out;
}

/** What `ha settings set` may change. */
export interface HaSettingsChange {
  timings?: Partial<HaTimings>;
  guestMonitoring?: Partial<GuestMonitoringSettings>;
  relocationLimit?: number;
}
