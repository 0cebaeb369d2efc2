/** Settling an unresolved hand-over against a simulated destination and a simulated source QEMU. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DroverError } from '../shared/errors.js';
import type { MigrationView } from './schemas.js';
import { settleHandover, type UnresolvedHandover } from './unresolved.js';

const view = (state: MigrationView['state']): MigrationView => ({
  id: 'm-1', direction: 'incoming', vm: { id: 'vm-1', name: 'web' }, storage: 'shared', state, peer: 'source', startedAt: '2025-01-01T00:00:00.000Z',
  progress: { pass: 0, ramTransferredBytes: 0, ramRemainingBytes: 0, ramTotalBytes: 0, dirtyPagesRate: 0, mbps: 0, cpuThrottlePercent: 0, postcopy: false, disks: [] },
});

/**
 * A simulated source QEMU and a simulated destination answering `answers` in turn (an Error: no answer), and
 * `runsThere` when asked whether it runs the guest itself (an Error: it cannot tell).
 */
function simulated(answers: Array<MigrationView['state'] | Error>, postcopy = false, runsThere: boolean | Error = new Error('cannot tell')) {
  const calls: string[] = [];
  let here = true;
  const handover: UnresolvedHandover = {
    postcopy,
    askDestination: async () => {
      const next = answers.length > 1 ? answers.shift() : answers[0];
      calls.push(`ask:${next instanceof Error ? 'error' : next}`);
      if (next instanceof Error) throw next;
      return view(next as MigrationView['state']);
    },
    destinationRunsGuest: async () => {
      calls.push(`runs-there:${runsThere instanceof Error ? 'error' : runsThere}`);
      if (runsThere instanceof Error) throw runsThere;
      return runsThere;
    },
    stillHere: () => here,
    stopHere: async () => {
      calls.push('stop');
      here = false;
    },
    resumeHere: async () => void calls.push('resume'),
  };
  return { handover, calls, kill: () => (here = false) };
}

test('the destination runs the guest: after unanswered and in-flight answers, the guest is stopped here, never resumed', async () => {
  const { handover, calls } = simulated([new DroverError('HOST_UNREACHABLE', 'down'), new DroverError('MIGRATION_NOT_FOUND', 'restarted'), 'receiving', 'completed']);
  assert.equal(await settleHandover(handover, 1), 'runs-on-destination');
  assert.deepEqual(calls, ['ask:error', 'ask:error', 'runs-there:error', 'ask:receiving', 'ask:completed', 'stop']);
});

test('a destination whose agent forgot the migration is asked for the VM itself: there, it is stopped here; absent, it resumes here', async () => {
  const forgotten = () => new DroverError('MIGRATION_NOT_FOUND', 'restarted');
  const there = simulated([forgotten()], false, true);
  assert.equal(await settleHandover(there.handover, 1), 'runs-on-destination');
  assert.deepEqual(there.calls, ['ask:error', 'runs-there:true', 'stop']);
  const absent = simulated([forgotten()], false, false);
  assert.equal(await settleHandover(absent.handover, 1), 'resumed-here');
  assert.deepEqual(absent.calls, ['ask:error', 'runs-there:false', 'resume']);
});

test('the destination never took it over: the guest resumes here; after post-copy it cannot, and is left for a person', async () => {
  const precopy = simulated(['failed']);
  assert.equal(await settleHandover(precopy.handover, 1), 'resumed-here');
  assert.deepEqual(precopy.calls, ['ask:failed', 'resume']);
  const postcopy = simulated(['cancelled'], true);
  assert.equal(await settleHandover(postcopy.handover, 1), 'postcopy-lost');
  assert.deepEqual(postcopy.calls, ['ask:cancelled']);
});

test('a person killing the guest here ends the wait; so does shutting the agent down', async () => {
  const killed = simulated([new DroverError('HOST_UNREACHABLE', 'down')]);
  setTimeout(killed.kill, 20);
  assert.equal(await settleHandover(killed.handover, 5), 'killed-here');
  assert.ok(!killed.calls.includes('resume') && !killed.calls.includes('stop'));
  const stopping = simulated([new DroverError('HOST_UNREACHABLE', 'down')]);
  const shutdown = new AbortController();
  setTimeout(() => shutdown.abort(), 20);
  assert.equal(await settleHandover(stopping.handover, 5, shutdown.signal), undefined);
  assert.ok(!stopping.calls.includes('resume'));
});
