/**
 * A simulated cluster for testing the HA engine: a simulated clock, hosts with leases and storage
 * heartbeats, fence devices that work, fail or hang, watchdogs, and a record of which host really
 * runs each VM instance. It drives the engine every tick (100 ms of simulated time by default),
 * carries out its actions against the simulated world, and injects faults. Nothing here is real;
 * it is the world the engine must stay safe in.
 *
 * Each simulated host runs two processes, as the agent contract asks:
 * - the agent renews the lease, reports its VMs and carries out starts, checks and stops; it
 *   refuses every start once its lease has lapsed, and checks the generation first;
 * - a small heartbeat daemon writes the storage heartbeat slot, applies the self-fence rules and
 *   keeps the watchdog from firing. An agent crash therefore leaves the storage heartbeat going:
 *   a short crash is a suspect host, a long one an isolated host, never a failed one.
 * Self-fence rules: once its lease has lapsed the daemon kills the VMs whose isolation response is
 * power-off and says so in its slot; once lease and storage heartbeat have both lapsed it kills
 * every HA VM, and that latches: links that come back a moment later do not undo it. It only keeps
 * the watchdog alive while it has done so, and a frozen host keeps nothing alive, so its watchdog
 * resets it `selfFenceMs` after the freeze.
 */
import { stepHa } from './engine.js';
import { checkStartGeneration } from './generation.js';
import type { HaPriority, HaReport, HaVmSettings, HostObservation, HostVmReport, IsolationResponse, StorageSlot } from './model.js';
import type { HaAction, HaEvent } from './outputs.js';
import { createHaState, type HaState, nextGeneration, restoreHaState, serializeHaState } from './state.js';
import { DEFAULT_HA_CONFIG, type HaConfig } from './timings.js';
import { cluster, GiB, host as hostView, vm as vmView } from '../scheduler/testing.js';
import type { ClusterView } from '../scheduler/model.js';

/** works: powers the host off and its status check confirms; fails: answers with an error; hangs: never answers. */
export type SimulatedFenceMode = 'works' | 'fails' | 'hangs' | 'none';

/** A simulated host. */
export interface SimulatedHostSpec {
  id: string;
  watchdog?: boolean;
  fence?: SimulatedFenceMode;
  cpus?: number;
  memoryGiB?: number;
}

/** A simulated HA VM, running on `hostId` at generation 1 when the simulation starts. */
export interface SimulatedVmSpec {
  id: string;
  hostId: string;
  priority?: HaPriority;
  isolationResponse?: IsolationResponse;
  guestMonitoring?: boolean;
  cpus?: number;
  memoryGiB?: number;
  antiAffinity?: string[];
}

/** A fault injected at a simulated time (ms). */
export type SimulatedFault =
  | { at: number; kind: 'power-off' | 'power-on' | 'network-down' | 'network-up' | 'storage-down' | 'storage-up' | 'freeze' | 'thaw' | 'agent-crash' | 'agent-restart' | 'confirm-down'; host: string }
  | { at: number; kind: 'fence-mode'; host: string; mode: SimulatedFenceMode }
  | { at: number; kind: 'start-fails'; host: string; fails: boolean }
  | { at: number; kind: 'controller-restart'; downMs: number }
  /** The controller cannot read the heartbeat slots (its own storage link is down). */
  | { at: number; kind: 'controller-storage-down' | 'controller-storage-up' }
  | { at: number; kind: 'guest-hang'; vm: string }
  /** From now on every restart message is delivered a second time, `delayMs` later. */
  | { at: number; kind: 'late-starts'; delayMs: number };

/** Tunables of the simulated world. */
export interface SimulatedOptions {
  tickMs?: number;
  config?: HaConfig;
  /** From a fence action to the device's answer. */
  fenceDelayMs?: number;
  /** From a QEMU start to its guest agent's first answer. */
  guestBootMs?: number;
  /** From power-on or a watchdog reset to the agent running. */
  hostBootMs?: number;
  /** One way, controller to agent or back. */
  messageDelayMs?: number;
}

