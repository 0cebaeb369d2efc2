import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { pino, type Logger } from 'pino';
import { DroverError, type ErrorCode } from '../../shared/errors.js';
import { SYSTEM_ACTOR, type Actor } from '../actor.js';
import type { EventLog } from '../events/event-log.js';
import {
  ACTIVE_OPERATION_STATES,
  FINISHED_OPERATION_STATES,
  now,
  type JsonValue,
  type OperationRecord,
  type OperationStepRecord,
} from '../store/records.js';
import type { OperationFilter, Patch, Store, Transaction } from '../store/store.js';
import { describe, errorRecord, rollBack, type OperationContext, type OperationWork, type UndoEntry } from './work.js';

export interface OperationTarget {
  type: string;
  id: string;
  name?: string;
}

export interface StartOperation {
  /** The verb: create, start, stop, clone, snapshot, revert, import, delete, migrate... */
  kind: string;
  target: OperationTarget;
  actor: Actor;
  work: OperationWork;
  hostId?: string;
  /** When set, refuse with this error while another operation on the same target is active. */
  busyError?: ErrorCode;
  /** Create the operation inside the caller's transaction; it starts running once that commits. */
  tx?: Transaction;
  /**
   * Runs once the work has ended, whatever the outcome (a cancel before it began too), before the final state is
   * recorded: to give back what starting the operation took. Its failure is logged, not the operation's.
   */
  settle?: () => Promise<void>;
}

/** Turns an operation interrupted by a restart back into work; registered per kind. */
export type Resumer = (operation: OperationRecord) => OperationWork;

export interface OperationRunnerOptions {
  store: Store;
  events: EventLog;
  logger?: Logger;
  /** The controller this runner belongs to: recorded as each operation's owner. */
  controllerId?: string;
}

interface ActiveOperation {
  controller: AbortController;
  done: Promise<void>;
  actor: Actor;
}

const INTERRUPTED = 'controller restarted while the operation was running';

/**
 * Runs long actions as operations: persisted before they start, progress and outcome recorded,
 * cancellable, and rolled back step by step when they fail, so the caller can answer 202 at once.
 */
export class OperationRunner {
  private readonly store: Store;
  private readonly events: EventLog;
  private readonly logger: Logger;
  private readonly active = new Map<string, ActiveOperation>();
  private readonly resumers = new Map<string, Resumer>();

  constructor(options: OperationRunnerOptions) {
    this.store = options.store;
    this.events = options.events;
    this.logger = options.logger ?? pino({ name: 'drover-operations' });
    this.controllerId = options.controllerId ?? null;
  }

  /** The owner recorded on the operations this runner starts. */
  readonly controllerId: string | null;

  /** Lets operations of `kind` interrupted by a restart be resumed instead of failed. */
  registerResumer(kind: string, resumer: Resumer): void {
    this.resumers.set(kind, resumer);
  }

  /** Persists the operation as queued and returns it; the work runs after this returns. */
  async start(request: StartOperation): Promise<OperationRecord> {
    const time = now();
    const record: OperationRecord = {
      id: randomUUID(),
      kind: request.kind,
      targetType: request.target.type,
      targetId: request.target.id,
      targetName: request.target.name ?? null,
      hostId: request.hostId ?? null,
      state: 'queued',
      progress: 0,
      message: '',
      steps: Array.isArray(request.work) ? request.work.map((step) => ({ name: step.name, state: 'pending' as const })) : [],
      result: null,
      error: null,
      actor: request.actor.name,
      cancelRequested: false,
      owner: this.controllerId,
      createdAt: time,
      updatedAt: time,
    };
    const create = async (tx: Transaction) => {
      if (request.busyError) {
        const [other] = await tx.operations.list({ states: ACTIVE_OPERATION_STATES, targetType: record.targetType, targetId: record.targetId, limit: 1 });
        if (other) throw new DroverError(request.busyError, `operation ${other.id} (${other.kind}) is ${other.state}`);
      }
      await tx.operations.insert(record);
      await this.events.record(operationEvent(record, request.actor), tx);
      tx.afterCommit(() => this.launch(record, request.work, request.actor, request.settle));
    };
    if (request.tx) await create(request.tx);
    else await this.store.transaction(create);
    return record;
  }

  /** The operation; OPERATION_NOT_FOUND when there is none. */
  async get(id: string): Promise<OperationRecord> {
    const record = await this.store.operations.get(id);
    if (!record) throw new DroverError('OPERATION_NOT_FOUND', id);
    return record;
  }

  /** Operations matching `filter`, newest first. */
  list(filter: OperationFilter): Promise<OperationRecord[]> {
    return this.store.operations.list(filter);
  }

