import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DroverError } from '../shared/errors.js';
import { Migration, MigrationRegistry } from './progress.js';

const ram = (over: Record<string, number> = {}) => ({
  transferred: 1000, remaining: 500, total: 4096, duplicate: 0, skipped: 0, normal: 0, 'normal-bytes': 0, 'dirty-pages-rate': 120, mbps: 800,
  'dirty-sync-count': 3, 'postcopy-requests': 0, 'page-size': 4096, 'multifd-bytes': 0, 'pages-per-second': 0, 'precopy-bytes': 0,
  'downtime-bytes': 0, 'postcopy-bytes': 0, ...over,
});

test('progress follows query-migrate; the result keeps QEMU\'s own times and the highest throttle seen', () => {
  const m = new Migration('id-1', 'outgoing', { id: 'vm-1', name: 'web' }, 'copy', 'http://dst');
  m.update({ status: 'active', ram: ram(), 'cpu-throttle-percentage': 30 }, [
    { type: 'mirror', device: 'mirror-root', len: 100, offset: 40, busy: true, paused: false, speed: 0, 'io-status': 'ok', ready: false, status: 'running', 'auto-finalize': true, 'auto-dismiss': true },
  ]);
  assert.deepEqual([m.progress.pass, m.progress.ramRemainingBytes, m.progress.dirtyPagesRate, m.progress.cpuThrottlePercent], [3, 500, 120, 30]);
  assert.deepEqual(m.progress.disks, [{ name: 'root', copiedBytes: 40, totalBytes: 100, ready: false }]);
  m.update({ status: 'postcopy-active', ram: ram({ 'dirty-sync-count': 5 }) });
  m.update({ status: 'completed', ram: ram({ transferred: 9000, 'dirty-sync-count': 6 }), 'total-time': 700, downtime: 12, 'setup-time': 1 });
  assert.deepEqual(m.result, { totalTimeMs: 700, downtimeMs: 12, setupTimeMs: 1, ramTransferredBytes: 9000, passes: 6, postcopy: true, maxCpuThrottlePercent: 30 });
  assert.equal(m.progress.disks.length, 1, 'the last disk figures stay when no jobs are reported');
});

test('a final state is final and carries its error; the registry forgets old finished migrations only', () => {
  const m = new Migration('id-2', 'incoming', { id: 'vm-2', name: 'db' }, 'shared', '10.0.0.1');
  assert.equal(m.state, 'receiving');
  m.set('failed', new DroverError('MIGRATION_FAILED', 'boom'));
  m.set('completed');
  assert.equal(m.state, 'failed');
  assert.equal(m.view().error?.code, 'MIGRATION_FAILED');
  assert.ok(m.view().finishedAt);

  const registry = new MigrationRegistry();
  const live = registry.add(new Migration('live', 'outgoing', { id: 'v', name: 'keep' }, 'shared', 'x'));
  const unresolved = registry.add(new Migration('unresolved', 'outgoing', { id: 'v', name: 'held' }, 'shared', 'x'));
  unresolved.set('unresolved');
  for (let i = 0; i < 60; i++) registry.add(new Migration(`done-${i}`, 'outgoing', { id: 'v', name: 'old' }, 'shared', 'x')).set('completed');
  // Pruning happens on add, so the one finished last is still counted: the live and unresolved ones plus 50 + 1 finished.
  assert.equal(registry.list().length, 53);
  assert.equal(registry.find('unresolved'), unresolved, 'an unresolved migration is kept while it is being settled');
  assert.ok(registry.find('done-59'));
  assert.equal(registry.active('keep', 'outgoing'), live);
  assert.throws(() => registry.get('done-0'), (e) => e instanceof DroverError && e.code === 'MIGRATION_NOT_FOUND');
});
