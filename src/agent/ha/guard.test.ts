/**
 * The agent's HA guard against a stand-in controller (a loopback HTTP server) and a stand-in
 * driver that records kills: lease renewals, the generation checks of never-twice, stale
 * instances, and the self-fence once lease and storage heartbeat have both lapsed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { isDroverError } from '../../shared/errors.js';
import type { Driver } from '../../drivers/types.js';
import { GuestDrivers } from '../../drivers/registry.js';
import { VmRecords, type VmRecord } from '../../vms/records.js';
import { leaseCredential, type LeaseAnswer } from '../../controller/ha/lease-schema.js';
import { closedPort, silentUrl } from '../../shared/network-test-support.js';
import { NoWatchdog } from '../watchdog.js';
import { agentTimings, HostHaGuard } from './guard.js';
import { claimGeneration, readGeneration, readSlots } from './shared-records.js';

const TOKEN = 'drva_guard-test-token-0123456789';

interface World {
  guard: HostHaGuard;
  records: VmRecords;
  shared: string;
  running: Set<string>;
  killed: string[];
  /** What the stand-in controller answers; set `accept` false to refuse renewals. */
  controller: { accept: boolean; haVms: LeaseAnswer['haVms']; renewals: number; credentials: string[]; renewedAt: number[]; url: string };
  close(): Promise<void>;
}

const timings = { leaseIntervalMs: 100, leaseExpiryMs: 600, storageHeartbeatIntervalMs: 100, storageHeartbeatExpiryMs: 600, selfFenceMs: 600 };

