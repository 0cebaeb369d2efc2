/**
 * The load metric the balancer works on.
 *
 * - A host's load is a pair of allocation ratios: allocated vCPUs / (CPUs × CPU overcommit) and
 *   allocated memory / (memory × memory overcommit). 1.0 means the host is full.
 * - Only hosts that can take VMs (ready and healthy, with capacity) take part; hosts in maintenance
 *   or offline are left to evacuation and failover.
 * - The cluster's even load is, per resource, total allocated / total capacity over those hosts.
 *   Moving VMs between them never changes it.
 * - A host's deviation is the larger of its two distances from the even load; the cluster's
 *   imbalance is the largest deviation of any host. The cluster is balanced within a threshold t
 *   when imbalance ≤ t, i.e. every host is within t (e.g. 0.1 = 10 points) of even on both resources.
 * - A VM in flight counts on its destination only, as it will once the move ends. (The capacity
 *   filters count it on both hosts meanwhile; see HostLoad.cpuLeaving.) Counting it twice would
 *   make the destination look fuller than it will be, and plan moves nobody needs.
 */
import type { ClusterView } from './model.js';
import { ClusterState, type HostLoad } from './state.js';

/** Allocation ratios of one host, or the cluster's even load. */
export interface Ratios {
  cpu: number;
  memory: number;
}

/** Comparisons allow this much rounding before a difference counts. */
export const EPSILON = 1e-9;

/** True when the host takes part in balancing: ready, healthy and with capacity in both resources. */
export function isBalanceable(host: HostLoad): boolean {
  return host.view.state === 'ready' && host.view.healthy && host.cpuCapacity > 0 && host.memoryCapacity > 0;
}

/** The host's allocation ratios, without VMs in flight away from it. Precondition: isBalanceable(host). */
export function ratiosOf(host: HostLoad): Ratios {
  return { cpu: (host.cpuAllocated - host.cpuLeaving) / host.cpuCapacity, memory: (host.memoryAllocated - host.memoryLeaving) / host.memoryCapacity };
}

/** The even load over `hosts`: per resource, total allocated / total capacity. */
export function evenLoad(hosts: readonly HostLoad[]): Ratios {
  let cpu = 0;
  let cpuCapacity = 0;
  let memory = 0;
  let memoryCapacity = 0;
  for (const host of hosts) {
    cpu += host.cpuAllocated - host.cpuLeaving;
    cpuCapacity += host.cpuCapacity;
    memory += host.memoryAllocated - host.memoryLeaving;
    memoryCapacity += host.memoryCapacity;
  }
  return { cpu: cpuCapacity > 0 ? cpu / cpuCapacity : 0, memory: memoryCapacity > 0 ? memory / memoryCapacity : 0 };
}

/** The larger distance of (cpu, memory) from the even load. */
export function deviation(cpu: number, memory: number, even: Ratios): number {
  return Math.max(Math.abs(cpu - even.cpu), Math.abs(memory - even.memory));
}

/** The squared distance of (cpu, memory) from the even load; the balancer lowers the sum of these with every move. */
export function spreadCost(cpu: number, memory: number, even: Ratios): number {
  return (cpu - even.cpu) ** 2 + (memory - even.memory) ** 2;
}

/** The largest deviation over `hosts`; 0 when there are none. */
export function imbalanceOf(hosts: readonly HostLoad[], even: Ratios): number {
  let worst = 0;
  for (const host of hosts) {
    const { cpu, memory } = ratiosOf(host);
    worst = Math.max(worst, deviation(cpu, memory, even));
  }
  return worst;
}

/** The load picture of a cluster: even load, imbalance and each balanceable host's ratios and deviation. */
export function measureLoad(cluster: ClusterView): { even: Ratios; imbalance: number; hosts: Array<{ hostId: string; hostName: string; ratios: Ratios; deviation: number }> } {
  const hosts = new ClusterState(cluster).hosts.filter(isBalanceable);
  const even = evenLoad(hosts);
  return {
    even,
    imbalance: imbalanceOf(hosts, even),
    hosts: hosts.map((host) => {
      const ratios = ratiosOf(host);
      return { hostId: host.view.id, hostName: host.view.name, ratios, deviation: deviation(ratios.cpu, ratios.memory, even) };
    }),
  };
}
