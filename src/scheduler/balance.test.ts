import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDroverError } from '../shared/errors.js';
import { plan, type RecentMove } from './balance.js';
import { movesLowerBound } from './bound.js';
import { measureLoad } from './load.js';
import type { ClusterView, HostView, VmView } from './model.js';
import { applyMoves, cluster, GiB, host, layout, vm } from './testing.js';

const NOW = Date.parse('2026-01-01T12:00:00Z');

/** A VM of `cpus` vCPUs and 2 GiB per vCPU, so CPU and memory ratios move together. */
function sized(id: string, hostId: string, cpus: number, overrides: Partial<VmView> = {}): VmView {
  return vm(id, { hostId, cpus, memoryBytes: cpus * 2 * GiB, ...overrides });
}

/** Hosts of 8 CPUs and 16 GiB. */
function hosts(...ids: string[]): HostView[] {
  return ids.map((id) => host(id));
}

/** Host a carries six 1-vCPU VMs (75%), b and c are empty: even load is 25%. */
function oneOverloaded(overrides: (index: number) => Partial<VmView> = () => ({})): ClusterView {
  return cluster(hosts('a', 'b', 'c'), Array.from({ length: 6 }, (_, i) => sized(`v${i + 1}`, 'a', 1, overrides(i))));
}

test('one overloaded host and two empty ones: exactly the moves needed, half to each', () => {
  const view = oneOverloaded();
  // Within 0.1 of 25%: a keeps at most 2 (35% > 25%), b and c need at least 2 each (15%).
  const result = plan(view, { threshold: 0.1, now: NOW });
  assert.equal(movesLowerBound(view, { threshold: 0.1 }), 4);
  assert.equal(result.moves.length, 4);
  assert.deepEqual(layout(applyMoves(view, result.moves)), { a: ['v5', 'v6'], b: ['v1', 'v3'], c: ['v2', 'v4'] });
  assert.equal(result.balanced, true);
  assert.equal(result.imbalanceBefore, 0.5);
  assert.ok(Math.abs(result.imbalanceAfter) < 1e-9);
  assert.equal(result.totalCostBytes, 4 * 2 * GiB);
  assert.deepEqual(result.moves.map((m) => m.costBytes), [2 * GiB, 2 * GiB, 2 * GiB, 2 * GiB]);
  assert.equal(
    result.moves[0]?.reason,
    'a is the most uneven host (CPU 75% allocated against an even 25%); moving v1 (1 vCPU(s), 2 GiB) from a to b takes the imbalance from 0.500 to 0.375',
  );
  assert.match(result.stopReason, /^balanced/);
});

test('mixed sizes: the large VMs go first, four moves where four is the fewest possible', () => {
  // a: four 2-vCPU and four 1-vCPU VMs on 16-CPU hosts = 75%; even is 25% (4 vCPUs a host).
  const big = (id: string) => host(id, { cpus: 16, memoryBytes: 32 * GiB });
  const vms = [2, 2, 2, 2, 1, 1, 1, 1].map((cpus, i) => sized(`v${i + 1}`, 'a', cpus));
  const view = cluster([big('a'), big('b'), big('c')], vms);
  const result = plan(view, { threshold: 0.05, now: NOW });
  assert.equal(movesLowerBound(view, { threshold: 0.05 }), 4);
  assert.equal(result.moves.length, 4);
  assert.ok(result.moves.every((m) => ['v1', 'v2', 'v3', 'v4'].includes(m.vmId)));
  assert.equal(result.balanced, true);
});

test('planning again on the result of a plan gives an empty plan, with or without the recent moves', () => {
  const view = oneOverloaded();
  const first = plan(view, { threshold: 0.1, now: NOW });
  const after = applyMoves(view, first.moves);
  const recentMoves: RecentMove[] = first.moves.map((m) => ({ vmId: m.vmId, fromHostId: m.fromHostId, toHostId: m.toHostId, at: NOW }));
  assert.deepEqual(plan(after, { threshold: 0.1, now: NOW + 1000, recentMoves }).moves, []);
  assert.deepEqual(plan(after, { threshold: 0.1, now: NOW + 1000 }).moves, []);
});

test('recently moved VMs stay put through the cool-down and never go back where they came from', () => {
  const view = oneOverloaded();
  const recentMoves: RecentMove[] = ['v1', 'v2', 'v3', 'v4'].map((vmId) => ({ vmId, fromHostId: 'b', toHostId: 'a', at: NOW - 60_000 }));
  const cooling = plan(view, { threshold: 0.1, now: NOW, recentMoves });
  assert.deepEqual(cooling.moves.map((m) => m.vmId).sort(), ['v5', 'v6']);
  assert.ok(cooling.imbalanceAfter < cooling.imbalanceBefore);
  assert.match(cooling.stopReason, /no allowed move brings a closer to even load/);

  // An hour later the cool-down is over, but none of them may return to b.
  const later = plan(view, { threshold: 0.1, now: NOW + 3_600_000, recentMoves });
  assert.ok(later.moves.length > 2);
  for (const move of later.moves) if (['v1', 'v2', 'v3', 'v4'].includes(move.vmId)) assert.notEqual(move.toHostId, 'b', move.vmId);
  assert.equal(new Set(later.moves.map((m) => m.vmId)).size, later.moves.length, 'no VM moves twice');
});

