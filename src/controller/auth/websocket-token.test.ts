import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { testController } from '../api/testing.js';

/** Opens a WebSocket and resolves with the chosen subprotocol, or rejects with the HTTP status it got instead. */
function connect(url: string, protocols: string[], headers: Record<string, string> = {}): Promise<{ socket: WebSocket; protocol: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, protocols, { headers });
    socket.once('open', () => resolve({ socket, protocol: socket.protocol }));
    socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    socket.once('error', reject);
  });
}

test('a WebSocket upgrade may carry the token in its drover.token subprotocol; the answer names only `drover`', async (t) => {
  const controller = await testController();
  t.after(controller.close);
  const base = (await controller.app.listen({ host: '127.0.0.1', port: 0 })).replace(/^http/, 'ws');
  const { socket, protocol } = await connect(`${base}/api/v1/events/ws`, ['drover', `drover.token.${controller.secret}`]);
  assert.equal(protocol, 'drover');
  const received = new Promise<string>((resolve) => socket.once('message', (data: Buffer) => resolve(data.toString())));
  await controller.services.tokens.create('probe', { name: 'admin' });
  assert.match(await received, /"action":"token.create"/);
  socket.close();

  await assert.rejects(connect(`${base}/api/v1/events/ws`, ['drover', `drover.token.drv_${'A'.repeat(43)}`]), /HTTP 401|socket hang up|ECONNRESET/);
  await assert.rejects(connect(`${base}/api/v1/events/ws`, ['drover']), /HTTP 401|socket hang up|ECONNRESET/);
  // The header still works on upgrades, with or without subprotocols.
  const viaHeader = await connect(`${base}/api/v1/events/ws`, [], { authorization: `Bearer ${controller.secret}` });
  viaHeader.socket.close();
});

test('plain HTTP requests never take a token from the subprotocol header or the query string', async (t) => {
  const { app, secret, close } = await testController();
  t.after(close);
  const protocolHeader = { 'sec-websocket-protocol': `drover, drover.token.${secret}` };
  for (const url of ['/api/v1/vms', '/api/v1/events', '/api/v1/events/stream', '/api/v1/tokens', '/metrics']) {
    assert.equal((await app.inject({ method: 'GET', url, headers: protocolHeader })).statusCode, 401, `${url} with the subprotocol header`);
    assert.equal((await app.inject({ method: 'GET', url: `${url}?token=${secret}` })).statusCode, 401, `${url}?token=`);
    assert.equal((await app.inject({ method: 'GET', url: `${url}?access_token=${secret}` })).statusCode, 401, `${url}?access_token=`);
  }
  assert.equal((await app.inject({ method: 'POST', url: '/api/v1/tokens', headers: { ...protocolHeader, 'content-type': 'application/json' }, payload: { name: 'x' } })).statusCode, 401);
});
