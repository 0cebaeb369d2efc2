import type { Placement } from '../../api';

/** Why the scheduler (or the caller) chose this host for a stay, and the hosts it refused, collapsed behind a count. */
export function StayReasons({ placement }: { placement: Placement }) {
  // The scheduler's reason already names the weight and the score, so they are not repeated.
  const { why, refused = [] } = placement.detail;
  if (!why && refused.length === 0) return null;
  return (
    <div className="stay-reasons">
      {why && (
        <p className="placement-why" data-placement={placement.id}>
          <span className="why-label">Why {placement.host}:</span> {why}
        </p>
      )}
      {refused.length > 0 && (
        <details className="placement-refused" data-count={refused.length}>
          <summary>
            {refused.length} host{refused.length === 1 ? '' : 's'} refused
          </summary>
          {/* Not a nested list: the timeline's own items stay the only <li> under it. */}
          {refused.map((r) => (
            <p key={r.host} className="refused-host" data-host={r.host}>
              <strong>{r.host}</strong>: {r.reasons.join('; ')}
            </p>
          ))}
        </details>
      )}
    </div>
  );
}
