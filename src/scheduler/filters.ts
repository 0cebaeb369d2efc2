/**
 * Placement filters: one small function per rule. Each returns undefined when the host passes and
 * otherwise a sentence a person can act on, starting with the filter's name. Every filter assumes
 * the VM is not already on the host it judges (placing, balancing and evacuating all guarantee it).
 */
import { formatAmount, formatBytes, formatOvercommit } from './format.js';
import type { VmView } from './model.js';
import type { ClusterState, HostLoad } from './state.js';

/** The names filters refuse under, in the order they run (cheap, static checks first). */
export type FilterName = 'availability' | 'maintenance' | 'device-model' | 'cpu-model' | 'storage' | 'tags' | 'cpu' | 'memory' | 'anti-affinity' | 'affinity';

/** undefined: the host passes; a string: why it does not. */
export type Verdict = string | undefined;

/** A filter: judges one host for one VM against the current state. */
export type Filter = (host: HostLoad, vm: VmView, state: ClusterState) => Verdict;

/** A host a filter refused, with the filter and its reason. */
export interface HostRefusal {
  hostId: string;
  hostName: string;
  filter: FilterName;
  reason: string;
}

/** Allocation may exceed capacity by this much before it counts, so sums of fractions do not refuse by rounding. */
const SLACK = 1e-9;

/** Refuses hosts that are offline or failing their health checks. */
export const availability: Filter = (host) => {
  if (host.view.state === 'offline') return 'availability: host is offline';
  if (!host.view.healthy) return 'availability: host is not healthy';
  return undefined;
};

/** Refuses hosts in maintenance: they keep their VMs but accept no new ones. */
export const maintenance: Filter = (host) =>
  host.view.state === 'maintenance' ? 'maintenance: host is in maintenance and accepts no new VMs' : undefined;

/** Refuses hosts that cannot present the VM's device model. */
export const deviceModel: Filter = (host, vm) => {
  if (host.view.deviceModels.includes(vm.devices)) return undefined;
  const supported = host.view.deviceModels.length ? `only ${host.view.deviceModels.join(' and ')}` : 'no device model';
  return `device-model: VM needs ${vm.devices} devices, host supports ${supported}`;
};

/** Refuses hosts that cannot present the VM's CPU model, so a move never changes the CPU under a running guest. */
export const cpuModel: Filter = (host, vm) => {
  const offered = host.view.cpuModels;
  if (vm.cpuModel === undefined || offered === undefined || offered.includes('*') || offered.includes(vm.cpuModel)) return undefined;
  return `cpu-model: VM runs CPU model ${vm.cpuModel}, host offers only ${offered.length ? offered.join(', ') : 'none'}`;
};

/** Refuses hosts that cannot reach the storage pool holding the VM's disks. */
export const storage: Filter = (host, vm, state) => {
  const pool = state.pool(vm.pool);
  if (!pool) return `storage: pool ${vm.pool} is not known`;
  if (state.reaches(pool.name, host)) return undefined;
  if (pool.kind === 'local') {
    const owner = pool.hosts[0] === undefined ? 'no host' : (state.host(pool.hosts[0])?.view.name ?? pool.hosts[0]);
    return `storage: pool ${pool.name} is local to ${owner}`;
  }
  return `storage: shared pool ${pool.name} is not reachable from this host (reachable from ${pool.hosts.length} host(s))`;
};

/** Refuses hosts lacking any tag the VM requires. */
export const tags: Filter = (host, vm) => {
  if (vm.requiredTags.length === 0) return undefined;
  const missing = vm.requiredTags.filter((tag) => !host.view.tags.includes(tag));
  return missing.length ? `tags: host lacks required tag(s) ${missing.join(', ')}` : undefined;
};

