import { useEffect, useState } from 'react';
import { ApiError, type Placement, type Vm } from '../../api';
import { StayReasons } from './StayReasons';
import { ErrorNotice } from '../../components/ErrorNotice';
import { useNow } from '../../components/useNow';
import { formatDuration, formatTime } from '../../format';
import { hostPath, Link } from '../../router';
import { useSession } from '../auth/session';

/** Why the VM came to a host; the first stay was a placement, later ones were moves. */
function reasonText(reason: Placement['reason'], first: boolean): string {
  const verb = first ? 'placed' : 'moved';
  switch (reason) {
    case 'user':
      return `${verb} by a user`;
    case 'scheduler':
      return `${verb} by the scheduler`;
    case 'balancer':
      return 'moved by the balancer';
    case 'maintenance':
      return 'evacuated for maintenance';
    case 'ha':
      return 'restarted here by high availability';
  }
}

/** Placement actions in the event stream: a VM that moves or is placed re-reads its history. */
const PLACING_ACTIONS = new Set(['vm.migrate', 'vm.create']);

/** The VM's placement history (GET /vms/:name/history), re-read when the VM is placed or moves. */
function usePlacementHistory(vm: Vm) {
  const { api, fleet } = useSession();
  const [placements, setPlacements] = useState<Placement[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [version, setVersion] = useState(0);
  useEffect(
    () =>
      fleet.onEvent((event) => {
        if (event.object.type === 'vm' && (event.object.name === vm.name || event.object.id === vm.id) && PLACING_ACTIONS.has(event.action)) setVersion((v) => v + 1);
      }),
    [fleet, vm.name, vm.id],
  );
  useEffect(() => {
    let cancelled = false;
    api.vmHistory(vm.name).then(
      (list) => {
        if (cancelled) return;
        setPlacements(list);
        setError(null);
      },
      (err: unknown) => !cancelled && setError(err instanceof ApiError ? err : new ApiError(0, 'UNKNOWN', String(err))),
    );
    return () => {
      cancelled = true;
    };
    // vm.host: the fleet's own re-read of the VM is a second signal that it moved.
  }, [api, vm.name, vm.host, version]);
  return { placements, error };
}

/** Which host the VM ran on, when, and why: a proportional strip for the whole span, then each stay, newest first. */
export function PlacementTimeline({ vm }: { vm: Vm }) {
  const { placements, error } = usePlacementHistory(vm);
  const ticked = useNow(30_000);
  // The clock ticks slowly; a stay that began after the last tick must not show a negative length.
  const now = Math.max(ticked, Date.now());
  const hosts = [...new Set((placements ?? []).map((p) => p.host))];
  const colour = (host: string) => `host-colour-${hosts.indexOf(host) % 6}`;
  const oldest = placements?.at(-1);
  const span = oldest ? Math.max(now - Date.parse(oldest.startedAt), 1) : 1;
  return (
    <section className="panel placement" aria-labelledby="placement-title" id="vm-placement">
      <h2 id="placement-title">Placement history</h2>
      {error && <ErrorNotice error={error} />}
      {placements === null && !error && <p className="muted">Loading…</p>}
      {placements?.length === 0 && <p className="muted">Not placed on a host yet.</p>}
      {placements && placements.length > 0 && (
        <>
          <div className="placement-strip" aria-hidden="true">
            {[...placements].reverse().map((p) => {
              const ended = p.endedAt ? Date.parse(p.endedAt) : now;
              return <span key={p.id} className={colour(p.host)} style={{ flexGrow: Math.max((ended - Date.parse(p.startedAt)) / span, 0.04) }} title={p.host} />;
            })}
          </div>
          <ol className="timeline" id="vm-placement-timeline" aria-label={`Hosts ${vm.name} has been on, newest first`}>
            {placements.map((p, index) => {
              const ended = p.endedAt ? Date.parse(p.endedAt) : now;
              return (
                <li key={p.id} className={`timeline-entry ${colour(p.host)}`} data-host={p.host} data-current={p.endedAt === null} data-reason={p.reason}>
                  <div className="timeline-head">
                    <Link to={hostPath(p.host)} className="timeline-host">
                      {p.host}
                    </Link>
                    {p.endedAt === null && <span className="badge ok">now</span>}
                    <span className="muted small">{formatDuration(ended - Date.parse(p.startedAt))}</span>
                  </div>
                  <div className="small">
                    <time dateTime={p.startedAt}>{formatTime(p.startedAt)}</time> → {p.endedAt ? <time dateTime={p.endedAt}>{formatTime(p.endedAt)}</time> : 'now'}
                  </div>
                  <div className="small muted">
                    {reasonText(p.reason, index === placements.length - 1)} · {p.actor}
                    {p.detail.from && <> · from {p.detail.from}{p.detail.storage ? ` (${p.detail.storage} storage)` : ''}</>}
                    {p.operationId && <> · operation <code>{p.operationId.slice(0, 8)}</code></>}
                  </div>
                  <StayReasons placement={p} />
                </li>
              );
            })}
          </ol>
        </>
      )}
    </section>
  );
}
