/** Maps the controller's store records to the scheduler's `ClusterView`. */
import type { ClusterView, HostView, PoolView, VmGroups, VmView } from '../../scheduler/model.js';
import type { ClusterSettings, HostRecord, VmPlacementRules, VmRecord } from '../store/records.js';
import { DEFAULT_SETTINGS, readClusterSettings } from './settings.js';
import type { Repositories } from '../store/store.js';

/** The pool every host reaches (VMs created with pool "shared"). */
export const SHARED_POOL = 'shared';

/** The name of one host's own storage pool; it names the host, as refusals quote it. */
export function localPoolOf(host: Pick<HostRecord, 'name'>): string {
  return `local:${host.name}`;
}

/** One host as the scheduler sees it; a joining host takes no VMs, so it counts as offline. */
export function hostView(host: HostRecord): HostView {
  return {
    id: host.id,
    name: host.name,
    cpus: host.capacity.cpus,
    memoryBytes: host.capacity.memoryBytes,
    cpuOvercommit: host.cpuOvercommit,
    memoryOvercommit: host.memoryOvercommit,
    tags: host.tags,
    deviceModels: ['virtio', 'emulated'],
    state: host.state === 'joining' ? 'offline' : host.state,
    healthy: host.health === 'healthy',
  };
}

/** One VM as the scheduler sees it, its local pool named after `host`; only a running or paused VM can be moved live. */
export function vmView(vm: VmRecord, host: HostRecord | undefined): VmView {
  const shared = vm.spec.pool === 'shared';
  return {
    id: vm.id,
    name: vm.name,
    hostId: vm.hostId,
    cpus: vm.spec.cpus,
    memoryBytes: vm.spec.memoryBytes,
    devices: vm.spec.devices ?? 'virtio',
    pool: shared || !host ? SHARED_POOL : localPoolOf(host),
    requiredTags: vm.spec.placement?.requiredTags ?? [],
    groups: groupsOf(vm.spec.placement),
    liveMigratable: vm.state === 'running' || vm.state === 'paused',
  };
}

/** The scheduler's groups of a VM's rules, leaving out empty kinds. */
function groupsOf(rules: VmPlacementRules | undefined): VmGroups {
  return {
    ...(rules?.affinityGroups?.length ? { affinity: rules.affinityGroups } : {}),
    ...(rules?.antiAffinityGroups?.length ? { antiAffinity: rules.antiAffinityGroups } : {}),
  };
}

/** The view of `hosts` and `vms` under `settings`: one shared pool on every host, and each host's local pool. */
export function clusterViewOf(hosts: readonly HostRecord[], vms: readonly VmRecord[], settings: ClusterSettings = DEFAULT_SETTINGS): ClusterView {
  const pools: PoolView[] = [
    { name: SHARED_POOL, kind: 'shared', hosts: hosts.map((h) => h.id) },
    ...hosts.map((h): PoolView => ({ name: localPoolOf(h), kind: 'local', hosts: [h.id] })),
  ];
  const byId = new Map(hosts.map((h) => [h.id, h]));
  return { hosts: hosts.map(hostView), vms: vms.map((vm) => vmView(vm, vm.hostId ? byId.get(vm.hostId) : undefined)), pools, policy: { weight: settings.weight } };
}

/** Reads every host, VM and the cluster settings from `repos` (the store or a transaction) and maps them. */
export async function readClusterView(repos: Pick<Repositories, 'hosts' | 'vms' | 'settings'>): Promise<ClusterView> {
  return clusterViewOf(await repos.hosts.list(), await repos.vms.list(), await readClusterSettings(repos));
}
