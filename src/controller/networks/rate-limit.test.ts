/** NIC rate limits at the controller, in process: create and change requests are checked and shown before any host is asked. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testController, type TestController } from '../api/testing.js';
import { sampleHost, sampleVm } from '../store/fixtures.js';
import { assignNetworkNics, nicRecords } from './attach.js';

async function controller(t: { after: (fn: () => Promise<void>) => void }): Promise<TestController> {
  const c = await testController();
  t.after(() => c.close());
  await c.store.hosts.insert(sampleHost({ id: 'h-alpha', name: 'alpha', state: 'ready', health: 'healthy' }));
  await c.app.inject({ method: 'POST', url: '/api/v1/networks', headers: c.auth, payload: { name: 'blue', subnet: '10.61.0.0/24' } });
  return c;
}

const code = (res: { statusCode: number; json: <T>() => T }) => [res.statusCode, res.json<{ code: string }>().code];

test('a rate limit on a network NIC is stored in kbit/s, sent to the host, and shown in Mbit/s', async (t) => {
  const c = await controller(t);
  const { nics, agentNics } = await c.store.transaction((tx) => assignNetworkNics(tx, 'vm-b', [{ network: 'blue', rateLimitMbit: 8 }]));
  assert.equal(nics[0]?.rateLimitKbit, 8000);
  assert.equal(agentNics[0]?.rateLimitKbit, 8000, 'the host gets it before the VM first starts');
  const reported = nicRecords([{ mode: 'user', mac: '52:54:00:11:11:11' }, ...agentNics.map((n) => ({ mode: 'network' as const, ...n }))]);
  assert.deepEqual(reported.slice(1), nics, 'what the host reports back keeps the limit');
  await c.store.vms.insert(sampleVm({ id: 'vm-b', name: 'b', hostId: 'h-alpha', nics: [{ name: 'eth0', mode: 'user', network: 'user', macAddress: '52:54:00:11:11:11' }, ...nics] }));
  const shown = await c.app.inject({ method: 'GET', url: '/api/v1/vms/b', headers: c.auth });
  assert.deepEqual(
    shown.json<{ nics: { name: string; rateLimitMbit: number | null }[] }>().nics.map((n) => [n.name, n.rateLimitMbit]),
    [['eth0', null], ['eth1', 8]],
  );
});

test('bad rate limits are refused with a code, and nothing is recorded or started', async (t) => {
  const c = await controller(t);
  for (const rateLimitMbit of [0, 0.001, -5, 100_001]) {
    const res = await c.app.inject({ method: 'POST', url: '/api/v1/vms', headers: c.auth, payload: { name: 'b', image: 'tiny', host: 'alpha', networks: [{ network: 'blue', rateLimitMbit }] } });
    assert.deepEqual(code(res), [400, 'INVALID_RATE_LIMIT'], String(rateLimitMbit));
  }
  assert.deepEqual(await c.store.vms.list(), []);

  await c.store.vms.insert(sampleVm({
    id: 'vm-a', name: 'a', hostId: 'h-alpha',
    nics: [{ name: 'eth0', mode: 'user', network: 'user', macAddress: '52:54:00:00:00:01' }, { name: 'eth1', mode: 'network', network: 'blue', macAddress: '52:54:00:00:00:0a', address: '10.61.0.10' }],
  }));
  const patch = (vm: string, nic: string, payload: object) => c.app.inject({ method: 'PATCH', url: `/api/v1/vms/${vm}/nics/${nic}`, headers: c.auth, payload });
  assert.deepEqual(code(await patch('nope', 'eth1', { rateLimitMbit: 8 })), [404, 'VM_NOT_FOUND']);
  assert.deepEqual(code(await patch('a', 'eth7', { rateLimitMbit: 8 })), [404, 'NIC_NOT_FOUND']);
  assert.deepEqual(code(await patch('a', 'eth0', { rateLimitMbit: 8 })), [409, 'NIC_NOT_RATE_LIMITABLE']);
  assert.deepEqual(code(await patch('a', 'eth1', { rateLimitMbit: 0 })), [400, 'INVALID_RATE_LIMIT']);
  assert.deepEqual(code(await patch('a', 'eth1', { rateLimitMbit: '8mbit' })), [400, 'INVALID_ARGUMENT']);
  assert.deepEqual(code(await patch('a', 'eth1', {})), [400, 'INVALID_ARGUMENT']);
  assert.deepEqual(await c.store.operations.list({ limit: 10 }), [], 'no operation was started');
  assert.equal((await c.store.vms.getByName('a'))?.nics[1]?.rateLimitKbit, undefined, 'the NIC is unchanged');
});
