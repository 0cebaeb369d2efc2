import { test } from 'node:test';
import assert from 'node:assert/strict';
import { affinity, antiAffinity, availability, cpu, deviceModel, FILTERS, firstRefusal, maintenance, memory, storage, tags } from './filters.js';
import type { HostView, PoolView, VmView } from './model.js';
import { ClusterState, type HostLoad } from './state.js';
import { cluster, GiB, host, MiB, vm } from './testing.js';

/** The state of one host `h` (plus `others`) with `residents` on it, and its HostLoad. */
function onHost(h: HostView, residents: VmView[] = [], others: HostView[] = [], pools: PoolView[] = []): { state: ClusterState; load: HostLoad } {
  const state = new ClusterState(cluster([h, ...others], residents, { pools }));
  return { state, load: state.host(h.id) as HostLoad };
}

test('availability refuses offline and unhealthy hosts', () => {
  const offline = onHost(host('h1', { state: 'offline' }));
  assert.equal(availability(offline.load, vm('web'), offline.state), 'availability: host is offline');
  const sick = onHost(host('h1', { healthy: false }));
  assert.equal(availability(sick.load, vm('web'), sick.state), 'availability: host is not healthy');
  const fine = onHost(host('h1'));
  assert.equal(availability(fine.load, vm('web'), fine.state), undefined);
});

test('maintenance refuses a host in maintenance', () => {
  const { state, load } = onHost(host('h1', { state: 'maintenance' }));
  assert.equal(maintenance(load, vm('web'), state), 'maintenance: host is in maintenance and accepts no new VMs');
  const fine = onHost(host('h1'));
  assert.equal(maintenance(fine.load, vm('web'), fine.state), undefined);
});

test('device-model refuses a host that cannot present the VM devices', () => {
  const { state, load } = onHost(host('h1', { deviceModels: ['emulated'] }));
  assert.equal(deviceModel(load, vm('web', { devices: 'virtio' }), state), 'device-model: VM needs virtio devices, host supports only emulated');
  assert.equal(deviceModel(load, vm('legacy', { devices: 'emulated' }), state), undefined);
});

test('storage refuses hosts outside a shared pool, other hosts of a local pool, and unknown pools', () => {
  const pools: PoolView[] = [
    { name: 'san', kind: 'shared', hosts: ['h2'] },
    { name: 'h2-disk', kind: 'local', hosts: ['h2'] },
  ];
  const { state, load } = onHost(host('h1'), [], [host('h2', { name: 'second' })], pools);
  assert.equal(storage(load, vm('a', { pool: 'san' }), state), 'storage: shared pool san is not reachable from this host (reachable from 1 host(s))');
  assert.equal(storage(load, vm('b', { pool: 'h2-disk' }), state), 'storage: pool h2-disk is local to second');
  assert.equal(storage(load, vm('c', { pool: 'nowhere' }), state), 'storage: pool nowhere is not known');
  assert.equal(storage(state.host('h2') as HostLoad, vm('d', { pool: 'h2-disk' }), state), undefined);
});

test('tags refuses a host lacking a required tag and names the missing ones', () => {
  const { state, load } = onHost(host('h1', { tags: ['ssd'] }));
  assert.equal(tags(load, vm('db', { requiredTags: ['ssd', 'gpu', 'eu'] }), state), 'tags: host lacks required tag(s) gpu, eu');
  assert.equal(tags(load, vm('db', { requiredTags: ['ssd'] }), state), undefined);
});

test('memory refuses with what is needed, what is free and the overcommit', () => {
  // 1 GiB physical at 1.5x = 1.5 GiB; 1.25 GiB allocated leaves 256 MiB.
  const h = host('h1', { memoryBytes: GiB, memoryOvercommit: 1.5 });
  const { state, load } = onHost(h, [vm('a', { hostId: 'h1', memoryBytes: 1280 * MiB })]);
  assert.equal(memory(load, vm('web', { memoryBytes: 512 * MiB }), state), 'memory: needs 512 MiB, 256 MiB free of 1.5 GiB at 1.5x overcommit (1 GiB physical)');
  assert.equal(memory(load, vm('small', { memoryBytes: 256 * MiB }), state), undefined);
});

test('cpu refuses with vCPUs needed, free and the overcommit', () => {
  const h = host('h1', { cpus: 8, cpuOvercommit: 1.5 });
  const { state, load } = onHost(h, [vm('a', { hostId: 'h1', cpus: 10 })]);
  assert.equal(cpu(load, vm('web', { cpus: 4 }), state), 'cpu: needs 4 vCPU(s), 2 free of 12 at 1.5x overcommit (8 physical)');
  assert.equal(cpu(load, vm('web', { cpus: 2 }), state), undefined);
});

test('anti-affinity refuses a host already running a member of the group', () => {
  const { state, load } = onHost(host('h1'), [vm('db-1', { hostId: 'h1', groups: { antiAffinity: ['db'] } })]);
  assert.equal(antiAffinity(load, vm('db-2', { groups: { antiAffinity: ['db'] } }), state), 'anti-affinity: group db already has db-1 on this host');
  assert.equal(antiAffinity(load, vm('web', { groups: { antiAffinity: ['web'] } }), state), undefined);
});

test('affinity refuses every host but the one running the group', () => {
  const { state, load } = onHost(host('h1'), [vm('web-1', { hostId: 'h2', groups: { affinity: ['web'] } })], [host('h2', { name: 'second' })]);
  assert.equal(affinity(load, vm('web-2', { groups: { affinity: ['web'] } }), state), 'affinity: group web runs on second (web-1)');
  assert.equal(affinity(state.host('h2') as HostLoad, vm('web-2', { groups: { affinity: ['web'] } }), state), undefined);
  // The first member of a group may go anywhere.
  assert.equal(affinity(load, vm('api-1', { groups: { affinity: ['api'] } }), state), undefined);
});

test('firstRefusal names the first filter that refuses, in FILTERS order', () => {
  const { state, load } = onHost(host('h1', { state: 'maintenance', deviceModels: ['emulated'] }));
  assert.deepEqual(firstRefusal(load, vm('web'), state), {
    hostId: 'h1',
    hostName: 'h1',
    filter: 'maintenance',
    reason: 'maintenance: host is in maintenance and accepts no new VMs',
  });
  assert.deepEqual(
    FILTERS.map((f) => f.name),
    ['availability', 'maintenance', 'device-model', 'cpu-model', 'storage', 'tags', 'cpu', 'memory', 'anti-affinity', 'affinity'],
  );
  const fine = onHost(host('h1'));
  assert.equal(firstRefusal(fine.load, vm('web'), fine.state), undefined);
});