/** A QEMU that really exists in the simulated world. */
export interface SimulatedInstance {
  vmId: string;
  generation: number;
  startedAt: number;
  readyAt: number;
  lastGuestAnswerAt?: number;
  hung: boolean;
}

/** A simulated host's true state (what the engine can only observe from outside). */
export interface SimulatedHost {
  spec: Required<Pick<SimulatedHostSpec, 'id' | 'watchdog' | 'fence'>>;
  powered: boolean;
  frozen: boolean;
  agentUp: boolean;
  linkUp: boolean;
  storageUp: boolean;
  failStarts: boolean;
  bootingUntil?: number;
  /** The agent's last accepted lease renewal, and the daemon's last slot write, by the host's own account. */
  leaseRenewedAt: number;
  storageWrittenAt: number;
  watchdogPettedAt: number;
  fencedAt?: number;
  confirmedDownAt?: number;
  /** When the host last stopped being able to run its HA guests on its own (self-fence, watchdog reset, power loss); cleared by a lease renewal. */
  cutOff?: { at: number; by: 'self-fence' | 'watchdog' | 'power' };
  instances: Map<string, SimulatedInstance>;
  /** Every start this host tried, by `vm@generation`, with its outcome. */
  attempts: Map<string, { outcome: 'started' | 'failed'; detail: string }>;
}

/** A restart the engine decided, with the truth about the old host at that moment (for property checks). */
export interface SimulatedRestart {
  at: number;
  action: Extract<HaAction, { kind: 'restart-vm' }>;
  ground: string | undefined;
  oldHost: { powered: boolean; frozen: boolean; watchdog: boolean; fencedAt?: number; confirmedDownAt?: number; leaseRenewedAt: number; storageWrittenAt: number; runsVm: boolean };
}

interface SimulatedMessage {
  at: number;
  deliver: () => void;
}

interface SimulatedController {
  up: boolean;
  storageUp: boolean;
  /** Bumped on every restart: answers addressed to an earlier process are lost. */
  epoch: number;
  upAt?: number;
  state: HaState;
  saved: string;
  leaseSeen: Map<string, number>;
  hostReports: Map<string, HostVmReport[]>;
  slotSeen: Map<string, { writtenAt: number; seenAt?: number; slot: StorageSlot }>;
  storageReadAt?: number;
  inbox: HaReport[];
  /** Where the controller's store records each VM. */
  store: Map<string, string | null>;
}

/** A simulated cluster driven step by step. */
export class SimulatedCluster {
  readonly hosts = new Map<string, SimulatedHost>();
  readonly vms: Array<Required<Omit<SimulatedVmSpec, 'antiAffinity'>> & { antiAffinity: string[] }>;
  readonly config: HaConfig;
  /** Engine events as `seconds name subject [detail]` lines. */
  readonly log: string[] = [];
  readonly events: HaEvent[] = [];
  readonly actions: Array<{ at: number; action: HaAction }> = [];
  /** What the simulated world did on its own: watchdog resets, self-fences, refused starts. */
  readonly worldLog: string[] = [];
  readonly restarts: SimulatedRestart[] = [];
  now = 0;
  private readonly options: Required<Omit<SimulatedOptions, 'config'>>;
  private readonly faults: SimulatedFault[] = [];
  private readonly messages: SimulatedMessage[] = [];
  private readonly generations = new Map<string, number>();
  private readonly slots = new Map<string, StorageSlot & { writtenAt: number }>();
  private readonly controller: SimulatedController;
  private readonly observers: Array<(sim: SimulatedCluster) => void> = [];
  private readonly cluster: ClusterView;
  private lateStartDelayMs: number | undefined;

