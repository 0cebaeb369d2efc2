/**
 * Migration targets: every host a running VM could be live-migrated to, judged by every filter
 * (not just the first that refuses, so a person sees all that stands in the way), scored by the
 * cluster's weight, with the host the scheduler would pick.
 */
import { DroverError } from '../shared/errors.js';
import { FILTERS, type HostRefusal, type NamedFilter } from './filters.js';
import type { ClusterView } from './model.js';
import { ClusterState } from './state.js';
import { type HostScore, scoreHost } from './weights.js';

/** The pool the VM's disks go to: `shared` (they stay in the VM's pool, which the target must reach) or `local` (mirrored into the target's own storage). */
export type MoveStorage = 'shared' | 'local';

/** One host judged as the destination of a move. */
export interface TargetVerdict {
  hostId: string;
  hostName: string;
  /** Every filter that refuses the host; empty when it is suitable. */
  refusals: HostRefusal[];
  /** The weight's score of the host after the move; only for suitable hosts. */
  score: HostScore | undefined;
}

/** Every other host, judged, and the one the scheduler recommends (the best score; ties to the first host). */
export interface MigrationTargets {
  vmId: string;
  vmName: string;
  targets: TargetVerdict[];
  recommended: TargetVerdict | undefined;
}

/** Judges every host but the VM's own as a live-migration destination; NOT_FOUND when the VM is not in the view. */
export function migrationTargets(cluster: ClusterView, vmId: string, storage: MoveStorage): MigrationTargets {
  const vm = cluster.vms.find((candidate) => candidate.id === vmId);
  if (!vm) throw new DroverError('NOT_FOUND', `VM ${vmId} is not in the cluster view`);
  // The VM counts as not placed, so its group members and its own allocation do not refuse a host.
  const state = new ClusterState(cluster, new Set([vm.id]));
  // A mirrored disk lands in the target's own storage, so pool reachability does not apply.
  const filters: readonly NamedFilter[] = storage === 'local' ? FILTERS.filter((filter) => filter.name !== 'storage') : FILTERS;
  const result: MigrationTargets = { vmId: vm.id, vmName: vm.name, targets: [], recommended: undefined };
  for (const host of state.hosts) {
    if (host.view.id === vm.hostId) continue;
    const refusals: HostRefusal[] = [];
    for (const { name, check } of filters) {
      const reason = check(host, vm, state);
      if (reason !== undefined) refusals.push({ hostId: host.view.id, hostName: host.view.name, filter: name, reason });
    }
    const score = refusals.length === 0 ? scoreHost(state.policy.weight, host, vm.cpus, vm.memoryBytes) : undefined;
    const verdict: TargetVerdict = { hostId: host.view.id, hostName: host.view.name, refusals, score };
    result.targets.push(verdict);
    if (score && (!result.recommended?.score || score.total > result.recommended.score.total)) result.recommended = verdict;
  }
  return result;
}
