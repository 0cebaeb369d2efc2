/**
 * Property test: thousands of generated bad requests against the mutating routes. None may be
 * answered with a 5xx, every error must carry a code from the table, and a rejected request must
 * leave the store exactly as it was.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InjectOptions } from 'fastify';
import fc from 'fast-check';
import { ERRORS } from '../../shared/errors.js';
import { sampleHost } from '../store/fixtures.js';
import { testController, type TestController } from './testing.js';



/** Everything a request could change, minus lastUsedAt (a usage hint, not a change it makes). */
async function snapshot({ store }: TestController): Promise<string> {
  const tokens = (await store.tokens.list()).map(({ lastUsedAt: _lastUsedAt, ...rest }) => rest);
  const operations = await store.operations.list({ limit: 1_000_000 });
  const [lastEvent] = await store.events.query({ order: 'desc', limit: 1 });
  const hosts = await store.hosts.list();
  const networks = await store.networks.list();
  return JSON.stringify({ tokens, operations, hosts, networks, lastEvent: lastEvent?.id ?? 0 });
}

const hugeString = fc.string({ minLength: 20_000, maxLength: 40_000 });
const oddString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.constantFrom('', ' ', 'admin', 'ci', 'A', '-a', 'a'.repeat(64), 'null', '0', '../x', 'a\u0000b', '__proto__', 'constructor'),
  fc.string({ minLength: 60, maxLength: 300 }),
);
/** Bodies: arbitrary JSON, the right shape with wrong types, unknown fields, huge values. */
const body = fc.oneof(
  fc.jsonValue(),
  fc.record({ name: fc.oneof(oddString, fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string()), fc.object()) }, { requiredKeys: [] }),
  fc.record({ name: oddString, role: fc.oneof(oddString, fc.integer(), fc.constant(null)) }),
  fc.tuple(fc.string({ minLength: 1, maxLength: 20 }), fc.jsonValue()).map(([key, value]) => ({ name: 'valid-name', [key]: value })),
  hugeString.map((name) => ({ name })),
  // Well-formed but refused by the service: the name is taken, or valid with a bad role.
  fc.record({ name: fc.constantFrom('ci', 'admin', 'fuzzer') }),
  fc.record({ name: fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/), role: fc.constantFrom('root', 'Admin', '', 'admin ') }),
);
/** Raw payloads: JSON text, broken JSON, prototype poisoning, huge text. */
const rawPayload = fc.oneof(
  body.map((value) => JSON.stringify(value) ?? 'null'),
  fc.string(),
  fc.constantFrom('{', '{"name":', '{"__proto__":{"polluted":1},"name":"x"}', '{"constructor":{"prototype":{"x":1}}}', '\u0000', '[]', '""'),
  hugeString,
);
const contentType = fc.constantFrom(undefined, 'application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data', 'application/jsonx', '');
/** Path segments: encoded junk, long ids, bad escapes, ids that exist. */
const segment = (existing: string[]) =>
  fc.oneof(
    oddString.map(encodeURIComponent),
    fc.constantFrom('%', '%zz', '%00', '%2F', '..', '.', 'x'.repeat(150)),
    fc.constantFrom(...existing),
  );

