/** Joining with several controller URLs, against a stand-in controller (a loopback HTTP server) and a closed port. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { closedPort } from '../shared/network-test-support.js';
import { alreadyJoined, joinController } from './join.js';

test('a join moves on to the second controller URL when the first refuses, and a restart with a changed list is still joined', async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'drover-join-'));
  t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const joins: string[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      joins.push(`${req.method} ${req.url} ${req.headers.authorization}`);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const up = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const down = `http://127.0.0.1:${await closedPort()}`;
  const options = { controller: `${down},${up}`, joinToken: 'drvj_test', name: 'alpha' };

  assert.equal(alreadyJoined(dataDir, options), false);
  await joinController({ ...options, address: 'http://127.0.0.1:7701', agentToken: 'drva_test', dataDir });
  assert.deepEqual(joins, ['POST /api/v1/hosts/join Bearer drvj_test']);
  assert.equal(alreadyJoined(dataDir, options), true);
  assert.equal(alreadyJoined(dataDir, { ...options, controller: `${up},http://127.0.0.1:1` }), true, 'any URL in common: the controllers share the host list');
  assert.equal(alreadyJoined(dataDir, { ...options, controller: 'http://127.0.0.1:1' }), false, 'another cluster');
  assert.equal(alreadyJoined(dataDir, { ...options, name: 'beta' }), false);
});
