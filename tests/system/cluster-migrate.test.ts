/**
 * Live migration driven by the controller between two testbed hosts (own network namespaces, one
 * shared-storage directory): the CLI's `vm migrate`, then `vm history` and `vm where` answer from
 * the placement history, and the guest never restarted.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useCluster } from '../helpers/cluster.js';

interface Vm {
  host: string | null;
  state: string;
  guestReady: boolean;
}

describe('cluster migrate: the controller moves a running VM between testbed hosts on shared storage', () => {
  const cluster = useCluster('drv-cm-', 'mover');
  const { cli, testbedDir } = cluster;
  const uptime = (): Promise<number> => cluster.uptime('mover');

  test('migrate host1 → host2: downtime and total time measured, guest uptime continues, history and where agree', { timeout: 240_000 }, async () => {
    const { drover } = cluster;
    const up = await cli(['testbed', 'up', '--hosts', '2', '--storage', 'shared', '--dir', testbedDir, '-o', 'json']);
    assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);

    const created = await drover.api<{ operation: { id: string } }>('POST', '/api/v1/vms', { name: 'mover', image: 'tiny', host: 'host1', pool: 'shared', start: true });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const op = await drover.waitOp(created.body.operation.id);
    assert.equal(op.state, 'succeeded', JSON.stringify(op));
    const ready = await drover.api<Vm>('POST', '/api/v1/vms/mover/wait-ready', { timeoutMs: 120_000 });
    assert.deepEqual([ready.status, ready.body.host, ready.body.state], [200, 'host1', 'running'], JSON.stringify(ready.body));

    const uptimeBefore = await uptime();
    const beforeMigration = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const migrated = await cli(['vm', 'migrate', 'mover', '--to', 'host2', '--downtime-limit', '300', '-o', 'json']);
    assert.equal(migrated.code, 0, `${migrated.stdout}\n${migrated.stderr}`);
    const outcome = JSON.parse(migrated.stdout) as { from: string; to: string; totalTimeMs: number; downtimeMs: number; setupTimeMs: number; bytes: number };
    console.log(`controller-driven migration: downtime ${outcome.downtimeMs} ms, total ${outcome.totalTimeMs} ms, setup ${outcome.setupTimeMs} ms, ${outcome.bytes} bytes`);
    assert.deepEqual([outcome.from, outcome.to], ['host1', 'host2']);
    assert.ok(outcome.totalTimeMs > 0 && outcome.downtimeMs > 0 && outcome.downtimeMs < outcome.totalTimeMs, JSON.stringify(outcome));
    assert.ok(outcome.bytes > 0);

    const vm = (await drover.api<Vm>('GET', '/api/v1/vms/mover')).body;
    assert.deepEqual([vm.host, vm.state], ['host2', 'running']);
    const uptimeAfter = await uptime();
    assert.ok(uptimeAfter > uptimeBefore, `guest uptime went from ${uptimeBefore} to ${uptimeAfter}: the guest kept running`);

    const history = await cli(['vm', 'history', 'mover', '-o', 'json']);
    assert.equal(history.code, 0, history.stderr);
    const placements = JSON.parse(history.stdout) as { host: string; reason: string; endedAt: string | null }[];
    assert.deepEqual(placements.map((p) => [p.host, p.reason, p.endedAt === null]), [['host2', 'user', true], ['host1', 'user', false]]);

    const whereBefore = await cli(['vm', 'where', 'mover', '--at', beforeMigration]);
    assert.deepEqual([whereBefore.code, whereBefore.stdout], [0, 'host1\n'], whereBefore.stderr);
    const whereNow = await cli(['vm', 'where', 'mover', '--at', 'now', '-o', 'json']);
    assert.equal(whereNow.code, 0, whereNow.stderr);
    assert.equal((JSON.parse(whereNow.stdout) as { host: string }).host, 'host2');

    const deleted = await drover.api<{ operation: { id: string } }>('DELETE', '/api/v1/vms/mover?force=true');
    assert.equal((await drover.waitOp(deleted.body.operation.id)).state, 'succeeded');
  });
});
