import type { Vm } from '../../api';
import { formatBytes } from '../../format';
import { guestFeatures } from './guestTypes';

/** Disks and network interfaces (network, MAC address, address) of the VM. */
export function Hardware({ vm }: { vm: Vm }) {
  const features = guestFeatures(vm.type);
  return (
    <>
      <section className="panel" aria-labelledby="disks-title" id="vm-disks">
        <h2 id="disks-title">Disks</h2>
        <table className="compact">
          <thead>
            <tr>
              <th>Disk</th>
              <th className="numeric">Size</th>
              <th>Access</th>
              <th>Bus</th>
            </tr>
          </thead>
          <tbody>
            {vm.disks.map((d) => (
              <tr key={d.name} id={`disk-row-${d.name}`}>
                <td>{d.name}</td>
                <td className="numeric">{formatBytes(d.sizeBytes)}</td>
                <td>{d.readOnly ? 'read-only' : 'read-write'}</td>
                <td>{features.diskBus(vm.devices)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section className="panel" aria-labelledby="nics-title" id="vm-nics">
        <h2 id="nics-title">Network interfaces</h2>
        <table className="compact">
          <thead>
            <tr>
              <th>Interface</th>
              <th>Network</th>
              <th>MAC address</th>
              <th>Address</th>
            </tr>
          </thead>
          <tbody>
            {vm.nics.map((nic, i) => (
              <tr key={nic.mac} id={`nic-row-${i}`} data-mode={nic.mode} data-network={nic.network}>
                <td>
                  {nic.name}
                  <div className="muted small">{features.nicModel(vm.devices)}</div>
                </td>
                <td>
                  {nic.mode === 'network' ? <strong>{nic.network}</strong> : nic.mode === 'bridge' ? <>bridge <code>{nic.network}</code></> : 'user-mode (NAT)'}
                  <div className="muted small">{nic.mode === 'network' ? 'virtual network' : nic.mode === 'bridge' ? 'host bridge' : 'default'}</div>
                </td>
                <td>
                  <code>{nic.mac}</code>
                </td>
                <NicAddress vm={vm} index={i} address={nic.address} />
              </tr>
            ))}
          </tbody>
        </table>
        {vm.nics.length === 0 && (
          <p className="muted" id="vm-nics-none">
            No network interface.{features.userNetworking ? '' : ` A ${features.label} has no user-mode NIC: it is reached on a virtual network or a bridge.`}
          </p>
        )}
      </section>
    </>
  );
}

/**
 * A NIC on a virtual network has the address Drover assigned; the guest agent reports addresses per
 * guest, not per NIC, so the first NIC shows the rest of what the guest reports.
 */
function NicAddress({ vm, index, address }: { vm: Vm; index: number; address: string | null }) {
  if (address) {
    return (
      <td id={`nic-address-${index}`}>
        <code>{address}</code>
        <div className="muted small">assigned by Drover</div>
      </td>
    );
  }
  // Leave out the addresses that belong to the virtual-network NICs, which show on their own rows.
  const assigned = new Set(vm.nics.map((nic) => nic.address));
  const ips = index === 0 ? vm.ips.filter((ip) => !assigned.has(ip)) : [];
  const reported = ips.length > 0;
  return (
    <td id={`nic-address-${index}`} className={reported ? undefined : 'muted'}>
      {reported ? ips.join(', ') : '-'}
      {reported && <div className="muted small">reported by the guest</div>}
    </td>
  );
}