test('thousands of generated bad requests to the mutating routes: never a 5xx, never a change when rejected', { timeout: 300_000 }, async (t) => {
  const controller = await testController({ bodyLimit: 16 * 1024 });
  t.after(() => controller.close());
  const { app, services } = controller;
  const { secret } = await services.tokens.create('fuzzer', { name: 'admin' });
  const headers = { authorization: `Bearer ${secret}` };
  await services.tokens.create('ci', { name: 'admin' });
  await controller.store.hosts.insert(sampleHost({ id: 'h-alpha', name: 'alpha' }));
  const finished = await services.operations.start({ kind: 'start', target: { type: 'vm', id: 'vm-1' }, actor: { name: 'admin' }, work: async () => undefined });
  await services.operations.wait(finished.id, 5000);
  let running!: () => void;
  const isRunning = new Promise<void>((resolve) => (running = resolve));
  const hanging = await services.operations.start({
    kind: 'stop',
    target: { type: 'vm', id: 'vm-2' },
    actor: { name: 'admin' },
    work: (ctx) =>
      new Promise((_resolve, reject) => {
        running();
        ctx.signal.addEventListener('abort', () => reject(new Error('cancelled')));
      }),
  });
  // The operation changes state on its own until it runs; only requests may change it after.
  await isRunning;
  const ids = [finished.id, hanging.id, 'ci', 'admin'];

  const request = fc.oneof(
    fc.record({ payload: fc.oneof(body.map((b) => JSON.stringify(b) ?? 'null'), rawPayload), type: contentType }).map(
      ({ payload, type }): InjectOptions => ({ method: 'POST', url: '/api/v1/tokens', payload, headers: { ...headers, ...(type === undefined ? {} : { 'content-type': type }) } }),
    ),
    fc.record({ name: segment(ids), payload: fc.option(rawPayload, { nil: undefined }) }).map(
      ({ name, payload }): InjectOptions => ({ method: 'DELETE', url: `/api/v1/tokens/${name}`, headers: { ...headers, 'content-type': 'application/json' }, payload }),
    ),
    fc.record({ id: segment(ids), payload: fc.option(rawPayload, { nil: undefined }), type: contentType }).map(
      ({ id, payload, type }): InjectOptions => ({
        method: 'POST',
        url: `/api/v1/operations/${id}/cancel`,
        payload,
        headers: { ...headers, ...(type === undefined ? {} : { 'content-type': type }) },
      }),
    ),
    fc.record({ host: segment(['alpha']), step: fc.constantFrom('enter', 'exit'), payload: fc.option(rawPayload, { nil: undefined }), type: contentType }).map(
      ({ host, step, payload, type }): InjectOptions => ({
        method: 'POST',
        url: `/api/v1/hosts/${host}/maintenance/${step}`,
        payload,
        headers: { ...headers, ...(type === undefined ? {} : { 'content-type': type }) },
      }),
    ),
    fc.record({
      payload: fc.oneof(
        rawPayload,
        fc
          .record({ name: fc.oneof(oddString, fc.constantFrom('blue', 'red')), subnet: fc.oneof(oddString, fc.constantFrom('10.61.0.0/24', '10.61.0.5/24', '10.0.0.0/8', '1.2.3.4/33', '10.70.0.0/30')), vni: fc.oneof(fc.integer(), fc.constant(1)), mtu: fc.integer() }, { requiredKeys: [] })
          .map((b) => JSON.stringify(b)),
      ),
      type: contentType,
    }).map(({ payload, type }): InjectOptions => ({ method: 'POST', url: '/api/v1/networks', payload, headers: { ...headers, ...(type === undefined ? {} : { 'content-type': type }) } })),
    fc.record({ name: segment(['blue', 'red']), payload: fc.option(rawPayload, { nil: undefined }) }).map(
      ({ name, payload }): InjectOptions => ({ method: 'DELETE', url: `/api/v1/networks/${name}`, headers: { ...headers, 'content-type': 'application/json' }, payload }),
    ),
    fc.record({
      host: segment(['alpha']),
      payload: fc.oneof(
        rawPayload,
        fc
          .record(
            {
              agent: fc.oneof(oddString, fc.constantFrom('fence_drover_simulated', 'fence_no_such_agent', 'fence_', 'FENCE_X', 'fence_x;id')),
              options: fc.oneof(
                fc.jsonValue(),
                fc.dictionary(
                  fc.oneof(oddString, fc.constantFrom('plug', 'state-dir', 'state_dir', 'simulate', 'password', 'action', 'ipmitool_path', 'help', 'Plug', 'colour')),
                  fc.oneof(oddString, fc.integer(), fc.constantFrom('alpha', '/tmp', 'hang', 'sometimes', ' padded ', '"quoted"', 'a\nb')),
                ),
              ),
            },
            { requiredKeys: [] },
          )
          .map((b) => JSON.stringify(b)),
      ),
      type: contentType,
    }).map(({ host, payload, type }): InjectOptions => ({ method: 'PUT', url: `/api/v1/hosts/${host}/fence`, payload, headers: { ...headers, ...(type === undefined ? {} : { 'content-type': type }) } })),
    fc.record({ host: segment(['alpha']), payload: fc.option(rawPayload, { nil: undefined }) }).map(
      ({ host, payload }): InjectOptions => ({ method: 'DELETE', url: `/api/v1/hosts/${host}/fence`, headers: { ...headers, 'content-type': 'application/json' }, payload }),
    ),
    fc.record({ path: fc.constantFrom('/api/v1/balance', '/api/v1/balance/schedule'), payload: rawPayload, type: contentType }).map(
      ({ path, payload, type }): InjectOptions => ({
        method: path.endsWith('schedule') ? 'PUT' : 'POST',
        url: path,
        payload,
        headers: { ...headers, ...(type === undefined ? {} : { 'content-type': type }) },
      }),
    ),
  );

  let rejected = 0;
  await fc.assert(
    fc.asyncProperty(request, async (injection) => {
      // Revoking the fuzzer's own token would turn every later request into a 401.
      fc.pre(!String(injection.url).endsWith('/tokens/fuzzer'));
      const before = await snapshot(controller);
      const res = await app.inject(injection);
      assert.ok(res.statusCode < 500, `${res.statusCode} for ${injection.method} ${injection.url}: ${res.body}`);
      if (res.statusCode < 400) {
        // An accepted cancel rolls back in the background; let it settle before the next request.
        if (injection.url === `/api/v1/operations/${hanging.id}/cancel`) await services.operations.wait(hanging.id, 60_000);
        // An accepted evacuation or balancing run finishes in the background; likewise.
        const started = res.statusCode === 202 ? res.json<{ operation?: { id: string } }>().operation : undefined;
        if (started) await services.operations.wait(started.id, 60_000);
        return;
      }
      rejected++;
      const error = res.json<{ code: string; message: string }>();
      assert.ok(error.code in ERRORS, `unknown code ${error.code}`);
      assert.equal(error.message, ERRORS[error.code as keyof typeof ERRORS].message);
      assert.equal(await snapshot(controller), before, `${injection.method} ${injection.url} was rejected (${error.code}) but changed the store`);
    }),
    { numRuns: 3000 },
  );
  assert.ok(rejected > 2500, `only ${rejected} requests were rejected; the generators are too tame`);
});

test('generated bad queries to the read routes are 4xx, never 5xx', { timeout: 120_000 }, async (t) => {
  const controller = await testController();
  t.after(() => controller.close());
  const { app, auth } = controller;
  const key = fc.constantFrom('vm', 'host', 'actor', 'since', 'until', 'afterId', 'beforeId', 'order', 'limit', 'state', 'targetType', 'targetId', 'wait', 'after', 'type', 'x');
  const query = fc
    .array(fc.tuple(key, fc.oneof(oddString, fc.integer().map(String), fc.double().map(String), fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.string().map((s) => Buffer.from(`vm1:${s}`).toString('base64url')))), { maxLength: 4 })
    .map((pairs) => pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&'));
  const url = fc.tuple(fc.constantFrom('/api/v1/events', '/api/v1/operations', '/api/v1/operations/x', '/api/v1/tokens', '/api/v1/vms'), query).map(([path, q]) => `${path}?${q}`);
  await fc.assert(
    fc.asyncProperty(url, async (target) => {
      const res = await app.inject({ method: 'GET', url: target, headers: auth });
      assert.ok(res.statusCode < 500, `${res.statusCode} for ${target}: ${res.body}`);
    }),
    { numRuns: 1000 },
  );
});
