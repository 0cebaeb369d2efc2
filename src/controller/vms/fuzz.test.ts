/**
 * Property test for the VM routes: generated bad requests are never a 5xx, always carry a code
 * from the table, and leave the store as it was when rejected. The controller has one simulated
 * host with no agent behind it, so nothing here reaches a real hypervisor.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InjectOptions } from 'fastify';
import fc from 'fast-check';
import { ERRORS } from '../../shared/errors.js';
import { testController, type TestController } from '../api/testing.js';
import { sampleHost, sampleVm } from '../store/fixtures.js';

async function snapshot({ store }: TestController): Promise<string> {
  const [lastEvent] = await store.events.query({ order: 'desc', limit: 1 });
  return JSON.stringify({ vms: await store.vms.list(), hosts: await store.hosts.list(), ops: (await store.operations.list({ limit: 1_000_000 })).length, lastEvent: lastEvent?.id ?? 0 });
}

const odd = fc.oneof(
  fc.string(),
  fc.constantFrom('', 'A', '-a', 'a'.repeat(64), '../x', 'a\u0000b', '__proto__', 'web', 'tiny', 'simulated-host-1'),
  fc.string({ minLength: 60, maxLength: 200 }),
);
const value = fc.oneof(odd, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }), fc.object({ maxDepth: 1 }));
const createBody = fc.oneof(
  fc.jsonValue(),
  fc.record(
    { name: value, image: value, cpus: value, memoryMiB: value, diskGiB: value, devices: value, clone: value, host: value, start: value, portForwards: value, cpuPinning: value, pool: value },
    { requiredKeys: [] },
  ),
  // Well-formed moves that cannot happen: the only host is the VM's own, or unknown.
  fc.record({ to: fc.constantFrom('simulated-host-1', 'nowhere'), storage: fc.constantFrom('local', 'shared', 'copy', 'nfs'), downtimeLimitMs: fc.integer({ min: -1, max: 70_000 }) }, { requiredKeys: ['to'] }),
  // Well-formed, but no host can take it (the only host has no room) or the name is taken.
  fc.record({ name: fc.constantFrom('web', 'fresh-vm'), image: fc.constant('tiny'), memoryMiB: fc.constantFrom(256, 1024 * 1024) }),
  fc.tuple(fc.string({ minLength: 1, maxLength: 12 }), fc.jsonValue()).map(([k, v]) => ({ name: 'fresh-vm', image: 'tiny', [k]: v })),
);
const segment = fc.oneof(odd.map(encodeURIComponent), fc.constantFrom('%', '%zz', '%00', 'x'.repeat(150), 'web', 'nope'));
const action = fc.constantFrom('start', 'stop', 'kill', 'reboot', 'pause', 'resume', 'exec', 'clone', 'snapshots', 'wait-ready', 'migrate');

test('generated bad requests to the VM routes: never a 5xx, never a change when rejected', { timeout: 300_000 }, async (t) => {
  const controller = await testController();
  t.after(() => controller.close());
  const { app, services, auth } = controller;
  // A full simulated host: nothing fits, so every create is refused before touching any host.
  // The scheduler counts VM allocations against capacity: web (2 vCPUs) fills this 2-CPU host.
  await services.store.hosts.insert(sampleHost({ id: 'h1', name: 'simulated-host-1', capacity: { cpus: 2, memoryBytes: 2 ** 30, diskBytes: 0 }, usage: { cpus: 8, memoryBytes: 16 * 2 ** 30, diskBytes: 0 } }));
  await services.store.vms.insert(sampleVm({ id: 'vm-web', name: 'web', hostId: 'h1', state: 'paused' }));

  const request = fc.oneof(
    createBody.map((b): InjectOptions => ({ method: 'POST', url: '/api/v1/vms', payload: JSON.stringify(b) ?? 'null', headers: { ...auth, 'content-type': 'application/json' } })),
    fc.record({ name: segment, action, payload: fc.option(createBody, { nil: undefined }) }).map(
      ({ name, action: verb, payload }): InjectOptions => ({
        method: 'POST',
        url: `/api/v1/vms/${name}/${verb}`,
        headers: { ...auth, 'content-type': 'application/json' },
        ...(payload === undefined ? {} : { payload: JSON.stringify(payload) ?? 'null' }),
      }),
    ),
    fc.record({ name: segment, force: fc.constantFrom('', '?force=maybe', '?force=1', '?x=1') }).map(
      ({ name, force }): InjectOptions => ({ method: 'DELETE', url: `/api/v1/vms/${name}${force}`, headers: auth }),
    ),
  );

  let rejected = 0;
  await fc.assert(
    fc.asyncProperty(request, async (injection) => {
      // These are well-formed actions on a real VM: they are accepted, and change state through an operation.
      const accepted = /\/vms\/web\/(stop|kill|resume)$|\/vms\/web\?force=(1|true)?$|\/vms\/web\/clone$/;
      const before = await snapshot(controller);
      const res = await app.inject(injection);
      // A well-formed request the controller passes on to the VM's host gets 503 HOST_UNREACHABLE here (no agent stands behind the
      // simulated host): a coded answer, not a failure; every other 5xx is one.
      const hostAnswer = res.statusCode === 503 && res.json<{ code: string }>().code === 'HOST_UNREACHABLE' && /^\/api\/v1\/vms\/web\//.test(String(injection.url));
      assert.ok(res.statusCode < 500 || hostAnswer, `${res.statusCode} for ${injection.method} ${injection.url}: ${res.body}`);
      if (res.statusCode < 400) {
        assert.match(String(injection.url), accepted, `accepted ${injection.method} ${injection.url}`);
        // The operation fails in the background (no agent behind the host); let it settle first.
        for (const op of await services.operations.list({ limit: 100, states: ['queued', 'running'] })) await services.operations.wait(op.id, 60_000);
        return;
      }
      rejected++;
      const error = res.json<{ code: string; message: string }>();
      assert.ok(error.code in ERRORS, `unknown code ${error.code}`);
      assert.equal(await snapshot(controller), before, `${injection.method} ${injection.url} was rejected (${error.code}) but changed the store`);
    }),
    { numRuns: 2000, examples: [] },
  );
  assert.ok(rejected > 1500, `only ${rejected} requests were rejected`);
});
