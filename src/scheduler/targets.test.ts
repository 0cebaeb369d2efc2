import { test } from 'node:test';
import assert from 'node:assert/strict';
import { placeOne } from './place.js';
import { migrationTargets } from './targets.js';
import { cluster, GiB, host, vm } from './testing.js';

test('migration targets: every other host judged with all its refusals, the best suitable one recommended', () => {
  const view = cluster(
    [host('h1'), host('h2', { memoryBytes: 2 * GiB }), host('h3', { state: 'maintenance', memoryBytes: GiB }), host('h4'), host('h5')],
    [
      vm('web', { hostId: 'h1', memoryBytes: 4 * GiB, groups: { antiAffinity: ['front'] } }),
      vm('web2', { hostId: 'h4', groups: { antiAffinity: ['front'] } }),
      vm('busy', { hostId: 'h5', memoryBytes: 8 * GiB }),
    ],
  );
  const found = migrationTargets(view, 'web', 'shared');
  assert.deepEqual(found.targets.map((t) => t.hostName), ['h2', 'h3', 'h4', 'h5'], 'the VM’s own host is not a target');
  const byHost = new Map(found.targets.map((t) => [t.hostName, t]));
  assert.deepEqual(byHost.get('h2')?.refusals.map((r) => r.filter), ['memory']);
  assert.match(byHost.get('h2')?.refusals[0]?.reason ?? '', /^memory: needs 4 GiB/);
  assert.deepEqual(byHost.get('h3')?.refusals.map((r) => r.filter), ['maintenance', 'memory'], 'every refusing filter is listed');
  assert.deepEqual(byHost.get('h4')?.refusals.map((r) => r.filter), ['anti-affinity']);
  assert.deepEqual(byHost.get('h5')?.refusals, []);
  assert.ok(byHost.get('h5')?.score);
  assert.equal(byHost.get('h2')?.score, undefined);
  assert.equal(found.recommended?.hostName, 'h5');
});

test('migration targets: shared storage needs the pool on the target; disks mirrored to local storage do not', () => {
  const view = cluster([host('h1'), host('h2')], [vm('db', { hostId: 'h1', pool: 'san' })], { pools: [{ name: 'san', kind: 'shared', hosts: ['h1'] }] });
  const shared = migrationTargets(view, 'db', 'shared');
  assert.deepEqual(shared.targets[0]?.refusals.map((r) => r.filter), ['storage']);
  assert.equal(shared.recommended, undefined);
  const local = migrationTargets(view, 'db', 'local');
  assert.deepEqual(local.targets[0]?.refusals, []);
  assert.equal(local.recommended?.hostName, 'h2');
});

test('migration targets: the weight decides the recommendation', () => {
  const hosts = [host('h1'), host('h2'), host('h3')];
  const vms = [vm('web', { hostId: 'h1' }), vm('a', { hostId: 'h3', memoryBytes: 4 * GiB })];
  assert.equal(migrationTargets(cluster(hosts, vms, { weight: 'spread' }), 'web', 'shared').recommended?.hostName, 'h2');
  assert.equal(migrationTargets(cluster(hosts, vms, { weight: 'pack' }), 'web', 'shared').recommended?.hostName, 'h3');
});

test('cpu-model: a host that cannot present the VM CPU model is refused for placement and migration; TCG hosts (any) pass', () => {
  const hosts = [host('h1'), host('kvm-old', { cpuModels: ['qemu64', 'kvm64'] }), host('tcg', { cpuModels: ['*'] }), host('silent')];
  const view = cluster(hosts, [vm('web', { hostId: 'h1', cpuModel: 'Haswell' })]);
  const found = migrationTargets(view, 'web', 'shared');
  const byHost = new Map(found.targets.map((t) => [t.hostName, t.refusals.map((r) => r.reason)]));
  assert.deepEqual(byHost.get('kvm-old'), ['cpu-model: VM runs CPU model Haswell, host offers only qemu64, kvm64']);
  assert.deepEqual(byHost.get('tcg'), []);
  assert.deepEqual(byHost.get('silent'), [], 'a host that did not report its models is not judged on them');
  const onlyOld = cluster([host('kvm-old', { cpuModels: ['qemu64'] })]);
  assert.throws(() => placeOne(onlyOld, vm('new', { cpuModel: 'Haswell' })), (err: Error) => /kvm-old: cpu-model: VM runs CPU model Haswell/.test(err.message + String((err as { detail?: string }).detail)));
  assert.equal(placeOne(onlyOld, vm('base', { cpuModel: 'qemu64' })).hostName, 'kvm-old');
});
