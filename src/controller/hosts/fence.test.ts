/**
 * Fence devices in the controller, in-process through the API and the service, against the real
 * simulated power switch (bin/fence_drover_simulated, found by agent lookup in the repo's bin/).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { isAlive } from '../../drivers/qemu/process.js';
import { simulatedFenceDevice, writeSimulatedHostPids, type SimulatedMisbehaviour } from '../../fencing/simulated-device.js';
import { ownedTempDir, startSleeper } from '../../fencing/test-support.js';
import { ERRORS } from '../../shared/errors.js';
import { testController, type TestController } from '../api/testing.js';
import { sampleHost } from '../store/fixtures.js';
import { FenceService } from './fence.js';

const SECRET = 'hunter2-but-longer';

/** A controller with host `alpha` (id h-alpha) and a simulated switch whose records live in a temp dir. */
async function setup(t: TestContext): Promise<{ controller: TestController; stateDir: string; request: (options: InjectOptions) => Promise<LightMyRequestResponse> }> {
  const controller = await testController();
  t.after(() => controller.close());
  await controller.store.hosts.insert(sampleHost({ id: 'h-alpha', name: 'alpha' }));
  const stateDir = ownedTempDir(t);
  const request = (options: InjectOptions) => controller.app.inject({ ...options, headers: { ...controller.auth, ...options.headers } });
  return { controller, stateDir, request };
}

/** The PUT body for the simulated switch of `alpha`, with a password and verbose=1 (the switch then echoes every option, secret included). */
function simulatedBody(stateDir: string, simulate?: SimulatedMisbehaviour) {
  const device = simulatedFenceDevice(stateDir, 'alpha', simulate);
  return { agent: device.agent, options: { ...device.options, password: SECRET, verbose: '1' } };
}

test('set, show, test and remove a host\'s fence device; secrets never leave the store', async (t) => {
  const { controller, stateDir, request } = await setup(t);
  const url = '/api/v1/hosts/alpha/fence';

  const set = await request({ method: 'PUT', url, payload: simulatedBody(stateDir) });
  assert.equal(set.statusCode, 200, set.body);
  const expected = { host: 'alpha', agent: 'fence_drover_simulated', options: { plug: 'alpha', 'state-dir': stateDir, password: '***', verbose: '1' }, setBy: 'admin' };
  const { setAt, ...shown } = set.json<{ setAt: string }>();
  assert.deepEqual(shown, expected);
  const stored = await controller.store.hosts.get('h-alpha');
  assert.equal(stored?.fenceDevice?.options.password, SECRET, 'the agent needs the real password, so the store keeps it');

  const got = await request({ method: 'GET', url });
  assert.deepEqual(got.json(), { ...expected, setAt });
  const host = await request({ method: 'GET', url: '/api/v1/hosts/alpha' });
  assert.deepEqual(host.json<{ fence: unknown }>().fence, { agent: 'fence_drover_simulated', setAt });
  const list = await request({ method: 'GET', url: '/api/v1/hosts' });
  assert.deepEqual(list.json<{ hosts: { fence: unknown }[] }>().hosts.map((h) => h.fence), [{ agent: 'fence_drover_simulated', setAt }]);

  const tested = await request({ method: 'POST', url: `${url}/test` });
  assert.equal(tested.statusCode, 200, tested.body);
  const answer = tested.json<{ output: string }>();
  assert.deepEqual({ ...answer, output: undefined }, { host: 'alpha', agent: 'fence_drover_simulated', action: 'status', reachable: true, state: 'on', output: undefined });
  // verbose=1 made the agent print every option it got; the password among them is removed.
  assert.match(answer.output, /received option password=\*\*\*/);
  assert.match(answer.output, /Status: ON/);

  const removed = await request({ method: 'DELETE', url });
  assert.equal(removed.statusCode, 204);
  assert.equal((await controller.store.hosts.get('h-alpha'))?.fenceDevice, null);
  assert.equal((await request({ method: 'GET', url: '/api/v1/hosts/alpha' })).json<{ fence: unknown }>().fence, null);
  for (const [method, path] of [['GET', url], ['DELETE', url], ['POST', `${url}/test`]] as const) {
    const res = await request({ method, url: path });
    assert.equal(res.statusCode, 404, `${method} ${path}`);
    assert.equal(res.json<{ code: string }>().code, 'HOST_FENCE_NOT_SET');
  }

  const events = await controller.services.events.query({ host: 'alpha', order: 'asc' });
  assert.deepEqual(
    events.map((e) => [e.action, e.actor, e.result, e.requestId !== null]),
    [
      ['host.fence-set', 'admin', 'success', true],
      ['host.fence-tested', 'admin', 'success', true],
      ['host.fence-removed', 'admin', 'success', true],
    ],
  );
  assert.deepEqual(events[0]?.detail, { agent: 'fence_drover_simulated', options: { plug: 'alpha', 'state-dir': stateDir, password: '***', verbose: '1' }, replaced: null });
  assert.deepEqual(events[1]?.detail, { agent: 'fence_drover_simulated', action: 'status', state: 'on' });
  assert.ok(!JSON.stringify(events).includes(SECRET), 'no event holds the password');
});

