import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readSimulatedWatchdogRecord } from '../../src/agent/watchdog.js';
import { fenceHost } from '../../src/fencing/fence.js';
import { readSimulatedPower, simulatedFenceDevice } from '../../src/fencing/simulated-device.js';
import { run } from '../../src/shared/exec.js';
import { testbedDown } from '../../src/testbed/down.js';
import { readState, type TestbedState } from '../../src/testbed/state.js';
import type { TestbedHardwareStatus, TestbedHostStatus } from '../../src/testbed/status.js';
import { makeDataDir } from '../helpers/agent.js';
import { cleanupDrover, droverCli, startDrover, until, type TestDrover } from '../helpers/up.js';

interface Host {
  name: string;
  address: string;
  health: string;
}
interface Vm {
  name: string;
  host: string | null;
  state: string;
  pid: number | null;
  guestReady: boolean;
}

/** True while `pid` is a live process (a zombie counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !['Z', 'X'].includes(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
  } catch {
    return false;
  }
}

async function namespaceOf(pid: number): Promise<string> {
  return (await run('ip', ['netns', 'identify', String(pid)])).stdout.trim();
}

/** The value after `flag` on live process `pid`'s command line. */
function argOf(pid: number, flag: string): string | undefined {
  const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  return args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined;
}

