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

/** How a VM's disks follow it by default: a VM in the shared pool keeps them there, any other copies them. */
export function defaultMoveStorage(vm: Pick<VmRecord, 'spec'>): MoveStorage {
  return vm.spec.pool === 'shared' ? 'shared' : 'copy';
}

/** Every host but the VM's own, judged as the destination of moving `vm` with `storage`. */
export async function judgeTargets(repos: Repositories, vm: VmRecord, storage: MoveStorage = defaultMoveStorage(vm)): Promise<MigrationTargets> {
  return migrationTargets(await readClusterView(repos), vm.id, storage);
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
