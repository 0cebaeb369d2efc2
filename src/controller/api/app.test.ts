import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InjectOptions } from 'fastify';
import { ERRORS } from '../../shared/errors.js';
import { DOMAINS } from './domains.js';
import { testController, type TestController } from './testing.js';

type Doc = { paths: Record<string, Record<string, { security?: unknown[]; operationId?: string }>> };

/** Every operation in the served OpenAPI document, with a concrete URL. */
async function documentedRoutes(controller: TestController) {
  const doc = (await controller.app.inject({ method: 'GET', url: '/openapi.json' })).json<Doc>();
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      method: method.toUpperCase() as 'GET' | 'POST' | 'DELETE',
      url: path.replace(/\{[^}]+\}/g, 'x'),
      isPublic: Array.isArray(op.security) && op.security.length === 0,
      operationId: op.operationId,
    })),
  );
}

test('no token, a wrong token, a malformed header and a revoked token are 401 on every documented route', async (t) => {
  const controller = await testController();
  t.after(() => controller.close());
  const { app, services } = controller;
  const { secret: revoked } = await services.tokens.create('gone', { name: 'admin' });
  await services.tokens.revoke('gone', { name: 'admin' });
  const routes = await documentedRoutes(controller);
  const ids = routes.map((r) => r.operationId).sort();
  // Every domain's routes are documented, so the loop below covers them all.
  for (const id of [
    'cancelOperation', 'createToken', 'getOperation', 'health', 'listOperations', 'listTokens',
    'openapi', 'queryEvents', 'revokeToken', 'streamEvents', 'streamEventsWebSocket', 'metrics',
    'listHosts', 'getHost', 'listImages', 'importImage', 'deleteImage', 'listVms', 'createVm', 'getVm',
    'startVm', 'stopVm', 'killVm', 'rebootVm', 'pauseVm', 'resumeVm', 'deleteVm', 'execInVm', 'cloneVm',
    'listSnapshots', 'createSnapshot', 'revertSnapshot', 'deleteSnapshot', 'getConsoleLog', 'attachConsole', 'waitVmReady',
    'createJoinToken', 'joinHost', 'migrateVm', 'getVmHistory', 'getVmPlacementAt',
    'enterHostMaintenance', 'exitHostMaintenance', 'balanceCluster', 'getBalanceSchedule', 'setBalanceSchedule',
    'getHostFence', 'setHostFence', 'removeHostFence', 'testHostFence',
  ]) {
    assert.ok(ids.includes(id), `${id} is documented`);
  }
  // Joining takes a join token instead of an API token (hosts/join.test.ts holds it to that); a lease renewal the
  // host's lease credential (ha/lease.test.ts).
  assert.deepEqual(routes.filter((r) => r.isPublic).map((r) => `${r.method} ${r.url}`).sort(), ['GET /healthz', 'GET /openapi.json', 'POST /api/v1/ha/lease', 'POST /api/v1/hosts/join']);
  const badCredentials: Record<string, string | undefined> = {
    none: undefined,
    wrong: `Bearer drv_${'A'.repeat(43)}`,
    malformed: 'Basic YWRtaW46YWRtaW4=',
    empty: 'Bearer ',
    revoked: `Bearer ${revoked}`,
  };
  for (const route of routes.filter((r) => !r.isPublic)) {
    for (const [kind, authorization] of Object.entries(badCredentials)) {
      const headers = authorization === undefined ? {} : { authorization };
      const res = await app.inject({ method: route.method, url: route.url, headers, payload: route.method === 'POST' ? {} : undefined });
      assert.equal(res.statusCode, 401, `${kind} on ${route.method} ${route.url}`);
      assert.equal(res.json().code, 'UNAUTHORIZED');
      assert.match(String(res.headers['www-authenticate']), /^Bearer/);
    }
  }
  for (const route of routes.filter((r) => r.isPublic && r.method === 'GET')) {
    assert.equal((await app.inject({ method: route.method, url: route.url })).statusCode, 200, route.url);
  }
  for (const [kind, authorization] of Object.entries(badCredentials)) {
    const headers = authorization === undefined ? {} : { authorization };
    const res = await app.inject({ method: 'POST', url: '/api/v1/hosts/join', headers, payload: {} });
    assert.equal(res.statusCode, 401, `${kind} on the join route`);
  }
});

