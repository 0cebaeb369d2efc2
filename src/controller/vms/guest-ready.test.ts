/**
 * Changes in a guest (its agent answering or going quiet, its addresses) become events, whether a
 * heartbeat, a wait-ready request or a migration notices them, so the web console follows them on
 * the event stream instead of polling. The host is a
 * simulated agent: a real host can't run in process (tests/web covers the real one).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { testController } from '../api/testing.js';
import { sampleHost, samplePlacement, sampleVm } from '../store/fixtures.js';
import { simulatedAgent, twoSimulatedHosts, view } from './simulated-agent.js';

test('a heartbeat records vm.guest-ready, vm.addresses-changed and vm.guest-lost once each, and nothing when nothing changed', async (t) => {
  const controller = await testController();
  const agent = await simulatedAgent([{ ...view('web'), guestReady: false }]);
  t.after(async () => {
    await controller.close();
    await agent.close();
  });
  const { store } = controller;
  await store.hosts.insert(sampleHost({ id: 'h-alpha', name: 'alpha', address: agent.url, credential: 'alpha-secret' }));
  await store.vms.insert(sampleVm({ id: 'vm-web', name: 'web', hostId: 'h-alpha', state: 'running', desiredState: 'running', runtime: { hostVmId: 'id-web', guestReady: false, pid: 4242 } }));
  const guestEvents = async () =>
    (await store.events.query({ vm: 'web', order: 'asc', limit: 100 })).filter((e) => e.action.startsWith('vm.guest') || e.action === 'vm.addresses-changed').map((e) => [e.action, e.detail]);
  const vmAgent = agent.vms[0];
  assert.ok(vmAgent);

  // A heartbeat skips records changed since its fetch began (same millisecond included): space them out.
  const beat = async (): Promise<void> => {
    await delay(5);
    await controller.services.hosts.heartbeat();
  };
  await beat();
  assert.deepEqual(await guestEvents(), [], 'the guest agent has not answered yet');

  vmAgent.guestReady = true;
  await beat();
  vmAgent.addresses = ['10.0.2.15'];
  await beat();
  await beat();
  vmAgent.guestReady = false;
  await beat();

  assert.deepEqual(await guestEvents(), [
    ['vm.guest-ready', { guestReady: true, addresses: [] }],
    ['vm.addresses-changed', { guestReady: true, addresses: ['10.0.2.15'] }],
    ['vm.guest-lost', { guestReady: false, addresses: ['10.0.2.15'] }],
  ]);
  assert.equal((await store.vms.getByName('web'))?.runtime.guestReady, false);
});

test('wait-ready records vm.guest-ready once; a later heartbeat that sees the same adds nothing', async (t) => {
  const controller = await testController();
  const agent = await simulatedAgent([{ ...view('web'), guestReady: false }]);
  t.after(async () => {
    await controller.close();
    await agent.close();
  });
  await controller.store.hosts.insert(sampleHost({ id: 'h-alpha', name: 'alpha', address: agent.url, credential: 'alpha-secret' }));
  await controller.store.vms.insert(sampleVm({ id: 'vm-web', name: 'web', hostId: 'h-alpha', state: 'running', desiredState: 'running', runtime: { hostVmId: 'id-web', guestReady: false, pid: 4242 } }));
  const res = await controller.app.inject({ method: 'POST', url: '/api/v1/vms/web/wait-ready', headers: controller.auth, payload: { timeoutMs: 1000 } });
  assert.equal(res.statusCode, 200, res.body);
  assert.equal(res.json<{ guestReady: boolean }>().guestReady, true);
  await controller.services.hosts.heartbeat();
  const events = (await controller.store.events.query({ vm: 'web', order: 'asc', limit: 100 })).filter((e) => e.action.startsWith('vm.guest'));
  assert.deepEqual(events.map((e) => e.action), ['vm.guest-ready']);
});

test('a migrated VM whose guest answered before the move answers on the destination too (vm.guest-ready after vm.migrate)', async (t) => {
  const { controller, destination } = await twoSimulatedHosts(t, [view('web')]);
  const { store } = controller;
  await store.vms.insert(sampleVm({ id: 'vm-web', name: 'web', hostId: 'h-alpha', state: 'running', desiredState: 'running', runtime: { hostVmId: 'id-web', guestReady: true }, spec: { cpus: 1, memoryBytes: 2 ** 28, imageId: null, pool: 'shared' } }));
  await store.placements.insert(samplePlacement({ vmId: 'vm-web', hostId: 'h-alpha', hostName: 'alpha', startedAt: '2025-01-01T00:00:00.000Z' }));
  const res = await controller.app.inject({ method: 'POST', url: '/api/v1/vms/web/migrate', headers: controller.auth, payload: { to: 'beta' } });
  assert.equal(res.statusCode, 202, res.body);
  const op = await controller.services.operations.wait(res.json<{ operation: { id: string } }>().operation.id, 10_000);
  assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
  assert.ok(destination.seen.includes('POST /api/v1/vms/web/wait-ready'), 'the destination was asked about the guest agent');
  const vm = await store.vms.getByName('web');
  assert.deepEqual([vm?.hostId, vm?.runtime.guestReady], ['h-beta', true]);
  // The move's own record (result success), not the operation's lifecycle events of the same action.
  const actions = (await store.events.query({ vm: 'web', order: 'asc', limit: 100 })).filter((e) => e.action === 'vm.guest-ready' || (e.action === 'vm.migrate' && e.result === 'success')).map((e) => e.action);
  assert.deepEqual(actions, ['vm.migrate', 'vm.guest-ready']);
});
