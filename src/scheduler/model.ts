/**
 * The scheduler's input: a read-only view of the cluster. It is deliberately independent of the
 * controller's store records; the controller maps its records to this view before asking.
 */

/** How a VM's devices are presented: paravirtualized (virtio) or emulated (IDE, e1000). */
export type DeviceModel = 'virtio' | 'emulated';

/** ready: takes new VMs; maintenance: keeps its VMs, takes no new ones; offline: unreachable. */
export type HostState = 'ready' | 'maintenance' | 'offline';

/** One host as the scheduler sees it. Capacities are physical; overcommit ratios multiply them. */
export interface HostView {
  id: string;
  name: string;
  cpus: number;
  memoryBytes: number;
  /** vCPUs that may be allocated per physical CPU (1 = no overcommit). */
  cpuOvercommit: number;
  /** Bytes of VM memory that may be allocated per physical byte (1 = no overcommit). */
  memoryOvercommit: number;
  tags: string[];
  deviceModels: DeviceModel[];
  state: HostState;
  healthy: boolean;
  /** CPU models the host can present to guests; `*` means any; undefined when it has not said (not judged). */
  cpuModels?: string[];
}

/** Placement groups: every VM of an affinity group on one host, every VM of an anti-affinity group on its own host. */
export interface VmGroups {
  affinity?: string[];
  antiAffinity?: string[];
}

/** One VM. `hostId` is null for a VM that has not been placed yet. */
export interface VmView {
  id: string;
  name: string;
  hostId: string | null;
  cpus: number;
  memoryBytes: number;
  devices: DeviceModel;
  /** The storage pool holding the VM's disks. */
  pool: string;
  /** Tags a host must carry, all of them, to run this VM. */
  requiredTags: string[];
  groups: VmGroups;
  liveMigratable: boolean;
  /** It moves by a restart (a cold migration: a container), not live: stopped, copied, started again. undefined: live. */
  movesByRestart?: boolean;
  /** Bytes of the VM's disks: what a live migration copies when it mirrors them to another host's storage; undefined: 0. */
  diskBytes?: number;
  /** The CPU model the VM runs with (the cluster's baseline); undefined: not judged. */
  cpuModel?: string;
  /** How many snapshots the VM's disks hold; mirroring the disks to another host would lose them. undefined: none. */
  snapshots?: number;
  /** The destination of a live migration in flight: until it ends the VM is charged there as well as on its host. */
  movingTo?: string;
}

/** A storage pool: `shared` is reachable from every host listed; `local` lists its one host. */
export interface PoolView {
  name: string;
  kind: 'shared' | 'local';
  hosts: string[];
}

/** spread: put each VM where the most room is left; pack: fill the fullest host that still fits. */
export type Weight = 'spread' | 'pack';

/** Cluster-wide scheduling policy. */
export interface ClusterPolicy {
  weight: Weight;
}

/** Everything a scheduling decision reads. */
export interface ClusterView {
  hosts: HostView[];
  vms: VmView[];
  pools: PoolView[];
  policy: ClusterPolicy;
}

/** The groups a VM belongs to, of one kind; never undefined. */
export function groupsOf(vm: VmView, kind: keyof VmGroups): readonly string[] {
  return vm.groups[kind] ?? [];
}
