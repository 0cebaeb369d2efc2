import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { after, test } from 'node:test';
import { run } from '../shared/exec.js';
import { isDroverError } from '../shared/errors.js';
import { bridgeExists, deleteBridge, ensureBridge } from './bridge.js';
import { applyRateLimit, burstBytes, clearRateLimit, ingressShaperName } from './rate-limit.js';
import { createTap, deleteTap, setRateLimit } from './tap.js';

// Everything lives in two namespaces this file creates under unique names, so no traffic or interface
// touches the host's own network, and the cleanup deletes exactly what was made.
const suffix = crypto.randomBytes(3).toString('hex');
const hostNs = `drvtest-${suffix}-a`;
const peerNs = `drvtest-${suffix}-b`;
const bridge = 'drvbr0';
const tap = 'drvtap0';
const vethHost = 'drvveth-a';
const vethPeer = 'drvveth-b';
const inHost = { netns: hostNs };

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function sh(cmd: string, args: string[]): Promise<string> {
  return (await run(cmd, args, { timeoutMs: 15_000 })).stdout;
}

async function addNamespace(name: string): Promise<void> {
  await sh('ip', ['netns', 'add', name]);
  cleanups.push(() => sh('ip', ['netns', 'delete', name]));
}

await addNamespace(hostNs);
await addNamespace(peerNs);
// Interfaces die with their namespace; deleting them by name first keeps the cleanup explicit.
for (const name of [tap, ingressShaperName(tap), ingressShaperName(vethHost), vethHost, bridge]) {
  cleanups.push(() => run('ip', ['-n', hostNs, 'link', 'delete', 'dev', name], { allowFailure: true }));
}

interface Link {
  ifname: string;
  flags: string[];
  master?: string;
  address: string;
  linkinfo?: { info_kind?: string; info_data?: { type?: string; persist?: boolean } };
}

async function link(name: string): Promise<Link | undefined> {
  const result = await run('ip', ['-n', hostNs, '-j', '-d', 'link', 'show', 'dev', name], { allowFailure: true });
  return result.code === 0 ? (JSON.parse(result.stdout) as Link[])[0] : undefined;
}

interface Qdisc {
  kind: string;
  root?: boolean;
  options?: { rate?: number; burst?: number };
}

async function qdiscs(dev: string): Promise<Qdisc[]> {
  return JSON.parse(await sh('tc', ['-n', hostNs, '-j', 'qdisc', 'show', 'dev', dev])) as Qdisc[];
}

/** tc reports tbf rates in bytes per second. */
function rootTbfKbit(list: Qdisc[]): number | undefined {
  const tbf = list.find((q) => q.kind === 'tbf' && q.root);
  return tbf?.options?.rate === undefined ? undefined : (tbf.options.rate * 8) / 1000;
}

function rejectsWith(code: string): (err: unknown) => boolean {
  return (err) => isDroverError(err) && err.code === code;
}

test('interface names, MACs and rates are validated before anything runs', async () => {
  for (const bad of ['', 'sixteen-chars-xx', 'has space', 'slash/y', '..', 'tab\t']) {
    await assert.rejects(createTap(bad, { bridge, ...inHost }), rejectsWith('INVALID_INTERFACE_NAME'), bad);
  }
  await assert.rejects(ensureBridge('br:0', inHost), rejectsWith('INVALID_INTERFACE_NAME'));
  await assert.rejects(createTap(tap, { bridge, mac: '01:00:5e:00:00:01', ...inHost }), rejectsWith('INVALID_ARGUMENT'));
  for (const rate of [0, -5, 1.5, Number.NaN]) {
    await assert.rejects(createTap(tap, { bridge, rateLimitKbit: rate, ...inHost }), rejectsWith('INVALID_ARGUMENT'));
  }
  await assert.rejects(ensureBridge(bridge, { address: '10.0.0.1/33', ...inHost }), rejectsWith('INVALID_ARGUMENT'));
  assert.equal(await link(tap), undefined);
});

