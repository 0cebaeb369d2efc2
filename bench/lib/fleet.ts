/**
 * A simulated fleet for the controller benchmarks (api, cli, web): hosts with no agent behind them and VMs in
 * the states a busy installation shows, written straight into the store. Nothing here talks to a host.
 */
import { randomUUID } from 'node:crypto';
import type { HostRecord, HostResources, VmRecord, VmState } from '../../src/controller/store/records.js';
import { sampleHost, sampleVm } from '../../src/controller/store/fixtures.js';
import type { Store } from '../../src/controller/store/store.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const DAY_MS = 24 * 60 * 60 * 1000;

/** How many VMs of every 100 are in each state: mostly running, some stopped, a few in transition or trouble. */
const STATE_MIX: ReadonlyArray<readonly [VmState, number]> = [
  ['running', 72],
  ['stopped', 19],
  ['paused', 3],
  ['crashed', 2],
  ['starting', 1],
  ['stopping', 1],
  ['creating', 1],
  ['error', 1],
];
const IMAGES = ['debian-12', 'ubuntu-24.04', 'alpine-3.20', 'tiny'] as const;
const CPUS = [1, 2, 2, 4, 4, 8] as const;
const MEMORY_MiB = [512, 1024, 2048, 4096, 8192, 16384] as const;

/** The records of a simulated fleet. */
export interface SimulatedFleet {
  hosts: HostRecord[];
  vms: VmRecord[];
}

/** `hostCount` hosts named simulated-host-NN and `vmCount` VMs named simulated-vm-NNNN, placed round-robin. */
export function simulatedFleet(hostCount: number, vmCount: number, at = new Date()): SimulatedFleet {
  const hosts = Array.from({ length: hostCount }, (_, index) => simulatedHost(index, hostCount, at));
  const vms = Array.from({ length: vmCount }, (_, index) => simulatedVm(index, hosts[index % hostCount] as HostRecord, at));
  for (const host of hosts) host.usage = usageOf(vms.filter((vm) => vm.hostId === host.id));
  return { hosts, vms };
}

/** One sentence for result notes: how many hosts and VMs are in which state. */
export function describeFleet(fleet: SimulatedFleet): string {
  const count = (values: string[]): string =>
    [...values.reduce((counts, v) => counts.set(v, (counts.get(v) ?? 0) + 1), new Map<string, number>())].map(([v, n]) => `${n} ${v}`).join(', ');
  return `${fleet.hosts.length} simulated hosts (${count(fleet.hosts.map((h) => h.state))}) and ${fleet.vms.length} VMs (${count(fleet.vms.map((vm) => vm.state))})`;
}

/** Inserts the fleet in one transaction (the store must hold no records with these names). */
export async function seedFleet(store: Store, fleet: SimulatedFleet): Promise<void> {
  await store.transaction(async (tx) => {
    for (const host of fleet.hosts) await tx.hosts.insert(host);
    for (const vm of fleet.vms) await tx.vms.insert(vm);
  });
}

/** The last two hosts are not plain "ready and healthy": one is in maintenance, one has gone offline. */
function simulatedHost(index: number, count: number, at: Date): HostRecord {
  const number = index + 1;
  const offline = number === count;
  const maintenance = number === count - 1;
  const created = iso(at, -(120 - index) * DAY_MS);
  // On top of the sample record, so that fields added to HostRecord later get their sample values here too.
  return sampleHost({
    id: randomUUID(),
    name: `simulated-host-${pad(number, 2)}`,
    address: `10.20.${Math.floor(number / 250)}.${(number % 250) + 1}:7701`,
    version: '0.1.0',
    accelerator: 'kvm',
    capacity: { cpus: 64, memoryBytes: 256 * GiB, diskBytes: 4096 * GiB },
    usage: { cpus: 0, memoryBytes: 0, diskBytes: 0 },
    health: offline ? 'unreachable' : 'healthy',
    lastHeartbeat: iso(at, offline ? -15 * 60_000 : -((index * 997) % 5000)),
    state: offline ? 'offline' : maintenance ? 'maintenance' : 'ready',
    credential: null,
    createdAt: created,
    updatedAt: iso(at, -((index * 997) % 5000)),
  });
}