/** The guard against the stand-in controller; `controllerUrl` makes the URL list the guard is given from the stand-in's URL. */
async function world(t: { after: (fn: () => Promise<void>) => void }, controllerUrl: (standIn: string) => string = (url) => url): Promise<World> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drv-guard-'));
  const shared = path.join(dir, 'shared');
  fs.mkdirSync(shared);
  const records = new VmRecords(path.join(dir, 'vms'));
  const running = new Set<string>();
  const killed: string[] = [];
  const controller = { accept: true, haVms: [] as LeaseAnswer['haVms'], renewals: 0, credentials: [] as string[], renewedAt: [] as number[], url: '' };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      controller.credentials.push(req.headers.authorization ?? '');
      if (!controller.accept) return void res.writeHead(503).end();
      controller.renewals += 1;
      controller.renewedAt.push(Date.now());
      const answer: LeaseAnswer = { acceptedAt: new Date().toISOString(), haVms: controller.haVms, timings };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  controller.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const driver = {
    status: (id: string) => ({ id, state: running.has(id) ? 'running' : 'stopped', guestReady: false }),
    kill: async (id: string) => {
      killed.push(id);
      running.delete(id);
      return { id, state: 'stopped', guestReady: false };
    },
    forget: () => undefined,
    pingGuest: async () => false,
    guestType: 'vm',
  } as unknown as Driver;
  const guard = new HostHaGuard({
    hostName: 'alpha',
    controllerUrl: controllerUrl(controller.url),
    agentToken: TOKEN,
    dataDir: dir,
    sharedStorageDir: shared,
    records,
    drivers: new GuestDrivers([driver]),
    watchdog: new NoWatchdog(),
  });
  const close = async () => {
    guard.stop();
    await new Promise((resolve) => server.close(resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  t.after(close);
  return { guard, records, shared, running, killed, controller, close };
}

/** Defines VM `name` with its disks in the shared pool, as HostVmService.create does. */
function define(w: World, name: string, extra: Partial<VmRecord> = {}): VmRecord {
  const id = `id-${name}`;
  const storageDir = path.join(w.shared, id);
  fs.mkdirSync(storageDir, { recursive: true });
  fs.mkdirSync(w.records.vmDir(name), { recursive: true });
  const record: VmRecord = { id, name, cpus: 1, memoryMiB: 64, devices: 'virtio', disks: [{ name: 'root', file: 'root.qcow2', sizeBytes: 1 }], nics: [], storageDir, createdAt: new Date().toISOString(), ...extra };
  w.records.write(record);
  return record;
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await wait(20);
  }
  return true;
}

test('no start at a generation before the first renewal; after it, a start claims its generation and an older one is refused', async (t) => {
  const w = await world(t);
  const record = define(w, 'db');
  assert.throws(() => w.guard.beforeStart(record, 1), (err) => isDroverError(err, 'HA_LEASE_LOST'));
  await w.guard.start();
  assert.ok(await until(() => !w.guard.leaseLapsed(), 2_000));
  assert.equal(w.controller.credentials[0], `Bearer ${leaseCredential(TOKEN)}`, 'a derived credential, never the agent token');
  const started = w.guard.beforeStart(record, 3);
  assert.equal(started.haGeneration, 3);
  assert.deepEqual(readGeneration(record.storageDir ?? '')?.generation, 3);
  assert.throws(() => w.guard.beforeStart(record, 2), (err) => isDroverError(err, 'HA_STALE_GENERATION'));
  assert.doesNotThrow(() => w.guard.beforeStart(record, 3), 'the same generation again is the same start');
  // A VM once started under HA and started without a generation keeps its own, and is refused once superseded.
  claimGeneration(record.storageDir ?? '', 4, 'beta');
  assert.throws(() => w.guard.beforeStart(started, undefined), (err) => isDroverError(err, 'HA_STALE_GENERATION'));
  assert.throws(() => w.guard.beforeResume(started), (err) => isDroverError(err, 'HA_STALE_GENERATION'));
});

test('a running instance whose generation another host claimed since is killed, and its stale definition forgotten', async (t) => {
  const w = await world(t);
  const record = define(w, 'web', { haGeneration: 1 });
  claimGeneration(record.storageDir ?? '', 1, 'alpha');
  w.running.add(record.id);
  await w.guard.start();
  await wait(300);
  assert.deepEqual(w.killed, [], 'its own generation runs on');
  claimGeneration(record.storageDir ?? '', 2, 'beta');
  assert.ok(await until(() => w.killed.includes(record.id), 2_000), 'the stale instance is killed');
  assert.ok(await until(() => w.records.read('web') === undefined, 2_000), 'and forgotten here; its disks stay');
  assert.ok(fs.existsSync(record.storageDir ?? ''));
});

test('lease lost: power-off VMs are stopped at once, keep-running ones only when the storage heartbeat is lost too (self-fence)', async (t) => {
  const w = await world(t);
  const keep = define(w, 'keep', { haGeneration: 1 });
  const off = define(w, 'off', { haGeneration: 1 });
  const plain = define(w, 'plain');
  for (const r of [keep, off, plain]) {
    w.running.add(r.id);
    if (r.haGeneration) claimGeneration(r.storageDir ?? '', 1, 'alpha');
  }
  w.controller.haVms = [
    { name: 'keep', isolation: 'keep-running', monitoring: false, generation: 1 },
    { name: 'off', isolation: 'power-off', monitoring: false, generation: 1 },
  ];
  await w.guard.start();
  assert.ok(await until(() => w.controller.renewals > 1, 2_000));
  assert.ok(readSlots(w.shared).some((s) => s.host === 'alpha' && s.vms.length === 2), 'the heartbeat slot lists the HA guests');
  w.controller.accept = false;
  assert.ok(await until(() => w.killed.includes(off.id), 3_000), 'power-off isolation stops its VM');
  await wait(700);
  assert.ok(!w.killed.includes(keep.id), 'keep-running stays while the storage heartbeat is written');
  assert.ok(readSlots(w.shared).find((s) => s.host === 'alpha')?.leaseLost, 'and the slot says the lease is lost');
  // Storage goes too: the slot can no longer be written.
  fs.rmSync(path.join(w.shared, '.drover-ha'), { recursive: true, force: true });
  fs.writeFileSync(path.join(w.shared, '.drover-ha'), 'not a directory');
  assert.ok(await until(() => w.killed.includes(keep.id), 3_000), 'self-fence: every HA guest is killed');
  assert.ok(!w.killed.includes(plain.id), 'a VM without HA is left alone');
});

test('renewals move on to the second controller URL when the first refuses connections, and stay there', async (t) => {
  const refused = `http://127.0.0.1:${await closedPort()}`;
  const w = await world(t, (url) => `${refused},${url}`);
  await w.guard.start();
  assert.ok(await until(() => w.controller.renewals >= 2, 3_000), 'renewals reach the second URL');
  // Held by them: asked at one instant, a 600 ms test lease can look lapsed when the machine stalls the guard that long.
  assert.ok(await until(() => !w.guard.leaseLapsed(), 2_000), 'the lease is held through the second URL');
  assert.equal(w.guard.controllerUrl, w.controller.url, 'the URL that took the renewal is tried first from then on');
});

test('a first controller URL that never connects does not make a renewal miss its interval', async (t) => {
  const silent = await silentUrl(t);
  const w = await world(t, (url) => `${silent},${url}`);
  const startedAt = Date.now();
  await w.guard.start();
  assert.ok(await until(() => w.controller.renewals >= 3, 4_000), 'renewals reach the second URL');
  const interval = agentTimings().leaseIntervalMs;
  assert.ok((w.controller.renewedAt[0] ?? Infinity) - startedAt < interval, `the first renewal landed in its interval (${(w.controller.renewedAt[0] ?? Infinity) - startedAt} ms after the start)`);
  for (let i = 1; i < w.controller.renewedAt.length; i++) {
    const gap = (w.controller.renewedAt[i] ?? 0) - (w.controller.renewedAt[i - 1] ?? 0);
    assert.ok(gap < interval * 1.5, `renewal ${i} came ${gap} ms after the one before`);
  }
  assert.equal(w.guard.controllerUrl, w.controller.url);
});
