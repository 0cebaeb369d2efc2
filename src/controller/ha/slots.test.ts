/**
 * Reading the storage heartbeat slots: through the first host of the pool with a fresh lease that answers. A host
 * that has just died still has a fresh lease for a few seconds; the read goes on through the next one at once.
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
  for (const name of HOSTS) await services.ha.renew(leaseCredential(`${name}-token`), { host: name, vms: [], watchdog: true, leaseLost: false });
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
  return { services, asked };
}

/** Steps once and waits for the slot read the step started beside it. */
async function stepAndRead(services: Awaited<ReturnType<typeof cluster>>['services']): Promise<void> {
  await services.ha.step();
  for (let i = 0; i < 50; i++) await sleep(2);
}

test('the slots are read through the next host with a fresh lease when the first does not answer', async (t) => {
  const { services, asked } = await cluster(t, (name) => name !== 'alpha');
  await stepAndRead(services);
  assert.deepEqual(asked, ['alpha', 'beta']);
  const status = await services.ha.status();
  for (const host of status.hosts) assert.notEqual(host.storageHeartbeatAgeMs, null, `${host.name}'s slot was read`);
});

test('a read tries at most three hosts, so a pool nobody can read costs three requests a step', async (t) => {
  const { services, asked } = await cluster(t, () => false);
  await stepAndRead(services);
  assert.deepEqual(asked, ['alpha', 'beta', 'gamma']);
  for (const host of (await services.ha.status()).hosts) assert.equal(host.storageHeartbeatAgeMs, null);
});
