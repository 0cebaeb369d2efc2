import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { isDroverError } from '../shared/errors.js';
import { agentInput, resolveFenceAgent, runFenceAgent } from './agent.js';
import { SIMULATED_FENCE_AGENT } from './simulated-device.js';
import { ODDBALL_AGENT, killIfAlive, ownedTempDir, waitGone, writeTestAgent, rejection } from './test-support.js';

test('the simulated switch answers status, off and on by exit code', async (t) => {
  const stateDir = ownedTempDir(t);
  const options = { plug: 'host1', 'state-dir': stateDir };
  const first = await runFenceAgent(SIMULATED_FENCE_AGENT, options, 'status', { timeoutMs: 10_000 });
  assert.equal(first.state, 'on');
  assert.equal(first.stdout, 'Status: ON');
  const off = await runFenceAgent(SIMULATED_FENCE_AGENT, options, 'off', { timeoutMs: 10_000 });
  assert.equal(off.done, true);
  assert.equal((await runFenceAgent(SIMULATED_FENCE_AGENT, options, 'status', { timeoutMs: 10_000 })).state, 'off');
  await runFenceAgent(SIMULATED_FENCE_AGENT, options, 'on', { timeoutMs: 10_000 });
  assert.equal((await runFenceAgent(SIMULATED_FENCE_AGENT, options, 'status', { timeoutMs: 10_000 })).state, 'on');
  const monitor = await runFenceAgent(SIMULATED_FENCE_AGENT, options, 'monitor', { timeoutMs: 10_000 });
  assert.deepEqual([monitor.reachable, monitor.state], [true, undefined]);
  const metadata = await runFenceAgent(SIMULATED_FENCE_AGENT, {}, 'metadata', { timeoutMs: 10_000 });
  assert.match(metadata.xml, /<resource-agent name="fence_drover_simulated"/);
});

test('a failing device is FENCE_AGENT_FAILED with the agent\'s message', async (t) => {
  const stateDir = ownedTempDir(t);
  const err = await rejection(runFenceAgent(SIMULATED_FENCE_AGENT, { plug: 'host1', 'state-dir': stateDir, simulate: 'fail' }, 'off', { timeoutMs: 10_000 }), 'FENCE_AGENT_FAILED');
  assert.match(err.detail ?? '', /fence_drover_simulated off failed \(exit code 1\): Failed: Unable to connect\/login/);
  const missing = await rejection(runFenceAgent(SIMULATED_FENCE_AGENT, { plug: 'host1', 'state-dir': path.join(stateDir, 'gone') }, 'status', { timeoutMs: 10_000 }), 'FENCE_AGENT_FAILED');
  assert.match(missing.detail ?? '', /could not read the power state/);
});

test('a hanging agent times out, and it and the helper in its process group are SIGKILLed', async (t) => {
  const stateDir = ownedTempDir(t);
  const started = Date.now();
  const err = await rejection(
    runFenceAgent(SIMULATED_FENCE_AGENT, { plug: 'host1', 'state-dir': stateDir, simulate: 'hang' }, 'off', { timeoutMs: 1500 }),
    'FENCE_AGENT_TIMEOUT',
  );
  assert.ok(Date.now() - started < 5000, 'the caller is not held past the kill');
  const match = /agent pid (\d+), helper pid (\d+)/.exec(err.detail ?? '');
  assert.ok(match?.[1] && match[2], `the hang's own report is in the detail: ${err.detail}`);
  const pids = [Number(match[1]), Number(match[2])];
  t.after(() => pids.forEach(killIfAlive));
  for (const pid of pids) assert.ok(await waitGone(pid), `pid ${pid} still runs after the timeout`);
});

test('options are checked before anything runs, and the action is refused as an option', async (t) => {
  const dir = ownedTempDir(t);
  const record = path.join(dir, 'stdin');
  writeTestAgent(dir, 'fence_oddball', ODDBALL_AGENT);
  const lookup = { agentDirs: [dir], timeoutMs: 10_000 };
  await rejection(runFenceAgent('fence_oddball', { record, password: 'x\naction=on' }, 'off', lookup), 'FENCE_OPTION_INVALID');
  await rejection(runFenceAgent('fence_oddball', { record, action: 'on' }, 'off', lookup), 'FENCE_OPTION_INVALID');
  await rejection(runFenceAgent('fence_oddball', { record }, 'off\naction=on' as 'off', lookup), 'INVALID_ARGUMENT');
  assert.equal(fs.existsSync(record), false, 'the agent never ran');
  await runFenceAgent('fence_oddball', { record, ip: '10.0.0.9', password: 'p=w' }, 'off', lookup);
  assert.equal(fs.readFileSync(record, 'utf8'), `record=${record}\nip=10.0.0.9\npassword=p=w\naction=off`);
  assert.equal(agentInput({ a: '1' }, 'status'), 'a=1\naction=status\n');
});

