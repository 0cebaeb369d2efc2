/**
 * Drover's fencing code against real ClusterLabs agents from Debian's fence-agents package
 * (`apt-get install fence-agents`). Skipped, with the reason, where the package is absent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { isDroverError } from '../shared/errors.js';
import { resolveFenceAgent, runFenceAgent } from './agent.js';
import { describeAgent, fenceHost, testDevice } from './fence.js';
import { checkOptionsAgainstAgent } from './metadata.js';
import { ownedTempDir } from './test-support.js';

function missing(agent: string): string | false {
  try {
    resolveFenceAgent(agent);
    return false;
  } catch {
    return `${agent} is not installed: Debian's fence-agents package is absent (apt-get install fence-agents)`;
  }
}

test('fence_ipmilan\'s metadata parses into its parameters and actions', { skip: missing('fence_ipmilan') }, async () => {
  const description = await describeAgent('fence_ipmilan');
  assert.equal(description.name, 'fence_ipmilan');
  const names = description.parameters.map((p) => p.name);
  for (const name of ['ip', 'username', 'password', 'plug', 'lanplus', 'method']) assert.ok(names.includes(name), name);
  assert.ok(!names.includes('action'), 'Drover sets the action itself');
  assert.equal(description.parameters.find((p) => p.name === 'ipaddr')?.obsoletedBy, 'ip');
  assert.deepEqual(description.parameters.find((p) => p.name === 'method')?.choices, ['onoff', 'cycle']);
  for (const action of ['on', 'off', 'reboot', 'status', 'monitor', 'metadata']) assert.ok(description.actions.includes(action), action);
  assert.deepEqual(checkOptionsAgainstAgent(description, { ip: '192.0.2.10', username: 'admin', password: 'x', lanplus: '1' }), []);
  assert.deepEqual(checkOptionsAgainstAgent(description, { ip: '192.0.2.10', method: 'yank' }), ['option method must be one of onoff, cycle']);
});

test('fence_ipmilan failing to reach its BMC is FENCE_AGENT_FAILED, without the password', { skip: missing('fence_ipmilan') }, async () => {
  const password = 'bmc-Secret-42';
  // 192.0.2.0/24 is TEST-NET-1: nothing answers there (and without ipmitool the agent stops sooner).
  const options = { ip: '192.0.2.10', username: 'admin', password, lanplus: '1', login_timeout: '2', power_timeout: '2' };
  await assert.rejects(runFenceAgent('fence_ipmilan', options, 'status', { timeoutMs: 30_000 }), (err) => {
    assert.ok(isDroverError(err, 'FENCE_AGENT_FAILED') || isDroverError(err, 'FENCE_AGENT_TIMEOUT'), String(err));
    assert.ok(!err.message.includes(password));
    return true;
  });
});

test('fence_dummy, a real agent keeping power in a file, is fenced and confirmed off', { skip: missing('fence_dummy') }, async (t) => {
  const dir = ownedTempDir(t);
  const device = { agent: 'fence_dummy', options: { status_file: path.join(dir, 'status') } };
  await runFenceAgent(device.agent, device.options, 'on', { timeoutMs: 30_000 });
  assert.deepEqual(await testDevice(device, { timeoutMs: 30_000 }), { action: 'status', state: 'on', output: 'Status: ON' });
  const outcome = await fenceHost(device, { timeoutMs: 60_000, pollMs: 100 });
  assert.equal(outcome.statusChecks, 1);
  assert.equal(fs.readFileSync(device.options.status_file, 'utf8'), 'off');
});
