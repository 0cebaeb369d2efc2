/**
 * Evacuation planning for maintenance mode: where each VM on a host would go, and which cannot
 * move and why. The plan is built move by move on one state in which the host is already in
 * maintenance, so every move sees the earlier ones (anti-affinity holds across the whole
 * evacuation, and capacity taken by an earlier move is gone for the later ones). VMs sharing an
 * affinity group move together to one host, or none of them moves. Largest first, like placement.
 * A VM on the host's own storage moves too: its disks are mirrored into the destination's own
 * storage during the migration, so pool reachability does not hold it back, and its cost counts
 * the disks as well as the memory.
 */
import { DroverError } from '../shared/errors.js';
import { HostChooser } from './choose.js';
import type { HostRefusal } from './filters.js';
import type { ClusterView, VmView } from './model.js';
import { ClusterState, type HostLoad } from './state.js';
import type { MoveStorage } from './targets.js';
import { affinityUnits, largestFirst } from './units.js';
import { describeWin } from './weights.js';

/** The pool a mirrored VM is planned in: the destination's own storage, whichever host that is. */
const DESTINATION_STORAGE = "(the destination's own storage)";

/** Where one VM goes. */
export interface EvacuationMove {
  vmId: string;
  vmName: string;
  toHostId: string;
  toHostName: string;
  /** The pool the disks go to: shared (they stay where they are) or local (mirrored into the destination's own storage). */
  storage: MoveStorage;
  /** Memory the live migration copies at least once, in bytes (0 for a move by restart). */
  memoryBytes: number;
  /** The guest moves by a restart (a container's cold migration): it is down from its stop to its start. */
  restart: boolean;
  /** Disk bytes mirrored to the destination (at most; 0 when the disks stay in a shared pool). */
  diskBytes: number;
  /** What the move copies: memory plus mirrored disks, in bytes. */
  costBytes: number;
  /** Why this host won. */
  reason: string;
  /** The other VMs of its affinity group moving with it, by name. */
  movedWith: string[];
}

/** A VM that cannot leave the host, why, and (when filters were the obstacle) every host's refusal. */
export interface UnmovableVm {
  vmId: string;
  vmName: string;
  reason: string;
  refusals: HostRefusal[];
}

/** The evacuation of one host: the moves in order, and what would stay behind. */
export interface EvacuationPlan {
  hostId: string;
  hostName: string;
  moves: EvacuationMove[];
  unmovable: UnmovableVm[];
  totalCostBytes: number;
  /** True when every VM on the host has somewhere to go. */
  complete: boolean;
}

/** Plans moving every VM off `hostId` as if the host were in maintenance; throws NOT_FOUND for an unknown host. */
export function planEvacuation(cluster: ClusterView, hostId: string): EvacuationPlan {
  const source = cluster.hosts.find((host) => host.id === hostId);
  if (!source) throw new DroverError('NOT_FOUND', `host ${hostId} is not in the cluster view`);
  const mirrored = new Set(cluster.vms.filter((vm) => vm.hostId === hostId && cluster.pools.some((pool) => pool.name === vm.pool && pool.kind === 'local')).map((vm) => vm.id));
  const inMaintenance: ClusterView = {
    ...cluster,
    hosts: cluster.hosts.map((host) => (host.id === hostId ? { ...host, state: 'maintenance' as const } : host)),
    // Disks mirrored to the destination land in its own storage, which every host has.
    pools: [...cluster.pools, { name: DESTINATION_STORAGE, kind: 'shared', hosts: cluster.hosts.map((host) => host.id) }],
    vms: cluster.vms.map((vm) => (mirrored.has(vm.id) ? { ...vm, pool: DESTINATION_STORAGE } : vm)),
  };
  const state = new ClusterState(inMaintenance);
  const from = state.host(hostId) as HostLoad; // Present: the view was just checked for it.
  const chooser = new HostChooser(state);
  const plan: EvacuationPlan = { hostId, hostName: source.name, moves: [], unmovable: [], totalCostBytes: 0, complete: true };
  const residents = inMaintenance.vms.filter((vm) => vm.hostId === hostId);
  for (const unit of largestFirst(state, affinityUnits(residents))) {
    const blocked = blockers(unit, mirrored);
    if (blocked.size > 0) {
      for (const vm of unit) plan.unmovable.push({ vmId: vm.id, vmName: vm.name, reason: blocked.get(vm) ?? groupBlocked(unit, blocked), refusals: [] });
      continue;
    }
    for (const vm of unit) state.remove(vm);
    const choice = chooser.choose(unit);
    if (!choice.host || !choice.score) {
      for (const vm of unit) state.add(vm, from);
      const refusals = choice.rejected.filter((refusal) => refusal.hostId !== hostId);
      const reason = refusals.length ? 'no other host passes the placement filters; see refusals' : 'there is no other host';
      for (const vm of unit) plan.unmovable.push({ vmId: vm.id, vmName: vm.name, reason, refusals });
      continue;
    }
    const reason = describeWin(choice.score, choice.runnerUp);
    for (const vm of unit) {
      state.add(vm, choice.host);
      const movedWith = unit.filter((other) => other !== vm).map((other) => other.name);
      const storage: MoveStorage = mirrored.has(vm.id) ? 'local' : 'shared';
      const diskBytes = storage === 'local' ? (vm.diskBytes ?? 0) : 0;
      // A guest moved by a restart copies no memory, only its disk.
      const memoryBytes = vm.movesByRestart ? 0 : vm.memoryBytes;
      const costBytes = memoryBytes + diskBytes;
      plan.moves.push({ vmId: vm.id, vmName: vm.name, toHostId: choice.host.view.id, toHostName: choice.host.view.name, storage, memoryBytes, restart: vm.movesByRestart ?? false, diskBytes, costBytes, reason, movedWith });
      plan.totalCostBytes += costBytes;
    }
  }
  plan.complete = plan.unmovable.length === 0;
  return plan;
}

/** Members of the unit that cannot move whatever the other hosts look like, with why. */
function blockers(unit: readonly VmView[], mirrored: ReadonlySet<string>): Map<VmView, string> {
  const found = new Map<VmView, string>();
  for (const vm of unit) {
    if (vm.movingTo !== undefined) found.set(vm, 'a live migration of it is already in flight');
    else if (!vm.liveMigratable) found.set(vm, 'not live-migratable: stop it, or move it while stopped');
    // Mirroring copies the disks' current data only; their internal snapshots would stay behind and be deleted.
    else if (mirrored.has(vm.id) && (vm.snapshots ?? 0) > 0) found.set(vm, `its disks are on this host's own storage and hold ${vm.snapshots} snapshot(s), which mirroring them would lose: delete the snapshots, or stop the VM`);
  }
  return found;
}

/** Why a movable member of an affinity unit stays: another member cannot move. */
function groupBlocked(unit: readonly VmView[], blocked: ReadonlyMap<VmView, string>): string {
  const names = [...blocked.keys()].map((vm) => vm.name).join(', ');
  return `its affinity group (${unit.map((vm) => vm.name).join(', ')}) moves together, and ${names} cannot move`;
}
