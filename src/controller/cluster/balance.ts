/**
 * Load balancing through the controller: plans with the scheduler's balancer over the store as it
 * is now (recent moves from placement history, so nothing ping-pongs), then makes the moves one at
 * a time as ordinary `migrate` operations with reason `balancer`. A schedule, kept in the cluster
 * settings, runs it periodically.
 */
import { plan as planBalance, DEFAULT_COOL_DOWN_MS, type BalancePlan, type RecentMove } from '../../scheduler/balance.js';
import { movesLowerBound } from '../../scheduler/bound.js';
import { SYSTEM_ACTOR, type Actor } from '../actor.js';
import type { JsonValue, OperationRecord } from '../store/records.js';
import type { Repositories } from '../store/store.js';
import type { OperationContext } from '../operations/work.js';
import { SOLE_LEADER, type LeadershipView } from '../leadership/term.js';
import { startMigration, type MigrationDeps } from '../vms/migrate.js';
import { readClusterView } from './view.js';
import { onAbort } from '../../shared/abort.js';

/** How long one VM's migration may take before the run stops waiting for it. */
const MIGRATION_WAIT_MS = 60 * 60_000;

/** The default threshold: every host within 10 points of even load. */
export const DEFAULT_THRESHOLD = 0.1;
/** The longest interval a schedule may have: one week. */
export const MAX_INTERVAL_MINUTES = 10_080;

/** When the balancer runs by itself. */
export interface BalanceSchedule {
  enabled: boolean;
  intervalMinutes: number;
  threshold: number;
}

/** Moves the store's placement history shows within the cool-down, newest stay against the one before it. */
export async function recentMoves(deps: MigrationDeps, now: number = Date.now()): Promise<RecentMove[]> {
  const since = new Date(now - DEFAULT_COOL_DOWN_MS).toISOString();
  const moves: RecentMove[] = [];
  for (const vm of await deps.store.vms.list()) {
    const stays = await deps.store.placements.listByVm(vm.id);
    for (let i = 0; i + 1 < stays.length; i++) {
      const [newer, older] = [stays[i], stays[i + 1]];
      if (!newer || !older || newer.startedAt < since) break;
      moves.push({ vmId: vm.id, fromHostId: older.hostId, toHostId: newer.hostId, at: Date.parse(newer.startedAt) });
    }
  }
  return moves;
}

/** A balancing plan with the floor under the number of moves any plan needs, to judge it by. */
export interface JudgedBalancePlan extends BalancePlan {
  /** The fewest moves any plan needs (null: none can balance, even ignoring the placement filters). */
  movesLowerBound: number | null;
}

/** Plans a balancing run over the store as it is now; INVALID_ARGUMENT for a bad threshold. */
export async function balancePlan(deps: MigrationDeps, threshold: number = DEFAULT_THRESHOLD): Promise<JudgedBalancePlan> {
  const now = Date.now();
  const view = await readClusterView(deps.store);
  const options = { threshold, recentMoves: await recentMoves(deps, now), now };
  return { ...planBalance(view, options), movesLowerBound: movesLowerBound(view, options) };
}

/** Plans and starts the `balance` operation (BALANCE_BUSY while one runs); returns the plan it follows. */
export async function startBalance(deps: MigrationDeps, threshold: number, actor: Actor): Promise<{ plan: JudgedBalancePlan; operation: OperationRecord }> {
  const plan = await balancePlan(deps, threshold);
  const operation = await deps.operations.start({
    kind: 'balance',
    target: { type: 'cluster', id: 'cluster', name: 'cluster' },
    actor,
    busyError: 'BALANCE_BUSY',
    work: (ctx) => executeBalance(deps, ctx, plan, actor),
  });
  return { plan, operation };
}

/** Makes the planned moves in order; a VM that has left its planned source since is skipped, a failed move reported. */
async function executeBalance(deps: MigrationDeps, ctx: OperationContext, plan: BalancePlan, actor: Actor): Promise<JsonValue> {
  const moved: JsonValue[] = [];
  const failed: JsonValue[] = [];
  const skipped: string[] = [];
  for (const [index, move] of plan.moves.entries()) {
    ctx.throwIfCancelled();
    await ctx.progress(index / Math.max(1, plan.moves.length), `moving ${move.vmName} from ${move.fromHostName} to ${move.toHostName} (${index + 1} of ${plan.moves.length})`);
    const vm = await deps.store.vms.get(move.vmId);
    if (vm?.hostId !== move.fromHostId) {
      skipped.push(move.vmName);
      continue;
    }
    try {
      const child = await startMigration(deps, vm, { to: move.toHostName }, actor, 'balancer', move.reason);
      const cancel = (): void => void deps.operations.cancel(child.id, actor).catch(() => undefined);
      // A cancel that came while the move was being started must still reach it.
      const stopListening = onAbort(ctx.signal, cancel);
      const done = await deps.operations.wait(child.id, MIGRATION_WAIT_MS).finally(stopListening);
      if (done.state === 'succeeded') moved.push({ vm: move.vmName, from: move.fromHostName, to: move.toHostName, operationId: child.id });
      else failed.push({ vm: move.vmName, from: move.fromHostName, to: move.toHostName, operationId: child.id, error: done.error?.message ?? done.state });
    } catch (err) {
      failed.push({ vm: move.vmName, from: move.fromHostName, to: move.toHostName, operationId: null, error: (err as Error).message });
    }
  }
  ctx.throwIfCancelled();
  await ctx.progress(1, `${moved.length} moved, ${failed.length} failed, ${skipped.length} skipped`);
  return { imbalanceBefore: plan.imbalanceBefore, plannedImbalanceAfter: plan.imbalanceAfter, moved, failed, skipped };
}

