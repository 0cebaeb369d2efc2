/** Writing and reading a VM's placement history: one row per stay on a host. */
import { randomUUID } from 'node:crypto';
import type { Actor } from '../actor.js';
import { now, type HostRecord, type JsonValue, type PlacementReason, type PlacementRecord, type VmRecord } from '../store/records.js';
import type { Repositories } from '../store/store.js';

/** What a placement row records besides the VM and host. */
export interface PlacementCause {
  reason: PlacementReason;
  actor: Actor;
  operationId: string | null;
  detail?: JsonValue;
}

/**
 * Closes the VM's open placement (if any) and opens one on `host`, both at `at`. Call it inside
 * the transaction that sets the VM's hostId, so the history and the record never disagree.
 */
export async function recordPlacement(repos: Repositories, vm: Pick<VmRecord, 'id' | 'name'>, host: Pick<HostRecord, 'id' | 'name'>, cause: PlacementCause, at = now()): Promise<PlacementRecord> {
  await repos.placements.close(vm.id, at);
  const record: PlacementRecord = {
    id: randomUUID(),
    vmId: vm.id,
    vmName: vm.name,
    hostId: host.id,
    hostName: host.name,
    startedAt: at,
    endedAt: null,
    reason: cause.reason,
    actor: cause.actor.name,
    operationId: cause.operationId,
    detail: cause.detail ?? {},
  };
  await repos.placements.insert(record);
  return record;
}
