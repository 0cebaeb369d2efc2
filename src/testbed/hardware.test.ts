import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readSimulatedWatchdogRecord, writeSimulatedWatchdogRecord, type SimulatedWatchdogRecord } from '../agent/watchdog.js';
import { isAlive } from '../drivers/qemu/process.js';
import { writeSimulatedPower } from '../fencing/simulated-device.js';
import { HARDWARE_STARTED_LINE, judgeWatchdog, newHardwareMemory, runHardware, switchCutPower, tickHardware } from './hardware.js';
import { readState, removeState, writeState, type TestbedState } from './state.js';

const ARMED_AT = '2026-01-01T00:00:00.000Z';
const armed = (feeds: number, timeoutSeconds = 5, armedAt = ARMED_AT): SimulatedWatchdogRecord => ({
  version: 1,
  armed: true,
  timeoutSeconds,
  armedAt,
  fedAt: armedAt,
  feeds,
  pid: 4242,
});

test('the watchdog expires only when an armed file has not changed for its timeout, counted from when it was seen', () => {
  assert.deepEqual(judgeWatchdog(undefined, undefined, 0), { expired: false, memory: undefined }, 'never armed');
  const disarmed: SimulatedWatchdogRecord = { version: 1, armed: false, disarmedAt: 'x', reason: 'disarmed by the agent' };
  assert.deepEqual(judgeWatchdog(disarmed, { armedAt: 'a', feeds: 1, seenAtMs: 0 }, 60_000), { expired: false, memory: undefined }, 'disarmed: forgotten');

  // First seen at 1000 ms: the file's own times do not count, so a file stale when first seen gets a whole timeout.
  const first = judgeWatchdog(armed(1), undefined, 1000);
  assert.deepEqual(first, { expired: false, memory: { armedAt: ARMED_AT, feeds: 1, seenAtMs: 1000 } });
  assert.ok(!first.expired);
  assert.deepEqual(judgeWatchdog(armed(1), first.memory, 5999), { expired: false, memory: first.memory }, 'not yet');
  assert.deepEqual(judgeWatchdog(armed(1), first.memory, 6000), { expired: true, timeoutSeconds: 5, silentMs: 5000 }, 'at the timeout');

  // A feed seen at 5500 ms restarts the count from then.
  const fed = judgeWatchdog(armed(2), first.memory, 5500);
  assert.deepEqual(fed, { expired: false, memory: { armedAt: ARMED_AT, feeds: 2, seenAtMs: 5500 } });
  assert.ok(!fed.expired);
  assert.equal(judgeWatchdog(armed(2), fed.memory, 10_499).expired, false);
  assert.equal(judgeWatchdog(armed(2), fed.memory, 10_500).expired, true);

  // Armed again (a restarted agent counts from 1 again) is a feed too, with the new timeout.
  const rearmed = judgeWatchdog(armed(2, 2, '2026-01-01T00:01:00.000Z'), fed.memory, 9000);
  assert.ok(!rearmed.expired);
  assert.equal(rearmed.memory?.seenAtMs, 9000);
  assert.equal(judgeWatchdog(armed(2, 2, '2026-01-01T00:01:00.000Z'), rearmed.memory, 11_000).expired, true);
});

test('the switch has cut the power when its record says off, or when it acted and the agent is gone (a reboot)', () => {
  assert.equal(switchCutPower('off', false, true), true);
  assert.equal(switchCutPower('off', true, false), true);
  assert.equal(switchCutPower('on', true, false), true, 'reboot: killed and recorded on again');
  assert.equal(switchCutPower('on', true, true), false, 'an on for a host that runs does nothing');
  assert.equal(switchCutPower('on', false, false), false, 'an agent that died without the switch is no power cut');
});

/** A testbed in a temp dir with one host whose "agent" is a stand-in process (node idling with the host's --data-dir). */
function fakeTestbed(t: TestContext, options: { fence: boolean }): { state: TestbedState; agentPid: number } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drover-hardware-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const dataDir = path.join(dir, 'host1');
  fs.mkdirSync(dataDir);
  if (options.fence) fs.mkdirSync(path.join(dir, 'fence'));
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 60_000)', '--', '--data-dir', dataDir], { stdio: 'ignore' });
  const agentPid = child.pid;
  if (agentPid === undefined) throw new Error('the stand-in agent did not start');
  t.after(() => {
    if (isAlive(agentPid)) process.kill(agentPid, 'SIGKILL');
  });
  const state: TestbedState = {
    version: 1,
    id: 'abc123',
    dir,
    createdAt: new Date().toISOString(),
    storage: 'local',
    sharedDir: null,
    controllerUrl: 'http://10.231.0.1:7700',
    fence: options.fence ? 'simulated' : 'none',
    fenceDir: options.fence ? path.join(dir, 'fence') : null,
    watchdog: 'simulated',
    hardware: { pid: null, logFile: path.join(dir, 'hardware.log') },
    bridge: { name: 'drvtb-abc123', address: '10.231.0.1', prefixLength: 24 },
    hosts: [
      {
        name: 'host1',
        namespace: 'drvtb-abc123-h1',
        veth: 'drvtbabc123h1',
        address: '10.231.0.11',
        agentUrl: 'http://10.231.0.11:7701',
        dataDir,
        logFile: path.join(dataDir, 'agent.log'),
        pid: agentPid,
        watchdogFile: path.join(dataDir, 'watchdog'),
      },
    ],
  };
  writeState(state);
  return { state, agentPid };
}

