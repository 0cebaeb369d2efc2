import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cleanupDataDir, makeDataDir, startAgent, type TestAgent } from '../helpers/agent.js';
import { qemuPidsFor, TICKER, TickRecorder } from '../helpers/ticks.js';
import { createVm, eventually, shOk, startReady, type VmView } from '../helpers/vm.js';

interface MigrationView {
  id: string;
  state: string;
  progress: { pass: number; ramTransferredBytes: number; ramRemainingBytes: number; dirtyPagesRate: number; cpuThrottlePercent: number; postcopy: boolean };
  result?: { totalTimeMs: number; downtimeMs: number; setupTimeMs: number; ramTransferredBytes: number; passes: number; postcopy: boolean; maxCpuThrottlePercent: number; handoverMs?: number; pausedMs?: number };
  error?: { code: string; message: string; detail?: string };
}

const FINAL = ['completed', 'failed', 'cancelled', 'unresolved'];

describe('live migration between two host agents (real QEMU, tiny image)', () => {
  const shared = fs.mkdtempSync(path.join(os.tmpdir(), 'drv-shared-'));
  const dirA = makeDataDir();
  const dirB = makeDataDir();
  let a: TestAgent;
  let b: TestAgent;
  const figures: Record<string, unknown> = {};

  before(async () => {
    [a, b] = await Promise.all([startAgent(dirA, { sharedStorage: shared }), startAgent(dirB, { sharedStorage: shared })]);
  });
  after(async () => {
    process.stdout.write(`# migration figures: ${JSON.stringify(figures)}\n`);
    await Promise.all([a?.stopProcess(), b?.stopProcess()]);
    await Promise.all([cleanupDataDir(dirA), cleanupDataDir(dirB)]);
    fs.rmSync(shared, { recursive: true, force: true });
  });

  const migrate = async (from: TestAgent, to: TestAgent, name: string, body: Record<string, unknown>): Promise<MigrationView> => {
    const res = await from.api<MigrationView>('POST', `/api/v1/vms/${name}/migrate`, { destination: { agentUrl: to.url, token: to.token }, ...body });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body;
  };
  const waitFor = async (agent: TestAgent, id: string, until: (m: MigrationView) => boolean, timeoutMs: number): Promise<MigrationView> =>
    eventually(async () => {
      const view = (await agent.api<MigrationView>('GET', `/api/v1/migrations/${id}`)).body;
      assert.ok(until(view), `migration is ${view.state}: ${JSON.stringify(view.progress)}`);
      return view;
    }, timeoutMs, 100);
  const uptime = async (agent: TestAgent, name: string): Promise<number> => Number((await shOk(agent, name, 'cut -d" " -f1 /proc/uptime')).trim());
  /** Migrates a VM that runs the ticker and checks the console never paused for a second and no tick went missing. */
  const migrateWithTicks = async (name: string, body: Record<string, unknown>): Promise<{ view: MigrationView; moved: VmView; consoleGapMs: number }> => {
    const vm = (await a.api<VmView>('GET', `/api/v1/vms/${name}`)).body;
    await shOk(a, name, TICKER);
    const before = await uptime(a, name);
    const ticks = new TickRecorder();
    ticks.follow('a', path.join(dirA, 'run', vm.id, 'serial.log'));
    ticks.follow('b', path.join(dirB, 'run', vm.id, 'serial.log'));
    await new Promise((r) => setTimeout(r, 1_500));
    const started = await migrate(a, b, name, body);
    const view = await waitFor(a, started.id, (m) => FINAL.includes(m.state), 120_000);
    assert.equal(view.state, 'completed', JSON.stringify(view.error));
    await eventually(async () => assert.ok(ticks.ticks.filter((t) => t.host === 'b').length >= 15, 'ticks continue on the destination'), 20_000);
    ticks.stop();
    const summary = ticks.summary();
    assert.ok(ticks.ticks.some((t) => t.host === 'a'), 'ticks were seen on the source');
    assert.ok(summary.maxGapMs < 1_000, `console gap ${summary.maxGapMs} ms`);
    assert.deepEqual(summary.missing, [], 'every tick arrived on one host or the other');
    assert.ok((await uptime(b, name)) > before, 'guest uptime went on (no reboot)');
    assert.equal((await a.api('GET', `/api/v1/vms/${name}`)).status, 404, 'the source no longer has the VM');
    const moved = (await b.api<VmView>('GET', `/api/v1/vms/${name}`)).body;
    assert.equal(moved.state, 'running');
    assert.ok(vm.startedAt, 'the source reports when the guest started');
    assert.equal(moved.startedAt, vm.startedAt, 'the destination reports the guest\'s original start, not its own QEMU\'s');
    assert.deepEqual(qemuPidsFor(vm.id), [moved.pid], 'exactly one QEMU runs the VM: the destination\'s');
    return { view, moved, consoleGapMs: summary.maxGapMs };
  };

  test('shared storage: a running guest moves; its console ticks on without a 1 s gap; the shared disks stay; its CPU model comes along', async () => {
    const unknown = await a.api<{ code: string }>('POST', '/api/v1/vms', { name: 'mig-unknown', image: 'tiny', cpuModel: 'Pentium9000' });
    assert.deepEqual([unknown.status, unknown.body.code], [400, 'CPU_MODEL_UNSUPPORTED']);
    await createVm(a, { name: 'mig-shared', pool: 'shared', memoryMiB: 256, cpuModel: 'Nehalem' });
    const vm = await startReady(a, 'mig-shared');
    const disk = vm.disks[0]!.path;
    assert.ok(disk.startsWith(shared), `disk ${disk} is on the shared storage`);
    const nehalem = /^model name\s*:\s*Intel Core i7 9xx \(Nehalem Class Core i7\)$/m;
    assert.match(await shOk(a, 'mig-shared', 'cat /proc/cpuinfo'), nehalem, 'the guest sees the VM\'s CPU model');
    const { view, moved, consoleGapMs } = await migrateWithTicks('mig-shared', { storage: 'shared' });
    assert.equal(moved.disks[0]!.path, disk, 'the destination runs from the same disk file');
    assert.equal(moved.cpuModel, 'Nehalem');
    assert.match(await shOk(b, 'mig-shared', 'cat /proc/cpuinfo'), nehalem, 'the same CPU model on the destination');
    assert.ok(fs.existsSync(disk), 'the source kept the shared disk');
    assert.ok(view.result && view.result.totalTimeMs > 0 && view.result.ramTransferredBytes > 0);
    // The pause runs from the source's STOP through the whole hand-over, so it can be no shorter than the hand-over.
    const { pausedMs, handoverMs } = view.result;
    assert.ok(typeof pausedMs === 'number' && typeof handoverMs === 'number' && pausedMs >= handoverMs - 1, `paused ${pausedMs} ms, hand-over ${handoverMs} ms`);
    figures.idleShared = { ...view.result, consoleGapMs };
    await b.api('DELETE', '/api/v1/vms/mig-shared?force=true');
  });

  test('copy storage: the disk comes along; a file written before is there after', async () => {
    await createVm(a, { name: 'mig-copy', memoryMiB: 256 });
    await startReady(a, 'mig-copy');
    const secret = `precious-${Date.now()}`;
    await shOk(a, 'mig-copy', `echo ${secret} > /root/marker && sync`);
    const { view, moved, consoleGapMs } = await migrateWithTicks('mig-copy', { storage: 'copy' });
    assert.ok(moved.disks[0]!.path.startsWith(dirB), `disk ${moved.disks[0]!.path} is local to the destination`);
    // Only the overlay travelled: the destination's disk sits on its own identical copy of the tiny image.
    const info = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', moved.disks[0]!.path], { encoding: 'utf8' })) as { 'backing-filename'?: string };
    assert.equal(info['backing-filename'], path.join(dirB, 'images', 'tiny.qcow2'));
    assert.equal(fs.existsSync(path.join(dirA, 'vms', 'mig-copy')), false, 'the source removed its copy');
    assert.equal((await shOk(b, 'mig-copy', 'cat /root/marker')).trim(), secret);
    await shOk(b, 'mig-copy', 'echo after > /root/after && sync');
    figures.idleCopy = { ...view.result, consoleGapMs };
    await b.api('DELETE', '/api/v1/vms/mig-copy?force=true');
  });

  test('a guest dirtying memory as fast as it can still finishes (auto-converge, then post-copy)', async () => {
    await createVm(a, { name: 'mig-busy', pool: 'shared', memoryMiB: 256 });
    await startReady(a, 'mig-busy');
    // Random bytes (zero pages would travel almost free), made once, then rewritten into the same pages in a loop.
    await shOk(a, 'mig-busy', 'dd if=/dev/urandom of=/dev/shm/random bs=1M count=48 2>/dev/null', 120_000);
    await shOk(a, 'mig-busy', "sh -c 'while :; do dd if=/dev/shm/random of=/dev/shm/x bs=1M conv=notrunc 2>/dev/null; done' </dev/null >/dev/null 2>&1 &");
    const t0 = Date.now();
    const started = await migrate(a, b, 'mig-busy', { storage: 'shared', bandwidthMbps: 400, postcopyAfterPasses: 5 });
    const view = await waitFor(a, started.id, (m) => FINAL.includes(m.state), 120_000);
    assert.equal(view.state, 'completed', JSON.stringify(view.error));
    assert.ok(Date.now() - t0 < 120_000);
    assert.ok(view.result!.postcopy || view.result!.maxCpuThrottlePercent > 0, `convergence needed help: ${JSON.stringify(view)}`);
    assert.match(await shOk(b, 'mig-busy', 'echo alive; ls /dev/shm'), /alive\nrandom\nx\n/);
    figures.busy = { ...view.result, wallMs: Date.now() - t0 };
    await b.api('DELETE', '/api/v1/vms/mig-busy?force=true');
  });

  test('the destination refuses what it cannot run, with a reason', async () => {
    const vm = { id: '00000000-0000-4000-8000-000000000000', name: 'ghost', cpus: 1, memoryMiB: 128, devices: 'virtio', disks: [{ name: 'root', file: 'root.qcow2', sizeBytes: 1 << 20 }], nics: [], createdAt: new Date().toISOString() };
    const request = (source: Record<string, unknown>) => ({
      migrationId: '11111111-1111-4111-8111-111111111111', vm, storage: 'copy', disks: [{ name: 'root', virtualSizeBytes: 1 << 20 }], postcopy: true, resume: true,
      source: { machineType: 'pc-i440fx-7.2', cpuModel: 'qemu64', accelerator: 'tcg', qemuVersion: '7.2.0', ...source },
    });
    for (const [source, reason] of [[{ cpuModel: 'host' }, /CPU model host/], [{ machineType: 'pc-i440fx-99.0' }, /no machine type pc-i440fx-99\.0/]] as const) {
      const res = await b.api<{ code: string; detail: string }>('POST', '/api/v1/migrations/incoming', request(source));
      assert.equal(res.status, 409, JSON.stringify(res.body));
      assert.equal(res.body.code, 'MIGRATION_INCOMPATIBLE');
      assert.match(res.body.detail, reason);
    }
    assert.equal(fs.existsSync(path.join(dirB, 'vms', 'ghost')), false);
  });

  test('the destination QEMU dies mid-migration: the guest runs on at the source, once; the error says why', async () => {
    await createVm(a, { name: 'mig-fail', pool: 'shared', memoryMiB: 256 });
    const vm = await startReady(a, 'mig-fail');
    const started = await migrate(a, b, 'mig-fail', { storage: 'shared', bandwidthMbps: 8 });
    const running = await waitFor(a, started.id, (m) => m.state === 'migrating' && m.progress.ramTransferredBytes > 0, 60_000);
    const pidFile = path.join(dirB, 'run', vm.id, 'qemu.pid');
    process.kill(Number(fs.readFileSync(pidFile, 'utf8')), 'SIGKILL');
    const failed = await waitFor(a, running.id, (m) => FINAL.includes(m.state), 60_000);
    assert.equal(failed.state, 'failed');
    assert.equal(failed.error?.code, 'MIGRATION_FAILED');
    assert.match(failed.error?.detail ?? '', /destination QEMU exited: QEMU killed by SIGKILL/);
    figures.destinationKilled = failed.error;
    const source = (await a.api<VmView>('GET', '/api/v1/vms/mig-fail')).body;
    assert.equal(source.state, 'running');
    assert.equal(await shOk(a, 'mig-fail', 'echo still-here'), 'still-here\n');
    assert.deepEqual(qemuPidsFor(vm.id), [source.pid], 'one QEMU for the VM in total');
    assert.equal((await b.api('GET', '/api/v1/vms/mig-fail')).status, 404);
    assert.equal(fs.existsSync(path.join(dirB, 'vms', 'mig-fail')), false, 'the destination removed its half-made VM');
  });

  test('the destination agent and its QEMU die mid-migration: the source carries on; the restarted destination cleans up', async () => {
    const vm = (await a.api<VmView>('GET', '/api/v1/vms/mig-fail')).body;
    const started = await migrate(a, b, 'mig-fail', { storage: 'shared', bandwidthMbps: 8 });
    await waitFor(a, started.id, (m) => m.state === 'migrating' && m.progress.ramTransferredBytes > 0, 60_000);
    const pid = Number(fs.readFileSync(path.join(dirB, 'run', vm.id, 'qemu.pid'), 'utf8'));
    await b.stopProcess('SIGKILL');
    process.kill(pid, 'SIGKILL');
    const failed = await waitFor(a, started.id, (m) => FINAL.includes(m.state), 60_000);
    assert.equal(failed.state, 'failed');
    assert.match(failed.error?.detail ?? '', /QEMU:/);
    figures.destinationAgentKilled = failed.error;
    assert.equal((await a.api<VmView>('GET', '/api/v1/vms/mig-fail')).body.state, 'running');
    assert.equal(fs.existsSync(path.join(dirB, 'vms', 'mig-fail')), true, 'the dead agent left its half-made VM');
    b = await startAgent(dirB, { sharedStorage: shared });
    assert.equal(fs.existsSync(path.join(dirB, 'vms', 'mig-fail')), false, 'the restarted agent removed it');
    assert.equal((await b.api('GET', '/api/v1/vms/mig-fail')).status, 404);
    assert.equal(qemuPidsFor(vm.id).length, 1);
  });

  test('the source agent dies mid-migration: restarted, it rolls the migration back and the guest runs on', async () => {
    const vm = (await a.api<VmView>('GET', '/api/v1/vms/mig-fail')).body;
    const started = await migrate(a, b, 'mig-fail', { storage: 'shared', bandwidthMbps: 8 });
    await waitFor(a, started.id, (m) => m.state === 'migrating' && m.progress.ramTransferredBytes > 0, 60_000);
    await a.stopProcess('SIGKILL');
    a = await startAgent(dirA, { sharedStorage: shared });
    const settled = await waitFor(a, started.id, (m) => FINAL.includes(m.state), 30_000);
    assert.equal(settled.state, 'failed');
    assert.match(settled.error?.detail ?? '', /host agent restarted during the migration/);
    assert.equal((await a.api<VmView>('GET', '/api/v1/vms/mig-fail')).body.state, 'running');
    assert.equal(await shOk(a, 'mig-fail', 'echo still-here'), 'still-here\n');
    assert.equal(fs.existsSync(path.join(dirA, 'vms', 'mig-fail', 'outgoing-migration.json')), false);
    await eventually(async () => assert.equal(fs.existsSync(path.join(dirB, 'vms', 'mig-fail')), false), 10_000);
    assert.equal(qemuPidsFor(vm.id).length, 1);
  });

  test('cancel rolls back cleanly, and the next migration of the same VM succeeds', async () => {
    const vm = (await a.api<VmView>('GET', '/api/v1/vms/mig-fail')).body;
    const started = await migrate(a, b, 'mig-fail', { storage: 'shared', bandwidthMbps: 8 });
    await waitFor(a, started.id, (m) => m.state === 'migrating' && m.progress.ramTransferredBytes > 0, 60_000);
    const busy = await a.api<{ code: string }>('POST', '/api/v1/vms/mig-fail/pause');
    assert.equal(busy.body.code, 'VM_BUSY', 'other actions wait for the migration');
    const cancel = await a.api<MigrationView>('POST', '/api/v1/vms/mig-fail/migrate/cancel');
    assert.equal(cancel.status, 202);
    const done = await waitFor(a, started.id, (m) => FINAL.includes(m.state), 30_000);
    assert.equal(done.state, 'cancelled', JSON.stringify(done));
    assert.equal(done.error?.code, 'MIGRATION_CANCELLED');
    assert.equal((await a.api<VmView>('GET', '/api/v1/vms/mig-fail')).body.state, 'running');
    assert.equal((await b.api<MigrationView>('GET', `/api/v1/migrations/${started.id}`)).body.state, 'cancelled');
    assert.equal(fs.existsSync(path.join(dirB, 'vms', 'mig-fail')), false);
    assert.equal(qemuPidsFor(vm.id).length, 1);
    const again = await migrate(a, b, 'mig-fail', { storage: 'shared' });
    assert.equal((await waitFor(a, again.id, (m) => FINAL.includes(m.state), 60_000)).state, 'completed');
    assert.equal(await shOk(b, 'mig-fail', 'echo moved'), 'moved\n');
    const sharedDisk = (await b.api<VmView>('GET', '/api/v1/vms/mig-fail')).body.disks[0]!.path;
    const back = await migrate(b, a, 'mig-fail', { storage: 'copy' });
    assert.equal((await waitFor(b, back.id, (m) => FINAL.includes(m.state), 60_000)).state, 'completed', 'and back again, copying the disk');
    assert.equal(fs.existsSync(sharedDisk), false, 'the shared disk nobody uses any more is gone');
    assert.equal(await shOk(a, 'mig-fail', 'echo home'), 'home\n');
    assert.deepEqual(qemuPidsFor(vm.id), [(await a.api<VmView>('GET', '/api/v1/vms/mig-fail')).body.pid]);
  });

  test('a VM on local disks cannot move with shared storage', async () => {
    await createVm(a, { name: 'mig-local', memoryMiB: 128 });
    await a.api('POST', '/api/v1/vms/mig-local/start');
    const res = await a.api<{ code: string }>('POST', '/api/v1/vms/mig-local/migrate', { destination: { agentUrl: b.url, token: b.token }, storage: 'shared' });
    assert.equal(res.status, 409);
    assert.equal(res.body.code, 'MIGRATION_STORAGE_UNAVAILABLE');
    await a.api('DELETE', '/api/v1/vms/mig-local?force=true');
  });
});
