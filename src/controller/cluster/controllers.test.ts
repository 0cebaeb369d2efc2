/** GET /cluster/controllers, in-process: the configured controllers with this one marked, or this one alone. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testController } from '../api/testing.js';
import { controllerUrlsFromEnvironment } from './controllers.js';

test('the controllers serving the cluster: configured, with the one that answered marked self', async (t) => {
  const controller = await testController({ controllerUrls: ['http://10.0.0.1:7700/', 'http://10.0.0.2:7700'] });
  t.after(() => controller.close());
  const res = await controller.app.inject({ method: 'GET', url: '/api/v1/cluster/controllers', headers: { ...controller.auth, host: '10.0.0.2:7700' } });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), {
    controllers: [
      { url: 'http://10.0.0.1:7700', self: false },
      { url: 'http://10.0.0.2:7700', self: true },
    ],
  });
  const anonymous = await controller.app.inject({ method: 'GET', url: '/api/v1/cluster/controllers' });
  assert.equal(anonymous.statusCode, 401, 'only for a signed-in client');
});

test('with no list configured, a controller names only itself, as the request reached it', async (t) => {
  const controller = await testController({ controllerUrls: [] });
  t.after(() => controller.close());
  const res = await controller.app.inject({ method: 'GET', url: '/api/v1/cluster/controllers', headers: { ...controller.auth, host: 'drover.example:8443' } });
  assert.deepEqual(res.json(), { controllers: [{ url: 'http://drover.example:8443', self: true }] });
});

test('DROVER_CONTROLLER_URLS is a comma-separated list; a malformed URL is refused', () => {
  assert.deepEqual(controllerUrlsFromEnvironment({ DROVER_CONTROLLER_URLS: 'http://a:7700, http://b:7700/' }), ['http://a:7700', 'http://b:7700']);
  assert.deepEqual(controllerUrlsFromEnvironment({}), []);
  assert.throws(() => controllerUrlsFromEnvironment({ DROVER_CONTROLLER_URLS: 'a:7700' }), /http:\/\//);
});
