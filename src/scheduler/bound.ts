/**
 * A floor under the number of moves any balancing plan needs, to judge how close a plan comes to
 * the fewest possible. Every host above even load + threshold must send away at least its excess,
 * and needs at least as many VMs as its largest movable VMs take to cover it; every host below even
 * load − threshold must receive at least its shortfall, at least as many VMs as the cluster's largest
 * movable VMs take to cover it. Each move leaves one host and reaches one, so the larger of the two
 * sums is a floor. Placement filters are ignored, which can only lower the floor.
 */
import { moveRules, type BalanceOptions } from './balance.js';
import { EPSILON, evenLoad, isBalanceable, ratiosOf } from './load.js';
import type { ClusterView, VmView } from './model.js';
import { ClusterState } from './state.js';

type Resource = 'cpus' | 'memoryBytes';

/** The fewest moves any plan needs to bring `cluster` within `options.threshold`; null when no plan can, even ignoring the filters. */
export function movesLowerBound(cluster: ClusterView, options: BalanceOptions): number | null {
  const rules = moveRules(options);
  const state = new ClusterState(cluster);
  const hosts = state.hosts.filter(isBalanceable);
  const even = evenLoad(hosts);
  const { threshold } = options;
  const movableOn = new Map(hosts.map((host) => [host, [...host.vms].filter((vm) => rules.held(vm, state) === undefined)]));
  const everyMovable = [...movableOn.values()].flat();
  const largest = { cpus: descending(everyMovable, 'cpus'), memoryBytes: descending(everyMovable, 'memoryBytes') };
  let leaving = 0;
  let arriving = 0;
  for (const host of hosts) {
    const ratios = ratiosOf(host);
    const own = movableOn.get(host) ?? [];
    const excess = { cpus: (ratios.cpu - even.cpu - threshold) * host.cpuCapacity, memoryBytes: (ratios.memory - even.memory - threshold) * host.memoryCapacity };
    const shortfall = { cpus: (even.cpu - threshold - ratios.cpu) * host.cpuCapacity, memoryBytes: (even.memory - threshold - ratios.memory) * host.memoryCapacity };
    const tolerance = { cpus: EPSILON * host.cpuCapacity, memoryBytes: EPSILON * host.memoryCapacity };
    let out = 0;
    let into = 0;
    for (const resource of ['cpus', 'memoryBytes'] as const) {
      if (excess[resource] > tolerance[resource]) {
        const needed = fewestCovering(descending(own, resource), resource, excess[resource] - tolerance[resource]);
        if (needed === null) return null;
        out = Math.max(out, needed);
      }
      if (shortfall[resource] > tolerance[resource]) {
        const needed = fewestCovering(largest[resource], resource, shortfall[resource] - tolerance[resource]);
        if (needed === null) return null;
        into = Math.max(into, needed);
      }
    }
    leaving += out;
    arriving += into;
  }
  return Math.max(leaving, arriving);
}

function descending(vms: readonly VmView[], resource: Resource): VmView[] {
  return [...vms].sort((a, b) => b[resource] - a[resource]);
}

/** How many of `sorted` (largest first) it takes to add up to `amount`; null when all of them do not. */
function fewestCovering(sorted: readonly VmView[], resource: Resource, amount: number): number | null {
  let sum = 0;
  for (let count = 0; count < sorted.length; count++) {
    sum += (sorted[count] as VmView)[resource];
    if (sum >= amount) return count + 1;
  }
  return null;
}
