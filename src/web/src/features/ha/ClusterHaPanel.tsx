import { Fragment, useEffect, useMemo, useState, type FormEvent } from 'react';
import type { HaStatus } from '../../api';
import { ErrorNotice } from '../../components/ErrorNotice';
import { StateBadge } from '../../components/StateBadge';
import { useSubmit } from '../../components/useSubmit';
import { formatSeconds } from '../../format';
import { useFleet } from '../../live/fleet';
import { useHaStatus } from '../../live/ha';
import { hostPath, Link, vmPath } from '../../router';
import { useSession } from '../auth/session';
import { FenceState } from './HostHa';
import { inFailover, LIVENESS_TEXT, PHASE_TEXT, waitingText } from './liveness';

/** Lease and storage heartbeat ages change without events: read HA's status this often while the panel shows. */
const HA_REFRESH_MS = 2_000;

/**
 * High availability across the cluster (GET /ha/status): admission control (editable: how many
 * host failures the HA VMs must survive) and whether the cluster meets it, each host's liveness,
 * lease and storage heartbeat ages, watchdog and fencing, the protected VMs with failovers in
 * progress first, and the timings HA runs with.
 */
export function ClusterHaPanel() {
  const { ha } = useSession();
  const { status, error } = useHaStatus(ha, HA_REFRESH_MS);
  const failovers = status?.vms.filter((vm) => inFailover(vm.phase)).length ?? 0;
  return (
    <section className="panel" aria-labelledby="cluster-ha-title" id="cluster-ha" data-failovers={failovers}>
      <div className="panel-header">
        <h2 id="cluster-ha-title">High availability</h2>
        {failovers > 0 && (
          <span className="badge warn" id="cluster-ha-failovers">
            {failovers} failover{failovers === 1 ? '' : 's'} in progress
          </span>
        )}
      </div>
      <p className="muted small">When a host fails, HA powers it off (or waits until it must have fenced itself) and restarts its protected VMs on the other hosts, highest priority first.</p>
      {error && <ErrorNotice error={error} id="cluster-ha-error" />}
      {!status && !error && <p className="muted">Loading…</p>}
      {status && (
        <>
          <Admission status={status} />
          <HostTable status={status} />
          <VmTable status={status} />
          <Timings timings={status.timings} />
        </>
      )}
    </section>
  );
}

/** Admission control: the setting, editable (PUT /cluster/policy haHostFailures), and whether the cluster meets it now. */
function Admission({ status }: { status: HaStatus }) {
  const { api, ha } = useSession();
  const { admission } = status;
  const [draft, setDraft] = useState(String(admission.haHostFailures));
  const { busy, error, clearError, submit } = useSubmit();
  const [saved, setSaved] = useState(false);
  // A change made elsewhere (CLI, another console) shows at once.
  useEffect(() => setDraft(String(admission.haHostFailures)), [admission.haHostFailures]);

  const value = Number(draft);
  const valid = draft.trim() !== '' && Number.isInteger(value) && value >= 0 && value <= 100;
  const changed = valid && value !== admission.haHostFailures;
  const save = async (event: FormEvent) => {
    event.preventDefault();
    setSaved(false);
    const ok = await submit(async () => {
      await api.setClusterPolicy({ haHostFailures: value });
      ha.refresh();
    });
    setSaved(ok);
  };

  const off = admission.haHostFailures === 0;
  return (
    <div id="cluster-ha-admission" data-admitted={admission.admitted} data-host-failures={admission.haHostFailures}>
      <h3>Admission control</h3>
      <p className="plan-summary" id="cluster-ha-admission-state">
        {off ? (
          <span className="badge off">off</span>
        ) : (
          <span className={`badge ${admission.admitted ? 'ok' : 'bad'}`}>{admission.admitted ? 'admitted' : 'not admitted'}</span>
        )}
        <span id="cluster-ha-admission-reason">
          {off ? 'Starts and protections are not checked: HA restarts VMs wherever room is left, and nothing keeps room for them.' : admission.reason}
        </span>
      </p>
      <form className="inline-form" onSubmit={(e) => void save(e)}>
        <label htmlFor="cluster-ha-host-failures">Keep room for the HA VMs of</label>
        <input id="cluster-ha-host-failures" type="number" min={0} max={100} step={1} required className="narrow" value={draft} onChange={(e) => setDraft(e.target.value)} aria-describedby="cluster-ha-host-failures-help" />
        <span>failed host(s)</span>
        <button type="submit" id="cluster-ha-save" disabled={!changed || busy}>
          {busy ? 'Saving…' : 'Save'}
        </button>
        {saved && !changed && (
          <span className="result ok" role="status" id="cluster-ha-saved">
            Saved
          </span>
        )}
      </form>
      <p className="muted small" id="cluster-ha-host-failures-help">
        Starting an HA VM, or protecting a running one, is refused unless the HA VMs of any that many failed hosts could restart on the others. 0 turns admission control off.
      </p>
      {error && <ErrorNotice error={error} id="cluster-ha-admission-error" onDismiss={clearError} />}
    </div>
  );
}

