import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDroverError } from '../shared/errors.js';
import { planEvacuation } from './evacuate.js';
import { cluster, GiB, host, vm } from './testing.js';

test('evacuation moves what it can, local-storage VMs with their disks mirrored, and reports every VM that cannot move, with why', () => {
  const pools = [{ name: 'h1-disk', kind: 'local' as const, hosts: ['h1'] }];
  const view = cluster(
    [host('h1', { cpus: 32 }), host('h2'), host('h3', { state: 'maintenance' })],
    [
      vm('frozen', { hostId: 'h1', liveMigratable: false }),
      vm('local', { hostId: 'h1', pool: 'h1-disk', diskBytes: 3 * GiB }),
      vm('giant', { hostId: 'h1', cpus: 12 }),
      vm('web', { hostId: 'h1', cpus: 2, memoryBytes: 4 * GiB, diskBytes: 5 * GiB }),
    ],
    { pools },
  );
  const result = planEvacuation(view, 'h1');
  assert.equal(result.hostName, 'h1');
  assert.equal(result.complete, false);
  // web stays in the shared pool: only its memory is copied; local's disks are mirrored to h2's own storage.
  assert.deepEqual(
    result.moves.map((m) => [m.vmId, m.toHostId, m.storage, m.memoryBytes, m.diskBytes, m.costBytes]),
    [
      ['web', 'h2', 'shared', 4 * GiB, 0, 4 * GiB],
      ['local', 'h2', 'local', GiB, 3 * GiB, 4 * GiB],
    ],
  );
  assert.match(result.moves[0]?.reason ?? '', /^spread: /);
  assert.equal(result.totalCostBytes, 8 * GiB);
  const unmovable = Object.fromEntries(result.unmovable.map((u) => [u.vmId, u]));
  assert.deepEqual(Object.keys(unmovable).sort(), ['frozen', 'giant']);
  assert.equal(unmovable.frozen?.reason, 'not live-migratable: stop it, or move it while stopped');
  assert.equal(unmovable.giant?.reason, 'no other host passes the placement filters; see refusals');
  assert.deepEqual(
    unmovable.giant?.refusals.map((r) => `${r.hostId}: ${r.reason}`),
    ['h2: cpu: needs 12 vCPU(s), 8 free of 8 at 1x overcommit (8 physical)', 'h3: maintenance: host is in maintenance and accepts no new VMs'],
  );
});

test('anti-affinity holds across the whole evacuation: earlier moves count', () => {
  // The group was declared after both landed on h1; pack would otherwise stack them on one host.
  const anti = { groups: { antiAffinity: ['db'] } };
  const members = [vm('db-1', { hostId: 'h1', ...anti }), vm('db-2', { hostId: 'h1', ...anti })];
  const spacious = planEvacuation(cluster([host('h1'), host('h2'), host('h3')], members, { weight: 'pack' }), 'h1');
  assert.deepEqual(spacious.moves.map((m) => [m.vmId, m.toHostId]), [['db-1', 'h2'], ['db-2', 'h3']]);
  assert.equal(spacious.complete, true);

  const cramped = planEvacuation(cluster([host('h1'), host('h2')], members, { weight: 'pack' }), 'h1');
  assert.deepEqual(cramped.moves.map((m) => [m.vmId, m.toHostId]), [['db-1', 'h2']]);
  assert.deepEqual(cramped.unmovable.map((u) => [u.vmId, u.refusals.map((r) => r.reason)]), [['db-2', ['anti-affinity: group db already has db-1 on this host']]]);
});

test('an affinity group moves together to one host that fits all of it, or stays together', () => {
  const pair = { groups: { affinity: ['pair'] } };
  const view = cluster(
    [host('h1'), host('small', { cpus: 3 }), host('roomy')],
    [vm('p-1', { hostId: 'h1', cpus: 2, ...pair }), vm('p-2', { hostId: 'h1', cpus: 2, ...pair })],
    { weight: 'pack' },
  );
  const result = planEvacuation(view, 'h1');
  assert.deepEqual(result.moves.map((m) => [m.vmId, m.toHostId, m.movedWith]), [['p-1', 'roomy', ['p-2']], ['p-2', 'roomy', ['p-1']]]);

  const pools = [{ name: 'h1-disk', kind: 'local' as const, hosts: ['h1'] }];
  const pinned = cluster(
    [host('h1'), host('h2')],
    [vm('p-1', { hostId: 'h1', pool: 'h1-disk', ...pair }), vm('p-2', { hostId: 'h1', ...pair })],
    { pools },
  );
  // A member on local storage no longer pins the group: its disks are mirrored as it moves.
  const together = planEvacuation(pinned, 'h1');
  assert.deepEqual(together.moves.map((m) => [m.vmId, m.toHostId, m.storage]), [['p-1', 'h2', 'local'], ['p-2', 'h2', 'shared']]);

  const frozen = cluster([host('h1'), host('h2')], [vm('p-1', { hostId: 'h1', liveMigratable: false, ...pair }), vm('p-2', { hostId: 'h1', ...pair })]);
  const stuck = planEvacuation(frozen, 'h1');
  assert.deepEqual(stuck.moves, []);
  assert.deepEqual(
    stuck.unmovable.map((u) => [u.vmId, u.reason]),
    [
      ['p-1', 'not live-migratable: stop it, or move it while stopped'],
      ['p-2', 'its affinity group (p-1, p-2) moves together, and p-1 cannot move'],
    ],
  );
});

