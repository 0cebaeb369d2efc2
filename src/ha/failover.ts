/**
 * One HA VM's way through a failover: lost with its host, waiting for a ground to restart, queued
 * for its tier and a host, starting (the restart intent is recorded before the start is sent),
 * started, and protected again; or failed when the relocation limit is reached. Every answer is
 * matched to the intent it answers (VM, host, generation), so a repeated or late one changes nothing.
 */
import type { VmView } from '../scheduler/model.js';
import { restartGround } from './fence-attempts.js';
import type { LivenessVerdict } from './liveness.js';
import type { HaInput, HaReport, HaVmSettings, HostObservation } from './model.js';
import { describeGround, formatSeconds, type HaAction, type HaEvent } from './outputs.js';
import type { HaState, VmHaRecord, WaitingCode } from './state.js';
import type { HaConfig } from './timings.js';

/** Everything one step reads and writes; `state` is the step's own copy. */
export interface StepContext {
  now: number;
  config: HaConfig;
  input: HaInput;
  state: HaState;
  verdicts: Map<string, LivenessVerdict>;
  observations: Map<string, HostObservation>;
  settings: Map<string, HaVmSettings>;
  views: Map<string, VmView>;
  actions: HaAction[];
  events: HaEvent[];
}

type VmReport = Extract<HaReport, { kind: 'start-result' | 'start-check' }>;

/** True when the VM, on a host with this verdict, must be restarted elsewhere (once that is safe). */
export function isLostOn(verdict: LivenessVerdict, settings: HaVmSettings): boolean {
  const { liveness } = verdict;
  return liveness === 'failed' || liveness === 'fenced' || liveness === 'confirmed-down' || (liveness === 'isolated' && settings.isolationResponse === 'power-off');
}

/** Applies a host's answer to a restart or a start check; answers to anything but the open intent are ignored. */
export function applyVmReport(ctx: StepContext, report: VmReport): void {
  const vm = ctx.state.vms[report.vmId];
  const intent = vm?.failover?.intent;
  if (!vm || vm.phase !== 'starting' || !intent || intent.hostId !== report.hostId || intent.generation !== report.generation) return;
  if (report.kind === 'start-result') {
    if (report.outcome === 'started') acknowledge(ctx, vm);
    else recordStartFailure(ctx, vm, report.hostId, report.detail);
    return;
  }
  if (report.outcome === 'running') {
    acknowledge(ctx, vm);
    return;
  }
  // The host never got the start: send the same one again (same generation, so never two instances).
  intent.checkDueAt = ctx.now + ctx.config.timings.startTimeoutMs;
  vm.failover?.steps.push({ step: 'start-resent', at: ctx.now, hostId: intent.hostId });
  const { vmId } = vm;
  const fromHostId = vm.failover?.fromHostId ?? intent.hostId;
  ctx.actions.push({ kind: 'restart-vm', vmId, fromHostId, hostId: intent.hostId, generation: intent.generation, reason: `${intent.hostId} says it never received the restart of generation ${intent.generation}; sending it again` });
}

/** Moves one VM on as far as this step allows (restarts themselves are placed by planRestarts). */
export function advanceVm(ctx: StepContext, vm: VmHaRecord, settings: HaVmSettings): void {
  switch (vm.phase) {
    case 'protected': {
      // A VM the store has as not running (stopped by its user) is not HA's to restart.
      const stored = ctx.views.get(vm.vmId)?.hostId ?? null;
      vm.hostId = stored === null ? null : (reportedHost(ctx, vm, stored) ?? stored);
      if (loseIfHostLost(ctx, vm, settings, false)) advanceWaiting(ctx, vm, settings);
      else restartIfVanished(ctx, vm);
      return;
    }
    case 'started':
      advanceStarted(ctx, vm, settings);
      return;
    case 'starting':
      advanceStarting(ctx, vm, settings);
      // An acknowledgement and the guest's first answer can come in one report. The cast widens
      // the phase TypeScript narrowed to 'starting' before advanceStarting could change it.
      if ((vm.phase as VmHaRecord['phase']) === 'started') advanceStarted(ctx, vm, settings);
      return;
    case 'waiting':
      advanceWaiting(ctx, vm, settings);
      return;
    case 'queued':
    case 'failed':
      return;
  }
}