test('ensureBridge creates an up bridge with its address, and is idempotent', async () => {
  await ensureBridge(bridge, { address: '10.77.0.1/24', ...inHost });
  await ensureBridge(bridge, { address: '10.77.0.1/24', ...inHost });
  assert.equal(await bridgeExists(bridge, inHost), true);
  const info = await link(bridge);
  assert.equal(info?.linkinfo?.info_kind, 'bridge');
  assert.ok(info?.flags.includes('UP'));
  const addresses = JSON.parse(await sh('ip', ['-n', hostNs, '-j', 'address', 'show', 'dev', bridge])) as {
    addr_info: { local: string; prefixlen: number }[];
  }[];
  const v4 = addresses[0]?.addr_info.filter((a) => a.local.startsWith('10.77.'));
  assert.deepEqual(v4?.map((a) => `${a.local}/${a.prefixlen}`), ['10.77.0.1/24'], 'the address is there exactly once');
});

test('createTap makes a persistent tap on the bridge, up, limited both ways', async () => {
  const bridgeMac = (await link(bridge))?.address;
  // A MAC lower than the bridge's: an unpinned bridge would adopt it.
  await createTap(tap, { bridge, mac: '02:00:00:00:00:01', rateLimitKbit: 8000, ...inHost });
  const info = await link(tap);
  assert.equal(info?.linkinfo?.info_kind, 'tun');
  assert.equal(info?.linkinfo?.info_data?.type, 'tap');
  assert.equal(info?.linkinfo?.info_data?.persist, true);
  assert.equal(info?.master, bridge);
  assert.ok(info?.flags.includes('UP'));
  assert.equal(info?.address, '02:00:00:00:00:01');
  assert.equal((await link(bridge))?.address, bridgeMac, 'bridge MAC stays pinned when a tap joins');

  const onTap = await qdiscs(tap);
  assert.equal(rootTbfKbit(onTap), 8000);
  assert.equal(onTap.find((q) => q.kind === 'tbf')?.options?.burst, burstBytes(8000));
  assert.ok(onTap.some((q) => q.kind === 'ingress'));
  const filters = await sh('tc', ['-n', hostNs, '-j', 'filter', 'show', 'dev', tap, 'ingress']);
  assert.match(filters, new RegExp(`"to_dev":"${ingressShaperName(tap)}"`));
  assert.equal(rootTbfKbit(await qdiscs(ingressShaperName(tap))), 8000);
  assert.ok((await link(ingressShaperName(tap)))?.flags.includes('UP'));
});

test('createTap refuses a taken name and leaves nothing behind when the bridge is missing', async () => {
  await assert.rejects(createTap(tap, { bridge, ...inHost }), rejectsWith('ALREADY_EXISTS'));
  await assert.rejects(createTap('drvtap9', { bridge: 'drvnobr', ...inHost }), rejectsWith('NOT_FOUND'));
  assert.equal(await link('drvtap9'), undefined);
});

test('setRateLimit changes the limit live and removes it', async () => {
  await setRateLimit(tap, 2000, inHost);
  assert.equal(rootTbfKbit(await qdiscs(tap)), 2000);
  assert.equal(rootTbfKbit(await qdiscs(ingressShaperName(tap))), 2000);
  await setRateLimit(tap, undefined, inHost);
  const left = await qdiscs(tap);
  assert.equal(rootTbfKbit(left), undefined);
  assert.ok(!left.some((q) => q.kind === 'ingress'));
  assert.equal(await link(ingressShaperName(tap)), undefined);
  await setRateLimit(tap, undefined, inHost);
  await setRateLimit(tap, 3000, inHost);
  assert.equal(rootTbfKbit(await qdiscs(tap)), 3000);
  await assert.rejects(setRateLimit('drvtap9', 1000, inHost), rejectsWith('NOT_FOUND'));
});

test('deleteTap removes the tap and its shaper, and is a no-op when it is gone', async () => {
  await deleteTap(tap, inHost);
  assert.equal(await link(tap), undefined);
  assert.equal(await link(ingressShaperName(tap)), undefined);
  await deleteTap(tap, inHost);
  await assert.rejects(deleteTap(bridge, inHost), rejectsWith('INVALID_ARGUMENT'), 'never deletes a non-tap');
});

test('deleteBridge removes the bridge, and is a no-op when it is gone', async () => {
  await deleteBridge(bridge, inHost);
  assert.equal(await bridgeExists(bridge, inHost), false);
  assert.equal(await link(bridge), undefined);
  await deleteBridge(bridge, inHost);
});

// --- real throughput through the limiter, between the two namespaces over a veth pair ---

const TRANSFER_BYTES = 2_000_000;
const LIMIT_KBIT = 4000;
const PORT = '5201';

