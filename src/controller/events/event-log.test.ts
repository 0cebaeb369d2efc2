import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteStore } from '../store/sqlite-store.js';
import type { EventRecord } from '../store/records.js';
import { EventLog, matches } from './event-log.js';

const admin = { name: 'admin' };

function setup() {
  const store = SqliteStore.open(':memory:');
  return { store, log: new EventLog(store) };
}

test('an event recorded in a transaction is published only after it commits', async () => {
  const { store, log } = setup();
  const seen: EventRecord[] = [];
  log.subscribe({}, (event) => seen.push(event));
  await assert.rejects(
    store.transaction(async (tx) => {
      await log.record({ actor: admin, objectType: 'vm', objectId: 'vm-1', action: 'vm.create', result: 'succeeded' }, tx);
      throw new Error('rolled back');
    }),
  );
  assert.deepEqual(seen, []);
  assert.deepEqual(await log.query(), []);
  await store.transaction(async (tx) => {
    await log.record({ actor: admin, objectType: 'vm', objectId: 'vm-1', action: 'vm.create', result: 'succeeded' }, tx);
    assert.equal(seen.length, 0);
  });
  assert.equal(seen.length, 1);
  assert.deepEqual(await log.query(), seen);
});

test('query filters by VM, host, actor and time range, newest first by default', async () => {
  const { log } = setup();
  const web = await log.record({ actor: admin, objectType: 'vm', objectId: 'vm-1', objectName: 'web', hostId: 'h1', action: 'vm.start', result: 'succeeded' });
  const db = await log.record({ actor: { name: 'ci' }, objectType: 'vm', objectId: 'vm-2', objectName: 'db', hostId: 'h2', action: 'vm.stop', result: 'failed' });
  const host = await log.record({ actor: admin, objectType: 'host', objectId: 'h2', objectName: 'beta', action: 'host.join', result: 'succeeded' });
  const ids = async (query: Parameters<EventLog['query']>[0]) => (await log.query(query)).map((e) => e.id);
  assert.deepEqual(await ids({}), [host.id, db.id, web.id]);
  assert.deepEqual(await ids({ vm: 'web' }), [web.id]);
  assert.deepEqual(await ids({ vm: 'vm-2' }), [db.id]);
  assert.deepEqual(await ids({ host: 'h2' }), [host.id, db.id]);
  assert.deepEqual(await ids({ host: 'beta' }), [host.id]);
  assert.deepEqual(await ids({ actor: 'ci' }), [db.id]);
  assert.deepEqual(await ids({ since: db.time, until: db.time, actor: 'ci' }), [db.id]);
  assert.deepEqual(await ids({ until: '2000-01-01T00:00:00.000Z' }), []);
  assert.deepEqual(await ids({ order: 'asc', limit: 2 }), [web.id, db.id]);
  assert.equal((await log.query({ limit: 1_000_000 })).length, 3);
});

test('live matching follows the same rules as the stored query', () => {
  const event: EventRecord = {
    id: 1,
    time: '2025-01-01T00:00:00.000Z',
    actor: 'ci',
    objectType: 'vm',
    objectId: 'vm-1',
    objectName: 'web',
    action: 'vm.start',
    hostId: 'h1',
    result: 'succeeded',
    requestId: null,
    detail: null,
  };
  assert.equal(matches(event, {}), true);
  assert.equal(matches(event, { vm: 'web' }), true);
  assert.equal(matches(event, { vm: 'vm-1', host: 'h1', actor: 'ci' }), true);
  assert.equal(matches(event, { vm: 'db' }), false);
  assert.equal(matches(event, { host: 'h2' }), false);
  assert.equal(matches(event, { actor: 'admin' }), false);
  assert.equal(matches({ ...event, objectType: 'host', objectId: 'h2', hostId: null }, { host: 'h2' }), true);
});

test('a failing subscriber does not stop the others', async () => {
  const { log } = setup();
  let reached = 0;
  log.subscribe({}, () => {
    throw new Error('broken subscriber');
  });
  log.subscribe({}, () => void reached++);
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarning);
  await log.record({ actor: admin, objectType: 'vm', action: 'vm.start', result: 'succeeded' });
  await new Promise((resolve) => setImmediate(resolve));
  process.off('warning', onWarning);
  assert.equal(reached, 1);
  assert.match(warnings.join(), /broken subscriber/);
});
