/**
 * Live migration driven by the controller: checks the move up front, asks the source agent to
 * migrate to the destination agent, follows its progress, and records the move once it is done.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { DroverError, ERRORS, isDroverError, type ErrorCode } from '../../shared/errors.js';
import type { MigrationView } from '../../migration/schemas.js';
import type { VmView } from '../../vms/schemas.js';
import type { Actor } from '../actor.js';
import type { EventLog } from '../events/event-log.js';
import { hostByName, type HostService } from '../hosts/service.js';
import type { OperationRunner } from '../operations/runner.js';
import type { OperationContext } from '../operations/work.js';
import type { HostRecord, JsonValue, OperationRecord, PlacementReason, VmRecord } from '../store/records.js';
import type { Repositories, Store } from '../store/store.js';
import { describeWin } from '../../scheduler/weights.js';
import { recordGuestReady } from './guest-ready.js';
import { prepareNetworksOnHost, refreshNetworkPeers } from '../networks/attach.js';
import { recordPlacement } from './placements.js';
import type { MigrateVmBody } from './schema.js';
import type { MoveStorage } from '../../scheduler/targets.js';
import { defaultMoveStorage, judgeTargets, requestedStorage, requireRecommended, requireSuitable, verdictReasons } from './targets.js';
import { onAbort } from '../../shared/abort.js';
import { guestCapabilities } from '../../drivers/capabilities.js';

const POLL_MS = 250;
/** Consecutive failed progress polls tolerated before the source agent counts as lost. */
const POLL_FAILURES_ALLOWED = 20;
/** Consecutive failed polls after which the destination is asked whether the VM already runs there. */
const SOURCE_LOST_AFTER = 3;
const FINISHED = new Set(['completed', 'failed', 'cancelled']);
/** How long an unresolved hand-over is followed: the source keeps asking the destination and settles it as completed or failed. */
const UNRESOLVED_WAIT_MS = 120_000;
const MiB = 1024 * 1024;
/** How long a moved VM's guest agent gets to answer on the destination before the move is reported anyway. */
const GUEST_READY_WAIT_MS = 15_000;

/** What the migrate operation needs from the controller. */
export interface MigrationDeps {
  store: Store;
  events: EventLog;
  operations: OperationRunner;
  hosts: HostService;
}

/**
 * Refuses a move that cannot work (coded errors; HOST_UNSUITABLE with every filter's reason for a
 * `to` the scheduler refuses), else starts the `migrate` operation. Without `to`, the scheduler's
 * recommended host is taken (PLACEMENT_IMPOSSIBLE when none passes). `reason` and `plannedWhy` go into the history.
 */