  /** Requests cancellation; the work stops at its next check and is undone. OPERATION_FINISHED if it already ended. */
  async cancel(id: string, actor: Actor): Promise<OperationRecord> {
    const record = await this.store.transaction(async (tx) => {
      const current = await tx.operations.get(id);
      if (!current) throw new DroverError('OPERATION_NOT_FOUND', id);
      if (FINISHED_OPERATION_STATES.includes(current.state)) {
        throw new DroverError('OPERATION_FINISHED', `operation ${id} is already ${current.state}`);
      }
      const updated = await tx.operations.update(id, { cancelRequested: true });
      await this.events.record({ ...operationEvent(updated, actor), result: 'cancel-requested' }, tx);
      return updated;
    });
    this.active.get(id)?.controller.abort(new DroverError('OPERATION_CANCELLED', `cancelled by ${actor.name}`));
    return record;
  }

  /** Resolves once the operation has finished or `timeoutMs` passed, with its record at that moment. */
  async wait(id: string, timeoutMs: number): Promise<OperationRecord> {
    const running = this.active.get(id);
    if (running) {
      const timeout = new AbortController();
      await Promise.race([running.done, delay(timeoutMs, undefined, { signal: timeout.signal }).catch(() => undefined)]);
      timeout.abort();
    }
    return this.get(id);
  }

  /**
   * Call at controller start, and on the leader when another controller has died: every operation
   * a dead process left queued or running (those whose owner `ownedBy` accepts) is resumed when its
   * kind has a resumer, else failed with OPERATION_INTERRUPTED naming the steps it had done, so
   * nothing is left hanging.
   */
  async resolveInterrupted(ownedBy: (owner: string | null) => boolean = () => true): Promise<{ resumed: string[]; failed: string[] }> {
    const stale = (await this.store.operations.list({ states: ACTIVE_OPERATION_STATES, limit: 1_000_000 })).filter(
      (op) => !this.active.has(op.id) && ownedBy(op.owner),
    );
    const resumed: string[] = [];
    const failed: string[] = [];
    for (const op of stale) {
      const resumer = op.cancelRequested ? undefined : this.resumers.get(op.kind);
      let work: OperationWork | undefined;
      try {
        work = resumer?.(op);
      } catch (err) {
        this.logger.error({ err, operation: op.id }, 'resumer failed; failing the operation');
      }
      const actor = { name: op.actor };
      if (work) {
        const patch = { message: 'resumed after a controller restart' };
        const updated = await this.transition(op.id, patch, actor, 'resumed');
        this.launch(updated, work, actor);
        resumed.push(op.id);
        continue;
      }
      const steps = op.steps.map((step) => (step.state === 'running' ? { ...step, state: 'failed' as const, error: INTERRUPTED } : step));
      const done = steps.filter((step) => step.state === 'done').map((step) => step.name);
      const running = op.steps.find((step) => step.state === 'running')?.name;
      const detail = `${INTERRUPTED}; done and not undone: ${done.join(', ') || 'none'}${running ? `; was running: ${running}` : ''}`;
      const error = new DroverError('OPERATION_INTERRUPTED', detail);
      const patch = { state: 'failed' as const, steps, error: { code: error.code, message: error.toJSON().message, detail } };
      await this.transition(op.id, patch, SYSTEM_ACTOR);
      failed.push(op.id);
    }
    return { resumed, failed };
  }

  /** Waits up to `graceMs` for running operations, cancels the rest and waits `graceMs` more for their rollback. */
  async shutdown(graceMs: number): Promise<void> {
    const settle = async () => {
      const timeout = new AbortController();
      const all = Promise.all([...this.active.values()].map((op) => op.done));
      await Promise.race([all, delay(graceMs, undefined, { signal: timeout.signal }).catch(() => undefined)]);
      timeout.abort();
    };
    await settle();
    for (const op of this.active.values()) op.controller.abort(new DroverError('OPERATION_CANCELLED', 'the controller is shutting down'));
    await settle();
  }

  private launch(record: OperationRecord, work: OperationWork, actor: Actor, settle?: () => Promise<void>): void {
    const controller = new AbortController();
    let finished!: () => void;
    const done = new Promise<void>((resolve) => (finished = resolve));
    this.active.set(record.id, { controller, done, actor });
    setImmediate(() => {
      this.execute(record, work, controller.signal, actor, settle)
        .catch((err: unknown) => this.logger.error({ err, operation: record.id }, 'could not record the outcome of an operation'))
        .finally(() => {
          this.active.delete(record.id);
          finished();
        });
    });
  }

