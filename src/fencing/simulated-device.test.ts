import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { isAlive } from '../drivers/qemu/process.js';
import { isDroverError } from '../shared/errors.js';
import { repoRoot } from '../shared/paths.js';
import { runFenceAgent } from './agent.js';
import { SIMULATED_FENCE_AGENT, simulatedFenceDevice, writeSimulatedHostPids } from './simulated-device.js';
import { ownedTempDir, startSleeper, waitGone } from './test-support.js';

test('the pid list records each live process with its command line and skips the dead', (t) => {
  const stateDir = ownedTempDir(t);
  const pid = startSleeper(t);
  writeSimulatedHostPids(stateDir, 'host1', [pid, 999_999_999]);
  assert.equal(fs.readFileSync(path.join(stateDir, 'host1.pids'), 'utf8'), `${pid} ["sleep","300"]\n`);
  assert.throws(() => writeSimulatedHostPids(stateDir, '../host1', [pid]), (err) => isDroverError(err, 'INVALID_ARGUMENT'));
  assert.throws(() => writeSimulatedHostPids(stateDir, 'host1', [1]), (err) => isDroverError(err, 'INVALID_ARGUMENT'));
});

test('off kills exactly the listed processes whose command line still matches, and records the host off', async (t) => {
  const stateDir = ownedTempDir(t);
  const listed = startSleeper(t);
  const bare = startSleeper(t);
  const otherHost = startSleeper(t);
  const reused = startSleeper(t);
  writeSimulatedHostPids(stateDir, 'host2', [otherHost]);
  // `reused` stands for a pid taken over by another program: the recorded argv no longer matches.
  fs.writeFileSync(path.join(stateDir, 'host1.pids'), `${listed} ["sleep","300"]\n# a comment\n${bare}\n${reused} ["qemu-system-x86_64","-name","vm1"]\n`);
  const device = simulatedFenceDevice(stateDir, 'host1');
  await runFenceAgent(device.agent, device.options, 'off', { timeoutMs: 10_000 });
  assert.ok(await waitGone(listed), 'the listed process was killed');
  assert.ok(await waitGone(bare), 'a pid listed without argv was killed');
  assert.ok(isAlive(otherHost), 'another host\'s process was left alone');
  assert.ok(isAlive(reused), 'a pid whose command line changed was left alone');
  assert.equal(fs.readFileSync(path.join(stateDir, 'host1.power'), 'utf8'), 'off\n');
  assert.equal((await runFenceAgent(device.agent, device.options, 'status', { timeoutMs: 10_000 })).state, 'off');
  assert.equal((await runFenceAgent(device.agent, simulatedFenceDevice(stateDir, 'host2').options, 'status', { timeoutMs: 10_000 })).state, 'on');
});

test('off with nothing listed, or repeated, still records off; reboot kills and records on', async (t) => {
  const stateDir = ownedTempDir(t);
  const device = simulatedFenceDevice(stateDir, 'host1');
  await runFenceAgent(device.agent, device.options, 'off', { timeoutMs: 10_000 });
  await runFenceAgent(device.agent, device.options, 'off', { timeoutMs: 10_000 });
  assert.equal((await runFenceAgent(device.agent, device.options, 'status', { timeoutMs: 10_000 })).state, 'off');
  const pid = startSleeper(t);
  writeSimulatedHostPids(stateDir, 'host1', [pid]);
  await runFenceAgent(device.agent, device.options, 'reboot', { timeoutMs: 10_000 });
  assert.ok(await waitGone(pid));
  assert.equal((await runFenceAgent(device.agent, device.options, 'status', { timeoutMs: 10_000 })).state, 'on');
});

test('ignore-off claims success but kills nothing and keeps the host on', async (t) => {
  const stateDir = ownedTempDir(t);
  const pid = startSleeper(t);
  writeSimulatedHostPids(stateDir, 'host1', [pid]);
  const device = simulatedFenceDevice(stateDir, 'host1', 'ignore-off');
  assert.equal((await runFenceAgent(device.agent, device.options, 'off', { timeoutMs: 10_000 })).stdout, 'Success: Powered OFF');
  assert.ok(isAlive(pid));
  assert.equal((await runFenceAgent(device.agent, device.options, 'status', { timeoutMs: 10_000 })).state, 'on');
});

test('a bad plug, a relative state directory or a malformed pid list fail with exit code 1', async (t) => {
  const stateDir = ownedTempDir(t);
  const cases: Record<string, string>[] = [
    { plug: '../etc', 'state-dir': stateDir },
    { plug: 'host1', 'state-dir': 'relative/dir' },
    { plug: 'host1', 'state-dir': stateDir, simulate: 'explode' },
  ];
  for (const options of cases) {
    await assert.rejects(runFenceAgent(SIMULATED_FENCE_AGENT, options, 'status', { timeoutMs: 10_000 }), (err) => isDroverError(err, 'FENCE_AGENT_FAILED'));
  }
  fs.writeFileSync(path.join(stateDir, 'host1.pids'), 'sleep\n');
  await assert.rejects(runFenceAgent(SIMULATED_FENCE_AGENT, { plug: 'host1', 'state-dir': stateDir }, 'off', { timeoutMs: 10_000 }), /does not start with a pid/);
  assert.equal(fs.existsSync(path.join(stateDir, 'host1.power')), false, 'a failed off records nothing');
});

test('the command-line mode answers like stdin does', async (t) => {
  const stateDir = ownedTempDir(t);
  const status = (): Promise<number | null> =>
    new Promise((resolve) => {
      const child = spawn(path.join(repoRoot, 'bin', SIMULATED_FENCE_AGENT), ['--action=status', '--plug=host1', `--state-dir=${stateDir}`], { stdio: 'ignore' });
      child.on('exit', resolve);
    });
  assert.equal(await status(), 0);
  fs.writeFileSync(path.join(stateDir, 'host1.power'), 'off\n');
  assert.equal(await status(), 2);
});
