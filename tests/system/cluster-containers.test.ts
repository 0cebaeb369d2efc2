/**
 * Containers in a cluster, on a 2-host testbed with shared storage: a container and a VM on one virtual
 * network across the hosts reach each other; a container moves by cold migration (its disk copied while it
 * runs) keeping its files and address, with the downtime reported; and an HA container on the shared pool is restarted on the other host when its
 * host loses power.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { VmWire } from '../../src/controller/vms/schema.js';
import { networkNic, useCluster } from '../helpers/cluster.js';
import { until } from '../helpers/up.js';
import { sh, shOk, shUntilOk } from '../helpers/vm.js';

const NETWORK = 'mixnet';

describe('containers in a cluster: mixed network, cold migration, HA', () => {
  const cluster = useCluster('drv-ct-', ['mix-ct', 'mix-vm', 'cold-ct']);
  const { cli, testbedDir } = cluster;

  test('a container and a VM talk across hosts; a container moves cold; an HA container restarts after power-off', { timeout: 1_200_000 }, async () => {
    const { drover } = cluster;
    const up = await cli(['testbed', 'up', '--hosts', '2', '--storage', 'shared', '--cpu-overcommit', '4', '--dir', testbedDir], 240_000);
    assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
    assert.equal((await cli(['network', 'create', NETWORK, '--subnet', '10.63.0.0/24'])).code, 0);

    const created = await cli(['vm', 'create', 'mix-ct', '--type', 'container', '--image', 'tiny-ct', '--host', 'host1', '--pool', 'shared', '--network', NETWORK, '--ha', '--start', '--wait', '-o', 'json'], 300_000);
    assert.equal(created.code, 0, `${created.stdout}\n${created.stderr}`);
    const vmCreated = await cli(['vm', 'create', 'mix-vm', '--image', 'tiny', '--host', 'host2', '--memory', '192', '--network', NETWORK, '--start', '--wait', '-o', 'json'], 600_000);
    assert.equal(vmCreated.code, 0, `${vmCreated.stdout}\n${vmCreated.stderr}`);
    const list = JSON.parse((await cli(['vm', 'list', '-o', 'json'])).stdout) as VmWire[];
    assert.deepEqual(list.filter((v) => v.name.startsWith('mix-')).map((v) => [v.name, v.type]).sort(), [['mix-ct', 'container'], ['mix-vm', 'vm']]);
    const table = (await cli(['vm', 'list'])).stdout;
    assert.match(table, /TYPE/);
    const ctAddress = networkNic(await cluster.vm('mix-ct')).address;
    const vmAddress = networkNic(await cluster.vm('mix-vm')).address;
    assert.ok(ctAddress && vmAddress);
    await shUntilOk(drover, 'mix-ct', `ping -c 1 -W 2 ${vmAddress}`, 'the container reaches the VM', 60_000);
    await shUntilOk(drover, 'mix-vm', `ping -c 1 -W 2 ${ctAddress}`, 'the VM reaches the container', 60_000);

    // Cold migration of a container with its disk in host1's own storage.
    const cold = await cli(['vm', 'create', 'cold-ct', '--type', 'container', '--image', 'tiny-ct', '--host', 'host1', '--network', NETWORK, '--start', '--wait', '-o', 'json'], 300_000);
    assert.equal(cold.code, 0, `${cold.stdout}\n${cold.stderr}`);
    await shOk(drover, 'cold-ct', 'echo precious > /root/data; sync');
    const before = networkNic(await cluster.vm('cold-ct'));
    const moved = await cli(['vm', 'migrate', 'cold-ct', '--to', 'host2', '-o', 'json'], 600_000);
    assert.equal(moved.code, 0, `${moved.stdout}\n${moved.stderr}`);
    const downtime = JSON.parse(moved.stdout) as { downtimeMs?: number; mode?: string };
    assert.equal(downtime.mode, 'cold', moved.stdout);
    assert.ok(typeof downtime.downtimeMs === 'number' && downtime.downtimeMs > 0, moved.stdout);
    console.log(`cold migration downtime ${downtime.downtimeMs} ms`);
    const after = await cluster.vm('cold-ct');
    assert.deepEqual([after.host, after.state, networkNic(after).address, networkNic(after).mac], ['host2', 'running', before.address, before.mac]);
    assert.equal((await drover.api('POST', '/api/v1/vms/cold-ct/wait-ready', { timeoutMs: 120_000 })).status, 200);
    assert.equal((await shOk(drover, 'cold-ct', 'cat /root/data')).trim(), 'precious');
    await shUntilOk(drover, 'mix-vm', `ping -c 1 -W 2 ${before.address}`, 'the VM reaches the moved container', 60_000);
    const history = (await drover.api<{ placements: Array<{ host: string }> }>('GET', '/api/v1/vms/cold-ct/history')).body.placements;
    assert.deepEqual(history.map((p) => p.host).slice(0, 2), ['host2', 'host1'], 'newest first: host2 after host1');

    // HA: host1 loses power; the HA container comes back on host2 with its files.
    await shOk(drover, 'mix-ct', 'echo before-failure > /root/ha; sync');
    const fault = await cli(['testbed', 'fault', 'host1', 'power-off', '--dir', testbedDir]);
    assert.equal(fault.code, 0, fault.stderr);
    assert.ok(
      await until(async () => {
        const ct = await cluster.vm('mix-ct');
        return ct.host === 'host2' && ct.state === 'running';
      }, 120_000),
      `restarted elsewhere: ${JSON.stringify(await cluster.vm('mix-ct'))}\n${(await cli(['ha', 'status'])).stdout}\n${(await cli(['events', '--since', '5m'])).stdout}`,
    );
    assert.equal((await drover.api('POST', '/api/v1/vms/mix-ct/wait-ready', { timeoutMs: 120_000 })).status, 200);
    assert.equal((await shOk(drover, 'mix-ct', 'cat /root/ha')).trim(), 'before-failure');
    assert.equal((await sh(drover, 'mix-ct', 'hostname')).stdout.trim(), 'mix-ct');
    assert.equal((await cli(['testbed', 'fault', 'host1', 'power-on', '--dir', testbedDir])).code, 0);
  });
});
