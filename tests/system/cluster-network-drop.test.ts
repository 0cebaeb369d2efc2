/**
 * The network to the destination drops mid-migration (two testbed hosts, shared storage): the
 * migration's stream stops moving, the source notices, rolls back, and the VM runs on at the
 * source, once, with MIGRATION_STALLED recorded. When the network returns, the destination is told
 * to drop its waiting QEMU, and the VM can move after all.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { run } from '../../src/shared/exec.js';
import { readState } from '../../src/testbed/state.js';
import { useCluster } from '../helpers/cluster.js';
import { qemuPidsFor } from '../helpers/ticks.js';
import { eventually, shOk } from '../helpers/vm.js';

const VM = 'cutoff';

interface Operation {
  state: string;
  message: string;
  error: { code: string; detail?: string } | null;
}

describe('cluster network drop: the link to the destination goes down mid-migration', () => {
  const cluster = useCluster('drv-nd-', VM);
  const { cli, testbedDir } = cluster;
  /** The root-namespace end of a testbed host's veth: down, the host is cut off from the bridge. */
  const vethOf = (host: string): string => {
    const found = readState(testbedDir)?.hosts.find((h) => h.name === host);
    assert.ok(found, `testbed host ${host}`);
    return found.veth;
  };
  const agentVmId = (): string => (JSON.parse(fs.readFileSync(path.join(testbedDir, 'host1', 'vms', VM, 'vm.json'), 'utf8')) as { id: string }).id;

  test('the VM runs on at the source, once; the error says the stream stalled; the destination drops its QEMU once reachable', { timeout: 300_000 }, async () => {
    const { drover } = cluster;
    const up = await cli(['testbed', 'up', '--hosts', '2', '--storage', 'shared', '--dir', testbedDir, '-o', 'json']);
    assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
    const created = await drover.api<{ operation: { id: string } }>('POST', '/api/v1/vms', { name: VM, image: 'tiny', host: 'host1', pool: 'shared', start: true });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    assert.equal((await drover.waitOp(created.body.operation.id)).state, 'succeeded');
    const ready = await drover.api<{ host: string }>('POST', `/api/v1/vms/${VM}/wait-ready`, { timeoutMs: 150_000 });
    assert.deepEqual([ready.status, ready.body.host], [200, 'host1'], JSON.stringify(ready.body));
    const id = agentVmId();

    // 1 Mbit/s keeps the copy going for minutes, so the drop lands mid-stream.
    const started = await drover.api<{ operation: { id: string } }>('POST', `/api/v1/vms/${VM}/migrate`, { to: 'host2', bandwidthMbps: 1 });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const opId = started.body.operation.id;
    await eventually(async () => {
      const op = (await drover.api<Operation>('GET', `/api/v1/operations/${opId}`)).body;
      assert.match(op.message, /^migrating: /, op.message);
    }, 60_000);
    assert.equal(qemuPidsFor(id).length, 2, 'the destination QEMU is waiting for the stream');

    const veth = vethOf('host2');
    await run('ip', ['link', 'set', 'dev', veth, 'down']);
    const droppedAt = Date.now();
    let restored = false;
    try {
      const op = await drover.waitOp(opId);
      console.log(`network drop: the migration was rolled back ${Date.now() - droppedAt} ms after the link went down`);
      assert.equal(op.state, 'failed', JSON.stringify(op));
      assert.equal(op.error?.code, 'MIGRATION_STALLED', JSON.stringify(op.error));
      const vm = await cluster.vm(VM);
      assert.deepEqual([vm.host, vm.state, vm.movingTo], ['host1', 'running', null]);
      assert.match(await shOk(drover, VM, 'echo still-here'), /still-here/);
      const runningHere = qemuPidsFor(id).filter((pid) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(path.join(testbedDir, 'host1')));
      assert.equal(runningHere.length, 1, 'the guest runs at the source');
    } finally {
      await run('ip', ['link', 'set', 'dev', veth, 'up']);
      restored = true;
    }
    assert.ok(restored);
    // Reachable again, the destination is told to drop the QEMU that waited for the stream.
    await eventually(async () => assert.equal(qemuPidsFor(id).length, 1, 'only the source QEMU is left'), 90_000);
    const { events } = (await drover.api<{ events: { action: string; result: string; detail: { error?: { code?: string } } }[] }>('GET', `/api/v1/events?vm=${VM}&limit=50`)).body;
    assert.ok(events.some((e) => e.action === 'vm.migrate' && e.result === 'failed' && e.detail.error?.code === 'MIGRATION_STALLED'), 'the event log records the stalled move');

    // With the network back, the same move goes through.
    await eventually(async () => assert.equal((await drover.api<{ health: string }>('GET', '/api/v1/hosts/host2')).body.health, 'healthy'), 60_000);
    const moved = await cli(['vm', 'migrate', VM, '--to', 'host2', '-o', 'json'], 240_000);
    assert.equal(moved.code, 0, `${moved.stdout}\n${moved.stderr}`);
    const vm = await cluster.vm(VM);
    assert.deepEqual([vm.host, vm.state], ['host2', 'running']);
    assert.equal(qemuPidsFor(id).length, 1, 'exactly one QEMU runs the VM');
  });
});
