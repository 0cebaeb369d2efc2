import { useCallback, useMemo } from 'react';
import type { DroverEvent } from '../../api';
import { ErrorNotice } from '../../components/ErrorNotice';
import { Meter } from '../../components/Meter';
import { StateBadge } from '../../components/StateBadge';
import { useNow } from '../../components/useNow';
import { formatAge, formatBytes, formatTime } from '../../format';
import { useFleet } from '../../live/fleet';
import { Link } from '../../router';
import { useSession } from '../auth/session';
import { EventTable } from '../events/EventTable';
import { useEventTimeline } from '../events/useEventTimeline';
import { VmTable } from '../vms/VmTable';

/** One host: health, accelerator, tags, capacity and usage, its VMs, VMs it runs that Drover does not know, and its events. */
export function HostPage({ name }: { name: string }) {
  const { fleet } = useSession();
  const state = useFleet(fleet);
  const now = useNow(5_000);
  const host = state.hosts.get(name);
  const vms = useMemo(() => [...state.vms.values()].filter((vm) => vm.host === name), [state.vms, name]);
  const running = vms.filter((vm) => vm.state === 'running' || vm.state === 'paused');
  const matches = useCallback((e: DroverEvent) => (host ? e.hostId === host.id || (e.object.type === 'host' && e.object.id === host.id) : false), [host]);
  const { events, error } = useEventTimeline({ host: name }, matches, 50);

  if (!host) {
    return (
      <main className="page" id="host-page">
        <p className="breadcrumbs">
          <Link to="/">Dashboard</Link> /
        </p>
        <h1>{name}</h1>
        {state.error && <ErrorNotice error={state.error} />}
        <p className="muted">{state.loaded ? 'There is no host with this name.' : 'Loading…'}</p>
      </main>
    );
  }
  const tags = Object.entries(host.tags ?? {});
  return (
    <main className="page" id="host-page" data-host={host.name}>
      <p className="breadcrumbs">
        <Link to="/">Dashboard</Link> /
      </p>
      <div className="page-header">
        <h1>{host.name}</h1>
        <StateBadge state={host.health} id="host-health" />
        <StateBadge state={host.state} id="host-state" />
      </div>
      <div className="overview">
        <section className="panel" aria-labelledby="host-details-title">
          <h2 id="host-details-title">Details</h2>
          <dl className="facts">
            <dt>Accelerator</dt>
            <dd id="host-accelerator">
              {host.accelerator.toUpperCase()}
              {host.acceleratorReason && <span className="muted small"> — {host.acceleratorReason}</span>}
            </dd>
            <dt>Tags</dt>
            <dd id="host-tags">
              {tags.length === 0 ? (
                <span className="muted">{host.tags ? 'none' : '- (not in this controller’s API yet)'}</span>
              ) : (
                tags.map(([k, v]) => (
                  <span key={k} className="tag">
                    {v ? `${k}=${v}` : k}
                  </span>
                ))
              )}
            </dd>
            <dt>Agent</dt>
            <dd>
              <code>{host.address}</code> (version {host.version})
            </dd>
            <dt>Last heartbeat</dt>
            <dd title={host.lastHeartbeat ?? undefined}>{formatAge(host.lastHeartbeat, now)}</dd>
            {host.cpuOvercommit !== undefined && (
              <>
                <dt>Overcommit</dt>
                <dd>
                  CPU {host.cpuOvercommit}×, memory {host.memoryOvercommit ?? 1}×
                </dd>
              </>
            )}
          </dl>
        </section>
        <section className="panel" aria-labelledby="host-usage-title">
          <h2 id="host-usage-title">Capacity and use</h2>
          <Meter label="vCPUs of running VMs" used={host.usage.cpus} total={host.capacity.cpus} text={`${host.usage.cpus} of ${host.capacity.cpus} CPUs`} />
          <Meter label="Memory of running VMs" used={host.usage.memoryBytes} total={host.capacity.memoryBytes} text={`${formatBytes(host.usage.memoryBytes)} of ${formatBytes(host.capacity.memoryBytes)}`} />
          <p className="muted small">
            {host.vmCount} VMs placed here, {running.length} running or paused.
          </p>
        </section>
      </div>
      {host.unmanagedVms.length > 0 && (
        <section className="panel" aria-labelledby="unmanaged-title" id="host-unmanaged">
          <h2 id="unmanaged-title">VMs Drover does not manage</h2>
          <p className="muted small">The host runs these, but the controller has no record of them. Drover never kills them.</p>
          <ul>
            {host.unmanagedVms.map((u) => (
              <li key={u.name}>
                <strong>{u.name}</strong> ({u.state}
                {u.pid ? `, pid ${u.pid}` : ''}), seen since {formatTime(u.seenSince)}
              </li>
            ))}
          </ul>
        </section>
      )}
      <section aria-labelledby="host-vms-title">
        <h2 id="host-vms-title">VMs on {host.name}</h2>
        <VmTable vms={vms} now={now} hideHost idPrefix="host-vm-table" />
      </section>
      <section className="panel" aria-labelledby="host-events-title">
        <h2 id="host-events-title">Recent events</h2>
        {error && <ErrorNotice error={error} />}
        <EventTable events={events} hostName={(id) => fleet.hostName(id)} />
      </section>
    </main>
  );
}
