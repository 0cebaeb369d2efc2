/** The network domain in process: definitions, coded refusals, address assignment, and the delete guard. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testController, type TestController } from '../api/testing.js';
import { sampleHost, sampleVm } from '../store/fixtures.js';
import { isDroverError } from '../../shared/errors.js';
import { assignNetworkNics, nicRecords } from './attach.js';

async function controller(t: { after: (fn: () => Promise<void>) => void }): Promise<TestController> {
  const c = await testController();
  t.after(() => c.close());
  return c;
}

const post = (c: TestController, url: string, payload: object) => c.app.inject({ method: 'POST', url, headers: c.auth, payload });

test('create, list, show and delete a network; VNIs are assigned when left out and never shared', async (t) => {
  const c = await controller(t);
  const blue = await post(c, '/api/v1/networks', { name: 'blue', subnet: '10.61.0.0/24' });
  assert.equal(blue.statusCode, 201, blue.body);
  assert.deepEqual(
    (({ name, subnet, vni, mtu, bridge, members }) => ({ name, subnet, vni, mtu, bridge, members }))(blue.json()),
    { name: 'blue', subnet: '10.61.0.0/24', vni: 1, mtu: 1450, bridge: 'drvnb1', members: [] },
  );
  const red = await post(c, '/api/v1/networks', { name: 'red', subnet: '10.62.0.0/16', vni: 5000, mtu: 1400 });
  assert.equal(red.json<{ vni: number }>().vni, 5000);
  const green = await post(c, '/api/v1/networks', { name: 'green', subnet: '10.63.0.0/24' });
  assert.equal(green.json<{ vni: number }>().vni, 2, 'the lowest free VNI');
  const list = await c.app.inject({ method: 'GET', url: '/api/v1/networks', headers: c.auth });
  assert.deepEqual(list.json<{ networks: { name: string }[] }>().networks.map((n) => n.name), ['blue', 'red', 'green']);
  const show = await c.app.inject({ method: 'GET', url: '/api/v1/networks/red', headers: c.auth });
  assert.equal(show.json<{ subnet: string }>().subnet, '10.62.0.0/16');
  const events = await c.store.events.query({ order: 'asc', limit: 10 });
  assert.ok(events.some((e) => e.action === 'network.create' && e.objectName === 'blue'));
  const deleted = await c.app.inject({ method: 'DELETE', url: '/api/v1/networks/green', headers: c.auth });
  assert.equal(deleted.statusCode, 204);
  assert.equal((await c.app.inject({ method: 'GET', url: '/api/v1/networks/green', headers: c.auth })).statusCode, 404);
});

test('bad input is refused with a code and creates nothing', async (t) => {
  const c = await controller(t);
  await post(c, '/api/v1/networks', { name: 'blue', subnet: '10.61.0.0/24', vni: 7 });
  const cases: [object, number, string][] = [
    [{ name: 'bad', subnet: '10.61.0.0/33' }, 400, 'INVALID_SUBNET'],
    [{ name: 'bad', subnet: '10.61.0.9/24' }, 400, 'INVALID_SUBNET'],
    [{ name: 'bad', subnet: 'banana' }, 400, 'INVALID_SUBNET'],
    [{ name: 'bad', subnet: '10.0.0.0/8' }, 400, 'INVALID_SUBNET'],
    [{ name: 'Bad_Name', subnet: '10.64.0.0/24' }, 400, 'INVALID_NAME'],
    [{ name: 'blue', subnet: '10.64.0.0/24' }, 409, 'VIRTUAL_NETWORK_EXISTS'],
    [{ name: 'other', subnet: '10.64.0.0/24', vni: 7 }, 409, 'VNI_TAKEN'],
    [{ name: 'other', subnet: '10.64.0.0/24', vni: 0 }, 400, 'INVALID_ARGUMENT'],
    [{ name: 'other', subnet: '10.64.0.0/24', mtu: 100 }, 400, 'INVALID_ARGUMENT'],
  ];
  for (const [payload, status, code] of cases) {
    const res = await post(c, '/api/v1/networks', payload);
    assert.deepEqual([res.statusCode, res.json<{ code: string }>().code], [status, code], JSON.stringify(payload));
  }
  assert.deepEqual((await c.store.networks.list()).map((n) => n.name), ['blue']);
  const missing = await c.app.inject({ method: 'DELETE', url: '/api/v1/networks/nope', headers: c.auth });
  assert.deepEqual([missing.statusCode, missing.json<{ code: string }>().code], [404, 'VIRTUAL_NETWORK_NOT_FOUND']);
});

test('vm create on an unknown network, or with a taken or outside address, is refused and records nothing', async (t) => {
  const c = await controller(t);
  await c.store.hosts.insert(sampleHost({ id: 'h-alpha', name: 'alpha', state: 'ready', health: 'healthy' }));
  await post(c, '/api/v1/networks', { name: 'blue', subnet: '10.61.0.0/24' });
  await c.store.vms.insert(sampleVm({ id: 'vm-a', name: 'a', hostId: 'h-alpha', nics: [{ name: 'eth1', mode: 'network', network: 'blue', macAddress: '52:54:00:00:00:0a', address: '10.61.0.10' }] }));
  const cases: [object, number, string][] = [
    [{ network: 'nope' }, 404, 'VIRTUAL_NETWORK_NOT_FOUND'],
    [{ network: 'blue', address: '10.61.0.10' }, 409, 'ADDRESS_TAKEN'],
    [{ network: 'blue', address: '10.99.0.10' }, 400, 'ADDRESS_OUT_OF_SUBNET'],
    [{ network: 'blue', address: '10.61.0.1' }, 400, 'ADDRESS_OUT_OF_SUBNET'],
  ];
  for (const [nic, status, code] of cases) {
    const res = await post(c, '/api/v1/vms', { name: 'b', image: 'tiny', host: 'alpha', networks: [nic] });
    assert.deepEqual([res.statusCode, res.json<{ code: string }>().code], [status, code], JSON.stringify(nic));
  }
  const twice = await post(c, '/api/v1/vms', { name: 'b', image: 'tiny', host: 'alpha', networks: [{ network: 'blue' }, { network: 'blue' }] });
  assert.equal(twice.json<{ code: string }>().code, 'INVALID_ARGUMENT');
  assert.deepEqual((await c.store.vms.list()).map((v) => v.name), ['a'], 'no VM was recorded');
  assert.deepEqual(await c.store.operations.list({ limit: 10 }), [], 'no operation was started');

  const inUse = await c.app.inject({ method: 'DELETE', url: '/api/v1/networks/blue', headers: c.auth });
  assert.deepEqual([inUse.statusCode, inUse.json<{ code: string }>().code], [409, 'VIRTUAL_NETWORK_IN_USE']);
  const members = (await c.app.inject({ method: 'GET', url: '/api/v1/networks/blue', headers: c.auth })).json<{ members: unknown[] }>().members;
  assert.deepEqual(members, [{ vm: 'a', host: 'alpha', mac: '52:54:00:00:00:0a', address: '10.61.0.10' }]);
});

test('assignNetworkNics: free addresses in order, unique MACs, the agent gets address/prefix, VNI and MTU', async (t) => {
  const c = await controller(t);
  await post(c, '/api/v1/networks', { name: 'blue', subnet: '10.61.0.0/24', mtu: 1400 });
  await post(c, '/api/v1/networks', { name: 'red', subnet: '10.62.0.0/24' });
  await c.store.vms.insert(sampleVm({ id: 'vm-a', name: 'a', nics: [{ name: 'eth1', mode: 'network', network: 'blue', macAddress: '52:54:00:00:00:0a', address: '10.61.0.2' }] }));
  const { nics, agentNics } = await c.store.transaction((tx) => assignNetworkNics(tx, 'vm-b', [{ network: 'blue' }, { network: 'red', address: '10.62.0.9' }]));
  assert.deepEqual(nics.map((n) => [n.name, n.network, n.address]), [['eth1', 'blue', '10.61.0.3'], ['eth2', 'red', '10.62.0.9']]);
  assert.notEqual(nics[0]?.macAddress, nics[1]?.macAddress);
  assert.deepEqual(agentNics.map((n) => [n.address, n.vni, n.mtu]), [['10.61.0.3/24', 1, 1400], ['10.62.0.9/24', 2, 1450]]);
  // What the host reports comes back as the same records.
  const reported = nicRecords([{ mode: 'user', mac: '52:54:00:11:11:11' }, ...agentNics.map((n) => ({ mode: 'network' as const, ...n }))]);
  assert.deepEqual(reported.slice(1), nics);
  await assert.rejects(c.store.transaction((tx) => assignNetworkNics(tx, 'vm-c', [{ network: 'blue', address: '10.61.0.2' }])), (err) => isDroverError(err) && err.code === 'ADDRESS_TAKEN');
});
