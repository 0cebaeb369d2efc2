/**
 * GET /api/v1/ha/status on a controller that is not the leader: leases and verdicts live in the leader's memory, so
 * a standby answers with the leader's status, asked with the caller's own token; with no leader, a leader that is the
 * standby itself (still named in the store) or one that does not answer, it refuses with CONTROLLER_NOT_LEADER.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { buildControllerApp } from '../api/app.js';
import { createControllerServices } from '../api/services.js';
import { testController } from '../api/testing.js';
import { DEFAULT_LEADERSHIP_TIMINGS, type LeadershipView } from '../leadership/term.js';
import { sampleHost } from '../store/fixtures.js';

const STANDBY: LeadershipView = { timings: DEFAULT_LEADERSHIP_TIMINGS, isLeader: () => false, holdsTerm: () => false, asLeader: async () => undefined };

test('a standby answers ha status with the leader\'s, and refuses with CONTROLLER_NOT_LEADER when it cannot', async (t) => {
  // The leader: judges hosts in memory and serves the API on a port.
  const leader = await testController();
  t.after(leader.close);
  await leader.store.hosts.insert(sampleHost({ id: 'h-alpha', name: 'alpha', credential: 'alpha-token' }));
  await leader.services.ha.step();
  const leaderUrl = await leader.app.listen({ host: '127.0.0.1', port: 0 });
  // The standby: another controller on the same store.
  const services = createControllerServices(leader.store, { logger: pino({ level: 'silent' }), controllerId: 'ctl-b', leadership: STANDBY });
  const standby = await buildControllerApp({ services });
  t.after(() => standby.close());
  const status = () => standby.inject({ method: 'GET', url: '/api/v1/ha/status', headers: leader.auth });
  const now = Date.now();
  const at = (ms: number) => new Date(now + ms).toISOString();
  const register = (id: string, url: string) => leader.store.controllers.put({ id, name: id, url, version: 'test', startedAt: at(0), lastSeenAt: at(0) });
  const lease = (holder: string, expiresInMs: number) => leader.store.leaderLease.put({ holder, token: 1, acquiredAt: at(0), renewedAt: at(0), expiresAt: at(expiresInMs) });

  const refused = async (why: string) => {
    const answer = await status();
    assert.equal(answer.statusCode, 503, `${why}: ${answer.body}`);
    assert.equal(answer.json().code, 'CONTROLLER_NOT_LEADER', why);
    return answer.json().detail as string;
  };
  await refused('no leader lease yet');

  await register('ctl-a', leaderUrl);
  await register('ctl-b', 'http://127.0.0.1:9');
  await lease('ctl-a', -1_000);
  await refused('the lease has lapsed');

  await lease('ctl-a', 60_000);
  const answer = await status();
  assert.equal(answer.statusCode, 200, answer.body);
  const expected = (await leader.app.inject({ method: 'GET', url: '/api/v1/ha/status', headers: leader.auth })).json();
  assert.deepEqual(answer.json().hosts.map((h: { name: string; liveness: string; reason: string }) => [h.name, h.liveness, h.reason]), expected.hosts.map((h: { name: string; liveness: string; reason: string }) => [h.name, h.liveness, h.reason]));
  assert.notEqual(answer.json().hosts[0].liveness, 'unknown', 'the leader has judged the host; the standby has not');
  // A caller without a valid token is refused by the standby itself, before anything is asked of the leader.
  const unauthorized = await standby.inject({ method: 'GET', url: '/api/v1/ha/status', headers: { authorization: 'Bearer not-a-token' } });
  assert.equal(unauthorized.statusCode, 401);

  await lease('ctl-b', 60_000);
  assert.match(await refused('the store names the standby itself'), /none just now/);

  await register('ctl-c', 'http://127.0.0.1:9');
  await lease('ctl-c', 60_000);
  assert.match(await refused('the leader does not answer'), /ctl-c .*did not answer/);
});