export async function startMigration(
  deps: MigrationDeps,
  vm: VmRecord,
  body: MigrateVmBody,
  actor: Actor,
  reason: PlacementReason = 'user',
  /** Why the planner (maintenance, balancer) chose `body.to`, for the history; absent: the caller named it. */
  plannedWhy?: string,
): Promise<OperationRecord> {
  const capabilities = guestCapabilities(vm.spec.type);
  if (!capabilities.liveMigrate && !capabilities.coldMigrate) throw new DroverError('GUEST_TYPE_UNSUPPORTED', `a ${vm.spec.type ?? 'vm'} cannot move between hosts`);
  // A cold move stops the guest anyway, so it moves a stopped one too.
  const movable = capabilities.liveMigrate ? ['running', 'paused'] : ['running', 'paused', 'stopped', 'crashed'];
  if (!movable.includes(vm.state)) throw new DroverError('VM_NOT_RUNNING', `${vm.name} is ${vm.state}; live migration moves a running VM`);
  if (!vm.hostId) throw new DroverError('VM_NOT_FOUND', `${vm.name} is not placed on a host`);
  const from = await deps.store.hosts.get(vm.hostId);
  if (!from) throw new DroverError('NOT_FOUND', `host ${vm.hostId} of ${vm.name}`);
  const storage = requestedStorage(body.storage) ?? defaultMoveStorage(vm);
  // The agents mirror disks only into the destination's own directory; nothing moves a host's disks into the shared pool live.
  if (storage === 'shared' && vm.spec.pool !== 'shared') {
    throw new DroverError('MIGRATION_STORAGE_UNAVAILABLE', `${vm.name} keeps its disks in ${from.name}'s own storage; a live migration cannot move them into the shared pool: migrate with --storage local`);
  }
  // Mirroring copies the disks' current data only: the internal snapshots would be left behind and deleted with the source disks.
  if (storage === 'local' && vm.snapshots.length > 0) {
    throw new DroverError('MIGRATION_STORAGE_UNAVAILABLE', `${vm.name} has ${vm.snapshots.length} snapshot(s), which mirroring its disks would lose; delete them, or move it in a shared pool`);
  }
  // Judged, held and started in one transaction: concurrent moves and creates see the room each takes, and a move
  // refused (VM_BUSY: another operation runs on the VM) holds nothing.
  return deps.store.transaction(async (tx) => {
    const current = await tx.vms.get(vm.id);
    if (current?.movingTo) {
      const moving = await tx.hosts.get(current.movingTo);
      throw new DroverError('VM_BUSY', `${vm.name} is already moving to ${moving?.name ?? current.movingTo}`);
    }
    const { to, why, refused, reason: decided } = await chooseDestination(tx, vm, from, storage, body, reason, plannedWhy);
    await tx.vms.update(vm.id, { movingTo: to.id });
    const hold = { kept: false };
    return deps.operations.start({
      kind: 'migrate',
      target: { type: 'vm', id: vm.id, name: vm.name },
      actor,
      hostId: from.id,
      busyError: 'VM_BUSY',
      tx,
      work: (ctx) => migrate(deps, ctx, { vm, from, to, storage, body, actor, reason: decided, why, refused, hold }),
      // Also after a cancel that came before the work began; not while the source may still be moving the VM.
      settle: async () => {
        if (!hold.kept) await releaseDestination(deps.store, vm.id, to.id);
      },
    });
  });
}

interface Destination {
  to: HostRecord;
  why: string;
  refused: Array<{ host: string; reasons: string[] }>;
  reason: PlacementReason;
}

/** The host `vm` moves to: the caller's `to` when every filter passes it, else the scheduler's pick (reason 'scheduler' then). */
async function chooseDestination(tx: Repositories, vm: VmRecord, from: HostRecord, storage: MoveStorage, body: MigrateVmBody, reason: PlacementReason, plannedWhy: string | undefined): Promise<Destination> {
  const targets = await judgeTargets(tx, vm, storage);
  const refused = targets.targets.filter((target) => target.refusals.length > 0).map((target) => ({ host: target.hostName, reasons: verdictReasons(target) }));
  let to: HostRecord;
  let why: string;
  if (body.to !== undefined) {
    to = await hostByName(tx, body.to);
    if (to.id === from.id) throw new DroverError('MIGRATION_SAME_HOST', `${vm.name} is on ${to.name}`);
    if (to.state !== 'ready' || to.health !== 'healthy') throw new DroverError('MIGRATION_TARGET_NOT_READY', `host ${to.name} is ${to.state} and ${to.health}`);
    requireSuitable(targets, to.id, to.name);
    why = plannedWhy ?? `${to.name} named by the caller; it passes every placement filter`;
  } else {
    const chosen = requireRecommended(targets);
    to = await hostByName(tx, chosen.hostName);
    why = chosen.score ? describeWin(chosen.score) : `${to.name} passes every placement filter`;
    if (reason === 'user') reason = 'scheduler';
  }
  if (!to.credential) throw new DroverError('HOST_UNREACHABLE', `host ${to.name} has no agent credential`);
  return { to, why, refused, reason };
}

