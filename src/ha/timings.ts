/**
 * How fast HA notices a failure and how long it waits before it may act. Every duration is in
 * milliseconds on the controller's clock. Agents keep their side of the contract on their own
 * clocks; only durations cross between the two, never timestamps, so clock offset does not matter
 * (clock rate drift is what `safetyMarginMs` absorbs).
 */
import { DroverError } from '../shared/errors.js';

/** The timings of host liveness, fencing and restarts. */
export interface HaTimings {
  /** How often an agent renews its lease with the controller. */
  leaseIntervalMs: number;
  /** A host whose last lease renewal is this old is suspect: reported, nothing else happens. */
  suspectAfterMs: number;
  /** A host whose last lease renewal is this old has lost its lease. */
  leaseExpiryMs: number;
  /** How often a host writes its heartbeat slot in every shared pool it reaches. */
  storageHeartbeatIntervalMs: number;
  /** A storage heartbeat slot the controller has seen unchanged for this long has expired. */
  storageHeartbeatExpiryMs: number;
  /**
   * An agent that lost its lease (and, for keep-running VMs, its storage heartbeat too) must have
   * killed the HA guests it should give up within this time; its watchdog resets the host if it
   * cannot (a frozen kernel, a QEMU stuck in uninterruptible I/O). The watchdog timeout is at most this.
   */
  selfFenceMs: number;
  /** Added to every wait that relies on a host fencing itself: clock rate drift, watchdog timer granularity, storage polling, the kernel reaping QEMU. */
  safetyMarginMs: number;
  /** A fence attempt with no answer after this long has failed (no answer is never a confirmation). */
  fenceTimeoutMs: number;
  /** The pause between a failed fence attempt and the next one. */
  fenceRetryMs: number;
  /** A restart the target host has not acknowledged after this long is re-checked by asking the host. */
  startTimeoutMs: number;
  /** The pause between two such checks while the host stays silent. */
  startCheckIntervalMs: number;
  /** The next priority tier starts when every VM of the tiers above answered (guest ready) or this long after they could restart. */
  tierTimeoutMs: number;
}

/**
 * Defaults aimed at a restart within seconds. vSphere HA declares a host failed after 15 s without
 * heartbeats; Proxmox waits for its 120 s lock timeout plus a 60 s watchdog, about 2 minutes.
 *
 * - Lease renewal every 1 s; suspect after 3 s (three missed renewals: one dropped packet or a
 *   garbage-collection pause must not alarm anyone); expired after 6 s (long enough for systemd
 *   to restart a crashed agent, which re-attaches to its QEMUs in about 2 s).
 * - Storage heartbeat every 1 s, expired after 6 s, matching the lease so "isolated" and "failed"
 *   are told apart at the same moment.
 * - Self-fence 6 s: killing QEMU takes milliseconds; the rest is for a QEMU stuck in I/O, after
 *   which the watchdog (armed with this timeout) resets the host.
 * - Margin 3 s: covers clock rate drift (parts per million), 1 s watchdog and storage-poll
 *   granularity and the kernel reaping processes.
 * So a host with a fence device is restarted from about 6 s after it dies plus the fence (IPMI
 * power-off and status check: 1-5 s); one relying on its watchdog at 6 + 6 + 3 = 15 s.
 * - Fence timeout 10 s (an IPMI power-off and status check answer in 1-5 s), retried every 5 s.
 * - A restart unacknowledged after 10 s is re-checked every 5 s; QEMU is up in well under a second.
 * - Tier timeout 30 s: a guest that boots slower than that does not hold up the tiers below it.
 */
export const DEFAULT_HA_TIMINGS: Readonly<HaTimings> = Object.freeze({
  leaseIntervalMs: 1_000,
  suspectAfterMs: 3_000,
  leaseExpiryMs: 6_000,
  storageHeartbeatIntervalMs: 1_000,
  storageHeartbeatExpiryMs: 6_000,
  selfFenceMs: 6_000,
  safetyMarginMs: 3_000,
  fenceTimeoutMs: 10_000,
  fenceRetryMs: 5_000,
  startTimeoutMs: 10_000,
  startCheckIntervalMs: 5_000,
  tierTimeoutMs: 30_000,
});

