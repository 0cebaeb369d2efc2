import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildAgent, type Agent } from '../../agent/app.js';
import { rawRows, testController, type TestController } from '../api/testing.js';
import { hashSecret } from '../auth/tokens.js';
import { sampleJoinToken } from '../store/fixtures.js';

interface JoinedHost {
  name: string;
  address: string;
  health: string;
  tags: string[];
  cpuOvercommit: number;
  memoryOvercommit: number;
}

/** A real host agent in this process on 127.0.0.1 (no VMs are started), and the controller. */
async function setup(t: { after: (fn: () => Promise<void> | void) => void }): Promise<{ controller: TestController; agent: Agent; agentUrl: string }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'drv-join-'));
  const agent = await buildAgent({ dataDir, logger: false, accelerator: { accelerator: 'tcg', reason: 'test', probedAt: new Date().toISOString(), durationMs: 0, key: 'test' } });
  const agentUrl = await agent.app.listen({ host: '127.0.0.1', port: 0 });
  const controller = await testController();
  t.after(async () => {
    await controller.close();
    await agent.app.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  return { controller, agent, agentUrl };
}

async function mint(controller: TestController, body?: unknown): Promise<{ token: string; expiresAt: string }> {
  const res = await controller.app.inject({ method: 'POST', url: '/api/v1/hosts/join-tokens', headers: controller.auth, ...(body ? { payload: body } : {}) });
  assert.equal(res.statusCode, 201, res.body);
  return res.json();
}

test('a join token joins one host once, with its tags and overcommit ratios; only its hash is stored', async (t) => {
  const { controller, agent, agentUrl } = await setup(t);
  const minted = await mint(controller);
  assert.match(minted.token, /^drvj_[A-Za-z0-9_-]{43}$/);
  const ttl = Date.parse(minted.expiresAt) - Date.now();
  assert.ok(ttl > 59 * 60_000 && ttl <= 3600_000, `default lifetime is an hour, got ${ttl} ms`);
  // The raw rows show exactly what is kept.
  const rows = JSON.stringify(await rawRows(controller.store, 'join_tokens'));
  assert.ok(!rows.includes(minted.token) && rows.includes(hashSecret(minted.token)), 'the secret is not stored, its hash is');

  const body = { name: 'edge-1', address: `${agentUrl}/`, agentToken: agent.token, tags: ['zone=a', 'ssd'], cpuOvercommit: 4, memoryOvercommit: 1.5 };
  const joined = await controller.app.inject({ method: 'POST', url: '/api/v1/hosts/join', headers: { authorization: `Bearer ${minted.token}` }, payload: body });
  assert.equal(joined.statusCode, 201, joined.body);
  const host = joined.json<JoinedHost>();
  assert.deepEqual(
    [host.name, host.address, host.health, host.tags, host.cpuOvercommit, host.memoryOvercommit],
    ['edge-1', agentUrl, 'healthy', ['zone=a', 'ssd'], 4, 1.5],
  );
  const listed = (await controller.app.inject({ method: 'GET', url: '/api/v1/hosts/edge-1', headers: controller.auth })).json<JoinedHost>();
  assert.deepEqual(listed.tags, ['zone=a', 'ssd']);

  const again = await controller.app.inject({ method: 'POST', url: '/api/v1/hosts/join', headers: { authorization: `Bearer ${minted.token}` }, payload: { ...body, name: 'edge-2' } });
  assert.equal(again.statusCode, 401);
  assert.equal(again.json().code, 'JOIN_TOKEN_USED');
  assert.equal((await controller.services.store.hosts.getByName('edge-2')), undefined);

  const events = await controller.services.events.query({ order: 'asc' });
  const actions = events.map((e) => `${e.action}:${e.result}`);
  for (const expected of ['host.join-token.create:succeeded', 'host.registered:success', 'host.join:succeeded', 'host.join:failed']) {
    assert.ok(actions.includes(expected), `${expected} in ${actions.join(', ')}`);
  }
});

test('the token may come in the body; a host that joins again keeps its record', async (t) => {
  const { controller, agent, agentUrl } = await setup(t);
  const first = await mint(controller);
  const join = (token: string, extra: object = {}) =>
    controller.app.inject({ method: 'POST', url: '/api/v1/hosts/join', payload: { name: 'edge-1', address: agentUrl, agentToken: agent.token, joinToken: token, ...extra } });
  const joined = await join(first.token);
  assert.equal(joined.statusCode, 201, joined.body);
  assert.deepEqual([joined.json<JoinedHost>().tags, joined.json<JoinedHost>().cpuOvercommit], [[], 1]);
  const second = await mint(controller, { ttlSeconds: 120 });
  const rejoined = await join(second.token, { tags: ['gpu'] });
  assert.equal(rejoined.statusCode, 201, rejoined.body);
  assert.equal((await controller.services.store.hosts.list()).length, 1);
  assert.deepEqual((await controller.services.store.hosts.getByName('edge-1'))?.tags, ['gpu']);
});

test('wrong, expired and missing join tokens are 401 with codes, and store nothing', async (t) => {
  const { controller, agent, agentUrl } = await setup(t);
  const expired = `drvj_${'E'.repeat(43)}`;
  await controller.store.joinTokens.insert(sampleJoinToken({ hash: hashSecret(expired), expiresAt: new Date(Date.now() - 1000).toISOString() }));
  const body = { name: 'edge-1', address: agentUrl, agentToken: agent.token };
  const cases: [string, Record<string, string>, string][] = [
    ['unknown', { authorization: `Bearer drvj_${'A'.repeat(43)}` }, 'JOIN_TOKEN_INVALID'],
    ['an API token', controller.auth, 'JOIN_TOKEN_INVALID'],
    ['expired', { authorization: `Bearer ${expired}` }, 'JOIN_TOKEN_EXPIRED'],
    ['none', {}, 'UNAUTHORIZED'],
    ['not bearer', { authorization: 'Basic eDp5' }, 'UNAUTHORIZED'],
  ];
  for (const [kind, headers, code] of cases) {
    const res = await controller.app.inject({ method: 'POST', url: '/api/v1/hosts/join', headers, payload: body });
    assert.deepEqual([res.statusCode, res.json().code], [401, code], kind);
    assert.match(String(res.headers['www-authenticate']), /^Bearer/, kind);
  }
  // Even a malformed body is refused for want of a token before it is validated.
  const malformed = await controller.app.inject({ method: 'POST', url: '/api/v1/hosts/join', payload: { name: 42 } });
  assert.equal(malformed.statusCode, 401);
  assert.deepEqual(await controller.store.hosts.list(), []);
});

test('the join token opens the join route only; it is no API token', async (t) => {
  const { controller } = await setup(t);
  const { token } = await mint(controller);
  const headers = { authorization: `Bearer ${token}` };
  for (const [method, url] of [['GET', '/api/v1/hosts'], ['POST', '/api/v1/hosts/join-tokens'], ['GET', '/api/v1/vms'], ['POST', '/api/v1/tokens']] as const) {
    const res = await controller.app.inject({ method, url, headers, payload: method === 'POST' ? {} : undefined });
    assert.deepEqual([res.statusCode, res.json().code], [401, 'UNAUTHORIZED'], `${method} ${url}`);
  }
  const unauthenticatedMint = await controller.app.inject({ method: 'POST', url: '/api/v1/hosts/join-tokens' });
  assert.equal(unauthenticatedMint.statusCode, 401);
});

test('an agent that cannot be reached or refuses its own token stores nothing and leaves the token usable', async (t) => {
  const { controller, agent, agentUrl } = await setup(t);
  const { token } = await mint(controller);
  const headers = { authorization: `Bearer ${token}` };
  const join = (payload: object) => controller.app.inject({ method: 'POST', url: '/api/v1/hosts/join', headers, payload });

  const unreachable = await join({ name: 'edge-1', address: 'http://127.0.0.1:1', agentToken: agent.token });
  assert.deepEqual([unreachable.statusCode, unreachable.json().code], [502, 'JOIN_AGENT_UNREACHABLE']);
  const refused = await join({ name: 'edge-1', address: agentUrl, agentToken: 'drva_not-the-agents-token' });
  assert.deepEqual([refused.statusCode, refused.json().code], [422, 'JOIN_AGENT_REJECTED']);
  const invalid = await join({ name: 'Edge 1', address: agentUrl, agentToken: agent.token });
  assert.deepEqual([invalid.statusCode, invalid.json().code], [400, 'INVALID_NAME']);
  const badTag = await join({ name: 'edge-1', address: agentUrl, agentToken: agent.token, tags: ['has space'] });
  assert.equal(badTag.statusCode, 400);
  assert.deepEqual(await controller.store.hosts.list(), []);

  const joined = await join({ name: 'edge-1', address: agentUrl, agentToken: agent.token });
  assert.equal(joined.statusCode, 201, 'the token was not consumed by the failed attempts');
});

test('two joins racing with one token: exactly one host joins', async (t) => {
  const { controller, agent, agentUrl } = await setup(t);
  const { token } = await mint(controller);
  const headers = { authorization: `Bearer ${token}` };
  const results = await Promise.all(
    ['edge-1', 'edge-2', 'edge-3'].map((name) => controller.app.inject({ method: 'POST', url: '/api/v1/hosts/join', headers, payload: { name, address: agentUrl, agentToken: agent.token } })),
  );
  assert.deepEqual(results.map((r) => r.statusCode).sort(), [201, 401, 401]);
  assert.equal((await controller.store.hosts.list()).length, 1);
});