test('an unknown agent, an unknown or unsafe option and a missing required one are refused before anything is stored', async (t) => {
  const { controller, stateDir, request } = await setup(t);
  const url = '/api/v1/hosts/alpha/fence';
  const good = simulatedBody(stateDir);
  assert.equal((await request({ method: 'PUT', url, payload: good })).statusCode, 200);
  const before = JSON.stringify(await controller.store.hosts.get('h-alpha'));
  const eventsBefore = (await controller.services.events.query({ limit: 1000 })).length;

  const cases: [string, unknown, number, string, RegExp][] = [
    ['agent not installed', { agent: 'fence_no_such_agent', options: {} }, 422, 'FENCE_AGENT_NOT_FOUND', /fence_no_such_agent is not installed/],
    ['not an agent name', { agent: '../bin/sh', options: {} }, 422, 'FENCE_AGENT_NOT_FOUND', /body\.agent/],
    ['option the agent does not know', { ...good, options: { ...good.options, colour: 'red' } }, 400, 'FENCE_OPTION_INVALID', /no option "colour"/],
    ['required option missing', { agent: good.agent, options: { 'state-dir': stateDir } }, 400, 'FENCE_OPTION_INVALID', /plug is required/],
    ['invalid choice', { ...good, options: { ...good.options, simulate: 'sometimes' } }, 400, 'FENCE_OPTION_INVALID', /simulate must be one of/],
    ['action set by the caller', { ...good, options: { ...good.options, action: 'on' } }, 400, 'FENCE_OPTION_INVALID', /Drover sets the action itself/],
    ['a program for the agent to run', { ...good, options: { ...good.options, ipmitool_path: '/tmp/x' } }, 400, 'FENCE_OPTION_INVALID', /names a program/],
    ['upper-case key', { ...good, options: { ...good.options, Plug: 'alpha' } }, 400, 'FENCE_OPTION_INVALID', /body\.options\.Plug/],
    ['line break in a value', { ...good, options: { ...good.options, plug: 'alpha\naction=on' } }, 400, 'FENCE_OPTION_INVALID', /body\.options\.plug/],
    ['value not a string', { ...good, options: { ...good.options, plug: 7 } }, 400, 'FENCE_OPTION_INVALID', /body\.options\.plug/],
    ['no options', { agent: good.agent }, 400, 'INVALID_ARGUMENT', /body\.options is required/],
    ['unknown field', { ...good, timeout: 5 }, 400, 'INVALID_ARGUMENT', /body\.timeout/],
  ];
  for (const [name, payload, status, code, detail] of cases) {
    const res = await request({ method: 'PUT', url, payload: payload as object });
    assert.equal(res.statusCode, status, `${name}: ${res.body}`);
    const body = res.json<{ code: string; message: string; detail?: string }>();
    assert.equal(body.code, code, name);
    assert.equal(body.message, ERRORS[code as keyof typeof ERRORS].message, name);
    assert.match(body.detail ?? '', detail, name);
  }
  const unknownHost = await request({ method: 'PUT', url: '/api/v1/hosts/nope/fence', payload: good });
  assert.deepEqual([unknownHost.statusCode, unknownHost.json<{ code: string }>().code], [404, 'NOT_FOUND']);

  assert.equal(JSON.stringify(await controller.store.hosts.get('h-alpha')), before, 'the stored device is untouched');
  assert.equal((await controller.services.events.query({ limit: 1000 })).length, eventsBefore, 'a refused set records nothing');
});

