/**
 * Operations this session started or is looking at: kept current while they run (their progress
 * changes without events, so an active one is re-read every second; only active ones, and an
 * event about one re-reads it at once), cancelled on request, dismissed when read.
 */
import { useSyncExternalStore } from 'react';
import { ApiError, FINISHED_STATES, type DroverApi, type DroverEvent, type Operation } from '../../api';
import type { Fleet } from '../../live/fleet';

const POLL_MS = 1_000;
/** Finished successes leave the tray on their own after this long; failures stay until dismissed. */
const SUCCESS_LINGER_MS = 6_000;

export interface TrackedOperation {
  operation: Operation;
  /** Shown in the tray (this session started it and it has not been dismissed). */
  inTray: boolean;
  cancelError?: ApiError;
}

export const isFinished = (op: Operation): boolean => FINISHED_STATES.includes(op.state);

function operationIdOf(event: DroverEvent): string | undefined {
  const detail = event.detail as { operationId?: unknown } | null;
  return detail && typeof detail.operationId === 'string' ? detail.operationId : undefined;
}

export class OperationTracker {
  private tracked = new Map<string, TrackedOperation>();
  private snapshot: TrackedOperation[] = [];
  private readonly listeners = new Set<() => void>();
  private readonly finishListeners = new Set<(op: Operation) => void>();
  private timer: number | undefined;
  private stopEvents: (() => void) | undefined;

  constructor(
    private readonly api: DroverApi,
    private readonly fleet: Fleet,
  ) {}

  /** Follows the fleet's events: one about a tracked operation re-reads it at once. */
  start(): void {
    this.stopEvents?.();
    this.stopEvents = this.fleet.onEvent((event) => {
      const id = operationIdOf(event);
      if (id && this.tracked.has(id)) void this.refresh(id);
    });
    if ([...this.tracked.values()].some((t) => !isFinished(t.operation))) this.ensurePolling();
  }

  stop(): void {
    this.stopEvents?.();
    this.stopEvents = undefined;
    window.clearInterval(this.timer);
    this.timer = undefined;
  }

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  readonly getSnapshot = (): TrackedOperation[] => this.snapshot;

  /** Calls `listener` once for each tracked operation that finishes. */
  onFinished(listener: (op: Operation) => void): () => void {
    this.finishListeners.add(listener);
    return () => this.finishListeners.delete(listener);
  }

  /** Follows an operation; `inTray` shows it in this session's tray. */
  track(operation: Operation, inTray = true): void {
    const existing = this.tracked.get(operation.id);
    this.put({ ...existing, operation, inTray: inTray || (existing?.inTray ?? false) });
    if (!isFinished(operation)) this.ensurePolling();
    else this.finished(operation);
  }

  dismiss(id: string): void {
    const entry = this.tracked.get(id);
    if (entry) this.put({ ...entry, inTray: false });
  }

  async cancel(id: string): Promise<void> {
    const entry = this.tracked.get(id);
    if (!entry) return;
    try {
      this.put({ ...entry, operation: await this.api.cancelOperation(id), cancelError: undefined });
    } catch (err) {
      this.put({ ...entry, cancelError: err instanceof ApiError ? err : new ApiError(0, 'UNKNOWN', String(err)) });
    }
  }

  private async refresh(id: string): Promise<void> {
    const before = this.tracked.get(id);
    if (!before) return;
    try {
      const operation = await this.api.getOperation(id);
      const entry = this.tracked.get(id) ?? before;
      this.put({ ...entry, operation });
      if (isFinished(operation) && !isFinished(before.operation)) this.finished(operation);
    } catch {
      // The next poll tries again; a 401 has already signed the session out.
    }
  }

  private finished(operation: Operation): void {
    for (const listener of this.finishListeners) listener(operation);
    if (operation.state === 'succeeded') window.setTimeout(() => this.dismiss(operation.id), SUCCESS_LINGER_MS);
  }

  private ensurePolling(): void {
    if (this.timer !== undefined) return;
    this.timer = window.setInterval(() => {
      const active = [...this.tracked.values()].filter((t) => !isFinished(t.operation));
      if (active.length === 0) {
        window.clearInterval(this.timer);
        this.timer = undefined;
        return;
      }
      for (const t of active) void this.refresh(t.operation.id);
    }, POLL_MS);
  }

  private put(entry: TrackedOperation): void {
    this.tracked.set(entry.operation.id, entry);
    this.snapshot = [...this.tracked.values()].sort((a, b) => b.operation.createdAt.localeCompare(a.operation.createdAt));
    for (const listener of this.listeners) listener();
  }
}

/** Every tracked operation, newest first. */
export function useTrackedOperations(tracker: OperationTracker): TrackedOperation[] {
  return useSyncExternalStore(tracker.subscribe, tracker.getSnapshot);
}
