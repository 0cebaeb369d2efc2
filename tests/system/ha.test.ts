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
import { isOurQemu, readPidFile } from '../../src/drivers/qemu/process.js';
import { run, type RunResult } from '../../src/shared/exec.js';
import { repoRoot } from '../../src/shared/paths.js';
import { testbedDown } from '../../src/testbed/down.js';
import { readState, type TestbedState } from '../../src/testbed/state.js';
import { makeDataDir } from '../helpers/agent.js';
import { cleanupDrover, startDrover, type TestDrover } from '../helpers/up.js';

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

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return true;
}

describe('HA on a 3-host testbed: restarts after a host fails, never twice', () => {
  const dataDir = makeDataDir();
  const testbedDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'drv-ha-')), 'testbed');
  let drover: TestDrover;

  const cli = (args: string[], timeoutMs = 180_000): Promise<RunResult> =>
    run(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/cli/main.ts'), ...args], {
      cwd: repoRoot,
      env: { ...process.env, DROVER_URL: drover.url, DROVER_TOKEN: drover.token, XDG_CONFIG_HOME: drover.configHome },
      allowFailure: true,
      timeoutMs,
    });
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

  test('power-off: HA VMs restart on the other hosts in priority order, a non-HA VM is shown lost, nothing runs twice', { timeout: 300_000 }, async () => {
    await createHa('ha-high', 'host1', { ha: { priority: 5 } });
    await createHa('ha-low', 'host1', { ha: { priority: 1 } });
    await createHa('plain', 'host1');
    await exactlyOnce(['ha-high', 'ha-low', 'plain']);

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
});