test('a device that fails its test answers FENCE_AGENT_FAILED and records the failed test', async (t) => {
  const { controller, stateDir, request } = await setup(t);
  assert.equal((await request({ method: 'PUT', url: '/api/v1/hosts/alpha/fence', payload: simulatedBody(stateDir, 'fail') })).statusCode, 200);
  const res = await request({ method: 'POST', url: '/api/v1/hosts/alpha/fence/test' });
  assert.equal(res.statusCode, 502, res.body);
  const body = res.json<{ code: string; detail: string }>();
  assert.equal(body.code, 'FENCE_AGENT_FAILED');
  assert.match(body.detail, /simulated failure/);
  assert.ok(!body.detail.includes(SECRET));
  const [event] = await controller.services.events.query({ host: 'alpha', limit: 1 });
  assert.deepEqual([event?.action, event?.result], ['host.fence-tested', 'failure']);
  assert.match(JSON.stringify(event?.detail), /FENCE_AGENT_FAILED/);
  assert.ok(!JSON.stringify(event).includes(SECRET));
});

test('powerOff answers off only when the simulated switch confirmed it, and failed for a failing or hanging one', async (t) => {
  const { controller, stateDir } = await setup(t);
  const { store, events } = controller.services;
  const fencing = new FenceService(store, events, { powerOffTimeoutMs: 1500, pollMs: 50 });
  const setDevice = (simulate?: SimulatedMisbehaviour) => fencing.set('alpha', simulatedBody(stateDir, simulate), { name: 'admin' });

  assert.deepEqual(await fencing.powerOff('h-alpha'), { outcome: 'failed', detail: 'host alpha has no fence device' });
  assert.deepEqual(await fencing.powerOff('h-nope'), { outcome: 'failed', detail: 'no host has id h-nope' });

  await setDevice();
  const guest = startSleeper(t);
  writeSimulatedHostPids(stateDir, 'alpha', [guest]);
  const off = await fencing.powerOff('h-alpha');
  assert.equal(off.outcome, 'off', off.detail);
  assert.match(off.detail, /^fence_drover_simulated powered alpha off, confirmed by 1 status check in \d+ ms \(Status: OFF\)$/);
  assert.ok(!isAlive(guest), 'the host\'s process was killed');

  await setDevice('fail');
  const failed = await fencing.powerOff('h-alpha');
  assert.equal(failed.outcome, 'failed');
  assert.match(failed.detail, /^fence_drover_simulated did not fence alpha: FENCE_AGENT_FAILED: fence_drover_simulated off failed/);

  await setDevice('hang');
  const started = Date.now();
  const hung = await fencing.powerOff('h-alpha');
  assert.equal(hung.outcome, 'failed');
  assert.match(hung.detail, /FENCE_AGENT_TIMEOUT: fence_drover_simulated off ran longer than/);
  assert.ok(Date.now() - started < 6000, 'the timeout bounds the fence');
  assert.ok(!JSON.stringify([off, failed, hung]).includes(SECRET));
});

test('powerOff can be aborted, fences of one host queue, and a test waits for no fence', async (t) => {
  const { controller, stateDir } = await setup(t);
  const { store, events } = controller.services;
  const fencing = new FenceService(store, events, { powerOffTimeoutMs: 30_000, pollMs: 50 });
  await fencing.set('alpha', simulatedBody(stateDir, 'hang'), { name: 'admin' });

  const abort = new AbortController();
  const first = fencing.powerOff('h-alpha', abort.signal);
  const second = fencing.powerOff('h-alpha', AbortSignal.timeout(200));
  await assert.rejects(fencing.test('alpha', { name: 'admin' }), (err: Error & { code?: string }) => err.code === 'HOST_BEING_FENCED');
  setTimeout(() => abort.abort(new Error('HA gave up')), 200);
  const started = Date.now();
  const [cancelled, timedOut] = await Promise.all([first, second]);
  assert.ok(Date.now() - started < 5000, 'aborting killed the agent instead of waiting out the 30 s timeout');
  assert.equal(cancelled.outcome, 'failed');
  assert.match(cancelled.detail, /FENCE_CANCELLED: fence_drover_simulated off was cancelled: HA gave up/);
  // The second waited behind the first, by which time its own signal had fired: it never ran.
  assert.equal(timedOut.outcome, 'failed');
  assert.match(timedOut.detail, /FENCE_AGENT_TIMEOUT: fence_drover_simulated off was given up/);

  await fencing.set('alpha', simulatedBody(stateDir), { name: 'admin' });
  const answered = await fencing.test('alpha', { name: 'admin' });
  assert.equal(answered.result.action, 'status', 'with no fence in flight the test runs again');
});