  /** Builds the world at time 0: every host up, every VM running at generation 1 where its spec says. */
  constructor(hosts: readonly SimulatedHostSpec[], vms: readonly SimulatedVmSpec[], options: SimulatedOptions = {}) {
    this.config = options.config ?? DEFAULT_HA_CONFIG;
    this.options = { tickMs: 100, fenceDelayMs: 1_000, guestBootMs: 2_000, hostBootMs: 20_000, messageDelayMs: 100, ...options };
    for (const spec of hosts) {
      this.hosts.set(spec.id, {
        spec: { id: spec.id, watchdog: spec.watchdog ?? false, fence: spec.fence ?? 'none' },
        powered: true,
        frozen: false,
        agentUp: true,
        linkUp: true,
        storageUp: true,
        failStarts: false,
        leaseRenewedAt: 0,
        storageWrittenAt: 0,
        watchdogPettedAt: 0,
        instances: new Map(),
        attempts: new Map(),
      });
    }
    this.vms = vms.map((v) => ({ priority: 3, isolationResponse: 'keep-running', guestMonitoring: false, cpus: 1, memoryGiB: 1, ...v, antiAffinity: v.antiAffinity ?? [] }));
    let state = createHaState(0);
    const store = new Map<string, string | null>();
    for (const v of this.vms) {
      ({ state } = nextGeneration(state, v.id, v.hostId));
      this.generations.set(v.id, 1);
      this.host(v.hostId).instances.set(v.id, { vmId: v.id, generation: 1, startedAt: -600_000, readyAt: -590_000, lastGuestAnswerAt: 0, hung: false });
      store.set(v.id, v.hostId);
    }
    this.controller = { up: true, storageUp: true, epoch: 0, state, saved: serializeHaState(state), leaseSeen: new Map(), hostReports: new Map(), slotSeen: new Map(), inbox: [], store };
    this.cluster = cluster(
      hosts.map((h) => hostView(h.id, { cpus: h.cpus ?? 8, memoryBytes: (h.memoryGiB ?? 16) * GiB })),
      this.vms.map((v) => vmView(v.id, { cpus: v.cpus, memoryBytes: v.memoryGiB * GiB, groups: { antiAffinity: v.antiAffinity } })),
    );
  }

  /** Adds faults; each applies at the start of the first tick at or after its time. */
  schedule(faults: readonly SimulatedFault[]): this {
    this.faults.push(...faults);
    this.faults.sort((a, b) => a.at - b.at);
    return this;
  }

  /** Calls `observer` after every tick (for invariant checks). */
  onStep(observer: (sim: SimulatedCluster) => void): this {
    this.observers.push(observer);
    return this;
  }

  /** Runs ticks until the simulated clock reaches `until` (ms). */
  run(until: number): this {
    while (this.now + this.options.tickMs <= until) {
      this.now += this.options.tickMs;
      this.tick();
    }
    return this;
  }

  /** The engine's current state (the live one, or the last saved while the controller is down). */
  engineState(): HaState {
    return this.controller.state;
  }

  /** Every instance of the VM on a powered host, frozen ones included: what could still run its guest. */
  instancesOf(vmId: string): Array<{ hostId: string; generation: number; frozen: boolean }> {
    const found: Array<{ hostId: string; generation: number; frozen: boolean }> = [];
    for (const host of this.hosts.values()) {
      const instance = host.instances.get(vmId);
      if (host.powered && instance) found.push({ hostId: host.spec.id, generation: instance.generation, frozen: host.frozen });
    }
    return found;
  }

  /** The host with this id; throws on an unknown id (a mistake in the test). */
  host(id: string): SimulatedHost {
    const found = this.hosts.get(id);
    if (!found) throw new Error(`no simulated host ${id}`);
    return found;
  }

  private tick(): void {
    while (this.faults.length > 0 && (this.faults[0]?.at ?? Infinity) <= this.now) this.apply(this.faults.shift() as SimulatedFault); // Non-empty by the loop test.
    for (const host of this.hosts.values()) this.tickHost(host);
    const due = this.messages.filter((m) => m.at <= this.now);
    for (const message of due) this.messages.splice(this.messages.indexOf(message), 1);
    for (const message of due) message.deliver();
    this.tickController();
    for (const observer of this.observers) observer(this);
  }