/** The one-letter process state (R, S, T...) of `pid`. */
function processState(pid: number): string {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

interface StatusJson {
  fence: string;
  watchdog: string;
  hardware: TestbedHardwareStatus | null;
  hosts: TestbedHostStatus[];
}

describe('testbed: three hosts in their own network namespaces, joined to drover up', () => {
  const dataDir = makeDataDir();
  const testbedDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'drv-tb-')), 'testbed');
  let drover: TestDrover;
  let state: TestbedState;

  const cli = droverCli(() => drover);

  before(async () => {
    // The hosts reach the controller at the testbed bridge's address, so it listens on every address.
    drover = await startDrover(dataDir, undefined, '0.0.0.0');
  });
  after(async () => {
    // By the state file, whatever the tests got to; a second run finds nothing and is harmless.
    await testbedDown(testbedDir).catch((err: unknown) => console.error('testbed cleanup:', err));
    fs.rmSync(path.dirname(testbedDir), { recursive: true, force: true });
    await cleanupDrover(drover, dataDir);
  });

  test('testbed up joins three healthy hosts, each agent in its own namespace', { timeout: 180_000 }, async () => {
    const up = await cli(['testbed', 'up', '--hosts', '3', '--dir', testbedDir, '-o', 'json']);
    assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
    state = JSON.parse(up.stdout) as TestbedState;
    assert.deepEqual(state.hosts.map((h) => h.name), ['host1', 'host2', 'host3']);

    const hosts = (await drover.api<{ hosts: Host[] }>('GET', '/api/v1/hosts')).body.hosts;
    assert.equal(hosts.length, 4, JSON.stringify(hosts));
    const testbedHosts = hosts.filter((h) => /^host[123]$/.test(h.name));
    assert.equal(testbedHosts.length, 3);
    for (const host of testbedHosts) assert.equal(host.health, 'healthy', host.name);
    assert.equal(new Set(hosts.map((h) => h.address)).size, 4, 'every host has its own address');

    const namespaces = new Set<string>();
    for (const host of state.hosts) {
      assert.ok(host.pid !== null && alive(host.pid), `${host.name}'s agent runs`);
      const namespace = await namespaceOf(host.pid);
      assert.equal(namespace, host.namespace, `${host.name}'s agent runs in its namespace`);
      namespaces.add(namespace);
      const args = fs.readFileSync(`/proc/${host.pid}/cmdline`, 'utf8').split('\0');
      assert.equal(args[args.indexOf('--shared-storage') + 1], path.join(testbedDir, 'shared'));
    }
    assert.equal(namespaces.size, 3);
    assert.match((await cli(['testbed', 'status', '--dir', testbedDir])).stdout, /host2 .*running \(pid \d+\).*healthy/);
  });

  test('a VM placed on host2 runs in host2\'s namespace; wait-ready and exec work', { timeout: 180_000 }, async () => {
    const created = await drover.api<{ operation: { id: string } }>('POST', '/api/v1/vms', { name: 'tb-vm', image: 'tiny', host: 'host2', start: true });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const op = await drover.waitOp(created.body.operation.id);
    assert.equal(op.state, 'succeeded', JSON.stringify(op));
    const ready = await drover.api<Vm>('POST', '/api/v1/vms/tb-vm/wait-ready', { timeoutMs: 120_000 });
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    assert.deepEqual([ready.body.host, ready.body.state, ready.body.guestReady], ['host2', 'running', true]);
    const exec = await drover.api<{ exitCode: number; stdout: string }>('POST', '/api/v1/vms/tb-vm/exec', { command: '/bin/hostname' });
    assert.deepEqual([exec.body.exitCode, exec.body.stdout], [0, 'tb-vm\n']);
    assert.ok(ready.body.pid);
    assert.equal(await namespaceOf(ready.body.pid), state.hosts[1]?.namespace, 'QEMU runs in the host\'s namespace');
  });

  test('faults on host2: freeze and thaw, network down and up, power off and on; a fault that does not fit is refused', { timeout: 240_000 }, async () => {
    const host2 = state.hosts[1];
    assert.ok(host2?.pid);
    const agentPid = host2.pid;
    const qemuPid = (await drover.api<Vm>('GET', '/api/v1/vms/tb-vm')).body.pid;
    assert.ok(qemuPid);
    const fault = (what: string) => cli(['testbed', 'fault', 'host2', what, '--dir', testbedDir, '-o', 'json']);
    const faultsNow = async () =>
      (JSON.parse((await cli(['testbed', 'status', '--dir', testbedDir, '-o', 'json'])).stdout) as { hosts: { name: string; faults: Record<string, boolean> }[] }).hosts.find((h) => h.name === 'host2')?.faults;
    const agentAnswers = async () => {
      try {
        await fetch(`${host2.agentUrl}/api/v1/vms`, { signal: AbortSignal.timeout(2000) });
        return true;
      } catch {
        return false;
      }
    };

    const refused = await fault('thaw');
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /not frozen/);

    assert.equal((await fault('freeze')).code, 0);
    assert.deepEqual([processState(agentPid), processState(qemuPid)], ['T', 'T'], 'the agent and its QEMU are stopped');
    assert.deepEqual(await faultsNow(), { poweredOff: false, networkDown: false, frozen: true });
    assert.equal((await fault('thaw')).code, 0);
    assert.notEqual(processState(qemuPid), 'T');
    const exec = await drover.api<{ exitCode: number; stdout: string }>('POST', '/api/v1/vms/tb-vm/exec', { command: '/bin/hostname' });
    assert.deepEqual([exec.body.exitCode, exec.body.stdout], [0, 'tb-vm\n'], 'the guest runs on after the thaw');

    assert.equal(await agentAnswers(), true);
    assert.equal((await fault('network-down')).code, 0);
    assert.match((await run('ip', ['-o', 'link', 'show', 'dev', host2.veth])).stdout, /state DOWN/);
    assert.equal(await agentAnswers(), false, 'the agent cannot be reached with its link down');
    assert.equal(alive(qemuPid), true, 'the host keeps running its VM');
    assert.equal((await fault('network-up')).code, 0);
    assert.equal(await agentAnswers(), true);

    const off = await fault('power-off');
    assert.equal(off.code, 0, off.stderr);
    assert.deepEqual((JSON.parse(off.stdout) as { pids: number[] }).pids.sort(), [agentPid, qemuPid].sort());
    assert.deepEqual([alive(agentPid), alive(qemuPid)], [false, false], 'the agent and its QEMU are gone');
    assert.notEqual((await fault('power-off')).code, 0, 'a host already off is refused');
    const on = await fault('power-on');
    assert.equal(on.code, 0, on.stderr);
    const newAgent = (JSON.parse(on.stdout) as { pids: number[] }).pids[0];
    assert.ok(newAgent && alive(newAgent) && newAgent !== agentPid);
    assert.equal(await namespaceOf(newAgent), host2.namespace);
    assert.deepEqual(await faultsNow(), { poweredOff: false, networkDown: false, frozen: false });
    // The restarted agent finds the VM's QEMU gone, and the controller learns it at its next heartbeat; the VM then
    // starts again on the host that came back.
    const deadline = Date.now() + 60_000;
    let vm = (await drover.api<Vm>('GET', '/api/v1/vms/tb-vm')).body;
    while (vm.state === 'running' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      vm = (await drover.api<Vm>('GET', '/api/v1/vms/tb-vm')).body;
    }
    assert.notEqual(vm.state, 'running', 'the controller no longer shows the killed VM running');
    const started = await drover.api<{ operation?: { id: string } }>('POST', '/api/v1/vms/tb-vm/start');
    assert.ok([200, 202].includes(started.status), JSON.stringify(started.body));
    if (started.body.operation) assert.equal((await drover.waitOp(started.body.operation.id)).state, 'succeeded');
    const ready = await drover.api<Vm>('POST', '/api/v1/vms/tb-vm/wait-ready', { timeoutMs: 120_000 });
    assert.deepEqual([ready.status, ready.body.host, ready.body.state], [200, 'host2', 'running'], JSON.stringify(ready.body));
    state = JSON.parse(fs.readFileSync(path.join(testbedDir, 'testbed.json'), 'utf8')) as TestbedState;
  });

  test('host3\'s simulated fence switch kills what runs on it; the testbed records it off by fence, and power-on switches it on again', { timeout: 180_000 }, async () => {
    const host3 = state.hosts[2];
    assert.ok(host3?.pid);
    const agentPid = host3.pid;
    const fenceDir = path.join(testbedDir, 'fence');
    const status = async () => (JSON.parse((await cli(['testbed', 'status', '--dir', testbedDir, '-o', 'json'])).stdout) as StatusJson).hosts.find((h) => h.name === 'host3');
    const before = await status();
    assert.equal(before?.fence.kind, 'simulated');
    // The controller takes the device once it has the fence route; until then `up` warned and the testbed still runs.
    assert.ok(before.fence.kind === 'simulated' && (before.fence.registered === true || /fence/.test(before.fence.error ?? '')), JSON.stringify(before.fence));
    assert.ok(await until(() => fs.readFileSync(path.join(fenceDir, 'host3.pids'), 'utf8').startsWith(`${agentPid} `), 2000), 'the hardware lists host3\'s agent first for the switch');

    // What HA does: off, then status until the switch confirms off.
    const outcome = await fenceHost(simulatedFenceDevice(fenceDir, 'host3'), { timeoutMs: 30_000 });
    assert.equal(outcome.state, 'off');
    assert.equal(alive(agentPid), false, 'the switch killed host3\'s agent');
    assert.ok(await until(async () => (await status())?.faults.poweredOff === true, 3000), 'the testbed notices the power cut');
    const off = await status();
    assert.deepEqual([off?.poweredOffBy, off?.fence.kind === 'simulated' && off.fence.power], ['fence', 'off']);

    const on = await cli(['testbed', 'fault', 'host3', 'power-on', '--dir', testbedDir, '-o', 'json']);
    assert.equal(on.code, 0, on.stderr);
    const newAgent = (JSON.parse(on.stdout) as { pids: number[] }).pids[0];
    assert.ok(newAgent && alive(newAgent));
    assert.equal(readSimulatedPower(fenceDir, 'host3').state, 'on', 'power-on switched the switch on');
    // A few ticks: the hardware does not take the powered-on host for a fenced one.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const back = await status();
    assert.deepEqual([back?.faults.poweredOff, back?.poweredOffBy, back?.agentRunning], [false, null, true]);
    state = JSON.parse(fs.readFileSync(path.join(testbedDir, 'testbed.json'), 'utf8')) as TestbedState;
  });

  test('join tokens: the CLI mints one; a spent one and an unknown one are refused with 401', async () => {
    const minted = await cli(['host', 'join-token', '-o', 'json']);
    assert.equal(minted.code, 0, minted.stderr);
    assert.match((JSON.parse(minted.stdout) as { token: string }).token, /^drvj_/);

    // host1's agent joined with the token on its command line; it is spent now.
    const host1 = state.hosts[0];
    assert.ok(host1?.pid);
    const args = fs.readFileSync(`/proc/${host1.pid}/cmdline`, 'utf8').split('\0');
    const spent = args[args.indexOf('--join-token') + 1];
    const agentToken = fs.readFileSync(path.join(host1.dataDir, 'agent.token'), 'utf8').trim();
    const join = async (token: string) => {
      const res = await fetch(`${drover.url}/api/v1/hosts/join`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'intruder', address: host1.agentUrl, agentToken }),
      });
      return { status: res.status, code: ((await res.json()) as { code: string }).code };
    };
    assert.deepEqual(await join(spent ?? ''), { status: 401, code: 'JOIN_TOKEN_USED' });
    assert.deepEqual(await join(`drvj_${'x'.repeat(43)}`), { status: 401, code: 'JOIN_TOKEN_INVALID' });
    assert.equal((await drover.api('GET', '/api/v1/hosts/intruder')).status, 404);
  });

  test('testbed down leaves no namespace, link, agent, QEMU or file, has the controller forget its hosts that no VM names, and is idempotent', { timeout: 120_000 }, async () => {
    const pids = state.hosts.map((h) => h.pid).filter((pid): pid is number => pid !== null);
    const vm = (await drover.api<Vm>('GET', '/api/v1/vms/tb-vm')).body;
    if (vm.pid) pids.push(vm.pid);
    assert.equal(pids.length, 4, 'three agents and one QEMU');
    assert.ok(state.hardware?.pid && alive(state.hardware.pid), 'the hardware daemon runs');
    pids.push(state.hardware.pid);

    const down = await cli(['testbed', 'down', '--dir', testbedDir, '-o', 'json']);
    assert.equal(down.code, 0, `${down.stdout}\n${down.stderr}`);
    // tb-vm's record still names host2, so the controller keeps that one and says why.
    const { controller } = JSON.parse(down.stdout) as { controller: { forgotten: string[]; kept: Array<{ host: string; reason: string }> } };
    assert.deepEqual(controller.forgotten, ['host1', 'host3']);
    assert.deepEqual(controller.kept.map((k) => k.host), ['host2']);
    assert.match(controller.kept[0]?.reason ?? '', /tb-vm/);
    for (const name of ['host1', 'host3']) assert.equal((await drover.api('GET', `/api/v1/hosts/${name}`)).status, 404, `${name} is forgotten`);
    assert.equal((await drover.api('GET', '/api/v1/hosts/host2')).status, 200);
    const namespaces = (await run('ip', ['netns', 'list'])).stdout;
    const links = (await run('ip', ['-o', 'link', 'show'])).stdout;
    for (const host of state.hosts) {
      assert.ok(!namespaces.includes(host.namespace), `${host.namespace} is gone`);
      assert.ok(!links.includes(`${host.veth}@`) && !links.includes(`${host.veth}:`), `${host.veth} is gone`);
    }
    assert.ok(!links.includes(`${state.bridge.name}:`), 'the bridge is gone');
    assert.deepEqual(pids.filter(alive), [], 'no agent, QEMU or hardware daemon is left');
    assert.equal(fs.existsSync(testbedDir), false, 'the testbed directory is gone');

    const again = await cli(['testbed', 'down', '--dir', testbedDir]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /nothing to remove/);
  });
});

