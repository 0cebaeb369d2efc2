/**
 * Settling a hand-over whose answer was lost. The source does not know whether the destination runs
 * the guest, so it keeps the VM held (paused, no resume) and asks the destination until it says:
 * completed there → the guest is stopped and removed here; failed or cancelled before post-copy →
 * the guest ran nowhere and resumes here. A destination whose agent restarted and forgot the
 * migration is asked for the VM itself instead. Any other answer, or none, keeps it held; a person can
 * still kill the VM here, which ends the wait.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DroverError, isDroverError } from '../shared/errors.js';
import type { MigrationView } from './schemas.js';

/** What settling needs: the destination's view, and the guest's QEMU here. */
export interface UnresolvedHandover {
  /** The destination's view of the migration; rejects when it cannot be asked (or does not know it: MIGRATION_NOT_FOUND). */
  askDestination(): Promise<MigrationView>;
  /**
   * For a destination that no longer knows the migration (its agent restarted and forgot it): whether it runs the
   * guest as a VM of its own; rejects when it cannot tell.
   */
  destinationRunsGuest(): Promise<boolean>;
  /** True while the guest's QEMU still runs here (paused). */
  stillHere(): boolean;
  /** Stops the guest's QEMU here and forgets the VM: it runs on the destination. */
  stopHere(): Promise<void>;
  /** Runs the guest here again: the destination never ran it. */
  resumeHere(): Promise<void>;
  /** True when the guest went into post-copy: its memory is split between the hosts, so it can never resume here. */
  postcopy: boolean;
}

/** How the wait ended. */
export type Settlement = 'runs-on-destination' | 'resumed-here' | 'killed-here' | 'postcopy-lost';

/**
 * Asks the destination every `pollMs` until the hand-over is settled, and acts on it. Never throws;
 * `signal` ends the wait early (the agent is shutting down) with undefined.
 */
export async function settleHandover(handover: UnresolvedHandover, pollMs: number, signal?: AbortSignal): Promise<Settlement | undefined> {
  while (!signal?.aborted) {
    if (!handover.stillHere()) return 'killed-here';
    const there = await destinationRunsIt(handover);
    if (there === true) {
      await handover.stopHere().catch(() => undefined);
      return 'runs-on-destination';
    }
    if (there === false) {
      if (handover.postcopy) return 'postcopy-lost';
      await handover.resumeHere().catch(() => undefined);
      return 'resumed-here';
    }
    await sleep(pollMs, undefined, signal ? { signal } : {}).catch(() => undefined);
  }
  return undefined;
}

/**
 * Whether the destination runs the guest: from its view of the migration (completed, or failed or
 * cancelled), or from its own VMs when it no longer knows the migration. Undefined while it cannot
 * say: no answer, or a destination still receiving.
 */
async function destinationRunsIt(handover: UnresolvedHandover): Promise<boolean | undefined> {
  const view = await handover.askDestination().catch((err: unknown) => (isDroverError(err) ? err : undefined));
  if (view instanceof DroverError) return view.code === 'MIGRATION_NOT_FOUND' ? handover.destinationRunsGuest().catch(() => undefined) : undefined;
  if (view?.state === 'completed') return true;
  if (view?.state === 'failed' || view?.state === 'cancelled') return false;
  return undefined;
}
