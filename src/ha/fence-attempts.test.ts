import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyFenceResult, confirmDownRefusal, expireFenceAttempt, type GroundQuestion, nextFenceAttempt, restartGround } from './fence-attempts.js';
import { classifyHost } from './liveness.js';
import type { HostObservation } from './model.js';
import type { HostHaRecord } from './state.js';
import { observation, running } from './testing.js';
import { SCENARIO_TIMINGS as T } from './testing.js';

/** A host that last renewed and wrote its heartbeat at 0 and was found failed at 10 s. */
function failedHost(overrides: Partial<HostObservation> = {}): HostObservation {
  return observation('h1', 0, { vms: undefined, ...overrides });
}

function record(extra: Partial<HostHaRecord> = {}): HostHaRecord {
  return { hostId: 'h1', liveness: 'failed', since: 10_000, fence: { attempt: 0 }, ...extra };
}

/** Asks for a ground at `now` for vm1 (generation 1) lost on h1 at 10 s. */
function ask(now: number, obs: HostObservation, host: HostHaRecord = record(), extra: Partial<GroundQuestion> = {}) {
  const verdict = classifyHost('h1', obs, { now, storageReadAt: now, watchingSince: 0, record: host }, T);
  return restartGround({ now, timings: T, verdict, record: host, observation: obs, vmId: 'vm1', generation: 1, isolationResponse: 'keep-running', lostAt: 10_000, ...extra });
}

test('a failed host with a fence device is fenced once at a time; a failed attempt waits out the retry pause', () => {
  const host = record();
  const obs = failedHost({ fenceDevice: true });
  const verdict = classifyHost('h1', obs, { now: 10_000, storageReadAt: 10_000, watchingSince: 0, record: host }, T);
  assert.equal(nextFenceAttempt(host, verdict, obs, false, 10_000), undefined, 'no VM waits: no fencing');
  assert.equal(nextFenceAttempt(host, verdict, { ...obs, fenceDevice: false }, true, 10_000), undefined, 'no device');
  assert.deepEqual(nextFenceAttempt(host, verdict, obs, true, 10_000)?.kind, 'fence-host');
  assert.equal(nextFenceAttempt(host, verdict, obs, true, 10_100), undefined, 'attempt 1 is in flight');
  const failed = applyFenceResult(host, { kind: 'fence-result', hostId: 'h1', attempt: 1, outcome: 'failed', detail: 'IPMI: connection refused' }, 11_000, T);
  assert.equal(failed?.name, 'host.fence-failed');
  assert.match(failed?.reason ?? '', /^fence attempt 1 failed: IPMI: connection refused; a failed or unanswered fence is not a confirmation/);
  assert.equal(host.fence.fencedAt, undefined);
  assert.equal(nextFenceAttempt(host, verdict, obs, true, 15_999), undefined, 'retry pause');
  const second = nextFenceAttempt(host, verdict, obs, true, 16_000);
  assert.equal(second?.kind === 'fence-host' && second.attempt, 2);
  // A late "failed" for attempt 1 says nothing about attempt 2.
  assert.equal(applyFenceResult(host, { kind: 'fence-result', hostId: 'h1', attempt: 1, outcome: 'failed', detail: 'late' }, 16_500, T), undefined);
  assert.deepEqual(host.fence.inFlight, { attempt: 2, issuedAt: 16_000 });
});

test('an unanswered fence attempt times out, and a confirmed off counts even when it answers a timed-out attempt', () => {
  const host = record({ fence: { attempt: 1, inFlight: { attempt: 1, issuedAt: 10_000 } } });
  assert.equal(expireFenceAttempt(host, 19_999, T), undefined);
  assert.match(expireFenceAttempt(host, 20_000, T)?.reason ?? '', /^fence attempt 1 failed: no answer within 10\.0 s/);
  assert.equal(host.fence.fencedAt, undefined);
  applyFenceResult(host, { kind: 'fence-result', hostId: 'h1', attempt: 1, outcome: 'off', detail: 'status: off' }, 21_000, T);
  assert.equal(host.fence.fencedAt, 21_000);
});

test('grounds: fenced, confirmed down, and the watchdog only once the cut-off plus self-fence time and margin have passed', () => {
  assert.deepEqual(ask(16_000, failedHost(), record({ fence: { attempt: 1, fencedAt: 15_000 } })), { kind: 'ground', ground: { kind: 'fenced', at: 15_000 } });
  assert.deepEqual(ask(16_000, failedHost(), record({ confirmedDown: { at: 15_500, by: 'alice' } })), { kind: 'ground', ground: { kind: 'confirmed-down', at: 15_500, by: 'alice' } });
  const watchdog = failedHost({ watchdog: true });
  const waiting = ask(24_999, watchdog);
  assert.equal(waiting.kind === 'wait' && waiting.code, 'self-fence-deadline');
  assert.match(waiting.kind === 'wait' ? waiting.reason : '', /restart allowed after that and a 5\.0 s margin, in 0\.0 s/);
  assert.deepEqual(ask(25_000, watchdog), { kind: 'ground', ground: { kind: 'watchdog', at: 25_000, deadline: 25_000 } });
  // The wait counts from the later of the two expiries: a heartbeat written until 8 s moves it to 33 s.
  assert.equal(ask(32_999, failedHost({ watchdog: true, lastStorageHeartbeatAt: 8_000 })).kind, 'wait');
});

