/** Moving between controller URLs, against stand-in controllers: loopback HTTP servers and closed ports. */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ControllerUrls, parseControllerUrls } from './controller-urls.js';
import { isDroverError } from './errors.js';
import { closedPort, silentUrl } from './network-test-support.js';

type Behaviour = 'answer' | 'drop' | 'hang' | 'store-down' | 'host-503';

/** A stand-in controller: `behaviour` says what it does with each request; `requests` counts them. */
async function standIn(t: TestContext, name: string, behaviour: Behaviour = 'answer'): Promise<{ url: string; requests: string[]; behaviour: Behaviour }> {
  const state = { url: '', requests: [] as string[], behaviour };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      state.requests.push(`${req.method} ${req.url}`);
      switch (state.behaviour) {
        case 'answer':
          return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ from: name }));
        case 'drop':
          return void req.socket.destroy();
        case 'hang':
          return;
        case 'store-down':
          return void res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'STORE_UNAVAILABLE', message: 'store down' }));
        case 'host-503':
          return void res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'HOST_UNREACHABLE', message: 'agent down' }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

test('parseControllerUrls splits on commas, trims, drops trailing slashes and repeats, and refuses what is not http(s)', () => {
  assert.deepEqual(parseControllerUrls(' http://a:7700/, http://b:7700 ,,http://a:7700'), ['http://a:7700', 'http://b:7700']);
  assert.deepEqual(parseControllerUrls(['http://a:1', 'https://b:2,http://c:3']), ['http://a:1', 'https://b:2', 'http://c:3']);
  assert.throws(() => parseControllerUrls(''), (err) => isDroverError(err, 'INVALID_ARGUMENT'));
  assert.throws(() => parseControllerUrls('a:7700'), /http:\/\//);
  assert.throws(() => parseControllerUrls('http://a:1,not a url'), /not a URL/);
});

test('a refused first URL moves every method on to the second, which is then tried first', async (t) => {
  const second = await standIn(t, 'second');
  const controllers = new ControllerUrls(`http://127.0.0.1:${await closedPort()},${second.url}`);
  const res = await controllers.fetch({ method: 'POST', path: '/api/v1/vms', headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { from: 'second' });
  assert.deepEqual(second.requests, ['POST /api/v1/vms'], 'a refused connection never delivered the POST, so it went on');
  assert.equal(controllers.current, second.url);
  assert.deepEqual(controllers.order(), [second.url, controllers.urls[0]]);
});

test('a URL that does not connect within the connect timeout is passed over, even for a POST, and sticks no more', async (t) => {
  const silent = await silentUrl(t);
  const second = await standIn(t, 'second');
  const controllers = new ControllerUrls([silent, second.url], { connectTimeoutMs: 200 });
  const startedAt = Date.now();
  const res = await controllers.fetch({ method: 'POST', path: '/api/v1/vms', body: '{}' });
  assert.deepEqual(await res.json(), { from: 'second' });
  assert.ok(Date.now() - startedAt < 1_500, `the silent URL cost its connect timeout, not the kernel's (${Date.now() - startedAt} ms)`);
  assert.equal(controllers.current, second.url);

  const alone = new ControllerUrls(silent, { connectTimeoutMs: 200 });
  await assert.rejects(alone.fetch({ method: 'GET', path: '/healthz' }), new RegExp(`${silent} did not accept a connection within 200 ms`));
});

test('a POST whose connection dropped after it was sent is not sent to another controller; a GET is', async (t) => {
  const first = await standIn(t, 'first', 'drop');
  const second = await standIn(t, 'second');
  const controllers = new ControllerUrls([first.url, second.url]);
  await assert.rejects(controllers.fetch({ method: 'POST', path: '/api/v1/vms/web/start', body: '' }), (err) => {
    assert.ok(isDroverError(err, 'CONTROLLER_UNREACHABLE'));
    assert.match(err.detail ?? '', new RegExp(`${first.url} was reset after the request was sent`));
    assert.match(err.detail ?? '', /not sent to another controller/);
    return true;
  });
  assert.deepEqual(first.requests, ['POST /api/v1/vms/web/start']);
  assert.deepEqual(second.requests, [], 'the POST may have been carried out: never twice');
  for (const method of ['DELETE', 'PATCH']) await assert.rejects(controllers.fetch({ method, path: '/api/v1/vms/web' }), /may have been carried out/);
  assert.equal(second.requests.length, 0);

  const res = await controllers.fetch({ method: 'GET', path: '/api/v1/vms' });
  assert.deepEqual(await res.json(), { from: 'second' });
  assert.deepEqual(second.requests, ['GET /api/v1/vms']);
  const renewal = await controllers.fetch({ method: 'POST', path: '/api/v1/ha/lease', idempotent: true });
  assert.equal(renewal.status, 200, 'a POST its caller marks idempotent may be sent again');
});

test('a POST that times out waiting for its answer fails with the timeout, and is not sent elsewhere', async (t) => {
  const first = await standIn(t, 'first', 'hang');
  const second = await standIn(t, 'second');
  const controllers = new ControllerUrls([first.url, second.url]);
  await assert.rejects(controllers.fetch({ method: 'POST', path: '/api/v1/tokens', body: '{}', signal: AbortSignal.timeout(300) }), { name: 'TimeoutError' });
  assert.equal(first.requests.length, 1);
  assert.equal(second.requests.length, 0);
});

test('with an answer timeout, a hung controller is passed over for an idempotent request only', async (t) => {
  const first = await standIn(t, 'first', 'hang');
  const second = await standIn(t, 'second');
  const controllers = new ControllerUrls([first.url, second.url]);
  const res = await controllers.fetch({ method: 'POST', path: '/api/v1/ha/lease', idempotent: true, answerTimeoutMs: 200, body: '{}' });
  assert.deepEqual(await res.json(), { from: 'second' });
  assert.equal(controllers.current, second.url);

  const stuck = new ControllerUrls([first.url, second.url]);
  await assert.rejects(stuck.fetch({ method: 'POST', path: '/api/v1/vms', answerTimeoutMs: 200, body: '{}', signal: AbortSignal.timeout(600) }), { name: 'TimeoutError' });
  assert.equal(second.requests.length, 1, 'a POST is never sent on after it was delivered');
});

test('a 503 saying the store is unavailable moves a GET on, but is a POST\'s answer; any other 503 stands', async (t) => {
  const first = await standIn(t, 'first', 'store-down');
  const second = await standIn(t, 'second');
  const controllers = new ControllerUrls([first.url, second.url]);
  const write = await controllers.fetch({ method: 'POST', path: '/api/v1/vms', body: '{}' });
  assert.equal(write.status, 503, 'a write cut off mid-commit may have landed: it is not sent again');
  assert.equal(((await write.json()) as { code: string }).code, 'STORE_UNAVAILABLE');
  assert.equal(second.requests.length, 0);
  const read = await controllers.fetch({ method: 'GET', path: '/api/v1/vms' });
  assert.deepEqual(await read.json(), { from: 'second' }, 'a read goes to a controller that reaches the store');
  assert.equal(first.requests.length, 2);

  const other = new ControllerUrls([(await standIn(t, 'third', 'host-503')).url, second.url]);
  const answer = await other.fetch({ method: 'GET', path: '/api/v1/hosts/h1' });
  assert.equal(answer.status, 503);
  assert.deepEqual(await answer.json(), { code: 'HOST_UNREACHABLE', message: 'agent down' }, 'the body is still there for the caller');
  assert.equal(second.requests.length, 1, 'a 503 about something else is the controller\'s answer');
});

test('when every URL fails, CONTROLLER_UNREACHABLE names each and why', async (t) => {
  const refused = `http://127.0.0.1:${await closedPort()}`;
  const storeDown = await standIn(t, 'down', 'store-down');
  const controllers = new ControllerUrls([refused, storeDown.url]);
  await assert.rejects(controllers.fetch({ method: 'GET', path: '/api/v1/vms' }), (err) => {
    assert.ok(isDroverError(err, 'CONTROLLER_UNREACHABLE'));
    assert.equal(err.status, 503);
    assert.match(err.detail ?? '', new RegExp(`${refused} refused the connection`));
    assert.match(err.detail ?? '', new RegExp(`${storeDown.url} answered 503 STORE_UNAVAILABLE`));
    return true;
  });
});
