/**
 * Hosts push their state with their lease renewals: the leader applies the reports in rounds and
 * polls only the hosts that do not push. The host here has no agent at all (its address refuses),
 * so any poll would fail and show.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { VmView } from '../../vms/schemas.js';
import { testController } from '../api/testing.js';
import { sampleHost, sampleVm } from '../store/fixtures.js';
import type { AgentHostInfo } from './agent-client.js';

const info: AgentHostInfo = {
  hostname: 'h1',
  version: '0.1.0',
  accelerator: { accelerator: 'tcg', reason: 'test', probedAt: '2025-01-01T00:00:00.000Z', durationMs: 1 },
  capacity: { cpus: 8, memoryMiB: 16384 },
  usage: { vmsRunning: 1, vmsDefined: 1, cpusAllocated: 2, memoryMiBAllocated: 1024, load1: 0.5 },
  pools: [{ name: 'local', kind: 'local' }],
  cpuModels: ['qemu64'],
};

function view(name: string, state: VmView['state'], pid: number): VmView {
  return { id: `host-${name}`, name, type: 'vm', cpus: 2, cpuModel: 'qemu64', memoryMiB: 1024, devices: 'virtio', state, guestReady: false, pid, disks: [], nics: [], createdAt: '2025-01-01T00:00:00.000Z' };
}

test('pushed reports are applied in rounds without polling the host; a host that stops pushing is polled, and found unreachable', async (t) => {
  const controller = await testController();
  t.after(() => controller.close());
  const { store, services } = controller;
  await store.hosts.insert(sampleHost({ id: 'h1', name: 'h1', address: 'http://127.0.0.1:1', credential: 'x', health: 'healthy' }));
  await store.hosts.insert(sampleHost({ id: 'h2', name: 'h2', address: 'http://127.0.0.1:1', credential: 'x', health: 'healthy' }));
  await store.vms.insert(sampleVm({ id: 'vm-web', name: 'web', hostId: 'h1', state: 'stopped', updatedAt: '2025-01-01T00:00:00.000Z' }));
  await store.vms.insert(sampleVm({ id: 'vm-db', name: 'db', hostId: 'h2', state: 'stopped', updatedAt: '2025-01-01T00:00:00.000Z' }));

  assert.equal(services.hosts.wantsReport('h1'), true, 'a host the controller has no report of is asked for one');
  services.hosts.acceptReport('h1', { ageMs: 0, host: info, vms: [view('web', 'running', 4242)], stats: [] });
  services.hosts.acceptReport('h2', { ageMs: 0, host: { ...info, hostname: 'h2' }, vms: [view('db', 'running', 4343), view('stray', 'running', 99)], stats: [] });
  assert.equal(services.hosts.wantsReport('h1'), false);
  await services.hosts.heartbeat();
  const web = await store.vms.getByName('web');
  assert.deepEqual([web?.state, web?.runtime.pid], ['running', 4242]);
  assert.equal((await store.vms.getByName('db'))?.state, 'running');
  assert.deepEqual(services.hosts.unmanagedOn('h2').map((u) => u.name), ['stray'], 'a VM no record names is reported as unmanaged');
  assert.equal(services.hosts.lastHostInfo('h1')?.usage.load1, 0.5);

  // Renewals without a report (nothing changed): rounds leave the hosts alone, never poll them.
  for (let i = 0; i < 4; i++) {
    services.hosts.noteRenewal('h1');
    services.hosts.noteRenewal('h2');
    await services.hosts.heartbeat();
  }
  assert.deepEqual((await store.hosts.list()).map((h) => h.health), ['healthy', 'healthy'], 'no poll was made: the address refuses');

  // h1 stops renewing: after the push window it is polled, and its address refuses.
  await sleep(5_100);
  services.hosts.noteRenewal('h2');
  for (let i = 0; i < 3; i++) await services.hosts.heartbeat();
  assert.equal((await store.hosts.get('h1'))?.health, 'unreachable');
  assert.equal((await store.hosts.get('h2'))?.health, 'healthy');
});

test('a report collected before an operation changed the record does not overwrite it', async (t) => {
  const controller = await testController();
  t.after(() => controller.close());
  const { store, services } = controller;
  await store.hosts.insert(sampleHost({ id: 'h1', name: 'h1', address: 'http://127.0.0.1:1', credential: 'x' }));
  await store.vms.insert(sampleVm({ id: 'vm-web', name: 'web', hostId: 'h1', state: 'stopped', updatedAt: new Date().toISOString() }));
  // Collected 10 s ago: the record (just written) is newer.
  services.hosts.acceptReport('h1', { ageMs: 10_000, host: info, vms: [view('web', 'running', 1)], stats: [] });
  await services.hosts.heartbeat();
  assert.equal((await store.vms.getByName('web'))?.state, 'stopped');
});