/** Gives up the room a move held on `hostId`, unless a later move holds it now. Never throws: the next controller start clears what is left. */
async function releaseDestination(store: Store, vmId: string, hostId: string): Promise<void> {
  await store
    .transaction(async (tx) => {
      const current = await tx.vms.get(vmId);
      if (current?.movingTo === hostId) await tx.vms.update(vmId, { movingTo: null });
    })
    .catch(() => undefined);
}

/** Which held destinations releaseStaleDestinations may clear. */
export interface StaleDestinations {
  /** Whose moves: the owner of the VM's latest migrate operation must pass (default any). A live controller may still follow its own after the operation ended. */
  ownedBy?: (owner: string | null) => boolean;
  /** VMs whose move is being followed right now (ids): kept. */
  keep?: ReadonlySet<string>;
}

/**
 * Clears the destinations held by moves whose controller process is gone (a previous run of this
 * one, or a dead one: `ownedBy`); call after their operations were settled. Returns the VMs' names.
 */
export async function releaseStaleDestinations(store: Store, which: StaleDestinations = {}): Promise<string[]> {
  return store.transaction(async (tx) => {
    // A migration another controller still runs keeps its destination.
    const running = new Set((await tx.operations.list({ states: ['queued', 'running'], targetType: 'vm', limit: 100_000 })).map((op) => op.targetId));
    const moving = (await tx.vms.list()).filter((vm) => vm.movingTo !== null && !running.has(vm.id) && !which.keep?.has(vm.id));
    const released: string[] = [];
    for (const vm of moving) {
      if (which.ownedBy) {
        const latest = (await tx.operations.list({ targetType: 'vm', targetId: vm.id, limit: 100 })).find((op) => op.kind === 'migrate');
        // A hold with no move on record is nobody's: released.
        if (latest && !which.ownedBy(latest.owner)) continue;
      }
      await tx.vms.update(vm.id, { movingTo: null });
      released.push(vm.name);
    }
    return released;
  });
}

interface Move {
  vm: VmRecord;
  from: HostRecord;
  to: HostRecord;
  /** The pool the disks go to. */
  storage: MoveStorage;
  body: MigrateVmBody;
  actor: Actor;
  reason: PlacementReason;
  /** Why this host: named by the caller, or the scheduler's reason. */
  why: string;
  /** The hosts the filters refused, with their reasons, for the placement history. */
  refused: Array<{ host: string; reasons: string[] }>;
  /** Set when the operation ends while the source may still move the VM: the destination stays held until it says. */
  hold: { kept: boolean };
}

