import { useEffect, useMemo, useRef, useState } from 'react';
import { useNow } from '../../components/useNow';
import { ErrorNotice } from '../../components/ErrorNotice';
import { useFleet } from '../../live/fleet';
import { useHaView, useHaWatch } from '../../live/ha';
import { Link } from '../../router';
import { useSession } from '../auth/session';
import { hostsByName, needsAttention } from '../ha/liveness';
import { HostCard } from '../hosts/HostCard';
import { CreateVmDialog } from '../vms/CreateVmDialog';
import { VmTable } from '../vms/VmTable';

/** HA's verdicts change with events; this is the backstop for a verdict reached without one (a host's first). */
const HA_REFRESH_MS = 15_000;
/** While a host is not ok its card shows HA's reason, whose ages should not lag far behind. */
const HA_ATTENTION_REFRESH_MS = 3_000;

/** Everything at once: every host as a card (with HA's verdict when it is not ok), every VM and container in one table, kept live by the event stream. */
export function Dashboard() {
  const { fleet, ha } = useSession();
  const state = useFleet(fleet);
  const { status: haStatus } = useHaView(ha);
  const liveness = useMemo(() => hostsByName(haStatus), [haStatus]);
  const now = useNow(5_000);
  const tableNow = useNow(30_000);
  const [creating, setCreating] = useState(false);
  const hosts = useMemo(() => [...state.hosts.values()].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true })), [state.hosts]);
  const vms = useMemo(() => [...state.vms.values()], [state.vms]);
  const running = useMemo(() => vms.filter((vm) => vm.state === 'running').length, [vms]);
  const healthy = hosts.filter((h) => h.health === 'healthy').length;
  const attention = hosts.filter((h) => needsAttention(liveness.get(h.name)?.liveness ?? 'unknown')).length;
  // Read once the fleet is in, so the first paint waits for nothing but the fleet.
  useHaWatch(ha, attention > 0 ? HA_ATTENTION_REFRESH_MS : HA_REFRESH_MS, state.loaded);

  // For the benchmark and tests: the first full render with data, painted.
  const marked = useRef(false);
  useEffect(() => {
    if (!state.loaded || marked.current) return;
    marked.current = true;
    // After the frame that lays out and paints the rows, not before it.
    requestAnimationFrame(() => setTimeout(() => performance.mark('drover:dashboard-ready'), 0));
  }, [state.loaded]);

  return (
    <main className="page" id="dashboard" data-loaded={state.loaded}>
      <div className="page-header">
        <h1>Dashboard</h1>
        <div className="summary" aria-label="Summary">
          <span>
            <strong>{healthy}</strong>/{hosts.length} hosts healthy
          </span>
          <span>
            <strong>{running}</strong>/{vms.length} VMs running
          </span>
          {attention > 0 && (
            <Link to="/cluster" id="dashboard-ha-alert" className="summary-alert" title="Hosts HA finds suspect, isolated, failed, fenced or confirmed down; the Cluster page has the details">
              <strong>{attention}</strong> host{attention === 1 ? '' : 's'} not ok (HA)
            </Link>
          )}
        </div>
        <button type="button" className="primary" id="vm-create" onClick={() => setCreating(true)}>
          Create VM
        </button>
      </div>
      {state.error && <ErrorNotice error={state.error} id="dashboard-error" />}
      {!state.loaded && !state.error && <p className="muted">Loading…</p>}
      <section aria-labelledby="hosts-title">
        <h2 id="hosts-title">Hosts</h2>
        <div className="host-grid" id="host-grid">
          {hosts.map((host) => (
            <HostCard key={host.name} host={host} now={now} liveness={liveness.get(host.name)?.liveness} livenessReason={liveness.get(host.name)?.reason} />
          ))}
        </div>
      </section>
      <section aria-labelledby="vms-title">
        <h2 id="vms-title">VMs and containers</h2>
        <VmTable vms={vms} now={tableNow} />
      </section>
      {creating && <CreateVmDialog onClose={() => setCreating(false)} />}
    </main>
  );
}
