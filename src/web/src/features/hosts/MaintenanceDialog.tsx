import { useEffect, useState } from 'react';
import { asApiError, type EvacuationPlan, type Host, type Operation } from '../../api';
import { Dialog } from '../../components/Dialog';
import { ErrorNotice } from '../../components/ErrorNotice';
import { useSubmit } from '../../components/useSubmit';
import { formatBytes } from '../../format';
import { Link, vmPath } from '../../router';
import { useSession } from '../auth/session';

/**
 * Entering maintenance: first the pre-flight report (a dry run: where each VM would go, which
 * cannot move and why), and only on confirmation the real thing, whose operation is handed back.
 */
export function MaintenanceDialog({ host, onClose, onStarted }: { host: Host; onClose: () => void; onStarted: (operation: Operation) => void }) {
  const { api, operations } = useSession();
  const [plan, setPlan] = useState<EvacuationPlan | null>(null);
  const [force, setForce] = useState(false);
  const { busy, error, setError, submit } = useSubmit();

  useEffect(() => {
    let cancelled = false;
    api.enterMaintenance(host.name, { dryRun: true }).then(
      (entry) => !cancelled && setPlan(entry.plan),
      (err: unknown) => !cancelled && setError(asApiError(err)),
    );
    return () => {
      cancelled = true;
    };
  }, [api, host.name, setError]);

  const enter = () =>
    submit(async () => {
      const entry = await api.enterMaintenance(host.name, force ? { force: true } : {});
      if (entry.operation) {
        operations.track(entry.operation);
        onStarted(entry.operation);
      }
      onClose();
    });

  return (
    <Dialog
      id="host-maintenance-dialog"
      title={`Put ${host.name} in maintenance?`}
      submitLabel={plan && plan.moves.length > 0 ? `Enter maintenance and move ${plan.moves.length} VM${plan.moves.length === 1 ? '' : 's'}` : 'Enter maintenance'}
      submitDisabled={!plan || (!plan.complete && !force)}
      busy={busy}
      onClose={onClose}
      onSubmit={() => void enter()}
    >
      <p className="muted small">The host takes no new VMs. Its running VMs are live-migrated away, one at a time; a VM that cannot move keeps running here.</p>
      {error && <ErrorNotice error={error} id="host-maintenance-error" />}
      {!plan && !error && <p className="muted">Checking where each VM would go…</p>}
      {plan && (
        <div id="host-maintenance-report" data-complete={plan.complete}>
          <h3>Pre-flight report</h3>
          {plan.moves.length === 0 && plan.unmovable.length === 0 && <p id="host-maintenance-nothing">No VM runs here: nothing has to move.</p>}
          {plan.moves.length > 0 && (
            <table className="plan-table" id="host-maintenance-moves">
              <caption>VMs that move ({formatBytes(plan.totalCostBytes)} of memory and disks to copy in all)</caption>
              <thead>
                <tr>
                  <th scope="col">VM</th>
                  <th scope="col">To</th>
                  <th scope="col">Copies</th>
                  <th scope="col">Why there</th>
                </tr>
              </thead>
              <tbody>
                {plan.moves.map((m) => (
                  <tr key={m.vm} id={`maintenance-move-${m.vm}`} data-to={m.to}>
                    <td>
                      <Link to={vmPath(m.vm)}>{m.vm}</Link>
                    </td>
                    <td>{m.to}</td>
                    <td className="small">
                      {m.restart
                        ? `restart: stopped, ${m.storage === 'local' ? `${formatBytes(m.diskBytes)} disk copied` : 'disk stays in the shared pool'}, started there (down for a few seconds)`
                        : m.storage === 'local'
                          ? `${formatBytes(m.memoryBytes)} memory + ${formatBytes(m.diskBytes)} disks (mirrored)`
                          : `${formatBytes(m.memoryBytes)} memory`}
                    </td>
                    <td className="small">{m.reason}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {plan.unmovable.length > 0 && (
            <div className="notice warning" id="host-maintenance-unmovable">
              <strong>
                {plan.unmovable.length} VM{plan.unmovable.length === 1 ? '' : 's'} cannot move and would keep running here:
              </strong>
              <ul>
                {plan.unmovable.map((u) => (
                  <li key={u.vm} id={`maintenance-unmovable-${u.vm}`}>
                    <strong>{u.vm}</strong>: {u.reason}
                    {u.refusals.length > 0 && (
                      <ul className="small">
                        {u.refusals.map((r) => (
                          <li key={`${r.host}-${r.filter}`}>
                            {r.host}: {r.reason}
                          </li>
                        ))}
                      </ul>
                    )}
                  </li>
                ))}
              </ul>
              <label className="checkbox">
                <input type="checkbox" id="host-maintenance-force" checked={force} onChange={(e) => setForce(e.target.checked)} /> Enter maintenance anyway
              </label>
            </div>
          )}
        </div>
      )}
    </Dialog>
  );
}
