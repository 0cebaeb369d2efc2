import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testController } from '../api/testing.js';
import { sampleHost, sampleVm } from '../store/fixtures.js';
import { leaseCredential, type LeaseRenewal } from './lease-schema.js';
import type { HaStatus } from './service.js';

const GiB = 2 ** 30;

/** Two hosts in one shared pool (alpha, beta) and one that reaches none (gamma), each 4 vCPUs and 8 GiB, with agent credentials. */
async function cluster(t: { after: (fn: () => Promise<void>) => void }) {
  const controller = await testController();
  t.after(() => controller.close());
  for (const name of ['alpha', 'beta', 'gamma']) {
    await controller.store.hosts.insert(
      sampleHost({ id: `h-${name}`, name, credential: `drva_${name}-credential-0123456789`, capacity: { cpus: 4, memoryBytes: 8 * GiB, diskBytes: 0 }, ...(name === 'gamma' ? { pools: [] } : {}) }),
    );
  }
  const lease = (host: string, credential: string | undefined, body: Partial<LeaseRenewal> = {}) =>
    controller.app.inject({
      method: 'POST',
      url: '/api/v1/ha/lease',
      ...(credential ? { headers: { authorization: `Bearer ${credential}` } } : {}),
      payload: { host, vms: [], watchdog: true, leaseLost: false, ...body },
    });
  const patch = (vm: string, payload: object) => controller.app.inject({ method: 'PATCH', url: `/api/v1/vms/${vm}`, headers: controller.auth, payload });
  return { controller, lease, patch };
}

test('lease renewals: only the host\'s own lease credential renews, and the answer carries the timings and its HA VMs', async (t) => {
  const { controller, lease } = await cluster(t);
  for (const credential of [undefined, 'drvl_wrong', leaseCredential('drva_beta-credential-0123456789')]) {
    const refused = await lease('alpha', credential);
    assert.equal(refused.statusCode, 401, String(credential));
    assert.equal(refused.json<{ code: string }>().code, 'HA_LEASE_REJECTED');
  }
  assert.equal((await lease('nosuch', leaseCredential('x'))).json<{ code: string }>().code, 'HA_LEASE_REJECTED');
  const accepted = await lease('alpha', leaseCredential('drva_alpha-credential-0123456789'));
  assert.equal(accepted.statusCode, 200, accepted.body);
  const answer = accepted.json<{ haVms: unknown[]; timings: { leaseExpiryMs: number; selfFenceMs: number } }>();
  assert.deepEqual(answer.haVms, []);
  assert.deepEqual([answer.timings.leaseExpiryMs, answer.timings.selfFenceMs], [6_000, 6_000]);
  // A renewal changes nothing anyone needs an event for: no event per second per host.
  const events = await controller.store.events.query({ order: 'desc', limit: 10 });
  assert.ok(!events.some((e) => e.action.startsWith('api.')), JSON.stringify(events.map((e) => e.action)));

  await controller.services.ha.step();
  const status = (await controller.app.inject({ method: 'GET', url: '/api/v1/ha/status', headers: controller.auth })).json<HaStatus>();
  const alpha = status.hosts.find((h) => h.name === 'alpha');
  assert.equal(alpha?.liveness, 'ok');
  assert.equal(alpha?.watchdog, true);
  assert.ok(alpha?.leaseAgeMs !== null && (alpha?.leaseAgeMs ?? Infinity) < 5_000);
  // A host that is alive cannot be confirmed down.
  const confirm = await controller.app.inject({ method: 'POST', url: '/api/v1/hosts/alpha/confirm-down', headers: controller.auth });
  assert.equal(confirm.statusCode, 409);
  assert.equal(confirm.json<{ code: string }>().code, 'HA_HOST_NOT_DOWN');
});

