import { useState } from 'react';
import type { ApiError, HaHostStatus, Host } from '../../api';
import { ErrorNotice } from '../../components/ErrorNotice';
import { StateBadge } from '../../components/StateBadge';
import { formatSeconds, formatTime } from '../../format';
import { ConfirmDownDialog } from './ConfirmDownDialog';
import { LIVENESS_TEXT, mayConfirmDown, needsAttention } from './liveness';

/**
 * The host page's notice while HA finds the host suspect, isolated, failed, fenced or confirmed
 * down: what that means and why, and for a host HA cannot be sure is off, "Confirm host is down".
 */
export function HostLivenessNotice({ host, status }: { host: Host; status: HaHostStatus | undefined }) {
  const [dialog, setDialog] = useState(false);
  const [confirmed, setConfirmed] = useState(false);
  if (!status || !needsAttention(status.liveness)) return null;
  const tone = status.liveness === 'suspect' || status.liveness === 'isolated' ? 'warning' : 'error';
  return (
    <div className={`notice ${tone}`} id="host-ha-notice" data-liveness={status.liveness} role="status">
      <div className="notice-row">
        <span>
          <strong>
            HA: {host.name} is {status.liveness}.
          </strong>{' '}
          {LIVENESS_TEXT[status.liveness] ?? ''}
        </span>
        {mayConfirmDown(status.liveness) && (
          <button type="button" className="danger" id="host-confirm-down" onClick={() => setDialog(true)}>
            Confirm host is down…
          </button>
        )}
      </div>
      <p className="small ha-reason" id="host-ha-reason">
        {status.reason}
      </p>
      {confirmed && (
        <p className="small" id="host-confirm-down-sent">
          Confirmed down: HA restarts its protected VMs on other hosts.
        </p>
      )}
      {dialog && <ConfirmDownDialog host={status} fenceAgent={host.fence?.agent ?? null} onClose={() => setDialog(false)} onConfirmed={() => setConfirmed(true)} />}
    </div>
  );
}

/** The host as HA sees it: liveness and why, lease and storage heartbeat ages, watchdog, fence device and fencing. */
export function HostHaPanel({ host, status, error }: { host: Host; status: HaHostStatus | undefined; error: ApiError | null }) {
  return (
    <section className="panel" aria-labelledby="host-ha-title" id="host-ha" data-liveness={status?.liveness}>
      <h2 id="host-ha-title">High availability</h2>
      {error && <ErrorNotice error={error} id="host-ha-error" />}
      <dl className="facts">
        <dt>Liveness</dt>
        <dd id="host-ha-liveness">
          {status ? (
            <>
              <StateBadge state={status.liveness} /> <span className="muted small">{status.reason}</span>
            </>
          ) : (
            <span className="muted">{error ? '-' : 'Loading…'}</span>
          )}
        </dd>
        <dt title="The agent renews its lease with the controller about every second">Last lease renewal</dt>
        <dd id="host-ha-lease">{status ? (status.leaseAgeMs === null ? <span className="muted">none since the controller started</span> : `${formatSeconds(status.leaseAgeMs)} ago`) : '-'}</dd>
        <dt title="Written in every shared storage pool the host reaches; tells a host cut off from the controller from a dead one">Storage heartbeat</dt>
        <dd id="host-ha-storage">
          {status ? status.storageHeartbeatAgeMs === null ? <span className="muted">none seen (no shared storage, or not read yet)</span> : `${formatSeconds(status.storageHeartbeatAgeMs)} ago` : '-'}
        </dd>
        <dt title="Resets the host when its agent cannot give up its VMs in time">Watchdog</dt>
        <dd id="host-ha-watchdog">{status ? (status.watchdog ? 'armed' : <span className="muted">none</span>) : '-'}</dd>
        <dt title="Powers the host off, so HA can restart its VMs without waiting for it to fence itself">Fence device</dt>
        <dd id="host-fence" data-agent={host.fence?.agent ?? ''}>
          {host.fence ? (
            <>
              <code>{host.fence.agent}</code> <span className="muted small">set {formatTime(host.fence.setAt)}</span>
            </>
          ) : (
            <>
              <span className="muted">none</span>{' '}
              <span className="muted small">
                (set one with <code>drover host fence set</code>)
              </span>
            </>
          )}
        </dd>
        {status && status.fence !== 'none' && (
          <>
            <dt>Fencing</dt>
            <dd id="host-ha-fence-state">
              <FenceState fence={status.fence} />
            </dd>
          </>
        )}
      </dl>
    </section>
  );
}

/** none, in-progress, fenced, or "failed: why" as a badge (and the why). */
export function FenceState({ fence }: { fence: string }) {
  if (fence === 'none') return <span className="muted">none</span>;
  const failed = /^failed:?\s*(.*)$/.exec(fence);
  if (failed) {
    return (
      <>
        <StateBadge state="failed" /> <span className="small">{failed[1]}</span>
      </>
    );
  }
  return <StateBadge state={fence} />;
}