/** Every host as HA sees it; the fence device's agent comes from the host list. */
function HostTable({ status }: { status: HaStatus }) {
  const { fleet } = useSession();
  const { hosts } = useFleet(fleet);
  return (
    <div className="table-scroll">
      <table className="compact ha-table" id="cluster-ha-hosts">
        <caption>Hosts</caption>
        <thead>
          <tr>
            <th scope="col">Host</th>
            <th scope="col">Liveness</th>
            <th scope="col" className="numeric" title="The agent renews its lease about every second">
              Last lease renewal
            </th>
            <th scope="col" className="numeric" title="Written in every shared storage pool the host reaches">
              Storage heartbeat
            </th>
            <th scope="col">Watchdog</th>
            <th scope="col">Fence device</th>
            <th scope="col">Fencing</th>
          </tr>
        </thead>
        <tbody>
          {status.hosts.map((h) => {
            const agent = hosts.get(h.name)?.fence?.agent;
            return (
              <tr key={h.name} id={`ha-host-${h.name}`} data-liveness={h.liveness} className={h.liveness === 'ok' || h.liveness === 'unknown' ? undefined : 'ha-attention'}>
                <td>
                  <Link to={hostPath(h.name)}>{h.name}</Link>
                </td>
                <td>
                  <span title={LIVENESS_TEXT[h.liveness]}>
                    <StateBadge state={h.liveness} />
                  </span>
                  {/* An ok host's reason is its lease age, which the next column shows. */}
                  {h.liveness !== 'ok' && <div className="small ha-reason-cell">{h.reason}</div>}
                </td>
                <td className="numeric nowrap ha-lease-age">{h.leaseAgeMs === null ? <span className="muted">never</span> : `${formatSeconds(h.leaseAgeMs)} ago`}</td>
                <td className="numeric nowrap ha-storage-age">{h.storageHeartbeatAgeMs === null ? <span className="muted" title="No shared storage, or not read yet">-</span> : `${formatSeconds(h.storageHeartbeatAgeMs)} ago`}</td>
                <td>{h.watchdog ? 'armed' : <span className="muted">none</span>}</td>
                <td>{h.fenceDevice ? <code>{agent ?? 'yes'}</code> : <span className="muted">none</span>}</td>
                <td>
                  <FenceState fence={h.fence} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** The protected VMs: failovers in progress first, then by priority (highest first) and name. */
function VmTable({ status }: { status: HaStatus }) {
  const vms = useMemo(
    () => [...status.vms].sort((a, b) => Number(inFailover(b.phase)) - Number(inFailover(a.phase)) || b.priority - a.priority || a.name.localeCompare(b.name, undefined, { numeric: true })),
    [status.vms],
  );
  if (vms.length === 0) {
    return (
      <p className="muted" id="cluster-ha-vms-empty">
        No VM is protected by HA. Switch it on in a VM's Overview; its disks must be on shared storage that another host reaches.
      </p>
    );
  }
  return (
    <div className="table-scroll">
      <table className="compact ha-table" id="cluster-ha-vms">
        <caption>Protected VMs</caption>
        <thead>
          <tr>
            <th scope="col">VM</th>
            <th scope="col">Host</th>
            <th scope="col" className="numeric">
              Priority
            </th>
            <th scope="col">Isolation response</th>
            <th scope="col">Phase</th>
            <th scope="col" className="numeric" title="Raised at every start HA allows">
              Generation
            </th>
          </tr>
        </thead>
        <tbody>
          {vms.map((vm) => (
            <tr key={vm.name} id={`ha-vm-${vm.name}`} data-phase={vm.phase} className={inFailover(vm.phase) ? 'ha-failover' : undefined}>
              <td>
                <Link to={vmPath(vm.name)}>{vm.name}</Link>
              </td>
              <td>{vm.host ? <Link to={hostPath(vm.host)}>{vm.host}</Link> : <span className="muted">-</span>}</td>
              <td className="numeric">{vm.priority}</td>
              <td>{vm.isolation}</td>
              <td>
                <span title={PHASE_TEXT[vm.phase]}>
                  <StateBadge state={vm.phase} />
                </span>
                {vm.waiting && <div className="small">waiting for {waitingText(vm.waiting)}</div>}
                {vm.failedReason && <div className="small">{vm.failedReason}</div>}
              </td>
              <td className="numeric">{vm.generation}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** "leaseExpiryMs" → "Lease expiry". */
function timingLabel(key: string): string {
  const words = key
    .replace(/Ms$/, '')
    .replace(/([A-Z])/g, ' $1')
    .toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** The timings HA runs with, folded away behind the ones that say how fast it acts. */
function Timings({ timings }: { timings: Record<string, number> }) {
  const { suspectAfterMs, leaseExpiryMs } = timings;
  return (
    <details id="cluster-ha-timings">
      <summary>
        Timings{suspectAfterMs !== undefined && leaseExpiryMs !== undefined && `: a host is suspect after ${formatSeconds(suspectAfterMs)} without a lease renewal, and its lease expires after ${formatSeconds(leaseExpiryMs)}`}
      </summary>
      <dl className="facts">
        {Object.entries(timings).map(([key, ms]) => (
          <Fragment key={key}>
            <dt>{timingLabel(key)}</dt>
            <dd data-timing={key}>{key.endsWith('Ms') ? formatSeconds(ms) : ms}</dd>
          </Fragment>
        ))}
      </dl>
    </details>
  );
}
