/**
 * The HA decision engine: one pure step from (saved state, observations, answers, time) to (new
 * state, actions, events). The controller calls it on a timer (every 100 ms to 1 s), carries out
 * the actions, records the events, and saves the state with the store changes the actions imply.
 */
import { advanceVm, applyVmReport, type StepContext } from './failover.js';
import { decideGuestReset, recentResets } from './guest-monitor.js';
import { applyFenceResult, confirmDownRefusal, expireFenceAttempt, nextFenceAttempt } from './fence-attempts.js';
import { classifyHost, type LivenessVerdict } from './liveness.js';
import type { HaInput, HaReport } from './model.js';
import type { HaAction, HaEvent } from './outputs.js';
import { planRestarts } from './restarts.js';
import { hostRecord, type HaState, type HostHaRecord, vmRecord } from './state.js';
import { DEFAULT_HA_CONFIG, type HaConfig } from './timings.js';
import type { VmView } from '../scheduler/model.js';

/** One step's outcome. `state` is new; the state passed in is never changed. */
export interface HaStepResult {
  state: HaState;
  actions: HaAction[];
  events: HaEvent[];
  /** Every host's liveness this step, for the API and the UI. */
  verdicts: LivenessVerdict[];
}

/**
 * Runs one step. Idempotent with respect to recorded intents: a restart is sent once per
 * decision, and an answer replayed or arriving late changes nothing it should not. The caller
 * must carry out `actions` and save `state` together, so that a restart recorded is a restart sent.
 */
export function stepHa(previous: HaState, input: HaInput, config: HaConfig = DEFAULT_HA_CONFIG): HaStepResult {
  const state = structuredClone(previous);
  const settings = new Map(input.haVms.map((s) => [s.vmId, s]));
  // Only HA's own VMs are looked up: of 30,000 VMs in a fleet, a map of the few protected ones.
  const views = new Map<string, VmView>();
  for (const v of input.cluster.vms) if (settings.has(v.id) || v.id in state.vms) views.set(v.id, v);
  const ctx: StepContext = {
    now: input.now,
    config,
    input,
    state,
    verdicts: new Map(),
    observations: new Map(input.hosts.map((h) => [h.hostId, h])),
    settings,
    views,
    actions: [],
    events: [],
  };
  judgeHosts(ctx, input.reports);
  followVms(ctx, input.reports);
  // The hosts a waiting failover needs fenced, found in one pass over the VMs rather than one a host.
  const awaitedFences = new Set<string>();
  for (const vm of Object.values(state.vms)) if (vm.phase === 'waiting' && vm.failover) awaitedFences.add(vm.failover.fromHostId);
  for (const record of Object.values(state.hosts)) {
    const verdict = ctx.verdicts.get(record.hostId);
    if (!verdict) continue;
    const needed = awaitedFences.has(record.hostId);
    const action = nextFenceAttempt(record, verdict, ctx.observations.get(record.hostId), needed, ctx.now);
    if (action) ctx.actions.push(action);
  }
  planRestarts(ctx);
  monitorGuests(ctx);
  return { state, actions: ctx.actions, events: ctx.events, verdicts: [...ctx.verdicts.values()] };
}

/** Applies fence answers and confirm-downs, then classifies every host, recording each change of liveness as an event. */
function judgeHosts(ctx: StepContext, reports: readonly HaReport[]): void {
  const { state, now, config } = ctx;
  const hostIds = new Set(ctx.input.cluster.hosts.map((h) => h.id));
  for (const hostId of Object.keys(state.hosts)) if (!hostIds.has(hostId)) delete state.hosts[hostId];
  for (const hostId of hostIds) {
    const record = hostRecord(state, hostId, now);
    const observation = ctx.observations.get(hostId);
    const classify = () => classifyHost(hostId, observation, { now, storageReadAt: ctx.input.storageReadAt, watchingSince: state.watchingSince, record }, config.timings);
    for (const report of reports) {
      if (report.kind === 'fence-result' && report.hostId === hostId) pushIf(ctx.events, applyFenceResult(record, report, now, config.timings));
    }
    pushIf(ctx.events, expireFenceAttempt(record, now, config.timings));
    for (const report of reports) {
      if (report.kind !== 'confirm-down' || report.hostId !== hostId) continue;
      const refusal = confirmDownRefusal(classify());
      if (refusal) ctx.events.push({ name: 'host.confirm-down-refused', at: now, hostId, reason: `${report.by}: ${refusal}` });
      else record.confirmedDown ??= { at: now, by: report.by };
    }
    const verdict = classify();
    if (verdict.liveness !== record.liveness) {
      ctx.events.push({ name: `host.${verdict.liveness}`, at: now, hostId, reason: verdict.reason });
      record.liveness = verdict.liveness;
      record.since = now;
    }
    if (verdict.liveness === 'ok') forgetDown(record);
    ctx.verdicts.set(hostId, verdict);
  }
}

