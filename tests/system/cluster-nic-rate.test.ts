/**
 * NIC rate limits end to end through real guests, on a 2-host testbed: two VMs on one virtual network, one
 * created with a 4 Mbit/s limit (TCG guests on this shared machine push only about 10 Mbit/s through busybox
 * nc, so a higher cap would leave too little room to tell limited from unlimited). A TCP stream between the guests (busybox dd | nc) is timed in the receiving
 * guest, both directions; the limit is removed live (`vm set --rate none`) and the same stream must go clearly
 * faster; set again live, it holds after a live migration (the destination's tap carries it) and after a restart.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { VmWire } from '../../src/controller/vms/schema.js';
import { run } from '../../src/shared/exec.js';
import { overlayBridgeName } from '../../src/network/overlay.js';
import { networkNic, useCluster } from '../helpers/cluster.js';
import { sh, shUntilOk, type ExecResult } from '../helpers/vm.js';

const NETWORK = 'ratelimit';
const SUBNET = '10.63.0.0/24';
const ADDRESS_A = '10.63.0.10';
const ADDRESS_B = '10.63.0.11';
const LIMIT_MBIT = 4;
/** 2 MiB: about 4 s at the limit, short enough for TCG guests, long enough that the 16 KiB burst and slow start do not count. */
const TRANSFER_BYTES = 2 * 1024 * 1024;
const BLOCK_BYTES = 64 * 1024;

