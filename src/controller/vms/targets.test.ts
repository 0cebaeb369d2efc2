/**
 * Migration targets through the controller, in process: simulated host agents (HTTP servers that
 * answer the agent API from a script) stand in for real hosts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testController, type TestController } from '../api/testing.js';
import { sampleHost, samplePlacement, sampleVm } from '../store/fixtures.js';
import { simulatedAgent, view } from './simulated-agent.js';

const GiB = 2 ** 30;

/** alpha runs web (256 MiB, shared pool); beta is small and full; gamma and delta are free, delta in maintenance. */
async function cluster(t: { after: (fn: () => Promise<void>) => void }) {
  const controller = await testController();
  const agents = await Promise.all([simulatedAgent([view('web')]), simulatedAgent(), simulatedAgent(), simulatedAgent()]);
  const [alpha, beta, gamma, delta] = agents;
  if (!alpha || !beta || !gamma || !delta) throw new Error('four simulated agents expected');
  alpha.peer = gamma;
  t.after(async () => {
    await controller.close();
    for (const agent of agents) await agent.close();
  });
  const { store } = controller;
  await store.hosts.insert(sampleHost({ id: 'h-alpha', name: 'alpha', address: alpha.url, credential: 'a' }));
  await store.hosts.insert(sampleHost({ id: 'h-beta', name: 'beta', address: beta.url, credential: 'b', capacity: { cpus: 2, memoryBytes: GiB, diskBytes: 10 * GiB } }));
  await store.hosts.insert(sampleHost({ id: 'h-gamma', name: 'gamma', address: gamma.url, credential: 'c' }));
  await store.hosts.insert(sampleHost({ id: 'h-delta', name: 'delta', address: delta.url, credential: 'd', state: 'maintenance' }));
  await store.vms.insert(sampleVm({ id: 'vm-web', name: 'web', hostId: 'h-alpha', state: 'running', desiredState: 'running', spec: { cpus: 1, memoryBytes: 2 ** 28, imageId: null, pool: 'shared' } }));
  await store.vms.insert(sampleVm({ id: 'vm-big', name: 'big', hostId: 'h-beta', state: 'running', desiredState: 'running', spec: { cpus: 1, memoryBytes: 900 * 2 ** 20, imageId: null, pool: 'shared' }, nics: [] }));
  await store.placements.insert(samplePlacement({ vmId: 'vm-web', hostId: 'h-alpha', hostName: 'alpha', startedAt: '2025-01-01T00:00:00.000Z' }));
  return { controller, alpha };
}

interface Target {
  host: string;
  suitable: boolean;
  reasons: string[];
  score?: number;
  recommended: boolean;
}

const targets = async (c: TestController, name: string) => c.app.inject({ method: 'GET', url: `/api/v1/vms/${name}/migration-targets`, headers: c.auth });

test('GET migration-targets judges every other host with the filters and flags the scheduler pick', async (t) => {
  const { controller } = await cluster(t);
  const res = await targets(controller, 'web');
  assert.equal(res.statusCode, 200, res.body);
  const items = res.json<{ items: Target[] }>().items;
  assert.deepEqual(items.map((i) => [i.host, i.suitable, i.recommended]), [['beta', false, false], ['gamma', true, true], ['delta', false, false]]);
  const byHost = new Map(items.map((i) => [i.host, i]));
  assert.match(byHost.get('beta')?.reasons[0] ?? '', /^memory: needs 256 MiB, 124 MiB free of 1 GiB/);
  assert.match(byHost.get('delta')?.reasons[0] ?? '', /^maintenance: /);
  assert.equal(typeof byHost.get('gamma')?.score, 'number');
  assert.equal(byHost.get('beta')?.score, undefined);

  const unknown = await targets(controller, 'nope');
  assert.deepEqual([unknown.statusCode, unknown.json<{ code: string }>().code], [404, 'VM_NOT_FOUND']);
  const spec = (await controller.app.inject({ method: 'GET', url: '/openapi.json' })).json<{ paths: Record<string, unknown> }>();
  assert.ok(spec.paths['/api/v1/vms/{name}/migration-targets'], 'the route is in the OpenAPI document');
});

