/**
 * The network to the destination drops mid-migration (two testbed hosts, shared storage): the
 * migration's stream stops moving, the source notices, rolls back, and the VM runs on at the
 * source, once, with MIGRATION_STALLED recorded. When the network returns, the destination is told
 * to drop its waiting QEMU, and the VM can move after all. The same holds for a VM on host-local
 * disks whose mirror is cut off: its disk stays writable at the source.
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
/** On host-local disks: its move mirrors them, and the drop lands while they are being copied. */
const LOCAL_VM = 'cutoff-local';

interface Operation {
  state: string;
  message: string;
  error: { code: string; detail?: string } | null;
}

describe('cluster network drop: the link to the destination goes down mid-migration', () => {
  const cluster = useCluster('drv-nd-', [VM, LOCAL_VM]);
  const { cli, testbedDir } = cluster;
  /** The root-namespace end of a testbed host's veth: down, the host is cut off from the bridge. */
  const vethOf = (host: string): string => {
    const found = readState(testbedDir)?.hosts.find((h) => h.name === host);
    assert.ok(found, `testbed host ${host}`);
    return found.veth;
  };
  const agentVmId = (name = VM): string => (JSON.parse(fs.readFileSync(path.join(testbedDir, 'host1', 'vms', name, 'vm.json'), 'utf8')) as { id: string }).id;
  /** Takes `host`'s link down for as long as `during` runs, then up again whatever happened. */
  const linkDown = async <T>(host: string, during: (droppedAt: number) => Promise<T>): Promise<T> => {
    const veth = vethOf(host);
    await run('ip', ['link', 'set', 'dev', veth, 'down']);
    try {
      return await during(Date.now());
    } finally {
      await run('ip', ['link', 'set', 'dev', veth, 'up']);
    }
  };
  /** Creates `name` on host1 in `pool`, started, and waits for its guest agent; returns the VM's id on the agent. */
  const startOnHost1 = async (name: string, pool: 'shared' | 'local'): Promise<string> => {
    const { drover } = cluster;
    const created = await drover.api<{ operation: { id: string } }>('POST', '/api/v1/vms', { name, image: 'tiny', host: 'host1', pool, start: true });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    assert.equal((await drover.waitOp(created.body.operation.id)).state, 'succeeded');
    const ready = await drover.api<{ host: string }>('POST', `/api/v1/vms/${name}/wait-ready`, { timeoutMs: 150_000 });
    assert.deepEqual([ready.status, ready.body.host], [200, 'host1'], JSON.stringify(ready.body));
    return agentVmId(name);
  };
  /** Starts moving `name` to host2 with `body`; returns the operation once its message matches `phase`. */
  const startMoving = async (name: string, body: Record<string, unknown>, phase: RegExp): Promise<string> => {
    const { drover } = cluster;
    const started = await drover.api<{ operation: { id: string } }>('POST', `/api/v1/vms/${name}/migrate`, { to: 'host2', ...body });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const opId = started.body.operation.id;
    await eventually(async () => {
      const op = (await drover.api<Operation>('GET', `/api/v1/operations/${opId}`)).body;
      assert.match(op.message, phase, op.message);
    }, 60_000);
    return opId;
  };
  /**
   * Cuts host2 off while operation `opId` moves `name` (agent id `id`), and checks while it is still cut off: the move
   * is rolled back as MIGRATION_STALLED, the VM runs on at host1 with one QEMU there, and `whileDown` passes.
   */
  const cutOff = (name: string, id: string, opId: string, label: string, whileDown: () => Promise<void>): Promise<void> =>
    linkDown('host2', async (droppedAt) => {
      const op = await cluster.drover.waitOp(opId);
      console.log(`network drop${label ? ` (${label})` : ''}: the migration was rolled back ${Date.now() - droppedAt} ms after the link went down`);
      assert.equal(op.state, 'failed', JSON.stringify(op));
      assert.equal(op.error?.code, 'MIGRATION_STALLED', JSON.stringify(op.error));
      const vm = await cluster.vm(name);
      assert.deepEqual([vm.host, vm.state, vm.movingTo], ['host1', 'running', null]);
      await whileDown();
      const runningHere = qemuPidsFor(id).filter((pid) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(path.join(testbedDir, 'host1')));
      assert.equal(runningHere.length, 1, 'the guest runs at the source');
    });

  test('the VM runs on at the source, once; the error says the stream stalled; the destination drops its QEMU once reachable', { timeout: 300_000 }, async () => {
    const { drover } = cluster;
    const up = await cli(['testbed', 'up', '--hosts', '2', '--storage', 'shared', '--dir', testbedDir, '-o', 'json']);
    assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
    const id = await startOnHost1(VM, 'shared');

    // 1 Mbit/s keeps the copy going for minutes, so the drop lands mid-stream.
    const opId = await startMoving(VM, { bandwidthMbps: 1 }, /^migrating: /);
    assert.equal(qemuPidsFor(id).length, 2, 'the destination QEMU is waiting for the stream');
    await cutOff(VM, id, opId, '', async () => {
      assert.match(await shOk(drover, VM, 'echo still-here'), /still-here/);
    });
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

  test('a VM on host-local disks: cut off while its disks are in step, then mid-copy; it runs on at the source with its disk writable', { timeout: 400_000 }, async () => {
    const { drover } = cluster;
    const id = await startOnHost1(LOCAL_VM, 'local');

    /** Moves the VM to host2 at 1 Mbit/s, drops the link once the operation's message matches `phase`, and checks the rollback. */
    const dropMidMove = async (phase: RegExp, label: string, marker: string): Promise<void> => {
      const opId = await startMoving(LOCAL_VM, { storage: 'local', bandwidthMbps: 1 }, phase);
      await cutOff(LOCAL_VM, id, opId, label, async () => {
        // The cut-off mirror must not hold the guest's writes: a write and sync go through while the link is still down.
        assert.match(await shOk(drover, LOCAL_VM, `echo ${marker} > /root/${marker} && sync && cat /root/${marker}`), new RegExp(marker));
      });
      // Reachable again, the destination drops its waiting QEMU and the disks it made.
      await eventually(async () => {
        assert.equal(qemuPidsFor(id).length, 1, 'only the source QEMU is left');
        assert.equal(fs.existsSync(path.join(testbedDir, 'host2', 'vms', LOCAL_VM)), false, 'host2 removed its half-copied disks');
      }, 90_000);
      assert.match(await shOk(drover, LOCAL_VM, `cat /root/${marker}`), new RegExp(marker));
    };

    // The disks hold little beyond the image, so their mirrors are in step at once (guest writes now go to both) and the drop lands while memory is sent.
    await dropMidMove(/^migrating: /, 'disks in step, memory being sent', 'written-in-step');
    // 16 MiB of data the mirror must copy: at 1 Mbit/s that takes minutes, so the drop lands mid-copy.
    await shOk(drover, LOCAL_VM, 'dd if=/dev/urandom of=/root/blob bs=1M count=16 2>/dev/null && sync && echo written', 120_000);
    await dropMidMove(/^mirroring: .*disks [1-9]\d* MiB/, 'disks being copied', 'written-mid-copy');
  });
});
