/** Maintenance mode over the API, in process: hosts and VMs are store records only (no agents answer). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testController, type TestController } from '../api/testing.js';
import { sampleHost, samplePlacement, sampleVm } from '../store/fixtures.js';
import { twoSimulatedHosts, view } from '../vms/simulated-agent.js';

const GiB = 2 ** 30;

/** Hosts alpha (running web on shared storage, db on local storage with a 4 GiB disk, batch stopped) and beta (running api). */
async function cluster(t: { after: (fn: () => Promise<void>) => void }): Promise<TestController> {
  const controller = await testController();
  t.after(() => controller.close());
  const { store } = controller;
  await store.hosts.insert(sampleHost({ id: 'h-alpha', name: 'alpha' }));
  await store.hosts.insert(sampleHost({ id: 'h-beta', name: 'beta', address: '10.0.0.2:7070' }));
  const running = { state: 'running', desiredState: 'running' } as const;
  await store.vms.insert(sampleVm({ id: 'vm-web', name: 'web', hostId: 'h-alpha', ...running, spec: { cpus: 2, memoryBytes: 2 * GiB, imageId: null, pool: 'shared' } }));
  await store.vms.insert(sampleVm({ id: 'vm-db', name: 'db', hostId: 'h-alpha', ...running, spec: { cpus: 1, memoryBytes: GiB, imageId: null, pool: 'local' }, disks: [{ name: 'root', sizeBytes: 4 * GiB, format: 'qcow2', backingImageId: null }] }));
  await store.vms.insert(sampleVm({ id: 'vm-batch', name: 'batch', hostId: 'h-alpha', state: 'stopped', desiredState: 'stopped', spec: { cpus: 1, memoryBytes: GiB, imageId: null, pool: 'shared' } }));
  await store.vms.insert(sampleVm({ id: 'vm-api', name: 'api', hostId: 'h-beta', ...running, spec: { cpus: 1, memoryBytes: GiB, imageId: null, pool: 'shared' } }));
  return controller;
}

const enter = (c: TestController, host: string, payload: object) => c.app.inject({ method: 'POST', url: `/api/v1/hosts/${host}/maintenance/enter`, headers: c.auth, payload });
const exit = (c: TestController, host: string) => c.app.inject({ method: 'POST', url: `/api/v1/hosts/${host}/maintenance/exit`, headers: c.auth });

interface Entry {
  plan: {
    host: string;
    complete: boolean;
    totalCostBytes: number;
    moves: { vm: string; to: string; storage: string; memoryBytes: number; diskBytes: number; costBytes: number }[];
    unmovable: { vm: string; reason: string }[];
  };
  operation: { id: string; kind: string } | null;
}

test('a dry run reports where each VM would go and which cannot move, and changes nothing', async (t) => {
  const controller = await cluster(t);
  const res = await enter(controller, 'alpha', { dryRun: true });
  assert.equal(res.statusCode, 200, res.body);
  const { plan, operation } = res.json<Entry>();
  assert.equal(operation, null);
  // db's disks are in alpha's own storage: it moves with them mirrored, and its cost counts them.
  assert.deepEqual(
    plan.moves.map((m) => [m.vm, m.to, m.storage, m.memoryBytes, m.diskBytes, m.costBytes]),
    [
      ['web', 'beta', 'shared', 2 * GiB, 0, 2 * GiB],
      ['db', 'beta', 'local', GiB, 4 * GiB, 5 * GiB],
    ],
  );
  assert.equal(plan.totalCostBytes, 7 * GiB);
  assert.deepEqual(plan.unmovable.map((u) => [u.vm, u.reason]), [['batch', 'not live-migratable: stop it, or move it while stopped']]);
  assert.equal(plan.complete, false);
  assert.equal((await controller.store.hosts.get('h-alpha'))?.state, 'ready');
  assert.equal((await controller.store.operations.list({ limit: 10 })).length, 0);
});

test('without force, a VM that cannot move refuses the whole request and changes nothing', async (t) => {
  const controller = await cluster(t);
  const res = await enter(controller, 'alpha', {});
  assert.equal(res.statusCode, 409, res.body);
  const body = res.json<{ code: string; detail: string }>();
  assert.equal(body.code, 'EVACUATION_INCOMPLETE');
  assert.match(body.detail, /^batch: not live-migratable/);
  assert.equal((await controller.store.hosts.get('h-alpha'))?.state, 'ready');
  assert.equal((await controller.store.operations.list({ limit: 10 })).length, 0);
  const events = await controller.store.events.query({ host: 'alpha', order: 'desc', limit: 50 });
  assert.ok(!events.some((e) => e.action === 'host.maintenance-entered'));
});

test('with force the host enters maintenance; VMs whose moves fail and one that cannot move stay where they are', async (t) => {
  const controller = await cluster(t);
  const res = await enter(controller, 'alpha', { force: true });
  assert.equal(res.statusCode, 202, res.body);
  const { operation } = res.json<Entry>();
  assert.equal(operation?.kind, 'evacuate');
  assert.equal((await controller.store.hosts.get('h-alpha'))?.state, 'maintenance');
  // beta has no agent credential, so the migrations of web and db are refused before they start.
  const op = await controller.services.operations.wait(operation?.id ?? '', 10_000);
  assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
  const result = op.result as { moved: unknown[]; failed: { vm: string; error: string }[]; unmovable: { vm: string }[] };
  assert.deepEqual(result.moved, []);
  assert.deepEqual(result.failed.map((f) => f.vm), ['web', 'db']);
  assert.deepEqual(result.unmovable.map((u) => u.vm), ['batch']);
  for (const [id, state] of [['vm-web', 'running'], ['vm-db', 'running'], ['vm-batch', 'stopped']]) {
    const vm = await controller.store.vms.get(id ?? '');
    assert.deepEqual([vm?.hostId, vm?.state], ['h-alpha', state], `${id} was left ${state} on alpha`);
  }
  const events = await controller.store.events.query({ host: 'alpha', order: 'desc', limit: 50 });
  assert.ok(events.some((e) => e.action === 'host.maintenance-entered'));
});