  private apply(fault: SimulatedFault): void {
    const at = (this.now / 1000).toFixed(1);
    this.worldLog.push(`${at} fault ${fault.kind}${'host' in fault ? ` ${fault.host}` : ''}${'vm' in fault ? ` ${fault.vm}` : ''}`);
    switch (fault.kind) {
      case 'controller-restart':
        this.controller.up = false;
        this.controller.epoch += 1;
        this.controller.inbox = [];
        this.messages.push({ at: this.now + fault.downMs, deliver: () => this.restartController() });
        return;
      case 'late-starts':
        this.lateStartDelayMs = fault.delayMs;
        return;
      case 'controller-storage-down':
      case 'controller-storage-up':
        this.controller.storageUp = fault.kind === 'controller-storage-up';
        return;
      case 'guest-hang':
        for (const host of this.hosts.values()) {
          const instance = host.instances.get(fault.vm);
          if (instance) instance.hung = true;
        }
        return;
      default:
        break;
    }
    const host = this.host(fault.host);
    switch (fault.kind) {
      case 'power-off':
        this.powerOff(host);
        return;
      case 'power-on':
        if (!host.powered) this.boot(host);
        return;
      case 'network-down':
      case 'network-up':
        host.linkUp = fault.kind === 'network-up';
        return;
      case 'storage-down':
      case 'storage-up':
        host.storageUp = fault.kind === 'storage-up';
        return;
      case 'freeze':
      case 'thaw':
        if (host.powered) host.frozen = fault.kind === 'freeze';
        return;
      case 'agent-crash':
      case 'agent-restart':
        host.agentUp = fault.kind === 'agent-restart';
        return;
      case 'confirm-down':
        host.confirmedDownAt = this.now;
        if (this.controller.up) this.controller.inbox.push({ kind: 'confirm-down', hostId: host.spec.id, by: 'admin' });
        return;
      case 'fence-mode':
        host.spec.fence = fault.mode;
        return;
      case 'start-fails':
        host.failStarts = fault.fails;
        return;
    }
  }

  private powerOff(host: SimulatedHost): void {
    host.cutOff ??= { at: this.now, by: 'power' };
    host.powered = false;
    host.frozen = false;
    host.instances.clear();
    delete host.bootingUntil;
  }

  private boot(host: SimulatedHost): void {
    host.powered = true;
    host.frozen = false;
    host.agentUp = false;
    host.instances.clear();
    host.bootingUntil = this.now + this.options.hostBootMs;
  }

  private alive(host: SimulatedHost): boolean {
    return host.powered && !host.frozen && host.bootingUntil === undefined;
  }

  /** The agent can be reached by the controller. */
  private reachable(host: SimulatedHost): boolean {
    return this.alive(host) && host.agentUp && host.linkUp;
  }

