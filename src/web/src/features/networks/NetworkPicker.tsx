import type { Network } from '../../api';
import { Link } from '../../router';

/** The NICs asked for: network name → address ("" lets the controller pick a free one). */
export type NetworkChoice = ReadonlyMap<string, string>;

/** The networks part of POST /vms, in the order the networks are listed. */
export function networksRequest(choice: NetworkChoice): Array<{ network: string; address?: string }> {
  return [...choice].map(([network, address]) => (address.trim() ? { network, address: address.trim() } : { network }));
}

/**
 * Checkboxes for the virtual networks the new VM gets a NIC on, each with an optional fixed address.
 * `userNic` false: the guest gets no default user-mode NIC (a container), so these are its only NICs.
 */
export function NetworkPicker({ networks, value, onChange, userNic = true }: { networks: Network[] | null; value: NetworkChoice; onChange: (value: NetworkChoice) => void; userNic?: boolean }) {
  const toggle = (name: string, on: boolean) => {
    const next = new Map(value);
    if (on) next.set(name, '');
    else next.delete(name);
    onChange(next);
  };
  const setAddress = (name: string, address: string) => onChange(new Map(value).set(name, address));
  return (
    <fieldset className="form-group" id="vm-create-networks">
      <legend>Virtual networks</legend>
      <p className="muted small" id="vm-create-networks-help">
        {userNic
          ? 'A user-mode NIC is always there; each network ticked adds a NIC with an address from its subnet.'
          : 'There is no user-mode NIC: each network ticked adds a NIC with an address from its subnet, and with none ticked there is no network at all.'}
      </p>
      {networks === null && <p className="muted small">Loading networks…</p>}
      {networks?.length === 0 && (
        <p className="muted small" id="vm-create-no-networks">
          No virtual network yet: create one on the <Link to="/cluster">Cluster page</Link>.
        </p>
      )}
      {networks?.map((network) => {
        const checked = value.has(network.name);
        return (
          <div key={network.name} className="network-choice">
            <label className="checkbox">
              <input type="checkbox" id={`vm-create-network-${network.name}`} checked={checked} onChange={(e) => toggle(network.name, e.target.checked)} /> <strong>{network.name}</strong> <span className="muted small">{network.subnet}</span>
            </label>
            {checked && (
              <input
                id={`vm-create-network-${network.name}-address`}
                aria-label={`Address on ${network.name}`}
                placeholder="address: automatic"
                value={value.get(network.name) ?? ''}
                onChange={(e) => setAddress(network.name, e.target.value)}
                spellCheck={false}
              />
            )}
          </div>
        );
      })}
    </fieldset>
  );
}
