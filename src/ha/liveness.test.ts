import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyHost, cutOffAt, type LivenessContext } from './liveness.js';
import { observation } from './testing.js';
import { SCENARIO_TIMINGS as T } from './testing.js';

const at = (now: number, extra: Partial<LivenessContext> = {}): LivenessContext => ({ now, storageReadAt: now, watchingSince: 0, ...extra });

test('a host is ok, then suspect after 3 s, then isolated or failed after 10 s, by its lease and storage heartbeat', () => {
  const lease = 100_000;
  const classify = (now: number, heartbeat: number, extra: Partial<LivenessContext> = {}) =>
    classifyHost('h1', observation('h1', lease, { lastStorageHeartbeatAt: heartbeat }), at(now, extra), T);
  assert.equal(classify(lease + 2_999, lease).liveness, 'ok');
  assert.equal(classify(lease + 3_000, lease).liveness, 'suspect');
  assert.equal(classify(lease + 9_999, lease).liveness, 'suspect');
  const isolated = classify(lease + 10_000, lease + 9_500);
  assert.equal(isolated.liveness, 'isolated');
  assert.equal(isolated.reason, 'lease expired (last lease renewal 10.0 s ago) but its storage heartbeat is 0.5 s old: the host runs but is cut off from the controller');
  const failed = classify(lease + 10_000, lease);
  assert.deepEqual([failed.liveness, failed.lease, failed.storage], ['failed', 'expired', 'expired']);
  assert.equal(failed.reason, 'lease and storage heartbeat expired: last lease renewal 10.0 s ago, storage heartbeat 10.0 s old');
  assert.equal(cutOffAt(failed), lease + 10_000);
});

test('an unchanged heartbeat slot proves nothing unless the controller read it after the expiry: the host stays suspect', () => {
  const verdict = classifyHost('h1', observation('h1', 0), at(20_000, { storageReadAt: 9_000 }), T);
  assert.deepEqual([verdict.liveness, verdict.lease, verdict.storage], ['suspect', 'expired', 'unknown']);
  assert.match(verdict.reason, /the controller last read the heartbeat slots 11\.0 s ago, so it cannot tell a failed host from an isolated one/);
  assert.equal(classifyHost('h1', observation('h1', 0), at(20_000, { storageReadAt: 10_000 }), T).liveness, 'failed');
});

test('a controller that just started gives every host a fresh lease, counted from when it began watching', () => {
  const neverHeard = { hostId: 'h1', watchdog: false, fenceDevice: false };
  assert.equal(classifyHost('h1', neverHeard, at(52_000, { watchingSince: 50_000 }), T).liveness, 'ok');
  assert.equal(classifyHost('h1', neverHeard, at(53_000, { watchingSince: 50_000 }), T).liveness, 'suspect');
  const failed = classifyHost('h1', neverHeard, at(60_000, { watchingSince: 50_000 }), T);
  assert.equal(failed.liveness, 'failed');
  assert.match(failed.reason, /no lease renewal since the controller started watching 10\.0 s ago/);
  // A renewal the previous process saw long ago does not count from before the restart.
  assert.equal(classifyHost('h1', observation('h1', 1_000), at(52_000, { watchingSince: 50_000 }), T).liveness, 'ok');
});

test('after a controller restart a host already found failed stays failed until it renews or writes a heartbeat again', () => {
  const record = { liveness: 'failed' as const, since: 30_000, fence: { attempt: 0 } };
  const neverHeard = { hostId: 'h1', watchdog: true, fenceDevice: false };
  const restarted = classifyHost('h1', neverHeard, at(50_100, { watchingSince: 50_000, storageReadAt: undefined, record }), T);
  assert.equal(restarted.liveness, 'failed');
  // Not certainly expired yet: the new process has read nothing, which the watchdog ground needs.
  assert.equal(restarted.storage, 'fresh');
  assert.equal(classifyHost('h1', observation('h1', 50_050), at(50_100, { watchingSince: 50_000, record }), T).liveness, 'ok');
});

test('fenced and confirmed down hold until the host renews its lease again', () => {
  const fenced = { liveness: 'failed' as const, since: 10_000, fence: { attempt: 1, fencedAt: 12_000 } };
  assert.equal(classifyHost('h1', observation('h1', 0), at(13_000, { record: fenced }), T).liveness, 'fenced');
  assert.equal(classifyHost('h1', observation('h1', 40_000), at(40_100, { record: fenced }), T).liveness, 'ok');
  const confirmed = { liveness: 'failed' as const, since: 10_000, fence: { attempt: 0 }, confirmedDown: { at: 20_000, by: 'alice' } };
  const verdict = classifyHost('h1', observation('h1', 0), at(21_000, { record: confirmed }), T);
  assert.deepEqual([verdict.liveness, verdict.reason], ['confirmed-down', 'alice confirmed it is down 1.0 s ago']);
  assert.equal(classifyHost('h1', observation('h1', 25_000), at(25_100, { record: confirmed }), T).liveness, 'ok');
});
