import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testController } from '../api/testing.js';
import { sampleHost } from '../store/fixtures.js';
import { simulatedAgent } from '../vms/simulated-agent.js';

test('cluster policy: any CPU model QEMU knows can be the baseline; unknown, host and max are refused with a code and nothing changes', async (t) => {
  const controller = await testController();
  t.after(() => controller.close());
  // A host whose QEMU reports a model this machine's QEMU may not have.
  await controller.store.hosts.insert(sampleHost({ id: 'h-new', name: 'newer', cpuModels: ['qemu64', 'FutureLake'] }));
  const put = (cpuModel: string) => controller.app.inject({ method: 'PUT', url: '/api/v1/cluster/policy', headers: controller.auth, payload: { cpuModel } });

  const nehalem = await put('Nehalem');
  assert.equal(nehalem.statusCode, 200, nehalem.body);
  assert.equal(nehalem.json<{ cpuModel: string }>().cpuModel, 'Nehalem');
  assert.equal((await put('FutureLake')).statusCode, 200, 'a model a host reports is known too');
  for (const [model, reason] of [['Pentium9000', /knows no CPU model Pentium9000/], ['host', /own processor features/], ['max', /own processor features/], ['qemu64,+vmx', /knows no CPU model/]] as const) {
    const refused = await put(model);
    assert.equal(refused.statusCode, 400, refused.body);
    assert.equal(refused.json<{ code: string }>().code, 'CPU_MODEL_UNSUPPORTED');
    assert.match(refused.json<{ detail: string }>().detail, reason);
  }
  const policy = await controller.app.inject({ method: 'GET', url: '/api/v1/cluster/policy', headers: controller.auth });
  assert.equal(policy.json<{ cpuModel: string }>().cpuModel, 'FutureLake', 'refusals changed nothing');
});

test('a new VM records the cluster baseline and its host is asked to run exactly that model', async (t) => {
  const controller = await testController();
  const agent = await simulatedAgent([], { definesVms: true });
  t.after(async () => {
    await controller.close();
    await agent.close();
  });
  await controller.store.hosts.insert(sampleHost({ id: 'h-alpha', name: 'alpha', address: agent.url, credential: 'alpha-secret', cpuModels: ['qemu64', 'Nehalem'] }));
  const policy = await controller.app.inject({ method: 'PUT', url: '/api/v1/cluster/policy', headers: controller.auth, payload: { cpuModel: 'Nehalem' } });
  assert.equal(policy.statusCode, 200, policy.body);
  const created = await controller.app.inject({ method: 'POST', url: '/api/v1/vms', headers: controller.auth, payload: { name: 'web', image: 'tiny' } });
  assert.equal(created.statusCode, 202, created.body);
  const operation = await controller.services.operations.wait(created.json<{ operation: { id: string } }>().operation.id, 10_000);
  assert.equal(operation.state, 'succeeded', JSON.stringify(operation));
  assert.equal(agent.created[0]?.cpuModel, 'Nehalem');
  assert.equal((await controller.store.vms.getByName('web'))?.spec.cpuModel, 'Nehalem');
  const shown = await controller.app.inject({ method: 'GET', url: '/api/v1/vms/web', headers: controller.auth });
  assert.equal(shown.json<{ cpuModel: string }>().cpuModel, 'Nehalem', 'the API shows the model the VM runs');
});
