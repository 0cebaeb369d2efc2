import { lazy, Suspense, useCallback } from 'react';
import type { DroverEvent, Vm } from '../../api';
import { ErrorNotice } from '../../components/ErrorNotice';
import { StateBadge } from '../../components/StateBadge';
import { Tabs } from '../../components/Tabs';
import { useNow } from '../../components/useNow';
import { formatDuration, formatMiB, formatTime } from '../../format';
import { useFleet } from '../../live/fleet';
import { hostPath, Link, navigate, useLocation, vmPath } from '../../router';
import { useSession } from '../auth/session';
import { EventTable } from '../events/EventTable';
import { useEventTimeline } from '../events/useEventTimeline';
import { VmHaPanel } from '../ha/VmHaPanel';
import { PlacementRules } from '../placement/PlacementRules';
import { PlacementTimeline } from '../placement/PlacementTimeline';
import { guestFeatures } from './guestTypes';
import { Hardware } from './Hardware';
import { LimitsPanel } from './LimitsPanel';
import { PRIVILEGED_HELP, PrivilegedBadge } from './PrivilegedBadge';
import { Snapshots } from './Snapshots';
import { VmActions } from './VmActions';
import { VmHost } from './VmHost';

// The consoles and charts carry large libraries: load them when their tab opens.
const MetricsCharts = lazy(() => import('./MetricsCharts'));
const SerialConsole = lazy(() => import('../console/SerialConsole'));
const GraphicalConsole = lazy(() => import('../console/GraphicalConsole'));

type TabId = 'overview' | 'console' | 'display' | 'events';
/** The text console (a VM's serial port, a container's pty) works for every guest; the graphical one needs VNC. */
const TABS: ReadonlyArray<{ id: TabId; label: string; needsVnc?: boolean }> = [
  { id: 'overview', label: 'Overview' },
  { id: 'console', label: 'Console' },
  { id: 'display', label: 'Graphical console', needsVnc: true },
  { id: 'events', label: 'Events' },
];

/** One VM or container: actions, details, limits, HA protection, placement history and rules, disks, NICs, snapshots, usage charts, consoles and its events. */
export function VmPage({ name }: { name: string }) {
  const { fleet } = useSession();
  const state = useFleet(fleet);
  const { search } = useLocation();
  const vm = state.vms.get(name);
  const features = guestFeatures(vm?.type ?? 'vm');
  const tabs = TABS.filter((t) => !t.needsVnc || features.vnc);
  // A link to a tab this guest does not have (a container's graphical console) opens the overview.
  const tab = tabs.find((t) => t.id === search.get('tab'))?.id ?? 'overview';

  if (!vm) {
    return (
      <main className="page" id="vm-page">
        <p className="breadcrumbs">
          <Link to="/">Dashboard</Link> /
        </p>
        <h1>{name}</h1>
        {state.error && <ErrorNotice error={state.error} />}
        <p className="muted" id="vm-missing">
          {state.loaded ? 'There is no VM with this name (it may have been deleted).' : 'Loading…'}
        </p>
      </main>
    );
  }
  return (
    <main className="page" id="vm-page" data-vm={vm.name} data-type={vm.type} data-state={vm.state}>
      <p className="breadcrumbs">
        <Link to="/">Dashboard</Link> / {vm.host ? <Link to={hostPath(vm.host)}>{vm.host}</Link> : 'no host'} /
      </p>
      <div className="page-header">
        <h1>{vm.name}</h1>
        <span className="tag guest-type" id="vm-guest-type" data-type={vm.type}>
          {features.label}
        </span>
        {vm.privileged && <PrivilegedBadge id="vm-privileged" />}
        <StateBadge state={vm.state} id="vm-state" />
        {vm.movingTo && (
          <span className="badge busy" id="vm-moving-to" data-moving-to={vm.movingTo} title={`A live migration is in flight: ${vm.name} runs on ${vm.host ?? 'its host'} until it switches over to ${vm.movingTo}`}>
            moving to {vm.movingTo}
          </span>
        )}
        {vm.state === 'running' && <span className="muted small" id="vm-guest" data-ready={vm.guestReady}>{vm.guestReady ? 'guest agent answering' : 'guest agent not answering yet'}</span>}
      </div>
      {vm.crashReason && (
        <p className="notice error" id="vm-crash-reason">
          {vm.crashReason}
        </p>
      )}
      <VmActions vm={vm} />
      <Tabs tabs={tabs} current={tab} idPrefix="vm" onSelect={(id) => navigate(vmPath(vm.name, id === 'overview' ? undefined : id), { replace: true })} />
      <div role="tabpanel" id={`vm-panel-${tab}`} aria-labelledby={`vm-tab-${tab}`} className="tab-panel">
        <Suspense fallback={<p className="muted">Loading…</p>}>
          {tab === 'overview' && <Overview vm={vm} />}
          {tab === 'console' && <SerialConsole vm={vm} />}
          {tab === 'display' && <GraphicalConsole vm={vm} />}
          {tab === 'events' && <VmEvents vm={vm} />}
        </Suspense>
      </div>
    </main>
  );
}

