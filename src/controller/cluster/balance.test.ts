/** Balancing over the API, in process: hosts and VMs are store records only (no agents answer). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { pino } from 'pino';
import { SYSTEM_ACTOR } from '../actor.js';
import { buildControllerApp } from '../api/app.js';
import { createControllerServices } from '../api/services.js';
import { testController, type TestController } from '../api/testing.js';
import { sampleHost, samplePlacement, sampleVm } from '../store/fixtures.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';
import { BalanceScheduler, readBalanceSchedule } from './balance.js';

const GiB = 2 ** 30;

/** alpha runs four equal VMs on shared storage; beta runs none. */
async function lopsided(t: { after: (fn: () => Promise<void>) => void }): Promise<TestController> {
  const controller = await testController();
  t.after(() => controller.close());
  await skew(controller.store);
  return controller;
}

/** Fills `store` with alpha (four equal VMs on shared storage) and an empty beta. */
async function skew(store: Store): Promise<void> {
  await store.hosts.insert(sampleHost({ id: 'h-alpha', name: 'alpha' }));
  await store.hosts.insert(sampleHost({ id: 'h-beta', name: 'beta', address: '10.0.0.2:7070' }));
  for (const n of [1, 2, 3, 4]) {
    await store.vms.insert(sampleVm({ id: `vm-${n}`, name: `vm${n}`, hostId: 'h-alpha', state: 'running', desiredState: 'running', spec: { cpus: 2, memoryBytes: 2 * GiB, imageId: null, pool: 'shared' } }));
  }
}

interface Run {
  plan: { imbalanceBefore: number; imbalanceAfter: number; movesLowerBound: number | null; moves: { vm: string; from: string; to: string; reason: string; costBytes: number }[] };
  operation: { id: string; kind: string } | null;
}

const balance = (c: TestController, payload: object) => c.app.inject({ method: 'POST', url: '/api/v1/balance', headers: c.auth, payload });

test('a dry run plans moves from the loaded host to the empty one and changes nothing', async (t) => {
  const controller = await lopsided(t);
  const res = await balance(controller, { dryRun: true, threshold: 0.05 });
  assert.equal(res.statusCode, 200, res.body);
  const { plan, operation } = res.json<Run>();
  assert.equal(operation, null);
  assert.equal(plan.moves.length, 2);
  assert.equal(plan.movesLowerBound, 2, 'two moves are the fewest possible, and the plan says so');
  assert.ok(plan.moves.every((m) => m.from === 'alpha' && m.to === 'beta' && m.costBytes === 2 * GiB));
  assert.ok(plan.imbalanceAfter < plan.imbalanceBefore);
  assert.equal((await controller.store.operations.list({ limit: 10 })).length, 0);
});

test('a VM moved recently is not moved again, so nothing ping-pongs', async (t) => {
  const controller = await lopsided(t);
  const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();
  // vm1 came to alpha from beta five minutes ago.
  await controller.store.placements.insert(samplePlacement({ id: 'p-old', vmId: 'vm-1', vmName: 'vm1', hostId: 'h-beta', hostName: 'beta', startedAt: minutesAgo(60), endedAt: minutesAgo(5) }));
  await controller.store.placements.insert(samplePlacement({ id: 'p-new', vmId: 'vm-1', vmName: 'vm1', hostId: 'h-alpha', hostName: 'alpha', startedAt: minutesAgo(5), reason: 'balancer' }));
  const { plan } = (await balance(controller, { dryRun: true, threshold: 0.05 })).json<Run>();
  assert.equal(plan.moves.length, 2);
  assert.ok(!plan.moves.some((m) => m.vm === 'vm1'), JSON.stringify(plan.moves));
});

test('a run is a balance operation; moves that cannot start are reported and the VMs stay put', async (t) => {
  const controller = await lopsided(t);
  const res = await balance(controller, { threshold: 0.05 });
  assert.equal(res.statusCode, 202, res.body);
  const { operation } = res.json<Run>();
  assert.equal(operation?.kind, 'balance');
  const op = await controller.services.operations.wait(operation?.id ?? '', 10_000);
  assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
  // beta has no agent credential, so each migration is refused before it starts.
  const result = op.result as { moved: unknown[]; failed: { vm: string }[] };
  assert.deepEqual([result.moved.length, result.failed.length], [0, 2]);
  assert.ok((await controller.store.vms.list()).every((vm) => vm.hostId === 'h-alpha'));
});

test('the schedule is off by default, can be enabled and retimed, and rejects a zero interval', async (t) => {
  const controller = await lopsided(t);
  const get = async () => (await controller.app.inject({ method: 'GET', url: '/api/v1/balance/schedule', headers: controller.auth })).json<{ enabled: boolean; intervalMinutes: number; threshold: number }>();
  assert.equal((await get()).enabled, false);
  const put = (payload: object) => controller.app.inject({ method: 'PUT', url: '/api/v1/balance/schedule', headers: controller.auth, payload });
  const set = await put({ enabled: true, intervalMinutes: 15 });
  assert.equal(set.statusCode, 200, set.body);
  assert.deepEqual(await get(), { enabled: true, intervalMinutes: 15, threshold: 0.1 });
  assert.equal((await put({ intervalMinutes: 0 })).statusCode, 400);
  assert.equal((await put({ enabled: false })).json<{ enabled: boolean }>().enabled, false);
});

