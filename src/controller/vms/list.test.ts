/** GET /api/v1/vms pages and filters, and showing one VM without reading every VM or host; in process. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testController, type TestController } from '../api/testing.js';
import { sampleHost, sampleVm } from '../store/fixtures.js';
import type { VmWire } from './schema.js';

interface Page {
  vms: VmWire[];
  next: string | null;
}

async function seed(controller: TestController): Promise<void> {
  await controller.store.hosts.insert(sampleHost({ id: 'h-a', name: 'alpha' }));
  await controller.store.hosts.insert(sampleHost({ id: 'h-b', name: 'beta' }));
  // Created in the reverse of name order, so that the oldest-first listing and the name order differ.
  for (let i = 7; i >= 1; i--) {
    const container = i === 3;
    await controller.store.vms.insert(
      sampleVm({
        id: `vm-${i}`,
        name: `web-${i}`,
        hostId: i % 2 === 0 ? 'h-b' : 'h-a',
        state: i <= 4 ? 'running' : 'stopped',
        ...(container ? { spec: { cpus: 1, memoryBytes: 2 ** 28, imageId: null, type: 'container' as const } } : {}),
      }),
    );
  }
}

async function get(controller: TestController, url: string): Promise<{ status: number; body: Page & { code?: string } }> {
  const res = await controller.app.inject({ method: 'GET', url, headers: controller.auth });
  return { status: res.statusCode, body: res.json() };
}

const names = (page: Page) => page.vms.map((vm) => vm.name);

test('GET /vms without parameters lists every VM oldest first, next null', async (t) => {
  const controller = await testController();
  t.after(() => controller.close());
  await seed(controller);
  const { status, body } = await get(controller, '/api/v1/vms');
  assert.equal(status, 200);
  assert.deepEqual(names(body), ['web-7', 'web-6', 'web-5', 'web-4', 'web-3', 'web-2', 'web-1']);
  assert.equal(body.next, null);
});

test('GET /vms?limit pages by name until next is null; every VM once', async (t) => {
  const controller = await testController();
  t.after(() => controller.close());
  await seed(controller);
  const seen: string[][] = [];
  let url = '/api/v1/vms?limit=3';
  for (;;) {
    const { status, body } = await get(controller, url);
    assert.equal(status, 200);
    seen.push(names(body));
    if (body.next === null) break;
    url = `/api/v1/vms?limit=3&after=${encodeURIComponent(body.next)}`;
  }
  assert.deepEqual(seen, [['web-1', 'web-2', 'web-3'], ['web-4', 'web-5', 'web-6'], ['web-7']]);
  // A page that ends exactly on the last VM says so.
  const exact = await get(controller, '/api/v1/vms?limit=7');
  assert.equal(exact.body.next, null);
  assert.equal(exact.body.vms[0]?.host, 'alpha');
});

test('GET /vms filters by host, state and type, with paging', async (t) => {
  const controller = await testController();
  t.after(() => controller.close());
  await seed(controller);
  assert.deepEqual(names((await get(controller, '/api/v1/vms?host=beta')).body), ['web-2', 'web-4', 'web-6']);
  assert.deepEqual(names((await get(controller, '/api/v1/vms?state=running&type=vm')).body), ['web-1', 'web-2', 'web-4']);
  assert.deepEqual(names((await get(controller, '/api/v1/vms?type=container')).body), ['web-3']);
  const first = await get(controller, '/api/v1/vms?host=alpha&state=running&limit=1');
  assert.deepEqual(names(first.body), ['web-1']);
  assert.ok(first.body.next);
  const second = await get(controller, `/api/v1/vms?host=alpha&state=running&limit=1&after=${encodeURIComponent(first.body.next)}`);
  assert.deepEqual(names(second.body), ['web-3']);
  assert.equal(second.body.next, null);
  // A host that does not exist has no VMs.
  assert.deepEqual((await get(controller, '/api/v1/vms?host=gamma')).body, { vms: [], next: null });
});

test('GET /vms refuses a bad cursor, limit or filter with 400', async (t) => {
  const controller = await testController();
  t.after(() => controller.close());
  await seed(controller);
  const next = (await get(controller, '/api/v1/vms?limit=1')).body.next ?? '';
  for (const query of ['limit=0', 'limit=1001', 'limit=x', 'after=', 'after=not-a-cursor', `after=${next}x`, 'after=%2B%2F', 'state=sleeping', 'type=vmx', 'colour=red']) {
    const { status, body } = await get(controller, `/api/v1/vms?${query}`);
    assert.equal(status, 400, `${query}: ${JSON.stringify(body)}`);
    assert.equal(body.code, 'INVALID_ARGUMENT', query);
  }
  assert.equal((await get(controller, '/api/v1/vms?host=Not_A_Name')).status, 400);
  assert.equal((await get(controller, '/api/v1/vms?limit=1000')).status, 200);
});

test('GET /vms/:name looks the VM and its host up by key, never listing VMs or hosts', async (t) => {
  const controller = await testController();
  t.after(() => controller.close());
  await seed(controller);
  const lists: string[] = [];
  const { hosts, vms } = controller.store;
  const hostList = hosts.list.bind(hosts);
  const vmList = vms.list.bind(vms);
  hosts.list = () => (lists.push('hosts'), hostList());
  vms.list = () => (lists.push('vms'), vmList());
  const res = await controller.app.inject({ method: 'GET', url: '/api/v1/vms/web-2', headers: controller.auth });
  assert.equal(res.statusCode, 200);
  assert.equal(res.json<VmWire>().host, 'beta');
  assert.deepEqual(lists, []);
});
