/**
 * Guest monitoring in the manner of vSphere's VM Monitoring: a guest whose agent has answered
 * since its QEMU started and then falls silent for too long is reset, at most so many times in a
 * window. A guest that never answered is not monitored (it may have no guest agent at all).
 */
import { formatSeconds } from './outputs.js';
import type { GuestMonitoringSettings } from './timings.js';

/** What the controller knows of the guest. */
export interface GuestObservation {
  /** When the VM's QEMU started (a guest reset does not restart it). */
  startedAt: number;
  /** When the guest agent last answered; undefined: never since the QEMU started. */
  lastGuestAnswerAt?: number;
}

/** healthy, not monitored, reset now, or reset needed but the limit is reached. */
export type GuestDecision =
  | { kind: 'healthy' }
  | { kind: 'not-monitored'; reason: string }
  | { kind: 'reset'; reason: string }
  | { kind: 'limit-reached'; reason: string; nextResetAt: number };

/** Decides whether to reset the guest now, given the times of its earlier resets. */
export function decideGuestReset(guest: GuestObservation, resets: readonly number[], now: number, settings: GuestMonitoringSettings): GuestDecision {
  const answered = guest.lastGuestAnswerAt;
  if (answered === undefined || answered < guest.startedAt) {
    return { kind: 'not-monitored', reason: 'its guest agent has not answered since the VM started' };
  }
  const lastReset = resets.length > 0 ? Math.max(...resets) : -Infinity;
  // Silence counts from the last answer, but never from within the grace after a start or reset.
  const silentSince = Math.max(answered, guest.startedAt + settings.startupGraceMs, lastReset + settings.startupGraceMs);
  const silence = now - silentSince;
  if (silence < settings.noAnswerResetMs) return { kind: 'healthy' };
  const recent = resets.filter((at) => at > now - settings.resetWindowMs).sort((a, b) => a - b);
  const why = `its guest agent has not answered for ${formatSeconds(now - answered)} (reset after ${formatSeconds(settings.noAnswerResetMs)})`;
  if (recent.length >= settings.maxResets) {
    const nextResetAt = (recent[recent.length - settings.maxResets] ?? now) + settings.resetWindowMs;
    return { kind: 'limit-reached', reason: `${why}, but it was reset ${recent.length} time(s) in the last ${formatSeconds(settings.resetWindowMs)}, the most allowed`, nextResetAt };
  }
  return { kind: 'reset', reason: `${why}; reset ${recent.length + 1} of at most ${settings.maxResets} in ${formatSeconds(settings.resetWindowMs)}` };
}

/** The reset times still inside the window at `now`, for keeping the record short. */
export function recentResets(resets: readonly number[], now: number, settings: GuestMonitoringSettings): number[] {
  return resets.filter((at) => at > now - settings.resetWindowMs);
}