test('migrate --to an unsuitable host is refused with HOST_UNSUITABLE and its reasons before any work', async (t) => {
  const { controller, alpha } = await cluster(t);
  const res = await controller.app.inject({ method: 'POST', url: '/api/v1/vms/web/migrate', headers: controller.auth, payload: { to: 'beta' } });
  assert.equal(res.statusCode, 409, res.body);
  const body = res.json<{ code: string; detail: string }>();
  assert.equal(body.code, 'HOST_UNSUITABLE');
  assert.match(body.detail, /web cannot move to beta: memory: needs 256 MiB/);
  assert.deepEqual(alpha.seen.filter((s) => s.includes('migrat')), [], 'the agent was never asked');
  assert.equal((await controller.store.operations.list({ limit: 10 })).length, 0);
});

test('migrate without --to takes the scheduler pick and records why in the history', async (t) => {
  const { controller } = await cluster(t);
  const res = await controller.app.inject({ method: 'POST', url: '/api/v1/vms/web/migrate', headers: controller.auth, payload: {} });
  assert.equal(res.statusCode, 202, res.body);
  const op = await controller.services.operations.wait(res.json<{ operation: { id: string } }>().operation.id, 10_000);
  assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
  assert.equal((op.result as { to: string }).to, 'gamma');
  const [latest] = await controller.store.placements.listByVm('vm-web');
  assert.equal(latest?.hostName, 'gamma');
  assert.equal(latest?.reason, 'scheduler');
  const detail = latest?.detail as { why: string; refused: Array<{ host: string; reasons: string[] }> };
  assert.match(detail.why, /^spread: /);
  assert.deepEqual(detail.refused.map((r) => r.host), ['beta', 'delta']);
});

test('migrate without --to when no host passes: PLACEMENT_IMPOSSIBLE naming each host', async (t) => {
  const { controller } = await cluster(t);
  await controller.store.hosts.update('h-gamma', { state: 'maintenance' });
  const res = await controller.app.inject({ method: 'POST', url: '/api/v1/vms/web/migrate', headers: controller.auth, payload: {} });
  const body = res.json<{ code: string; detail: string }>();
  assert.deepEqual([res.statusCode, body.code], [409, 'PLACEMENT_IMPOSSIBLE']);
  assert.match(body.detail, /beta: memory: .*; gamma: maintenance: .*; delta: maintenance: /);
});

test('reported pools decide shared-storage targets: a host on another shared directory is refused, a move to local storage is not', async (t) => {
  const { controller } = await cluster(t);
  await controller.store.hosts.update('h-gamma', { pools: [{ name: 'local:gamma', kind: 'local' }, { name: 'shared:elsewhere', kind: 'shared' }] });
  const items = (await targets(controller, 'web')).json<{ items: Target[] }>().items;
  const gamma = items.find((i) => i.host === 'gamma');
  assert.deepEqual([gamma?.suitable, gamma?.reasons], [false, ['storage: shared pool shared:fixture is not reachable from this host (reachable from 3 host(s))']]);
  for (const storage of ['local', 'copy']) {
    const items = (await controller.app.inject({ method: 'GET', url: `/api/v1/vms/web/migration-targets?storage=${storage}`, headers: controller.auth })).json<{ items: Target[] }>().items;
    assert.equal(items.find((i) => i.host === 'gamma')?.suitable, true, storage);
  }
  const host = (await controller.app.inject({ method: 'GET', url: '/api/v1/hosts/gamma', headers: controller.auth })).json<{ pools: unknown[]; cpuModels: string[] }>();
  assert.deepEqual([host.pools, host.cpuModels], [[{ name: 'local:gamma', kind: 'local' }, { name: 'shared:elsewhere', kind: 'shared' }], ['*']]);
});
