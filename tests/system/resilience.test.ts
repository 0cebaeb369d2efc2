import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startAgent, useAgent } from '../helpers/agent.js';
import { createVm, eventually, shOk, startReady, type VmView } from '../helpers/vm.js';

describe('resilience: agent restarts and QEMU crashes', () => {
  const suite = useAgent();
  const { dataDir } = suite;

  test('restarting the agent keeps VMs running: same QEMU pid, guest uptime keeps counting', async () => {
    await createVm(suite.agent, { name: 'steady' });
    const ready = await startReady(suite.agent, 'steady');
    const pid = ready.pid;
    assert.ok(pid);
    const uptimeBefore = Number((await shOk(suite.agent, 'steady', 'cut -d" " -f1 /proc/uptime')).trim());

    await suite.agent.stopProcess('SIGKILL');
    assert.ok(process.kill(pid, 0), 'QEMU outlives its agent');
    suite.agent = await startAgent(dataDir);

    const after = await suite.agent.api<VmView>('GET', '/api/v1/vms/steady');
    assert.equal(after.body.state, 'running');
    assert.equal(after.body.pid, pid);
    const uptimeAfter = Number((await shOk(suite.agent, 'steady', 'cut -d" " -f1 /proc/uptime')).trim());
    assert.ok(uptimeAfter > uptimeBefore, `guest uptime went on: ${uptimeBefore} -> ${uptimeAfter}`);
  });

  test('a QEMU killed with SIGKILL is reported crashed with the reason', async () => {
    const vm = (await suite.agent.api<VmView>('GET', '/api/v1/vms/steady')).body;
    process.kill(vm.pid!, 'SIGKILL');
    const crashed = await eventually(async () => {
      const now = (await suite.agent.api<VmView>('GET', '/api/v1/vms/steady')).body;
      assert.equal(now.state, 'crashed');
      return now;
    }, 15_000);
    assert.match(crashed.crashReason ?? '', /QEMU/);
  });

  test('a QEMU that dies while the agent is down is reported crashed after the agent returns', async () => {
    await createVm(suite.agent, { name: 'lonely' });
    const started = (await suite.agent.api<VmView>('POST', '/api/v1/vms/lonely/start')).body;
    await suite.agent.stopProcess('SIGTERM');
    process.kill(started.pid!, 'SIGKILL');
    await eventually(async () => assert.throws(() => process.kill(started.pid!, 0)), 5_000).catch(() => undefined);
    suite.agent = await startAgent(dataDir);
    const vm = (await suite.agent.api<VmView>('GET', '/api/v1/vms/lonely')).body;
    assert.equal(vm.state, 'crashed');
    assert.match(vm.crashReason ?? '', /agent was not running/);
    // A crashed VM can be started again.
    await startReady(suite.agent, 'lonely');
    await suite.agent.api('POST', '/api/v1/vms/lonely/kill');
  });
});
