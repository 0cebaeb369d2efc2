import { useCallback, useEffect, useState } from 'react';
import { asApiError, type ApiError, type Network } from '../../api';
import { Dialog } from '../../components/Dialog';
import { ErrorNotice } from '../../components/ErrorNotice';
import { Link, vmPath } from '../../router';
import { useSession } from '../auth/session';
import { useSubmit } from '../../components/useSubmit';
import { CreateNetworkDialog } from './CreateNetworkDialog';

/** Events after which the list (its members) may have changed. */
const NETWORK_ACTIONS = new Set(['network.create', 'network.delete', 'vm.create', 'vm.delete']);

/** Virtual networks (GET /networks) with the VM NICs on each; create and delete (a network in use is refused with the API's reason). */
export function NetworksPanel() {
  const { api, fleet } = useSession();
  const [networks, setNetworks] = useState<Network[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      setNetworks((await api.listNetworks()).sort((a, b) => a.name.localeCompare(b.name)));
    } catch (err) {
      setError(asApiError(err));
    }
  }, [api]);
  useEffect(() => void load(), [load]);
  useEffect(() => fleet.onEvent((event) => void (NETWORK_ACTIONS.has(event.action) && load())), [fleet, load]);

  return (
    <section className="panel" aria-labelledby="cluster-networks-title" id="cluster-networks">
      <div className="panel-header">
        <h2 id="cluster-networks-title">Virtual networks</h2>
        <span className="spacer" />
        <button type="button" className="primary" id="network-create" onClick={() => setCreating(true)}>
          Create network
        </button>
      </div>
      {error && <ErrorNotice error={error} id="cluster-networks-error" onDismiss={() => setError(null)} />}
      {networks === null && !error && <p className="muted">Loading…</p>}
      {networks?.length === 0 && (
        <p className="muted" id="cluster-networks-empty">
          No virtual network yet. VMs still reach the outside through their user-mode NIC.
        </p>
      )}
      {networks && networks.length > 0 && (
        <table className="compact" id="cluster-networks-table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Subnet</th>
              <th scope="col" className="numeric">
                VNI
              </th>
              <th scope="col" className="numeric">
                MTU
              </th>
              <th scope="col">Bridge</th>
              <th scope="col">VM NICs</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {networks.map((network) => (
              <tr key={network.name} id={`network-row-${network.name}`} data-members={network.members.length}>
                <td>
                  <strong>{network.name}</strong>
                </td>
                <td>
                  <code>{network.subnet}</code>
                </td>
                <td className="numeric">{network.vni}</td>
                <td className="numeric">{network.mtu}</td>
                <td>
                  <code>{network.bridge}</code>
                </td>
                <td>
                  {network.members.length === 0 ? (
                    <span className="muted">none</span>
                  ) : (
                    <ul className="member-list">
                      {network.members.map((member) => (
                        <li key={member.mac}>
                          <Link to={vmPath(member.vm)}>{member.vm}</Link> <code>{member.address}</code>
                          {member.host && <span className="muted small"> on {member.host}</span>}
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
                <td className="row-actions">
                  <button
                    type="button"
                    className="small-button danger-text"
                    id={`network-delete-${network.name}`}
                    onClick={() => setDeleting(network.name)}
                    disabled={network.members.length > 0}
                    title={network.members.length > 0 ? 'VMs still have NICs on it: delete those VMs first' : undefined}
                    aria-label={`Delete network ${network.name}`}
                  >
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {creating && <CreateNetworkDialog onClose={() => setCreating(false)} onCreated={() => void load()} />}
      {deleting && <DeleteNetworkDialog name={deleting} onClose={() => setDeleting(null)} onDeleted={() => void load()} />}
    </section>
  );
}

/** Confirms a delete; the API's refusal (a VM still on it, say) stays in the dialog. */
function DeleteNetworkDialog({ name, onClose, onDeleted }: { name: string; onClose: () => void; onDeleted: () => void }) {
  const { api } = useSession();
  const { busy, error, submit } = useSubmit();
  const remove = () =>
    submit(async () => {
      await api.deleteNetwork(name);
      onDeleted();
      onClose();
    });
  return (
    <Dialog id="network-delete-dialog" title={`Delete network ${name}?`} submitLabel="Delete network" danger busy={busy} onSubmit={() => void remove()} onClose={onClose}>
      <p>Every host drops the network's bridge and VXLAN device. No VM has a NIC on it.</p>
      {error && <ErrorNotice error={error} id="network-delete-error" />}
    </Dialog>
  );
}
