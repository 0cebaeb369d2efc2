import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from '@fastify/type-provider-typebox';
import Fastify from 'fastify';
import { Nullable } from './schemas.js';
import { installFastSerialization, serializableSchema } from './serialization.js';

const Schema = Type.Object({
  name: Type.String(),
  host: Nullable(Type.String()),
  pid: Nullable(Type.Integer()),
  ha: Nullable(Type.Object({ priority: Type.Integer() })),
  ips: Type.Array(Nullable(Type.String())),
  // Not a nullable pattern: left as it is.
  mode: Type.Union([Type.Literal('a'), Type.Literal('b')]),
});

test('Nullable(X) becomes X with a type that admits null; other unions and the schema given are left alone', () => {
  const before = JSON.stringify(Schema);
  const out = serializableSchema(JSON.parse(before)) as { properties: Record<string, Record<string, unknown>> };
  assert.deepEqual(out.properties.host, { type: ['string', 'null'] });
  assert.deepEqual(out.properties.pid, { type: ['integer', 'null'] });
  assert.deepEqual(out.properties.ha, { type: ['object', 'null'], properties: { priority: { type: 'integer' } }, required: ['priority'] });
  assert.deepEqual(out.properties.ips, { type: 'array', items: { type: ['string', 'null'] } });
  assert.ok(Array.isArray(out.properties.mode?.anyOf));
  assert.equal(JSON.stringify(Schema), before);
});

test('a route answers the same JSON through the rewritten schema, nulls and values alike', async (t) => {
  const app = Fastify();
  t.after(() => app.close());
  installFastSerialization(app);
  const bodies = [
    { name: 'a', host: null, pid: null, ha: null, ips: [null, '10.0.0.1'], mode: 'a', extra: 'dropped' },
    { name: 'b', host: 'h1', pid: 42, ha: { priority: 3 }, ips: [], mode: 'b' },
  ];
  bodies.forEach((body, i) => app.get(`/${i}`, { schema: { response: { 200: Schema } } }, async () => body));
  app.get('/bad', { schema: { response: { 200: Schema } } }, async () => ({ name: 'c', host: null, pid: null, ha: 'no', ips: [], mode: 'a' }));
  for (const [i, body] of bodies.entries()) {
    const answer = await app.inject({ method: 'GET', url: `/${i}` });
    const { extra: _extra, ...expected } = body as typeof body & { extra?: string };
    assert.deepEqual(answer.json(), expected);
  }
  // A value the schema does not allow is still refused, not written.
  assert.equal((await app.inject({ method: 'GET', url: '/bad' })).statusCode, 500);
});
