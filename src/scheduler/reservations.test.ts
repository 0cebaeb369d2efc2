/** A VM in flight (movingTo) holds room and its groups on its destination until the move ends. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plan } from './balance.js';
import { measureLoad } from './load.js';
import { planEvacuation } from './evacuate.js';
import { placeOne } from './place.js';
import { migrationTargets } from './targets.js';
import { cluster, GiB, host, vm } from './testing.js';

test('a VM moving to a host takes its memory there: a second VM that would only fit without it is refused', () => {
  const view = cluster(
    [host('h1'), host('h2', { memoryBytes: 4 * GiB })],
    [vm('first', { hostId: 'h1', memoryBytes: 3 * GiB, movingTo: 'h2' }), vm('second', { hostId: 'h1', memoryBytes: 2 * GiB })],
  );
  const found = migrationTargets(view, 'second', 'shared');
  assert.deepEqual(found.targets[0]?.refusals.map((r) => r.filter), ['memory']);
  assert.equal(found.recommended, undefined);
  // Without the move in flight there is room.
  const settled = cluster(view.hosts, view.vms.map(({ movingTo: _, ...rest }) => rest));
  assert.equal(migrationTargets(settled, 'second', 'shared').recommended?.hostName, 'h2');
});

test('a VM moving to a host counts for anti-affinity there, for moves and for new VMs', () => {
  const view = cluster(
    [host('h1'), host('h2'), host('h3')],
    [vm('a', { hostId: 'h1', groups: { antiAffinity: ['front'] }, movingTo: 'h3' }), vm('b', { hostId: 'h2', groups: { antiAffinity: ['front'] } })],
  );
  const moves = migrationTargets(view, 'b', 'shared');
  const h3 = moves.targets.find((t) => t.hostName === 'h3');
  assert.deepEqual(h3?.refusals.map((r) => r.filter), ['anti-affinity']);
  assert.match(h3?.refusals[0]?.reason ?? '', /a \(arriving\)/);
  // h1 and h2 hold members, and h3 holds the one arriving: a third member has nowhere to go.
  assert.throws(() => placeOne(view, vm('c', { hostId: null, groups: { antiAffinity: ['front'] } })), (err: Error & { code?: string }) => err.code === 'PLACEMENT_IMPOSSIBLE' && /h3: anti-affinity/.test(err.message + JSON.stringify(err)));
});

test('the balancer does not plan to move a VM in flight, and evacuation reports it instead of moving it twice', () => {
  const view = cluster(
    [host('h1'), host('h2'), host('h3')],
    [vm('moving', { hostId: 'h1', memoryBytes: 6 * GiB, movingTo: 'h2' }), vm('other', { hostId: 'h1', memoryBytes: 2 * GiB })],
  );
  const balance = plan(view, { threshold: 0.01 });
  assert.ok(!balance.moves.some((m) => m.vmId === 'moving' || m.vmId.endsWith(':arriving')), JSON.stringify(balance.moves));
  const evacuation = planEvacuation(view, 'h1');
  assert.deepEqual(evacuation.unmovable.map((u) => [u.vmId, u.reason]), [['moving', 'a live migration of it is already in flight']]);
  assert.deepEqual(evacuation.moves.map((m) => m.vmId), ['other']);
});

test('load figures count a VM in flight on its destination only, so a cluster that will be even plans no move', () => {
  // h1 holds 'moving' (3 vCPUs, on its way to h3) and three 1-vCPU VMs; h2 holds 3; h3 nothing else.
  // Once the move ends every host holds 3 of 10: even. Counted on both hosts, h1 would look 6 of 10.
  const ten = { cpus: 10, memoryBytes: 10 * GiB };
  const view = cluster(
    [host('h1', ten), host('h2', ten), host('h3', ten)],
    [
      vm('moving', { hostId: 'h1', cpus: 3, memoryBytes: 3 * GiB, movingTo: 'h3' }),
      vm('a1', { hostId: 'h1' }), vm('a2', { hostId: 'h1' }), vm('a3', { hostId: 'h1' }),
      vm('b1', { hostId: 'h2', cpus: 3, memoryBytes: 3 * GiB }),
    ],
  );
  const load = measureLoad(view);
  assert.deepEqual(load.hosts.map((h) => [h.hostName, h.ratios.cpu.toFixed(2)]), [['h1', '0.30'], ['h2', '0.30'], ['h3', '0.30']]);
  assert.equal(load.imbalance, 0);
  const balance = plan(view, { threshold: 0.05 });
  assert.deepEqual(balance.moves, []);
  assert.equal(balance.balanced, true);
  // Capacity still counts it on both: h3 has 7 vCPUs free, not 10, so an 8-vCPU VM does not fit there.
  const big = migrationTargets(cluster(view.hosts, [...view.vms, vm('big', { hostId: 'h2', cpus: 8, memoryBytes: GiB })]), 'big', 'shared');
  assert.deepEqual(big.targets.find((t) => t.hostName === 'h3')?.refusals.map((r) => r.filter), ['cpu']);
});
