/**
 * VM placement rules and scheduler placement through the controller, in process: simulated host
 * agents (HTTP servers answering the agent API from a script) stand in for real hosts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testController } from '../api/testing.js';
import { readClusterView } from '../cluster/view.js';
import { sampleHost, sampleVm } from '../store/fixtures.js';
import type { VmWire } from './schema.js';

test('placement rules: stored on create, shown on the VM, mapped into the cluster view', async (t) => {
  const controller = await testController();
  t.after(() => controller.close());
  await controller.store.hosts.insert(sampleHost({ id: 'h-alpha', name: 'alpha', tags: ['zone=a'] }));
  const placement = { requiredTags: ['zone=a'], affinityGroups: ['app'], antiAffinityGroups: ['web'] };
  const res = await controller.app.inject({ method: 'POST', url: '/api/v1/vms', headers: controller.auth, payload: { name: 'web1', image: 'tiny', placement } });
  assert.equal(res.statusCode, 202, res.body);
  assert.deepEqual(res.json<{ vm: VmWire }>().vm.placement, placement);
  // The create operation fails on the unreachable sample host and removes web1 again; the view is checked on records of its own.
  await controller.store.vms.insert(sampleVm({ id: 'vm-ruled', name: 'ruled', spec: { cpus: 1, memoryBytes: 2 ** 28, imageId: null, placement } }));
  await controller.store.vms.insert(sampleVm({ id: 'vm-plain', name: 'plain' }));
  const ruled = await controller.app.inject({ method: 'GET', url: '/api/v1/vms/ruled', headers: controller.auth });
  assert.deepEqual(ruled.json<VmWire>().placement, placement);
  const plain = await controller.app.inject({ method: 'GET', url: '/api/v1/vms/plain', headers: controller.auth });
  assert.deepEqual(plain.json<VmWire>().placement, { requiredTags: [], affinityGroups: [], antiAffinityGroups: [] });
  // The pool and CPU model show too: the default pool is local; a VM recorded without a model runs the default baseline.
  assert.deepEqual([plain.json<VmWire>().pool, plain.json<VmWire>().cpuModel], ['local', 'qemu64']);
  assert.deepEqual([res.json<{ vm: VmWire }>().vm.pool, res.json<{ vm: VmWire }>().vm.cpuModel], ['local', 'qemu64']);

  const view = await readClusterView(controller.store);
  const mapped = view.vms.find((vm) => vm.name === 'ruled');
  assert.deepEqual([mapped?.requiredTags, mapped?.groups], [['zone=a'], { affinity: ['app'], antiAffinity: ['web'] }]);
  assert.deepEqual(view.vms.find((vm) => vm.name === 'plain')?.groups, {});

  const bad = await controller.app.inject({ method: 'POST', url: '/api/v1/vms', headers: controller.auth, payload: { name: 'web2', placement: { antiAffinityGroups: ['Not A Name'] } } });
  assert.equal(bad.statusCode, 400, bad.body);
  assert.equal(await controller.store.vms.getByName('web2'), undefined);
});

/** A controller with three ready hosts (no agents: the create operations fail and undo, the placement decision is what is tested). */
async function threeHosts(t: { after: (fn: () => Promise<void>) => void }) {
  const controller = await testController();
  t.after(() => controller.close());
  for (const name of ['alpha', 'beta', 'gamma']) await controller.store.hosts.insert(sampleHost({ id: `h-${name}`, name }));
  // beta is the fullest: 8 GiB allocated to one VM.
  await controller.store.vms.insert(sampleVm({ id: 'vm-big', name: 'big', hostId: 'h-beta', state: 'running', spec: { cpus: 2, memoryBytes: 8 * 2 ** 30, imageId: null } }));
  await controller.store.vms.insert(sampleVm({ id: 'vm-a1', name: 'a1', hostId: 'h-alpha', state: 'running', spec: { cpus: 1, memoryBytes: 2 ** 30, imageId: null, placement: { antiAffinityGroups: ['front'] } } }));
  return controller;
}

const create = (c: Awaited<ReturnType<typeof threeHosts>>, payload: object) => c.app.inject({ method: 'POST', url: '/api/v1/vms', headers: c.auth, payload: { image: 'tiny', ...payload } });

