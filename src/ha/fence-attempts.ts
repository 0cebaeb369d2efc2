/**
 * Fencing before any restart. A VM may start elsewhere only when its old host can no longer run
 * it: a fence device powered the host off (confirmed by a status check), the host has a watchdog
 * and has certainly been cut off for long enough to have fenced itself, an administrator confirmed
 * it is down, or the host itself said it does not run the VM. Anything else waits; a fence attempt
 * that fails or goes unanswered is never taken as a confirmation.
 */
import type { LivenessVerdict } from './liveness.js';
import { cutOffAt } from './liveness.js';
import type { HaReport, HostObservation, IsolationResponse } from './model.js';
import { formatSeconds, type HaAction, type HaEvent } from './outputs.js';
import type { HostHaRecord, RestartGround, WaitingCode } from './state.js';
import type { HaTimings } from './timings.js';

type FenceResult = Extract<HaReport, { kind: 'fence-result' }>;

/**
 * Applies a fence device's answer to the host's record. `off` counts whatever attempt it answers
 * (a status check that found the power off is a fact even when it comes late); `failed` counts only
 * for the attempt in flight. Returns the host.fence-failed event it makes, if any.
 */
export function applyFenceResult(record: HostHaRecord, report: FenceResult, now: number, timings: HaTimings): HaEvent | undefined {
  const fence = record.fence;
  if (report.outcome === 'off') {
    fence.fencedAt ??= now;
    delete fence.inFlight;
    delete fence.retryAt;
    return undefined;
  }
  if (fence.inFlight?.attempt !== report.attempt) return undefined;
  return failAttempt(record, now, timings, report.detail);
}

/** Gives up on the attempt in flight when it has gone unanswered for the fence timeout; returns its host.fence-failed event. */
export function expireFenceAttempt(record: HostHaRecord, now: number, timings: HaTimings): HaEvent | undefined {
  const inFlight = record.fence.inFlight;
  if (!inFlight || now < inFlight.issuedAt + timings.fenceTimeoutMs) return undefined;
  return failAttempt(record, now, timings, `no answer within ${formatSeconds(timings.fenceTimeoutMs)}`);
}

function failAttempt(record: HostHaRecord, now: number, timings: HaTimings, why: string): HaEvent {
  const fence = record.fence;
  const attempt = fence.inFlight?.attempt ?? fence.attempt;
  fence.lastFailure = { attempt, at: now, reason: why };
  delete fence.inFlight;
  fence.retryAt = now + timings.fenceRetryMs;
  return {
    name: 'host.fence-failed',
    at: now,
    hostId: record.hostId,
    reason: `fence attempt ${attempt} failed: ${why}; a failed or unanswered fence is not a confirmation, so nothing restarts on its word; retrying in ${formatSeconds(timings.fenceRetryMs)}`,
  };
}

/**
 * The fence attempt to send now, or undefined: only for a failed host with a fence device that
 * some VM waits on, not yet fenced, with no attempt in flight and the retry pause over. Records
 * the attempt as in flight.
 */
export function nextFenceAttempt(record: HostHaRecord, verdict: LivenessVerdict, observation: HostObservation | undefined, needed: boolean, now: number): HaAction | undefined {
  const fence = record.fence;
  if (!needed || !observation?.fenceDevice || verdict.liveness !== 'failed') return undefined;
  if (fence.fencedAt !== undefined || fence.inFlight || now < (fence.retryAt ?? now)) return undefined;
  fence.attempt += 1;
  fence.inFlight = { attempt: fence.attempt, issuedAt: now };
  return { kind: 'fence-host', hostId: record.hostId, attempt: fence.attempt, reason: `${record.hostId} failed (${verdict.reason}) and runs HA VMs that must restart elsewhere` };
}

/** Why an administrator's confirm-down of this host is refused, or undefined when it is accepted. */
export function confirmDownRefusal(verdict: LivenessVerdict): string | undefined {
  if (verdict.liveness === 'fenced' || verdict.liveness === 'confirmed-down') return undefined;
  if (verdict.lease !== 'expired') return `${verdict.hostId} still holds its lease (${verdict.reason}): it is running, not down`;
  if (verdict.storage === 'fresh') return `${verdict.hostId} still writes its storage heartbeat: it is running (isolated from the controller), not down`;
  return undefined;
}

/** What the ground decision reads about the VM and its old host. */
export interface GroundQuestion {
  now: number;
  timings: HaTimings;
  verdict: LivenessVerdict;
  record: HostHaRecord;
  observation: HostObservation | undefined;
  vmId: string;
  generation: number;
  isolationResponse: IsolationResponse;
  /** When the VM was found lost on this host. */
  lostAt: number;
}

/** A ground to restart, a reason to wait, or the news that the old host still runs the VM. */
export type GroundAnswer =
  | { kind: 'ground'; ground: RestartGround }
  | { kind: 'wait'; code: WaitingCode; reason: string }
  | { kind: 'still-running'; reason: string };

