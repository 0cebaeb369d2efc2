/**
 * What an operation runs: either named steps, each with its undo, or one function that registers
 * undos as it goes. Both leave the system as it was when they fail or are cancelled, because the
 * runner undoes every completed step in reverse order.
 */
import { DroverError, isDroverError } from '../../shared/errors.js';
import type { JsonValue, OperationErrorRecord, OperationStepRecord } from '../store/records.js';

export interface OperationContext {
  /** The operation's id. */
  readonly id: string;
  /** Aborted when the operation is cancelled; long steps pass it to what they wait on. */
  readonly signal: AbortSignal;
  /** Records progress within the current step (0..1) and what is happening now. */
  progress(fraction: number, message?: string): Promise<void>;
  /** Registers how to undo work just done; undos run newest first if the operation fails. */
  onUndo(name: string, undo: () => Promise<void>): void;
  /** Throws the cancellation if the operation was cancelled; call between pieces of work. */
  throwIfCancelled(): void;
}

export interface OperationStep {
  name: string;
  /** Does the step; what the last step returns becomes the operation's result. */
  run(ctx: OperationContext): Promise<JsonValue | void>;
  /** Reverts `run`; called only when `run` completed and a later step failed or was cancelled. */
  undo?(): Promise<void>;
}

export type OperationWork = readonly OperationStep[] | ((ctx: OperationContext) => Promise<JsonValue | void>);

/** A completed piece of work and how to revert it; `step` is its recorded entry, updated on undo. */
export interface UndoEntry {
  step: OperationStepRecord;
  undo: () => Promise<void>;
}

/** Runs the undos newest first; each one runs even if an earlier one failed. Returns the failures. */
export async function rollBack(undos: readonly UndoEntry[]): Promise<{ step: string; message: string }[]> {
  const failures: { step: string; message: string }[] = [];
  for (const { step, undo } of [...undos].reverse()) {
    try {
      await undo();
      step.state = 'undone';
    } catch (err) {
      const message = describe(err);
      failures.push({ step: step.name, message });
      step.state = 'undo-failed';
      step.error = message;
    }
  }
  return failures;
}

/** The recorded error for a failed or cancelled operation, naming steps whose undo failed. */
export function errorRecord(err: unknown, cancelled: boolean, undoFailures: { step: string; message: string }[]): OperationErrorRecord {
  const cause = cancelled && !isDroverError(err, 'OPERATION_CANCELLED') ? new DroverError('OPERATION_CANCELLED') : err;
  const base = isDroverError(cause)
    ? { code: cause.code, message: cause.toJSON().message, ...(cause.detail ? { detail: cause.detail } : {}) }
    : { code: 'INTERNAL', message: new DroverError('INTERNAL').toJSON().message, detail: describe(cause) };
  if (undoFailures.length === 0) return base;
  const left = undoFailures.map((f) => `${f.step} (${f.message})`).join(', ');
  const incomplete = new DroverError('ROLLBACK_INCOMPLETE', `${base.code}: ${base.detail ?? base.message}; still applied: ${left}`);
  return { code: incomplete.code, message: incomplete.toJSON().message, detail: incomplete.detail, undoFailures };
}

/** A one-line description of anything thrown. */
export function describe(err: unknown): string {
  if (isDroverError(err)) return err.detail ? `${err.code}: ${err.detail}` : err.code;
  return err instanceof Error ? err.message : String(err);
}
