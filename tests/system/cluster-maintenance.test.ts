/**
 * Maintenance mode between two testbed hosts (own network namespaces, one shared-storage
 * directory): `host maintenance enter host1` shows the plan, live-migrates the running VM to host2
 * with reason `maintenance`, the guest never restarts, and host1 takes no new VMs until `exit`.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useCluster } from '../helpers/cluster.js';

interface Vm {
  host: string | null;
  state: string;
}

describe('cluster maintenance: entering maintenance evacuates a running VM to the other testbed host', () => {
  const cluster = useCluster('drv-cmm-', 'tenant');
  const { cli, testbedDir } = cluster;
  const uptime = (): Promise<number> => cluster.uptime('tenant');

  test('maintenance enter host1: plan, live evacuation to host2, guest keeps running; exit returns host1 to ready', { timeout: 300_000 }, async () => {
    const { drover } = cluster;
    const up = await cli(['testbed', 'up', '--hosts', '2', '--storage', 'shared', '--dir', testbedDir, '-o', 'json']);
    assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);

    const created = await drover.api<{ operation: { id: string } }>('POST', '/api/v1/vms', { name: 'tenant', image: 'tiny', host: 'host1', pool: 'shared', start: true });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    assert.equal((await drover.waitOp(created.body.operation.id)).state, 'succeeded');
    const ready = await drover.api<Vm>('POST', '/api/v1/vms/tenant/wait-ready', { timeoutMs: 120_000 });
    assert.deepEqual([ready.status, ready.body.host, ready.body.state], [200, 'host1', 'running'], JSON.stringify(ready.body));
    const uptimeBefore = await uptime();
    // The controller's own local host does not reach the testbed's shared directory, and the
    // controller cannot tell (agents do not report their shared storage yet): keep it out of the plan.
    const { hosts } = (await drover.api<{ hosts: { name: string }[] }>('GET', '/api/v1/hosts')).body;
    const others = hosts.map((h) => h.name).filter((name) => name !== 'host1' && name !== 'host2');
    for (const name of others) {
      const parked = await drover.api<{ operation: { id: string } }>('POST', `/api/v1/hosts/${name}/maintenance/enter`, {});
      assert.equal(parked.status, 202, JSON.stringify(parked.body));
      assert.equal((await drover.waitOp(parked.body.operation.id)).state, 'succeeded');
    }

    const dryRun = await cli(['host', 'maintenance', 'enter', 'host1', '--dry-run']);
    assert.equal(dryRun.code, 0, dryRun.stderr);
    assert.match(dryRun.stdout, /tenant -> host2/);
    assert.equal((await drover.api<{ state: string }>('GET', '/api/v1/hosts/host1')).body.state, 'ready', 'a dry run changes nothing');

    const entered = await cli(['host', 'maintenance', 'enter', 'host1', '-o', 'json'], 240_000);
    assert.equal(entered.code, 0, `${entered.stdout}\n${entered.stderr}`);
    const outcome = JSON.parse(entered.stdout) as { moved: { vm: string; to: string }[]; failed: unknown[]; unmovable: unknown[] };
    assert.deepEqual([outcome.moved.map((m) => [m.vm, m.to]), outcome.failed, outcome.unmovable], [[['tenant', 'host2']], [], []]);

    const vm = (await drover.api<Vm>('GET', '/api/v1/vms/tenant')).body;
    assert.deepEqual([vm.host, vm.state], ['host2', 'running']);
    const uptimeAfter = await uptime();
    assert.ok(uptimeAfter > uptimeBefore, `guest uptime went from ${uptimeBefore} to ${uptimeAfter}: the guest kept running`);
    const history = await cli(['vm', 'history', 'tenant', '-o', 'json']);
    const placements = JSON.parse(history.stdout) as { host: string; reason: string }[];
    assert.deepEqual(placements.map((p) => [p.host, p.reason]), [['host2', 'maintenance'], ['host1', 'user']]);

    assert.equal((await drover.api<{ state: string }>('GET', '/api/v1/hosts/host1')).body.state, 'maintenance');
    const refused = await drover.api<{ code: string }>('POST', '/api/v1/vms/tenant/migrate', { to: 'host1' });
    assert.deepEqual([refused.status, refused.body.code], [409, 'MIGRATION_TARGET_NOT_READY']);

    const exited = await cli(['host', 'maintenance', 'exit', 'host1']);
    assert.deepEqual([exited.code, exited.stdout], [0, 'host host1 is ready\n'], exited.stderr);
    for (const name of others) assert.equal((await drover.api('POST', `/api/v1/hosts/${name}/maintenance/exit`)).status, 200);
  });
});
