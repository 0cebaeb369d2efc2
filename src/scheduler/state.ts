/**
 * The working state every scheduling algorithm reads and updates: per host what is allocated and
 * which VMs run there, and per placement group where its members are. Placing, balancing and
 * evacuating all move VMs through this one structure, so every step sees the steps before it.
 */
import { DroverError } from '../shared/errors.js';
import { type ClusterView, groupsOf, type HostView, type PoolView, type VmGroups, type VmView } from './model.js';

/** A host with its effective capacity (physical × overcommit) and what is allocated on it now. */
export interface HostLoad {
  readonly view: HostView;
  /** Position in ClusterView.hosts; ties between equal hosts go to the lower index. */
  readonly index: number;
  readonly cpuCapacity: number;
  readonly memoryCapacity: number;
  cpuAllocated: number;
  memoryAllocated: number;
  /**
   * The part of the allocation held by VMs in flight away from this host. Capacity checks count it
   * (the VM still runs here); load figures leave it out, since the VM counts where it is going.
   */
  cpuLeaving: number;
  memoryLeaving: number;
  readonly vms: Set<VmView>;
  /** Bumped whenever a VM arrives or leaves, so callers can cache verdicts per host. */
  version: number;
}

/** Members of one placement group, by host index. */
type GroupIndex = Map<string, Map<number, Set<VmView>>>;

const NONE: readonly VmView[] = [];

/**
 * What a VM in flight holds on its destination: its CPUs, memory and groups, so no other decision
 * fills the room or breaks a rule meanwhile. It is not a VM of its own and cannot be moved.
 */
function arrivingAt(vm: VmView, destination: HostLoad): VmView {
  const { movingTo: _, ...rest } = vm;
  return { ...rest, id: `${vm.id}:arriving`, name: `${vm.name} (arriving)`, hostId: destination.view.id, liveMigratable: false };
}

/** Mutable cluster state built from a ClusterView; the view itself is never modified. */
export class ClusterState {
  readonly hosts: HostLoad[];
  readonly policy: ClusterView['policy'];
  private readonly hostById = new Map<string, HostLoad>();
  private readonly pools = new Map<string, PoolView>();
  private readonly poolHosts = new Map<string, Set<string>>();
  private readonly hostOfVm = new Map<string, HostLoad>();
  private readonly groups: Record<keyof VmGroups, GroupIndex> = { affinity: new Map(), antiAffinity: new Map() };

  /** Builds the state; VMs listed in `leaveOut` (by id) are treated as not placed. Throws INVALID_ARGUMENT for a VM on an unknown host. */
  constructor(cluster: ClusterView, leaveOut: ReadonlySet<string> = new Set()) {
    this.policy = cluster.policy;
    this.hosts = cluster.hosts.map((view, index) => ({
      view,
      index,
      cpuCapacity: view.cpus * view.cpuOvercommit,
      memoryCapacity: Math.floor(view.memoryBytes * view.memoryOvercommit),
      cpuAllocated: 0,
      memoryAllocated: 0,
      cpuLeaving: 0,
      memoryLeaving: 0,
      vms: new Set(),
      version: 0,
    }));
    for (const host of this.hosts) {
      if (this.hostById.has(host.view.id)) throw new DroverError('INVALID_ARGUMENT', `host id ${host.view.id} appears twice in the cluster view`);
      this.hostById.set(host.view.id, host);
    }
    for (const pool of cluster.pools) {
      this.pools.set(pool.name, pool);
      this.poolHosts.set(pool.name, new Set(pool.hosts));
    }
    for (const vm of cluster.vms) {
      if (vm.hostId === null || leaveOut.has(vm.id)) continue;
      const host = this.hostById.get(vm.hostId);
      if (!host) throw new DroverError('INVALID_ARGUMENT', `VM ${vm.name} is on host ${vm.hostId}, which is not in the cluster view`);
      this.add(vm, host);
      const destination = vm.movingTo === undefined ? undefined : this.hostById.get(vm.movingTo);
      if (destination && destination !== host) this.add(arrivingAt(vm, destination), destination);
    }
  }

