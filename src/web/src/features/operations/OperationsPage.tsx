import { useCallback, useEffect, useState } from 'react';
import { ApiError, OPERATION_STATES, type OperationState } from '../../api';
import { ErrorNotice } from '../../components/ErrorNotice';
import { useSession } from '../auth/session';
import { OperationCard } from './OperationCard';
import { useTrackedOperations } from './tracker';

/** Recent operations with their steps; running ones show progress and can be cancelled. */
export function OperationsPage() {
  const { api, fleet, operations } = useSession();
  const [state, setState] = useState<OperationState | ''>('');
  const [ids, setIds] = useState<string[]>([]);
  const [error, setError] = useState<ApiError | null>(null);
  const tracked = useTrackedOperations(operations);

  const load = useCallback(async () => {
    try {
      const list = await api.listOperations({ limit: 100, ...(state ? { state } : {}) });
      // The tracker keeps each one current (running ones are re-read every second).
      for (const op of list) operations.track(op, false);
      setIds(list.map((op) => op.id));
      setError(null);
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, 'UNKNOWN', String(err)));
    }
  }, [api, operations, state]);
  useEffect(() => void load(), [load]);

  // A new operation shows as an event on its target: re-list, at most once a second.
  useEffect(() => {
    let timer: number | undefined;
    const stop = fleet.onEvent((event) => {
      const detail = event.detail as { operationId?: unknown } | null;
      if (!detail || typeof detail.operationId !== 'string' || ids.includes(detail.operationId) || timer !== undefined) return;
      timer = window.setTimeout(() => {
        timer = undefined;
        void load();
      }, 1_000);
    });
    return () => {
      stop();
      window.clearTimeout(timer);
    };
  }, [fleet, ids, load]);

  const byId = new Map(tracked.map((t) => [t.operation.id, t]));
  const shown = ids.map((id) => byId.get(id)).filter((t) => t !== undefined);
  return (
    <main className="page" id="operations-page">
      <div className="page-header">
        <h1>Operations</h1>
        <label htmlFor="operations-state">State</label>
        <select id="operations-state" value={state} onChange={(e) => setState(e.target.value as OperationState | '')}>
          <option value="">All</option>
          {OPERATION_STATES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </div>
      {error && <ErrorNotice error={error} />}
      {shown.length === 0 && !error && <p className="muted">No operations.</p>}
      <div className="operation-list">
        {shown.map((t) => (
          <OperationCard key={t.operation.id} op={t.operation} cancelError={t.cancelError} onCancel={() => void operations.cancel(t.operation.id)} showSteps />
        ))}
      </div>
    </main>
  );
}
