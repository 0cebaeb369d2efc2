/**
 * Where a restarted VM goes: the scheduler's placeOne on a view of the cluster in which hosts that
 * are not ok take nothing and the VMs being restarted count nowhere until they are placed, so
 * every placement rule (capacity, anti-affinity, shared storage, tags) holds for restarts too.
 */
import type { HostRefusal } from '../scheduler/filters.js';
import type { ClusterView, VmView } from '../scheduler/model.js';
import { PlacementImpossibleError, placementFailureDetail, placeOne } from '../scheduler/place.js';

/**
 * The cluster as a restart sees it: every host in `unavailable` (host id → why) is offline, and
 * every VM in `hostOf` (VM id → host or null) is where that map says, not where the store has it.
 */
export function restartView(cluster: ClusterView, unavailable: ReadonlyMap<string, string>, hostOf: ReadonlyMap<string, string | null>): ClusterView {
  const hosts = cluster.hosts.map((host) => (unavailable.has(host.id) ? { ...host, state: 'offline' as const } : host));
  const vms = cluster.vms.map((vm): VmView => {
    if (!hostOf.has(vm.id)) return vm;
    // A VM being restarted holds no room on a migration destination either.
    const { movingTo: _, ...rest } = vm;
    return { ...rest, hostId: hostOf.get(vm.id) ?? null };
  });
  return { ...cluster, hosts, vms };
}

/** Where a restart goes, or why nowhere. */
export type RestartPlacement =
  | { placed: true; hostId: string; reason: string }
  /** `onlyTriedHostsLeft`: some host would take the VM, but only hosts the restart already failed on. */
  | { placed: false; reason: string; refusals: HostRefusal[]; onlyTriedHostsLeft: boolean };

/**
 * Chooses a host for restarting `vm` (a VM of `view`) under the cluster's weight, never one of
 * `excluded` (host id → why, the hosts its restart already failed on). Refusals of hosts in
 * `unavailable` or `excluded` carry HA's reason instead of "host is offline".
 */
export function placeRestart(view: ClusterView, vm: VmView, unavailable: ReadonlyMap<string, string>, excluded: ReadonlyMap<string, string>): RestartPlacement {
  const narrowed: ClusterView = { ...view, hosts: view.hosts.map((host) => (excluded.has(host.id) ? { ...host, state: 'offline' as const } : host)) };
  try {
    const decision = placeOne(narrowed, vm);
    return { placed: true, hostId: decision.hostId, reason: decision.reason };
  } catch (err) {
    if (!(err instanceof PlacementImpossibleError)) throw err;
    const refusals = err.refusals.map((refusal) => {
      const why = excluded.get(refusal.hostId) ?? unavailable.get(refusal.hostId);
      return why === undefined ? refusal : { ...refusal, reason: why };
    });
    return { placed: false, reason: placementFailureDetail([vm], refusals), refusals, onlyTriedHostsLeft: excluded.size > 0 && placesWithout(view, vm) };
  }
}

/** True when `vm` fits somewhere in `view` as it is. */
function placesWithout(view: ClusterView, vm: VmView): boolean {
  try {
    placeOne(view, vm);
    return true;
  } catch (err) {
    if (err instanceof PlacementImpossibleError) return false;
    throw err;
  }
}
