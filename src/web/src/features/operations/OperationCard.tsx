import { ApiError, type Operation } from '../../api';
import { ErrorNotice } from '../../components/ErrorNotice';
import { StateBadge } from '../../components/StateBadge';
import { formatTime } from '../../format';
import { Link, vmPath } from '../../router';
import { isFinished } from './tracker';

/** The API's operation error as an ApiError, so it shows like any other (message, detail behind it). */
export function operationError(op: Operation): ApiError | null {
  if (!op.error) return null;
  const undo = op.error.undoFailures?.map((u) => `undo "${u.step}" failed: ${u.message}`).join('; ');
  return new ApiError(0, op.error.code, op.error.message, [op.error.detail, undo].filter(Boolean).join('; ') || undefined);
}

/** One operation: what, on what, progress and step, cancel while it runs, the error when it failed. */
export function OperationCard({ op, onCancel, onDismiss, cancelError, showSteps }: { op: Operation; onCancel?: () => void; onDismiss?: () => void; cancelError?: ApiError | undefined; showSteps?: boolean }) {
  const error = operationError(op);
  const target = op.target.name ?? op.target.id;
  const percent = Math.round(op.progress * 100);
  return (
    <article className={`operation ${op.state}`} id={`op-${op.id}`} data-state={op.state} data-kind={op.kind} aria-label={`${op.kind} ${target}: ${op.state}`}>
      <header>
        <strong>{op.kind}</strong>{' '}
        {op.target.type === 'vm' && op.target.name ? <Link to={vmPath(op.target.name)}>{target}</Link> : <span>{target}</span>}
        <StateBadge state={op.cancelRequested && !isFinished(op) ? 'cancel-requested' : op.state} />
        <span className="spacer" />
        {!isFinished(op) && onCancel && (
          <button type="button" className="small-button" id={`op-cancel-${op.id}`} onClick={onCancel} disabled={op.cancelRequested} aria-label={`Cancel ${op.kind} ${target}`}>
            {op.cancelRequested ? 'Cancelling…' : 'Cancel'}
          </button>
        )}
        {onDismiss && isFinished(op) && (
          <button type="button" className="link-button" id={`op-dismiss-${op.id}`} onClick={onDismiss} aria-label={`Dismiss ${op.kind} ${target}`}>
            ×
          </button>
        )}
      </header>
      {!isFinished(op) && (
        <div className="progress" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent} aria-label={`${op.kind} progress`}>
          <div style={{ width: `${Math.max(percent, 3)}%` }} />
        </div>
      )}
      <p className="muted small">
        {op.message || op.state} · {op.actor} · {formatTime(op.createdAt)}
      </p>
      {showSteps && op.steps.length > 0 && (
        <ol className="steps">
          {op.steps.map((s) => (
            <li key={s.name} data-state={s.state}>
              {s.name} <span className="muted small">({s.state}{s.error ? `: ${s.error}` : ''})</span>
            </li>
          ))}
        </ol>
      )}
      {error && <ErrorNotice error={error} id={`op-error-${op.id}`} />}
      {cancelError && <ErrorNotice error={cancelError} />}
    </article>
  );
}
