/**
 * Overlays on the real kernel, without QEMU: two "hosts" (namespaces joined by a veth underlay) each get
 * a network's bridge and VXLAN device, and a "guest" namespace on each bridge pings the other across it.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, test } from 'node:test';
import { run } from '../shared/exec.js';
import { isDroverError } from '../shared/errors.js';
import { ensureOverlay, overlayBridgeName, overlayPeers, overlayVxlanName, removeOverlay } from './overlay.js';

const suffix = crypto.randomBytes(3).toString('hex');
const ns = { hostA: `drvov-${suffix}-ha`, hostB: `drvov-${suffix}-hb`, guestA: `drvov-${suffix}-ga`, guestB: `drvov-${suffix}-gb` };
const VNI = 4242;
const created: string[] = [];

after(async () => {
  // Interfaces go with their namespaces.
  for (const name of created.reverse()) await run('ip', ['netns', 'delete', name], { allowFailure: true });
});

async function sh(args: string[]): Promise<string> {
  return (await run('ip', args, { timeoutMs: 15_000 })).stdout;
}

for (const name of Object.values(ns)) {
  await sh(['netns', 'add', name]);
  created.push(name);
  await sh(['-n', name, 'link', 'set', 'lo', 'up']);
}
// Underlay: hostA eth0 10.98.0.1 <-> hostB eth0 10.98.0.2.
await sh(['-n', ns.hostA, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.hostB]);
await sh(['-n', ns.hostA, 'address', 'add', '10.98.0.1/24', 'dev', 'eth0']);
await sh(['-n', ns.hostB, 'address', 'add', '10.98.0.2/24', 'dev', 'eth0']);
for (const host of [ns.hostA, ns.hostB]) await sh(['-n', host, 'link', 'set', 'eth0', 'up']);

/** A guest stand-in: a veth with `address` in `guest`, its peer called `port` in `host` (not yet on a bridge). */
async function guest(host: string, guestNs: string, port: string, address: string): Promise<void> {
  await sh(['-n', host, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth1', 'netns', guestNs]);
  await sh(['-n', guestNs, 'address', 'add', address, 'dev', 'eth1']);
  await sh(['-n', guestNs, 'link', 'set', 'eth1', 'mtu', '1450', 'up']);
  await sh(['-n', host, 'link', 'set', port, 'mtu', '1450', 'master', overlayBridgeName(VNI), 'up']);
}

test('bad specs are refused before anything is made', async () => {
  const base = { vni: VNI, mtu: 1450, localAddress: '10.98.0.1', peers: ['10.98.0.2'] };
  const refused = (code: string) => (err: unknown) => isDroverError(err) && err.code === code;
  await assert.rejects(ensureOverlay({ ...base, vni: 0 }, { netns: ns.hostA }), refused('INVALID_ARGUMENT'));
  await assert.rejects(ensureOverlay({ ...base, peers: ['not-an-address'] }, { netns: ns.hostA }), refused('INVALID_ARGUMENT'));
  await assert.rejects(ensureOverlay({ ...base, mtu: 1500 }, { netns: ns.hostA }), refused('INVALID_ARGUMENT'), 'no room for VXLAN in a 1500 underlay');
  await assert.rejects(ensureOverlay({ ...base, localAddress: '10.98.0.77' }, { netns: ns.hostA }), refused('NETWORK_ERROR'), 'no interface has it');
  assert.equal((await run('ip', ['-n', ns.hostA, 'link', 'show', overlayBridgeName(VNI)], { allowFailure: true })).code, 1);
});

test('two hosts carry one network: guests ping across, full-size frames pass, peers follow the list', async () => {
  await ensureOverlay({ vni: VNI, mtu: 1450, localAddress: '10.98.0.1', peers: ['10.98.0.2'] }, { netns: ns.hostA });
  await ensureOverlay({ vni: VNI, mtu: 1450, localAddress: '10.98.0.2', peers: ['10.98.0.1', '10.98.0.2'] }, { netns: ns.hostB });
  // Idempotent: pushing the same spec again changes nothing.
  await ensureOverlay({ vni: VNI, mtu: 1450, localAddress: '10.98.0.1', peers: ['10.98.0.2'] }, { netns: ns.hostA });
  assert.deepEqual(await overlayPeers(VNI, { netns: ns.hostA }), ['10.98.0.2']);
  assert.deepEqual(await overlayPeers(VNI, { netns: ns.hostB }), ['10.98.0.1'], 'a host never floods to itself');
  const vxlan = JSON.parse(await sh(['-n', ns.hostA, '-j', '-d', 'link', 'show', overlayVxlanName(VNI)])) as { mtu: number; master: string; linkinfo: { info_data: { id: number; port: number; local: string } } }[];
  assert.deepEqual([vxlan[0]?.mtu, vxlan[0]?.master, vxlan[0]?.linkinfo.info_data.id, vxlan[0]?.linkinfo.info_data.port, vxlan[0]?.linkinfo.info_data.local], [1450, overlayBridgeName(VNI), VNI, 4789, '10.98.0.1']);

  await guest(ns.hostA, ns.guestA, 'porta', '10.97.0.2/24');
  await guest(ns.hostB, ns.guestB, 'portb', '10.97.0.3/24');
  await run('ip', ['netns', 'exec', ns.guestA, '/bin/busybox', 'ping', '-c', '2', '-W', '3', '10.97.0.3'], { timeoutMs: 20_000 });
  // 1450-byte IP packets (1422 of ICMP payload) fill the overlay MTU; the guests' MTU keeps them whole.
  await run('ip', ['netns', 'exec', ns.guestB, '/bin/busybox', 'ping', '-c', '1', '-W', '3', '-s', '1422', '10.97.0.2'], { timeoutMs: 20_000 });

  // A peer that leaves is dropped, one that joins is added.
  await ensureOverlay({ vni: VNI, mtu: 1450, localAddress: '10.98.0.1', peers: ['10.98.0.9'] }, { netns: ns.hostA });
  assert.deepEqual(await overlayPeers(VNI, { netns: ns.hostA }), ['10.98.0.9']);

  await removeOverlay(VNI, { netns: ns.hostA });
  assert.deepEqual(await overlayPeers(VNI, { netns: ns.hostA }), []);
  assert.equal((await run('ip', ['-n', ns.hostA, 'link', 'show', overlayBridgeName(VNI)], { allowFailure: true })).code, 1);
  await removeOverlay(VNI, { netns: ns.hostA });
});
