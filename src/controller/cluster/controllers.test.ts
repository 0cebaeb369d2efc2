/** GET /cluster/controllers, in-process: the configured controllers with this one marked, or this one alone. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testController } from '../api/testing.js';
import { controllerList, controllerUrlsFromEnvironment } from './controllers.js';

test('the controllers serving the cluster: configured, with the one that answered marked self', async (t) => {
  const controller = await testController({ controllerUrls: ['http://10.0.0.1:7700/', 'http://10.0.0.2:7700'] });
  t.after(() => controller.close());
  const res = await controller.app.inject({ method: 'GET', url: '/api/v1/cluster/controllers', headers: { ...controller.auth, host: '10.0.0.2:7700' } });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), {
    controllers: [
      { url: 'http://10.0.0.1:7700', self: false, state: 'unknown', leader: false },
      { url: 'http://10.0.0.2:7700', self: true, state: 'unknown', leader: false },
    ],
    leader: null,
  });
  const anonymous = await controller.app.inject({ method: 'GET', url: '/api/v1/cluster/controllers' });
  assert.equal(anonymous.statusCode, 401, 'only for a signed-in client');
});

test('with no list configured, a controller names only itself, as the request reached it', async (t) => {
  const controller = await testController({ controllerUrls: [] });
  t.after(() => controller.close());
  const res = await controller.app.inject({ method: 'GET', url: '/api/v1/cluster/controllers', headers: { ...controller.auth, host: 'drover.example:8443' } });
  assert.deepEqual(res.json(), { controllers: [{ url: 'http://drover.example:8443', self: true, state: 'up', leader: false }], leader: null });
});

test('DROVER_CONTROLLER_URLS is a comma-separated list; a malformed URL is refused', () => {
  assert.deepEqual(controllerUrlsFromEnvironment({ DROVER_CONTROLLER_URLS: 'http://a:7700, http://b:7700/' }), ['http://a:7700', 'http://b:7700']);
  assert.deepEqual(controllerUrlsFromEnvironment({}), []);
  assert.throws(() => controllerUrlsFromEnvironment({ DROVER_CONTROLLER_URLS: 'a:7700' }), /http:\/\//);
});

test('registered controllers come from the store: up or down by their last refresh, the leader with its token and lease age', async (t) => {
  const controller = await testController({ controllerUrls: [] });
  t.after(() => controller.close());
  const now = Date.now();
  const iso = (ms: number) => new Date(now + ms).toISOString();
  await controller.store.controllers.put({ id: 'c-a', name: 'ctl-a', url: 'http://127.0.0.1:7700', version: '0.1.0', startedAt: iso(-60_000), lastSeenAt: iso(-1_000) });
  await controller.store.controllers.put({ id: 'c-b', name: 'ctl-b', url: 'http://127.0.0.1:7710', version: '0.1.0', startedAt: iso(-60_000), lastSeenAt: iso(-30_000) });
  await controller.store.leaderLease.put({ holder: 'c-a', token: 3, acquiredAt: iso(-50_000), renewedAt: iso(-1_000), expiresAt: iso(9_000) });
  const res = await controller.app.inject({ method: 'GET', url: '/api/v1/cluster/controllers', headers: controller.auth });
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json<{ controllers: Array<{ name: string; state: string; leader: boolean }>; leader: { name: string; token: number; leaseAgeMs: number; expired: boolean } }>();
  assert.deepEqual(body.controllers.map((c) => [c.name, c.state, c.leader]), [['ctl-a', 'up', true], ['ctl-b', 'down', false]]);
  assert.equal(body.leader.name, 'ctl-a');
  assert.equal(body.leader.token, 3);
  assert.equal(body.leader.expired, false);
  assert.ok(body.leader.leaseAgeMs >= 1000 && body.leader.leaseAgeMs < 5000, String(body.leader.leaseAgeMs));
});

test('down is judged by the lease the controllers run with, not the default one', async (t) => {
  const controller = await testController({ controllerUrls: [] });
  t.after(() => controller.close());
  const now = Date.now();
  const iso = (ms: number) => new Date(now + ms).toISOString();
  // Killed 5 s ago: with a 3 s lease renewed every 600 ms, the leader has already taken its operations.
  await controller.store.controllers.put({ id: 'c-a', name: 'ctl-a', url: 'http://127.0.0.1:7700', version: '0.1.0', startedAt: iso(-60_000), lastSeenAt: iso(-5_000) });
  const short = await controllerList(controller.store, null, [], 'http://127.0.0.1:7710', { leaseMs: 3_000, renewMs: 600 }, now);
  assert.deepEqual(short.controllers.map((c) => [c.name, c.state]), [['ctl-a', 'down']]);
  const defaults = await controllerList(controller.store, null, [], 'http://127.0.0.1:7710', undefined, now);
  assert.deepEqual(defaults.controllers.map((c) => [c.name, c.state]), [['ctl-a', 'up']], 'with the default 10 s lease it is not dead yet');
});