test('a local-storage VM is planned without pool reachability, but every other filter still holds', () => {
  const pools = [{ name: 'h1-disk', kind: 'local' as const, hosts: ['h1'] }, { name: 'h2-disk', kind: 'local' as const, hosts: ['h2'] }];
  const anti = { groups: { antiAffinity: ['db'] } };
  const view = cluster(
    [host('h1'), host('h2'), host('h3', { tags: ['ssd'] }), host('h4', { cpus: 1 })],
    [vm('db-1', { hostId: 'h1', pool: 'h1-disk', requiredTags: [], ...anti }), vm('db-2', { hostId: 'h2', pool: 'h2-disk', ...anti }), vm('fat', { hostId: 'h1', pool: 'h1-disk', cpus: 2, requiredTags: ['ssd'] })],
    { pools },
  );
  const result = planEvacuation(view, 'h1');
  assert.equal(result.complete, true, JSON.stringify(result.unmovable));
  const to = new Map(result.moves.map((m) => [m.vmId, m.toHostId]));
  assert.equal(to.get('fat'), 'h3', 'the tag keeps fat to h3');
  assert.notEqual(to.get('db-1'), 'h2', 'anti-affinity keeps db-1 off h2');
  assert.ok(result.moves.every((m) => m.storage === 'local'));
});

test('evacuating an empty host is a complete, empty plan; an unknown host is NOT_FOUND', () => {
  const view = cluster([host('h1'), host('h2')]);
  assert.deepEqual(planEvacuation(view, 'h1'), { hostId: 'h1', hostName: 'h1', moves: [], unmovable: [], totalCostBytes: 0, complete: true });
  assert.throws(() => planEvacuation(view, 'nope'), (err: unknown) => isDroverError(err, 'NOT_FOUND'));
});

test('a VM on host-local disks with snapshots is reported, not planned: mirroring would lose them; in a shared pool it moves', () => {
  const pools = [{ name: 'h1-disk', kind: 'local' as const, hosts: ['h1'] }];
  const view = cluster(
    [host('h1'), host('h2')],
    [vm('kept', { hostId: 'h1', pool: 'h1-disk', snapshots: 2 }), vm('shared', { hostId: 'h1', snapshots: 1 }), vm('plain', { hostId: 'h1', pool: 'h1-disk' })],
    { pools },
  );
  const result = planEvacuation(view, 'h1');
  assert.deepEqual(result.unmovable.map((u) => u.vmId), ['kept']);
  assert.match(result.unmovable[0]?.reason ?? '', /2 snapshot\(s\), which mirroring them would lose/);
  assert.deepEqual(result.moves.map((m) => [m.vmId, m.storage]).sort(), [['plain', 'local'], ['shared', 'shared']]);
  assert.equal(result.complete, false);
});

test('a guest that moves by a restart (a container) is planned as one: no memory copied, only its disk', () => {
  const pools = [{ name: 'h1-disk', kind: 'local' as const, hosts: ['h1'] }];
  const view = cluster(
    [host('h1'), host('h2')],
    [vm('ct', { hostId: 'h1', pool: 'h1-disk', diskBytes: 2 * GiB, memoryBytes: GiB, movesByRestart: true }), vm('web', { hostId: 'h1', memoryBytes: GiB })],
    { pools },
  );
  const moves = planEvacuation(view, 'h1').moves.map((m) => [m.vmId, m.restart, m.memoryBytes, m.diskBytes, m.costBytes]).sort();
  assert.deepEqual(moves, [
    ['ct', true, 0, 2 * GiB, 2 * GiB],
    ['web', false, GiB, 0, GiB],
  ]);
});
