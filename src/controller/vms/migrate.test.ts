/**
 * The controller's side of live migration, in process: two simulated host agents (HTTP servers
 * that answer the agent's migration API from a script) stand in for real hosts, which
 * tests/system/cluster-migrate.test.ts uses instead.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import type { TestController } from '../api/testing.js';
import { sampleOperation, samplePlacement, sampleVm } from '../store/fixtures.js';
import { twoSimulatedHosts, view } from './simulated-agent.js';
import { followInterruptedMigration, releaseStaleDestinations, startMigration } from './migrate.js';

/** A controller with hosts alpha (running VM web) and beta, each behind a simulated agent. */
async function cluster(t: { after: (fn: () => Promise<void>) => void }) {
  const { controller, source, destination } = await twoSimulatedHosts(t, [view('web')]);
  const { store } = controller;
  await store.vms.insert(sampleVm({ id: 'vm-web', name: 'web', hostId: 'h-alpha', state: 'running', desiredState: 'running', spec: { cpus: 1, memoryBytes: 2 ** 28, imageId: null, pool: 'shared' } }));
  await store.placements.insert(samplePlacement({ vmId: 'vm-web', hostId: 'h-alpha', hostName: 'alpha', startedAt: '2025-01-01T00:00:00.000Z' }));
  return { controller, source, destination };
}

const migrateRequest = (c: TestController, body: object) =>
  c.app.inject({ method: 'POST', url: '/api/v1/vms/web/migrate', headers: c.auth, payload: body });

/** The cluster with a migration of web to beta started and held at the source (its agent reports it running). */
async function migrationHeldAtSource(t: { after: (fn: () => Promise<void>) => void }) {
  const { controller, source, destination } = await cluster(t);
  source.release = false;
  const res = await migrateRequest(controller, { to: 'beta' });
  const id = res.json<{ operation: { id: string } }>().operation.id;
  while (source.migrations.size === 0) await delay(20);
  const [outgoing] = [...source.migrations.values()];
  assert.ok(outgoing);
  return { controller, source, destination, id, outgoing };
}

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

test('--storage local mirrors the disks (the agent copies) and leaves a shared-pool VM on local storage; copy is the same', async (t) => {
  const { controller, source } = await cluster(t);
  const res = await migrateRequest(controller, { to: 'beta', storage: 'local' });
  assert.equal(res.statusCode, 202, res.body);
  const op = await controller.services.operations.wait(res.json<{ operation: { id: string } }>().operation.id, 10_000);
  assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
  assert.deepEqual([...source.migrations.values()].map((m) => m.storage), ['copy'], 'the agent was asked to mirror the disks');
  const vm = await controller.store.vms.getByName('web');
  assert.deepEqual([vm?.hostId, vm?.spec.pool], ['h-beta', 'local'], 'the disks now live in beta\'s own storage');
  const [latest] = await controller.store.placements.listByVm('vm-web');
  assert.equal((latest?.detail as { storage: string }).storage, 'local');
});

