/** Maps the controller's store records to the scheduler's `ClusterView`. */
import { guestCapabilities } from '../../drivers/capabilities.js';
import type { ClusterView, HostView, PoolView, VmGroups, VmView } from '../../scheduler/model.js';
import type { ClusterSettings, HostRecord, VmPlacementRules, VmRecord } from '../store/records.js';
import { DEFAULT_CPU_MODEL } from '../../vms/spec.js';
import { DEFAULT_SETTINGS, readClusterSettings } from './settings.js';
import type { Repositories } from '../store/store.js';

/** The pool of a shared-storage VM whose host reports no shared pool: no host reaches it. */
export const UNKNOWN_SHARED_POOL = 'shared';
/** Where a new VM's disks can go: any host's own storage (local) or any shared pool a host reaches. */
export const ANY_LOCAL_POOL = 'local:*';
export const ANY_SHARED_POOL = 'shared:*';

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
    // A host that has not reported its CPU models is not judged on them.
    ...(host.cpuModels.length ? { cpuModels: host.cpuModels } : {}),
  };
}

/** The shared pools a host proved it reaches (see the agent's pools.ts). */
export function sharedPoolsOf(host: Pick<HostRecord, 'pools'>): string[] {
  return host.pools.filter((pool) => pool.kind === 'shared').map((pool) => pool.name);
}

/** The pool holding a VM's disks: its host's local pool or its host's shared pool; for a VM not placed yet, any pool of its kind. */
function poolOfVm(vm: VmRecord, host: HostRecord | undefined): string {
  const shared = vm.spec.pool === 'shared';
  if (!host) return shared ? ANY_SHARED_POOL : ANY_LOCAL_POOL;
  if (!shared) return localPoolOf(host);
  return sharedPoolsOf(host)[0] ?? UNKNOWN_SHARED_POOL;
}

/** One VM as the scheduler sees it, its pool named after `host`; only a running or paused VM can be moved live. */
export function vmView(vm: VmRecord, host: HostRecord | undefined): VmView {
  return {
    id: vm.id,
    name: vm.name,
    hostId: vm.hostId,
    cpus: vm.spec.cpus,
    memoryBytes: vm.spec.memoryBytes,
    devices: vm.spec.devices ?? 'virtio',
    pool: poolOfVm(vm, host),
    requiredTags: vm.spec.placement?.requiredTags ?? [],
    groups: groupsOf(vm.spec.placement),
    liveMigratable: vm.state === 'running' || vm.state === 'paused',
    diskBytes: vm.disks.reduce((sum, disk) => sum + disk.sizeBytes, 0),
    // A VM recorded before CPU models were per VM runs the agents' default, whatever the baseline is now; a
    // guest that sees the host's own CPU (a container) has none to judge.
    ...(guestCapabilities(vm.spec.type).cpuModels ? { cpuModel: vm.spec.cpuModel ?? DEFAULT_CPU_MODEL } : {}),
    ...(guestCapabilities(vm.spec.type).liveMigrate ? {} : { movesByRestart: true }),
    ...(vm.snapshots.length > 0 ? { snapshots: vm.snapshots.length } : {}),
    ...(vm.movingTo ? { movingTo: vm.movingTo } : {}),
  };
}

/** The scheduler's groups of a VM's rules, leaving out empty kinds. */
function groupsOf(rules: VmPlacementRules | undefined): VmGroups {
  return {
    ...(rules?.affinityGroups?.length ? { affinity: rules.affinityGroups } : {}),
    ...(rules?.antiAffinityGroups?.length ? { antiAffinity: rules.antiAffinityGroups } : {}),
  };
}

/** The view of `hosts` and `vms` under `settings`: each host's local pool, and every shared pool with the hosts that reported reaching it. */
export function clusterViewOf(hosts: readonly HostRecord[], vms: readonly VmRecord[], settings: ClusterSettings = DEFAULT_SETTINGS): ClusterView {
  const shared = new Map<string, string[]>();
  for (const host of hosts) for (const name of sharedPoolsOf(host)) shared.set(name, [...(shared.get(name) ?? []), host.id]);
  const pools: PoolView[] = [
    ...hosts.map((h): PoolView => ({ name: localPoolOf(h), kind: 'local', hosts: [h.id] })),
    ...[...shared].map(([name, members]): PoolView => ({ name, kind: 'shared', hosts: members })),
    { name: UNKNOWN_SHARED_POOL, kind: 'shared', hosts: [] },
    // A new VM can go to any host with storage of its kind: every host has its own; shared needs a reported pool.
    { name: ANY_LOCAL_POOL, kind: 'shared', hosts: hosts.map((h) => h.id) },
    { name: ANY_SHARED_POOL, kind: 'shared', hosts: hosts.filter((h) => sharedPoolsOf(h).length > 0).map((h) => h.id) },
  ];
  const byId = new Map(hosts.map((h) => [h.id, h]));
  return { hosts: hosts.map(hostView), vms: vms.map((vm) => cachedVmView(vm, vm.hostId ? byId.get(vm.hostId) : undefined)), pools, policy: { weight: settings.weight } };
}

/**
 * The view of a VM record, kept while the record object lives: the fleet copy (fleet.ts) keeps an unchanged
 * record's object, so placing one VM among 30,000 does not map the other 29,999 again. A view depends on the
 * record and on its host only through the pool it names.
 */
const viewCache = new WeakMap<VmRecord, { pool: string; view: VmView }>();

function cachedVmView(vm: VmRecord, host: HostRecord | undefined): VmView {
  const pool = poolOfVm(vm, host);
  const cached = viewCache.get(vm);
  if (cached?.pool === pool) return cached.view;
  const view = vmView(vm, host);
  viewCache.set(vm, { pool, view });
  return view;
}

/** Reads every host, VM and the cluster settings from `repos` (the store or a transaction) and maps them. */
export async function readClusterView(repos: Pick<Repositories, 'hosts' | 'vms' | 'settings'>): Promise<ClusterView> {
  return clusterViewOf(await repos.hosts.list(), await repos.vms.list(), await readClusterSettings(repos));
}