test('secrets never reach an error: not from a verbose agent, nor from one that prints its password', async (t) => {
  const dir = ownedTempDir(t);
  writeTestAgent(dir, 'fence_oddball', ODDBALL_AGENT);
  const password = 'Tr0ub4dor&3';
  const verbose = await rejection(
    runFenceAgent(SIMULATED_FENCE_AGENT, { plug: 'host1', 'state-dir': dir, simulate: 'fail', verbose: '1', password }, 'status', { timeoutMs: 10_000 }),
    'FENCE_AGENT_FAILED',
  );
  const echoed = await rejection(runFenceAgent('fence_oddball', { mode: 'echo-secret', username: 'root', password }, 'status', { agentDirs: [dir], timeoutMs: 10_000 }), 'FENCE_AGENT_FAILED');
  for (const err of [verbose, echoed]) {
    assert.ok(!err.message.includes(password) && !JSON.stringify(err.toJSON()).includes(password), err.message);
    assert.match(err.message, /\*\*\*/);
  }
  assert.match(echoed.detail ?? '', /login as root with password \*\*\* refused/);
});

test('odd exit codes, a signal and garbage are failures, never a power state', async (t) => {
  const dir = ownedTempDir(t);
  writeTestAgent(dir, 'fence_oddball', ODDBALL_AGENT);
  const run = <A extends 'status' | 'off' | 'monitor' | 'metadata'>(mode: string, action: A) => runFenceAgent('fence_oddball', { mode }, action, { agentDirs: [dir], timeoutMs: 10_000 });
  for (const action of ['status', 'off', 'monitor'] as const) {
    const err = await rejection(run('exit7', action), 'FENCE_AGENT_FAILED');
    assert.match(err.detail ?? '', /unexpected code 7: something odd happened/);
  }
  assert.match((await rejection(run('off-exit-2', 'off'), 'FENCE_AGENT_FAILED')).detail ?? '', /off exited with unexpected code 2/);
  assert.match((await rejection(run('signal', 'status'), 'FENCE_AGENT_FAILED')).detail ?? '', /killed by SIGKILL/);
  assert.match((await rejection(run('contradict', 'status'), 'FENCE_AGENT_FAILED')).detail ?? '', /exited 0 \(on\) but printed "Status: OFF"/);
  assert.match((await rejection(run('garbage', 'metadata'), 'FENCE_AGENT_FAILED')).detail ?? '', /no <resource-agent>/);
  assert.match((await rejection(run('flood', 'status'), 'FENCE_AGENT_FAILED')).detail ?? '', /more than \d+ bytes/);
  // Exit 0 with garbage on stdout is still "on" for status: the exit code is the answer.
  assert.equal((await run('garbage', 'status')).state, 'on');
});

test('an agent that exits without reading a large stdin, or leaves a child holding its pipes, still answers', async (t) => {
  const dir = ownedTempDir(t);
  writeTestAgent(dir, 'fence_deaf', 'echo "Status: ON"; exit 0');
  writeTestAgent(dir, 'fence_oddball', ODDBALL_AGENT);
  const big = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, 'v'.repeat(4000)]));
  assert.equal((await runFenceAgent('fence_deaf', big, 'status', { agentDirs: [dir], timeoutMs: 10_000 })).state, 'on');
  const started = Date.now();
  const result = await runFenceAgent('fence_oddball', { mode: 'leftover-child' }, 'status', { agentDirs: [dir], timeoutMs: 10_000 });
  const child = Number(/left child (\d+)/.exec(result.stderr)?.[1]);
  t.after(() => killIfAlive(child));
  assert.equal(result.state, 'off');
  assert.ok(Date.now() - started < 5000);
});

test('agents run with a clean environment: Drover\'s token does not reach them', async (t) => {
  const dir = ownedTempDir(t);
  writeTestAgent(dir, 'fence_oddball', ODDBALL_AGENT);
  const saved = process.env.DROVER_TOKEN;
  process.env.DROVER_TOKEN = 'drv_token_that_must_not_leak';
  t.after(() => {
    if (saved === undefined) delete process.env.DROVER_TOKEN;
    else process.env.DROVER_TOKEN = saved;
  });
  const err = await rejection(runFenceAgent('fence_oddball', { mode: 'env' }, 'status', { agentDirs: [dir], timeoutMs: 10_000 }), 'FENCE_AGENT_FAILED');
  assert.ok(!err.message.includes('drv_token_that_must_not_leak'));
  assert.match(err.message, /LC_ALL=C/);
});

test('agents are found in the given directories first, and unknown or malformed names are FENCE_AGENT_NOT_FOUND', async (t) => {
  const dir = ownedTempDir(t);
  const file = writeTestAgent(dir, 'fence_oddball', ODDBALL_AGENT);
  assert.equal(resolveFenceAgent('fence_oddball', { agentDirs: [dir] }), file);
  assert.match(resolveFenceAgent(SIMULATED_FENCE_AGENT), /bin\/fence_drover_simulated$/);
  fs.writeFileSync(path.join(dir, 'fence_notexec'), '#!/bin/sh\n', { mode: 0o644 });
  for (const name of ['fence_notexec', 'fence_no_such_agent_here', 'fence_../x', 'ls']) {
    assert.throws(() => resolveFenceAgent(name, { agentDirs: [dir] }), (err) => isDroverError(err, 'FENCE_AGENT_NOT_FOUND'), name);
  }
  await rejection(runFenceAgent('fence_no_such_agent_here', {}, 'status'), 'FENCE_AGENT_NOT_FOUND');
});
