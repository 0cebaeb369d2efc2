/**
 * Judging live-migration destinations for one VM with the scheduler's filters, from the store as it
 * is now: the `migration-targets` route shows the verdicts, and `migrate` refuses an unsuitable
 * `--to` or, without one, takes the scheduler's recommendation.
 */
import { DroverError } from '../../shared/errors.js';
import { migrationTargets, type MigrationTargets, type MoveStorage, type TargetVerdict } from '../../scheduler/targets.js';
import type { VmRecord } from '../store/records.js';
import type { Repositories } from '../store/store.js';
import { readClusterView } from '../cluster/view.js';

/** The pool names a move request takes: `local`, `shared`, or `copy`, the older name of `local` (kept so existing callers work). */
export type RequestedStorage = MoveStorage | 'copy';

/** The pool a request names, `copy` read as `local`; undefined when it names none. */
export function requestedStorage(storage: RequestedStorage | undefined): MoveStorage | undefined {
  return storage === 'copy' ? 'local' : storage;
}

/** Where a VM's disks go by default: a VM in the shared pool keeps them there, any other has them mirrored to the destination's own storage. */
export function defaultMoveStorage(vm: Pick<VmRecord, 'spec'>): MoveStorage {
  return vm.spec.pool === 'shared' ? 'shared' : 'local';
}

/** Every host but the VM's own, judged as the destination of moving `vm` with its disks going to pool `storage` (default: by its pool). */
export async function judgeTargets(repos: Repositories, vm: VmRecord, storage?: RequestedStorage): Promise<MigrationTargets> {
  return migrationTargets(await readClusterView(repos), vm.id, requestedStorage(storage) ?? defaultMoveStorage(vm));
}

/** The reasons of a verdict, one per refusing filter. */
export function verdictReasons(verdict: TargetVerdict): string[] {
  return verdict.refusals.map((refusal) => refusal.reason);
}

/** HOST_UNSUITABLE when `hostId` is refused (by every reason); returns its verdict otherwise. */
export function requireSuitable(targets: MigrationTargets, hostId: string, hostName: string): TargetVerdict {
  const verdict = targets.targets.find((target) => target.hostId === hostId);
  if (!verdict) throw new DroverError('MIGRATION_SAME_HOST', `${targets.vmName} is on ${hostName}`);
  if (verdict.refusals.length > 0) throw new DroverError('HOST_UNSUITABLE', `${targets.vmName} cannot move to ${hostName}: ${verdictReasons(verdict).join('; ')}`);
  return verdict;
}

/** The scheduler's choice of destination; PLACEMENT_IMPOSSIBLE naming every host's reasons when none is suitable. */
export function requireRecommended(targets: MigrationTargets): TargetVerdict {
  if (targets.recommended) return targets.recommended;
  const why = targets.targets.map((target) => `${target.hostName}: ${verdictReasons(target).join(', ')}`);
  throw new DroverError('PLACEMENT_IMPOSSIBLE', `no host can take ${targets.vmName} by live migration${why.length ? `: ${why.join('; ')}` : ': there is no other host'}`);
}