function simulatedVm(index: number, host: HostRecord, at: Date): VmRecord {
  const number = index + 1;
  const state = stateFor(index);
  const live = state === 'running' || state === 'paused' || state === 'stopping';
  // Spread over the last 90 days (created) and 30 days (started), in steps of a prime so neighbours differ.
  const created = iso(at, -DAY_MS - ((index * 7919 * 60_000) % (90 * DAY_MS)));
  const startedAt = iso(at, -((index * 104_729 * 1000) % (30 * DAY_MS)));
  const rootGiB = 10 + (index % 8) * 10;
  const disks: VmRecord['disks'] = [{ name: 'root', sizeBytes: rootGiB * GiB, format: 'qcow2', backingImageId: null }];
  if (index % 3 === 0) disks.push({ name: 'data', sizeBytes: 100 * GiB, format: 'qcow2', backingImageId: null });
  const nics: VmRecord['nics'] = [{ name: 'eth0', network: index % 4 === 0 ? 'br0' : 'user', macAddress: mac(index, 0) }];
  if (index % 5 === 0) nics.push({ name: 'eth1', network: 'br1', macAddress: mac(index, 1) });
  const snapshots = index % 7 === 0 ? Array.from({ length: 1 + (index % 3) }, (_, s) => ({ name: `before-upgrade-${s + 1}`, createdAt: iso(at, -(s + 1) * DAY_MS) })) : [];
  return sampleVm({
    id: randomUUID(),
    name: `simulated-vm-${pad(number, 4)}`,
    hostId: host.id,
    state,
    desiredState: live || state === 'starting' || state === 'crashed' ? 'running' : 'stopped',
    spec: {
      cpus: CPUS[index % CPUS.length] as number,
      memoryBytes: (MEMORY_MiB[(index * 5) % MEMORY_MiB.length] as number) * MiB,
      imageId: IMAGES[index % IMAGES.length] as string,
      devices: index % 20 === 0 ? 'emulated' : 'virtio',
    },
    disks,
    nics,
    snapshots,
    runtime: {
      ...(state === 'creating' ? {} : { hostVmId: `vm-${pad(number, 6)}` }),
      ...(live ? { pid: 10_000 + index, startedAt, guestReady: state === 'running' } : {}),
      ...(state === 'crashed' ? { crashReason: 'QEMU exited: killed by signal 9 (out of memory on the host)' } : {}),
    },
    createdAt: created,
    updatedAt: live ? startedAt : created,
  });
}

/** The state for the index-th VM, following STATE_MIX in every block of 100 (the first 72 of each run). */
export function stateFor(index: number): VmState {
  let slot = index % 100;
  for (const [state, count] of STATE_MIX) {
    if (slot < count) return state;
    slot -= count;
  }
  return 'running';
}

/** What the host's running and paused VMs use: their CPUs and memory, and every VM's disks. */
function usageOf(vms: VmRecord[]): HostResources {
  const active = vms.filter((vm) => vm.state === 'running' || vm.state === 'paused');
  return {
    cpus: active.reduce((sum, vm) => sum + vm.spec.cpus, 0),
    memoryBytes: active.reduce((sum, vm) => sum + vm.spec.memoryBytes, 0),
    diskBytes: vms.reduce((sum, vm) => sum + vm.disks.reduce((s, d) => s + d.sizeBytes, 0), 0),
  };
}

function mac(index: number, nic: number): string {
  const value = index * 2 + nic;
  return `52:54:00:${hex(value >> 16)}:${hex(value >> 8)}:${hex(value)}`;
}

function hex(value: number): string {
  return (value & 0xff).toString(16).padStart(2, '0');
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

function iso(at: Date, offsetMs: number): string {
  return new Date(at.getTime() + offsetMs).toISOString();
}
