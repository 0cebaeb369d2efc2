import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { testController } from '../api/testing.js';

/** A stand-in for the built console: index.html and one hashed asset. */
function fakeBuild(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'drover-web-'));
  fs.mkdirSync(path.join(root, 'assets'));
  fs.writeFileSync(path.join(root, 'index.html'), '<!doctype html><div id="root"></div>');
  fs.writeFileSync(path.join(root, 'assets', 'index-abc123.js'), 'console.log(1)');
  return root;
}

test('the console is served without a token: pages fall back to index.html, assets are cached for good', async (t) => {
  const root = fakeBuild();
  const { app, close } = await testController({ webRoot: root });
  t.after(async () => {
    await close();
    fs.rmSync(root, { recursive: true, force: true });
  });
  for (const url of ['/', '/sign-in', '/vms/web', '/hosts/h1', '/events', '/operations', '/cluster']) {
    const res = await app.inject({ method: 'GET', url });
    assert.equal(res.statusCode, 200, url);
    assert.match(String(res.headers['content-type']), /^text\/html/);
    assert.match(res.body, /id="root"/);
    assert.match(String(res.headers['content-security-policy']), /default-src 'self'/);
    assert.equal(res.headers['cache-control'], 'no-cache');
  }
  const asset = await app.inject({ method: 'GET', url: '/assets/index-abc123.js' });
  assert.equal(asset.statusCode, 200);
  assert.match(String(asset.headers['cache-control']), /immutable/);
  assert.equal((await app.inject({ method: 'GET', url: '/assets/missing.js' })).statusCode, 404);
});

test('the public pages open nothing else: API, unknown and traversal URLs still need a token', async (t) => {
  const root = fakeBuild();
  const { app, close } = await testController({ webRoot: root });
  t.after(async () => {
    await close();
    fs.rmSync(root, { recursive: true, force: true });
  });
  for (const url of ['/api/v1/vms', '/api/v1/vms/web', '/metrics', '/vms/web/console', '/vms', '/nothing', '/index.html']) {
    assert.equal((await app.inject({ method: 'GET', url })).statusCode, 401, url);
  }
  const traversal = await app.inject({ method: 'GET', url: '/assets/..%2f..%2fcontroller.db' });
  assert.notEqual(traversal.statusCode, 200);
});

test('without a build, the pages say how to build the console and the API still works', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'drover-web-empty-'));
  const { app, auth, close } = await testController({ webRoot: root });
  t.after(async () => {
    await close();
    fs.rmSync(root, { recursive: true, force: true });
  });
  const res = await app.inject({ method: 'GET', url: '/' });
  assert.equal(res.statusCode, 503);
  assert.match(res.body, /scripts\/setup/);
  assert.equal((await app.inject({ method: 'GET', url: '/api/v1/vms', headers: auth })).statusCode, 200);
});