test('a VM on local storage cannot move into the shared pool: MIGRATION_STORAGE_UNAVAILABLE before any work; a bad pool name is a 400', async (t) => {
  const { controller, source } = await cluster(t);
  const vm = await controller.store.vms.getByName('web');
  await controller.store.vms.update('vm-web', { spec: { ...(vm?.spec ?? { cpus: 1, memoryBytes: 2 ** 28, imageId: null }), pool: 'local' } });
  const refused = await migrateRequest(controller, { to: 'beta', storage: 'shared' });
  const body = refused.json<{ code: string; detail: string }>();
  assert.deepEqual([refused.statusCode, body.code], [409, 'MIGRATION_STORAGE_UNAVAILABLE'], refused.body);
  assert.match(body.detail, /web keeps its disks in alpha's own storage; .*--storage local/);
  const bad = await migrateRequest(controller, { to: 'beta', storage: 'nfs' });
  assert.equal(bad.statusCode, 400, bad.body);
  assert.deepEqual(source.seen.filter((s) => s.includes('migrate')), [], 'no refused move reached the agent');
  assert.equal((await controller.store.operations.list({ limit: 10 })).length, 0);

  // Its default is local: the disks are mirrored.
  const moved = await migrateRequest(controller, { to: 'beta' });
  const op = await controller.services.operations.wait(moved.json<{ operation: { id: string } }>().operation.id, 10_000);
  assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
  assert.deepEqual([...source.migrations.values()].map((m) => m.storage), ['copy']);
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
  assert.equal([...source.migrations.values()][0]?.storage, 'copy', 'storage copy (the older name of local) still mirrors the disks');
  assert.equal((await controller.store.vms.getByName('web'))?.hostId, 'h-alpha');
  assert.equal((await controller.store.placements.listByVm('vm-web')).length, 1);
});

test('a cancel that comes while the source is still being asked reaches the source, and the VM stays', async (t) => {
  const { controller, source } = await cluster(t);
  source.release = false;
  source.migrateAnswerDelayMs = 400;
  const res = await migrateRequest(controller, { to: 'beta' });
  const id = res.json<{ operation: { id: string } }>().operation.id;
  while (!source.seen.some((s) => s.endsWith('/migrate'))) await delay(10);
  await controller.app.inject({ method: 'POST', url: `/api/v1/operations/${id}/cancel`, headers: controller.auth });
  const op = await controller.services.operations.wait(id, 10_000);
  assert.equal(op.state, 'cancelled', JSON.stringify(op));
  assert.ok(source.seen.some((s) => /^POST \/api\/v1\/migrations\/[0-9a-f-]+\/cancel$/.test(s)), 'the agent was asked to cancel');
  assert.equal((await controller.store.vms.getByName('web'))?.hostId, 'h-alpha');
});

test('a VM with snapshots is not moved by mirroring its disks (the snapshots would be lost); in its shared pool it moves', async (t) => {
  const { controller, source } = await cluster(t);
  await controller.store.vms.update('vm-web', { snapshots: [{ name: 'before-upgrade', createdAt: '2025-01-02T00:00:00.000Z' }] });
  const refused = await migrateRequest(controller, { to: 'beta', storage: 'local' });
  assert.deepEqual([refused.statusCode, refused.json<{ code: string }>().code], [409, 'MIGRATION_STORAGE_UNAVAILABLE']);
  assert.match(refused.json<{ detail: string }>().detail, /1 snapshot/);
  assert.deepEqual(source.seen.filter((s) => s.includes('migrate')), [], 'the refused move never reached the agent');
  const shared = await migrateRequest(controller, { to: 'beta' });
  assert.equal(shared.statusCode, 202, shared.body);
  assert.equal((await controller.services.operations.wait(shared.json<{ operation: { id: string } }>().operation.id, 10_000)).state, 'succeeded');
});

test('the source host dies after switchover: the destination runs the VM, and the move is recorded there', async (t) => {
  const { controller, source, destination, id, outgoing } = await migrationHeldAtSource(t);
  // Switchover happened: the destination finished its side and runs the guest; then the source host goes away.
  destination.migrations.set(outgoing.id, { ...outgoing, direction: 'incoming', state: 'completed', finishedAt: new Date().toISOString() });
  destination.vms.push({ ...view('web'), id: 'id-arrived', pid: 6161 });
  await source.close();
  const op = await controller.services.operations.wait(id, 20_000);
  assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
  const result = op.result as { from: string; to: string; downtimeMs: number | null; sourceLost?: boolean };
  assert.deepEqual([result.from, result.to, result.downtimeMs, result.sourceLost], ['alpha', 'beta', null, true]);
  const vm = await controller.store.vms.getByName('web');
  assert.deepEqual([vm?.hostId, vm?.state, vm?.runtime.pid], ['h-beta', 'running', 6161]);
  const history = await controller.store.placements.listByVm('vm-web');
  assert.deepEqual(history.map((p) => [p.hostName, p.endedAt === null]), [['beta', true], ['alpha', false]]);
});

test('the source cannot tell whether the hand-over happened (unresolved): the destination says it runs the VM, so the move is recorded', async (t) => {
  const { controller, destination, id, outgoing } = await migrationHeldAtSource(t);
  destination.migrations.set(outgoing.id, { ...outgoing, direction: 'incoming', state: 'completed', finishedAt: new Date().toISOString() });
  destination.vms.push({ ...view('web'), id: 'id-arrived', pid: 7171 });
  Object.assign(outgoing, { state: 'unresolved', error: { code: 'MIGRATION_UNRESOLVED', message: 'unresolved', detail: 'the destination did not confirm it runs the guest' } });
  const op = await controller.services.operations.wait(id, 20_000);
  assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
  assert.deepEqual([(await controller.store.vms.getByName('web'))?.hostId, (op.result as { to: string }).to], ['h-beta', 'beta']);
});

test('an unresolved hand-over the destination cannot confirm yet is followed until the source settles it', async (t) => {
  const { controller, source, destination, id, outgoing } = await migrationHeldAtSource(t);
  Object.assign(outgoing, { state: 'unresolved', error: { code: 'MIGRATION_UNRESOLVED', message: 'unresolved', detail: 'the destination did not confirm it runs the guest' } });
  await delay(1_000);
  assert.equal((await controller.services.operations.get(id)).state, 'running', 'still following the unresolved hand-over');
  // The source asked the destination again and learned the guest runs there.
  destination.vms.push({ ...view('web'), id: 'id-arrived', pid: 8181 });
  source.vms = [];
  Object.assign(outgoing, { state: 'completed', error: undefined, finishedAt: new Date().toISOString() });
  const op = await controller.services.operations.wait(id, 20_000);
  assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
  const vm = await controller.store.vms.getByName('web');
  assert.deepEqual([vm?.hostId, vm?.runtime.pid, vm?.movingTo], ['h-beta', 8181, null]);
});

test('the source host dies before switchover: the migration fails and the VM stays recorded on the source', async (t) => {
  const { controller, source } = await cluster(t);
  source.release = false;
  const res = await migrateRequest(controller, { to: 'beta' });
  const id = res.json<{ operation: { id: string } }>().operation.id;
  while (source.migrations.size === 0) await delay(20);
  await source.close();
  const op = await controller.services.operations.wait(id, 30_000);
  assert.equal(op.state, 'failed');
  const vm = await controller.store.vms.getByName('web');
  assert.equal(vm?.hostId, 'h-alpha');
  assert.equal(vm?.movingTo, 'h-beta', 'the source may still be moving it, so beta stays held until it says');
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

test('a move in flight holds its destination: the VM cannot be moved twice, and a group member is kept off its destination until it ends', async (t) => {
  const { controller, source } = await twoSimulatedHosts(t, [view('web'), view('api')]);
  const { store } = controller;
  const spec = { cpus: 1, memoryBytes: 2 ** 28, imageId: null, pool: 'shared' as const, placement: { antiAffinityGroups: ['front'] } };
  for (const name of ['web', 'api']) {
    await store.vms.insert(sampleVm({ id: `vm-${name}`, name, hostId: 'h-alpha', state: 'running', desiredState: 'running', spec }));
    await store.placements.insert(samplePlacement({ id: `pl-${name}`, vmId: `vm-${name}`, hostId: 'h-alpha', hostName: 'alpha', startedAt: '2025-01-01T00:00:00.000Z' }));
  }
  source.release = false;
  const moving = await migrateRequest(controller, { to: 'beta' });
  assert.equal(moving.statusCode, 202, moving.body);
  assert.equal((await store.vms.getByName('web'))?.movingTo, 'h-beta');

  const again = await migrateRequest(controller, { to: 'beta' });
  assert.deepEqual([again.statusCode, again.json<{ code: string }>().code], [409, 'VM_BUSY']);
  assert.match(again.json<{ message: string; detail?: string }>().detail ?? again.body, /already moving to beta/);

  const targets = async () => (await controller.app.inject({ method: 'GET', url: '/api/v1/vms/api/migration-targets', headers: controller.auth })).json<{ items: Array<{ host: string; suitable: boolean; reasons: string[] }> }>().items;
  const held = (await targets()).find((target) => target.host === 'beta');
  assert.equal(held?.suitable, false);
  assert.match(held?.reasons.join('; ') ?? '', /anti-affinity.*web \(arriving\)/);
  const refused = await controller.app.inject({ method: 'POST', url: '/api/v1/vms/api/migrate', headers: controller.auth, payload: { to: 'beta' } });
  assert.equal(refused.json<{ code: string }>().code, 'HOST_UNSUITABLE', refused.body);
  assert.equal((await store.vms.getByName('api'))?.movingTo, null, 'a refused move holds nothing');

  const removal = await controller.app.inject({ method: 'DELETE', url: '/api/v1/hosts/beta', headers: controller.auth });
  assert.equal(removal.json<{ code: string }>().code, 'HOST_HAS_VMS', 'a host a VM is moving to is not forgotten');
  assert.match(removal.body, /web is moving there/);

  const id = moving.json<{ operation: { id: string } }>().operation.id;
  await controller.app.inject({ method: 'POST', url: `/api/v1/operations/${id}/cancel`, headers: controller.auth });
  assert.equal((await controller.services.operations.wait(id, 10_000)).state, 'cancelled');
  assert.equal((await store.vms.getByName('web'))?.movingTo, null, 'the cancelled move released beta');
  assert.equal((await targets()).find((target) => target.host === 'beta')?.suitable, true);
});

test('a finished move releases its destination; one left by a previous controller process is released at start', async (t) => {
  const { controller } = await cluster(t);
  const res = await migrateRequest(controller, { to: 'beta' });
  await controller.services.operations.wait(res.json<{ operation: { id: string } }>().operation.id, 10_000);
  const moved = await controller.store.vms.getByName('web');
  assert.deepEqual([moved?.hostId, moved?.movingTo], ['h-beta', null]);
  await controller.store.vms.update('vm-web', { movingTo: 'h-alpha' });
  assert.deepEqual(await releaseStaleDestinations(controller.store), ['web']);
  assert.equal((await controller.store.vms.getByName('web'))?.movingTo, null);
});

test('a VM under another operation is refused before anything is held', async (t) => {
  const { controller } = await cluster(t);
  await controller.store.operations.insert(sampleOperation({ id: 'op-busy', kind: 'reboot', targetType: 'vm', targetId: 'vm-web', targetName: 'web', state: 'running' }));
  const res = await migrateRequest(controller, { to: 'beta' });
  assert.deepEqual([res.statusCode, res.json<{ code: string }>().code], [409, 'VM_BUSY']);
  assert.equal((await controller.store.vms.getByName('web'))?.movingTo, null, 'no destination was held');
});

test('a move cancelled before its work began gives its destination back', async (t) => {
  const { controller } = await cluster(t);
  const vm = await controller.store.vms.getByName('web');
  assert.ok(vm);
  const { services } = controller;
  const op = await startMigration({ store: controller.store, events: services.events, operations: services.operations, hosts: services.hosts }, vm, { to: 'beta' }, { name: 'admin' });
  await services.operations.cancel(op.id, { name: 'admin' });
  assert.equal((await services.operations.wait(op.id, 10_000)).state, 'cancelled');
  assert.equal((await controller.store.vms.getByName('web'))?.movingTo, null);
});

test('a source that stopped answering and later settles the move as done: the held destination gets the VM on the record', async (t) => {
  const { controller, source, destination, id, outgoing } = await migrationHeldAtSource(t);
  source.migrationsUnanswered = true;
  const op = await controller.services.operations.wait(id, 30_000);
  assert.equal(op.state, 'failed');
  assert.deepEqual([(await controller.store.vms.getByName('web'))?.hostId, (await controller.store.vms.getByName('web'))?.movingTo], ['h-alpha', 'h-beta']);
  // The source answers again: it finished the hand-over, and the guest runs on beta.
  destination.migrations.set(outgoing.id, { ...outgoing, direction: 'incoming', state: 'completed', finishedAt: new Date().toISOString() });
  destination.vms.push({ ...view('web'), id: 'id-arrived', pid: 9191 });
  source.vms = [];
  Object.assign(outgoing, { state: 'completed', finishedAt: new Date().toISOString() });
  source.migrationsUnanswered = false;
  const deadline = Date.now() + 20_000;
  while ((await controller.store.vms.getByName('web'))?.hostId !== 'h-beta' && Date.now() < deadline) await delay(200);
  const vm = await controller.store.vms.getByName('web');
  assert.deepEqual([vm?.hostId, vm?.movingTo, vm?.state, vm?.runtime.pid], ['h-beta', null, 'running', 9191]);
  const history = await controller.store.placements.listByVm('vm-web');
  assert.deepEqual(history.map((p) => [p.hostName, p.endedAt === null, p.operationId]), [['beta', true, null], ['alpha', false, null]]);
  const events = await controller.store.events.query({ vm: 'vm-web', order: 'asc', limit: 100 });
  assert.ok(events.some((e) => e.action === 'vm.migrate' && (e.detail as { settledLate?: boolean }).settledLate === true), 'the late move is in the event log');
});

test('a source that stopped answering and later says the move failed: the VM stays, and the destination is given back', async (t) => {
  const { controller, source, id, outgoing } = await migrationHeldAtSource(t);
  source.migrationsUnanswered = true;
  assert.equal((await controller.services.operations.wait(id, 30_000)).state, 'failed');
  Object.assign(outgoing, { state: 'failed', error: { code: 'MIGRATION_FAILED', message: 'failed', detail: 'rolled back' }, finishedAt: new Date().toISOString() });
  source.migrationsUnanswered = false;
  const deadline = Date.now() + 20_000;
  while ((await controller.store.vms.getByName('web'))?.movingTo !== null && Date.now() < deadline) await delay(200);
  const vm = await controller.store.vms.getByName('web');
  assert.deepEqual([vm?.hostId, vm?.movingTo], ['h-alpha', null]);
  assert.equal((await controller.store.placements.listByVm('vm-web')).length, 1, 'no move was recorded');
});

test('a live migration whose controller died: the leader follows what the source carried on, and records the move when the guest arrived', async (t) => {
  const { controller, source, destination } = await cluster(t);
  const { services } = controller;
  const deps = { store: controller.store, events: services.events, operations: services.operations, hosts: services.hosts };
  // What the dead controller left: the destination held, its operation just failed as interrupted, and the source migrating.
  const createdAt = new Date(Date.now() - 1_000).toISOString();
  await controller.store.vms.update('vm-web', { movingTo: 'h-beta' });
  const operation = sampleOperation({ id: 'op-gone', kind: 'migrate', targetType: 'vm', targetId: 'vm-web', targetName: 'web', state: 'failed', actor: 'admin', owner: 'gone', createdAt, updatedAt: createdAt });
  await controller.store.operations.insert(operation);
  source.release = false;
  await (await services.hosts.client('h-alpha')).migrate('web', { destination: { agentUrl: destination.url, token: 'beta-secret' }, storage: 'shared' });

  assert.equal(await followInterruptedMigration(deps, operation), true);
  assert.deepEqual(await releaseStaleDestinations(controller.store, { keep: new Set(['vm-web']) }), [], 'a followed move keeps its destination');
  await delay(300);
  assert.deepEqual([(await controller.store.vms.getByName('web'))?.hostId, (await controller.store.vms.getByName('web'))?.movingTo], ['h-alpha', 'h-beta'], 'still migrating: nothing recorded yet');
  // The source completes it (the guest arrives on beta); the next poll records the move.
  const [outgoing] = [...source.migrations.values()];
  assert.ok(outgoing);
  destination.migrations.set(outgoing.id, { ...outgoing, direction: 'incoming', state: 'completed', finishedAt: new Date().toISOString() });
  source.release = true;
  const deadline = Date.now() + 20_000;
  while ((await controller.store.vms.getByName('web'))?.hostId !== 'h-beta' && Date.now() < deadline) await delay(200);
  const vm = await controller.store.vms.getByName('web');
  assert.deepEqual([vm?.hostId, vm?.movingTo, vm?.state, vm?.runtime.pid], ['h-beta', null, 'running', 5151]);
  const history = await controller.store.placements.listByVm('vm-web');
  assert.deepEqual(history.map((p) => [p.hostName, p.endedAt === null]), [['beta', true], ['alpha', false]]);
  const events = await controller.store.events.query({ vm: 'vm-web', order: 'asc', limit: 100 });
  assert.ok(events.some((e) => e.action === 'vm.migrate' && (e.detail as { settledLate?: boolean }).settledLate === true), 'the late move is in the event log');
});

test('a migration whose controller died before the source started it: nothing to follow, the destination is released', async (t) => {
  const { controller } = await cluster(t);
  const { services } = controller;
  const deps = { store: controller.store, events: services.events, operations: services.operations, hosts: services.hosts };
  await controller.store.vms.update('vm-web', { movingTo: 'h-beta' });
  const operation = sampleOperation({ id: 'op-gone', kind: 'migrate', targetType: 'vm', targetId: 'vm-web', targetName: 'web', state: 'failed', owner: 'gone' });
  await controller.store.operations.insert(operation);
  assert.equal(await followInterruptedMigration(deps, operation), false);
  assert.deepEqual(await releaseStaleDestinations(controller.store), ['web']);
  assert.equal((await controller.store.vms.getByName('web'))?.hostId, 'h-alpha');
});

test('a controller releases only the holds of its own or dead controllers\' moves: another live one may still follow its move', async (t) => {
  const { controller } = await cluster(t);
  await controller.store.vms.update('vm-web', { movingTo: 'h-beta' });
  // A move of controller "live" ended while its source still migrates: "live" keeps the hold until the source settles it.
  await controller.store.operations.insert(sampleOperation({ id: 'op-live', kind: 'migrate', targetType: 'vm', targetId: 'vm-web', targetName: 'web', state: 'failed', owner: 'live' }));
  assert.deepEqual(await releaseStaleDestinations(controller.store, { ownedBy: (owner) => owner === 'restarted' }), [], 'another controller\'s hold is kept');
  assert.equal((await controller.store.vms.getByName('web'))?.movingTo, 'h-beta');
  assert.deepEqual(await releaseStaleDestinations(controller.store, { ownedBy: (owner) => owner === 'live' }), ['web'], 'once "live" is gone, its hold goes');
  assert.equal((await controller.store.vms.getByName('web'))?.movingTo, null);
});
