import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { isAlive } from '../drivers/qemu/process.js';
import { checkDeviceAgainstAgent, describeAgent, fenceHost, testDevice } from './fence.js';
import { SIMULATED_FENCE_AGENT, simulatedFenceDevice, writeSimulatedHostPids } from './simulated-device.js';
import { ODDBALL_AGENT, killIfAlive, ownedTempDir, startSleeper, waitGone, writeTestAgent, rejection } from './test-support.js';

test('fencing a testbed host kills its processes and succeeds only once status reports off', async (t) => {
  const stateDir = ownedTempDir(t);
  const agent = startSleeper(t);
  const qemu = startSleeper(t);
  writeSimulatedHostPids(stateDir, 'host1', [agent, qemu]);
  const outcome = await fenceHost(simulatedFenceDevice(stateDir, 'host1'), { timeoutMs: 15_000, pollMs: 50 });
  assert.equal(outcome.state, 'off');
  assert.equal(outcome.statusChecks, 1);
  assert.equal(outcome.offOutput, 'Success: Powered OFF');
  assert.equal(outcome.statusOutput, 'Status: OFF');
  assert.ok(!isAlive(agent) && !isAlive(qemu));
});

test('a device that claims off but still reports on is FENCE_NOT_CONFIRMED, never success', async (t) => {
  const stateDir = ownedTempDir(t);
  const pid = startSleeper(t);
  writeSimulatedHostPids(stateDir, 'host1', [pid]);
  const err = await rejection(fenceHost(simulatedFenceDevice(stateDir, 'host1', 'ignore-off'), { timeoutMs: 2500, pollMs: 200 }), 'FENCE_NOT_CONFIRMED');
  assert.match(err.detail ?? '', /status still reports on/);
  assert.ok(isAlive(pid), 'nothing was killed, so it must not count as fenced');
});

test('status is polled until it reports off', async (t) => {
  const dir = ownedTempDir(t);
  writeTestAgent(dir, 'fence_oddball', ODDBALL_AGENT);
  const device = { agent: 'fence_oddball', options: { mode: 'off-later', counter: path.join(dir, 'counter'), after: '2' } };
  const outcome = await fenceHost(device, { agentDirs: [dir], timeoutMs: 10_000, pollMs: 20 });
  assert.equal(outcome.statusChecks, 3);
});

test('a failing off, a hanging off and a hanging status all fail the fence', async (t) => {
  const stateDir = ownedTempDir(t);
  await rejection(fenceHost(simulatedFenceDevice(stateDir, 'host1', 'fail'), { timeoutMs: 10_000 }), 'FENCE_AGENT_FAILED');
  const hung = await rejection(fenceHost(simulatedFenceDevice(stateDir, 'host1', 'hang'), { timeoutMs: 1000 }), 'FENCE_AGENT_TIMEOUT');
  const hungPids = [...(hung.detail ?? '').matchAll(/(?:agent|helper) pid (\d+)/g)].map((match) => Number(match[1]));
  t.after(() => hungPids.forEach(killIfAlive));
  assert.equal(hungPids.length, 2, hung.detail);
  for (const pid of hungPids) assert.ok(await waitGone(pid), `pid ${pid} outlived the timeout`);
  // off succeeds, then every status call times out: the deadline passes without a confirmed off.
  const dir = ownedTempDir(t);
  writeTestAgent(dir, 'fence_slowstatus', 'input=$(cat); case "$input" in *action=status*) exec sleep 30 ;; esac; exit 0');
  const err = await rejection(fenceHost({ agent: 'fence_slowstatus', options: {} }, { agentDirs: [dir], timeoutMs: 1500, pollMs: 50 }), 'FENCE_NOT_CONFIRMED');
  assert.match(err.detail ?? '', /ran longer than/);
});

