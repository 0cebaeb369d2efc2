/**
 * Simulated clusters for the scheduler benchmark: in-memory host and VM records only, no agent and
 * no guest behind them. Every generator is seeded, so each run measures the same cluster.
 */
import type { ClusterView, HostView, VmView, Weight } from '../../src/scheduler/model.js';
import { cluster, GiB, host, vm } from '../../src/scheduler/testing.js';

/** A simulated host's size: 64 CPUs at 4x CPU overcommit, 256 GiB without memory overcommit. */
export const SIMULATED_HOST = { cpus: 64, memoryBytes: 256 * GiB, cpuOvercommit: 4, memoryOvercommit: 1 } as const;

/** VM sizes, (vCPUs, GiB), drawn uniformly. */
export const FLAVORS: ReadonlyArray<readonly [number, number]> = [
  [1, 2],
  [2, 4],
  [2, 8],
  [4, 8],
  [4, 16],
  [8, 32],
  [16, 64],
];

/** A seeded pseudo-random generator (mulberry32) returning numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` simulated hosts named sim-host-0001 onwards, all of SIMULATED_HOST's size. */
export function simulatedHosts(count: number, overrides: (index: number) => Partial<HostView> = () => ({})): HostView[] {
  return Array.from({ length: count }, (_, i) => {
    const id = `sim-host-${String(i + 1).padStart(4, '0')}`;
    return host(id, { ...SIMULATED_HOST, ...overrides(i) });
  });
}

/** `count` unplaced VMs of random FLAVORS. */
export function randomVms(count: number, random: () => number, overrides: (index: number) => Partial<VmView> = () => ({})): VmView[] {
  return Array.from({ length: count }, (_, i) => {
    const [cpus, memoryGiB] = FLAVORS[Math.floor(random() * FLAVORS.length)] as readonly [number, number];
    return vm(`sim-vm-${i + 1}`, { cpus, memoryBytes: memoryGiB * GiB, ...overrides(i) });
  });
}

/** The fewest hosts the VMs could fit on by total demand alone: max over CPU and memory of ceil(demand / one host's capacity). */
export function hostsLowerBound(vms: readonly VmView[]): number {
  const cpus = vms.reduce((sum, v) => sum + v.cpus, 0);
  const memory = vms.reduce((sum, v) => sum + v.memoryBytes, 0);
  return Math.max(Math.ceil(cpus / (SIMULATED_HOST.cpus * SIMULATED_HOST.cpuOvercommit)), Math.ceil(memory / (SIMULATED_HOST.memoryBytes * SIMULATED_HOST.memoryOvercommit)));
}

/**
 * Constraints on top of plain placement: 30% of hosts tagged ssd and 20% of VMs needing it, 10% of
 * hosts emulated-only and 10% of VMs emulated, four shared pools each reaching a quarter of the
 * hosts plus one reaching all, anti-affinity groups of five (5% of VMs), affinity pairs (2%).
 */
export function constrainedPlacement(hostCount: number, vmCount: number, random: () => number, weight: Weight): { view: ClusterView; vms: VmView[] } {
  const hosts = simulatedHosts(hostCount, (i) => ({ tags: i % 10 < 3 ? ['ssd'] : [], deviceModels: i % 10 === 9 ? ['emulated'] : ['virtio', 'emulated'] }));
  const quarter = (q: number) => hosts.filter((_, i) => i % 4 === q).map((h) => h.id);
  const pools = [0, 1, 2, 3].map((q) => ({ name: `san-${q}`, kind: 'shared' as const, hosts: quarter(q) }));
  const vms = randomVms(vmCount, random, (i) => {
    const roll = random();
    return {
      requiredTags: roll < 0.2 ? ['ssd'] : [],
      devices: i % 10 === 3 ? 'emulated' : 'virtio',
      pool: i % 5 === 0 ? `san-${i % 4}` : 'shared',
      groups: i % 20 === 1 ? { antiAffinity: [`aa-${Math.floor(i / 100)}`] } : i % 100 < 2 ? { affinity: [`pair-${Math.floor(i / 100)}`] } : {},
    };
  });
  return { view: cluster(hosts, [], { weight, pools }), vms };
}

/**
 * A skewed cluster whose fewest moves are known by construction: every VM is 4 vCPUs and 16 GiB
 * (1/16 of a host's CPU and memory at 1x overcommit, 1/64 of its CPU at 4x), most hosts run 8,
 * the first `skewed` hosts run 12 and the last `skewed` run 4. Even load is 8 VMs a host; with a
 * threshold below one VM's share (1/16 of memory), each overloaded host must send away exactly 4
 * and each underloaded one receive exactly 4, so the minimum is 4 × skewed moves.
 */
export function uniformSkew(hostCount: number, skewed: number): { view: ClusterView; minimumMoves: number } {
  const hosts = simulatedHosts(hostCount);
  const vms: VmView[] = [];
  hosts.forEach((h, i) => {
    const count = i < skewed ? 12 : i >= hostCount - skewed ? 4 : 8;
    for (let k = 0; k < count; k++) vms.push(vm(`${h.id}-vm-${k + 1}`, { hostId: h.id, cpus: 4, memoryBytes: 16 * GiB }));
  });
  return { view: cluster(hosts, vms), minimumMoves: 4 * skewed };
}

/**
 * A skewed cluster of mixed sizes: hosts filled by memory to about 50%, with one in ten "hot"
 * (about 85%) and one in ten "cold" (about 15%); 5% of VMs in anti-affinity groups spanning three
 * neighbouring hosts, 3% not live-migratable.
 */
export function mixedSkew(hostCount: number, random: () => number): ClusterView {
  const hosts = simulatedHosts(hostCount);
  const vms: VmView[] = [];
  hosts.forEach((h, i) => {
    const fill = i % 10 === 0 ? 0.85 : i % 10 === 5 ? 0.15 : 0.5;
    let memory = 0;
    for (let slot = 0; ; slot++) {
      const [cpus, memoryGiB] = FLAVORS[Math.floor(random() * FLAVORS.length)] as readonly [number, number];
      if (memory + memoryGiB * GiB > fill * SIMULATED_HOST.memoryBytes) break;
      memory += memoryGiB * GiB;
      const roll = random();
      vms.push(
        vm(`${h.id}-vm-${slot + 1}`, {
          hostId: h.id,
          cpus,
          memoryBytes: memoryGiB * GiB,
          liveMigratable: roll >= 0.03,
          groups: roll >= 0.03 && roll < 0.08 ? { antiAffinity: [`aa-${slot}-${Math.floor(i / 3)}`] } : {},
        }),
      );
    }
  });
  return cluster(hosts, vms);
}
