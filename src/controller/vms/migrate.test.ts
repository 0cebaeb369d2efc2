/**
 * The controller's side of live migration, in process: two simulated host agents (HTTP servers
 * that answer the agent's migration API from a script) stand in for real hosts, which
 * tests/system/cluster-migrate.test.ts uses instead.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { MigrationView } from '../../migration/schemas.js';
import type { VmView } from '../../vms/schemas.js';
import { testController, type TestController } from '../api/testing.js';
import { sampleHost, samplePlacement, sampleVm } from '../store/fixtures.js';

interface SimulatedAgent {
  url: string;
  vms: VmView[];
  migrations: Map<string, MigrationView>;
  /** Requests seen, as `METHOD /path`. */
  seen: string[];
  /** While false, a migration stays in `migrating`. */
  release: boolean;
  /** Where a completed migration moves the VM. */
  peer?: SimulatedAgent;
  close(): Promise<void>;
}

const view = (name: string): VmView => ({ id: `id-${name}`, name, cpus: 1, memoryMiB: 256, devices: 'virtio', state: 'running', guestReady: true, pid: 4242, disks: [], nics: [], createdAt: '2025-01-01T00:00:00.000Z' });
const progress = { pass: 1, ramTransferredBytes: 64 * 2 ** 20, ramRemainingBytes: 8 * 2 ** 20, ramTotalBytes: 256 * 2 ** 20, dirtyPagesRate: 100, mbps: 900, cpuThrottlePercent: 0, postcopy: false, disks: [] };
const result = { totalTimeMs: 1800, downtimeMs: 42, setupTimeMs: 12, ramTransferredBytes: 70 * 2 ** 20, passes: 2, postcopy: false, maxCpuThrottlePercent: 0 };

/** A simulated host agent: enough of the agent API for heartbeats and one scripted migration. */
async function simulatedAgent(vms: VmView[] = []): Promise<SimulatedAgent> {
  const agent: SimulatedAgent = { url: '', vms, migrations: new Map(), seen: [], release: true, close: async () => undefined };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const url = req.url ?? '';
      agent.seen.push(`${req.method} ${url}`);
      const send = (status: number, value: unknown): void => void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      const migrate = /^\/api\/v1\/vms\/([a-z0-9-]+)\/migrate$/.exec(url);
      const migration = /^\/api\/v1\/migrations\/([0-9a-f-]+)(\/cancel)?$/.exec(url);
      if (url === '/api/v1/host') return send(200, { hostname: 'sim', version: '0', accelerator: { accelerator: 'tcg', reason: '', probedAt: '', durationMs: 0 }, capacity: { cpus: 8, memoryMiB: 16384 }, usage: { vmsRunning: 0, vmsDefined: 0, cpusAllocated: 0, memoryMiBAllocated: 0, load1: 0 } });
      if (url === '/api/v1/vms') return send(200, agent.vms);
      if (url === '/api/v1/vm-stats') return send(200, []);
      if (url.startsWith('/api/v1/vms/') && req.method === 'GET') {
        const found = agent.vms.find((v) => url.endsWith(`/${v.name}`));
        return found ? send(200, found) : send(404, { code: 'VM_NOT_FOUND' });
      }
      if (migrate?.[1]) {
        const id = crypto.randomUUID();
        const started: MigrationView = { id, direction: 'outgoing', vm: { id: `id-${migrate[1]}`, name: migrate[1] }, storage: (JSON.parse(body) as { storage: 'shared' | 'copy' }).storage, state: 'migrating', peer: 'sim', startedAt: new Date().toISOString(), progress };
        agent.migrations.set(id, started);
        return send(202, started);
      }
      const current = migration?.[1] ? agent.migrations.get(migration[1]) : undefined;
      if (!current) return send(404, { code: 'NOT_FOUND' });
      if (migration?.[2]) {
        current.state = 'cancelled';
        current.error = { code: 'MIGRATION_CANCELLED', message: 'cancelled', detail: 'cancelled on request' };
        return send(202, current);
      }
      if (current.state === 'migrating' && agent.release) {
        Object.assign(current, { state: 'completed', result, finishedAt: new Date().toISOString() });
        const moved = agent.vms.find((v) => v.name === current.vm.name);
        agent.vms = agent.vms.filter((v) => v !== moved);
        if (moved) agent.peer?.vms.push({ ...moved, id: 'id-arrived', pid: 5151 });
      }
      return send(200, current);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  agent.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  agent.close = () => new Promise((resolve) => server.close(() => resolve()));
  return agent;
}