  private tickHost(host: SimulatedHost): void {
    const t = this.config.timings;
    const at = (this.now / 1000).toFixed(1);
    if (host.bootingUntil !== undefined && host.bootingUntil <= this.now) {
      delete host.bootingUntil;
      host.agentUp = true;
      host.watchdogPettedAt = this.now;
      this.worldLog.push(`${at} ${host.spec.id} booted`);
    }
    if (host.powered && host.spec.watchdog && host.bootingUntil === undefined && this.now - host.watchdogPettedAt >= t.selfFenceMs) {
      this.worldLog.push(`${at} ${host.spec.id} reset by its watchdog${host.instances.size ? `, killing ${[...host.instances.keys()].join(', ')}` : ''}`);
      host.cutOff ??= { at: this.now, by: 'watchdog' };
      this.boot(host);
      return;
    }
    if (!this.alive(host)) return;
    // The daemon first: self-fence and generation checks come before the guests get to run.
    const leaseLapsed = this.now >= host.leaseRenewedAt + t.leaseExpiryMs;
    const cutOff = this.now >= Math.max(host.leaseRenewedAt + t.leaseExpiryMs, host.storageWrittenAt + t.storageHeartbeatExpiryMs);
    if (cutOff) host.cutOff ??= { at: this.now, by: 'self-fence' };
    for (const instance of [...host.instances.values()]) {
      const vm = this.vms.find((v) => v.id === instance.vmId);
      if (cutOff || (leaseLapsed && vm?.isolationResponse === 'power-off')) {
        host.instances.delete(instance.vmId);
        this.worldLog.push(`${at} ${host.spec.id} self-fenced ${instance.vmId} (${cutOff ? 'lease and storage heartbeat lost' : 'lease lost, isolation response power-off'})`);
      } else if (host.storageUp && (this.generations.get(instance.vmId) ?? 0) > instance.generation) {
        host.instances.delete(instance.vmId);
        this.worldLog.push(`${at} ${host.spec.id} killed ${instance.vmId} generation ${instance.generation}: generation ${this.generations.get(instance.vmId)} runs elsewhere`);
      }
    }
    for (const instance of host.instances.values()) if (!instance.hung && this.now >= instance.readyAt) instance.lastGuestAnswerAt = this.now;
    if (host.agentUp && host.linkUp && this.controller.up) {
      host.leaseRenewedAt = this.now;
      delete host.cutOff;
      this.controller.leaseSeen.set(host.spec.id, this.now);
      this.controller.hostReports.set(host.spec.id, [...host.instances.values()].map((i) => ({ vmId: i.vmId, generation: i.generation, startedAt: i.startedAt, ...(i.lastGuestAnswerAt === undefined ? {} : { lastGuestAnswerAt: i.lastGuestAnswerAt }) })));
    }
    if (host.storageUp) {
      host.storageWrittenAt = this.now;
      this.slots.set(host.spec.id, { writtenAt: this.now, leaseLost: leaseLapsed, vms: [...host.instances.values()].map((i) => ({ vmId: i.vmId, generation: i.generation })) });
    }
    host.watchdogPettedAt = this.now;
  }

  private tickController(): void {
    const c = this.controller;
    if (!c.up) return;
    if (c.storageUp) {
      for (const [hostId, slot] of this.slots) {
        const seen = c.slotSeen.get(hostId);
        // A slot seen for the first time tells nothing about when it was written; only a change does.
        if (!seen) c.slotSeen.set(hostId, { writtenAt: slot.writtenAt, slot });
        else if (seen.writtenAt !== slot.writtenAt) c.slotSeen.set(hostId, { writtenAt: slot.writtenAt, seenAt: this.now, slot });
      }
      c.storageReadAt = this.now;
    }
    const hosts: HostObservation[] = [...this.hosts.values()].map((h) => {
      const id = h.spec.id;
      const slot = c.slotSeen.get(id);
      const lease = c.leaseSeen.get(id);
      const reports = c.hostReports.get(id);
      return {
        hostId: id,
        watchdog: h.spec.watchdog,
        fenceDevice: h.spec.fence !== 'none',
        ...(lease === undefined ? {} : { lastLeaseRenewalAt: lease }),
        ...(slot?.seenAt === undefined ? {} : { lastStorageHeartbeatAt: slot.seenAt }),
        ...(reports === undefined ? {} : { vms: reports }),
        ...(slot === undefined ? {} : { storageSlot: { leaseLost: slot.slot.leaseLost, vms: slot.slot.vms } }),
      };
    });
    const haVms: HaVmSettings[] = this.vms.map((v) => ({ vmId: v.id, priority: v.priority, isolationResponse: v.isolationResponse, guestMonitoring: v.guestMonitoring }));
    const view: ClusterView = { ...this.cluster, vms: this.cluster.vms.map((v) => ({ ...v, hostId: c.store.get(v.id) ?? null })) };
    const reports = c.inbox;
    c.inbox = [];
    const result = stepHa(c.state, { now: this.now, cluster: view, hosts, haVms, reports, ...(c.storageReadAt === undefined ? {} : { storageReadAt: c.storageReadAt }) }, this.config);
    c.state = result.state;
    // The store changes and the saved state go together, as one transaction would.
    for (const action of result.actions) {
      if (action.kind === 'restart-vm') c.store.set(action.vmId, action.hostId);
      if (action.kind === 'mark-vm-failed') c.store.set(action.vmId, null);
    }
    c.saved = serializeHaState(c.state);
    for (const event of result.events) {
      this.events.push(event);
      this.log.push(formatEventLine(event));
    }
    for (const action of result.actions) {
      this.actions.push({ at: this.now, action });
      this.dispatch(action, result.events);
    }
  }

