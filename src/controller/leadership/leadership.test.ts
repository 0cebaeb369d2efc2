import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDroverError } from '../../shared/errors.js';
import { EventLog } from '../events/event-log.js';
import { sampleHost } from '../store/fixtures.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';
import { fencedStore } from './fenced-store.js';
import { Leadership, type LeaderWork } from './leadership.js';
import { runInTerm, type Term } from './term.js';

const timings = { leaseMs: 600, renewMs: 150 };

/** Two controllers on one store file: each has its own connection, as two processes would. */
function twoControllers(t: { after: (fn: () => Promise<void> | void) => void }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'drover-leader-'));
  const file = path.join(dir, 'controller.db');
  const stores = [SqliteStore.open(file), SqliteStore.open(file)];
  const log: string[] = [];
  const make = (id: string, store: Store) => {
    const terms: Term[] = [];
    const work: LeaderWork = {
      start: (term) => {
        terms.push(term);
        log.push(`${id} starts term ${term.token}`);
      },
      stop: () => void log.push(`${id} stops`),
    };
    const leadership = new Leadership({ store, events: new EventLog(store), self: { id, name: id, url: `http://${id}`, version: 'test' }, work, timings });
    return { leadership, terms, store: fencedStore(store) };
  };
  const a = make('a', stores[0]!);
  const b = make('b', stores[1]!);
  t.after(async () => {
    await a.leadership.stop(false);
    await b.leadership.stop(false);
    for (const store of stores) await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { a, b, log, raw: stores[0]! };
}

test('one leader at a time: the first takes the lease with token 1, the second stands by and takes over with token 2 once it lapses', async (t) => {
  const { a, b, log, raw } = twoControllers(t);
  await a.leadership.tick();
  await b.leadership.tick();
  assert.equal(a.leadership.isLeader(), true);
  assert.equal(b.leadership.isLeader(), false);
  assert.equal(a.leadership.token, 1);
  assert.equal(b.leadership.leader?.holder, 'a');

  // a stops renewing (a pause, a crash); by its own clock it gives up before b can take over.
  await sleep(timings.leaseMs - timings.renewMs + 20);
  assert.equal(a.leadership.isLeader(), false, 'a leader that could not renew stops acting on its own');
  await b.leadership.tick();
  assert.equal(b.leadership.isLeader(), false, 'the lease has not lapsed yet');
  await sleep(timings.renewMs + 20);
  await b.leadership.tick();
  assert.equal(b.leadership.isLeader(), true);
  assert.equal(b.leadership.token, 2);
  // a comes back: it finds b's lease and stops its work.
  await a.leadership.tick();
  assert.equal(a.leadership.isLeader(), false);
  assert.deepEqual(log, ['a starts term 1', 'b starts term 2', 'a stops']);
  const elected = (await raw.events.query({ order: 'asc', limit: 10 })).filter((e) => e.action === 'controller.leader-elected');
  assert.deepEqual(elected.map((e) => [e.objectName, (e.detail as { token: number }).token, (e.detail as { previous: { holder: string } | null }).previous?.holder ?? null]), [['a', 1, null], ['b', 2, 'a']]);
  assert.deepEqual((await raw.controllers.list()).map((c) => c.id), ['a', 'b']);
});

test('a deposed leader resuming in the middle of a decision cannot write it: its fencing token is stale', async (t) => {
  const { a, b, raw } = twoControllers(t);
  await raw.hosts.insert(sampleHost({ id: 'h1', name: 'h1', health: 'healthy' }));
  await a.leadership.tick();
  const staleTerm = a.terms[0]!;
  // The decision a was making when it paused: written as its term's work, it passes while a leads.
  await runInTerm(staleTerm, () => a.store.hosts.update('h1', { health: 'unreachable' }));
  assert.equal((await raw.hosts.get('h1'))?.health, 'unreachable');

  await sleep(timings.leaseMs + 20);
  await b.leadership.tick();
  assert.equal(b.leadership.token, 2);
  await runInTerm(b.terms[0]!, () => b.store.hosts.update('h1', { health: 'healthy' }));

  // a resumes and carries on with what it was doing, before its own renewal notices anything.
  await assert.rejects(
    runInTerm(staleTerm, () => a.store.hosts.update('h1', { health: 'unreachable' })),
    (err) => isDroverError(err, 'CONTROLLER_NOT_LEADER') && /token 1 is stale.*held by b with token 2/.test(err.detail ?? ''),
  );
  await assert.rejects(
    runInTerm(staleTerm, () => a.store.transaction(async (tx) => tx.hosts.update('h1', { health: 'unreachable' }))),
    (err) => isDroverError(err, 'CONTROLLER_NOT_LEADER'),
  );
  assert.equal((await raw.hosts.get('h1'))?.health, 'healthy', 'the stale decisions wrote nothing');
  // Reads stay open to it, and so does work that is not the leader's (an API request).
  assert.equal((await runInTerm(staleTerm, () => a.store.hosts.get('h1')))?.health, 'healthy');
  await a.store.hosts.update('h1', { tags: ['api'] });
  assert.deepEqual((await raw.hosts.get('h1'))?.tags, ['api']);
});

test('a restarted controller (same id) takes its own lease back at once, with a new token', async (t) => {
  const { a, raw } = twoControllers(t);
  await a.leadership.tick();
  const again = new Leadership({ store: raw, events: new EventLog(raw), self: { id: 'a', name: 'a', url: 'http://a', version: 'test' }, work: { start: () => undefined, stop: () => undefined }, timings });
  t.after(() => again.stop(false));
  await again.tick();
  assert.equal(again.isLeader(), true);
  assert.equal(again.token, 2);
});

test('stopping the leader releases its lease: another takes over at its next renewal, not a lease later', async (t) => {
  const { a, b } = twoControllers(t);
  await a.leadership.tick();
  await a.leadership.stop();
  await b.leadership.tick();
  assert.equal(b.leadership.isLeader(), true);
});
