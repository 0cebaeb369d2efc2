/**
 * PostgreSQL restarted under API load: while it is down every request is a coded 503
 * (STORE_UNAVAILABLE), never a 500; once it is back the controller reconnects by itself, and
 * every change it acknowledged is there.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
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