  private restartController(): void {
    const c = this.controller;
    c.up = true;
    c.upAt = this.now;
    c.state = restoreHaState(c.saved, this.now);
    c.leaseSeen.clear();
    c.hostReports.clear();
    c.slotSeen.clear();
    delete c.storageReadAt;
    this.worldLog.push(`${(this.now / 1000).toFixed(1)} controller restarted from its saved state`);
  }

  /** Sends an answer to the controller process that asked; a restarted controller never gets it. */
  private answer(report: HaReport, delayMs: number): void {
    const epoch = this.controller.epoch;
    this.messages.push({
      at: this.now + delayMs,
      deliver: () => {
        if (this.controller.up && this.controller.epoch === epoch) this.controller.inbox.push(report);
      },
    });
  }

  /** Sends a message to a host's agent; it is lost when the agent cannot be reached on arrival. */
  private toAgent(hostId: string, handle: (host: SimulatedHost) => void, delayMs = this.options.messageDelayMs): void {
    this.messages.push({
      at: this.now + delayMs,
      deliver: () => {
        const host = this.hosts.get(hostId);
        if (host && this.reachable(host)) handle(host);
      },
    });
  }

  private dispatch(action: HaAction, events: readonly HaEvent[]): void {
    const delay = this.options.messageDelayMs;
    switch (action.kind) {
      case 'fence-host': {
        const host = this.host(action.hostId);
        const mode = host.spec.fence;
        if (mode === 'hangs') return;
        this.messages.push({
          at: this.now + this.options.fenceDelayMs,
          deliver: () => {
            if (mode === 'works') {
              if (host.powered) this.worldLog.push(`${(this.now / 1000).toFixed(1)} ${host.spec.id} powered off by its fence device`);
              this.powerOff(host);
              host.fencedAt = this.now;
            }
          },
        });
        const outcome = mode === 'works' ? 'off' : 'failed';
        this.answer({ kind: 'fence-result', hostId: action.hostId, attempt: action.attempt, outcome, detail: outcome === 'off' ? 'status check: power off' : 'the BMC refused the power-off command (simulated)' }, this.options.fenceDelayMs);
        return;
      }
      case 'restart-vm': {
        const old = this.hosts.get(action.fromHostId);
        const event = events.find((e) => e.name === 'vm.ha-restart' && e.vmId === action.vmId && e.restart?.generation === action.generation);
        if (old && event) {
          this.restarts.push({
            at: this.now,
            action,
            ground: event.restart?.ground,
            oldHost: {
              powered: old.powered,
              frozen: old.frozen,
              watchdog: old.spec.watchdog,
              ...(old.fencedAt === undefined ? {} : { fencedAt: old.fencedAt }),
              ...(old.confirmedDownAt === undefined ? {} : { confirmedDownAt: old.confirmedDownAt }),
              leaseRenewedAt: old.leaseRenewedAt,
              storageWrittenAt: old.storageWrittenAt,
              runsVm: old.powered && old.instances.has(action.vmId),
            },
          });
        }
        this.toAgent(action.hostId, (host) => this.agentStart(host, action.vmId, action.generation));
        if (this.lateStartDelayMs !== undefined) this.toAgent(action.hostId, (host) => this.agentStart(host, action.vmId, action.generation), delay + this.lateStartDelayMs);
        return;
      }
      case 'check-start':
        this.toAgent(action.hostId, (host) => {
          const running = host.instances.get(action.vmId)?.generation === action.generation;
          this.answer({ kind: 'start-check', vmId: action.vmId, hostId: action.hostId, generation: action.generation, outcome: running ? 'running' : 'not-started' }, delay);
        });
        return;
      case 'stop-vm':
        this.toAgent(action.hostId, (host) => {
          const instance = host.instances.get(action.vmId);
          if (instance && (action.generation === undefined || instance.generation <= action.generation)) host.instances.delete(action.vmId);
        });
        return;
      case 'reset-guest':
        this.toAgent(action.hostId, (host) => {
          const instance = host.instances.get(action.vmId);
          if (!instance || instance.generation !== action.generation) return;
          instance.hung = false;
          instance.readyAt = this.now + this.options.guestBootMs;
          this.worldLog.push(`${(this.now / 1000).toFixed(1)} ${host.spec.id} reset the guest of ${action.vmId}`);
        });
        return;
      case 'mark-vm-failed':
        return;
    }
  }

