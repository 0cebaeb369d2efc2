/**
 * The cluster's migration guarantees on a testbed of three hosts, driven through the controller
 * and the CLI: a console ticker runs on without a 1 s gap, a VM on host-local disks moves with
 * them, a guest dirtying memory as fast as it can still finishes, killing the destination
 * mid-way leaves the VM running on the source once, and `vm where --at` answers for each stay.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { useCluster } from '../helpers/cluster.js';
import { qemuPidsFor, TICKER, TickRecorder } from '../helpers/ticks.js';
import { eventually, shOk } from '../helpers/vm.js';

interface Vm {
  host: string | null;
  state: string;
  guestReady: boolean;
}

interface Operation {
  id: string;
  state: string;
  progress: number;
  result: Record<string, unknown> | null;
  error: { code: string; message: string; detail?: string } | null;
}

interface Outcome {
  from: string;
  to: string;
  totalTimeMs: number;
  downtimeMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('cluster acceptance: three testbed hosts, the controller moves running VMs', () => {
  const cluster = useCluster('drv-ca-', ['alpha', 'beta']);
  const { cli, testbedDir } = cluster;
  const hostDir = (host: string): string => path.join(testbedDir, host);
  /** The host agent's id for `vm`: its runtime directory (serial log, QEMU pid) is named after it. */
  const agentVmId = (host: string, vm: string): string =>
    (JSON.parse(fs.readFileSync(path.join(hostDir(host), 'vms', vm, 'vm.json'), 'utf8')) as { id: string }).id;
  const getVm = async (name: string): Promise<Vm> => (await cluster.drover.api<Vm>('GET', `/api/v1/vms/${name}`)).body;
  const migrateCli = async (vm: string, to: string, extra: string[] = []): Promise<Outcome> => {
    const moved = await cli(['vm', 'migrate', vm, '--to', to, ...extra, '-o', 'json'], 300_000);
    assert.equal(moved.code, 0, `${moved.stdout}\n${moved.stderr}`);
    const outcome = JSON.parse(moved.stdout) as Outcome;
    assert.deepEqual([outcome.to, (await getVm(vm)).host], [to, to]);
    return outcome;
  };
  const stays: Array<{ vm: string; host: string; at: string }> = [];
  const figures: Record<string, unknown> = {};

  test('three hosts join; alpha (shared pool) runs on host1 and beta (host-local disks) on host2', { timeout: 300_000 }, async () => {
    const up = await cli(['testbed', 'up', '--hosts', '3', '--storage', 'shared', '--dir', testbedDir, '-o', 'json']);
    assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
    for (const [name, host, pool] of [['alpha', 'host1', 'shared'], ['beta', 'host2', 'local']] as const) {
      const created = await cli(['vm', 'create', name, '--image', 'tiny', '--memory', '256', '--host', host, '--pool', pool, '--start', '-o', 'json'], 300_000);
      assert.equal(created.code, 0, `${created.stdout}\n${created.stderr}`);
    }
    for (const [name, host] of [['alpha', 'host1'], ['beta', 'host2']] as const) {
      const ready = await cluster.drover.api<Vm>('POST', `/api/v1/vms/${name}/wait-ready`, { timeoutMs: 180_000 });
      assert.deepEqual([ready.status, ready.body.host, ready.body.state, ready.body.guestReady], [200, host, 'running', true], JSON.stringify(ready.body));
      await sleep(20);
      stays.push({ vm: name, host, at: new Date().toISOString() });
    }
  });

  test('migration without a gap: the console counter goes on on the destination, no tick lost, no pause of 1 s', { timeout: 300_000 }, async () => {
    const id = agentVmId('host1', 'alpha');
    await shOk(cluster.drover, 'alpha', TICKER);
    const uptimeBefore = await cluster.uptime('alpha');
    const ticks = new TickRecorder();
    ticks.follow('host1', path.join(hostDir('host1'), 'run', id, 'serial.log'));
    ticks.follow('host3', path.join(hostDir('host3'), 'run', id, 'serial.log'));
    await sleep(1_500);
    const outcome = await migrateCli('alpha', 'host3');
    await eventually(async () => assert.ok(ticks.ticks.filter((t) => t.host === 'host3').length >= 15, 'ticks continue on host3'), 30_000);
    ticks.stop();
    const summary = ticks.summary();
    figures.ticker = { ...outcome, consoleGapMs: summary.maxGapMs, ticks: summary.last - summary.first + 1 };
    assert.ok(ticks.ticks.some((t) => t.host === 'host1'), 'ticks were seen on the source');
    assert.ok(summary.maxGapMs < 1_000, `longest console gap ${summary.maxGapMs} ms`);
    assert.deepEqual(summary.missing, [], 'every tick arrived on one host or the other');
    assert.ok((await cluster.uptime('alpha')) > uptimeBefore, 'the guest kept running (no reboot)');
    assert.equal(qemuPidsFor(id).length, 1, 'exactly one QEMU runs alpha');
    assert.ok(outcome.downtimeMs > 0 && outcome.downtimeMs < outcome.totalTimeMs, JSON.stringify(outcome));
    stays.push({ vm: 'alpha', host: 'host3', at: new Date().toISOString() });
  });

  test('local storage: beta\'s disks are mirrored to the destination and a file written before is there after', { timeout: 300_000 }, async () => {
    const secret = `kept-${Date.now()}`;
    await shOk(cluster.drover, 'beta', `echo ${secret} > /root/marker && sync`);
    const uptimeBefore = await cluster.uptime('beta');
    const outcome = await migrateCli('beta', 'host1');
    figures.localStorage = outcome;
    assert.equal((await shOk(cluster.drover, 'beta', 'cat /root/marker')).trim(), secret);
    assert.ok((await cluster.uptime('beta')) > uptimeBefore, 'the guest kept running (no reboot)');
    assert.ok(fs.existsSync(path.join(hostDir('host1'), 'vms', 'beta')), 'host1 holds beta\'s disks now');
    assert.equal(fs.existsSync(path.join(hostDir('host2'), 'vms', 'beta')), false, 'host2 removed its copy');
    assert.equal(qemuPidsFor(agentVmId('host1', 'beta')).length, 1, 'exactly one QEMU runs beta');
    stays.push({ vm: 'beta', host: 'host1', at: new Date().toISOString() });
  });

  test('a busy guest (memory rewritten as fast as it can) still migrates', { timeout: 400_000 }, async () => {
    // Random bytes (zero pages travel almost free), rewritten into the same pages in a loop.
    await shOk(cluster.drover, 'alpha', 'dd if=/dev/urandom of=/dev/shm/random bs=1M count=48 2>/dev/null');
    await shOk(cluster.drover, 'alpha', "sh -c 'while :; do dd if=/dev/shm/random of=/dev/shm/x bs=1M conv=notrunc 2>/dev/null; done' </dev/null >/dev/null 2>&1 &");
    const outcome = await migrateCli('alpha', 'host2', ['--bandwidth', '400']);
    figures.busy = outcome;
    assert.match(await shOk(cluster.drover, 'alpha', 'echo alive; ls /dev/shm'), /alive\nrandom\nx\n/);
    assert.equal(qemuPidsFor(agentVmId('host2', 'alpha')).length, 1, 'exactly one QEMU runs alpha');
    stays.push({ vm: 'alpha', host: 'host2', at: new Date().toISOString() });
  });

  test('killing the destination mid-migration leaves the VM running on the source, once, with the error recorded', { timeout: 300_000 }, async () => {
    const id = agentVmId('host1', 'beta');
    const started = await cluster.drover.api<{ operation: Operation }>('POST', '/api/v1/vms/beta/migrate', { to: 'host3', bandwidthMbps: 8 });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const pidFile = path.join(hostDir('host3'), 'run', id, 'qemu.pid');
    const pid = await eventually(async () => {
      const op = (await cluster.drover.api<Operation>('GET', `/api/v1/operations/${started.body.operation.id}`)).body;
      assert.equal(op.state, 'running', JSON.stringify(op));
      assert.ok(op.progress > 0.1, `progress ${op.progress}`);
      return Number(fs.readFileSync(pidFile, 'utf8'));
    }, 120_000, 100);
    process.kill(pid, 'SIGKILL');
    const failed = await cluster.drover.waitOp(started.body.operation.id);
    assert.equal(failed.state, 'failed', JSON.stringify(failed));
    assert.ok(failed.error?.code, 'the operation names what went wrong');
    figures.destinationKilled = failed.error;
    const vm = await eventually(async () => {
      const current = await getVm('beta');
      assert.deepEqual([current.host, current.state], ['host1', 'running']);
      return current;
    }, 30_000);
    assert.equal(vm.host, 'host1');
    assert.equal(await shOk(cluster.drover, 'beta', 'echo still-here'), 'still-here\n');
    assert.equal(qemuPidsFor(id).length, 1, 'one QEMU runs beta, the source\'s');
    await eventually(async () => assert.equal(fs.existsSync(path.join(hostDir('host3'), 'vms', 'beta')), false, 'host3 removed its half-made VM'), 30_000);
    const events = await cli(['events', '--vm', 'beta', '-o', 'json']);
    assert.equal(events.code, 0, events.stderr);
    const failures = (JSON.parse(events.stdout) as Array<{ action: string; result: string }>).filter((e) => e.result === 'failed' && e.action.includes('migrat'));
    assert.ok(failures.length > 0, `a failed migration event was recorded: ${events.stdout.slice(-1500)}`);
    const history = await cli(['vm', 'history', 'beta', '-o', 'json']);
    assert.equal((JSON.parse(history.stdout) as Array<{ host: string }>)[0]?.host, 'host1', 'the failed move is not in the placement history');
  });

  test('history: `vm where --at` names the host each VM ran on at each moment', { timeout: 120_000 }, async () => {
    process.stdout.write(`# cluster acceptance figures: ${JSON.stringify(figures)}\n`);
    for (const stay of stays) {
      const where = await cli(['vm', 'where', stay.vm, '--at', stay.at]);
      assert.deepEqual([where.code, where.stdout], [0, `${stay.host}\n`], `${stay.vm} at ${stay.at}: ${where.stderr}`);
    }
    const before = await cli(['vm', 'where', 'alpha', '--at', '2000-01-01T00:00:00Z', '-o', 'json']);
    assert.equal(before.code, 1, 'before it existed the VM was on no host');
    assert.match(before.stderr + before.stdout, /PLACEMENT_NOT_FOUND/);
  });
});
