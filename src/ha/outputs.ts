/**
 * The engine's output: actions for the controller to carry out and events for the event log.
 * Every one carries a sentence a person can read without knowing the engine.
 */
import type { RestartGround, WaitingCode } from './state.js';

/** Something the controller must do. */
export type HaAction =
  /** Power the host off through its fence device, then check its power status; answer with a fence-result report. */
  | { kind: 'fence-host'; hostId: string; attempt: number; reason: string }
  /** Start the VM on `hostId` carrying `generation`; answer with a start-result report. Store the VM on `hostId` with this step's state. */
  | { kind: 'restart-vm'; vmId: string; fromHostId: string; hostId: string; generation: number; reason: string }
  /** Ask `hostId` whether it started the VM at `generation`; answer with a start-check report. */
  | { kind: 'check-start'; vmId: string; hostId: string; generation: number; reason: string }
  /** Stop the VM on `hostId` (isolation response, or an instance older than the newest generation). Best effort: an isolated host does it on its own. */
  | { kind: 'stop-vm'; vmId: string; hostId: string; generation?: number; reason: string }
  /** Reset the guest (hard reset, QEMU keeps running). */
  | { kind: 'reset-guest'; vmId: string; hostId: string; generation: number; reason: string }
  /** Record the VM as failed: HA gave up on it. Store it as not running. */
  | { kind: 'mark-vm-failed'; vmId: string; reason: string };

/** The names HA records events under. */
export type HaEventName =
  | 'host.ok'
  | 'host.suspect'
  | 'host.isolated'
  | 'host.failed'
  | 'host.fenced'
  | 'host.confirmed-down'
  | 'host.confirm-down-refused'
  | 'host.fence-failed'
  | 'vm.ha-restart'
  | 'vm.ha-waiting'
  | 'vm.ha-failed'
  | 'vm.ha-guest-reset'
  | 'vm.ha-guest-reset-limit';

/** What a vm.ha-restart event tells: from where to where, why it was allowed, and when each step happened. */
export interface RestartDetail {
  fromHostId: string;
  toHostId: string;
  generation: number;
  ground: RestartGround['kind'];
  /** 1 for the first host tried, 2 after one failed start, ... */
  attempt: number;
  steps: Array<{ step: string; at: number; hostId?: string }>;
}

/** One event. */
export interface HaEvent {
  name: HaEventName;
  at: number;
  hostId?: string;
  vmId?: string;
  /** Why, in a sentence. */
  reason: string;
  /** For vm.ha-waiting: what it waits for, as a code. */
  waiting?: WaitingCode;
  restart?: RestartDetail;
}

/** A duration as "3.2 s" (one decimal), or "60 min" from two minutes up, for reasons. */
export function formatSeconds(ms: number): string {
  if (Math.abs(ms) >= 120_000) return `${Number((ms / 60_000).toFixed(1))} min`;
  return `${(Math.round(ms / 100) / 10).toFixed(1)} s`;
}

/** What a ground means, in words, for reasons and restart events. */
export function describeGround(ground: RestartGround, hostId: string): string {
  switch (ground.kind) {
    case 'fenced':
      return `${hostId} was fenced: its fence device powered it off and a status check confirmed it`;
    case 'watchdog':
      return `${hostId} lost its lease and storage heartbeat and has a watchdog; the self-fence time and margin have passed, so it has killed its guests or been reset`;
    case 'confirmed-down':
      return `${ground.by} confirmed ${hostId} is down`;
    case 'reported-stopped':
      return ground.via === 'lease-report'
        ? `${hostId} is back and reports it does not run the VM`
        : `${hostId} is isolated and reports in its storage heartbeat that it stopped the VM`;
    case 'isolation-deadline':
      return `${hostId} is isolated and has a watchdog; its deadline to stop the VM (power-off isolation response) has passed`;
  }
}
