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

  const view = await readClusterView(controller.store);
  const mapped = view.vms.find((vm) => vm.name === 'ruled');
  assert.deepEqual([mapped?.requiredTags, mapped?.groups], [['zone=a'], { affinity: ['app'], antiAffinity: ['web'] }]);
  assert.deepEqual(view.vms.find((vm) => vm.name === 'plain')?.groups, {});

  const bad = await controller.app.inject({ method: 'POST', url: '/api/v1/vms', headers: controller.auth, payload: { name: 'web2', placement: { antiAffinityGroups: ['Not A Name'] } } });
  assert.equal(bad.statusCode, 400, bad.body);
  assert.equal(await controller.store.vms.getByName('web2'), undefined);
});
