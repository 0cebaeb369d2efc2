/**
 * `drover store copy` moves a running installation from its embedded SQLite store to PostgreSQL:
 * a controller runs on SQLite while the CLI copies its store, then a controller started on the
 * PostgreSQL copy, with the same data directory, serves the same VMs, events (same ids, so
 * `afterId` still means the same) and admin token. Records go in through the store: no QEMU needed.
 * The CLI runs from source (tsx), so no build is needed either.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { startController, type RunningController } from '../../src/controller/server.js';
import { sampleHost, sampleVm, T0 } from '../../src/controller/store/fixtures.js';
import { startLocalPostgres, type LocalPostgres } from '../../src/controller/store/postgres/local-server.js';
import { STORE_TABLES } from '../../src/controller/store/sql/repositories.js';
import type { EventWire } from '../../src/controller/events/schema.js';
import { repoRoot } from '../../src/shared/paths.js';
import { jsonApi } from '../helpers/http.js';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `drover ARGS` from source and returns its exit code and output. */
function drover(args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src', 'cli', 'main.ts'), ...args], {
      cwd: repoRoot,
      env: { ...process.env, DROVER_STORE: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let server: LocalPostgres;
let dir: string;
const controllers: RunningController[] = [];
before(async () => {
  server = await startLocalPostgres();
  dir = mkdtempSync(path.join(tmpdir(), 'drover-store-cli-'));
});
after(async () => {
  for (const controller of controllers) await controller.close().catch(() => undefined);
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function start(dataDir: string, store?: string): Promise<RunningController> {
  const controller = await startController({ dataDir, ...(store ? { store } : {}), port: 0, logger: pino({ level: 'silent' }), print: () => undefined });
  controllers.push(controller);
  return controller;
}

async function stop(controller: RunningController): Promise<void> {
  controllers.splice(controllers.indexOf(controller), 1);
  await controller.close();
}

test('drover store copy moves a running SQLite installation to PostgreSQL, and a controller on the copy carries on', async () => {
  const dataDir = path.join(dir, 'data');
  const pgUrl = await server.createDatabase();

  const old = await start(dataDir);
  const token = old.adminToken;
  const store = old.services.store;
  await store.hosts.insert(sampleHost());
  await store.vms.insert(sampleVm({ hostId: 'host-1', state: 'running', desiredState: 'running' }));
  await store.vms.insert(sampleVm({ id: 'vm-2', name: 'db' }));
  for (const action of ['vm.create', 'vm.start', 'vm.snapshot']) {
    await store.events.append({ time: T0, actor: 'admin', objectType: 'vm', objectId: 'vm-1', objectName: 'web', action, hostId: 'host-1', result: 'succeeded', requestId: null, detail: {} });
  }
  const secret = readFileSync(token.file, 'utf8').trim();
  const oldApi = jsonApi(old.address, secret);
  const before = await oldApi<{ events: EventWire[] }>('GET', '/api/v1/events?order=asc&limit=1000');
  assert.equal(before.status, 200);
  const cursor = before.body.events[1]?.id ?? 0;
  const afterCursor = (await oldApi<{ events: EventWire[] }>('GET', `/api/v1/events?order=asc&afterId=${cursor}&limit=1000`)).body.events;

  const copiedLease = store.leaderLease.get();
  // The copy runs while the old controller still has the SQLite file open.
  const copied = await drover(['store', 'copy', '--data-dir', dataDir, '--to', pgUrl, '-o', 'json']);
  assert.equal(copied.code, 0, copied.stderr);
  const summary = JSON.parse(copied.stdout) as { from: string; to: string; tables: Record<string, number> };
  assert.equal(summary.from, `sqlite:${path.join(dataDir, 'controller.db')}`);
  assert.equal(summary.tables.vms, 2);
  assert.equal(summary.tables.hosts, 1);
  assert.ok((summary.tables.events ?? 0) >= 3 && (summary.tables.tokens ?? 0) >= 1, JSON.stringify(summary.tables));
  assert.match(copied.stderr, /^hosts: 1 row$/m);
  assert.match(copied.stderr, /^vms: 2 rows$/m);
  assert.equal(copied.stderr.trim().split('\n').length, STORE_TABLES.length, copied.stderr);

  // A second copy onto the now-filled database is refused, with the code on stderr.
  const again = await drover(['store', 'copy', '--from', `sqlite:${path.join(dataDir, 'controller.db')}`, '--to', pgUrl, '-o', 'json']);
  assert.equal(again.code, 1);
  assert.equal((JSON.parse(again.stderr) as { code: string }).code, 'STORE_NOT_EMPTY');

  await stop(old);
  const moved = await start(dataDir, pgUrl);
  assert.equal(moved.adminToken.created, null, 'the admin token came across, so no new one is made');
  // The lease came across, so the fencing token goes on growing instead of starting again at 1.
  const oldToken = (await copiedLease)?.token ?? 0;
  assert.ok(oldToken >= 1);
  for (let tries = 0; ((await moved.services.store.leaderLease.get())?.token ?? 0) <= oldToken; tries++) {
    assert.ok(tries < 100, 'the controller on the copy took the lease with a newer token');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const api = jsonApi(moved.address, secret);
  const vms = await api<{ vms: { name: string; state: string }[] }>('GET', '/api/v1/vms');
  assert.equal(vms.status, 200);
  assert.deepEqual(vms.body.vms.map((vm) => vm.name).sort(), ['db', 'web']);
  const events = await api<{ events: EventWire[] }>('GET', '/api/v1/events?order=asc&limit=1000');
  assert.deepEqual(events.body.events.slice(0, before.body.events.length), before.body.events);
  assert.deepEqual((await api<{ events: EventWire[] }>('GET', `/api/v1/events?order=asc&afterId=${cursor}&limit=${afterCursor.length}`)).body.events, afterCursor);

  // The controller on PostgreSQL numbers its own new events after the copied ones.
  const lastCopied = Math.max(...events.body.events.map((e) => e.id));
  assert.equal((await api('POST', '/api/v1/tokens', { name: 'after-move' })).status, 201);
  const newest = await api<{ events: EventWire[] }>('GET', `/api/v1/events?afterId=${lastCopied}&order=asc`);
  assert.deepEqual(newest.body.events.map((e) => e.action), ['token.create']);
  assert.ok((newest.body.events[0]?.id ?? 0) > lastCopied);

  // The PostgreSQL store backs up from the command line while its controller runs.
  const backup = path.join(dir, 'after-move.pgdump');
  const backedUp = await drover(['store', 'backup', backup, '--store', pgUrl, '-o', 'json']);
  assert.equal(backedUp.code, 0, backedUp.stderr);
  assert.equal((JSON.parse(backedUp.stdout) as { engine: string }).engine, 'postgresql');
  const refused = await drover(['store', 'restore', backup, '--store', pgUrl]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^error STORE_IN_USE: /);
});