test('the arithmetically best move is skipped when anti-affinity refuses it', () => {
  // Even load is 4 vCPUs a host; b is furthest below. db-1 and w-1 are equally good for b on paper,
  // but b already runs db-2 of db-1's anti-affinity group.
  const anti = { groups: { antiAffinity: ['db'] } };
  const view = cluster(hosts('a', 'b', 'c'), [sized('db-1', 'a', 3, anti), sized('w-1', 'a', 3), sized('db-2', 'b', 1, anti), sized('fill', 'c', 5)]);
  const result = plan(view, { threshold: 0.2, now: NOW });
  assert.deepEqual(result.moves.map((m) => [m.vmId, m.toHostId]), [['w-1', 'b']]);
});

test('hosts in maintenance or offline are neither targets nor counted in the even load', () => {
  const view = cluster(
    [host('a'), host('m', { state: 'maintenance' }), host('off', { state: 'offline' }), host('b')],
    [sized('v1', 'a', 2), sized('v2', 'a', 2), sized('v3', 'a', 2), sized('v4', 'a', 2), sized('kept', 'm', 1)],
  );
  assert.deepEqual(measureLoad(view).even, { cpu: 0.5, memory: 0.5 });
  const result = plan(view, { threshold: 0, now: NOW });
  assert.deepEqual(result.moves.map((m) => m.toHostId), ['b', 'b']);
  assert.equal(result.balanced, true);
});

test('held VMs are not moved: not live-migratable, local storage, or bound by affinity', () => {
  const pools = [{ name: 'a-disk', kind: 'local' as const, hosts: ['a'] }];
  const view = cluster(
    hosts('a', 'b', 'c'),
    [
      sized('frozen', 'a', 2, { liveMigratable: false }),
      sized('local', 'a', 2, { pool: 'a-disk' }),
      sized('pair-1', 'a', 1, { groups: { affinity: ['pair'] } }),
      sized('pair-2', 'a', 1, { groups: { affinity: ['pair'] } }),
    ],
    { pools },
  );
  const result = plan(view, { threshold: 0.1, now: NOW });
  assert.deepEqual(result.moves, []);
  assert.match(result.stopReason, /^no allowed move brings a closer to even load/);
});

test('a plan that cannot lower the imbalance is returned empty', () => {
  // a and a2 are equally loaded (75% against an even 37.5%); a can be relieved, but everything on
  // a2 is pinned, so a2 stays as uneven as it was and the imbalance with it.
  const view = cluster(hosts('a', 'a2', 'b', 'c'), [
    ...[1, 2, 3, 4, 5, 6].map((i) => sized(`v${i}`, 'a', 1)),
    ...[1, 2, 3, 4, 5, 6].map((i) => sized(`p${i}`, 'a2', 1, { liveMigratable: false })),
  ]);
  const result = plan(view, { threshold: 0.05, now: NOW });
  assert.deepEqual(result.moves, []);
  assert.equal(result.imbalanceAfter, result.imbalanceBefore);
  assert.match(result.stopReason, /^no plan lowers the imbalance \(0\.375\); the greedy plan stopped with: no allowed move brings a2 closer/);
});

test('maxMoves caps the plan; bad options are refused', () => {
  const capped = plan(oneOverloaded(), { threshold: 0.1, maxMoves: 1, now: NOW });
  assert.equal(capped.moves.length, 1);
  assert.equal(capped.balanced, false);
  assert.match(capped.stopReason, /^reached maxMoves \(1\)/);
  for (const options of [{ threshold: -1 }, { threshold: Number.NaN }, { threshold: 0.1, maxMoves: 1.5 }, { threshold: 0.1, coolDownMs: -5 }]) {
    assert.throws(() => plan(oneOverloaded(), options), (err: unknown) => isDroverError(err, 'INVALID_ARGUMENT'), JSON.stringify(options));
  }
});

test('movesLowerBound is null when even moving everything cannot reach the threshold', () => {
  const view = cluster(hosts('a', 'b'), [sized('stuck', 'a', 6, { liveMigratable: false }), sized('free', 'a', 2)]);
  // Even is 50%: a must shed 3.2 vCPUs at threshold 0.1, and only the 2-vCPU VM may move.
  assert.equal(movesLowerBound(view, { threshold: 0.1 }), null);
  assert.equal(movesLowerBound(view, { threshold: 0.3 }), 1);
  assert.equal(movesLowerBound(view, { threshold: 0.5 }), 0);
});