/** Guest monitoring, as vSphere's VM Monitoring at high sensitivity. */
export interface GuestMonitoringSettings {
  /** A guest whose agent has not answered for this long is reset. */
  noAnswerResetMs: number;
  /** At most this many resets of one VM within `resetWindowMs`. */
  maxResets: number;
  resetWindowMs: number;
  /** After a start or reset the guest is left alone this long, so a slow boot is not a hang. */
  startupGraceMs: number;
}

/** vSphere's high sensitivity: 30 s without an answer, at most 3 resets an hour, 120 s minimum uptime. */
export const DEFAULT_GUEST_MONITORING: Readonly<GuestMonitoringSettings> = Object.freeze({
  noAnswerResetMs: 30_000,
  maxResets: 3,
  resetWindowMs: 3_600_000,
  startupGraceMs: 120_000,
});

/** Everything the engine is tuned by. */
export interface HaConfig {
  timings: HaTimings;
  guestMonitoring: GuestMonitoringSettings;
  /** How many other hosts a restart that failed is tried on before the VM is marked failed. */
  relocationLimit: number;
  /** A VM that stops on a live host (QEMU crash, self-fence) is restarted at most `max` times in `windowMs`, so a crash loop ends as failed. */
  vanishedRestartLimit: { max: number; windowMs: number };
}

/** The default configuration: the timings above, two relocations (three hosts tried in all), and three restarts an hour of a VM that keeps stopping (Proxmox's max_restart is 1 per start). */
export const DEFAULT_HA_CONFIG: Readonly<HaConfig> = Object.freeze({
  timings: DEFAULT_HA_TIMINGS,
  guestMonitoring: DEFAULT_GUEST_MONITORING,
  relocationLimit: 2,
  vanishedRestartLimit: Object.freeze({ max: 3, windowMs: 3_600_000 }),
});

/** Every way `config` is inconsistent, one sentence each; empty when it is sound. */
export function haConfigProblems(config: HaConfig): string[] {
  const t = config.timings;
  const problems: string[] = [];
  for (const [name, value] of Object.entries(t)) {
    if (!Number.isFinite(value) || value < 0) problems.push(`${name} must be a finite number of milliseconds, not ${value}`);
  }
  if (!(t.leaseIntervalMs > 0 && t.leaseIntervalMs < t.suspectAfterMs)) problems.push('leaseIntervalMs must be above 0 and below suspectAfterMs, or every host would look suspect');
  if (!(t.suspectAfterMs < t.leaseExpiryMs)) problems.push('suspectAfterMs must be below leaseExpiryMs');
  if (!(t.storageHeartbeatIntervalMs > 0 && t.storageHeartbeatIntervalMs < t.storageHeartbeatExpiryMs)) {
    problems.push('storageHeartbeatIntervalMs must be above 0 and below storageHeartbeatExpiryMs');
  }
  if (!(t.selfFenceMs > 0)) problems.push('selfFenceMs must be above 0: an agent needs time to kill its guests');
  if (!(t.fenceTimeoutMs > 0 && t.startTimeoutMs > 0 && t.startCheckIntervalMs > 0)) problems.push('fence and start timeouts must be above 0');
  if (!Number.isInteger(config.relocationLimit) || config.relocationLimit < 0) problems.push('relocationLimit must be a whole number, 0 or more');
  const vanished = config.vanishedRestartLimit;
  if (!Number.isInteger(vanished.max) || vanished.max < 0 || !(vanished.windowMs > 0)) problems.push('vanishedRestartLimit needs a whole max, 0 or more, and a window above 0');
  const g = config.guestMonitoring;
  if (!(g.noAnswerResetMs > 0 && g.resetWindowMs > 0 && g.startupGraceMs >= 0)) problems.push('guest monitoring durations must be above 0');
  if (!Number.isInteger(g.maxResets) || g.maxResets < 0) problems.push('guestMonitoring.maxResets must be a whole number, 0 or more');
  return problems;
}

/** Throws INVALID_ARGUMENT naming every problem of `config`; returns it unchanged when sound. */
export function assertHaConfig(config: HaConfig): HaConfig {
  const problems = haConfigProblems(config);
  if (problems.length > 0) throw new DroverError('INVALID_ARGUMENT', `HA configuration: ${problems.join('; ')}`);
  return config;
}
