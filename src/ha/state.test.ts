import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDroverError } from '../shared/errors.js';
import { createHaState, type HaState, nextGeneration, restoreHaState, serializeHaState } from './state.js';

function midFailover(): HaState {
  const state = createHaState(1_000);
  state.hosts.h1 = { hostId: 'h1', liveness: 'failed', since: 10_000, fence: { attempt: 2, inFlight: { attempt: 2, issuedAt: 11_000 } } };
  state.vms.db = {
    vmId: 'db',
    phase: 'starting',
    generation: 2,
    hostId: 'h2',
    guestResets: [],
    staleStops: [],
    failover: { fromHostId: 'h1', lostAt: 10_000, lostReason: 'h1 failed', failedStarts: [], steps: [], intent: { hostId: 'h2', generation: 2, issuedAt: 12_000, checkDueAt: 22_000 } },
  };
  state.vms.web = {
    vmId: 'web',
    phase: 'started',
    generation: 5,
    hostId: 'h3',
    guestResets: [],
    staleStops: [],
    failover: { fromHostId: 'h1', lostAt: 10_000, lostReason: 'h1 failed', failedStarts: [], steps: [], intent: { hostId: 'h3', generation: 5, issuedAt: 12_000, acknowledgedAt: 12_500, checkDueAt: 22_000 } },
  };
  return state;
}

test('the state is plain JSON and survives a round trip', () => {
  const state = midFailover();
  assert.deepEqual(JSON.parse(serializeHaState(state)), state);
});

test('a restored state counts ages from the restart, re-checks unanswered restarts at once and sends fence attempts in flight again', () => {
  const restored = restoreHaState(serializeHaState(midFailover()), 30_000);
  assert.equal(restored.watchingSince, 30_000);
  assert.equal(restored.vms.db?.failover?.intent?.checkDueAt, 30_000);
  assert.equal(restored.vms.web?.failover?.intent?.checkDueAt, 22_000, 'an acknowledged restart is left alone');
  assert.deepEqual(restored.hosts.h1?.fence, { attempt: 2, retryAt: 30_000 });
});

test('restoring anything but a saved state is refused', () => {
  assert.throws(() => restoreHaState('{"format":2,"hosts":{},"vms":{}}', 0), (err) => isDroverError(err, 'INVALID_ARGUMENT'));
  assert.throws(() => restoreHaState('not json', 0), (err) => isDroverError(err, 'INVALID_ARGUMENT') && /not JSON/.test(err.message));
});

test('a start HA did not decide gets the next generation and ends any failover of the VM; the old state is untouched', () => {
  const before = midFailover();
  const { state, generation } = nextGeneration(before, 'db', 'h4');
  assert.equal(generation, 3);
  assert.deepEqual({ ...state.vms.db, failover: state.vms.db?.failover }, { ...before.vms.db, phase: 'protected', generation: 3, hostId: 'h4', failover: undefined });
  assert.equal(before.vms.db?.generation, 2);
  assert.equal(nextGeneration(createHaState(0), 'new', 'h1').generation, 1);
});