/** Waits until the stand-in's /proc cmdline names its --data-dir (node has exec'd). */
async function untilStarted(pid: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--data-dir')) {
    if (Date.now() > deadline) throw new Error('the stand-in agent never showed its command line');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('a tick lists the host\'s agent for the switch, and an armed feed file left unfed powers the host off as a watchdog reset', async (t) => {
  const { state, agentPid } = fakeTestbed(t, { fence: true });
  await untilStarted(agentPid);
  const host = state.hosts[0];
  assert.ok(host?.watchdogFile);
  writeSimulatedWatchdogRecord(host.watchdogFile, armed(1, 2));
  const memory = newHardwareMemory();
  const log: string[] = [];
  const tick = async (nowMs: number) => {
    const current = readState(state.dir);
    assert.ok(current);
    await tickHardware(current, memory, nowMs, (line) => log.push(line));
  };

  await tick(0);
  assert.match(fs.readFileSync(path.join(state.dir, 'fence', 'host1.pids'), 'utf8'), new RegExp(`^${agentPid} \\[.*"--data-dir"`), 'the agent is listed for the switch');
  await tick(1999);
  assert.ok(isAlive(agentPid), 'not before the timeout');
  await tick(2000);
  assert.equal(isAlive(agentPid), false, 'the agent was killed');
  const after = readState(state.dir)?.hosts[0];
  assert.deepEqual([after?.faults, after?.poweredOffBy, after?.watchdogResets], [{ poweredOff: true, networkDown: false, frozen: false }, 'watchdog', 1]);
  const record = readSimulatedWatchdogRecord(host.watchdogFile);
  assert.ok(record && !record.armed && /lost power \(watchdog\)/.test(record.reason), 'the reset disarmed the watchdog');
  assert.match(log.join('\n'), /host1: watchdog expired \(timeout 2 s, not fed for 2\.0 s\); powered off, killed \d+/);

  // A host that is off is left alone: no second reset, and nothing listed for the switch any more.
  fs.rmSync(path.join(state.dir, 'fence', 'host1.pids'));
  writeSimulatedWatchdogRecord(host.watchdogFile, armed(1, 1));
  await tick(10_000);
  await tick(20_000);
  assert.equal(readState(state.dir)?.hosts[0]?.watchdogResets, 1);
  assert.equal(fs.existsSync(path.join(state.dir, 'fence', 'host1.pids')), false);
});

test('a host the simulated switch powered off is recorded off, and what the switch missed is killed', async (t) => {
  const { state, agentPid } = fakeTestbed(t, { fence: true });
  await untilStarted(agentPid);
  const memory = newHardwareMemory();
  const log: string[] = [];
  const tick = async (nowMs: number) => tickHardware(readState(state.dir) ?? state, memory, nowMs, (line) => log.push(line));
  await tick(0);
  // Stands for the switch's off having missed the agent (e.g. one started after the last list).
  writeSimulatedPower(path.join(state.dir, 'fence'), 'host1', 'off');
  await tick(250);
  assert.equal(isAlive(agentPid), false);
  const after = readState(state.dir)?.hosts[0];
  assert.deepEqual([after?.faults?.poweredOff, after?.poweredOffBy, after?.watchdogResets], [true, 'fence', undefined]);
  assert.match(log.join('\n'), /host1: the simulated fence switch cut its power \(record off\)/);
});

test('the daemon runs until the state file is gone, or names another testbed', async (t) => {
  const { state } = fakeTestbed(t, { fence: false });
  const log: string[] = [];
  const running = runHardware(state.dir, state.id, { tickMs: 20, log: (line) => log.push(line) });
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.ok(log[0]?.startsWith(HARDWARE_STARTED_LINE));
  writeState({ ...state, id: 'def456' });
  await running;
  assert.match(log.at(-1) ?? '', /now holds testbed def456; exiting/);

  const again = runHardware(state.dir, 'def456', { tickMs: 20, log: (line) => log.push(line) });
  removeState(state.dir);
  await again;
  assert.equal(log.at(-1), 'the testbed is gone; exiting');
});
