/**
 * PostgreSQL restarted under API load: while it is down every request is a coded 503
 * (STORE_UNAVAILABLE), never a 500; once it is back the controller reconnects by itself, and
 * every change it acknowledged is there.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { pino } from 'pino';
import { isDroverError } from '../../shared/errors.js';
import { SYSTEM_ACTOR } from '../actor.js';
import { buildControllerApp } from '../api/app.js';
import { createControllerServices } from '../api/services.js';
import { openStore } from './open.js';
import { startLocalPostgres, type LocalPostgres } from './postgres/local-server.js';

let server: LocalPostgres;
before(async () => {
  server = await startLocalPostgres({ fsync: true });
});
after(async () => {
  await server?.stop();
});

test('PostgreSQL restarted under API load: coded 503s while down, then recovery with every acknowledged change kept and no 500', async (t) => {
  const store = await openStore(await server.createDatabase());
  const services = createControllerServices(store, { logger: pino({ level: 'silent' }) });
  const { secret } = await services.tokens.create('admin', SYSTEM_ACTOR);
  const app = await buildControllerApp({ services });
  await app.ready();
  const headers = { authorization: `Bearer ${secret}`, 'content-type': 'application/json' };
  const acknowledged: string[] = [];
  const statuses = new Map<string, number>();
  let n = 0;
  let running = true;
  const worker = async (): Promise<void> => {
    while (running) {
      const name = `load-${++n}`;
      const reply = await app.inject({ method: 'POST', url: '/api/v1/tokens', headers, payload: { name } });
      const key = reply.statusCode >= 500 ? `${reply.statusCode} ${reply.json<{ code: string }>().code}` : String(reply.statusCode);
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
      if (reply.statusCode === 201) acknowledged.push(name);
      else await sleep(20);
    }
  };
  try {
    const workers = [worker(), worker(), worker()];
    await sleep(1000);
    const before = acknowledged.length;
    await server.pause();
    await sleep(1500);
    const duringOutage = new Map(statuses);
    await server.resume();
    // Back within a few seconds, by itself: no restart of the controller.
    const deadline = Date.now() + 15_000;
    let after = acknowledged.length;
    while (Date.now() < deadline && acknowledged.length < after + 20) {
      await sleep(200);
      if (after === before) after = acknowledged.length;
    }
    running = false;
    await Promise.all(workers);

    assert.ok(before > 0, 'requests were acknowledged before the outage');
    assert.ok((duringOutage.get('503 STORE_UNAVAILABLE') ?? 0) > 0, `the outage was answered with coded 503s: ${JSON.stringify([...duringOutage])}`);
    for (const key of statuses.keys()) assert.ok(key === '201' || key === '503 STORE_UNAVAILABLE', `unexpected answer ${key}: ${JSON.stringify([...statuses])}`);
    const kept = new Set((await services.tokens.list()).map((token) => token.name));
    const lost = acknowledged.filter((name) => !kept.has(name));
    assert.deepEqual(lost, [], 'every acknowledged token is in the store after the restart');
    assert.ok(acknowledged.length >= before + 20, 'the controller serves again after PostgreSQL is back');
    t.diagnostic(`answers: ${JSON.stringify(Object.fromEntries(statuses))}; ${acknowledged.length} acknowledged, all kept`);
  } finally {
    running = false;
    await app.close();
    await services.operations.shutdown(1000);
    await store.close();
  }
});

test('several hosts with target_session_attrs=read-write: a read-only server (a standby, or a demoted primary) is passed over, and a failover is followed without a restart', async (t) => {
  const second = await startLocalPostgres();
  t.after(() => second.stop());
  const name = `drover_failover_${process.pid}`;
  await server.createDatabase(name);
  await second.createDatabase(name);
  const url = `postgresql://drover@127.0.0.1:${server.port},127.0.0.1:${second.port}/${name}?target_session_attrs=read-write`;
  const readOnly = async (target: LocalPostgres, on: boolean) => {
    const admin = new pg.Client({ connectionString: target.adminUrl });
    await admin.connect();
    try {
      await admin.query(`ALTER SYSTEM SET default_transaction_read_only = ${on ? 'on' : 'off'}`);
      await admin.query('SELECT pg_reload_conf()');
    } finally {
      await admin.end();
    }
  };
  // Replication would give the second server the schema; here it is an independent server, so it gets it first.
  await (await openStore(`postgresql://drover@127.0.0.1:${second.port}/${name}`)).close();
  // The first server acts as the primary; the store migrates and writes there.
  const store = await openStore(url);
  t.after(() => store.close());
  await store.settings.set('weight', 'pack');
  // A failover: the first server is demoted (read-only), the second one promoted.
  await readOnly(server, true);
  t.after(() => readOnly(server, false));
  await sleep(200);
  const answers: string[] = [];
  let written = false;
  for (let i = 0; i < 20 && !written; i++) {
    try {
      await store.settings.set('weight', 'spread');
      written = true;
    } catch (err) {
      answers.push(isDroverError(err) ? err.code : String(err));
      await sleep(100);
    }
  }
  assert.ok(written, `the store found the writable server: ${answers.join(', ')}`);
  assert.ok(answers.every((code) => code === 'STORE_UNAVAILABLE'), `only coded 503s while it looked: ${answers.join(', ')}`);
  // The write went to the second server.
  const direct = new pg.Client({ connectionString: `postgresql://drover@127.0.0.1:${second.port}/${name}` });
  await direct.connect();
  try {
    const row = await direct.query<{ value: string }>("SELECT value::text AS value FROM cluster_settings WHERE name = 'weight'");
    assert.equal(row.rows[0]?.value, '"spread"');
  } finally {
    await direct.end();
  }
  // A new store on the same URL skips the read-only first server from the start.
  const fresh = await openStore(url);
  t.after(() => fresh.close());
  assert.equal(await fresh.settings.get('weight'), 'spread');
});
