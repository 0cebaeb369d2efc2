/**
 * Lease renewals (POST /api/v1/ha/lease) in process: a renewal is accepted only with the host's lease credential;
 * renewals are checked against the credentials of the last HA step's host list, so a host that joined since is read
 * from the store at once, while a host removed or a credential replaced is honoured until the next step. A step that
 * changes nothing writes no HA state.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { testController } from '../api/testing.js';
import { sampleHost } from '../store/fixtures.js';
import { leaseCredential } from './lease-schema.js';

const renewal = (host: string) => ({ host, vms: [], watchdog: false, leaseLost: false });

test('a lease renewal needs the host\'s lease credential; an unknown host or another credential is refused', async (t) => {
  const { app, store, close } = await testController();
  t.after(close);
  await store.hosts.insert(sampleHost({ id: 'h-alpha', name: 'alpha', credential: 'alpha-token' }));
  await store.hosts.insert(sampleHost({ id: 'h-beta', name: 'beta', credential: 'beta-token' }));
  const renew = (host: string, credential: string | undefined) =>
    app.inject({ method: 'POST', url: '/api/v1/ha/lease', headers: credential ? { authorization: `Bearer ${credential}` } : {}, payload: renewal(host) });

  const accepted = await renew('alpha', leaseCredential('alpha-token'));
  assert.equal(accepted.statusCode, 200, accepted.body);
  assert.equal(typeof accepted.json().timings.leaseExpiryMs, 'number');
  for (const [host, credential] of [['alpha', leaseCredential('beta-token')], ['alpha', 'alpha-token'], ['alpha', undefined], ['gamma', leaseCredential('alpha-token')]] as const) {
    const refused = await renew(host, credential);
    assert.equal(refused.statusCode, 401, `${host} with ${credential ?? 'no credential'}`);
    assert.equal(refused.json().code, 'HA_LEASE_REJECTED');
  }
});

test('renewals follow the hosts of the last step: a new host or a new credential at once; a removal, or a replaced credential not yet presented, at the next step', async (t) => {
  const { services, store, close } = await testController();
  t.after(close);
  const { ha } = services;
  await store.hosts.insert(sampleHost({ id: 'h-alpha', name: 'alpha', credential: 'alpha-token' }));
  await ha.step();

  // Joined after the step: read from the store.
  await store.hosts.insert(sampleHost({ id: 'h-beta', name: 'beta', credential: 'beta-token' }));
  await ha.renew(leaseCredential('beta-token'), renewal('beta'));

  // Re-joined with a new agent token: the old credential is honoured until the new one is first seen or the next step.
  await store.hosts.update('h-alpha', { credential: 'alpha-token-2' });
  await ha.renew(leaseCredential('alpha-token'), renewal('alpha'));
  await ha.renew(leaseCredential('alpha-token-2'), renewal('alpha'));
  await assert.rejects(ha.renew(leaseCredential('alpha-token'), renewal('alpha')), { code: 'HA_LEASE_REJECTED' });
  await store.hosts.update('h-alpha', { credential: 'alpha-token-3' });
  await ha.step();
  await assert.rejects(ha.renew(leaseCredential('alpha-token-2'), renewal('alpha')), { code: 'HA_LEASE_REJECTED' });
  await ha.renew(leaseCredential('alpha-token-3'), renewal('alpha'));

  // Removed: refused from the next step on.
  await store.hosts.delete('h-beta');
  await ha.step();
  await assert.rejects(ha.renew(leaseCredential('beta-token'), renewal('beta')), { code: 'HA_LEASE_REJECTED' });
});

test('a step that changes nothing does not write the HA state again', async (t) => {
  const { services, store, close } = await testController();
  t.after(close);
  await store.hosts.insert(sampleHost({ id: 'h-alpha', name: 'alpha', credential: 'alpha-token' }));
  const writes: string[] = [];
  const set = store.settings.set.bind(store.settings);
  store.settings.set = async (name, value) => {
    if (name === 'haState') writes.push(String(value));
    return set(name, value);
  };
  await services.ha.renew(leaseCredential('alpha-token'), renewal('alpha'));
  await services.ha.step();
  assert.equal(writes.length, 1, 'the first step saves the state');
  await services.ha.step();
  await services.ha.step();
  assert.equal(writes.length, 1, 'nothing changed, nothing written');
  assert.equal(await store.settings.get('haState'), writes[0], 'the store holds the state');
});

test('renewals are not logged one by one, as other requests are', async (t) => {
  const lines: Array<{ msg?: string; req?: { url?: string }; res?: { statusCode?: number } }> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) });
  const { app, store, auth, close } = await testController({ logger });
  t.after(close);
  await store.hosts.insert(sampleHost({ id: 'h-alpha', name: 'alpha', credential: 'alpha-token' }));
  const lease = (credential: string) => app.inject({ method: 'POST', url: '/api/v1/ha/lease', headers: { authorization: `Bearer ${credential}` }, payload: renewal('alpha') });
  assert.equal((await lease(leaseCredential('alpha-token'))).statusCode, 200);
  assert.equal((await app.inject({ method: 'GET', url: '/api/v1/vms', headers: auth })).statusCode, 200);
  assert.equal((await lease('wrong')).statusCode, 401);
  const urls = lines.filter((l) => l.req?.url).map((l) => l.req?.url);
  assert.ok(urls.includes('/api/v1/vms'), JSON.stringify(urls));
  assert.ok(!lines.some((l) => l.req?.url === '/api/v1/ha/lease' && l.msg === 'incoming request'), JSON.stringify(lines));
});
