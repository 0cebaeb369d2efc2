import { useCallback, useMemo, useState } from 'react';
import type { DroverEvent } from '../../api';
import { ErrorNotice } from '../../components/ErrorNotice';
import { Meter } from '../../components/Meter';
import { StateBadge } from '../../components/StateBadge';
import { useNow } from '../../components/useNow';
import { useSubmit } from '../../components/useSubmit';
import { formatAge, formatBytes, formatTime } from '../../format';
import { useFleet } from '../../live/fleet';
import { useHaStatus } from '../../live/ha';
import { Link } from '../../router';
import { useSession } from '../auth/session';
import { OperationCard } from '../operations/OperationCard';
import { useTrackedOperations } from '../operations/tracker';
import { EventTable } from '../events/EventTable';
import { useEventTimeline } from '../events/useEventTimeline';
import { HostHaPanel, HostLivenessNotice } from '../ha/HostHa';
import { needsAttention } from '../ha/liveness';
import { VmTable } from '../vms/VmTable';
import { MaintenanceDialog } from './MaintenanceDialog';

/** Lease and storage heartbeat ages change without events: read HA's status this often while the page shows. */
const HA_REFRESH_MS = 2_000;

/**
 * One host: health, HA liveness (with "Confirm host is down" when HA cannot be sure it is off),
 * accelerator, tags, storage pools, CPU models, fence device, capacity and usage, maintenance mode,
 * its VMs, VMs it runs that Drover does not know, and its events.
 */
export function HostPage({ name }: { name: string }) {
  const { api, fleet, ha, operations } = useSession();
  const haView = useHaStatus(ha, HA_REFRESH_MS);
  const haHost = haView.status?.hosts.find((h) => h.name === name);
  const state = useFleet(fleet);
  const now = useNow(5_000);
  const host = state.hosts.get(name);
  const vms = useMemo(() => [...state.vms.values()].filter((vm) => vm.host === name), [state.vms, name]);
  const running = vms.filter((vm) => vm.state === 'running' || vm.state === 'paused');
  const matches = useCallback((e: DroverEvent) => (host ? e.hostId === host.id || (e.object.type === 'host' && e.object.id === host.id) : false), [host]);
  const { events, error } = useEventTimeline({ host: name }, matches, 50);
  const [dialog, setDialog] = useState(false);
  const { busy: exiting, error: actionError, clearError: clearActionError, submit } = useSubmit();
  const [evacuationId, setEvacuationId] = useState<string | null>(null);
  const evacuation = useTrackedOperations(operations).find((t) => t.operation.id === evacuationId);

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
        {haHost && needsAttention(haHost.liveness) && <StateBadge state={haHost.liveness} id="host-liveness" />}
        <span className="spacer" />
        <MaintenanceControls
          state={host.state}
          exiting={exiting}
          onEnter={() => setDialog(true)}
          onExit={() =>
            void submit(async () => {
              await api.exitMaintenance(host.name);
              fleet.refreshHosts();
            })
          }
        />
      </div>
      <HostLivenessNotice host={host} status={haHost} />
      {actionError && <ErrorNotice error={actionError} id="host-action-error" onDismiss={clearActionError} />}
      {evacuation && (
        <div id="host-maintenance-operation">
          <OperationCard op={evacuation.operation} cancelError={evacuation.cancelError} onCancel={() => void operations.cancel(evacuation.operation.id)} showSteps />
        </div>
      )}
      {dialog && <MaintenanceDialog host={host} onClose={() => setDialog(false)} onStarted={(op) => setEvacuationId(op.id)} />}
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
            <dt>Storage pools</dt>
            <dd id="host-pools">
              {host.pools.length === 0 ? (
                <span className="muted">none reported yet</span>
              ) : (
                host.pools.map((pool) => (
                  <span key={pool.name} className="tag" data-kind={pool.kind} title={pool.kind === 'shared' ? 'Shared storage: VMs in it move without copying their disks' : 'The host\'s own directory'}>
                    {pool.name} <span className="muted">({pool.kind})</span>
                  </span>
                ))
              )}
            </dd>
            <dt>CPU models</dt>
            <dd id="host-cpu-models">
              {host.cpuModels.length === 0 ? (
                <span className="muted">none reported yet</span>
              ) : (
                <CpuModelList models={host.cpuModels} />
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
        <HostHaPanel host={host} status={haHost} error={haView.error} />
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

/** Enter (through the pre-flight report) or exit maintenance, as the host's state allows. */
function MaintenanceControls({ state, exiting, onEnter, onExit }: { state: string; exiting: boolean; onEnter: () => void; onExit: () => void }) {
  if (state === 'maintenance') {
    return (
      <button type="button" id="host-maintenance-exit" onClick={onExit} disabled={exiting}>
        {exiting ? 'Exiting maintenance…' : 'Exit maintenance'}
      </button>
    );
  }
  return (
    <button type="button" id="host-maintenance-enter" onClick={onEnter} disabled={state !== 'ready'} title={state === 'ready' ? 'Shows where each VM would go before anything changes' : `Not possible while the host is ${state}`}>
      Enter maintenance…
    </button>
  );
}

/** How many CPU models show before the rest fold away (under TCG a host reports over a hundred). */
const CPU_MODELS_SHOWN = 8;

/** A host's CPU models as tags: the first few, and the rest behind a disclosure. */
function CpuModelList({ models }: { models: string[] }) {
  const tag = (model: string) => (
    <span key={model} className="tag" title={model === '*' ? 'Under TCG QEMU emulates every CPU model' : undefined}>
      {model === '*' ? 'any (emulated)' : model}
    </span>
  );
  if (models.length <= CPU_MODELS_SHOWN) return <>{models.map(tag)}</>;
  return (
    <details id="host-cpu-models-more">
      <summary>
        {models.length} models: {models.slice(0, CPU_MODELS_SHOWN).join(', ')}, …
      </summary>
      {models.map(tag)}
    </details>
  );
}
