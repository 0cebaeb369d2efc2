/**
 * The engine's memory between steps, as plain JSON: the controller saves it with every step (in
 * the same transaction as the store changes the step's actions make) and a restarted controller
 * restores it, so a failover resumes where it was without a second start.
 */
import { DroverError } from '../shared/errors.js';

/**
 * ok: lease renewed recently. suspect: lease overdue (or expired while the storage heartbeats
 * cannot be read). isolated: lease expired but storage heartbeat fresh, alive but cut off.
 * failed: both expired. fenced: a fence device powered it off, its status check confirmed.
 * confirmed-down: an administrator stated it is down.
 */
export type HostLiveness = 'ok' | 'suspect' | 'isolated' | 'failed' | 'fenced' | 'confirmed-down';

/** Fence attempts on one host. */
export interface FenceRecord {
  /** Attempts sent so far. */
  attempt: number;
  inFlight?: { attempt: number; issuedAt: number };
  /** No new attempt before this time. */
  retryAt?: number;
  lastFailure?: { attempt: number; at: number; reason: string };
  /** When a status check confirmed the host off. */
  fencedAt?: number;
}

/** What the engine remembers of one host. */
export interface HostHaRecord {
  hostId: string;
  liveness: HostLiveness;
  /** When it entered that liveness. */
  since: number;
  fence: FenceRecord;
  confirmedDown?: { at: number; by: string };
}

/** Why a VM may be started elsewhere although its old host might have run it. */
export type RestartGround =
  /** A fence device powered the old host off and a status check confirmed it. */
  | { kind: 'fenced'; at: number }
  /** Lease and storage heartbeat certainly expired, the host has a watchdog, and the self-fence wait and margin have passed. */
  | { kind: 'watchdog'; at: number; deadline: number }
  /** An administrator confirmed the old host is down. */
  | { kind: 'confirmed-down'; at: number; by: string }
  /** The old host itself said it does not run the VM: after it came back (lease report) or while isolated (storage heartbeat). */
  | { kind: 'reported-stopped'; at: number; via: 'lease-report' | 'storage-heartbeat' }
  /** Power-off isolation: the isolated host has a watchdog and its deadline to stop the VM has passed. */
  | { kind: 'isolation-deadline'; at: number; deadline: number };

/**
 * protected: runs (or is stopped) where the store says, nothing to do. waiting: its host is lost,
 * no ground for a restart yet. queued: may restart, waiting for its tier or a host. starting:
 * a restart was sent. started: the host runs it, its guest has not answered yet. failed: HA gave up.
 */
export type VmPhase = 'protected' | 'waiting' | 'queued' | 'starting' | 'started' | 'failed';

/** Why a VM in failover waits, in a word the UI and the integration can switch on. */
export type WaitingCode =
  | 'fence-pending'
  | 'fence-failing'
  | 'self-fence-deadline'
  | 'isolated-stop'
  | 'storage-unknown'
  | 'confirm-down'
  | 'host-unknown'
  | 'tier'
  | 'no-host';

/** A restart decided and recorded before the start was sent. */
export interface StartIntent {
  hostId: string;
  generation: number;
  issuedAt: number;
  acknowledgedAt?: number;
  /** When to ask the host whether it started the VM, if it has not said by then. */
  checkDueAt: number;
}

/** One step of a failover, for the restart event's time line. */
export interface FailoverStep {
  step: string;
  at: number;
  hostId?: string;
}

/** A VM's way from a lost host to a running instance elsewhere. */
export interface FailoverRecord {
  /** The host that may still run the VM: the one it was lost on. */
  fromHostId: string;
  lostAt: number;
  lostReason: string;
  ground?: RestartGround;
  /** When the ground held, which starts its tier's clock. */
  eligibleAt?: number;
  /** Hosts the restart failed on, which are not tried again. */
  failedStarts: Array<{ hostId: string; at: number; reason: string }>;
  intent?: StartIntent;
  steps: FailoverStep[];
  waiting?: { code: WaitingCode; since: number };
}