/**
 * The ok host that reports the VM at its newest generation, preferring the store's host: what the
 * hosts say runs beats what the store last recorded.
 */
function reportedHost(ctx: StepContext, vm: VmHaRecord, stored: string): string | undefined {
  let found: string | undefined;
  for (const [hostId, observation] of ctx.observations) {
    if (ctx.verdicts.get(hostId)?.liveness !== 'ok' || !observation.vms?.some((r) => r.vmId === vm.vmId && r.generation >= vm.generation)) continue;
    if (hostId === stored) return hostId;
    found ??= hostId;
  }
  return found;
}

/** A restarted VM is protected again once its guest answers, or its tier timeout has passed. */
function advanceStarted(ctx: StepContext, vm: VmHaRecord, settings: HaVmSettings): void {
  if (loseIfHostLost(ctx, vm, settings, false)) {
    advanceWaiting(ctx, vm, settings);
    return;
  }
  if (restartIfVanished(ctx, vm)) return;
  if (guestReady(ctx, vm) || ctx.now >= (vm.failover?.eligibleAt ?? ctx.now) + ctx.config.timings.tierTimeoutMs) {
    vm.phase = 'protected';
    delete vm.failover;
  }
}

/** True when the VM's guest agent answered since its newest generation started. */
export function guestReady(ctx: StepContext, vm: VmHaRecord): boolean {
  if (vm.hostId === null) return false;
  const report = ctx.observations.get(vm.hostId)?.vms?.find((r) => r.vmId === vm.vmId && r.generation === vm.generation);
  return report?.lastGuestAnswerAt !== undefined && report.lastGuestAnswerAt >= report.startedAt;
}

/** Starts a failover when the VM's host is lost; `carry` keeps the hosts the restart already failed on. */
function loseIfHostLost(ctx: StepContext, vm: VmHaRecord, settings: HaVmSettings, carry: boolean): boolean {
  if (vm.hostId === null) return false;
  const verdict = ctx.verdicts.get(vm.hostId);
  if (!verdict || !isLostOn(verdict, settings)) return false;
  const hostId = vm.hostId;
  const previous = vm.failover;
  vm.phase = 'waiting';
  vm.failover = {
    fromHostId: hostId,
    lostAt: ctx.now,
    lostReason: `${hostId} is ${verdict.liveness}: ${verdict.reason}`,
    failedStarts: carry ? (previous?.failedStarts ?? []) : [],
    steps: [...(carry ? (previous?.steps ?? []) : []), { step: `host-${verdict.liveness}`, at: ctx.now, hostId }],
  };
  if (verdict.liveness === 'isolated') {
    ctx.actions.push({ kind: 'stop-vm', vmId: vm.vmId, hostId, generation: vm.generation, reason: `${hostId} is isolated and the VM's isolation response is power-off` });
  }
  return true;
}

/**
 * A VM its ok host listed before and lists no more has stopped there (its QEMU crashed, or the
 * host fenced itself and came back before it was found failed): the host's own word is the
 * ground, and it is queued for a restart, within the vanished-restart limit.
 * Precondition for the integration: an agent sends a VM list only once it is complete.
 */
