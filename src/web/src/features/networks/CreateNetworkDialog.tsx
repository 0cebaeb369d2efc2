import { useState } from 'react';
import type { Network } from '../../api';
import { useSubmit } from '../../components/useSubmit';
import { Dialog } from '../../components/Dialog';
import { ErrorNotice } from '../../components/ErrorNotice';
import { useSession } from '../auth/session';

/** Defines a virtual network (POST /networks): name and subnet, the VXLAN id and MTU optional. */
export function CreateNetworkDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (network: Network) => void }) {
  const { api } = useSession();
  const [form, setForm] = useState({ name: '', subnet: '', vni: '', mtu: '' });
  const { busy, error, submit } = useSubmit();

  const create = () =>
    submit(async () => {
      const network = await api.createNetwork({
        name: form.name.trim(),
        subnet: form.subnet.trim(),
        ...(form.vni.trim() ? { vni: Number(form.vni) } : {}),
        ...(form.mtu.trim() ? { mtu: Number(form.mtu) } : {}),
      });
      onCreated(network);
      onClose();
    });

  return (
    <Dialog id="network-create-dialog" title="Create a virtual network" submitLabel="Create network" busy={busy} submitDisabled={!form.name.trim() || !form.subnet.trim()} onSubmit={() => void create()} onClose={onClose}>
      <p className="muted small">A network spans hosts: each host with a VM on it gets a bridge and a VXLAN device, and Drover gives each NIC an address from the subnet.</p>
      <label htmlFor="network-create-name">Name</label>
      <input id="network-create-name" value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} pattern="[a-z][a-z0-9-]{0,62}" title="Lowercase letters, digits and -, starting with a letter" required autoFocus spellCheck={false} />
      <label htmlFor="network-create-subnet">Subnet (IPv4 CIDR)</label>
      <input id="network-create-subnet" value={form.subnet} onChange={(e) => setForm({ ...form, subnet: e.target.value })} placeholder="10.60.0.0/24" required spellCheck={false} />
      <div className="field-row two">
        <div>
          <label htmlFor="network-create-vni">VXLAN id (optional)</label>
          <input id="network-create-vni" type="number" min={1} max={16777215} value={form.vni} onChange={(e) => setForm({ ...form, vni: e.target.value })} placeholder="lowest free" />
        </div>
        <div>
          <label htmlFor="network-create-mtu">MTU (optional)</label>
          <input id="network-create-mtu" type="number" min={576} max={9000} value={form.mtu} onChange={(e) => setForm({ ...form, mtu: e.target.value })} placeholder="1450" />
        </div>
      </div>
      {error && <ErrorNotice error={error} id="network-create-error" />}
    </Dialog>
  );
}
