import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import WebSocket from 'ws';
import { testController } from '../api/testing.js';

const admin = { name: 'admin' };

/** Reads the stream until `done(text so far)` holds; fails after `timeoutMs`. */
async function readUntil(reader: ReadableStreamDefaultReader<Uint8Array>, done: (text: string) => boolean, timeoutMs = 5000): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  const deadline = Date.now() + timeoutMs;
  while (!done(text)) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new Error(`stream did not deliver in time; got: ${text}`);
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`stream stalled; got: ${text}`)), remaining).unref());
    const chunk = await Promise.race([reader.read(), timeout]);
    if (chunk.done) throw new Error(`stream ended; got: ${text}`);
    text += decoder.decode(chunk.value, { stream: true });
  }
  return text;
}

/** The `data:` payloads of the complete SSE messages in `text`. */
function messages(text: string): { id: number; action: string; object: { name: string } }[] {
  return text
    .split('\n\n')
    .filter((block) => block.includes('data: '))
    .map((block) => JSON.parse(block.slice(block.indexOf('data: ') + 6)));
}

test('GET /events filters by VM, actor and a time range with any UTC offset', async (t) => {
  const { app, auth, services, close } = await testController();
  t.after(close);
  await services.events.record({ actor: admin, objectType: 'vm', objectId: 'vm-1', objectName: 'web', action: 'vm.start', result: 'succeeded' });
  await services.events.record({ actor: { name: 'ci' }, objectType: 'vm', objectId: 'vm-2', objectName: 'db', action: 'vm.stop', result: 'succeeded' });
  const get = async (query: string) => (await app.inject({ method: 'GET', url: `/api/v1/events?${query}`, headers: auth })).json().events;
  assert.deepEqual((await get('vm=web')).map((e: { action: string }) => e.action), ['vm.start']);
  assert.deepEqual((await get('actor=ci')).map((e: { object: { name: string } }) => e.object.name), ['db']);
  const future = encodeURIComponent('2999-01-01T00:00:00+02:00');
  assert.deepEqual(await get(`since=${future}`), []);
  // Three: the test controller's own admin token creation comes first.
  assert.deepEqual((await get(`until=${future}&order=asc`)).map((e: { action: string }) => e.action), ['token.create', 'vm.start', 'vm.stop']);
});

test('the SSE stream delivers matching events as they are recorded, with heartbeats', async (t) => {
  const { app, auth, services, close } = await testController({ eventStreamHeartbeatMs: 50 });
  t.after(close);
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const aborter = new AbortController();
  t.after(() => aborter.abort());
  const res = await fetch(`${base}/api/v1/events/stream?vm=web`, { headers: auth, signal: aborter.signal });
  assert.equal(res.status, 200);
  assert.match(String(res.headers.get('content-type')), /^text\/event-stream/);
  assert.ok(res.body);
  const reader = res.body.getReader();
  await readUntil(reader, (text) => text.includes(': connected'));
  await services.events.record({ actor: admin, objectType: 'vm', objectName: 'db', action: 'vm.start', result: 'succeeded' });
  const recorded = await services.events.record({ actor: admin, objectType: 'vm', objectName: 'web', action: 'vm.start', result: 'succeeded' });
  const text = await readUntil(reader, (s) => messages(s).length > 0 && s.includes(': heartbeat'));
  assert.deepEqual(messages(text).map((m) => [m.id, m.object.name]), [[recorded.id, 'web']]);
  assert.match(text, new RegExp(`id: ${recorded.id}\nevent: event\ndata: `));
});

test('a stream resumed with Last-Event-ID replays what it missed, then goes live, without duplicates', async (t) => {
  const { app, auth, services, close } = await testController();
  t.after(close);
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const record = (name: string) => services.events.record({ actor: admin, objectType: 'vm', objectName: name, action: 'vm.start', result: 'succeeded' });
  const first = await record('a');
  const missed = await record('b');
  const aborter = new AbortController();
  t.after(() => aborter.abort());
  const res = await fetch(`${base}/api/v1/events/stream`, { headers: { ...auth, 'last-event-id': String(first.id) }, signal: aborter.signal });
  assert.ok(res.body);
  const reader = res.body.getReader();
  const live = await record('c');
  const text = await readUntil(reader, (s) => messages(s).length >= 2);
  assert.deepEqual(messages(text).map((m) => m.id), [missed.id, live.id]);
});

test('the WebSocket stream delivers matching events and refuses a missing token with 401', async (t) => {
  const { app, auth, services, close } = await testController();
  t.after(close);
  const base = (await app.listen({ host: '127.0.0.1', port: 0 })).replace(/^http/, 'ws');

  const refused = new WebSocket(`${base}/api/v1/events/ws`);
  const [, response] = (await once(refused, 'unexpected-response')) as [unknown, { statusCode: number }];
  assert.equal(response.statusCode, 401);
  // Aborting a refused handshake reports an error; that is the expected outcome here.
  refused.on('error', () => undefined);
  refused.terminate();

  const socket = new WebSocket(`${base}/api/v1/events/ws?host=h1`, { headers: auth });
  t.after(() => socket.terminate());
  await once(socket, 'open');
  const received = once(socket, 'message');
  await services.events.record({ actor: admin, objectType: 'vm', objectName: 'x', hostId: 'h2', action: 'vm.start', result: 'succeeded' });
  const wanted = await services.events.record({ actor: admin, objectType: 'vm', objectName: 'y', hostId: 'h1', action: 'vm.stop', result: 'succeeded' });
  const [data] = (await received) as [Buffer];
  const event = JSON.parse(data.toString());
  assert.equal(event.id, wanted.id);
  assert.equal(event.action, 'vm.stop');
});