describe('testbed simulated hardware: one host with --fence none --watchdog simulated', () => {
  const dataDir = makeDataDir();
  const testbedDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'drv-tbw-')), 'testbed');
  let drover: TestDrover;
  let state: TestbedState;
  const cli = droverCli(() => drover);
  const status = async (): Promise<StatusJson> => JSON.parse((await cli(['testbed', 'status', '--dir', testbedDir, '-o', 'json'])).stdout) as StatusJson;
  /** The agent's HA guard arms the watchdog with the self-fence time. */
  const SELF_FENCE_S = 6;

  before(async () => {
    drover = await startDrover(dataDir, undefined, '0.0.0.0');
  });
  after(async () => {
    await testbedDown(testbedDir).catch((err: unknown) => console.error('testbed cleanup:', err));
    fs.rmSync(path.dirname(testbedDir), { recursive: true, force: true });
    await cleanupDrover(drover, dataDir);
  });

  test('testbed up records both settings, runs the hardware daemon in the root namespace, and gives the agent its watchdog', { timeout: 180_000 }, async () => {
    const up = await cli(['testbed', 'up', '--hosts', '1', '--fence', 'none', '--watchdog', 'simulated', '--dir', testbedDir, '-o', 'json']);
    assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
    state = JSON.parse(up.stdout) as TestbedState;
    const host = state.hosts[0];
    assert.ok(host?.pid && host.watchdogFile && state.hardware?.pid);
    assert.deepEqual([state.fence, state.fenceDir, state.watchdog], ['none', null, 'simulated']);
    assert.equal(host.watchdogFile, path.join(host.dataDir, 'watchdog'));
    assert.equal(argOf(host.pid, '--watchdog'), `simulated:${host.watchdogFile}`);
    assert.ok(alive(state.hardware.pid));
    assert.equal(await namespaceOf(state.hardware.pid), '', 'the hardware daemon is in the root namespace, not the host\'s');
    assert.equal(fs.existsSync(path.join(testbedDir, 'fence')), false, 'no switch records without --fence simulated');

    const now = await status();
    assert.deepEqual([now.fence, now.watchdog, now.hardware?.running], ['none', 'simulated', true]);
    assert.deepEqual(now.hosts[0]?.fence, { kind: 'none' });
    // The agent's HA guard armed it at start, with the self-fence time, and keeps feeding it.
    const watchdog = now.hosts[0]?.watchdog as { kind: string; file: string; armed: boolean; resets: number; timeoutSeconds?: number };
    assert.deepEqual([watchdog.kind, watchdog.file, watchdog.armed, watchdog.resets, watchdog.timeoutSeconds], ['simulated', host.watchdogFile, true, 0, SELF_FENCE_S]);
    const fed = readSimulatedWatchdogRecord(host.watchdogFile);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const later = readSimulatedWatchdogRecord(host.watchdogFile);
    assert.ok(fed?.armed && later?.armed && later.feeds > fed.feeds, 'fed about every second');
  });

  test('an agent that dies and is not started again leaves its watchdog unfed: the host is powered off within its timeout + 2 s; power-on starts the agent with the same --watchdog', { timeout: 180_000 }, async () => {
    const host = state.hosts[0];
    assert.ok(host?.pid && host.watchdogFile);
    const agentPid = host.pid;
    const record = readSimulatedWatchdogRecord(host.watchdogFile);
    const lastFed = record?.armed ? Date.parse(record.fedAt) : Date.now();
    process.kill(agentPid, 'SIGKILL');
    assert.ok(await until(() => (readState(testbedDir)?.hosts[0]?.faults?.poweredOff ?? false), (SELF_FENCE_S + 3) * 1000), 'powered off within the timeout + 2 s');
    const elapsed = Date.now() - lastFed;
    assert.ok(elapsed >= SELF_FENCE_S * 1000, `not before the timeout (${elapsed} ms after the last feed)`);
    const off = (await status()).hosts[0];
    const watchdog = off?.watchdog as { armed: boolean; resets: number };
    assert.deepEqual([off?.faults.poweredOff, off?.poweredOffBy, watchdog.armed, watchdog.resets], [true, 'watchdog', false, 1]);
    assert.match(fs.readFileSync(path.join(testbedDir, 'hardware.log'), 'utf8'), new RegExp(`host1: watchdog expired \\(timeout ${SELF_FENCE_S} s, not fed for ${SELF_FENCE_S}\\.\\d s\\); powered off`));

    const on = await cli(['testbed', 'fault', 'host1', 'power-on', '--dir', testbedDir, '-o', 'json']);
    assert.equal(on.code, 0, on.stderr);
    const newAgent = (JSON.parse(on.stdout) as { pids: number[] }).pids[0];
    assert.ok(newAgent && alive(newAgent) && newAgent !== agentPid);
    assert.equal(argOf(newAgent, '--watchdog'), `simulated:${host.watchdogFile}`);
    const back = (await status()).hosts[0];
    assert.deepEqual([back?.faults.poweredOff, back?.poweredOffBy, back?.agentRunning], [false, null, true]);
    state = JSON.parse(fs.readFileSync(path.join(testbedDir, 'testbed.json'), 'utf8')) as TestbedState;
  });

  test('a frozen host is reset by its watchdog: the hardware is not frozen with it', { timeout: 60_000 }, async () => {
    const host = state.hosts[0];
    assert.ok(host?.pid && host.watchdogFile && state.hardware?.pid);
    const agentPid = host.pid;
    assert.equal((await cli(['testbed', 'fault', 'host1', 'freeze', '--dir', testbedDir])).code, 0);
    assert.equal(processState(agentPid), 'T');
    assert.ok(await until(() => !alive(agentPid), (SELF_FENCE_S + 3) * 1000), 'the frozen agent was killed within the timeout + 2 s');
    assert.notEqual(processState(state.hardware.pid), 'T');
    const off = (await status()).hosts[0];
    assert.deepEqual([off?.faults, off?.poweredOffBy, off?.watchdog.kind === 'simulated' && off.watchdog.resets], [{ poweredOff: true, networkDown: false, frozen: false }, 'watchdog', 2]);
    const record = readSimulatedWatchdogRecord(host.watchdogFile);
    assert.ok(record && !record.armed, 'the reset disarmed it');
  });

  test('testbed down stops the hardware daemon by its pid and leaves nothing', { timeout: 120_000 }, async () => {
    const hardwarePid = state.hardware?.pid;
    assert.ok(hardwarePid && alive(hardwarePid));
    const down = await cli(['testbed', 'down', '--dir', testbedDir, '-o', 'json']);
    assert.equal(down.code, 0, `${down.stdout}\n${down.stderr}`);
    assert.ok((JSON.parse(down.stdout) as { pids: number[] }).pids.includes(hardwarePid));
    assert.equal(alive(hardwarePid), false);
    assert.equal(fs.existsSync(testbedDir), false, 'the testbed directory is gone');
  });
});
