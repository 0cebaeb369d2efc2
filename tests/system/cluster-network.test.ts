/**
 * A virtual network that follows the VM, on a 3-host testbed: VMs on two hosts reach each other over
 * the overlay (bridge + VXLAN per host), a TCP connection between them is opened, the server VM is
 * live-migrated to the third host, and it keeps its MAC, its IP and that same connection.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import type { VmWire } from '../../src/controller/vms/schema.js';
import { run } from '../../src/shared/exec.js';
import { overlayVxlanName } from '../../src/network/overlay.js';
import { networkNic, useCluster } from '../helpers/cluster.js';
import { sh, shUntilOk, type ExecResult } from '../helpers/vm.js';

const NETWORK = 'overlay';
const SUBNET = '10.61.0.0/24';
const ADDRESS_A = '10.61.0.10';
const PORT = 5000;

describe('cluster network: a VM keeps its address and a TCP connection across a live migration', () => {
  // Registered before useCluster's own cleanup, so it runs while the controller is still up.
  after(async () => {
    for (const vm of ['net-b', 'net-a']) await cluster.drover.api('DELETE', `/api/v1/vms/${vm}?force=true`).catch(() => undefined);
    await cluster.drover.api('DELETE', `/api/v1/networks/${NETWORK}`).catch(() => undefined);
  });
  const cluster = useCluster('drv-cn-', 'net-a');
  const { cli, testbedDir } = cluster;

  const exec = (vm: string, script: string): Promise<ExecResult> => sh(cluster.drover, vm, script, 30_000);
  /** Runs `script` in `vm` until it exits 0, for up to `timeoutMs`; returns its output. */
  const eventually = (vm: string, script: string, what: string, timeoutMs?: number): Promise<string> => shUntilOk(cluster.drover, vm, script, what, timeoutMs);
  const getVm = (name: string): Promise<VmWire> => cluster.vm(name);

  test('ping across hosts, then migrate the server VM: same MAC, same IP, same TCP connection', { timeout: 900_000 }, async () => {
    const { drover } = cluster;
    const up = await cli(['testbed', 'up', '--hosts', '3', '--storage', 'shared', '--dir', testbedDir, '-o', 'json']);
    assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
    const testbedHosts = await cluster.testbedHosts();
    const hostNamed = (name: string) => {
      const found = testbedHosts.find((h) => h.name === name);
      assert.ok(found, name);
      return found;
    };

    const created = await cli(['network', 'create', NETWORK, '--subnet', SUBNET, '-o', 'json']);
    assert.equal(created.code, 0, created.stderr);
    const network = JSON.parse(created.stdout) as { vni: number; mtu: number; subnet: string };
    assert.deepEqual([network.subnet, network.mtu], [SUBNET, 1450]);
    assert.ok(network.vni >= 1);
    const again = await cli(['network', 'create', NETWORK, '--subnet', '10.62.0.0/24', '-o', 'json']);
    assert.notEqual(again.code, 0, 'a second network with the same name is refused');
    assert.match(again.stderr, /VIRTUAL_NETWORK_EXISTS/);

    // A on host1 (shared storage, so it can move), with a chosen address; B on host2 gets one assigned.
    const a = await drover.api<{ operation: { id: string } }>('POST', '/api/v1/vms', {
      name: 'net-a', image: 'tiny', host: 'host1', pool: 'shared', memoryMiB: 192, start: true, networks: [{ network: NETWORK, address: ADDRESS_A }],
    });
    assert.equal(a.status, 202, JSON.stringify(a.body));
    const b = await cli(['vm', 'create', 'net-b', '--image', 'tiny', '--host', 'host2', '--memory', '192', '--network', NETWORK, '--start', '-o', 'json'], 600_000);
    assert.equal(b.code, 0, `${b.stdout}\n${b.stderr}`);
    assert.equal((await drover.waitOp(a.body.operation.id)).state, 'succeeded');
    for (const vm of ['net-a', 'net-b']) {
      const ready = await drover.api<VmWire>('POST', `/api/v1/vms/${vm}/wait-ready`, { timeoutMs: 300_000 });
      assert.equal(ready.status, 200, JSON.stringify(ready.body));
    }
    const vmA = await getVm('net-a');
    const vmB = await getVm('net-b');
    const nicA = networkNic(vmA);
    const nicB = networkNic(vmB);
    assert.deepEqual([vmA.host, nicA.address, nicA.network], ['host1', ADDRESS_A, NETWORK]);
    assert.equal(nicB.address, '10.61.0.2', 'the lowest free address (.1 is reserved)');
    assert.equal(vmA.nics[0]?.mode, 'user', 'the default user-mode NIC stays first');

    // Both guests carry their assigned address on the NIC with their assigned MAC.
    const showA = await exec('net-a', `ip -o -4 address show; cat /sys/class/net/*/address`);
    assert.match(showA.stdout, new RegExp(`inet ${ADDRESS_A.replace(/\./g, '\\.')}/24`));
    assert.ok(showA.stdout.includes(nicA.mac), showA.stdout);
    assert.match(showA.stdout, /inet 10\.0\.2\.15\//, 'the user-mode NIC still gets its DHCP address');

    // Peers: host1 floods to host2 (the other host with a VM on the network), and the other way round.
    const vxlan = overlayVxlanName(network.vni);
    const floodList = async (host: string): Promise<string[]> => {
      const fdb = await run('bridge', ['-n', hostNamed(host).namespace, '-j', 'fdb', 'show', 'dev', vxlan]);
      return (JSON.parse(fdb.stdout) as { mac: string; dst?: string }[]).filter((e) => e.mac === '00:00:00:00:00:00').map((e) => e.dst ?? '').sort();
    };
    assert.deepEqual(await floodList('host1'), [hostNamed('host2').address]);
    assert.deepEqual(await floodList('host2'), [hostNamed('host1').address]);

    await eventually('net-b', `ping -c 2 -W 3 ${ADDRESS_A}`, 'B pings A across hosts');
    await eventually('net-a', `ping -c 2 -W 3 ${nicB.address}`, 'A pings B across hosts');
    // A full-size TCP segment needs the MTU to be right end to end: 1450 - 28 bytes of IP and ICMP headers.
    await eventually('net-b', `ping -c 1 -W 3 -s 1422 ${ADDRESS_A}`, 'a 1450-byte packet crosses the overlay');

    // One TCP connection: A listens, B connects; each side sends what is appended to its /tmp/out.
    await exec('net-a', `: > /tmp/out; : > /tmp/recv; setsid sh -c 'tail -f /tmp/out | nc -l -p ${PORT} > /tmp/recv' </dev/null >/dev/null 2>&1 &`);
    await eventually('net-a', 'pidof nc', 'the server is running on A');
    await exec('net-b', `: > /tmp/out; : > /tmp/recv; setsid sh -c 'tail -f /tmp/out | nc ${ADDRESS_A} ${PORT} > /tmp/recv' </dev/null >/dev/null 2>&1 &`);
    const ncB = (await eventually('net-b', 'pidof nc', 'the client is running on B')).trim();
    const ncA = (await exec('net-a', 'pidof nc')).stdout.trim();
    await exec('net-b', 'echo before-from-b >> /tmp/out');
    await eventually('net-a', 'grep -q before-from-b /tmp/recv', 'B → A before the migration');
    await exec('net-a', 'echo before-from-a >> /tmp/out');
    await eventually('net-b', 'grep -q before-from-a /tmp/recv', 'A → B before the migration');

    const migrated = await cli(['vm', 'migrate', 'net-a', '--to', 'host3', '-o', 'json'], 600_000);
    assert.equal(migrated.code, 0, `${migrated.stdout}\n${migrated.stderr}`);
    const outcome = JSON.parse(migrated.stdout) as { from: string; to: string; downtimeMs: number; totalTimeMs: number };
    console.log(`migration with an open TCP connection: downtime ${outcome.downtimeMs} ms, total ${outcome.totalTimeMs} ms`);
    assert.deepEqual([outcome.from, outcome.to], ['host1', 'host3']);

    const moved = await getVm('net-a');
    assert.equal(moved.host, 'host3');
    assert.deepEqual(networkNic(moved), nicA, 'MAC and IP are unchanged');
    const showMoved = await exec('net-a', `ip -o -4 address show; cat /sys/class/net/*/address`);
    assert.match(showMoved.stdout, new RegExp(`inet ${ADDRESS_A.replace(/\./g, '\\.')}/24`), 'the guest kept its address');
    assert.ok(showMoved.stdout.includes(nicA.mac));

    // The same connection, both ways: the nc processes are the ones from before, and new data passes.
    const sentAt = Date.now();
    await exec('net-b', 'echo after-from-b >> /tmp/out');
    await eventually('net-a', 'grep -q after-from-b /tmp/recv', 'B → A after the migration', 120_000);
    console.log(`first marker after the migration arrived within ${Date.now() - sentAt} ms`);
    await exec('net-a', 'echo after-from-a >> /tmp/out');
    await eventually('net-b', 'grep -q after-from-a /tmp/recv', 'A → B after the migration', 120_000);
    assert.equal((await exec('net-a', 'pidof nc')).stdout.trim(), ncA, 'the server on A is the same process');
    assert.equal((await exec('net-b', 'pidof nc')).stdout.trim(), ncB, 'the client on B is the same process');
    assert.equal((await exec('net-a', 'cat /tmp/recv')).stdout, 'before-from-b\nafter-from-b\n', 'nothing lost, nothing repeated');

    // Peers follow: host3 now floods to host2, and host2 to host3 (host1 has no VM on the network left).
    assert.deepEqual(await floodList('host3'), [hostNamed('host2').address]);
    assert.deepEqual(await floodList('host2'), [hostNamed('host3').address]);

    // A reboot from inside the guest loses the address it was given; its host sets it again once the guest agent is back.
    const uptimeBefore = Number((await exec('net-a', 'cut -d" " -f1 /proc/uptime')).stdout.trim());
    await exec('net-a', "setsid sh -c 'sleep 1; reboot -f' </dev/null >/dev/null 2>&1 &");
    await delay(5_000);
    const back = await drover.api<VmWire>('POST', '/api/v1/vms/net-a/wait-ready', { timeoutMs: 300_000 });
    assert.equal(back.status, 200, JSON.stringify(back.body));
    assert.ok(Number((await exec('net-a', 'cut -d" " -f1 /proc/uptime')).stdout.trim()) < uptimeBefore, 'the guest really rebooted');
    const showRebooted = await exec('net-a', 'ip -o -4 address show');
    assert.match(showRebooted.stdout, new RegExp(`inet ${ADDRESS_A.replace(/\./g, '\\.')}/24`), 'the address is back after the reboot');
    await eventually('net-b', `ping -c 2 -W 3 ${ADDRESS_A}`, 'B pings A after its reboot');

    const inUse = await drover.api<{ code: string }>('DELETE', `/api/v1/networks/${NETWORK}`);
    assert.deepEqual([inUse.status, inUse.body.code], [409, 'VIRTUAL_NETWORK_IN_USE']);
    for (const vm of ['net-a', 'net-b']) {
      const deleted = await drover.api<{ operation: { id: string } }>('DELETE', `/api/v1/vms/${vm}?force=true`);
      assert.equal((await drover.waitOp(deleted.body.operation.id)).state, 'succeeded');
    }
    const removed = await cli(['network', 'delete', NETWORK, '-o', 'json']);
    assert.equal(removed.code, 0, removed.stderr);
    for (const host of testbedHosts) {
      const link = await run('ip', ['-n', host.namespace, 'link', 'show', 'dev', vxlan], { allowFailure: true });
      assert.notEqual(link.code, 0, `${host.name} dropped ${vxlan}`);
    }
  });
});