/** A controller with hosts alpha (running VM web) and beta, each behind a simulated agent. */
async function cluster(t: { after: (fn: () => Promise<void>) => void }) {
  const controller = await testController();
  const source = await simulatedAgent([view('web')]);
  const destination = await simulatedAgent();
  source.peer = destination;
  t.after(async () => {
    await controller.close();
    await source.close();
    await destination.close();
  });
  const { store } = controller;
  await store.hosts.insert(sampleHost({ id: 'h-alpha', name: 'alpha', address: source.url, credential: 'alpha-secret' }));
  await store.hosts.insert(sampleHost({ id: 'h-beta', name: 'beta', address: destination.url, credential: 'beta-secret' }));
  await store.vms.insert(sampleVm({ id: 'vm-web', name: 'web', hostId: 'h-alpha', state: 'running', desiredState: 'running', spec: { cpus: 1, memoryBytes: 2 ** 28, imageId: null, pool: 'shared' } }));
  await store.placements.insert(samplePlacement({ vmId: 'vm-web', hostId: 'h-alpha', hostName: 'alpha', startedAt: '2025-01-01T00:00:00.000Z' }));
  return { controller, source, destination };
}

const migrateRequest = (c: TestController, body: object) =>
  c.app.inject({ method: 'POST', url: '/api/v1/vms/web/migrate', headers: c.auth, payload: body });

test('migrate through the controller: the move, its placement history, event and result', async (t) => {
  const { controller, source } = await cluster(t);
  const res = await migrateRequest(controller, { to: 'beta', downtimeLimitMs: 200 });
  assert.equal(res.statusCode, 202, res.body);
  const op = await controller.services.operations.wait(res.json<{ operation: { id: string } }>().operation.id, 10_000);
  assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
  assert.deepEqual(op.result, { from: 'alpha', to: 'beta', totalTimeMs: 1800, downtimeMs: 42, setupTimeMs: 12, bytes: 70 * 2 ** 20 });

  const started = [...source.migrations.values()][0];
  assert.equal(started?.storage, 'shared', 'a VM in the shared pool migrates with shared storage by default');
  const vm = await controller.store.vms.getByName('web');
  assert.deepEqual([vm?.hostId, vm?.state, vm?.runtime.pid, vm?.runtime.hostVmId], ['h-beta', 'running', 5151, 'id-arrived']);

  const history = (await controller.app.inject({ method: 'GET', url: '/api/v1/vms/web/history', headers: controller.auth })).json<{ placements: { host: string; endedAt: string | null; reason: string; operationId: string | null }[] }>();
  assert.deepEqual(history.placements.map((p) => [p.host, p.endedAt === null, p.reason]), [['beta', true, 'user'], ['alpha', false, 'scheduler']]);
  assert.equal(history.placements[0]?.operationId, op.id);

  const where = async (at?: string) => controller.app.inject({ method: 'GET', url: `/api/v1/vms/web/where${at ? `?at=${at}` : ''}`, headers: controller.auth });
  assert.equal((await where('2025-06-01T00:00:00.000Z')).json<{ host: string }>().host, 'alpha');
  assert.equal((await where()).json<{ host: string }>().host, 'beta');
  const before = await where('2024-01-01T00:00:00Z');
  assert.deepEqual([before.statusCode, before.json<{ code: string }>().code], [404, 'PLACEMENT_NOT_FOUND']);

  const [event] = await controller.store.events.query({ vm: 'web', order: 'desc', limit: 50 }).then((all) => all.filter((e) => e.action === 'vm.migrate' && e.result === 'success'));
  assert.deepEqual(event?.detail, { from: 'alpha', to: 'beta', totalTimeMs: 1800, downtimeMs: 42, storage: 'shared' });
});