test('protection: refused for local disks and for a pool no other host reaches; on, changed and off with events', async (t) => {
  const { controller, patch, lease } = await cluster(t);
  await controller.store.vms.insert(sampleVm({ id: 'vm-local', name: 'local', hostId: 'h-alpha', spec: { cpus: 1, memoryBytes: GiB, imageId: null, pool: 'local' } }));
  await controller.store.vms.insert(sampleVm({ id: 'vm-lone', name: 'lone', hostId: 'h-gamma', spec: { cpus: 1, memoryBytes: GiB, imageId: null, pool: 'shared' } }));
  await controller.store.vms.insert(sampleVm({ id: 'vm-db', name: 'db', hostId: 'h-alpha', spec: { cpus: 1, memoryBytes: GiB, imageId: null, pool: 'shared' } }));

  const local = await patch('local', { ha: {} });
  assert.deepEqual([local.statusCode, local.json<{ code: string }>().code], [409, 'HA_DISK_NOT_SHARED']);
  const lone = await patch('lone', { ha: {} });
  assert.equal(lone.statusCode, 409);
  assert.match(lone.json<{ code: string }>().code, /^HA_POOL_/);
  const bad = await patch('db', { ha: { priority: 9 } });
  assert.equal(bad.statusCode, 400);
  assert.equal((await controller.store.vms.get('vm-db'))?.spec.ha, undefined, 'nothing half-changed');

  const on = await patch('db', { ha: { priority: 5, isolation: 'power-off' } });
  assert.equal(on.statusCode, 200, on.body);
  assert.deepEqual(on.json<{ ha: unknown }>().ha, { priority: 5, isolation: 'power-off', monitoring: false });
  const changed = await patch('db', { ha: { priority: 2 } });
  assert.deepEqual(changed.json<{ ha: unknown }>().ha, { priority: 2, isolation: 'power-off', monitoring: false }, 'fields not given keep their value');
  // The host's agent learns which of its VMs HA protects, and how, from its next lease answer.
  await controller.services.ha.step();
  const answer = (await lease('alpha', leaseCredential('drva_alpha-credential-0123456789'))).json<{ haVms: unknown[] }>();
  assert.deepEqual(answer.haVms, [{ name: 'db', isolation: 'power-off', monitoring: false, generation: 0 }]);
  const off = await patch('db', { ha: null });
  assert.equal(off.json<{ ha: unknown }>().ha, null);
  const actions = (await controller.store.events.query({ vm: 'db', order: 'asc', limit: 10 })).map((e) => e.action);
  assert.deepEqual(actions, ['vm.ha-enabled', 'vm.ha-changed', 'vm.ha-disabled']);
});

test('admission control: protecting a running VM that the other hosts could not take after a host failure is refused with the figures', async (t) => {
  const { controller, patch } = await cluster(t);
  // alpha runs 6 GiB of HA VMs; beta already has 6 GiB of its own: with one host failure tolerated, nothing more fits.
  await controller.store.vms.insert(sampleVm({ id: 'vm-a', name: 'a', hostId: 'h-alpha', state: 'running', desiredState: 'running', spec: { cpus: 1, memoryBytes: 3 * GiB, imageId: null, pool: 'shared', ha: { priority: 3, isolation: 'keep-running', monitoring: false } } }));
  await controller.store.vms.insert(sampleVm({ id: 'vm-b', name: 'b', hostId: 'h-beta', state: 'running', desiredState: 'running', spec: { cpus: 1, memoryBytes: 5 * GiB, imageId: null, pool: 'shared' } }));
  await controller.store.vms.insert(sampleVm({ id: 'vm-c', name: 'c', hostId: 'h-alpha', state: 'running', desiredState: 'running', spec: { cpus: 1, memoryBytes: 3 * GiB, imageId: null, pool: 'shared' } }));
  const policy = await controller.app.inject({ method: 'PUT', url: '/api/v1/cluster/policy', headers: controller.auth, payload: { haHostFailures: 1 } });
  assert.equal(policy.json<{ haHostFailures: number }>().haHostFailures, 1);
  const refused = await patch('c', { ha: {} });
  assert.equal(refused.statusCode, 409, refused.body);
  const error = refused.json<{ code: string; detail: string }>();
  assert.equal(error.code, 'HA_ADMISSION_REFUSED');
  assert.match(error.detail, /GiB|MiB/, 'the figures are in the refusal');
  assert.equal((await controller.store.vms.get('vm-c'))?.spec.ha, undefined);
  const status = (await controller.app.inject({ method: 'GET', url: '/api/v1/ha/status', headers: controller.auth })).json<HaStatus>();
  assert.deepEqual([status.admission.haHostFailures, status.admission.admitted], [1, true]);
  // With no failures to tolerate, the same protection is admitted.
  await controller.app.inject({ method: 'PUT', url: '/api/v1/cluster/policy', headers: controller.auth, payload: { haHostFailures: 0 } });
  assert.equal((await patch('c', { ha: {} })).statusCode, 200);
});