/** What the engine remembers of one HA VM. */
export interface VmHaRecord {
  vmId: string;
  phase: VmPhase;
  /** The newest generation issued; a start or resume of an older one is refused. */
  generation: number;
  /** Where the newest generation runs or is being started; null: nowhere. */
  hostId: string | null;
  failover?: FailoverRecord;
  failedReason?: string;
  /** When the guest was reset by guest monitoring, within the reset window. */
  guestResets: number[];
  guestLimitReportedAt?: number;
  /** Stale instances already told to stop, as `host@generation`. */
  staleStops: string[];
  /** The last lease report that listed the VM at its newest generation. */
  lastSeen?: { hostId: string; at: number };
  /** When the VM was restarted because its host stopped listing it, within the restart window. */
  vanishedRestarts?: number[];
}

/** The engine's whole memory; plain JSON. */
export interface HaState {
  format: 1;
  /** When this controller process began watching; lease and heartbeat ages never count from earlier. */
  watchingSince: number;
  hosts: Record<string, HostHaRecord>;
  vms: Record<string, VmHaRecord>;
}

/** A fresh state for a controller that starts watching at `now`. */
export function createHaState(now: number): HaState {
  return { format: 1, watchingSince: now, hosts: {}, vms: {} };
}

/** The record of one host, created as ok (as of `now`) the first time it is asked for. */
export function hostRecord(state: HaState, hostId: string, now: number): HostHaRecord {
  return (state.hosts[hostId] ??= { hostId, liveness: 'ok', since: now, fence: { attempt: 0 } });
}

/** The record of one VM, created as protected at generation 0 the first time it is asked for. */
export function vmRecord(state: HaState, vmId: string): VmHaRecord {
  return (state.vms[vmId] ??= { vmId, phase: 'protected', generation: 0, hostId: null, guestResets: [], staleStops: [] });
}

/** The state as JSON text, to be saved with the step's store changes. */
export function serializeHaState(state: HaState): string {
  return JSON.stringify(state);
}

/**
 * The state saved by an earlier controller process, resumed at `now`: lease and heartbeat ages
 * count from `now` (renewals the old process accepted after its last save are unknown), unanswered
 * restarts are re-checked at once (their answers went to the old process), and fence attempts in
 * flight are sent again (a second power-off is harmless). Throws INVALID_ARGUMENT on text that is
 * not a saved state.
 */
export function restoreHaState(json: string, now: number): HaState {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (err) {
    throw new DroverError('INVALID_ARGUMENT', 'saved HA state is not JSON', { cause: err });
  }
  if (!isSavedState(parsed)) throw new DroverError('INVALID_ARGUMENT', 'saved HA state has an unknown format');
  const state = parsed;
  state.watchingSince = now;
  for (const host of Object.values(state.hosts)) {
    if (host.fence.inFlight) {
      delete host.fence.inFlight;
      host.fence.retryAt = now;
    }
  }
  for (const vm of Object.values(state.vms)) {
    const intent = vm.failover?.intent;
    if (intent && intent.acknowledgedAt === undefined) intent.checkDueAt = now;
  }
  return state;
}

/**
 * Records a start HA did not decide (a user start, the first start under HA) on `hostId`, and
 * returns the generation the start must carry. Every start of an HA VM needs one, or the agent's
 * generation check would refuse it after an earlier HA restart.
 */
export function nextGeneration(previous: HaState, vmId: string, hostId: string): { state: HaState; generation: number } {
  const state = structuredClone(previous);
  const vm = vmRecord(state, vmId);
  vm.generation += 1;
  vm.phase = 'protected';
  vm.hostId = hostId;
  delete vm.failover;
  delete vm.failedReason;
  delete vm.lastSeen;
  return { state, generation: vm.generation };
}

function isSavedState(value: unknown): value is HaState {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<HaState>; // Checked field by field below.
  return v.format === 1 && typeof v.hosts === 'object' && v.hosts !== null && typeof v.vms === 'object' && v.vms !== null;
}