test('migrate refuses up front: same host, unknown host, host not ready, VM not running', async (t) => {
  const { controller, source } = await cluster(t);
  const code = async (body: object) => (await migrateRequest(controller, body)).json<{ code: string }>().code;
  assert.equal(await code({ to: 'alpha' }), 'MIGRATION_SAME_HOST');
  assert.equal(await code({ to: 'gamma' }), 'NOT_FOUND');
  await controller.store.hosts.update('h-beta', { state: 'maintenance' });
  assert.equal(await code({ to: 'beta' }), 'MIGRATION_TARGET_NOT_READY');
  await controller.store.hosts.update('h-beta', { state: 'ready', health: 'unreachable' });
  assert.equal(await code({ to: 'beta' }), 'MIGRATION_TARGET_NOT_READY');
  await controller.store.hosts.update('h-beta', { health: 'healthy' });
  await controller.store.vms.update('vm-web', { state: 'stopped' });
  assert.equal(await code({ to: 'beta' }), 'VM_NOT_RUNNING');
  assert.deepEqual(source.seen.filter((s) => s.includes('migrate')), [], 'no refused move reached the agent');
  assert.equal((await controller.store.operations.list({ limit: 10 })).length, 0);
});

test('a heartbeat mid-migration leaves the VM alone; cancel rolls back and keeps it on the source', async (t) => {
  const { controller, source } = await cluster(t);
  source.release = false;
  const res = await migrateRequest(controller, { to: 'beta', storage: 'copy' });
  const id = res.json<{ operation: { id: string } }>().operation.id;
  while (source.migrations.size === 0) await delay(20);
  // The VM has left the source's list (as after switchover) while the operation still runs.
  source.vms = [];
  await controller.services.hosts.heartbeat();
  assert.equal((await controller.store.vms.getByName('web'))?.state, 'running', 'the reconciler did not mark the moving VM missing');
  await delay(600);
  assert.match((await controller.services.operations.get(id)).message, /migrating: pass 1, 64 MiB sent, 8 MiB left, dirtying 100 pages\/s/);

  await controller.app.inject({ method: 'POST', url: `/api/v1/operations/${id}/cancel`, headers: controller.auth });
  const op = await controller.services.operations.wait(id, 10_000);
  assert.equal(op.state, 'cancelled', JSON.stringify(op.error));
  assert.ok(source.seen.some((s) => /^POST \/api\/v1\/migrations\/[0-9a-f-]+\/cancel$/.test(s)), 'the agent was asked to cancel');
  assert.equal((await controller.store.vms.getByName('web'))?.hostId, 'h-alpha');
  assert.equal((await controller.store.placements.listByVm('vm-web')).length, 1);
});

test('create opens a placement in its transaction: user with a named host, scheduler otherwise', async (t) => {
  const { controller } = await cluster(t);
  for (const [name, host, reason] of [['named', 'beta', 'user'], ['picked', undefined, 'scheduler']] as const) {
    const res = await controller.app.inject({ method: 'POST', url: '/api/v1/vms', headers: controller.auth, payload: { name, image: 'tiny', ...(host ? { host } : {}), pool: 'shared' } });
    assert.equal(res.statusCode, 202, res.body);
    const { operation, vm } = res.json<{ operation: { id: string }; vm: { id: string } }>();
    // The simulated agents cannot create VMs: the operation fails, and its undo closes the placement.
    await controller.services.operations.wait(operation.id, 10_000);
    const placements = await controller.store.placements.listByVm(vm.id);
    assert.deepEqual(placements.map((p) => [p.reason, p.operationId, p.endedAt !== null]), [[reason, operation.id, true]]);
    if (host) assert.equal(placements[0]?.hostName, host);
  }
});
