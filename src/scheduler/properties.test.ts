/**
 * Properties over generated clusters (a few simulated hosts, a few dozen VMs): every move and
 * placement the scheduler plans passes the filters when replayed step by step, plans never raise
 * the imbalance, and evacuations account for every VM on the host.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { plan } from './balance.js';
import { planEvacuation } from './evacuate.js';
import { FILTERS, firstRefusal } from './filters.js';
import { measureLoad } from './load.js';
import type { ClusterView, DeviceModel, HostView, PoolView, VmView } from './model.js';
import { placeMany } from './place.js';
import { ClusterState, type HostLoad } from './state.js';
import { applyMoves, GiB, host, MiB, vm } from './testing.js';

const hostArbitrary = fc.record({
  cpus: fc.constantFrom(2, 4, 8, 16),
  memoryGiB: fc.constantFrom(8, 16, 32, 64),
  cpuOvercommit: fc.constantFrom(1, 1.5, 2, 4),
  memoryOvercommit: fc.constantFrom(1, 1.25, 1.5),
  tags: fc.subarray(['ssd', 'gpu']),
  deviceModels: fc.subarray<DeviceModel>(['virtio', 'emulated'], { minLength: 1 }),
  state: fc.constantFrom('ready', 'ready', 'ready', 'ready', 'ready', 'ready', 'maintenance', 'offline'),
  healthy: fc.constantFrom(true, true, true, true, true, true, false),
});

const vmArbitrary = fc.record({
  cpus: fc.integer({ min: 1, max: 4 }),
  memoryMiB: fc.constantFrom(512, 1024, 2048, 4096),
  devices: fc.constantFrom<DeviceModel>('virtio', 'virtio', 'emulated'),
  pool: fc.constantFrom('shared', 'shared', 'shared', 'san', 'local'),
  requiredTags: fc.constantFrom<string[]>([], [], [], ['ssd'], ['gpu']),
  antiAffinity: fc.constantFrom<string[]>([], [], [], [], [], ['g1'], ['g2'], ['g1', 'g2']),
  affinity: fc.constantFrom<string[]>([], [], [], [], [], [], [], [], [], ['a1']),
  liveMigratable: fc.constantFrom(true, true, true, false),
  preferredHost: fc.nat(),
  skewed: fc.boolean(),
  unplaced: fc.constantFrom(false, false, false, false, true),
});

/** A cluster whose VMs were placed legally (each passed the filters when it landed), often onto the first host, to make it uneven. */
const clusterArbitrary = fc
  .record({
    hosts: fc.array(hostArbitrary, { minLength: 2, maxLength: 6 }),
    vms: fc.array(vmArbitrary, { maxLength: 40, size: 'max' }),
    sanHosts: fc.nat(),
    weight: fc.constantFrom<'spread' | 'pack'>('spread', 'pack'),
  })
  .map(({ hosts: specs, vms: vmSpecs, sanHosts, weight }): ClusterView => {
    // The first host always takes VMs, so that skewed VMs pile up on it.
    const usable: Partial<HostView> = { state: 'ready', healthy: true, deviceModels: ['virtio', 'emulated'] };
    const hosts: HostView[] = specs.map(({ memoryGiB, state, ...s }, i) =>
      host(`h${i}`, { ...s, memoryBytes: memoryGiB * GiB, state: state as HostView['state'], ...(i === 0 ? usable : {}) }),
    );
    const pools: PoolView[] = [
      { name: 'shared', kind: 'shared', hosts: hosts.map((h) => h.id) },
      { name: 'san', kind: 'shared', hosts: hosts.filter((_, i) => (sanHosts >> i) & 1).map((h) => h.id) },
      ...hosts.map((h): PoolView => ({ name: `local-${h.id}`, kind: 'local', hosts: [h.id] })),
    ];
    const view: ClusterView = { hosts, vms: [], pools, policy: { weight } };
    const state = new ClusterState(view);
    vmSpecs.forEach((s, i) => {
      // Onto the first host while it takes them (to make the cluster uneven), else the preferred one, else any.
      const tries = [...(s.skewed ? [0] : []), s.preferredHost % hosts.length, ...hosts.keys()].map((index) => state.hosts[index] as HostLoad);
      const made = (target: HostLoad): VmView =>
        vm(`vm${i}`, {
          cpus: s.cpus,
          memoryBytes: s.memoryMiB * MiB,
          devices: s.devices,
          pool: s.pool === 'local' ? `local-${target.view.id}` : s.pool,
          requiredTags: s.requiredTags,
          groups: { antiAffinity: s.antiAffinity, affinity: s.affinity },
          liveMigratable: s.liveMigratable,
        });
      // Placed only where the filters allow (maintenance and offline hosts refuse, so they start empty).
      const target = s.unplaced ? undefined : tries.find((h) => firstRefusal(h, made(h), state) === undefined);
      const candidate = made(target ?? (tries[0] as HostLoad));
      if (target) state.add(candidate, target);
      view.vms.push({ ...candidate, hostId: target ? target.view.id : null });
    });
    return view;
  });