/** Refuses hosts without enough unallocated vCPUs, counting the CPU overcommit ratio. */
export const cpu: Filter = (host, vm) => {
  const free = host.cpuCapacity - host.cpuAllocated;
  if (vm.cpus <= free + SLACK) return undefined;
  const { cpus, cpuOvercommit } = host.view;
  return `cpu: needs ${formatAmount(vm.cpus)} vCPU(s), ${formatAmount(Math.max(0, free))} free of ${formatAmount(host.cpuCapacity)} at ${formatOvercommit(cpuOvercommit)} overcommit (${formatAmount(cpus)} physical)`;
};

/** Refuses hosts without enough unallocated memory, counting the memory overcommit ratio. */
export const memory: Filter = (host, vm) => {
  const free = host.memoryCapacity - host.memoryAllocated;
  if (vm.memoryBytes <= free) return undefined;
  const { memoryBytes, memoryOvercommit } = host.view;
  return `memory: needs ${formatBytes(vm.memoryBytes)}, ${formatBytes(Math.max(0, free))} free of ${formatBytes(host.memoryCapacity)} at ${formatOvercommit(memoryOvercommit)} overcommit (${formatBytes(memoryBytes)} physical)`;
};

/** Refuses hosts already running another member of one of the VM's anti-affinity groups. */
export const antiAffinity: Filter = (host, vm, state) => {
  const groups = vm.groups.antiAffinity;
  if (!groups) return undefined;
  for (const group of groups) {
    const members = state.membersOn('antiAffinity', group, host, vm);
    if (members.length) return `anti-affinity: group ${group} already has ${names(members)} on this host`;
  }
  return undefined;
};

/** Refuses every host but the one running the other members of the VM's affinity groups. */
export const affinity: Filter = (host, vm, state) => {
  const groups = vm.groups.affinity;
  if (!groups) return undefined;
  for (const group of groups) {
    const placed = state.groupHosts('affinity', group, vm);
    if (placed.length === 0) continue;
    const elsewhere = placed.filter((entry) => entry.host !== host);
    if (elsewhere.length === 0) continue;
    if (placed.length > 1) return `affinity: group ${group} is already split over ${placed.map((p) => p.host.view.name).join(', ')}`;
    return `affinity: group ${group} runs on ${elsewhere.map((p) => `${p.host.view.name} (${names(p.members)})`).join(', ')}`;
  }
  return undefined;
};

/** A filter with the name it refuses under. */
export interface NamedFilter {
  name: FilterName;
  check: Filter;
}

/** Filters that read only the host's fixed properties and the cluster's pools; their verdicts never change within a state. */
export const STATIC_FILTERS: readonly NamedFilter[] = [
  { name: 'availability', check: availability },
  { name: 'maintenance', check: maintenance },
  { name: 'device-model', check: deviceModel },
  { name: 'cpu-model', check: cpuModel },
  { name: 'storage', check: storage },
  { name: 'tags', check: tags },
];

/** Filters that read what is allocated on the host. */
export const CAPACITY_FILTERS: readonly NamedFilter[] = [
  { name: 'cpu', check: cpu },
  { name: 'memory', check: memory },
];

/** Filters that read where the VM's group members run. */
export const GROUP_FILTERS: readonly NamedFilter[] = [
  { name: 'anti-affinity', check: antiAffinity },
  { name: 'affinity', check: affinity },
];

/** Every filter, in the order they are applied. */
export const FILTERS: readonly NamedFilter[] = [...STATIC_FILTERS, ...CAPACITY_FILTERS, ...GROUP_FILTERS];

/** The first of `filters` (all of them by default) refusing `host` for `vm`, or undefined when every one passes. */
export function firstRefusal(host: HostLoad, vm: VmView, state: ClusterState, filters: readonly NamedFilter[] = FILTERS): HostRefusal | undefined {
  for (const { name, check } of filters) {
    const reason = check(host, vm, state);
    if (reason !== undefined) return { hostId: host.view.id, hostName: host.view.name, filter: name, reason };
  }
  return undefined;
}

function names(vms: readonly VmView[]): string {
  const shown = vms.slice(0, 3).map((vm) => vm.name);
  return vms.length > 3 ? `${shown.join(', ')} and ${vms.length - 3} more` : shown.join(', ');
}
