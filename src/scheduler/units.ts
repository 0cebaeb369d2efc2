/**
 * Placement units: VMs that must land together. VMs sharing an affinity group (directly or through
 * a chain of groups) form one unit and are placed on one host as a whole; every other VM is a unit
 * of its own.
 */
import { groupsOf, type VmView } from './model.js';
import type { ClusterState } from './state.js';

/** The VMs of `vms` grouped into units, each unit in input order, units ordered by their first VM. */
export function affinityUnits(vms: readonly VmView[]): VmView[][] {
  const parent = vms.map((_, index) => index);
  const root = (index: number): number => {
    let at = index;
    while (parent[at] !== at) at = parent[at] as number;
    parent[index] = at;
    return at;
  };
  const firstWithGroup = new Map<string, number>();
  vms.forEach((vm, index) => {
    for (const group of groupsOf(vm, 'affinity')) {
      const first = firstWithGroup.get(group);
      if (first === undefined) firstWithGroup.set(group, index);
      else parent[root(index)] = root(first);
    }
  });
  const units = new Map<number, VmView[]>();
  vms.forEach((vm, index) => {
    const key = root(index);
    const unit = units.get(key);
    if (unit) unit.push(vm);
    else units.set(key, [vm]);
  });
  return [...units.values()];
}

/** The total vCPUs and memory of a unit. */
export function unitDemand(unit: readonly VmView[]): { cpus: number; memoryBytes: number } {
  let cpus = 0;
  let memoryBytes = 0;
  for (const vm of unit) {
    cpus += vm.cpus;
    memoryBytes += vm.memoryBytes;
  }
  return { cpus, memoryBytes };
}

/** A human-readable list of a unit's VM names. */
export function unitNames(unit: readonly VmView[]): string {
  return unit.map((vm) => vm.name).join(', ');
}

/**
 * `units` sorted by their larger share of an average host (CPU or memory), largest first, for
 * best-fit decreasing; equal sizes keep VMs of one shape together (which keeps the chooser's
 * verdict cache warm), then the input order.
 */
export function largestFirst(state: ClusterState, units: VmView[][]): VmView[][] {
  let cpuCapacity = 0;
  let memoryCapacity = 0;
  for (const host of state.hosts) {
    cpuCapacity += host.cpuCapacity;
    memoryCapacity += host.memoryCapacity;
  }
  const count = Math.max(1, state.hosts.length);
  const averageCpu = cpuCapacity / count || 1;
  const averageMemory = memoryCapacity / count || 1;
  const keyed = units.map((unit, order) => {
    const demand = unitDemand(unit);
    const size = Math.max(demand.cpus / averageCpu, demand.memoryBytes / averageMemory);
    return { unit, order, size, shape: unit.length === 1 ? shapeKey(unit[0] as VmView) : '' }; // Units are never empty.
  });
  keyed.sort((a, b) => b.size - a.size || (a.shape < b.shape ? -1 : a.shape > b.shape ? 1 : 0) || a.order - b.order);
  return keyed.map((entry) => entry.unit);
}

/** Everything the filters read from a VM other than its identity, as one string; equal keys get equal verdicts. */
export function shapeKey(vm: VmView): string {
  const sorted = (list: readonly string[] | undefined): string => (list ? [...list].sort().join(',') : '');
  return `${vm.cpus}|${vm.memoryBytes}|${vm.devices}|${vm.pool}|${sorted(vm.requiredTags)}|${sorted(vm.groups.antiAffinity)}|${sorted(vm.groups.affinity)}`;
}
