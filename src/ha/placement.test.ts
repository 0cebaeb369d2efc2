import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cluster, GiB, host, vm } from '../scheduler/testing.js';
import { placeRestart, restartView } from './placement.js';

test('a restart honours anti-affinity and capacity, and takes no host HA holds unavailable', () => {
  const view = cluster(
    [host('h1'), host('h2'), host('h3', { memoryBytes: 2 * GiB }), host('h4')],
    [vm('db-a', { hostId: 'h1', groups: { antiAffinity: ['db'] } }), vm('db-b', { hostId: 'h2', groups: { antiAffinity: ['db'] } }), vm('filler', { hostId: 'h3', memoryBytes: 2 * GiB })],
  );
  const unavailable = new Map([['h1', 'ha: host is failed'], ['h4', 'ha: host is isolated']]);
  const restart = restartView(view, unavailable, new Map([['db-a', null]]));
  const moved = restart.vms.find((v) => v.id === 'db-a');
  assert.equal(moved?.hostId, null, 'the VM being restarted counts nowhere');
  const placement = placeRestart(restart, moved ?? vm('missing'), unavailable, new Map());
  assert.equal(placement.placed, false);
  assert.deepEqual(placement.placed ? [] : placement.refusals.map((r) => `${r.hostId} ${r.reason}`), [
    'h1 ha: host is failed',
    'h2 anti-affinity: group db already has db-b on this host',
    'h3 memory: needs 1 GiB, 0 MiB free of 2 GiB at 1x overcommit (2 GiB physical)',
    'h4 ha: host is isolated',
  ]);
  assert.equal(placement.placed === false && placement.onlyTriedHostsLeft, false);
});

test('hosts the restart already failed on are excluded, and a VM only they could take is told so', () => {
  const view = cluster([host('h1'), host('h2'), host('h3')], [vm('db', { hostId: null })]);
  const db = view.vms[0] ?? vm('db');
  const tried = new Map([['h2', 'ha: the restart already failed on this host (QEMU exited)']]);
  const placed = placeRestart(view, db, new Map(), tried);
  assert.equal(placed.placed && placed.hostId, 'h1');
  const failed = new Map([['h1', 'ha: host is failed'], ['h3', 'ha: host is failed']]);
  const only = placeRestart(restartView(view, failed, new Map()), db, failed, tried);
  assert.equal(only.placed === false && only.onlyTriedHostsLeft, true);
  assert.match(only.placed ? '' : only.reason, /h2: ha: the restart already failed on this host \(QEMU exited\)/);
});