/** The schedule of a cluster that never set one: off, hourly, at the default threshold. */
export const DEFAULT_SCHEDULE: BalanceSchedule = { enabled: false, intervalMinutes: 60, threshold: DEFAULT_THRESHOLD };

/** The schedule stored in the cluster settings, each field that does not read as valid replaced by its default. */
export async function readBalanceSchedule(repos: Pick<Repositories, 'settings'>): Promise<BalanceSchedule> {
  const stored = await repos.settings.get('balanceSchedule');
  const fields = stored !== null && typeof stored === 'object' && !Array.isArray(stored) ? stored : {};
  const { enabled, intervalMinutes, threshold } = fields;
  return {
    enabled: typeof enabled === 'boolean' ? enabled : DEFAULT_SCHEDULE.enabled,
    intervalMinutes: Number.isInteger(intervalMinutes) && (intervalMinutes as number) >= 1 && (intervalMinutes as number) <= MAX_INTERVAL_MINUTES ? (intervalMinutes as number) : DEFAULT_SCHEDULE.intervalMinutes,
    threshold: typeof threshold === 'number' && threshold >= 0 && threshold <= 1 ? threshold : DEFAULT_SCHEDULE.threshold,
  };
}

/**
 * Runs the balancer on a timer while its schedule is enabled. The schedule lives in the cluster
 * settings, so it survives a controller restart: `resume` reads it and arms the timer on start.
 */
export class BalanceScheduler {
  private schedule: BalanceSchedule = { ...DEFAULT_SCHEDULE };
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: MigrationDeps,
    private readonly logger?: { warn(details: object, message: string): void },
    /** Only the leader balances on schedule; the default is a controller alone. */
    private readonly leadership: LeadershipView = SOLE_LEADER,
  ) {}

  /** The schedule now in force. */
  get(): BalanceSchedule {
    return { ...this.schedule };
  }

  /** Takes up the stored schedule and arms the timer to match; call once when the controller starts. */
  async resume(): Promise<BalanceSchedule> {
    this.arm(await readBalanceSchedule(this.deps.store));
    return this.get();
  }

  /** Replaces the given fields of the stored schedule in one transaction with a `cluster.balance-schedule-changed` event, then restarts the timer to match. */
  async set(change: Partial<BalanceSchedule>, actor: Actor = SYSTEM_ACTOR): Promise<BalanceSchedule> {
    const after = await this.deps.store.transaction(async (tx) => {
      const before = await readBalanceSchedule(tx);
      const merged: BalanceSchedule = { ...before, ...change };
      await tx.settings.set('balanceSchedule', { ...merged });
      await this.deps.events.record({ actor, objectType: 'cluster', objectId: null, objectName: null, action: 'cluster.balance-schedule-changed', hostId: null, result: 'success', detail: { before: { ...before }, after: { ...merged } } }, tx);
      return merged;
    });
    this.arm(after);
    return this.get();
  }

  /** Holds `schedule` and (re)starts the timer when it is enabled. */
  private arm(schedule: BalanceSchedule): void {
    this.schedule = { ...schedule };
    this.stop();
    if (this.schedule.enabled) {
      this.timer = setInterval(() => void this.runOnce(), this.schedule.intervalMinutes * 60_000);
      this.timer.unref();
    }
  }

  /** True while the timer is armed. */
  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Stops the timer (the schedule itself is kept). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One scheduled run: starts a balance operation when the plan has moves; a run already in progress is left alone. */
  async runOnce(): Promise<OperationRecord | undefined> {
    if (!this.leadership.isLeader()) return undefined;
    return this.leadership.asLeader(() => this.balanceNow());
  }

  private async balanceNow(): Promise<OperationRecord | undefined> {
    try {
      const plan = await balancePlan(this.deps, this.schedule.threshold);
      if (plan.moves.length === 0) return undefined;
      return (await startBalance(this.deps, this.schedule.threshold, SYSTEM_ACTOR)).operation;
    } catch (err) {
      // A scheduled run must never take the controller down; the next tick tries again.
      this.logger?.warn({ err }, 'scheduled balancing did not start');
      return undefined;
    }
  }
}
