import type { Placement } from '../../api';

/** Why the scheduler (or the caller) chose this host for a stay, and the hosts it refused, collapsed behind a count. */
export function StayReasons({ placement }: { placement: Placement }) {
  const { why, weight, score, candidates, refused = [] } = placement.detail;
  if (!why && refused.length === 0) return null;
  const scoring = [weight && `${weight} weight`, score !== undefined && `score ${score}`, candidates !== undefined && `${candidates} candidate host${candidates === 1 ? '' : 's'}`].filter(Boolean).join(', ');
  return (
    <div className="stay-reasons">
      {why && (
        <p className="placement-why" data-placement={placement.id}>
          <span className="why-label">Why {placement.host}:</span> {why}
          {scoring && <span className="muted small"> ({scoring})</span>}
        </p>
      )}
      {refused.length > 0 && (
        <details className="placement-refused" data-count={refused.length}>
          <summary>
            {refused.length} host{refused.length === 1 ? '' : 's'} refused
          </summary>
          <ul>
            {refused.map((r) => (
              <li key={r.host} data-host={r.host}>
                <strong>{r.host}</strong>: {r.reasons.join('; ')}
              </li>
            ))}
          </ul>
        </details>
      )}
    </div>
  );
}
