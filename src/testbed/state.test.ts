import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readState, removeState, updateHost, updateState, writeState, type TestbedState } from './state.js';

function testbedIn(dir: string): TestbedState {
  return {
    version: 1,
    id: 'abc123',
    dir,
    createdAt: new Date().toISOString(),
    storage: 'local',
    sharedDir: null,
    controllerUrl: 'http://10.231.0.1:7700',
    bridge: { name: 'drvtb-abc123', address: '10.231.0.1', prefixLength: 24 },
    hosts: [{ name: 'host1', namespace: 'n', veth: 'v', address: '10.231.0.11', agentUrl: 'http://10.231.0.11:7701', dataDir: path.join(dir, 'host1'), logFile: 'l', pid: null }],
  };
}

test('updates under the lock lose no change, a lock whose holder died is taken over, and a removed testbed is not written', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drover-state-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  writeState(testbedIn(dir));
  // Interleaved read-modify-writes: each re-reads under the lock, so every increment lands.
  await Promise.all(
    Array.from({ length: 40 }, async () => {
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5));
      await updateHost(dir, 'host1', (host) => void (host.watchdogResets = (host.watchdogResets ?? 0) + 1));
    }),
  );
  assert.equal(readState(dir)?.hosts[0]?.watchdogResets, 40);
  await assert.rejects(updateHost(dir, 'host9', () => undefined), /no testbed host host9/);

  // A process that has exited stands for a holder that died holding the lock.
  const dead = spawnSync('true').pid;
  fs.writeFileSync(path.join(dir, 'testbed.json.lock'), `${dead}\n`);
  const updated = await updateState(dir, (state) => void (state.cpuOvercommit = 2));
  assert.equal(updated?.cpuOvercommit, 2);
  assert.equal(fs.existsSync(path.join(dir, 'testbed.json.lock')), false, 'released');

  removeState(dir);
  assert.equal(await updateState(dir, () => assert.fail('no state to change')), undefined);
  assert.deepEqual(fs.readdirSync(dir), []);
});
