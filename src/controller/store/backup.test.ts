import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { isDroverError } from '../../shared/errors.js';
import { backupStore, restoreStore } from './backup.js';
import { sampleHost, sampleVm, T0 } from './fixtures.js';
import { latestVersion } from './migrations.js';
import { openStore } from './open.js';
import { startLocalPostgres, type LocalPostgres } from './postgres/local-server.js';
import { PG_MIGRATIONS } from './postgres/migrations.js';
import type { NewEventRecord } from './records.js';

let server: LocalPostgres;
let dir: string;
before(async () => {
  server = await startLocalPostgres();
  dir = mkdtempSync(path.join(tmpdir(), 'drover-backup-'));
});
after(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let names = 0;
function file(name: string): string {
  return path.join(dir, `${++names}-${name}`);
}

const EVENT: NewEventRecord = { time: T0, actor: 'admin', objectType: 'vm', objectId: 'vm-1', objectName: 'web', action: 'vm.create', hostId: null, result: 'success', requestId: null, detail: {} };

test('SQLite: a backup taken while the store is open restores to that moment; later changes are gone', async () => {
  const storeFile = file('controller.db');
  const url = `sqlite:${storeFile}`;
  const backup = file('backup.db');
  const store = await openStore(url);
  await store.hosts.insert(sampleHost());
  await store.vms.insert(sampleVm({ hostId: 'host-1' }));
  await store.events.append(EVENT);
  const summary = await backupStore(url, backup);
  assert.equal(summary.engine, 'sqlite');
  assert.equal(summary.schemaVersion, latestVersion());
  assert.ok(summary.bytes > 0);
  // One self-contained file: no -wal or temporary file beside it.
  assert.deepEqual(readdirSync(dir).filter((name) => name.includes('backup.db')), [path.basename(backup)]);
  assert.equal(readFileSync(backup)[18], 1, 'the backup is in rollback-journal mode');

  await store.vms.update('vm-1', { state: 'running' });
  await store.vms.insert(sampleVm({ id: 'vm-2', name: 'late' }));
  const lateEvent = await store.events.append(EVENT);
  await assert.rejects(restoreStore(url, backup), (err) => isDroverError(err, 'STORE_IN_USE'));
  assert.equal((await store.vms.list()).length, 2, 'a refused restore changes nothing');
  await store.close();

  await restoreStore(url, backup);
  const restored = await openStore(url);
  try {
    assert.deepEqual((await restored.vms.list()).map((vm) => [vm.name, vm.state]), [['web', 'stopped']]);
    assert.equal((await restored.events.query({ order: 'asc', limit: 10 })).length, 1);
    // The later event's id is free again, as in the backup.
    assert.equal(await restored.events.append(EVENT), lateEvent);
  } finally {
    await restored.close();
  }
  assert.deepEqual(readdirSync(dir).filter((name) => name.includes('.restore-') || name.includes('.tmp-')), []);
});

test('SQLite: missing, foreign and damaged backup files are refused with coded errors and the store is left alone', async () => {
  const url = `sqlite:${file('controller.db')}`;
  const store = await openStore(url);
  await store.hosts.insert(sampleHost());
  await store.close();
  const check = async (backup: string, code: 'STORE_BACKUP_NOT_FOUND' | 'STORE_BACKUP_INVALID', pattern?: RegExp) => {
    await assert.rejects(restoreStore(url, backup), (err) => isDroverError(err, code) && (!pattern || pattern.test(err.message)));
  };
  await check(file('nothing.db'), 'STORE_BACKUP_NOT_FOUND');
  const text = file('notes.txt');
  writeFileSync(text, 'not a database at all');
  await check(text, 'STORE_BACKUP_INVALID', /neither/);
  const other = file('other.db');
  const foreign = new Database(other);
  foreign.exec('CREATE TABLE t (x)');
  foreign.close();
  await check(other, 'STORE_BACKUP_INVALID', /without a Drover schema/);
  const good = file('good.db');
  await backupStore(url, good);
  const damaged = file('damaged.db');
  const bytes = readFileSync(good);
  writeFileSync(damaged, bytes.subarray(0, 100));
  await check(damaged, 'STORE_BACKUP_INVALID');

  const reopened = await openStore(url);
  try {
    assert.equal((await reopened.hosts.list()).length, 1);
  } finally {
    await reopened.close();
  }
  // A backup of nothing leaves an earlier backup file in place.
  await assert.rejects(backupStore(`sqlite:${file('missing.db')}`, good), (err) => isDroverError(err, 'STORE_NOT_FOUND'));
  assert.deepEqual(readFileSync(good), bytes);
});

test('PostgreSQL: pg_dump backup and pg_restore restore, refused while a controller is connected, identity restored', async () => {
  const url = await server.createDatabase();
  const backup = file('backup.pgdump');
  const store = await openStore(url);
  await store.hosts.insert(sampleHost());
  await store.events.append(EVENT);
  await store.events.append(EVENT);
  const summary = await backupStore(url, backup);
  assert.equal(summary.engine, 'postgresql');
  assert.equal(summary.schemaVersion, PG_MIGRATIONS.at(-1)?.version);
  assert.equal(readFileSync(backup).subarray(0, 5).toString(), 'PGDMP');

  await store.hosts.insert(sampleHost({ id: 'host-2', name: 'beta' }));
  await store.hosts.update('host-1', { state: 'maintenance' });
  const lateEvent = await store.events.append(EVENT);
  await assert.rejects(restoreStore(url, backup), (err) => isDroverError(err, 'STORE_IN_USE'));
  await store.close();

  await restoreStore(url, backup);
  const restored = await openStore(url);
  try {
    assert.deepEqual((await restored.hosts.list()).map((h) => [h.name, h.state]), [['alpha', 'ready']]);
    assert.equal(await restored.events.append(EVENT), lateEvent);
  } finally {
    await restored.close();
  }

  // Also into a new, empty database.
  const fresh = await server.createDatabase();
  await restoreStore(fresh, backup);
  const copy = await openStore(fresh);
  try {
    assert.equal((await copy.hosts.list()).length, 1);
  } finally {
    await copy.close();
  }
});

test('a backup restores only into its own engine', async () => {
  const sqliteUrl = `sqlite:${file('controller.db')}`;
  await (await openStore(sqliteUrl)).close();
  const sqliteBackup = file('sqlite.backup');
  await backupStore(sqliteUrl, sqliteBackup);
  const pgUrl = await server.createDatabase();
  await (await openStore(pgUrl)).close();
  const pgBackup = file('pg.backup');
  await backupStore(pgUrl, pgBackup);
  await assert.rejects(restoreStore(pgUrl, sqliteBackup), (err) => isDroverError(err, 'STORE_BACKUP_INVALID') && /store copy/.test(err.message));
  await assert.rejects(restoreStore(sqliteUrl, pgBackup), (err) => isDroverError(err, 'STORE_BACKUP_INVALID'));
  assert.ok(existsSync(sqliteUrl.slice('sqlite:'.length)));
});