/** A host that renews its lease again is neither fenced nor down any more; its next failure starts afresh. */
function forgetDown(record: HostHaRecord): void {
  delete record.confirmedDown;
  if (record.fence.inFlight) return; // The answer is still due; a late "off" must still count.
  record.fence = { attempt: record.fence.attempt };
}

/** Keeps the VM records in step with the protected VMs and what hosts report, then moves every VM on. */
function followVms(ctx: StepContext, reports: readonly HaReport[]): void {
  const { state } = ctx;
  for (const vmId of Object.keys(state.vms)) if (!ctx.settings.has(vmId)) delete state.vms[vmId];
  for (const settings of ctx.input.haVms) vmRecord(state, settings.vmId);
  for (const report of reports) if (report.kind === 'start-result' || report.kind === 'start-check') applyVmReport(ctx, report);
  followHostReports(ctx);
  for (const settings of ctx.input.haVms) {
    const vm = state.vms[settings.vmId];
    if (vm) advanceVm(ctx, vm, settings);
  }
}

/**
 * What reachable hosts report overrides the engine's memory where it is newer: a host running a
 * newer generation than the engine knows is where the VM is; one running an older generation
 * runs a stale instance and is told to stop it (once).
 */
function followHostReports(ctx: StepContext): void {
  for (const [hostId, observation] of ctx.observations) {
    if (ctx.verdicts.get(hostId)?.liveness !== 'ok') continue;
    for (const report of observation.vms ?? []) {
      const vm = ctx.state.vms[report.vmId];
      if (!vm) continue;
      if (report.generation > vm.generation) {
        vm.generation = report.generation;
        vm.phase = 'protected';
        vm.hostId = hostId;
        delete vm.failover;
        delete vm.failedReason;
      } else if (report.generation < vm.generation) {
        const key = `${hostId}@${report.generation}`;
        if (vm.staleStops.includes(key)) continue;
        vm.staleStops.push(key);
        ctx.actions.push({
          kind: 'stop-vm',
          vmId: vm.vmId,
          hostId,
          generation: report.generation,
          reason: `${hostId} runs generation ${report.generation} of the VM, older than generation ${vm.generation}: a stale instance`,
        });
      }
    }
  }
}

/** Resets guests whose agent fell silent, within the reset limit. */
function monitorGuests(ctx: StepContext): void {
  const { now, config } = ctx;
  for (const vm of Object.values(ctx.state.vms)) {
    const settings = ctx.settings.get(vm.vmId);
    if (!settings?.guestMonitoring || (vm.phase !== 'protected' && vm.phase !== 'started') || vm.hostId === null) continue;
    if (ctx.verdicts.get(vm.hostId)?.liveness !== 'ok') continue;
    const report = ctx.observations.get(vm.hostId)?.vms?.find((r) => r.vmId === vm.vmId && r.generation === vm.generation);
    if (!report) continue;
    vm.guestResets = recentResets(vm.guestResets, now, config.guestMonitoring);
    const decision = decideGuestReset(report, vm.guestResets, now, config.guestMonitoring);
    if (decision.kind === 'reset') {
      vm.guestResets.push(now);
      ctx.actions.push({ kind: 'reset-guest', vmId: vm.vmId, hostId: vm.hostId, generation: vm.generation, reason: decision.reason });
      ctx.events.push({ name: 'vm.ha-guest-reset', at: now, vmId: vm.vmId, hostId: vm.hostId, reason: decision.reason });
    } else if (decision.kind === 'limit-reached' && (vm.guestLimitReportedAt === undefined || vm.guestLimitReportedAt < Math.max(...vm.guestResets))) {
      vm.guestLimitReportedAt = now;
      ctx.events.push({ name: 'vm.ha-guest-reset-limit', at: now, vmId: vm.vmId, hostId: vm.hostId, reason: decision.reason });
    }
  }
}

function pushIf<T>(list: T[], item: T | undefined): void {
  if (item !== undefined) list.push(item);
}
