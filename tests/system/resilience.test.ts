import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanupDataDir, makeDataDir, startAgent, type TestAgent } from '../helpers/agent.js';
import { createVm, eventually, shOk, startReady, type VmView } from '../helpers/vm.js';

describe('resilience: agent restarts and QEMU crashes', () => {
  let agent: TestAgent;
  const dataDir = makeDataDir();

  before(async () => {
    agent = await startAgent(dataDir);
  });
  after(async () => {
    await agent?.stopProcess();
    await cleanupDataDir(dataDir);
  });

  test('restarting the agent keeps VMs running: same QEMU pid, guest uptime keeps counting', async () => {
    await createVm(agent, { name: 'steady' });
    const ready = await startReady(agent, 'steady');
    const pid = ready.pid;
    assert.ok(pid);
    const uptimeBefore = Number((await shOk(agent, 'steady', 'cut -d" " -f1 /proc/uptime')).trim());

    await agent.stopProcess('SIGKILL');
    assert.ok(process.kill(pid, 0), 'QEMU outlives its agent');
    agent = await startAgent(dataDir);

    const after = await agent.api<VmView>('GET', '/api/v1/vms/steady');
    assert.equal(after.body.state, 'running');
    assert.equal(after.body.pid, pid);
    const uptimeAfter = Number((await shOk(agent, 'steady', 'cut -d" " -f1 /proc/uptime')).trim());
    assert.ok(uptimeAfter > uptimeBefore, `guest uptime went on: ${uptimeBefore} -> ${uptimeAfter}`);
  });

  test('a QEMU killed with SIGKILL is reported crashed with the reason', async () => {
    const vm = (await agent.api<VmView>('GET', '/api/v1/vms/steady')).body;
    process.kill(vm.pid!, 'SIGKILL');
    const crashed = await eventually(async () => {
      const now = (await agent.api<VmView>('GET', '/api/v1/vms/steady')).body;
      assert.equal(now.state, 'crashed');
      return now;
    }, 15_000);
    assert.match(crashed.crashReason ?? '', /QEMU/);
  });

  test('a QEMU that dies while the agent is down is reported crashed after the agent returns', async () => {
    await createVm(agent, { name: 'lonely' });
    const started = (await agent.api<VmView>('POST', '/api/v1/vms/lonely/start')).body;
    await agent.stopProcess('SIGTERM');
    process.kill(started.pid!, 'SIGKILL');
    await eventually(async () => assert.throws(() => process.kill(started.pid!, 0)), 5_000).catch(() => undefined);
    agent = await startAgent(dataDir);
    const vm = (await agent.api<VmView>('GET', '/api/v1/vms/lonely')).body;
    assert.equal(vm.state, 'crashed');
    assert.match(vm.crashReason ?? '', /agent was not running/);
    // A crashed VM can be started again.
    await startReady(agent, 'lonely');
    await agent.api('POST', '/api/v1/vms/lonely/kill');
  });
});