/** Decides whether the VM, lost on the host of `question`, may start elsewhere now. */
export function restartGround(question: GroundQuestion): GroundAnswer {
  const { now, timings, verdict, record, observation, vmId, generation } = question;
  const hostId = verdict.hostId;
  const renewal = observation?.lastLeaseRenewalAt;
  // The host is back: its own report decides, whatever else happened meanwhile.
  if (renewal !== undefined && renewal > question.lostAt && observation?.vms) {
    const running = observation.vms.find((vm) => vm.vmId === vmId && vm.generation >= generation);
    if (running) return { kind: 'still-running', reason: `${hostId} is back and still runs the VM at generation ${running.generation}` };
    return { kind: 'ground', ground: { kind: 'reported-stopped', at: now, via: 'lease-report' } };
  }
  if (record.fence.fencedAt !== undefined) return { kind: 'ground', ground: { kind: 'fenced', at: record.fence.fencedAt } };
  if (record.confirmedDown) return { kind: 'ground', ground: { kind: 'confirmed-down', at: record.confirmedDown.at, by: record.confirmedDown.by } };
  const slot = observation?.storageSlot;
  const slotTime = observation?.lastStorageHeartbeatAt;
  // A slot written after the host's own lease lapsed lists everything it runs, and it starts nothing more.
  if (slot?.leaseLost && slotTime !== undefined && slotTime > (renewal ?? -Infinity) && verdict.lease === 'expired') {
    if (!slot.vms.some((vm) => vm.vmId === vmId && vm.generation >= generation)) {
      return { kind: 'ground', ground: { kind: 'reported-stopped', at: now, via: 'storage-heartbeat' } };
    }
  }
  const watchdog = observation?.watchdog === true;
  const wait = timings.selfFenceMs + timings.safetyMarginMs;
  const cutOffDeadline = cutOffAt(verdict) + wait;
  if (watchdog && verdict.lease === 'expired' && verdict.storage === 'expired' && now >= cutOffDeadline) {
    return { kind: 'ground', ground: { kind: 'watchdog', at: now, deadline: cutOffDeadline } };
  }
  const isolationDeadline = verdict.leaseExpiresAt + wait;
  const powerOff = question.isolationResponse === 'power-off';
  if (powerOff && watchdog && verdict.lease === 'expired' && now >= isolationDeadline) {
    return { kind: 'ground', ground: { kind: 'isolation-deadline', at: now, deadline: isolationDeadline } };
  }
  return waiting(question, watchdog, verdict.storage === 'expired' ? cutOffDeadline : undefined, powerOff ? isolationDeadline : undefined);
}

/** Why the VM cannot restart yet, naming what would let it. */
function waiting(question: GroundQuestion, watchdog: boolean, cutOffDeadline: number | undefined, isolationDeadline: number | undefined): GroundAnswer {
  const { now, timings, verdict, record, observation } = question;
  const hostId = verdict.hostId;
  const inSeconds = (at: number) => formatSeconds(Math.max(0, at - now));
  const watchdogNote = !watchdog
    ? `; ${hostId} has no watchdog, so only a confirmed fence or an administrator's confirm-down allows a restart`
    : cutOffDeadline !== undefined
      ? `, or at its self-fence deadline in ${inSeconds(cutOffDeadline)}`
      : `, or at its self-fence deadline once its storage heartbeat is known to have expired`;
  if (verdict.liveness === 'isolated') {
    const deadline = watchdog && isolationDeadline !== undefined ? ` or until its deadline to do so passes in ${inSeconds(isolationDeadline)}` : '';
    return {
      kind: 'wait',
      code: 'isolated-stop',
      reason: `${hostId} is isolated and the VM's isolation response is power-off, so ${hostId} stops it itself: waiting for its storage heartbeat to report it stopped${deadline}`,
    };
  }
  if (verdict.liveness === 'suspect') return { kind: 'wait', code: 'storage-unknown', reason: `${hostId}: ${verdict.reason}` };
  if (observation?.fenceDevice) {
    const failure = record.fence.lastFailure;
    // Once an attempt failed, the retries in between do not change what the VM waits for.
    if (failure) {
      return {
        kind: 'wait',
        code: 'fence-failing',
        reason: `fence attempt ${failure.attempt} on ${hostId} failed (${failure.reason}); a failed or unanswered fence is not a confirmation, retrying every ${formatSeconds(timings.fenceRetryMs)}${watchdogNote}`,
      };
    }
    return { kind: 'wait', code: 'fence-pending', reason: `waiting for ${hostId}'s fence device to power it off and confirm it with a status check${watchdog ? watchdogNote : ''}` };
  }
  if (watchdog) {
    const when = cutOffDeadline === undefined ? 'once its storage heartbeat is known to have expired' : `in ${inSeconds(cutOffDeadline)}`;
    return {
      kind: 'wait',
      code: 'self-fence-deadline',
      reason: `${hostId} has a watchdog: it kills its HA guests or is reset within ${formatSeconds(timings.selfFenceMs)} of being cut off; restart allowed after that and a ${formatSeconds(timings.safetyMarginMs)} margin, ${when}`,
    };
  }
  return {
    kind: 'wait',
    code: 'confirm-down',
    reason: `${hostId} has no fence device and no watchdog: HA never guesses, so the VM waits until an administrator confirms ${hostId} is down`,
  };
}