test('unknown routes are 401 without a token and 404 NOT_FOUND with one', async (t) => {
  const { app, auth, close } = await testController();
  t.after(close);
  assert.equal((await app.inject({ method: 'GET', url: '/api/v1/nothing' })).statusCode, 401);
  const res = await app.inject({ method: 'PUT', url: '/api/v1/nothing', headers: auth });
  assert.equal(res.statusCode, 404);
  assert.equal(res.json().code, 'NOT_FOUND');
});

test('bad input is a coded 4xx naming the field, never a 500', async (t) => {
  const { app, auth, close } = await testController({ bodyLimit: 4096 });
  t.after(close);
  const json = { ...auth, 'content-type': 'application/json' };
  const cases: [string, InjectOptions, number, string, string?][] = [
    ['wrong type', { method: 'POST', url: '/api/v1/tokens', headers: auth, payload: { name: 'ok', role: 5 } }, 400, 'INVALID_ARGUMENT', 'body.role'],
    ['name of the wrong type', { method: 'POST', url: '/api/v1/tokens', headers: auth, payload: { name: 5 } }, 400, 'INVALID_NAME', 'body.name'],
    ['bad name', { method: 'POST', url: '/api/v1/tokens', headers: auth, payload: { name: 'No' } }, 400, 'INVALID_NAME', 'body.name'],
    ['unknown field', { method: 'POST', url: '/api/v1/tokens', headers: auth, payload: { name: 'ok', admin: true } }, 400, 'INVALID_ARGUMENT', 'body.admin'],
    ['missing field', { method: 'POST', url: '/api/v1/tokens', headers: auth, payload: {} }, 400, 'INVALID_ARGUMENT', 'body.name'],
    ['unknown role', { method: 'POST', url: '/api/v1/tokens', headers: auth, payload: { name: 'ok', role: 'root' } }, 400, 'INVALID_ARGUMENT', 'body.role'],
    ['not JSON', { method: 'POST', url: '/api/v1/tokens', headers: json, payload: '{"name":' }, 400, 'INVALID_ARGUMENT'],
    ['empty JSON', { method: 'POST', url: '/api/v1/tokens', headers: json, payload: '' }, 400, 'INVALID_ARGUMENT', 'body'],
    ['array body', { method: 'POST', url: '/api/v1/tokens', headers: json, payload: '[]' }, 400, 'INVALID_ARGUMENT', 'body'],
    ['prototype poisoning', { method: 'POST', url: '/api/v1/tokens', headers: json, payload: '{"__proto__":{"a":1},"name":"x"}' }, 400, 'INVALID_ARGUMENT'],
    ['not JSON at all', { method: 'POST', url: '/api/v1/tokens', headers: { ...auth, 'content-type': 'text/plain' }, payload: 'name=x' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['too large', { method: 'POST', url: '/api/v1/tokens', headers: auth, payload: { name: 'x'.repeat(10_000) } }, 413, 'PAYLOAD_TOO_LARGE'],
    ['bad query type', { method: 'GET', url: '/api/v1/operations?limit=many', headers: auth }, 400, 'INVALID_ARGUMENT', 'querystring.limit'],
    ['query out of range', { method: 'GET', url: '/api/v1/events?limit=100000', headers: auth }, 400, 'INVALID_ARGUMENT', 'querystring.limit'],
    ['unknown query', { method: 'GET', url: '/api/v1/events?colour=red', headers: auth }, 400, 'INVALID_ARGUMENT', 'querystring.colour'],
    ['bad date', { method: 'GET', url: '/api/v1/events?since=yesterday', headers: auth }, 400, 'INVALID_ARGUMENT', 'querystring.since'],
    ['repeated query', { method: 'GET', url: '/api/v1/events?vm=a&vm=b', headers: auth }, 400, 'INVALID_ARGUMENT', 'querystring.vm'],
    ['bad URL escape', { method: 'GET', url: '/api/v1/operations/%zz', headers: auth }, 400, 'INVALID_ARGUMENT'],
    ['unknown operation', { method: 'POST', url: '/api/v1/operations/nope/cancel', headers: auth }, 404, 'OPERATION_NOT_FOUND'],
    ['huge id', { method: 'GET', url: `/api/v1/operations/${'9'.repeat(300)}`, headers: auth }, 400, 'INVALID_ARGUMENT'],
    ['long id', { method: 'GET', url: `/api/v1/operations/${'9'.repeat(99)}`, headers: auth }, 404, 'OPERATION_NOT_FOUND'],
    ['unknown token', { method: 'DELETE', url: '/api/v1/tokens/nobody', headers: auth }, 404, 'TOKEN_NOT_FOUND'],
    ['WebSocket route without upgrade', { method: 'GET', url: '/api/v1/events/ws', headers: auth }, 400, 'INVALID_ARGUMENT'],
  ];
  for (const [name, request, status, code, field] of cases) {
    const res = await app.inject(request);
    assert.equal(res.statusCode, status, `${name}: ${res.body}`);
    const body = res.json<{ code: string; message: string; field?: string }>();
    assert.equal(body.code, code, name);
    assert.equal(body.message, ERRORS[code as keyof typeof ERRORS].message, name);
    if (field) assert.equal(body.field, field, name);
  }
});

test('every mutating route records an event with the actor and the request id', async (t) => {
  const { app, auth, services, close } = await testController();
  t.after(close);
  const created = await app.inject({ method: 'POST', url: '/api/v1/tokens', headers: auth, payload: { name: 'ci' } });
  assert.equal(created.statusCode, 201);
  const revoked = await app.inject({ method: 'DELETE', url: '/api/v1/tokens/ci', headers: auth });
  assert.equal(revoked.statusCode, 200);
  const op = await services.operations.start({
    kind: 'start',
    target: { type: 'vm', id: 'vm-1' },
    actor: { name: 'admin' },
    work: (ctx) => new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error))),
  });
  const cancelled = await app.inject({ method: 'POST', url: `/api/v1/operations/${op.id}/cancel`, headers: auth });
  assert.equal(cancelled.statusCode, 202);
  for (const [res, action, result] of [
    [created, 'token.create', 'succeeded'],
    [revoked, 'token.revoke', 'succeeded'],
    [cancelled, 'vm.start', 'cancel-requested'],
  ] as const) {
    const requestId = String(res.headers['x-request-id']);
    const events = (await services.events.query({ limit: 100 })).filter((e) => e.requestId === requestId);
    assert.deepEqual(events.map((e) => [e.action, e.actor, e.result]), [[action, 'admin', result]], action);
  }
});

