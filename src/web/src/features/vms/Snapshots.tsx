import { useCallback, useEffect, useState } from 'react';
import { asApiError, type ApiError, type Snapshot, type Vm } from '../../api';
import { Dialog } from '../../components/Dialog';
import { ErrorNotice } from '../../components/ErrorNotice';
import { formatBytes, formatTime } from '../../format';
import { useSession } from '../auth/session';
import { useVmAction } from './useVmAction';

/** The VM's snapshots, with revert (stopped VMs only) and delete; re-read when a snapshot operation ends. */
export function Snapshots({ vm }: { vm: Vm }) {
  const { api, operations } = useSession();
  const [snapshots, setSnapshots] = useState<Snapshot[] | null>(null);
  const [loadError, setLoadError] = useState<ApiError | null>(null);
  const [confirm, setConfirm] = useState<{ kind: 'revert' | 'delete'; name: string } | null>(null);
  const { run, error, busy, clearError } = useVmAction(vm.name);

  const load = useCallback(() => {
    api.snapshots(vm.name).then(
      (list) => (setSnapshots(list), setLoadError(null)),
      (err: unknown) => setLoadError(asApiError(err)),
    );
  }, [api, vm.name]);

  useEffect(load, [load]);
  useEffect(() => operations.onFinished((op) => op.target.type === 'vm' && op.target.name === vm.name && load()), [operations, vm.name, load]);

  const stopped = vm.state === 'stopped';
  return (
    <section className="panel" aria-labelledby="snapshots-title" id="vm-snapshots">
      <h2 id="snapshots-title">Snapshots</h2>
      {loadError && <ErrorNotice error={loadError} />}
      {error && <ErrorNotice error={error} id="snapshot-error" onDismiss={clearError} />}
      {snapshots && snapshots.length === 0 && <p className="muted">No snapshots. “Snapshot” above takes one.</p>}
      {snapshots && snapshots.length > 0 && (
        <table className="compact">
          <thead>
            <tr>
              <th>Name</th>
              <th>Taken</th>
              <th>
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {snapshots.map((s) => (
              <tr key={s.name} id={`snapshot-row-${s.name}`}>
                <td>{s.name}</td>
                <td>
                  {formatTime(s.createdAt)}
                  {s.vmStateSizeBytes > 0 && <span className="muted small"> (with {formatBytes(s.vmStateSizeBytes)} of memory)</span>}
                </td>
                <td className="row-actions">
                  <button
                    type="button"
                    id={`snapshot-revert-${s.name}`}
                    disabled={!stopped || busy !== null}
                    title={stopped ? undefined : 'Stop the VM to revert it'}
                    onClick={() => setConfirm({ kind: 'revert', name: s.name })}
                  >
                    Revert
                  </button>
                  <button type="button" id={`snapshot-delete-${s.name}`} className="danger-text" disabled={busy !== null} onClick={() => setConfirm({ kind: 'delete', name: s.name })}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {confirm && (
        <Dialog
          id={`snapshot-${confirm.kind}-dialog`}
          title={confirm.kind === 'revert' ? `Revert ${vm.name} to ${confirm.name}?` : `Delete snapshot ${confirm.name}?`}
          submitLabel={confirm.kind === 'revert' ? 'Revert' : 'Delete snapshot'}
          danger
          onClose={() => setConfirm(null)}
          onSubmit={() => {
            const { kind, name } = confirm;
            setConfirm(null);
            void run(kind, () => (kind === 'revert' ? api.revertSnapshot(vm.name, name) : api.deleteSnapshot(vm.name, name)));
          }}
        >
          <p>{confirm.kind === 'revert' ? 'Every disk goes back to the snapshot; what was written since is lost.' : 'The snapshot is removed from every disk.'}</p>
        </Dialog>
      )}
    </section>
  );
}