function Overview({ vm }: { vm: Vm }) {
  const now = useNow(10_000);
  const features = guestFeatures(vm.type);
  const live = vm.startedAt && (vm.state === 'running' || vm.state === 'paused');
  return (
    <div className="overview">
      <section className="panel" aria-labelledby="details-title" id="vm-details">
        <h2 id="details-title">Details</h2>
        <dl className="facts">
          <dt>Type</dt>
          <dd id="vm-type" data-type={vm.type} data-privileged={vm.privileged}>
            {features.description}
            {vm.privileged && (
              <p className="notice warning small" id="vm-privileged-warning">
                {PRIVILEGED_HELP}.
              </p>
            )}
          </dd>
          <dt>Host</dt>
          <dd id="vm-host">
            <VmHost vm={vm} />
          </dd>
          <dt>vCPUs</dt>
          <dd>{vm.cpus}</dd>
          <dt>CPU limit</dt>
          <dd id="vm-cpu-limit" data-value={vm.cpuLimitPercent ?? ''}>
            {vm.cpuLimitPercent === null ? 'none' : cpuLimitText(vm.cpuLimitPercent)}
          </dd>
          <dt>Memory</dt>
          <dd id="vm-memory" data-value={vm.memoryMiB}>
            {formatMiB(vm.memoryMiB)}
          </dd>
          {features.processLimit && (
            <>
              <dt>Process limit</dt>
              <dd id="vm-pids-limit" data-value={vm.pidsLimit ?? ''}>
                {vm.pidsLimit === null ? 'none' : `${vm.pidsLimit} processes`}
              </dd>
            </>
          )}
          <dt>Devices</dt>
          <dd id="vm-devices">{!features.deviceModels ? '-' : vm.devices === 'virtio' ? 'virtio (paravirtualized)' : 'emulated (IDE, e1000)'}</dd>
          <dt>Image</dt>
          <dd>{vm.image ?? '-'}</dd>
          <dt>Desired state</dt>
          <dd>{vm.desiredState}</dd>
          <dt>Uptime</dt>
          <dd>{live && vm.startedAt ? formatDuration(now - Date.parse(vm.startedAt)) : '-'}</dd>
          <dt>{features.pidLabel}</dt>
          <dd>{vm.pid ?? '-'}</dd>
          <dt>Created</dt>
          <dd>{formatTime(vm.createdAt)}</dd>
          <dt>IP addresses</dt>
          <dd id="vm-ips" className={vm.ips.length ? undefined : 'muted'} title={vm.ips.length ? undefined : 'Shown once the guest agent reports them'}>
            {vm.ips.length ? vm.ips.join(', ') : '-'}
          </dd>
        </dl>
      </section>
      <LimitsPanel vm={vm} />
      <VmHaPanel vm={vm} />
      <PlacementTimeline vm={vm} />
      <PlacementRules vm={vm} />
      <Hardware vm={vm} />
      <MetricsCharts vmName={vm.name} />
      <Snapshots vm={vm} />
    </div>
  );
}

/** 150 → "150% (1.5 cores)". */
function cpuLimitText(percent: number): string {
  const cores = percent / 100;
  return `${percent}% (${cores === 1 ? 'one core' : `${Math.round(cores * 100) / 100} cores`})`;
}

/** The VM's events: the timeline of what happened to it (the Overview has where it ran). */
function VmEvents({ vm }: { vm: Vm }) {
  const { fleet } = useSession();
  const matches = useCallback((e: DroverEvent) => e.object.type === 'vm' && (e.object.name === vm.name || e.object.id === vm.id), [vm.name, vm.id]);
  const { events, error } = useEventTimeline({ vm: vm.name }, matches);
  return (
    <section className="panel" aria-label="Events" id="vm-events">
      {error && <ErrorNotice error={error} />}
      <EventTable events={events} hostName={(id) => fleet.hostName(id)} showObject={false} />
      {events.length === 0 && <p className="muted">No events yet.</p>}
    </section>
  );
}
