import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideGuestReset, recentResets } from './guest-monitor.js';
import { DEFAULT_GUEST_MONITORING as G } from './timings.js';

const started = 0;
const settled = G.startupGraceMs; // 120 s: monitoring may act from here.

test('a guest that never answered is not monitored; one silent for 30 s after its grace is reset', () => {
  assert.equal(decideGuestReset({ startedAt: started }, [], 1_000_000, G).kind, 'not-monitored');
  assert.equal(decideGuestReset({ startedAt: 500, lastGuestAnswerAt: 400 }, [], 1_000_000, G).kind, 'not-monitored', 'an answer from before this QEMU started');
  const guest = { startedAt: started, lastGuestAnswerAt: settled + 10_000 };
  assert.deepEqual(decideGuestReset(guest, [], settled + 39_999, G), { kind: 'healthy' });
  assert.deepEqual(decideGuestReset(guest, [], settled + 40_000, G), { kind: 'reset', reason: 'its guest agent has not answered for 30.0 s (reset after 30.0 s); reset 1 of at most 3 in 60 min' });
  // Within the grace after a start, a silent guest is left alone (it may still be booting).
  assert.deepEqual(decideGuestReset({ startedAt: started, lastGuestAnswerAt: 5_000 }, [], 100_000, G), { kind: 'healthy' });
});

test('after a reset the guest gets its grace again, and at most 3 resets fit in an hour', () => {
  const guest = { startedAt: started, lastGuestAnswerAt: settled };
  assert.equal(decideGuestReset(guest, [200_000], 200_000 + G.startupGraceMs + 29_999, G).kind, 'healthy');
  assert.equal(decideGuestReset(guest, [200_000], 200_000 + G.startupGraceMs + 30_000, G).kind, 'reset');
  const resets = [200_000, 400_000, 600_000];
  const limited = decideGuestReset(guest, resets, 800_000, G);
  assert.equal(limited.kind, 'limit-reached');
  assert.equal(limited.kind === 'limit-reached' && limited.nextResetAt, 200_000 + G.resetWindowMs);
  assert.equal(decideGuestReset(guest, resets, 200_000 + G.resetWindowMs + 1, G).kind, 'reset', 'the oldest reset has left the window');
  assert.deepEqual(recentResets(resets, 200_000 + G.resetWindowMs + 1, G), [400_000, 600_000]);
});