describe('cluster NIC rate limit: a TCP stream between two guests runs at the limit, and faster without it', () => {
  after(async () => {
    for (const vm of ['rate-a', 'rate-b']) await cluster.drover.api('DELETE', `/api/v1/vms/${vm}?force=true`).catch(() => undefined);
    await cluster.drover.api('DELETE', `/api/v1/networks/${NETWORK}`).catch(() => undefined);
  });
  const cluster = useCluster('drv-rate-', ['rate-a', 'rate-b']);
  const { cli, testbedDir } = cluster;

  const exec = (vm: string, script: string, timeoutMs = 30_000): Promise<ExecResult> => sh(cluster.drover, vm, script, timeoutMs);
  const eventually = (vm: string, script: string, what: string, timeoutMs?: number): Promise<string> => shUntilOk(cluster.drover, vm, script, what, timeoutMs);
  /** The NIC on the virtual network of the VM named `name`. */
  const vmNic = async (name: string): Promise<VmWire['nics'][number]> => networkNic(await cluster.vm(name));

  let port = 5100;
  /**
   * Sends TRANSFER_BYTES of zeros from `from` to `to` over one TCP connection and returns the rate in Mbit/s,
   * as the receiving guest times it: from its first byte to the end of the stream (its /proc/uptime, 10 ms steps).
   */
  const measure = async (from: string, to: string, toAddress: string): Promise<number> => {
    port += 1;
    // The receiver's stdin stays open (sleep), else busybox nc half-closes at once and the sender stops early.
    const receiver =
      `rm -f /tmp/rate.out; setsid sh -c 'sleep 300 | nc -l -p ${port} | { dd bs=1 count=1 of=/dev/null 2>/dev/null; ` +
      `a=$(cut -d" " -f1 /proc/uptime); n=$(wc -c); b=$(cut -d" " -f1 /proc/uptime); echo "$((n + 1)) $a $b" > /tmp/rate.tmp; mv /tmp/rate.tmp /tmp/rate.out; }' ` +
      '</dev/null >/dev/null 2>&1 &';
    await exec(to, receiver);
    await eventually(to, `netstat -ltn | grep -q ":${port} "`, `${to} listens on ${port}`);
    const started = Date.now();
    const sent = await exec(from, `dd if=/dev/zero bs=${BLOCK_BYTES} count=${TRANSFER_BYTES / BLOCK_BYTES} 2>/dev/null | nc ${toAddress} ${port}`, 120_000);
    const wallMs = Date.now() - started;
    assert.equal(sent.exitCode, 0, JSON.stringify(sent));
    const [bytes, first, last] = (await eventually(to, 'cat /tmp/rate.out', `${to} finished receiving`)).trim().split(' ').map(Number);
    assert.equal(bytes, TRANSFER_BYTES, 'every byte arrived');
    assert.ok(first !== undefined && last !== undefined && last > first, `the transfer took measurable time: ${first} → ${last}`);
    const mbit = (TRANSFER_BYTES * 8) / (last - first) / 1e6;
    console.log(`${from} → ${to}: ${mbit.toFixed(2)} Mbit/s in the guest (${(last - first).toFixed(2)} s); ${wallMs} ms for the exec from the controller`);
    return mbit;
  };
  const assertNearLimit = (mbit: number, what: string): void => {
    assert.ok(mbit > LIMIT_MBIT * 0.75 && mbit < LIMIT_MBIT * 1.25, `${what}: ${mbit.toFixed(2)} Mbit/s is not within 25 % of ${LIMIT_MBIT} Mbit/s`);
  };

  test('create with rate=, measure both ways, remove and set it live, migrate, restart', { timeout: 1_200_000 }, async () => {
    const { drover } = cluster;
    const up = await cli(['testbed', 'up', '--hosts', '2', '--storage', 'shared', '--dir', testbedDir, '-o', 'json']);
    assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
    const namespaces = new Map((await cluster.testbedHosts()).map((h) => [h.name, h.namespace]));
    const created = await cli(['network', 'create', NETWORK, '--subnet', SUBNET, '-o', 'json']);
    assert.equal(created.code, 0, created.stderr);
    const bridge = overlayBridgeName((JSON.parse(created.stdout) as { vni: number }).vni);

    /** The tbf rate (bit/s) of every tap on the network's bridge on `host`, null for an unlimited tap. */
    const tapLimits = async (host: string): Promise<(number | null)[]> => {
      const ns = namespaces.get(host);
      assert.ok(ns, host);
      const links = JSON.parse((await run('ip', ['-n', ns, '-j', 'link', 'show', 'master', bridge])).stdout) as { ifname: string }[];
      const limits: (number | null)[] = [];
      for (const { ifname } of links.filter((l) => l.ifname.startsWith('dt'))) {
        const qdiscs = JSON.parse((await run('tc', ['-n', ns, '-j', 'qdisc', 'show', 'dev', ifname])).stdout) as { kind: string; options?: { rate?: number } }[];
        const tbf = qdiscs.find((q) => q.kind === 'tbf');
        // tc -j reports tbf rates in bytes per second.
        limits.push(tbf?.options?.rate !== undefined ? tbf.options.rate * 8 : null);
      }
      return limits.sort((x, y) => (x ?? -1) - (y ?? -1));
    };

    const badRate = await cli(['vm', 'create', 'rate-x', '--image', 'tiny', '--network', `${NETWORK},rate=10`, '-o', 'json']);
    assert.equal(badRate.code, 2, 'a rate without a unit is a usage error');
    assert.match(badRate.stderr, /unit/);

    // A (limited) on host1 in the shared pool, so it can move; B (unlimited) on host2.
    const a = await drover.api<{ operation: { id: string } }>('POST', '/api/v1/vms', {
      name: 'rate-a', image: 'tiny', host: 'host1', pool: 'shared', memoryMiB: 192, start: true, networks: [{ network: NETWORK, address: ADDRESS_A, rateLimitMbit: LIMIT_MBIT }],
    });
    assert.equal(a.status, 202, JSON.stringify(a.body));
    const b = await cli(['vm', 'create', 'rate-b', '--image', 'tiny', '--host', 'host2', '--memory', '192', '--network', `${NETWORK},ip=${ADDRESS_B}`, '--start', '-o', 'json'], 600_000);
    assert.equal(b.code, 0, `${b.stdout}\n${b.stderr}`);
    assert.equal((await drover.waitOp(a.body.operation.id)).state, 'succeeded');
    for (const vm of ['rate-a', 'rate-b']) {
      const ready = await drover.api('POST', `/api/v1/vms/${vm}/wait-ready`, { timeoutMs: 300_000 });
      assert.equal(ready.status, 200, JSON.stringify(ready.body));
    }
    assert.equal((await vmNic('rate-a')).rateLimitMbit, LIMIT_MBIT);
    assert.equal((await vmNic('rate-b')).rateLimitMbit, null);
    const shown = await cli(['vm', 'show', 'rate-a']);
    assert.match(shown.stdout, /eth1 network ratelimit 10\.63\.0\.10 \S+ rate 4 Mbit\/s/);
    assert.deepEqual(await tapLimits('host1'), [LIMIT_MBIT * 1e6], 'host1 shapes the tap of A');
    assert.deepEqual(await tapLimits('host2'), [null], 'B is not limited');
    await eventually('rate-a', `ping -c 1 -W 3 ${ADDRESS_B}`, 'A reaches B across hosts');

    const limitedOut = await measure('rate-a', 'rate-b', ADDRESS_B);
    const limitedIn = await measure('rate-b', 'rate-a', ADDRESS_A);
    assertNearLimit(limitedOut, 'A → B, guest to host through the ingress shaper');
    assertNearLimit(limitedIn, 'B → A, host to guest through the tap\'s tbf');

    // Removed live: the same stream is clearly faster, so the limit (not the guests) held it before.
    const removed = await cli(['vm', 'set', 'rate-a', '--nic', '1', '--rate', 'none', '-o', 'json']);
    assert.equal(removed.code, 0, `${removed.stdout}\n${removed.stderr}`);
    assert.equal((await vmNic('rate-a')).rateLimitMbit, null);
    assert.deepEqual(await tapLimits('host1'), [null]);
    const unlimited = await measure('rate-a', 'rate-b', ADDRESS_B);
    assert.ok(unlimited > Math.max(limitedOut, LIMIT_MBIT) * 1.5, `without the limit ${unlimited.toFixed(2)} Mbit/s, with it ${limitedOut.toFixed(2)} Mbit/s`);

    // Set again live (Proxmox units: 0.5MB/s = 4 Mbit/s), then it moves with the VM and is on the destination's tap.
    const set = await cli(['vm', 'set', 'rate-a', '--nic', 'eth1', '--rate', '0.5MB/s']);
    assert.equal(set.code, 0, `${set.stdout}\n${set.stderr}`);
    assert.match(set.stdout, /rate 4 Mbit\/s/);
    const busy = await drover.api<{ code: string }>('PATCH', '/api/v1/vms/rate-a/nics/eth0', { rateLimitMbit: 8 });
    assert.deepEqual([busy.status, busy.body.code], [409, 'NIC_NOT_RATE_LIMITABLE']);
    const migrated = await cli(['vm', 'migrate', 'rate-a', '--to', 'host2', '-o', 'json'], 600_000);
    assert.equal(migrated.code, 0, `${migrated.stdout}\n${migrated.stderr}`);
    assert.equal((await vmNic('rate-a')).rateLimitMbit, LIMIT_MBIT);
    assert.deepEqual(await tapLimits('host2'), [null, LIMIT_MBIT * 1e6], 'host2 shapes the arrived tap of A, not B\'s');
    assertNearLimit(await measure('rate-a', 'rate-b', ADDRESS_B), 'A → B after the migration');

    // A restart builds the tap again from the VM's record, limit included.
    const killed = await cli(['vm', 'kill', 'rate-a', '-o', 'json']);
    assert.equal(killed.code, 0, killed.stderr);
    assert.deepEqual(await tapLimits('host2'), [null], 'the tap went with QEMU');
    const started = await cli(['vm', 'start', 'rate-a', '-o', 'json']);
    assert.equal(started.code, 0, started.stderr);
    assert.deepEqual(await tapLimits('host2'), [null, LIMIT_MBIT * 1e6], 'the restarted VM is limited again');

    for (const vm of ['rate-a', 'rate-b']) {
      const deleted = await drover.api<{ operation: { id: string } }>('DELETE', `/api/v1/vms/${vm}?force=true`);
      assert.equal((await drover.waitOp(deleted.body.operation.id)).state, 'succeeded');
    }
    const gone = await cli(['network', 'delete', NETWORK, '-o', 'json']);
    assert.equal(gone.code, 0, gone.stderr);
  });
});
