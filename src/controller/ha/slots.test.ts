/**
 * Reading the storage heartbeat slots: through the host that read them last while it renews, else the hosts
 * that renewed most recently, of those with a fresh lease; the first that answers. A host that has just died
 * still has a fresh lease for a few seconds; it renewed least recently, and the read goes on through the next
 * one at once.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { DroverError } from '../../shared/errors.js';
import { testController } from '../api/testing.js';
import type { AgentClient } from '../hosts/agent-client.js';
import { sampleHost } from '../store/fixtures.js';
import { leaseCredential } from './lease-schema.js';

const HOSTS = ['alpha', 'beta', 'gamma', 'delta', 'epsilon'];

async function cluster(t: TestContext, answering: (name: string) => boolean) {
  const controller = await testController();
  t.after(controller.close);
  const { services, store } = controller;
  for (const name of HOSTS) await store.hosts.insert(sampleHost({ id: `h-${name}`, name, credential: `${name}-token` }));
  const renew = (name: string) => services.ha.renew(leaseCredential(`${name}-token`), { host: name, vms: [], watchdog: true, leaseLost: false });
  // One after another, so epsilon renewed last and alpha first.
  for (const name of HOSTS) {
    await renew(name);
    await sleep(3);
  }
  const asked: string[] = [];
  services.hosts.client = async (hostId: string) => {
    const name = hostId.replace(/^h-/, '');
    const client = {
      request: async () => {
        asked.push(name);
        if (!answering(name)) throw new DroverError('HOST_UNREACHABLE', `${name} is down`);
        return HOSTS.map((host) => ({ host, seq: 1, leaseLost: false, vms: [] }));
      },
    };
    // Only `request` is used to read the slots; the rest of the client is not needed here.
    return client as unknown as AgentClient;
  };
  return { services, asked, renew };
}

/** Steps once and waits for the slot read the step started beside it. */
async function stepAndRead(services: Awaited<ReturnType<typeof cluster>>['services']): Promise<void> {
  await services.ha.step();
  for (let i = 0; i < 50; i++) await sleep(2);
}

test('the slots are read through the next host with a fresh lease when the first does not answer', async (t) => {
  const { services, asked } = await cluster(t, (name) => name !== 'epsilon');
  await stepAndRead(services);
  assert.deepEqual(asked, ['epsilon', 'delta']);
  const status = await services.ha.status();
  for (const host of status.hosts) assert.notEqual(host.storageHeartbeatAgeMs, null, `${host.name}'s slot was read`);
});

test('a read tries at most three hosts, so a pool nobody can read costs three requests a step', async (t) => {
  const { services, asked } = await cluster(t, () => false);
  await stepAndRead(services);
  assert.deepEqual(asked, ['epsilon', 'delta', 'gamma']);
  for (const host of (await services.ha.status()).hosts) assert.equal(host.storageHeartbeatAgeMs, null);
});

test('the host that read the slots last reads them again while it renews; once it stops, the freshest hosts do', async (t) => {
  const { services, asked, renew } = await cluster(t, () => true);
  await stepAndRead(services);
  assert.deepEqual(asked, ['epsilon']);
  // Others renewed since, but epsilon renewed within a lease interval and a half: it stays the reader.
  await renew('beta');
  await stepAndRead(services);
  assert.deepEqual(asked, ['epsilon', 'epsilon']);
  // Epsilon stops renewing; after a lease interval and a half the host that renewed last reads instead.
  await sleep(1_600);
  for (const name of ['alpha', 'gamma']) {
    await renew(name);
    await sleep(3);
  }
  await stepAndRead(services);
  assert.deepEqual(asked, ['epsilon', 'epsilon', 'gamma']);
});