test('create without --host places with the scheduler: weight from the cluster policy, reasons in the history', async (t) => {
  const controller = await threeHosts(t);
  const spread = await create(controller, { name: 's1', memoryMiB: 512 });
  assert.equal(spread.statusCode, 202, spread.body);
  assert.equal(spread.json<{ vm: VmWire }>().vm.host, 'gamma', 'spread: the emptiest host');
  const [placed] = await controller.store.placements.listByVm(spread.json<{ vm: VmWire }>().vm.id);
  const detail = placed?.detail as { why: string; weight: string; candidates: number };
  assert.deepEqual([placed?.reason, detail.weight, detail.candidates], ['scheduler', 'spread', 3]);
  assert.match(detail.why, /^spread: the host with the most room left/);

  const policy = await controller.app.inject({ method: 'PUT', url: '/api/v1/cluster/policy', headers: controller.auth, payload: { weight: 'pack' } });
  assert.deepEqual(policy.json(), { weight: 'pack', cpuModel: 'qemu64', haHostFailures: 0 });
  const packed = await create(controller, { name: 'p1', memoryMiB: 512 });
  assert.equal(packed.json<{ vm: VmWire }>().vm.host, 'beta', 'pack: the fullest host that fits');
  const badPolicy = await controller.app.inject({ method: 'PUT', url: '/api/v1/cluster/policy', headers: controller.auth, payload: { weight: 'random' } });
  assert.equal(badPolicy.statusCode, 400);
});

test('anti-affinity steers placement; a full set is PLACEMENT_IMPOSSIBLE with reasons and nothing is created', async (t) => {
  const controller = await threeHosts(t);
  const second = await create(controller, { name: 'a2', placement: { antiAffinityGroups: ['front'] } });
  assert.notEqual(second.json<{ vm: VmWire }>().vm.host, 'alpha');
  // Keep a2's record (its create fails without an agent) so the group holds two hosts, then fill the third.
  const host = second.json<{ vm: VmWire }>().vm.host ?? '';
  await controller.services.operations.wait(second.json<{ operation: { id: string } }>().operation.id, 10_000);
  const third = host === 'beta' ? 'gamma' : 'beta';
  await controller.store.vms.insert(sampleVm({ id: 'vm-a2', name: 'a2', hostId: `h-${host}`, spec: { cpus: 1, memoryBytes: 2 ** 30, imageId: null, placement: { antiAffinityGroups: ['front'] } } }));
  await controller.store.vms.insert(sampleVm({ id: 'vm-a3', name: 'a3', hostId: `h-${third}`, spec: { cpus: 1, memoryBytes: 2 ** 30, imageId: null, placement: { antiAffinityGroups: ['front'] } } }));

  const before = (await controller.store.vms.list()).length;
  const refused = await create(controller, { name: 'a4', placement: { antiAffinityGroups: ['front'] } });
  const body = refused.json<{ code: string; detail: string }>();
  assert.deepEqual([refused.statusCode, body.code], [409, 'PLACEMENT_IMPOSSIBLE']);
  assert.match(body.detail, /alpha: anti-affinity: group front already has a1 on this host/);
  assert.equal((await controller.store.vms.list()).length, before, 'nothing was created');
  assert.equal((await controller.store.operations.list({ limit: 100 })).filter((o) => o.targetName === 'a4').length, 0);
});

test('create --host checks the filters: a refused host is HOST_UNSUITABLE with every reason', async (t) => {
  const controller = await threeHosts(t);
  const res = await create(controller, { name: 'a2', host: 'alpha', memoryMiB: 16 * 1024, placement: { antiAffinityGroups: ['front'], requiredTags: ['ssd'] } });
  const body = res.json<{ code: string; detail: string }>();
  assert.deepEqual([res.statusCode, body.code], [409, 'HOST_UNSUITABLE']);
  assert.match(body.detail, /a2 cannot be placed on alpha: tags: host lacks required tag\(s\) ssd; memory: needs 16 GiB.*; anti-affinity: group front already has a1/);
  assert.equal(await controller.store.vms.getByName('a2'), undefined);
  const named = await create(controller, { name: 'ok', host: 'alpha' });
  assert.equal(named.statusCode, 202, named.body);
  const [placed] = await controller.store.placements.listByVm(named.json<{ vm: VmWire }>().vm.id);
  assert.equal(placed?.reason, 'user');
});