function vmById(view: ClusterView, id: string): VmView {
  const found = view.vms.find((v) => v.id === id);
  assert.ok(found, `unknown VM ${id}`);
  return found;
}

function assertAntiAffinity(view: ClusterView): void {
  const seen = new Set<string>();
  for (const v of view.vms) {
    if (v.hostId === null) continue;
    for (const group of v.groups.antiAffinity ?? []) {
      const key = `${group}@${v.hostId}`;
      assert.ok(!seen.has(key), `anti-affinity group ${group} twice on ${v.hostId}`);
      seen.add(key);
    }
  }
}

test('every balancing move passes the filters when replayed, and the plan lowers the imbalance or is empty', () => {
  fc.assert(
    fc.property(clusterArbitrary, fc.constantFrom(0, 0.05, 0.1, 0.25), (view, threshold) => {
      const result = plan(view, { threshold, now: 0 });
      const state = new ClusterState(view);
      const moved = new Set<string>();
      for (const move of result.moves) {
        const v = vmById(view, move.vmId);
        assert.ok(!moved.has(v.id), `${v.id} moved twice`);
        moved.add(v.id);
        assert.ok(v.liveMigratable && !v.pool.startsWith('local-'), `${v.id} should have been held`);
        assert.equal(state.hostOf(v)?.view.id, move.fromHostId);
        assert.notEqual(move.toHostId, move.fromHostId);
        const target = state.host(move.toHostId) as HostLoad;
        assert.equal(firstRefusal(target, v, state), undefined);
        state.move(v, target);
      }
      const after = applyMoves(view, result.moves);
      assertAntiAffinity(after);
      assert.ok(Math.abs(measureLoad(after).imbalance - result.imbalanceAfter) < 1e-9);
      assert.ok(result.moves.length === 0 || result.imbalanceAfter < result.imbalanceBefore - 1e-12, 'a non-empty plan lowers the imbalance');
      if (result.balanced) assert.deepEqual(plan(after, { threshold, now: 0 }).moves, []);
    }),
    { numRuns: 500 },
  );
});

test('every placement passes the filters when replayed in decision order; failures list every host', () => {
  fc.assert(
    fc.property(clusterArbitrary, fc.integer({ min: 1, max: 12 }), (view, count) => {
      const newcomers = view.vms.filter((v) => v.hostId === null).slice(0, count);
      const { decisions, failures } = placeMany(view, newcomers);
      assert.equal(decisions.length + failures.reduce((sum, f) => sum + f.vmIds.length, 0), newcomers.length);
      const state = new ClusterState(view, new Set(newcomers.map((v) => v.id)));
      for (const decision of decisions) {
        const v = vmById(view, decision.vmId);
        assert.equal(firstRefusal(state.host(decision.hostId) as HostLoad, v, state), undefined, decision.vmId);
        assert.equal(decision.rejected.length + decision.candidates, view.hosts.length);
        state.add(v, state.host(decision.hostId) as HostLoad);
      }
      for (const failure of failures) assert.deepEqual(failure.refusals.map((r) => r.hostId), view.hosts.map((h) => h.id));
    }),
    { numRuns: 500 },
  );
});

test('an evacuation accounts for every VM on the host once, and its moves pass the filters in order', () => {
  fc.assert(
    fc.property(clusterArbitrary, (view) => {
      const source = view.hosts[0] as HostView;
      const result = planEvacuation(view, source.id);
      const residents = view.vms.filter((v) => v.hostId === source.id).map((v) => v.id);
      assert.deepEqual([...result.moves.map((m) => m.vmId), ...result.unmovable.map((u) => u.vmId)].sort(), residents.sort());
      // Replay with every mover lifted off the host in maintenance, landing them in plan order.
      const inMaintenance = { ...view, hosts: view.hosts.map((h) => (h === source ? { ...h, state: 'maintenance' as const } : h)) };
      const replay = new ClusterState(inMaintenance, new Set(result.moves.map((m) => m.vmId)));
      for (const move of result.moves) {
        const v = vmById(view, move.vmId);
        assert.notEqual(move.toHostId, source.id);
        const target = replay.host(move.toHostId) as HostLoad;
        // Mirrored disks land in the target's own storage: pool reachability does not apply to those moves.
        const filters = move.storage === 'local' ? FILTERS.filter((f) => f.name !== 'storage') : FILTERS;
        assert.equal(firstRefusal(target, v, replay, filters), undefined, v.id);
        assert.equal(move.storage === 'local', v.pool.startsWith('local-'), `${v.id} moves with its pool's kind`);
        replay.add(v, target);
      }
      assertAntiAffinity(applyMoves(view, result.moves.map((m) => ({ vmId: m.vmId, toHostId: m.toHostId }))));
    }),
    { numRuns: 500 },
  );
});
