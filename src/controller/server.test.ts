import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { SqliteStore } from './store/sqlite-store.js';
import { sampleOperation } from './store/fixtures.js';
import { startController } from './server.js';

test('first start prints and writes the admin token; a restart keeps it and resolves interrupted operations', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'drover-controller-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const printed: string[] = [];
  const options = { dataDir, port: 0, logger: pino({ level: 'silent' }), print: (line: string) => void printed.push(line) };

  const first = await startController(options);
  const secret = readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();
  assert.equal(first.adminToken.created, secret);
  assert.equal(printed.length, 1);
  assert.ok(printed[0]?.includes(secret));
  const listed = await fetch(`${first.address}/api/v1/tokens`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal(listed.status, 200);
  assert.equal((await fetch(`${first.address}/api/v1/tokens`)).status, 401);
  await first.close();

  // What a killed controller leaves behind: an operation still marked running.
  const store = SqliteStore.open(path.join(dataDir, 'controller.db'));
  await store.operations.insert(sampleOperation({ id: 'left-running', state: 'running', steps: [{ name: 'boot', state: 'running' }] }));
  await store.close();

  const second = await startController(options);
  t.after(() => second.close());
  assert.equal(second.adminToken.created, null);
  assert.equal(printed.length, 1);
  const op = await fetch(`${second.address}/api/v1/operations/left-running`, { headers: { authorization: `Bearer ${secret}` } });
  const body = (await op.json()) as { state: string; error: { code: string } };
  assert.deepEqual([body.state, body.error.code], ['failed', 'OPERATION_INTERRUPTED']);
});
