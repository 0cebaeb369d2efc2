/**
 * Maintenance mode: a host leaves placement, and its VMs move off it by live migration, one at a
 * time, each through the ordinary `migrate` operation; a VM on the host's own storage moves with
 * its disks mirrored into the destination's own storage. A VM that cannot move stays running where
 * it is and is named in the result; Drover never shuts one down to empty a host.
 */
import { DroverError } from '../../shared/errors.js';
import { planEvacuation, type EvacuationPlan } from '../../scheduler/evacuate.js';
import type { Actor } from '../actor.js';
import { ACTIVE_OPERATION_STATES, FINISHED_OPERATION_STATES, type HostRecord, type JsonValue, type OperationRecord } from '../store/records.js';
import type { OperationContext } from '../operations/work.js';
import { startMigration, type MigrationDeps } from '../vms/migrate.js';
import { readClusterView } from './view.js';
import { onAbort } from '../../shared/abort.js';

/** How long one VM's migration may take before the evacuation stops waiting for it. */
const MIGRATION_WAIT_MS = 60 * 60_000;

/** What entering maintenance was asked to do. */
export interface EnterMaintenance {
  dryRun?: boolean;
  force?: boolean;
}

/** The pre-flight report, and the evacuate operation unless it was a dry run. */
export interface MaintenanceEntry {
  plan: EvacuationPlan;
  operation: OperationRecord | null;
}

/** Plans the evacuation of host `name` from the store as it is now; NOT_FOUND for an unknown host. */
export async function evacuationPlan(deps: MigrationDeps, name: string): Promise<{ host: HostRecord; plan: EvacuationPlan }> {
  const host = await deps.hosts.get(name);
  return { host, plan: planEvacuation(await readClusterView(deps.store), host.id) };
}

/**
 * Puts a ready host in maintenance and starts the `evacuate` operation. Refuses (changing nothing)
 * a joining or offline host, a host under another operation, and, without `force`, a host some of
 * whose VMs cannot move. A dry run only plans.
 */
export async function enterMaintenance(deps: MigrationDeps, name: string, request: EnterMaintenance, actor: Actor): Promise<MaintenanceEntry> {
  const { host, plan } = await evacuationPlan(deps, name);
  if (host.state !== 'ready' && host.state !== 'maintenance') throw new DroverError('HOST_NOT_READY', `host ${host.name} is ${host.state}`);
  if (request.dryRun) return { plan, operation: null };
  if (!plan.complete && !request.force) {
    throw new DroverError('EVACUATION_INCOMPLETE', plan.unmovable.map((u) => `${u.vmName}: ${u.reason}`).join('; '));
  }
  const operation = await deps.store.transaction(async (tx) => {
    await tx.hosts.update(host.id, { state: 'maintenance' });
    await deps.events.record(
      { actor, objectType: 'host', objectId: host.id, objectName: host.name, action: 'host.maintenance-entered', hostId: host.id, result: 'success', detail: { moves: plan.moves.length, unmovable: plan.unmovable.map((u) => u.vmName), force: request.force === true } },
      tx,
    );
    return deps.operations.start({
      kind: 'evacuate',
      target: { type: 'host', id: host.id, name: host.name },
      actor,
      hostId: host.id,
      busyError: 'HOST_BUSY',
      tx,
      work: (ctx) => evacuate(deps, ctx, host, plan, actor),
    });
  });
  return { plan, operation };
}

/** Returns a host in maintenance to ready; refuses while its evacuation still runs. */
export async function exitMaintenance(deps: MigrationDeps, name: string, actor: Actor): Promise<HostRecord> {
  const host = await deps.hosts.get(name);
  return deps.store.transaction(async (tx) => {
    const current = await tx.hosts.get(host.id);
    if (current?.state !== 'maintenance') throw new DroverError('HOST_NOT_IN_MAINTENANCE', `host ${host.name} is ${current?.state ?? 'gone'}`);
    const [running] = await tx.operations.list({ states: ACTIVE_OPERATION_STATES, targetType: 'host', targetId: host.id, limit: 1 });
    if (running) throw new DroverError('HOST_BUSY', `operation ${running.id} (${running.kind}) is ${running.state}`);
    const updated = await tx.hosts.update(host.id, { state: 'ready' });
    await deps.events.record({ actor, objectType: 'host', objectId: host.id, objectName: host.name, action: 'host.maintenance-exited', hostId: host.id, result: 'success', detail: {} }, tx);
    return updated;
  });
}

/** Migrates each planned VM in turn; a move that fails is reported, and the VM stays running on the host. */
async function evacuate(deps: MigrationDeps, ctx: OperationContext, host: HostRecord, plan: EvacuationPlan, actor: Actor): Promise<JsonValue> {
  const moved: JsonValue[] = [];
  const failed: JsonValue[] = [];
  for (const [index, move] of plan.moves.entries()) {
    ctx.throwIfCancelled();
    await ctx.progress(index / Math.max(1, plan.moves.length), `moving ${move.vmName} to ${move.toHostName} (${index + 1} of ${plan.moves.length})`);
    const vm = await deps.store.vms.get(move.vmId);
    if (vm?.hostId !== host.id) continue;
    try {
      const child = await startMigration(deps, vm, { to: move.toHostName, storage: move.storage }, actor, 'maintenance', move.reason);
      const cancel = (): void => void deps.operations.cancel(child.id, actor).catch(() => undefined);
      // A cancel that came while the move was being started must still reach it.
      const stopListening = onAbort(ctx.signal, cancel);
      const done = await deps.operations.wait(child.id, MIGRATION_WAIT_MS).finally(stopListening);
      if (done.state === 'succeeded') moved.push({ vm: move.vmName, to: move.toHostName, storage: move.storage, operationId: child.id });
      else failed.push({ vm: move.vmName, to: move.toHostName, operationId: child.id, error: done.error?.message ?? (FINISHED_OPERATION_STATES.includes(done.state) ? done.state : 'still running') });
    } catch (err) {
      failed.push({ vm: move.vmName, to: move.toHostName, operationId: null, error: (err as Error).message });
    }
  }
  ctx.throwIfCancelled();
  await ctx.progress(1, `${moved.length} moved, ${failed.length} failed, ${plan.unmovable.length} cannot move`);
  return { host: host.name, moved, failed, unmovable: plan.unmovable.map((u) => ({ vm: u.vmName, reason: u.reason })) };
}
