/**
 * Host liveness: from when the controller last accepted a lease renewal and last saw a storage
 * heartbeat change, decide whether a host is ok, suspect, isolated (alive but cut off from the
 * controller) or failed, and keep the fenced and confirmed-down verdicts until the host renews
 * its lease again.
 */
import type { HostObservation } from './model.js';
import { formatSeconds } from './outputs.js';
import type { HostHaRecord, HostLiveness } from './state.js';
import type { HaTimings } from './timings.js';

/** fresh: within the expiry. expired: the controller read the slots after the expiry and it had not changed. unknown: the controller has not read them since. */
export type StorageStatus = 'fresh' | 'expired' | 'unknown';

/** A host's liveness and the figures behind it. */
export interface LivenessVerdict {
  hostId: string;
  liveness: HostLiveness;
  reason: string;
  lease: 'fresh' | 'overdue' | 'expired';
  storage: StorageStatus;
  /** When the lease expires (expired), counting from the controller's start at the earliest. */
  leaseExpiresAt: number;
  /** When the storage heartbeat expires (expired), likewise. */
  storageExpiresAt: number;
}

/** What classification reads besides the observation. */
export interface LivenessContext {
  now: number;
  /** When the controller last read every heartbeat slot; undefined: not since it started. */
  storageReadAt: number | undefined;
  /** When this controller process began watching (HaState.watchingSince). */
  watchingSince: number;
  /** The engine's record of the host, for fencing, confirm-down and the verdict it had. */
  record?: Pick<HostHaRecord, 'liveness' | 'since' | 'fence' | 'confirmedDown'>;
}

/**
 * Classifies one host. Ages never count from before `watchingSince`: a restarted controller does
 * not know which renewals its predecessor accepted last, so it gives every host a fresh lease. A
 * host already found isolated or failed keeps that lease verdict until it renews again, so the
 * restart itself does not make a dead host look alive for ten seconds.
 */
export function classifyHost(hostId: string, observation: HostObservation | undefined, context: LivenessContext, timings: HaTimings): LivenessVerdict {
  const { now, storageReadAt, watchingSince, record } = context;
  const renewal = observation?.lastLeaseRenewalAt;
  const heartbeat = observation?.lastStorageHeartbeatAt;
  const renewedAfter = (at: number) => renewal !== undefined && renewal > at;
  const heartbeatAfter = (at: number) => heartbeat !== undefined && heartbeat > at;
  const leaseFrom = Math.max(renewal ?? watchingSince, watchingSince);
  const storageFrom = Math.max(heartbeat ?? watchingSince, watchingSince);
  const leaseExpiresAt = leaseFrom + timings.leaseExpiryMs;
  const storageExpiresAt = storageFrom + timings.storageHeartbeatExpiryMs;
  const leaseAge = now - leaseFrom;
  const storageAge = now - storageFrom;

  const wasCutOff = record !== undefined && (record.liveness === 'isolated' || record.liveness === 'failed');
  const lease: LivenessVerdict['lease'] =
    (wasCutOff && !renewedAfter(record.since)) || leaseAge >= timings.leaseExpiryMs ? 'expired' : leaseAge >= timings.suspectAfterMs ? 'overdue' : 'fresh';
  // Only a read made after the expiry proves the slot stayed unchanged; an old read proves nothing.
  const storage: StorageStatus =
    storageReadAt !== undefined && storageReadAt >= storageExpiresAt ? 'expired' : now < storageExpiresAt ? 'fresh' : 'unknown';
  const base = { hostId, lease, storage, leaseExpiresAt, storageExpiresAt };
  const renewalText = renewal === undefined ? `no lease renewal since the controller started watching ${formatSeconds(now - watchingSince)} ago` : `last lease renewal ${formatSeconds(now - renewal)} ago`;

  const fencedAt = record?.fence.fencedAt;
  if (fencedAt !== undefined && !renewedAfter(fencedAt)) {
    return { ...base, liveness: 'fenced', reason: `its fence device powered it off and a status check confirmed it ${formatSeconds(now - fencedAt)} ago` };
  }
  const confirmed = record?.confirmedDown;
  if (confirmed !== undefined && !renewedAfter(confirmed.at)) {
    return { ...base, liveness: 'confirmed-down', reason: `${confirmed.by} confirmed it is down ${formatSeconds(now - confirmed.at)} ago` };
  }
  if (lease === 'fresh') return { ...base, liveness: 'ok', reason: renewalText };
  if (lease === 'overdue') {
    return { ...base, liveness: 'suspect', reason: `lease overdue: ${renewalText} (suspect after ${formatSeconds(timings.suspectAfterMs)}, expires after ${formatSeconds(timings.leaseExpiryMs)})` };
  }
  // A failed host stays failed until a heartbeat is seen again, for the same reason as the lease.
  if (record?.liveness === 'failed' && !heartbeatAfter(record.since) && !renewedAfter(record.since)) {
    return { ...base, liveness: 'failed', reason: `lease and storage heartbeat expired: ${renewalText}, no storage heartbeat seen since` };
  }
  if (storage === 'fresh') {
    return { ...base, liveness: 'isolated', reason: `lease expired (${renewalText}) but its storage heartbeat is ${formatSeconds(storageAge)} old: the host runs but is cut off from the controller` };
  }
  if (storage === 'expired') {
    return { ...base, liveness: 'failed', reason: `lease and storage heartbeat expired: ${renewalText}, storage heartbeat ${formatSeconds(storageAge)} old` };
  }
  const readText = storageReadAt === undefined ? 'has not read the heartbeat slots since it started' : `last read the heartbeat slots ${formatSeconds(now - storageReadAt)} ago`;
  return { ...base, liveness: 'suspect', reason: `lease expired (${renewalText}) and the controller ${readText}, so it cannot tell a failed host from an isolated one` };
}

/** When a cut-off host has certainly lost both lease and storage heartbeat: the later of the two expiries. Its self-fence time counts from here. */
export function cutOffAt(verdict: Pick<LivenessVerdict, 'leaseExpiresAt' | 'storageExpiresAt'>): number {
  return Math.max(verdict.leaseExpiresAt, verdict.storageExpiresAt);
}

/** True when a host in this liveness takes no restarted VMs. */
export function isUnavailable(liveness: HostLiveness): boolean {
  return liveness !== 'ok';
}