test('without a fence device or a watchdog nothing but a confirmation allows a restart, however long it waits', () => {
  const answer = ask(3_600_000, failedHost());
  assert.deepEqual(answer, {
    kind: 'wait',
    code: 'confirm-down',
    reason: 'h1 has no fence device and no watchdog: HA never guesses, so the VM waits until an administrator confirms h1 is down',
  });
  const failing = ask(30_000, failedHost({ fenceDevice: true }), record({ fence: { attempt: 3, lastFailure: { attempt: 3, at: 29_000, reason: 'timeout' } } }));
  assert.equal(failing.kind === 'wait' && failing.code, 'fence-failing');
  assert.match(failing.kind === 'wait' ? failing.reason : '', /h1 has no watchdog, so only a confirmed fence or an administrator's confirm-down allows a restart$/);
});

test('the old host\'s own word: back and not running it is a ground, back and running it is not; an isolated host\'s slot counts only once its lease is lost', () => {
  const back = failedHost({ lastLeaseRenewalAt: 12_000, vms: [] });
  assert.deepEqual(ask(12_100, back), { kind: 'ground', ground: { kind: 'reported-stopped', at: 12_100, via: 'lease-report' } });
  const stillRunning = ask(12_100, { ...back, vms: [running('vm1', 1)] });
  assert.equal(stillRunning.kind, 'still-running');
  // An older generation on the host is a stale instance, not the VM still running.
  assert.equal(ask(12_100, { ...back, vms: [running('vm1', 1)] }, record(), { generation: 2 }).kind, 'ground');

  const isolatedHost = record({ liveness: 'isolated' });
  const slot = (leaseLost: boolean, vms: Array<{ vmId: string; generation: number }>) => failedHost({ lastStorageHeartbeatAt: 10_500, storageSlot: { leaseLost, vms } });
  const powerOff = { isolationResponse: 'power-off' as const };
  assert.deepEqual(ask(10_600, slot(true, []), isolatedHost, powerOff), { kind: 'ground', ground: { kind: 'reported-stopped', at: 10_600, via: 'storage-heartbeat' } });
  assert.equal(ask(10_600, slot(true, [{ vmId: 'vm1', generation: 1 }]), isolatedHost, powerOff).kind, 'wait');
  // Written before the host knew its lease was gone, the list may miss a start still arriving.
  const early = ask(10_600, slot(false, []), isolatedHost, powerOff);
  assert.equal(early.kind === 'wait' && early.code, 'isolated-stop');
});

test('power-off isolation with a watchdog: the VM may restart once the isolated host\'s deadline to stop it has passed', () => {
  const obs = failedHost({ watchdog: true, lastStorageHeartbeatAt: 24_900, storageSlot: { leaseLost: false, vms: [{ vmId: 'vm1', generation: 1 }] } });
  const host = record({ liveness: 'isolated' });
  const waiting = ask(24_999, obs, host, { isolationResponse: 'power-off' });
  assert.match(waiting.kind === 'wait' ? waiting.reason : '', /waiting for its storage heartbeat to report it stopped or until its deadline to do so passes in 0\.0 s/);
  assert.deepEqual(ask(25_000, obs, host, { isolationResponse: 'power-off' }), { kind: 'ground', ground: { kind: 'isolation-deadline', at: 25_000, deadline: 25_000 } });
  assert.equal(ask(25_000, obs, host, { isolationResponse: 'keep-running' }).kind, 'wait', 'keep-running VMs never restart while the host is isolated');
});

test('an administrator cannot confirm down a host that holds its lease or writes its storage heartbeat', () => {
  const verdictAt = (obs: HostObservation, now: number) => classifyHost('h1', obs, { now, storageReadAt: now, watchingSince: 0 }, T);
  assert.match(confirmDownRefusal(verdictAt(observation('h1', 9_000), 10_000)) ?? '', /^h1 still holds its lease \(last lease renewal 1\.0 s ago\): it is running, not down$/);
  assert.equal(confirmDownRefusal(verdictAt(observation('h1', 0, { lastStorageHeartbeatAt: 19_000 }), 20_000)), 'h1 still writes its storage heartbeat: it is running (isolated from the controller), not down');
  assert.equal(confirmDownRefusal(verdictAt(observation('h1', 0), 20_000)), undefined);
});
