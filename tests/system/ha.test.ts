/**
 * HA on a 3-host testbed with shared storage, simulated fence devices and simulated watchdogs:
 * a powered-off host's HA VMs restart elsewhere in priority order and its other VMs are shown lost;
 * an isolated host keeps its VMs; a frozen host is fenced. Every sample checks that each VM has
 * exactly one QEMU across the testbed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isOurQemu, qemuBinary, readPidFile } from '../../src/drivers/qemu/process.js';
import { run } from '../../src/shared/exec.js';
import { testbedDown } from '../../src/testbed/down.js';
import { readState, type TestbedState } from '../../src/testbed/state.js';
import { makeDataDir } from '../helpers/agent.js';
import { cleanupDrover, droverCli, startDrover, until, type TestDrover } from '../helpers/up.js';

interface Vm {
  name: string;
  host: string | null;
  state: string;
  guestReady: boolean;
  crashReason: string | null;
  ha: { priority: number; isolation: string } | null;
}
interface HaStatus {
  hosts: Array<{ name: string; liveness: string; watchdog: boolean; fenceDevice: boolean }>;
  vms: Array<{ name: string; host: string | null; phase: string; generation: number }>;
}
interface Event {
  time: string;
  action: string;
  object: { name: string | null };
  detail: { reason?: string; restart?: { from: string; to: string } };
}

describe('HA on a 3-host testbed: restarts after a host fails, never twice', () => {
  const dataDir = makeDataDir();
  const testbedDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'drv-ha-')), 'testbed');
  let drover: TestDrover;

  const cli = droverCli(() => drover);
  const fault = async (host: string, what: string) => {
    const result = await cli(['testbed', 'fault', host, what, '--dir', testbedDir]);
    assert.equal(result.code, 0, `${what} ${host}: ${result.stdout}${result.stderr}`);
  };
  const vm = async (name: string) => (await drover.api<Vm>('GET', `/api/v1/vms/${name}`)).body;
  const ha = async () => (await drover.api<HaStatus>('GET', '/api/v1/ha/status')).body;
  const events = async () => (await drover.api<{ events: Event[] }>('GET', '/api/v1/events?limit=1000&order=asc')).body.events;

  /** Live QEMUs running VM `name` on any testbed host, found by the pid files the agents keep per VM id. */
  const qemusOf = async (name: string): Promise<number[]> => {
    const state = readState(testbedDir) as TestbedState;
    const pids: number[] = [];
    for (const host of state.hosts) {
      const runDir = path.join(host.dataDir, 'run');
      for (const id of fs.existsSync(runDir) ? fs.readdirSync(runDir) : []) {
        const pid = readPidFile(path.join(runDir, id, 'qemu.pid'));
        if (pid === undefined || !isOurQemu(pid, path.join(runDir, id))) continue;
        // A stopped (frozen) QEMU still counts: it could run guest code again when thawed.
        if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`guest=${name},`)) pids.push(pid);
      }
    }
    return pids;
  };
  const exactlyOnce = async (names: string[]) => {
    for (const name of names) assert.equal((await qemusOf(name)).length, 1, `${name} has exactly one QEMU across the testbed`);
  };
  const createHa = async (name: string, host: string, extra: Record<string, unknown> = {}) => {
    const created = await drover.api<{ operation: { id: string } }>('POST', '/api/v1/vms', { name, image: 'tiny', host, pool: 'shared', start: true, ...extra });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const op = await drover.waitOp(created.body.operation.id);
    assert.equal(op.state, 'succeeded', JSON.stringify(op));
    assert.equal((await drover.api('POST', `/api/v1/vms/${name}/wait-ready`, { timeoutMs: 120_000 })).status, 200);
  };

  before(async () => {
    drover = await startDrover(dataDir, undefined, '0.0.0.0');
    const up = await cli(['testbed', 'up', '--hosts', '3', '--storage', 'shared', '--cpu-overcommit', '4', '--dir', testbedDir], 240_000);
    assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
  });
  after(async () => {
    await testbedDown(testbedDir).catch((err: unknown) => console.error('testbed cleanup:', err));
    fs.rmSync(path.dirname(testbedDir), { recursive: true, force: true });
    await cleanupDrover(drover, dataDir);
  });

  test('protection needs shared storage: a local VM is refused with a coded error, and nothing is created', { timeout: 60_000 }, async () => {
    const refused = await drover.api<{ code: string; detail: string }>('POST', '/api/v1/vms', { name: 'local-ha', image: 'tiny', host: 'host1', ha: {} });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.code, 'HA_DISK_NOT_SHARED');
    assert.equal((await drover.api('GET', '/api/v1/vms/local-ha')).status, 404);
    const status = await ha();
    for (const name of ['host1', 'host2', 'host3']) {
      const host = status.hosts.find((h) => h.name === name);
      assert.deepEqual([host?.liveness, host?.watchdog, host?.fenceDevice], ['ok', true, true], `${name}: ${JSON.stringify(host)}`);
    }
  });

  test('an agent crash alone (its QEMUs are fine): no failover, the restarted agent re-attaches to the same QEMU', { timeout: 180_000 }, async () => {
    await createHa('ha-crash', 'host2', { ha: { priority: 2 } });
    const [pid] = await qemusOf('ha-crash');
    const before = (await events()).length;
    await fault('host2', 'agent-crash');
    assert.ok(await until(async () => (await ha()).hosts.find((h) => h.name === 'host2')?.liveness === 'ok', 30_000));
    await new Promise((resolve) => setTimeout(resolve, 8_000));
    assert.deepEqual(await qemusOf('ha-crash'), [pid], 'the same QEMU runs on');
    const since = (await events()).slice(before).map((e) => e.action);
    assert.ok(!since.some((a) => a === 'vm.ha-restart' || a === 'host.failed' || a === 'host.fenced'), since.join(', '));
    const after = await vm('ha-crash');
    assert.deepEqual([after.host, after.state], ['host2', 'running']);
    const killed = await drover.api<{ operation: { id: string } }>('POST', '/api/v1/vms/ha-crash/kill');
    await drover.waitOp(killed.body.operation.id);
  });

  test('power-off: HA VMs restart on the other hosts in priority order, a non-HA VM is shown lost, nothing runs twice', { timeout: 300_000 }, async () => {
    await createHa('ha-high', 'host1', { ha: { priority: 5 } });
    await createHa('ha-low', 'host1', { ha: { priority: 1 } });
    await createHa('plain', 'host1');
    await exactlyOnce(['ha-high', 'ha-low', 'plain']);
    // A guest writing and syncing: every write acknowledged after its sync must survive the failover.
    const exec = async (name: string, script: string) =>
      (await drover.api<{ exitCode: number; stdout: string }>('POST', `/api/v1/vms/${name}/exec`, { command: '/bin/sh', args: ['-c', script] })).body;
    for (let i = 1; i <= 20; i++) assert.equal((await exec('ha-high', `echo line-${i} >> /var/synced && sync`)).exitCode, 0);

    const cut = Date.now();
    await fault('host1', 'power-off');
    assert.ok(
      await until(async () => {
        const [high, low] = [await vm('ha-high'), await vm('ha-low')];
        return high.host !== 'host1' && low.host !== 'host1' && high.state === 'running' && low.state === 'running';
      }, 90_000),
      `restarted elsewhere: ${JSON.stringify(await ha())}`,
    );
    const restartedAfterMs = Date.now() - cut;
    await exactlyOnce(['ha-high', 'ha-low']);
    assert.equal((await qemusOf('plain')).length, 0, 'the non-HA VM died with its host');
    assert.ok(await until(async () => (await vm('plain')).state === 'error', 20_000));
    assert.match((await vm('plain')).crashReason ?? '', /lost with host host1/);

    const log = await events();
    const restarts = log.filter((e) => e.action === 'vm.ha-restart');
    const order = restarts.map((e) => e.object.name);
    assert.ok(order.indexOf('ha-high') < order.indexOf('ha-low'), `higher priority first: ${order.join(', ')}`);
    assert.equal(restarts.find((e) => e.object.name === 'ha-high')?.detail.restart?.from, 'host1');
    assert.ok(log.some((e) => e.action === 'host.fenced' && e.object.name === 'host1'), 'host1 was fenced before any restart');
    const fencedAt = Date.parse(log.find((e) => e.action === 'host.fenced')?.time ?? '');
    for (const restart of restarts) assert.ok(Date.parse(restart.time) >= fencedAt, 'no restart before the fence');
    const history = (await drover.api<{ placements: Array<{ host: string; reason: string; detail: { why?: string } }> }>('GET', '/api/v1/vms/ha-high/history')).body.placements;
    assert.ok(history.some((p) => p.reason === 'ha' && p.detail.why === 'restarted after host host1 failed'), JSON.stringify(history));
    console.log(`power-off → both HA VMs running elsewhere in ${(restartedAfterMs / 1000).toFixed(1)} s`);
    assert.equal((await drover.api('POST', '/api/v1/vms/ha-high/wait-ready', { timeoutMs: 120_000 })).status, 200);
    const synced = await exec('ha-high', 'cat /var/synced; dmesg | grep -ci "EXT4-fs error" || true');
    const lines = synced.stdout.trim().split('\n');
    assert.deepEqual(lines.slice(0, 20), Array.from({ length: 20 }, (_, i) => `line-${i + 1}`), 'every synced write survived');
    assert.equal(lines[20], '0', 'the file system came back without errors');

    // QEMU's own image locking is the last guard: a second QEMU on the same disk is refused.
    const runsOn = (await vm('ha-high')).host;
    const owner = (readState(testbedDir) as TestbedState).hosts.find((h) => h.name === runsOn);
    const record = JSON.parse(fs.readFileSync(path.join(owner?.dataDir ?? '', 'vms', 'ha-high', 'vm.json'), 'utf8')) as { storageDir: string };
    const second = await run(qemuBinary(), ['-machine', 'q35', '-display', 'none', '-S', '-drive', `file=${path.join(record.storageDir, 'root.qcow2')},if=virtio`], { allowFailure: true, timeoutMs: 30_000 });
    assert.notEqual(second.code, 0);
    assert.match(second.stderr, /Failed to get "write" lock/);

    await fault('host1', 'power-on');
    assert.ok(await until(async () => (await ha()).hosts.find((h) => h.name === 'host1')?.liveness === 'ok', 60_000), 'host1 renews its lease again');
    // The returning host forgets the definitions HA superseded; nothing starts twice.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await exactlyOnce(['ha-high', 'ha-low']);
    const stale = await drover.api<{ code: string }>('POST', '/api/v1/vms/ha-high/kill');
    assert.equal(stale.status, 202, 'the VM is managed where it now runs');
  });

  test('network-down with keep-running isolation: the host keeps its VM, nothing restarts, nothing runs twice after the link returns', { timeout: 240_000 }, async () => {
    await createHa('ha-keep', 'host2', { ha: { priority: 3 } });
    const before = (await events()).length;
    await fault('host2', 'network-down');
    assert.ok(await until(async () => (await ha()).hosts.find((h) => h.name === 'host2')?.liveness === 'isolated', 30_000), JSON.stringify(await ha()));
    // Well past lease expiry + self-fence + margin (15 s).
    await new Promise((resolve) => setTimeout(resolve, 18_000));
    assert.equal((await qemusOf('ha-keep')).length, 1, 'the isolated host still runs it');
    assert.equal((await vm('ha-keep')).host, 'host2');
    assert.ok(!(await events()).slice(before).some((e) => e.action === 'vm.ha-restart'), 'nothing restarted');
    await fault('host2', 'network-up');
    assert.ok(await until(async () => (await ha()).hosts.find((h) => h.name === 'host2')?.liveness === 'ok', 30_000));
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await exactlyOnce(['ha-keep']);
  });

  test('freeze longer than the lease: the host is fenced, the VM restarts elsewhere, the old QEMU never runs again', { timeout: 240_000 }, async () => {
    const where = (await vm('ha-keep')).host ?? 'host2';
    const oldPids = await qemusOf('ha-keep');
    await fault(where, 'freeze');
    assert.ok(await until(async () => {
      const now = await vm('ha-keep');
      return now.host !== where && now.state === 'running';
    }, 90_000), JSON.stringify(await ha()));
    for (const pid of oldPids) assert.ok(!fs.existsSync(`/proc/${pid}`) || fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z'), `old QEMU ${pid} is gone`);
    await exactlyOnce(['ha-keep']);
    const status = (await ha()).hosts.find((h) => h.name === where);
    assert.equal(status?.liveness, 'fenced');
  });
  test('network-down with power-off isolation: the isolated host stops the VM itself, then it restarts elsewhere; nothing runs twice after the link returns', { timeout: 240_000 }, async () => {
    await createHa('ha-iso', 'host3', { ha: { priority: 3, isolation: 'power-off' } });
    await fault('host3', 'network-down');
    assert.ok(await until(async () => {
      const now = await vm('ha-iso');
      return now.host !== 'host3' && now.state === 'running';
    }, 90_000), JSON.stringify(await ha()));
    const restart = (await events()).find((e) => e.action === 'vm.ha-restart' && e.object.name === 'ha-iso');
    assert.match(restart?.detail.reason ?? '', /isolated/);
    await exactlyOnce(['ha-iso']);
    await fault('host3', 'network-up');
    assert.ok(await until(async () => (await ha()).hosts.find((h) => h.name === 'host3')?.liveness === 'ok', 30_000));
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await exactlyOnce(['ha-iso']);
  });

  test('a fence device that fails: no restart on its word, the event says why; the watchdog ground follows after lease, self-fence and margin', { timeout: 240_000 }, async () => {
    const isoHost = (await vm('ha-iso')).host;
    const host = (await ha()).hosts.find((h) => h.name !== isoHost && h.liveness === 'ok' && /^host/.test(h.name))?.name ?? 'host3';
    const state = readState(testbedDir) as TestbedState;
    const failing = await drover.api('PUT', `/api/v1/hosts/${host}/fence`, { agent: 'fence_drover_simulated', options: { plug: host, 'state-dir': state.fenceDir, simulate: 'fail' } });
    assert.equal(failing.status, 200, JSON.stringify(failing.body));
    await createHa('ha-nofence', host, { ha: { priority: 3 } });
    const cut = Date.now();
    await fault(host, 'power-off');
    assert.ok(await until(async () => {
      const now = await vm('ha-nofence');
      return now.host !== host && now.state === 'running';
    }, 90_000), JSON.stringify(await ha()));
    const log = await events();
    const failed = log.find((e) => e.action === 'host.fence-failed' && e.object.name === host);
    assert.ok(failed, 'the failed fence is recorded');
    assert.match(failed.detail.reason ?? '', /fail/i);
    const restart = log.find((e) => e.action === 'vm.ha-restart' && e.object.name === 'ha-nofence');
    assert.match(restart?.detail.reason ?? '', /watchdog/);
    assert.ok(Date.parse(restart?.time ?? '') - cut >= 15_000 - 1_000, 'not before lease expiry + self-fence + margin');
    await exactlyOnce(['ha-nofence']);
    await drover.api('PUT', `/api/v1/hosts/${host}/fence`, { agent: 'fence_drover_simulated', options: { plug: host, 'state-dir': state.fenceDir } });
    await fault(host, 'power-on');
  });

  test('controller kill -9 in the middle of a failover: the restarted controller carries it on, every VM runs exactly once', { timeout: 300_000 }, async () => {
    const alive = (await ha()).hosts.filter((h) => h.liveness === 'ok' && /^host/.test(h.name)).map((h) => h.name);
    const victim = alive[0] ?? 'host1';
    await createHa('ha-ctl-a', victim, { ha: { priority: 4 } });
    await createHa('ha-ctl-b', victim, { ha: { priority: 2 } });
    const port = new URL(drover.url).port;
    await fault(victim, 'power-off');
    assert.ok(await until(async () => (await events()).some((e) => e.action === 'host.failed' && e.object.name === victim && Date.parse(e.time) > Date.now() - 60_000), 60_000));
    await drover.stop('SIGKILL');
    drover = await startDrover(dataDir, drover.configHome, '0.0.0.0', Number(port));
    assert.ok(await until(async () => {
      const [a, b] = [await vm('ha-ctl-a'), await vm('ha-ctl-b')];
      return a.host !== victim && b.host !== victim && a.state === 'running' && b.state === 'running';
    }, 120_000), JSON.stringify(await ha()));
    await exactlyOnce(['ha-ctl-a', 'ha-ctl-b']);
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    await exactlyOnce(['ha-ctl-a', 'ha-ctl-b']);
  });
  test('guest monitoring: a guest whose agent stops answering is reset, then answers again; the settings are the cluster\'s to change', { timeout: 240_000 }, async () => {
    const set = await cli(['ha', 'settings', 'set', 'noAnswerResetMs=4s', 'startupGraceMs=5s', '-o', 'json']);
    assert.equal(set.code, 0, set.stderr);
    assert.equal((JSON.parse(set.stdout) as { guestMonitoring: { noAnswerResetMs: number } }).guestMonitoring.noAnswerResetMs, 4_000);
    const bad = await cli(['ha', 'settings', 'set', 'suspectAfterMs=60s']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /suspectAfterMs must be below leaseExpiryMs/);
    const host = (await ha()).hosts.find((h) => h.liveness === 'ok' && /^host/.test(h.name))?.name ?? 'host2';
    await createHa('ha-mon', host, { ha: { monitoring: true } });
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    const before = (await events()).length;
    // The guest agent hangs (stopped, not gone), as a guest whose kernel wedged would look from outside.
    const hang = await drover.api<{ exitCode: number }>('POST', '/api/v1/vms/ha-mon/exec', { command: '/bin/sh', args: ['-c', '(sleep 1; kill -STOP $(pidof qemu-ga)) >/dev/null 2>&1 &'] });
    assert.equal(hang.body.exitCode, 0);
    assert.ok(await until(async () => (await events()).slice(before).some((e) => e.action === 'vm.ha-guest-reset' && e.object.name === 'ha-mon'), 60_000), 'the guest was reset');
    const ready = await drover.api<Vm>('POST', '/api/v1/vms/ha-mon/wait-ready', { timeoutMs: 120_000 });
    assert.equal(ready.status, 200, 'the reset guest answers again');
    assert.equal((await vm('ha-mon')).host, host, 'a reset, not a restart elsewhere');
    await exactlyOnce(['ha-mon']);
    assert.equal((await cli(['ha', 'settings', 'set', 'noAnswerResetMs=30s', 'startupGraceMs=120s'])).code, 0);
  });
});