// Receiver: counts bytes and times first-to-last byte, so socket buffers on the sender don't skew the rate.
const RECEIVER = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
setTimeout(() => process.exit(3), 25000).unref();
const server = net.createServer((socket) => {
  let bytes = 0, first = 0, last = 0;
  socket.on('data', (d) => { last = performance.now(); if (!first) first = last; bytes += d.length; });
  socket.on('end', () => { process.stdout.write(JSON.stringify({ bytes, ms: last - first }) + '\\n'); server.close(); });
});
server.listen(Number(port), host, () => process.stdout.write('listening\\n'));
`;

const SENDER = `
const net = require('node:net');
const [host, port, bytes] = process.argv.slice(1);
const socket = net.connect(Number(port), host, () => socket.end(Buffer.alloc(Number(bytes), 7)));
socket.on('error', (e) => { console.error(e.message); process.exit(1); });
`;

/** Sends TRANSFER_BYTES from `fromNs` to `toAddress` (in `toNs`) and returns the receiver's rate in kbit/s. */
async function measureKbit(fromNs: string, toNs: string, toAddress: string): Promise<number> {
  const receiver = spawn('ip', ['netns', 'exec', toNs, process.execPath, '-e', RECEIVER, toAddress, PORT], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    let output = '';
    const listening = new Promise<void>((resolve, reject) => {
      receiver.stdout.setEncoding('utf8').on('data', (d: string) => {
        output += d;
        if (output.includes('listening\n')) resolve();
      });
      receiver.on('exit', (code) => reject(new Error(`receiver exited ${code} before listening`)));
    });
    const done = new Promise<void>((resolve) => receiver.on('exit', () => resolve()));
    await listening;
    await run('ip', ['netns', 'exec', fromNs, process.execPath, '-e', SENDER, toAddress, PORT, String(TRANSFER_BYTES)], {
      timeoutMs: 20_000,
    });
    await done;
    const result = JSON.parse(output.split('\n')[1] ?? '') as { bytes: number; ms: number };
    assert.equal(result.bytes, TRANSFER_BYTES);
    return (result.bytes * 8) / result.ms;
  } finally {
    if (receiver.exitCode === null) receiver.kill('SIGKILL');
  }
}

test(`applyRateLimit holds a veth to ${LIMIT_KBIT} kbit/s ±15% in both directions`, { timeout: 30_000 }, async () => {
  await sh('ip', ['-n', hostNs, 'link', 'add', 'name', vethHost, 'type', 'veth', 'peer', 'name', vethPeer, 'netns', peerNs]);
  await sh('ip', ['-n', hostNs, 'address', 'add', '10.78.0.1/24', 'dev', vethHost]);
  await sh('ip', ['-n', peerNs, 'address', 'add', '10.78.0.2/24', 'dev', vethPeer]);
  await sh('ip', ['-n', hostNs, 'link', 'set', 'dev', vethHost, 'up']);
  await sh('ip', ['-n', peerNs, 'link', 'set', 'dev', vethPeer, 'up']);

  const unlimited = await measureKbit(hostNs, peerNs, '10.78.0.2');
  await applyRateLimit(vethHost, LIMIT_KBIT, inHost);
  const egress = await measureKbit(hostNs, peerNs, '10.78.0.2');
  const ingress = await measureKbit(peerNs, hostNs, '10.78.0.1');
  await clearRateLimit(vethHost, inHost);
  const cleared = await measureKbit(hostNs, peerNs, '10.78.0.2');
  const kbit = (n: number) => `${Math.round(n)} kbit/s`;
  console.log(`unlimited ${kbit(unlimited)}, egress ${kbit(egress)}, ingress ${kbit(ingress)}, cleared ${kbit(cleared)}`);

  for (const [direction, rate] of [['egress', egress], ['ingress', ingress]] as const) {
    assert.ok(Math.abs(rate - LIMIT_KBIT) <= LIMIT_KBIT * 0.15, `${direction} ${kbit(rate)} is not within 15% of ${LIMIT_KBIT}`);
  }
  assert.ok(unlimited > LIMIT_KBIT * 10, `unlimited ${kbit(unlimited)} should be far above the limit`);
  assert.ok(cleared > LIMIT_KBIT * 10, `after clearRateLimit ${kbit(cleared)} should be far above the limit`);
});
