import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isDroverError } from '../../shared/errors.js';
import { openDatabase } from './db.js';
import { sampleHost, sampleJoinToken, sampleOperation, samplePlacement, sampleToken, sampleVm, T0 } from './fixtures.js';
import { applyMigrations, MIGRATIONS, recordedVersion } from './migrations.js';
import { openStore } from './open.js';
import { startLocalPostgres, type LocalPostgres } from './postgres/local-server.js';
import type { NewEventRecord } from './records.js';
import { STORE_TABLES } from './sql/repositories.js';
import type { SqlEngine } from './sql/executor.js';
import { SqliteStore } from './sqlite-store.js';
import type { Store } from './store.js';
import { copyStore, copyTables, countRows } from './transfer.js';

type EngineStore = Store & SqlEngine;

let server: LocalPostgres;
let dir: string;
before(async () => {
  server = await startLocalPostgres();
  dir = mkdtempSync(path.join(tmpdir(), 'drover-transfer-'));
});
after(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let files = 0;
function sqliteUrl(): string {
  return `sqlite:${path.join(dir, `store-${++files}.db`)}`;
}

function event(n: number, overrides: Partial<NewEventRecord> = {}): NewEventRecord {
  return {
    time: `2025-01-01T00:00:${String(n).padStart(2, '0')}.000Z`,
    actor: 'admin',
    objectType: 'vm',
    objectId: 'vm-1',
    objectName: 'web',
    action: `vm.action-${n}`,
    hostId: 'host-1',
    result: 'success',
    requestId: `req-${n}`,
    detail: { n, nested: { list: [1, 'two', null] } },
    ...overrides,
  };
}

/** A store with a row in every table, a gap in its event ids, and every column kind. */
async function populate(store: EngineStore): Promise<void> {
  await store.hosts.insert(sampleHost({ tags: ['rack=1'], cpuOvercommit: 1.5, fenceDevice: { agent: 'fence_drover_simulated', options: { port: 'h1' }, setAt: T0, setBy: 'admin' } }));
  await store.hosts.insert(sampleHost({ id: 'host-2', name: 'beta', address: '10.0.0.2:7070', lastHeartbeat: T0 }));
  await store.images.insert({ id: 'img-1', name: 'tiny', format: 'qcow2', sizeBytes: 5 * 2 ** 30, checksum: 'c'.repeat(64), source: '/tmp/tiny.qcow2', state: 'ready', createdAt: T0, updatedAt: T0 });
  await store.networks.insert({ id: 'net-1', name: 'backend', subnet: '10.50.0.0/24', vni: 4242, mtu: 1450, createdAt: T0, updatedAt: T0 });
  await store.vms.insert(sampleVm({ hostId: 'host-1', movingTo: 'host-2', state: 'running', desiredState: 'running', runtime: { pid: 1234 } }));
  await store.vms.insert(sampleVm({ id: 'vm-2', name: 'db' }));
  await store.operations.insert(sampleOperation({ state: 'running', progress: 0.25, cancelRequested: true, steps: [{ name: 'copy', state: 'done' }] }));
  await store.operations.insert(sampleOperation({ id: 'op-2', state: 'failed', error: { code: 'INTERNAL', message: 'boom' }, createdAt: '2025-01-02T00:00:00.000Z' }));
  for (let n = 1; n <= 5; n++) await store.events.append(event(n));
  await store.tokens.insert(sampleToken());
  await store.tokens.insert(sampleToken({ id: 'tok-2', name: 'ci', hash: 'd'.repeat(64), revokedAt: T0 }));
  await store.joinTokens.insert(sampleJoinToken());
  await store.placements.insert(samplePlacement({ id: 'pl-0', hostId: 'host-2', hostName: 'beta', endedAt: '2025-01-01T00:00:30.000Z', detail: { why: 'spread' } }));
  await store.placements.insert(samplePlacement({ startedAt: '2025-01-01T00:00:30.000Z' }));
  await store.settings.set('weight', 'pack');
  await store.settings.set('balanceSchedule', { enabled: true, intervalMinutes: 15 });
  await store.controllers.put({ id: 'ctl-1', name: 'ctl1', url: 'http://127.0.0.1:7700', version: '0.1.0', startedAt: T0, lastSeenAt: T0 });
  await store.leaderLease.put({ holder: 'ctl-1', token: 7, acquiredAt: T0, renewedAt: T0, expiresAt: '2025-01-01T00:00:15.000Z' });
}

/** Everything a store holds, read through its repositories. */
async function contents(store: Store): Promise<unknown> {
  return {
    hosts: await store.hosts.list(),
    images: await store.images.list(),
    networks: await store.networks.list(),
    vms: await store.vms.list(),
    operations: await store.operations.list({ limit: 100 }),
    events: await store.events.query({ order: 'asc', limit: 1000 }),
    eventsAfter2: await store.events.query({ order: 'asc', afterId: 2, limit: 1000 }),
    tokens: await store.tokens.list(),
    joinToken: await store.joinTokens.getByHash('b'.repeat(64)),
    placements: [...(await store.placements.listByVm('vm-1')), ...(await store.placements.listByVm('vm-2'))],
    settings: [await store.settings.get('weight'), await store.settings.get('balanceSchedule'), await store.settings.get('cpuModel')],
    controllers: await store.controllers.list(),
    leaderLease: await store.leaderLease.get(),
  };
}

async function withStores<T>(urls: string[], fn: (...stores: EngineStore[]) => Promise<T>): Promise<T> {
  const stores: EngineStore[] = [];
  try {
    for (const url of urls) stores.push(await openStore(url));
    return await fn(...stores);
  } finally {
    for (const store of stores) await store.close();
  }
}

test('STORE_TABLES names every table and column of both schemas, so a copy leaves nothing behind', async () => {
  await withStores([sqliteUrl(), await server.createDatabase()], async (sqlite, postgres) => {
    const listed = Object.fromEntries(STORE_TABLES.map((t) => [t.name, t.columns.map(([c]) => c).sort()]));
    const fromSqlite = await sqlite.sqlTransaction('snapshot', async (sql) => {
      const tables = await sql.all("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('schema_migrations', 'sqlite_sequence')");
      const out: Record<string, string[]> = {};
      for (const { name } of tables) out[String(name)] = (await sql.all(`SELECT name FROM pragma_table_info('${String(name)}')`)).map((r) => String(r.name)).sort();
      return out;
    });
    const fromPostgres = await postgres.sqlTransaction('snapshot', async (sql) => {
      const rows = await sql.all("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'schema_migrations' AND column_name <> 'seq'");
      const out: Record<string, string[]> = {};
      for (const row of rows) (out[String(row.table_name)] ??= []).push(String(row.column_name));
      for (const list of Object.values(out)) list.sort();
      return out;
    });
    assert.deepEqual(fromSqlite, listed);
    assert.deepEqual(fromPostgres, listed);
  });
});

test('copy SQLite to PostgreSQL: every record arrives as it was, event ids kept (gaps too), new events numbered after them', async () => {
  const from = sqliteUrl();
  const to = await server.createDatabase();
  await withStores([from], async (source) => {
    await populate(source);
    // A gap, as a pruned log would have: a copy that numbered events afresh would close it.
    (source as SqliteStore).database.prepare('DELETE FROM events WHERE id = 2').run();
  });
  const progress: string[] = [];
  const summary = await copyStore(from, to, { onTable: (table, rows) => progress.push(`${table}=${rows}`) });
  assert.deepEqual(summary.tables, {
    hosts: 2, images: 1, networks: 1, vms: 2, operations: 2, events: 4, tokens: 2, join_tokens: 1, placements: 2, cluster_settings: 2,
    controllers: 1, leader_lease: 1,
  });
  assert.equal(progress.length, STORE_TABLES.length);
  assert.equal(summary.to, to);
  await withStores([from, to], async (source, destination) => {
    assert.equal(destination.engine, 'postgresql');
    const expected = await contents(source);
    assert.deepEqual(await contents(destination), expected);
    assert.deepEqual((await destination.events.query({ order: 'asc', limit: 10 })).map((e) => e.id), [1, 3, 4, 5]);
    assert.equal((await destination.operations.get('op-1'))?.cancelRequested, true);
    assert.equal(await destination.events.append(event(6)), 6);
    // The copy's tables keep serving: the foreign key from VMs to hosts came across.
    await assert.rejects(destination.hosts.delete('host-1'));
  });
});

test('copy PostgreSQL to SQLite: the same records, and SQLite numbers new events after the copied ids', async () => {
  const from = await server.createDatabase();
  const to = sqliteUrl();
  await withStores([from], async (source) => {
    await populate(source);
    for (let n = 6; n <= 40; n++) await source.events.append(event(n % 60));
  });
  const summary = await copyStore(from, to);
  assert.equal(summary.tables.events, 40);
  await withStores([from, to], async (source, destination) => {
    assert.deepEqual(await contents(destination), await contents(source));
    assert.equal(await destination.events.append(event(41)), 41);
  });
});

test('a destination that holds anything is refused with STORE_NOT_EMPTY and left as it was', async () => {
  const from = sqliteUrl();
  const to = await server.createDatabase();
  await withStores([from, to], async (source, destination) => {
    await populate(source);
    await destination.tokens.insert(sampleToken({ id: 'admin', name: 'admin' }));
    await assert.rejects(copyTables(source, destination), (err) => isDroverError(err, 'STORE_NOT_EMPTY') && /1 tokens/.test(err.message));
    const counts = await destination.sqlTransaction('snapshot', (sql) => countRows(sql));
    assert.deepEqual(Object.entries(counts).filter(([, n]) => n > 0), [['tokens', 1]]);
  });
});

test('a copy that fails part-way leaves the destination empty, event ids included, and can simply run again', async () => {
  const from = sqliteUrl();
  const to = await server.createDatabase();
  await withStores([from, to], async (source, destination) => {
    await populate(source);
    // PostgreSQL text cannot hold NUL, which SQLite accepts: the operations table fails after hosts, images, networks and VMs went in.
    await source.operations.update('op-2', { message: 'bad\u0000byte' });
    const seen: string[] = [];
    await assert.rejects(copyTables(source, destination, { onTable: (table) => seen.push(table) }), (err) => isDroverError(err, 'STORE_COPY_FAILED') && /table operations/.test(err.message));
    assert.deepEqual(seen, ['hosts', 'images', 'networks', 'vms']);
    const counts = await destination.sqlTransaction('snapshot', (sql) => countRows(sql));
    assert.ok(Object.values(counts).every((n) => n === 0), JSON.stringify(counts));

    // An interruption between tables (here the progress callback) rolls back the same way.
    await source.operations.update('op-2', { message: 'fixed' });
    await assert.rejects(copyTables(source, destination, { onTable: (table) => { if (table === 'events') throw new Error('interrupted'); } }), /interrupted/);
    const after = await destination.sqlTransaction('snapshot', (sql) => countRows(sql));
    assert.ok(Object.values(after).every((n) => n === 0), JSON.stringify(after));

    const copied = await copyTables(source, destination);
    assert.equal(copied.operations, 2);
    assert.equal((await destination.operations.get('op-2'))?.message, 'fixed');
  });
  // The aborted copies did not move the identity on: it continues right after the copied ids.
  await withStores([to], async (destination) => assert.equal(await destination.events.append(event(9)), 6));
});

test('the source is read from one snapshot: writes by a running controller during the copy are not half-copied', async () => {
  const from = sqliteUrl();
  const to = await server.createDatabase();
  const file = from.slice('sqlite:'.length);
  await withStores([from, to], async (source, destination) => {
    await populate(source);
    // Another connection to the file, as a controller in another process has: it writes while the copy runs.
    const controller = SqliteStore.open(file);
    try {
      const copied = await copyTables(source, destination, {
        onTable: (table) => {
          if (table !== 'hosts') return;
          const db = controller.database;
          db.prepare("INSERT INTO events (time, actor, object_type, action, result, detail) VALUES (?, 'admin', 'vm', 'vm.late', 'success', '{}')").run(T0);
          db.prepare("UPDATE vms SET state = 'stopped' WHERE id = 'vm-1'").run();
        },
      });
      assert.equal(copied.events, 5);
      assert.equal((await destination.vms.get('vm-1'))?.state, 'running');
      assert.equal((await source.events.query({ order: 'asc', limit: 100 })).length, 6, 'the late write landed in the source');
    } finally {
      controller.database.close();
    }
  });
});

test('copy refuses a missing source, one of another schema version (without migrating it), and copying a store onto itself', async () => {
  const missing = `sqlite:${path.join(dir, 'nothing-here.db')}`;
  await assert.rejects(copyStore(missing, await server.createDatabase()), (err) => isDroverError(err, 'STORE_NOT_FOUND'));
  assert.equal(existsSync(missing.slice('sqlite:'.length)), false);

  // A store left at an older version, as a controller not yet upgraded keeps it: read only, so not migrated.
  const older = path.join(dir, 'older.db');
  const db = openDatabase(older);
  applyMigrations(db, MIGRATIONS.slice(0, -1));
  db.close();
  await assert.rejects(copyStore(`sqlite:${older}`, await server.createDatabase()), (err) => isDroverError(err, 'STORE_SCHEMA_TOO_OLD'));
  const foreign = path.join(dir, 'foreign.db');
  const other = openDatabase(foreign);
  other.exec('CREATE TABLE t (x)');
  other.close();
  await assert.rejects(copyStore(`sqlite:${foreign}`, await server.createDatabase()), (err) => isDroverError(err, 'STORE_NOT_FOUND'));
  for (const [file, version] of [[older, MIGRATIONS.length - 1], [foreign, 0]] as const) {
    const check = openDatabase(file);
    assert.equal(recordedVersion(check), version, `${file} was left as it was`);
    check.close();
  }

  const from = sqliteUrl();
  await withStores([from], async () => undefined);
  await assert.rejects(copyStore(from, `sqlite:${path.join(dir, '.', path.basename(from.slice(7)))}`), (err) => isDroverError(err, 'INVALID_ARGUMENT'));
});