function restartIfVanished(ctx: StepContext, vm: VmHaRecord): boolean {
  const hostId = vm.hostId;
  if (hostId === null) return false;
  const observation = ctx.observations.get(hostId);
  const renewal = observation?.lastLeaseRenewalAt;
  if (!observation?.vms || renewal === undefined || ctx.verdicts.get(hostId)?.liveness !== 'ok') return false;
  if (observation.vms.some((r) => r.vmId === vm.vmId && r.generation >= vm.generation)) {
    vm.lastSeen = { hostId, at: renewal };
    return false;
  }
  if (vm.lastSeen?.hostId !== hostId || renewal <= vm.lastSeen.at) return false;
  const { now } = ctx;
  const { max, windowMs } = ctx.config.vanishedRestartLimit;
  const recent = (vm.vanishedRestarts ?? []).filter((at) => at > now - windowMs);
  vm.failover = {
    fromHostId: hostId,
    lostAt: now,
    lostReason: `${hostId} no longer runs the VM (its last lease report does not list it)`,
    failedStarts: [],
    steps: [{ step: 'stopped-on-host', at: now, hostId }],
  };
  delete vm.lastSeen;
  if (recent.length >= max) {
    failVm(ctx, vm, `the VM stopped on its host ${recent.length + 1} times within ${formatSeconds(windowMs)}; HA restarts it at most ${max} times in that window`);
    return true;
  }
  vm.vanishedRestarts = [...recent, now];
  vm.failover.ground = { kind: 'reported-stopped', at: now, via: 'lease-report' };
  vm.failover.eligibleAt = now;
  vm.phase = 'queued';
  vm.hostId = null;
  return true;
}

function advanceStarting(ctx: StepContext, vm: VmHaRecord, settings: HaVmSettings): void {
  const failover = vm.failover;
  const intent = failover?.intent;
  if (!failover || !intent) return;
  // The host's own list is as good as an answer, and survives a controller restart.
  const listed = ctx.observations.get(intent.hostId)?.vms?.some((r) => r.vmId === vm.vmId && r.generation === intent.generation);
  if (listed) {
    acknowledge(ctx, vm);
    return;
  }
  const verdict = ctx.verdicts.get(intent.hostId);
  if (verdict && isLostOn(verdict, settings)) {
    // It may have started the VM before it was lost, so it is the VM's old host now and needs a ground like any other.
    failover.failedStarts.push({ hostId: intent.hostId, at: ctx.now, reason: `${intent.hostId} was lost (${verdict.liveness}) before it confirmed the start` });
    loseIfHostLost(ctx, vm, settings, true);
    advanceWaiting(ctx, vm, settings);
    return;
  }
  if (ctx.now >= intent.checkDueAt && verdict?.liveness === 'ok') {
    intent.checkDueAt = ctx.now + ctx.config.timings.startCheckIntervalMs;
    ctx.actions.push({
      kind: 'check-start',
      vmId: vm.vmId,
      hostId: intent.hostId,
      generation: intent.generation,
      reason: `no answer to the restart of generation ${intent.generation}; asking ${intent.hostId} whether it runs it before anything is sent again`,
    });
  }
}

function advanceWaiting(ctx: StepContext, vm: VmHaRecord, settings: HaVmSettings): void {
  const failover = vm.failover;
  if (!failover) return;
  const from = failover.fromHostId;
  const verdict = ctx.verdicts.get(from);
  const record = ctx.state.hosts[from];
  if (!verdict || !record) {
    setWaiting(ctx, vm, 'host-unknown', `${from} is no longer in the cluster; the VM waits until an administrator confirms it is down or starts it`);
    return;
  }
  const answer = restartGround({
    now: ctx.now,
    timings: ctx.config.timings,
    verdict,
    record,
    observation: ctx.observations.get(from),
    vmId: vm.vmId,
    generation: vm.generation,
    isolationResponse: settings.isolationResponse,
    lostAt: failover.lostAt,
  });
  if (answer.kind === 'still-running') {
    backToProtected(vm, from);
    return;
  }
  if (answer.kind === 'ground') {
    failover.ground = answer.ground;
    failover.eligibleAt = ctx.now;
    failover.steps.push({ step: answer.ground.kind, at: answer.ground.at, hostId: from });
    delete failover.waiting;
    if (failover.failedStarts.length > ctx.config.relocationLimit) {
      failVm(ctx, vm, relocationLimitReason(ctx, vm));
      return;
    }
    vm.phase = 'queued';
    vm.hostId = null;
    return;
  }
  // The host is no longer lost (isolated with keep-running, or back in doubt): the VM stays where it is.
  if (!isLostOn(verdict, settings)) {
    backToProtected(vm, from);
    return;
  }
  setWaiting(ctx, vm, answer.code, answer.reason);
}

function backToProtected(vm: VmHaRecord, hostId: string): void {
  vm.phase = 'protected';
  vm.hostId = hostId;
  delete vm.failover;
}

