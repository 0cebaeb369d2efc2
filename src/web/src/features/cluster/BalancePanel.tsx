import { useCallback, useEffect, useState } from 'react';
import type { BalancePlan } from '../../api';
import { ErrorNotice } from '../../components/ErrorNotice';
import { useSubmit } from '../../components/useSubmit';
import { formatBytes, formatTime } from '../../format';
import { hostPath, Link, vmPath } from '../../router';
import { useSession } from '../auth/session';
import { OperationCard } from '../operations/OperationCard';
import { useTrackedOperations } from '../operations/tracker';

/** Ratio points (0..1) as whole percentage points. */
export const points = (ratio: number): string => `${(ratio * 100).toFixed(ratio * 100 < 10 && ratio > 0 ? 1 : 0)}%`;

/**
 * Balancing: the dry-run plan (POST /balance with dryRun) for the threshold chosen, as a table of
 * moves, and a Run button that starts the balance operation and follows it here.
 */
export function BalancePanel() {
  const { api, operations } = useSession();
  const [thresholdPercent, setThresholdPercent] = useState(10);
  const [plan, setPlan] = useState<BalancePlan | null>(null);
  const [plannedAt, setPlannedAt] = useState<string | null>(null);
  const [runId, setRunId] = useState<string | null>(null);
  // One request at a time, planning or starting the run, and one place for its error.
  const { busy, running, error, clearError, submit } = useSubmit();
  const run = useTrackedOperations(operations).find((t) => t.operation.id === runId);
  const threshold = thresholdPercent / 100;
  const thresholdValid = Number.isFinite(thresholdPercent) && thresholdPercent >= 0 && thresholdPercent <= 100;

  const replan = useCallback(
    () =>
      submit(async () => {
        setPlan(await api.planBalance(threshold));
        setPlannedAt(new Date().toISOString());
      }, 'plan'),
    [submit, api, threshold],
  );
  // Planned once on mount with the default threshold; later on request, so typing a threshold sends no request per key.
  useEffect(() => void replan(), []);
  // Once the run ends the cluster has changed: plan again.
  useEffect(() => operations.onFinished((op) => void (op.id === runId && replan())), [operations, runId, replan]);

  const start = () =>
    submit(async () => {
      const started = await api.runBalance(threshold);
      operations.track(started.operation);
      setRunId(started.operation.id);
      setPlan(started.plan);
      setPlannedAt(new Date().toISOString());
    }, 'run');

  return (
    <section className="panel" aria-labelledby="cluster-balance-title" id="cluster-balance">
      <h2 id="cluster-balance-title">Balancing</h2>
      <p className="muted small">Evens out host load by live-migrating VMs, largest gain for the least memory copied first. The plan below is a dry run: nothing moves until you run it.</p>
      <form
        className="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          void replan();
        }}
      >
        <label htmlFor="cluster-balance-threshold">Aim for every host within</label>
        <input id="cluster-balance-threshold" type="number" min={0} max={100} step={1} value={thresholdPercent} onChange={(e) => setThresholdPercent(Number(e.target.value))} className="narrow" />
        <span>percentage points of even load</span>
        <button type="submit" id="cluster-balance-plan" disabled={busy || !thresholdValid}>
          {running === 'plan' ? 'Planning…' : 'Plan again'}
        </button>
      </form>
      {error && <ErrorNotice error={error} id="cluster-balance-error" onDismiss={clearError} />}
      {!plan && !error && <p className="muted">Planning…</p>}
      {plan && <PlanView plan={plan} plannedAt={plannedAt} />}
      <div className="form-actions">
        <button type="button" className="primary" id="cluster-balance-run" onClick={() => void start()} disabled={busy || !plan || !thresholdValid || (run !== undefined && !['succeeded', 'failed', 'cancelled'].includes(run.operation.state))}>
          {running === 'run' ? 'Starting…' : plan && plan.moves.length > 0 ? `Run: move ${plan.moves.length} VM${plan.moves.length === 1 ? '' : 's'}` : 'Run balancing'}
        </button>
        <span className="muted small">The controller plans again when it starts, then moves one VM at a time.</span>
      </div>
      {run && (
        <div id="cluster-balance-operation">
          <OperationCard op={run.operation} cancelError={run.cancelError} onCancel={() => void operations.cancel(run.operation.id)} showSteps />
        </div>
      )}
    </section>
  );
}

/** The plan: imbalance before and after, then one row per move, or why there is nothing to do. */
function PlanView({ plan, plannedAt }: { plan: BalancePlan; plannedAt: string | null }) {
  return (
    <div id="cluster-balance-plan-view" data-moves={plan.moves.length} data-balanced={plan.balanced}>
      <p className="plan-summary" id="cluster-balance-summary">
        <span className={`badge ${plan.balanced ? 'ok' : 'warn'}`}>{plan.balanced ? 'balanced' : 'unbalanced'}</span> Imbalance <strong>{points(plan.imbalanceBefore)}</strong>
        {plan.moves.length > 0 && (
          <>
            {' '}
            → <strong>{points(plan.imbalanceAfter)}</strong> after the moves
          </>
        )}{' '}
        (threshold {points(plan.threshold)}){plannedAt && <span className="muted small"> · planned {formatTime(plannedAt)}</span>}
      </p>
      {plan.moves.length === 0 ? (
        <p className="muted" id="cluster-balance-empty">
          Nothing to move: {plan.stopReason}
        </p>
      ) : (
        <table className="plan-table" id="cluster-balance-moves">
          <caption>
            {plan.moves.length} move{plan.moves.length === 1 ? '' : 's'}, {formatBytes(plan.totalCostBytes)} of memory to copy in all. {plan.stopReason}
          </caption>
          <thead>
            <tr>
              <th scope="col">VM</th>
              <th scope="col">From</th>
              <th scope="col">To</th>
              <th scope="col">Why</th>
              <th scope="col" className="numeric">
                Memory to copy
              </th>
            </tr>
          </thead>
          <tbody>
            {plan.moves.map((move) => (
              <tr key={move.vm} id={`balance-move-${move.vm}`} data-from={move.from} data-to={move.to}>
                <td>
                  <Link to={vmPath(move.vm)}>{move.vm}</Link>
                </td>
                <td>
                  <Link to={hostPath(move.from)}>{move.from}</Link>
                </td>
                <td>
                  <Link to={hostPath(move.to)}>{move.to}</Link>
                </td>
                <td className="small">{move.reason}</td>
                <td className="numeric nowrap">{move.restart ? 'restart (down from stop to start)' : formatBytes(move.costBytes)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
