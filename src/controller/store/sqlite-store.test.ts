import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isDroverError } from '../../shared/errors.js';
import { integrityCheck, openDatabase } from './db.js';
import { applyMigrations, currentVersion, latestVersion, MIGRATIONS, type Migration } from './migrations.js';
import { SqliteStore } from './sqlite-store.js';
import { storeConformance } from './store.conformance.js';

storeConformance('sqlite', async () => SqliteStore.open(':memory:'));

function tempFile(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'drover-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'controller.db');
}

test('a file database runs in WAL mode with FULL sync and foreign keys', (t) => {
  const db = openDatabase(tempFile(t));
  try {
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('synchronous', { simple: true }), 2);
    assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
  } finally {
    db.close();
  }
});

test('migrations apply once and are idempotent across reopenings', (t) => {
  const file = tempFile(t);
  const db = openDatabase(file);
  assert.deepEqual(applyMigrations(db), MIGRATIONS.map((m) => m.version));
  assert.deepEqual(applyMigrations(db), []);
  db.close();
  const again = openDatabase(file);
  try {
    assert.deepEqual(applyMigrations(again), []);
    assert.equal(currentVersion(again), latestVersion());
    const rows = again.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all();
    assert.deepEqual(rows, MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
    assert.deepEqual(integrityCheck(again), ['ok']);
  } finally {
    again.close();
  }
});

test('a migration that fails is rolled back whole and not recorded', () => {
  const db = openDatabase(':memory:');
  const broken: Migration[] = [
    ...MIGRATIONS,
    { version: MIGRATIONS.length + 1, name: 'broken', sql: 'CREATE TABLE half (x TEXT); SELECT * FROM no_such_table;' },
  ];
  try {
    assert.throws(() => applyMigrations(db, broken), /no such table/);
    assert.equal(currentVersion(db), latestVersion());
    const half = db.prepare("SELECT name FROM sqlite_master WHERE name = 'half'").get();
    assert.equal(half, undefined);
  } finally {
    db.close();
  }
});

test('a database from a newer controller is refused with STORE_SCHEMA_TOO_NEW', () => {
  const db = openDatabase(':memory:');
  try {
    applyMigrations(db);
    db.prepare("INSERT INTO schema_migrations VALUES (?, 'future', '2030-01-01T00:00:00.000Z')").run(latestVersion() + 1);
    assert.throws(() => applyMigrations(db), (err) => isDroverError(err, 'STORE_SCHEMA_TOO_NEW'));
  } finally {
    db.close();
  }
});

test('migrations out of order are a bug caught at start', () => {
  const db = openDatabase(':memory:');
  try {
    assert.throws(() => applyMigrations(db, [{ version: 2, name: 'skipped one', sql: '' }]), /expected 1/);
  } finally {
    db.close();
  }
});

test('a closed store refuses calls', async () => {
  const store = SqliteStore.open(':memory:');
  await store.close();
  await assert.rejects(store.hosts.list(), (err) => isDroverError(err, 'INTERNAL'));
  await store.close();
});

test('hosts stored before migration 3 get no tags and overcommit 1.0', async () => {
  const db = openDatabase(':memory:');
  applyMigrations(db, MIGRATIONS.slice(0, 2));
  db.prepare(
    `INSERT INTO hosts (id, name, address, version, accelerator, capacity, usage, health, last_heartbeat, state, created_at, updated_at)
     VALUES ('h1', 'old', 'http://10.0.0.1:7701', '0.1.0', 'tcg', '{}', '{}', 'healthy', NULL, 'ready', '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z')`,
  ).run();
  applyMigrations(db);
  const store = new SqliteStore(db);
  try {
    const host = await store.hosts.get('h1');
    assert.deepEqual([host?.tags, host?.cpuOvercommit, host?.memoryOvercommit], [[], 1, 1]);
  } finally {
    await store.close();
  }
});

test('hosts stored before migration 8 have no fence device, and the column takes only JSON', async () => {
  const db = openDatabase(':memory:');
  applyMigrations(db, MIGRATIONS.slice(0, 7));
  db.prepare(
    `INSERT INTO hosts (id, name, address, version, accelerator, capacity, usage, health, last_heartbeat, state, created_at, updated_at)
     VALUES ('h1', 'old', 'http://10.0.0.1:7701', '0.1.0', 'tcg', '{}', '{}', 'healthy', NULL, 'ready', '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z')`,
  ).run();
  applyMigrations(db);
  assert.throws(() => db.prepare("UPDATE hosts SET fence_device = 'not json' WHERE id = 'h1'").run(), /CHECK constraint failed/);
  const store = new SqliteStore(db);
  try {
    assert.equal((await store.hosts.get('h1'))?.fenceDevice, null);
  } finally {
    await store.close();
  }
});