  private async execute(record: OperationRecord, work: OperationWork, signal: AbortSignal, actor: Actor, settle?: () => Promise<void>): Promise<void> {
    const id = record.id;
    const settled = async (): Promise<void> => {
      await settle?.().catch((err: unknown) => this.logger.error({ err, operation: id }, 'settling an operation failed'));
    };
    const steps: OperationStepRecord[] = Array.isArray(work) ? work.map((step) => ({ name: step.name, state: 'pending' })) : [];
    const undos: UndoEntry[] = [];
    const span = { start: 0, size: 1 };
    const shown = { progress: 0, message: '' };
    const ctx: OperationContext = {
      id,
      signal,
      progress: async (fraction, message) => {
        const overall = clamp(span.start + span.size * clamp(fraction));
        if ((message === undefined || message === shown.message) && overall - shown.progress < 0.01) return;
        shown.progress = overall;
        shown.message = message ?? shown.message;
        await this.store.operations.update(id, { progress: overall, message: shown.message });
      },
      onUndo: (name, undo) => {
        const step: OperationStepRecord = { name, state: 'done' };
        steps.push(step);
        undos.push({ step, undo });
      },
      throwIfCancelled: () => {
        if (signal.aborted) throw signal.reason;
      },
    };
    let result: JsonValue = null;
    try {
      ctx.throwIfCancelled();
      // Another controller may have judged this one dead (a long pause) and ended the operation: its verdict stands, and the work is not started.
      if ((await this.transition(id, { state: 'running', steps }, actor)).state !== 'running') return;
      if (typeof work === 'function') {
        result = (await work(ctx)) ?? null;
      } else {
        for (const [index, step] of work.entries()) {
          ctx.throwIfCancelled();
          // `steps` was built from `work` above, so the index exists.
          const entry = steps[index] as OperationStepRecord;
          entry.state = 'running';
          Object.assign(span, { start: index / work.length, size: 1 / work.length });
          Object.assign(shown, { progress: span.start, message: step.name });
          await this.store.operations.update(id, { steps, progress: span.start, message: step.name });
          const value = await step.run(ctx);
          entry.state = 'done';
          if (step.undo) undos.push({ step: entry, undo: () => (step.undo as () => Promise<void>).call(step) });
          if (value !== undefined) result = value;
        }
      }
      await settled();
      await this.transition(id, { state: 'succeeded', progress: 1, message: 'done', steps, result }, actor);
    } catch (err) {
      const failedStep = steps.find((step) => step.state === 'running');
      if (failedStep) Object.assign(failedStep, { state: 'failed', error: describe(err) });
      const cancelled = signal.aborted;
      const undoFailures = await rollBack(undos);
      const error = errorRecord(cancelled ? signal.reason : err, cancelled, undoFailures);
      const state = cancelled && undoFailures.length === 0 ? 'cancelled' : 'failed';
      if (state === 'failed' && !cancelled) this.logger.warn({ operation: id, error }, 'operation failed');
      await settled();
      await this.transition(id, { state, steps, error, message: cancelled ? 'cancelled' : describe(err) }, actor);
    }
  }

  /**
   * Updates the operation and records the change as an event, in one transaction. An operation that
   * has already ended is left as it is (returned unchanged): the leader ends those of a controller it
   * judged dead, and a controller that was only paused must not overwrite that verdict when it resumes.
   */
  private transition(id: string, patch: Patch<OperationRecord>, actor: Actor, result?: string): Promise<OperationRecord> {
    return this.store.transaction(async (tx) => {
      const current = await tx.operations.get(id);
      if (current && FINISHED_OPERATION_STATES.includes(current.state)) {
        this.logger.warn({ operation: id, state: current.state, wanted: patch.state }, 'the operation was already ended (by the leader, its controller judged dead); its end stands');
        return current;
      }
      const updated = await tx.operations.update(id, patch);
      const event = operationEvent(updated, actor);
      await this.events.record(result ? { ...event, result } : event, tx);
      return updated;
    });
  }
}

/** The event for an operation's state: on its target, action `<target type>.<kind>`, result the state. */
function operationEvent(op: OperationRecord, actor: Actor) {
  return {
    actor,
    objectType: op.targetType,
    objectId: op.targetId,
    objectName: op.targetName,
    action: `${op.targetType}.${op.kind}`,
    hostId: op.hostId,
    result: op.state,
    detail: { operationId: op.id, ...(op.error ? { error: { ...op.error } } : {}) },
  };
}

function clamp(value: number): number {
  return Number.isFinite(value) ? Math.min(1, Math.max(0, value)) : 0;
}