test('a host in maintenance is refused as a placement and a migration target, and exit returns it to ready', async (t) => {
  const controller = await cluster(t);
  await controller.store.vms.delete('vm-batch');
  const res = await enter(controller, 'alpha', {});
  assert.equal(res.statusCode, 202, res.body);
  await controller.services.operations.wait(res.json<Entry>().operation?.id ?? '', 10_000);

  const created = await controller.app.inject({ method: 'POST', url: '/api/v1/vms', headers: controller.auth, payload: { name: 'new', image: 'tiny', host: 'alpha' } });
  assert.deepEqual([created.statusCode, created.json<{ code: string }>().code], [409, 'HOST_UNSUITABLE']);
  const migrated = await controller.app.inject({ method: 'POST', url: '/api/v1/vms/api/migrate', headers: controller.auth, payload: { to: 'alpha' } });
  assert.deepEqual([migrated.statusCode, migrated.json<{ code: string }>().code], [409, 'MIGRATION_TARGET_NOT_READY']);

  const back = await exit(controller, 'alpha');
  assert.equal(back.statusCode, 200, back.body);
  assert.equal(back.json<{ state: string }>().state, 'ready');
  const again = await exit(controller, 'alpha');
  assert.deepEqual([again.statusCode, again.json<{ code: string }>().code], [409, 'HOST_NOT_IN_MAINTENANCE']);
  const events = await controller.store.events.query({ host: 'alpha', order: 'desc', limit: 50 });
  assert.ok(events.some((e) => e.action === 'host.maintenance-exited'));
});

test('a joining host cannot enter maintenance; an unknown host is NOT_FOUND', async (t) => {
  const controller = await cluster(t);
  await controller.store.hosts.update('h-beta', { state: 'joining' });
  const joining = await enter(controller, 'beta', { dryRun: true });
  assert.deepEqual([joining.statusCode, joining.json<{ code: string }>().code], [409, 'HOST_NOT_READY']);
  const unknown = await enter(controller, 'gamma', {});
  assert.deepEqual([unknown.statusCode, unknown.json<{ code: string }>().code], [404, 'NOT_FOUND']);
});

test('evacuation through simulated agents: the VMs move with reason maintenance, one migrate operation per VM, local disks mirrored', async (t) => {
  const { controller, source } = await twoSimulatedHosts(t, [view('web'), view('db')]);
  const { store } = controller;
  await store.vms.insert(sampleVm({ id: 'vm-web', name: 'web', hostId: 'h-alpha', state: 'running', desiredState: 'running', spec: { cpus: 1, memoryBytes: 2 ** 28, imageId: null, pool: 'shared' } }));
  await store.vms.insert(sampleVm({ id: 'vm-db', name: 'db', hostId: 'h-alpha', state: 'running', desiredState: 'running', spec: { cpus: 1, memoryBytes: 2 ** 27, imageId: null, pool: 'local' } }));
  await store.placements.insert(samplePlacement({ vmId: 'vm-web', hostId: 'h-alpha', hostName: 'alpha' }));
  await store.placements.insert(samplePlacement({ id: 'p-db', vmId: 'vm-db', vmName: 'db', hostId: 'h-alpha', hostName: 'alpha' }));

  const res = await enter(controller, 'alpha', {});
  assert.equal(res.statusCode, 202, res.body);
  const op = await controller.services.operations.wait(res.json<Entry>().operation?.id ?? '', 10_000);
  assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
  const result = op.result as { moved: { vm: string; to: string; storage: string; operationId: string }[]; failed: unknown[] };
  const byName = <T extends { vm: string }>(a: T, b: T): number => a.vm.localeCompare(b.vm);
  assert.deepEqual([result.moved.sort(byName).map((m) => [m.vm, m.to, m.storage]), result.failed], [[['db', 'beta', 'local'], ['web', 'beta', 'shared']], []]);
  // The agent was asked to mirror db's disks and to share web's.
  assert.deepEqual([...source.migrations.values()].map((m) => [m.vm.name, m.storage]).sort(), [['db', 'copy'], ['web', 'shared']]);
  for (const move of result.moved) {
    assert.equal((await store.vms.getByName(move.vm))?.hostId, 'h-beta');
    const [now] = await store.placements.listByVm(`vm-${move.vm}`);
    assert.deepEqual([now?.hostName, now?.reason, now?.operationId], ['beta', 'maintenance', move.operationId]);
    const why = String((now?.detail as { why?: unknown } | undefined)?.why);
    assert.match(why, /^spread: the host with the most room left/, 'the history gives the plan\'s reason, not "named by the caller"');
    assert.equal((await controller.services.operations.get(move.operationId)).kind, 'migrate');
  }
  assert.equal((await store.vms.get('vm-db'))?.spec.pool, 'local');
});