test('aborting a fence kills the agent at once: FENCE_CANCELLED, or FENCE_AGENT_TIMEOUT for a timeout signal', async (t) => {
  const stateDir = ownedTempDir(t);
  const controller = new AbortController();
  const started = Date.now();
  setTimeout(() => controller.abort(new Error('HA gave up')), 300);
  const cancelled = await rejection(fenceHost(simulatedFenceDevice(stateDir, 'host1', 'hang'), { timeoutMs: 30_000, signal: controller.signal }), 'FENCE_CANCELLED');
  assert.match(cancelled.detail ?? '', /off was cancelled: HA gave up/);
  assert.ok(Date.now() - started < 5000, 'the agent was killed on abort, not at its timeout');
  const timedOut = await rejection(fenceHost(simulatedFenceDevice(stateDir, 'host1', 'hang'), { timeoutMs: 30_000, signal: AbortSignal.timeout(300) }), 'FENCE_AGENT_TIMEOUT');
  assert.match(timedOut.detail ?? '', /was given up/);
  // Aborted while status keeps saying on: the checks stop instead of running to the deadline.
  const polling = new AbortController();
  setTimeout(() => polling.abort(), 500);
  await rejection(fenceHost(simulatedFenceDevice(stateDir, 'host1', 'ignore-off'), { timeoutMs: 30_000, pollMs: 100, signal: polling.signal }), 'FENCE_CANCELLED');
  await rejection(fenceHost(simulatedFenceDevice(stateDir, 'host1'), { signal: AbortSignal.abort() }), 'FENCE_CANCELLED');
});

test('a device is refused before anything runs when its options are unsafe', async () => {
  await rejection(fenceHost({ agent: SIMULATED_FENCE_AGENT, options: { plug: 'host1', action: 'on' } }), 'FENCE_OPTION_INVALID');
  await rejection(fenceHost({ agent: 'fence_x;rm', options: {} }), 'FENCE_AGENT_NOT_FOUND');
});

test('testing a device asks status and reports what it said, without changing power', async (t) => {
  const stateDir = ownedTempDir(t);
  const pid = startSleeper(t);
  writeSimulatedHostPids(stateDir, 'host1', [pid]);
  assert.deepEqual(await testDevice(simulatedFenceDevice(stateDir, 'host1')), { action: 'status', state: 'on', output: 'Status: ON' });
  assert.ok(isAlive(pid));
  await rejection(testDevice(simulatedFenceDevice(stateDir, 'host1', 'fail')), 'FENCE_AGENT_FAILED');
});

test('testing falls back to monitor when the agent has no status', async (t) => {
  const dir = ownedTempDir(t);
  const metadata = '<resource-agent name="fence_monitoronly"><parameters/><actions><action name="off"/><action name="monitor"/></actions></resource-agent>';
  writeTestAgent(dir, 'fence_monitoronly', `input=$(cat); case "$input" in *action=metadata*) echo '${metadata}' ;; *action=monitor*) echo reachable ;; *) exit 1 ;; esac`);
  assert.deepEqual(await testDevice({ agent: 'fence_monitoronly', options: {} }, { agentDirs: [dir] }), { action: 'monitor', reachable: true, output: 'reachable' });
});

test('the simulated agent describes itself, and device options are checked against that', async (t) => {
  const stateDir = ownedTempDir(t);
  const description = await describeAgent(SIMULATED_FENCE_AGENT);
  assert.deepEqual(
    description.parameters.map((p) => [p.name, p.required]),
    [['plug', true], ['port', true], ['state_dir', true], ['simulate', false], ['password', false], ['verbose', false]],
  );
  assert.deepEqual(description.actions, ['on', 'off', 'reboot', 'status', 'monitor', 'metadata', 'validate-all']);
  await checkDeviceAgainstAgent(simulatedFenceDevice(stateDir, 'host1', 'hang'));
  const err = await rejection(checkDeviceAgainstAgent({ agent: SIMULATED_FENCE_AGENT, options: { 'state-dir': stateDir, simulate: 'sometimes' } }), 'FENCE_OPTION_INVALID');
  assert.match(err.detail ?? '', /simulate must be one of none, fail, hang, ignore-off; option plug is required/);
});
