/**
 * Heartbeats turn changes in a guest (its agent answering or going quiet, its addresses) into
 * events, so the web console follows them on the event stream instead of polling. The host is a
 * simulated agent: a real host can't run in process (tests/web covers the real one).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testController } from '../api/testing.js';
import { sampleHost, sampleVm } from '../store/fixtures.js';
import { simulatedAgent, view } from '../vms/simulated-agent.js';

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

  await controller.services.hosts.heartbeat();
  assert.deepEqual(await guestEvents(), [], 'the guest agent has not answered yet');

  vmAgent.guestReady = true;
  await controller.services.hosts.heartbeat();
  vmAgent.addresses = ['10.0.2.15'];
  await controller.services.hosts.heartbeat();
  await controller.services.hosts.heartbeat();
  vmAgent.guestReady = false;
  await controller.services.hosts.heartbeat();

  assert.deepEqual(await guestEvents(), [
    ['vm.guest-ready', { guestReady: true, addresses: [] }],
    ['vm.addresses-changed', { guestReady: true, addresses: ['10.0.2.15'] }],
    ['vm.guest-lost', { guestReady: false, addresses: ['10.0.2.15'] }],
  ]);
  assert.equal((await store.vms.getByName('web'))?.runtime.guestReady, false);
});