test('a scheduled run starts a balance operation when the plan has moves, and none when balanced', async (t) => {
  const controller = await lopsided(t);
  const { store, events, operations, hosts } = controller.services;
  const scheduler = new BalanceScheduler({ store, events, operations, hosts });
  await scheduler.set({ threshold: 0.05 });
  const started = await scheduler.runOnce();
  assert.equal(started?.kind, 'balance');
  assert.equal(started?.actor, 'system');
  await operations.wait(started?.id ?? '', 10_000);
  for (const n of [3, 4]) await store.vms.update(`vm-${n}`, { hostId: 'h-beta' });
  assert.equal(await scheduler.runOnce(), undefined);
});

test('the schedule is stored: a controller restarted on the same database file shows it again, and the change is an event', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drover-balance-schedule-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'controller.db');
  /** One controller life on the file: build the app, run `body` against it, shut everything down. */
  const life = async <T>(body: (inject: (method: 'GET' | 'PUT', payload?: object) => Promise<{ statusCode: number; body: string }>, store: Store) => Promise<T>): Promise<T> => {
    const store = SqliteStore.open(file);
    const services = createControllerServices(store, { logger: pino({ level: 'silent' }) });
    const { secret } = await services.tokens.create(`admin-${Date.now()}`, SYSTEM_ACTOR);
    const app = await buildControllerApp({ services });
    await app.ready();
    try {
      return await body((method, payload) => app.inject({ method, url: '/api/v1/balance/schedule', headers: { authorization: `Bearer ${secret}` }, ...(payload ? { payload } : {}) }), store);
    } finally {
      await app.close();
      await services.operations.shutdown(1000);
      await store.close();
    }
  };
  await life(async (inject, store) => {
    await skew(store);
    const set = await inject('PUT', { enabled: true, intervalMinutes: 15, threshold: 0.2 });
    assert.equal(set.statusCode, 200, set.body);
    const [event] = (await store.events.query({ order: 'desc', limit: 10 })).filter((e) => e.action === 'cluster.balance-schedule-changed');
    assert.deepEqual(event?.detail, { before: { enabled: false, intervalMinutes: 60, threshold: 0.1 }, after: { enabled: true, intervalMinutes: 15, threshold: 0.2 } });
    assert.equal(event?.actor.startsWith('admin-'), true, 'the change is recorded under the caller');
  });
  const resumed = await life(async (inject) => JSON.parse((await inject('GET')).body) as unknown);
  assert.deepEqual(resumed, { enabled: true, intervalMinutes: 15, threshold: 0.2 }, 'the restarted controller took the stored schedule up');
  // A partial change keeps the stored fields it does not name.
  const changed = await life(async (inject) => JSON.parse((await inject('PUT', { enabled: false })).body) as unknown);
  assert.deepEqual(changed, { enabled: false, intervalMinutes: 15, threshold: 0.2 });
});

test('resume arms the timer from the stored schedule: a new scheduler on the same store runs the balancer when it fires', async (t) => {
  const controller = await lopsided(t);
  const { store, events, operations, hosts } = controller.services;
  await new BalanceScheduler({ store, events, operations, hosts }).set({ enabled: true, intervalMinutes: 5, threshold: 0.05 });
  // Only the new scheduler's interval is created while the clock is mocked.
  t.mock.timers.enable({ apis: ['setInterval'] });
  const restarted = new BalanceScheduler({ store, events, operations, hosts });
  t.after(() => restarted.stop());
  assert.deepEqual(await restarted.resume(), { enabled: true, intervalMinutes: 5, threshold: 0.05 });
  assert.equal(restarted.running, true);
  assert.deepEqual(await operations.list({ limit: 10 }), [], 'nothing runs before the interval passes');
  t.mock.timers.tick(5 * 60_000);
  let started = await operations.list({ limit: 10 });
  for (let tries = 0; started.length === 0 && tries < 100; tries++) {
    await delay(20);
    started = await operations.list({ limit: 10 });
  }
  assert.deepEqual(started.map((op) => [op.kind, op.actor]), [['balance', 'system']]);
  await operations.wait(started[0]?.id ?? '', 10_000);

  await restarted.set({ enabled: false });
  assert.equal(restarted.running, false);
  assert.deepEqual(await readBalanceSchedule(store), { enabled: false, intervalMinutes: 5, threshold: 0.05 });
});

test('a stored schedule that does not read as one falls back field by field to the defaults', async (t) => {
  const controller = await lopsided(t);
  await controller.store.settings.set('balanceSchedule', { enabled: 'yes', intervalMinutes: 0, threshold: 0.3 });
  assert.deepEqual(await readBalanceSchedule(controller.store), { enabled: false, intervalMinutes: 60, threshold: 0.3 });
  await controller.store.settings.set('balanceSchedule', [1, 2]);
  assert.deepEqual(await readBalanceSchedule(controller.store), { enabled: false, intervalMinutes: 60, threshold: 0.1 });
});
