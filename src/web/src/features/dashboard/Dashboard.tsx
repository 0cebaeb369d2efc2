import { useEffect, useMemo, useRef, useState } from 'react';
import { useNow } from '../../components/useNow';
import { ErrorNotice } from '../../components/ErrorNotice';
import { useFleet } from '../../live/fleet';
import { useSession } from '../auth/session';
import { HostCard } from '../hosts/HostCard';
import { CreateVmDialog } from '../vms/CreateVmDialog';
import { VmTable } from '../vms/VmTable';

/** Everything at once: every host as a card, every VM in one table, kept live by the event stream. */
export function Dashboard() {
  const { fleet } = useSession();
  const state = useFleet(fleet);
  const now = useNow(5_000);
  const tableNow = useNow(30_000);
  const [creating, setCreating] = useState(false);
  const hosts = useMemo(() => [...state.hosts.values()].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true })), [state.hosts]);
  const vms = useMemo(() => [...state.vms.values()], [state.vms]);
  const running = useMemo(() => vms.filter((vm) => vm.state === 'running').length, [vms]);
  const healthy = hosts.filter((h) => h.health === 'healthy').length;

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
            <HostCard key={host.name} host={host} now={now} />
          ))}
        </div>
      </section>
      <section aria-labelledby="vms-title">
        <h2 id="vms-title">Virtual machines</h2>
        <VmTable vms={vms} now={tableNow} />
      </section>
      {creating && <CreateVmDialog onClose={() => setCreating(false)} />}
    </main>
  );
}