  /**
   * The agent's side of a restart. Each (VM, generation) is tried at most once per host and its
   * outcome kept (on the host's disk), so a duplicate gets the first answer; the generation is
   * claimed on shared storage before QEMU starts, so any older start arriving later is refused.
   */
  private agentStart(host: SimulatedHost, vmId: string, generation: number): void {
    const at = (this.now / 1000).toFixed(1);
    const key = `${vmId}@${generation}`;
    const reply = (outcome: 'started' | 'failed', detail: string) => {
      if (!host.attempts.has(key)) host.attempts.set(key, { outcome, detail });
      this.answer({ kind: 'start-result', vmId, hostId: host.spec.id, generation, outcome, detail }, this.options.messageDelayMs);
    };
    if (host.instances.get(vmId)?.generation === generation) return reply('started', 'already running');
    const prior = host.attempts.get(key);
    if (prior) {
      this.worldLog.push(`${at} ${host.spec.id} answered a repeated start of ${vmId} generation ${generation} with its first outcome`);
      return reply('failed', prior.outcome === 'failed' ? prior.detail : 'this generation already ran here and has ended');
    }
    if (this.now >= host.leaseRenewedAt + this.config.timings.leaseExpiryMs) return reply('failed', 'the agent has no lease');
    if (!host.storageUp) return reply('failed', 'the shared pool is not reachable');
    const verdict = checkStartGeneration(vmId, generation, this.generations.get(vmId));
    if (!verdict.allowed) {
      this.worldLog.push(`${at} ${host.spec.id} refused ${vmId} generation ${generation}: ${verdict.code}`);
      return reply('failed', verdict.reason);
    }
    this.generations.set(vmId, generation);
    if (host.failStarts) return reply('failed', 'QEMU exited during start (simulated)');
    host.instances.set(vmId, { vmId, generation, startedAt: this.now, readyAt: this.now + this.options.guestBootMs, hung: false });
    this.worldLog.push(`${at} ${host.spec.id} started ${vmId} generation ${generation}`);
    reply('started', 'QEMU running');
  }
}

/** An event as a log line: seconds, name, subject, and for restarts and waits what matters. */
export function formatEventLine(event: HaEvent): string {
  const head = `${(event.at / 1000).toFixed(1)} ${event.name} ${event.vmId ?? event.hostId ?? ''}`;
  if (event.restart) return `${head} ${event.restart.fromHostId}->${event.restart.toHostId} gen ${event.restart.generation} (${event.restart.ground})`;
  if (event.waiting) return `${head} (${event.waiting})`;
  return head;
}