test('a mutating route that forgets its event still leaves a generic one', async (t) => {
  const { app, auth, services, close } = await testController({
    domains: [
      ...DOMAINS,
      {
        name: 'forgetful',
        routes: async (scope) => {
          scope.post('/forgetful', async () => ({ changed: true }));
        },
      },
    ],
  });
  t.after(close);
  const res = await app.inject({ method: 'POST', url: '/api/v1/forgetful', headers: auth });
  assert.equal(res.statusCode, 200);
  const [event] = await services.events.query({ limit: 1 });
  assert.deepEqual([event?.action, event?.actor, event?.requestId], ['api.post', 'admin', res.headers['x-request-id']]);
  assert.deepEqual(event?.detail, { route: 'POST /api/v1/forgetful', status: 200 });
});

test('a dry run changes nothing and so leaves no event', async (t) => {
  const { app, auth, services, close } = await testController();
  t.after(close);
  const before = (await services.events.query({ limit: 1000 })).length;
  const res = await app.inject({ method: 'POST', url: '/api/v1/balance', headers: auth, payload: { dryRun: true } });
  assert.equal(res.statusCode, 200, res.body);
  assert.equal((await services.events.query({ limit: 1000 })).length, before);
});

test('the OpenAPI document describes parameters, bodies, responses and the error table', async (t) => {
  const { app, close } = await testController();
  t.after(close);
  const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
  assert.equal(doc.openapi, '3.1.0');
  const create = doc.paths['/api/v1/tokens'].post;
  assert.deepEqual(create.requestBody.content['application/json'].schema.required, ['name']);
  assert.equal(create.requestBody.content['application/json'].schema.additionalProperties, false);
  assert.deepEqual(create.responses['4XX'].content['application/json'].schema, { $ref: '#/components/schemas/Error' });
  assert.ok(create.responses['201']);
  const get = doc.paths['/api/v1/operations/{id}'].get;
  assert.deepEqual(get.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`), ['path:id', 'query:wait']);
  assert.ok(doc.paths['/api/v1/events/stream'].get.responses['200'].content['text/event-stream']);
  assert.deepEqual(doc['x-drover-error-codes'].TOKEN_NOT_FOUND, ERRORS.TOKEN_NOT_FOUND);
  assert.ok(!JSON.stringify(doc).includes('~kind'));
});