/** Records why the VM waits; the event is made only when the reason's code changes, not at every step. */
export function setWaiting(ctx: StepContext, vm: VmHaRecord, code: WaitingCode, reason: string, quiet = false): void {
  const failover = vm.failover;
  if (!failover || failover.waiting?.code === code) return;
  failover.waiting = { code, since: ctx.now };
  if (!quiet) ctx.events.push({ name: 'vm.ha-waiting', at: ctx.now, vmId: vm.vmId, hostId: failover.fromHostId, reason, waiting: code });
}

/** Records that the target runs the restarted VM. */
function acknowledge(ctx: StepContext, vm: VmHaRecord): void {
  const failover = vm.failover;
  const intent = failover?.intent;
  if (!failover || !intent) return;
  intent.acknowledgedAt = ctx.now;
  vm.phase = 'started';
  vm.hostId = intent.hostId;
  failover.steps.push({ step: 'started', at: ctx.now, hostId: intent.hostId });
}

/** Records a failed start: the VM is queued for another host, or failed once the relocation limit is reached. */
function recordStartFailure(ctx: StepContext, vm: VmHaRecord, hostId: string, detail: string): void {
  const failover = vm.failover;
  if (!failover) return;
  failover.failedStarts.push({ hostId, at: ctx.now, reason: detail });
  failover.steps.push({ step: 'start-failed', at: ctx.now, hostId });
  delete failover.intent;
  vm.hostId = null;
  if (failover.failedStarts.length > ctx.config.relocationLimit) {
    failVm(ctx, vm, relocationLimitReason(ctx, vm));
    return;
  }
  vm.phase = 'queued';
}

function relocationLimitReason(ctx: StepContext, vm: VmHaRecord): string {
  const starts = vm.failover?.failedStarts ?? [];
  const list = starts.map((s) => `${s.hostId}: ${s.reason}`).join('; ');
  return `the restart failed on ${starts.length} host(s) and the relocation limit is ${ctx.config.relocationLimit}: ${list}`;
}

/** Gives up on the VM: it is marked failed, with the reason, and nothing more is tried. */
export function failVm(ctx: StepContext, vm: VmHaRecord, reason: string): void {
  const from = vm.failover?.fromHostId;
  vm.phase = 'failed';
  vm.failedReason = reason;
  vm.hostId = null;
  delete vm.failover?.intent;
  ctx.actions.push({ kind: 'mark-vm-failed', vmId: vm.vmId, reason });
  ctx.events.push({ name: 'vm.ha-failed', at: ctx.now, vmId: vm.vmId, ...(from === undefined ? {} : { hostId: from }), reason });
}

/** Decides the restart of a queued VM on `hostId`: a new generation, the intent recorded, then the action and its event. */
export function issueRestart(ctx: StepContext, vm: VmHaRecord, hostId: string, placementReason: string): void {
  const failover = vm.failover;
  const ground = failover?.ground;
  if (!failover || !ground) return;
  const from = failover.fromHostId;
  vm.generation += 1;
  failover.intent = { hostId, generation: vm.generation, issuedAt: ctx.now, checkDueAt: ctx.now + ctx.config.timings.startTimeoutMs };
  vm.phase = 'starting';
  vm.hostId = hostId;
  delete failover.waiting;
  failover.steps.push({ step: 'restart-decided', at: ctx.now, hostId });
  const why = `${describeGround(ground, from)}; placed on ${hostId}: ${placementReason}`;
  ctx.actions.push({ kind: 'restart-vm', vmId: vm.vmId, fromHostId: from, hostId, generation: vm.generation, reason: why });
  ctx.events.push({
    name: 'vm.ha-restart',
    at: ctx.now,
    vmId: vm.vmId,
    hostId,
    reason: `restarting on ${hostId} (generation ${vm.generation}) after ${failover.lostReason}. ${why}`,
    restart: { fromHostId: from, toHostId: hostId, generation: vm.generation, ground: ground.kind, attempt: failover.failedStarts.length + 1, steps: failover.steps.map((s) => ({ ...s })) },
  });
}