async function migrate(deps: MigrationDeps, ctx: OperationContext, move: Move): Promise<JsonValue> {
  if (!guestCapabilities(move.vm.spec.type).liveMigrate) return coldMigrate(deps, ctx, move);
  const { vm, from, to, storage, body } = move;
  const source = await deps.hosts.client(from.id);
  // The destination's bridge and VXLAN must be there before its QEMU opens the tap.
  await prepareNetworksOnHost(deps.store, deps.hosts, vm, to.id);
  await ctx.progress(0.01, `asking ${from.name} to migrate ${vm.name} to ${to.name} (disks to ${storage === 'local' ? `${to.name}'s own storage` : 'the shared pool'})`);
  const started = await source.migrate(vm.name, {
    // startMigration refused a target without a credential.
    destination: { agentUrl: to.address, token: to.credential as string },
    // The agent's 'copy' mirrors the disks into the destination's own directory.
    storage: storage === 'local' ? 'copy' : 'shared',
    ...(body.downtimeLimitMs !== undefined ? { downtimeLimitMs: body.downtimeLimitMs } : {}),
    ...(body.bandwidthMbps !== undefined ? { bandwidthMbps: body.bandwidthMbps } : {}),
  });
  // The agent rolls back on cancel; past switchover it refuses and the move completes, which is then recorded.
  const cancel = (): void => void source.cancelMigration(started.id).catch(() => undefined);
  // A cancel may have come while the source was still being asked.
  const stopListening = onAbort(ctx.signal, cancel);
  let view = started;
  let sourceLost = false;
  /** The destination completed the migration: its view, keeping the source's statistics when there are any. */
  const takeArrival = (arrived: MigrationView): void => {
    view = { ...arrived, ...(view.result ? { result: view.result } : {}) };
    sourceLost = !view.result;
  };
  try {
    let failures = 0;
    let unresolvedSince: number | undefined;
    while (!FINISHED.has(view.state)) {
      if (view.state === 'unresolved') {
        unresolvedSince ??= Date.now();
        // The destination may already say it runs the guest; else wait for the source to settle it, for a while.
        const arrived = await arrivedAt(deps, to, started.id);
        if (arrived) {
          // Kept, so a failed second look cannot turn the move that happened into an unresolved one.
          takeArrival(arrived);
          break;
        }
        if (Date.now() - unresolvedSince > UNRESOLVED_WAIT_MS) {
          keepHoldUntilSourceSettles(deps, move, started.id);
          break;
        }
      }
      await delay(POLL_MS);
      try {
        view = await source.migration(started.id);
        failures = 0;
      } catch (err) {
        failures++;
        // A source that died after switchover leaves the VM running on the destination: that one knows.
        const arrived = failures >= SOURCE_LOST_AFTER ? await arrivedAt(deps, to, started.id) : undefined;
        if (arrived) {
          view = arrived;
          sourceLost = true;
          break;
        }
        if (failures > POLL_FAILURES_ALLOWED) {
          keepHoldUntilSourceSettles(deps, move, started.id);
          throw err;
        }
        continue;
      }
      await ctx.progress(fraction(view), describeProgress(view));
    }
  } finally {
    stopListening();
  }
  if (view.state === 'unresolved' || view.state === 'failed') {
    // The source could not tell whether the destination took the guest over; the destination can.
    const arrived = await arrivedAt(deps, to, started.id);
    if (arrived) takeArrival(arrived);
  }
  if (view.state !== 'completed') throw agentError(view);
  // Only the source has QEMU's statistics; with the source gone (or a hand-over settled late) the totals are the controller's own clock.
  const result = view.result ?? { totalTimeMs: Date.now() - Date.parse(started.startedAt), downtimeMs: null, setupTimeMs: null, ramTransferredBytes: view.progress.ramTransferredBytes };
  const detail = { from: from.name, to: to.name, totalTimeMs: result.totalTimeMs, downtimeMs: result.downtimeMs, storage, ...(sourceLost ? { sourceLost } : {}) };
  const arrived = await recordArrival(deps, move, { operationId: ctx.id, migrationId: view.id, detail });
  // The guest's agent kept running; the destination only knows once it asks (best effort: a guest without an agent just stays not-ready).
  if (vm.runtime.guestReady && !arrived?.guestReady) {
    const ready = await (await deps.hosts.client(to.id)).waitReady(vm.name, GUEST_READY_WAIT_MS).catch(() => undefined);
    if (ready) await recordGuestReady(deps, vm.id, ready);
  }
  await refreshNetworkPeers(deps.store, deps.hosts, vm);
  return {
    from: from.name,
    to: to.name,
    totalTimeMs: result.totalTimeMs,
    downtimeMs: result.downtimeMs,
    setupTimeMs: result.setupTimeMs,
    bytes: result.ramTransferredBytes + view.progress.disks.reduce((sum, d) => sum + d.copiedBytes, 0),
    ...(sourceLost ? { sourceLost } : {}),
  };
}

/**
 * Moves a guest whose driver has no live migration by a restart (cold migration): the destination serves an
 * empty disk, the source copies the running guest's disk into it and keeps it in step, the guest stops on the
 * source (its last writes reach the copy first), is defined on the destination, forgotten on the source and
 * started again. The downtime is from the stop to the start. A guest in the shared pool copies nothing. Until
 * the source forgets it, a failure undoes everything and the guest runs on the source again.
 */
async function coldMigrate(deps: MigrationDeps, ctx: OperationContext, move: Move): Promise<JsonValue> {
  const { vm, from, to, storage } = move;
  const source = await deps.hosts.client(from.id);
  const destination = await deps.hosts.client(to.id);
  const started = Date.now();
  const wasRunning = vm.state === 'running' || vm.state === 'paused';
  await prepareNetworksOnHost(deps.store, deps.hosts, vm, to.id);
  await ctx.progress(0.02, `preparing ${to.name} for ${vm.name} (${storage === 'local' ? `its disk copied into ${to.name}'s own storage` : 'its disks stay in the shared pool'})`);
  const record = await source.coldRecord(vm.name);
  // Once the source forgot the guest it lives on the destination, and none of these undos applies any more.
  let committed = false;
  const undo = (name: string, step: () => Promise<void>): void => ctx.onUndo(name, async () => (committed ? undefined : step()));
  undo(`drop what ${to.name} prepared`, () => destination.coldAbort(vm.name));
  const plan = await destination.coldPrepare({ record, storage: storage === 'local' ? 'copy' : 'shared' });
  let copiedBytes = 0;
  if (plan.target) {
    await ctx.progress(0.1, `copying ${vm.name}'s disk to ${to.name}${wasRunning ? ' while it runs' : ''}`);
    copiedBytes = (await source.coldCopy(vm.name, plan.target)).bytes;
  }
  ctx.throwIfCancelled();
  await ctx.progress(0.7, `stopping ${vm.name} on ${from.name}`);
  const stoppedAt = Date.now();
  if (wasRunning) {
    await source.stop(vm.name, 60_000);
    undo(`start ${vm.name} again on ${from.name}`, async () => void (await source.start(vm.name)));
  }
  let changedBytes = 0;
  if (plan.target) {
    await ctx.progress(0.8, `copying what ${vm.name} wrote meanwhile`);
    changedBytes = (await source.coldCopyChanges(vm.name, plan.target)).bytes;
  }
  await destination.coldFinish(vm.name);
  // Its definition only: in the shared pool the disks are the source's too.
  undo(`forget ${vm.name} on ${to.name}`, () => destination.coldRelease(vm.name, storage === 'shared'));
  await source.coldRelease(vm.name, storage === 'shared');
  committed = true;
  let view: VmView | undefined;
  if (wasRunning) {
    await ctx.progress(0.9, `starting ${vm.name} on ${to.name}`);
    view = await destination.start(vm.name);
  }
  const downtimeMs = wasRunning ? Date.now() - stoppedAt : null;
  const totalTimeMs = Date.now() - started;
  const detail = { from: from.name, to: to.name, mode: 'cold', totalTimeMs, downtimeMs, copiedBytes, changedBytes, storage };
  await recordArrival(deps, move, { operationId: ctx.id, migrationId: `cold-${ctx.id}`, detail });
  if (view && vm.runtime.guestReady) {
    const ready = await destination.waitReady(vm.name, GUEST_READY_WAIT_MS).catch(() => undefined);
    if (ready) await recordGuestReady(deps, vm.id, ready);
  }
  await refreshNetworkPeers(deps.store, deps.hosts, vm);
  return { from: from.name, to: to.name, mode: 'cold', totalTimeMs, downtimeMs, setupTimeMs: null, bytes: copiedBytes + changedBytes, changedBytes };
}

/**
 * Records that `move` happened: the VM's host, state and runtime as the destination reports them,
 * its placement and a `vm.migrate` event, in one transaction. With `onlyIfStillHeld`, nothing is
 * written unless the record still names the source and holds the destination (a late settle must
 * not overwrite what happened since). Returns the destination's view of the VM, when it answered.
 */
async function recordArrival(
  deps: MigrationDeps,
  move: Move,
  what: { operationId: string | null; migrationId: string; detail: Record<string, JsonValue>; onlyIfStillHeld?: boolean },
): Promise<VmView | undefined> {
  const { vm, from, to, storage } = move;
  // The move has happened: a failed look at the destination must not stop it being recorded (the heartbeat fills the runtime in).
  const arrived = await (await deps.hosts.client(to.id)).getVm(vm.name).catch(() => undefined);
  await deps.store.transaction(async (tx) => {
    const current = (await tx.vms.get(vm.id)) ?? vm;
    if (what.onlyIfStillHeld && (current.hostId !== from.id || current.movingTo !== to.id)) return;
    await tx.vms.update(vm.id, {
      hostId: to.id,
      movingTo: null,
      // A shared-pool VM whose disks were mirrored now keeps them in the destination's own storage.
      ...(storage === 'local' && current.spec.pool === 'shared' ? { spec: { ...current.spec, pool: 'local' as const } } : {}),
      ...(arrived
        ? {
            state: arrived.state,
            runtime: {
              hostVmId: arrived.id,
              guestReady: arrived.guestReady,
              ...(arrived.pid ? { pid: arrived.pid } : {}),
              ...(arrived.startedAt ? { startedAt: arrived.startedAt } : {}),
            },
          }
        : { runtime: {} }),
    });
    await recordPlacement(tx, vm, to, { reason: move.reason, actor: move.actor, operationId: what.operationId, detail: { from: from.name, migrationId: what.migrationId, storage, why: move.why, refused: move.refused } });
    await deps.events.record({ actor: move.actor, objectType: 'vm', objectId: vm.id, objectName: vm.name, action: 'vm.migrate', hostId: to.id, result: 'success', detail: what.detail }, tx);
  });
  return arrived;
}

/** How far the source agent's clock may lag the controller's when a migration is matched to its operation. */
const CLOCK_SKEW_MS = 60_000;

/**
 * For the leader, after the controller that ran live migration `operation` died (the operation was
 * just failed as interrupted): the source agent carried the migration on without it. When the source
 * started one for this operation (an outgoing migration of the VM to the destination the record
 * holds), the destination stays held until it ends and the move is recorded if the guest arrived,
 * as for a hand-over left unresolved; returns true then. False when there is nothing to follow: the
 * caller releases the destination.
 */
export async function followInterruptedMigration(deps: MigrationDeps, operation: OperationRecord): Promise<boolean> {
  if (operation.kind !== 'migrate' || operation.targetType !== 'vm') return false;
  const vm = await deps.store.vms.get(operation.targetId);
  if (!vm?.movingTo || !vm.hostId) return false;
  const [from, to] = await Promise.all([deps.store.hosts.get(vm.hostId), deps.store.hosts.get(vm.movingTo)]);
  if (!from || !to) return false;
  const migrations = await (await deps.hosts.client(from.id)).migrations().catch(() => []);
  const since = Date.parse(operation.createdAt) - CLOCK_SKEW_MS;
  const started = migrations.filter((m) => m.direction === 'outgoing' && m.vm.name === vm.name && m.peer === to.address && Date.parse(m.startedAt) >= since).at(-1);
  if (!started) return false;
  const why = `the move ${operation.actor} started (operation ${operation.id}); recorded by the leader after the controller that ran it stopped`;
  const move: Move = { vm, from, to, storage: started.storage === 'copy' ? 'local' : 'shared', body: {}, actor: { name: operation.actor }, reason: 'user', why, refused: [], hold: { kept: false } };
  keepHoldUntilSourceSettles(deps, move, started.id);
  return true;
}

/** How often, and for how long, a source that stopped answering is asked whether its migration has ended. */
const SETTLE_POLL_MS = 5_000;
const SETTLE_FOR_MS = 30 * 60_000;

/**
 * The operation is ending but the source may still be moving the VM (it stopped answering, or the hand-over is
 * unresolved): the destination stays held until the source says the migration ended, or for SETTLE_FOR_MS.
 * When it ended with the VM on the destination (the source settled the hand-over late), the move is recorded
 * then, so the record follows the guest instead of calling it missing on the source.
 */
function keepHoldUntilSourceSettles(deps: MigrationDeps, move: Move, id: string): void {
  move.hold.kept = true;
  const until = Date.now() + SETTLE_FOR_MS;
  void (async () => {
    try {
      if (await waitForSource()) await adoptIfArrived();
    } catch {
      // The controller is going away: its next start releases what moves still hold.
    }
    await releaseDestination(deps.store, move.vm.id, move.to.id);
  })();
  /** True once the source no longer moves the VM (asked at once, then every SETTLE_POLL_MS); false when SETTLE_FOR_MS ran out first. */
  async function waitForSource(): Promise<boolean> {
    for (;;) {
      // A source that no longer knows the migration (its agent restarted without one to recover) is not moving the VM.
      const view = await (await deps.hosts.client(move.from.id)).migration(id).catch((err: unknown) => (isDroverError(err, 'MIGRATION_NOT_FOUND') ? 'gone' : undefined));
      if (view === 'gone' || (view && FINISHED.has(view.state))) return true;
      if (Date.now() >= until) return false;
      await delay(SETTLE_POLL_MS, undefined, { ref: false });
    }
  }
  async function adoptIfArrived(): Promise<void> {
    const arrived = await arrivedAt(deps, move.to, id);
    if (!arrived) return;
    const detail = { from: move.from.name, to: move.to.name, totalTimeMs: null, downtimeMs: null, storage: move.storage, settledLate: true };
    await recordArrival(deps, move, { operationId: null, migrationId: id, detail, onlyIfStillHeld: true });
    await refreshNetworkPeers(deps.store, deps.hosts, move.vm);
  }
}

/** The destination's view of migration `id` when it completed there (it runs the VM), else undefined. */
async function arrivedAt(deps: MigrationDeps, to: HostRecord, id: string): Promise<MigrationView | undefined> {
  const view = await (await deps.hosts.client(to.id)).migration(id).catch(() => undefined);
  return view?.state === 'completed' ? view : undefined;
}

/** The agent's coded error for a migration that did not complete; a code the table lacks becomes MIGRATION_FAILED. */
function agentError(view: MigrationView): DroverError {
  const code = view.error?.code;
  const detail = view.error?.detail ?? view.error?.message ?? `the migration ended ${view.state}`;
  if (code && code in ERRORS) return new DroverError(code as ErrorCode, detail);
  return new DroverError(view.state === 'unresolved' ? 'MIGRATION_UNRESOLVED' : view.state === 'cancelled' ? 'MIGRATION_CANCELLED' : 'MIGRATION_FAILED', detail);
}

/** Progress 0..1: disk copy first (when copying), then RAM sent over what is left to send. */
function fraction(view: MigrationView): number {
  const p = view.progress;
  const diskTotal = p.disks.reduce((sum, d) => sum + d.totalBytes, 0);
  const diskDone = diskTotal > 0 ? p.disks.reduce((sum, d) => sum + d.copiedBytes, 0) / diskTotal : 1;
  const ramSeen = p.ramTransferredBytes + p.ramRemainingBytes;
  const ramDone = ramSeen > 0 ? p.ramTransferredBytes / ramSeen : 0;
  if (view.state === 'switching-over') return 0.97;
  return diskTotal > 0 ? 0.05 + 0.45 * diskDone + 0.45 * ramDone : 0.05 + 0.9 * ramDone;
}

/** One line for the operation: state, pass, RAM sent and left, dirty rate, speed. */
function describeProgress(view: MigrationView): string {
  const p = view.progress;
  const mib = (bytes: number): string => `${Math.round(bytes / MiB)} MiB`;
  const disks = p.disks.length > 0 ? `, disks ${mib(p.disks.reduce((s, d) => s + d.copiedBytes, 0))}/${mib(p.disks.reduce((s, d) => s + d.totalBytes, 0))}` : '';
  return `${view.state}: pass ${p.pass}, ${mib(p.ramTransferredBytes)} sent, ${mib(p.ramRemainingBytes)} left, dirtying ${p.dirtyPagesRate} pages/s, ${Math.round(p.mbps)} Mbit/s${disks}`;
}