  /** The host with this id, or undefined. */
  host(id: string): HostLoad | undefined {
    return this.hostById.get(id);
  }

  /** The pool with this name, or undefined. */
  pool(name: string): PoolView | undefined {
    return this.pools.get(name);
  }

  /** True when `host` reaches the pool named `pool` (false for unknown pools). */
  reaches(pool: string, host: HostLoad): boolean {
    return this.poolHosts.get(pool)?.has(host.view.id) ?? false;
  }

  /** The host a VM runs on in this state, or undefined when it is not placed. */
  hostOf(vm: VmView): HostLoad | undefined {
    return this.hostOfVm.get(vm.id);
  }

  /** Places `vm` on `host`. Precondition: the VM is not placed in this state. */
  add(vm: VmView, host: HostLoad): void {
    host.cpuAllocated += vm.cpus;
    host.memoryAllocated += vm.memoryBytes;
    if (this.isLeaving(vm, host)) {
      host.cpuLeaving += vm.cpus;
      host.memoryLeaving += vm.memoryBytes;
    }
    host.vms.add(vm);
    host.version++;
    this.hostOfVm.set(vm.id, host);
    for (const kind of ['affinity', 'antiAffinity'] as const) {
      for (const group of groupsOf(vm, kind)) {
        let byHost = this.groups[kind].get(group);
        if (!byHost) this.groups[kind].set(group, (byHost = new Map()));
        let members = byHost.get(host.index);
        if (!members) byHost.set(host.index, (members = new Set()));
        members.add(vm);
      }
    }
  }

  /** True when `vm` on `host` is in flight to another host of this state, where it also holds room. */
  private isLeaving(vm: VmView, host: HostLoad): boolean {
    return vm.movingTo !== undefined && vm.movingTo !== host.view.id && this.hostById.has(vm.movingTo);
  }

  /** Takes `vm` off its host; a VM that is not placed is left alone. */
  remove(vm: VmView): void {
    const host = this.hostOfVm.get(vm.id);
    if (!host) return;
    host.cpuAllocated -= vm.cpus;
    host.memoryAllocated -= vm.memoryBytes;
    if (this.isLeaving(vm, host)) {
      host.cpuLeaving -= vm.cpus;
      host.memoryLeaving -= vm.memoryBytes;
    }
    host.vms.delete(vm);
    host.version++;
    this.hostOfVm.delete(vm.id);
    for (const kind of ['affinity', 'antiAffinity'] as const) {
      for (const group of groupsOf(vm, kind)) {
        const byHost = this.groups[kind].get(group);
        const members = byHost?.get(host.index);
        members?.delete(vm);
        if (members?.size === 0) byHost?.delete(host.index);
      }
    }
  }

  /** Moves `vm` to `host` (placing it if it was not placed). */
  move(vm: VmView, host: HostLoad): void {
    this.remove(vm);
    this.add(vm, host);
  }

  /** Members of a group on one host, other than `except`. */
  membersOn(kind: keyof VmGroups, group: string, host: HostLoad, except: VmView): readonly VmView[] {
    const members = this.groups[kind].get(group)?.get(host.index);
    if (!members) return NONE;
    return [...members].filter((member) => member.id !== except.id);
  }

  /** Hosts holding members of a group other than `except`, each with those members. */
  groupHosts(kind: keyof VmGroups, group: string, except: VmView): Array<{ host: HostLoad; members: VmView[] }> {
    const byHost = this.groups[kind].get(group);
    if (!byHost) return [];
    const found: Array<{ host: HostLoad; members: VmView[] }> = [];
    for (const [index, members] of byHost) {
      const others = [...members].filter((member) => member.id !== except.id);
      const host = this.hosts[index];
      if (others.length > 0 && host) found.push({ host, members: others });
    }
    return found.sort((a, b) => a.host.index - b.host.index);
  }
}