describe('HA without fence devices: the watchdog, and without either an administrator\'s word', () => {
  const dataDir = makeDataDir();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'drv-ha2-'));
  const watchdogDir = path.join(root, 'watchdog');
  const bareDir = path.join(root, 'bare');
  let drover: TestDrover;

  const cli = droverCli(() => drover);
  const vm = async (name: string) => (await drover.api<Vm>('GET', `/api/v1/vms/${name}`)).body;
  const createHa = async (name: string, host: string) => {
    const created = await drover.api<{ operation: { id: string } }>('POST', '/api/v1/vms', { name, image: 'tiny', host, pool: 'shared', start: true, ha: {} });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const op = await drover.waitOp(created.body.operation.id);
    assert.equal(op.state, 'succeeded', JSON.stringify(op));
  };
  const up = async (dir: string, args: string[]) => {
    const result = await cli(['testbed', 'up', '--hosts', '2', '--storage', 'shared', '--cpu-overcommit', '4', '--fence', 'none', ...args, '--dir', dir], 240_000);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
  };

  before(async () => {
    drover = await startDrover(dataDir, undefined, '0.0.0.0');
  });
  after(async () => {
    for (const dir of [watchdogDir, bareDir]) await testbedDown(dir).catch((err: unknown) => console.error('testbed cleanup:', err));
    fs.rmSync(root, { recursive: true, force: true });
    await cleanupDrover(drover, dataDir);
  });

  test('power-off of a host with a watchdog and no fence device: restarted once lease expiry, self-fence time and margin have passed', { timeout: 300_000 }, async () => {
    await up(watchdogDir, ['--watchdog', 'simulated']);
    await createHa('wd-vm', 'host1');
    const cut = Date.now();
    assert.equal((await cli(['testbed', 'fault', 'host1', 'power-off', '--dir', watchdogDir])).code, 0);
    assert.ok(await until(async () => {
      const now = await vm('wd-vm');
      return now.host === 'host2' && now.state === 'running';
    }, 90_000));
    const elapsed = Date.now() - cut;
    assert.ok(elapsed >= 14_000, `not before 6 + 6 + 3 s: ${elapsed} ms`);
    console.log(`power-off → running elsewhere by the watchdog ground in ${(elapsed / 1000).toFixed(1)} s`);
    const deleted = await drover.api<{ operation: { id: string } }>('DELETE', '/api/v1/vms/wd-vm?force=true');
    await drover.waitOp(deleted.body.operation.id);
    assert.equal((await cli(['testbed', 'down', '--dir', watchdogDir])).code, 0);
  });

  test('neither fence device nor watchdog: nothing restarts until confirm-down, which is refused for a live host', { timeout: 300_000 }, async () => {
    await up(bareDir, ['--watchdog', 'none']);
    await createHa('bare-vm', 'host1');
    const live = await cli(['host', 'confirm-down', 'host2', '-o', 'json']);
    assert.notEqual(live.code, 0);
    assert.match(live.stderr, /HA_HOST_NOT_DOWN/);
    assert.equal((await cli(['testbed', 'fault', 'host1', 'power-off', '--dir', bareDir])).code, 0);
    await new Promise((resolve) => setTimeout(resolve, 25_000));
    assert.equal((await vm('bare-vm')).host, 'host1', 'Drover does not guess');
    const status = (await drover.api<HaStatus>('GET', '/api/v1/ha/status')).body;
    assert.equal(status.vms.find((v) => v.name === 'bare-vm')?.phase, 'waiting');
    const confirmed = await cli(['host', 'confirm-down', 'host1']);
    assert.equal(confirmed.code, 0, confirmed.stderr);
    assert.ok(await until(async () => {
      const now = await vm('bare-vm');
      return now.host === 'host2' && now.state === 'running';
    }, 60_000));
  });
});
