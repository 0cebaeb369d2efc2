import type { Vm } from '../../api';
import { formatBytes } from '../../format';

/** Disks and network interfaces (MAC addresses) of the VM. */
export function Hardware({ vm }: { vm: Vm }) {
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
                <td>{vm.devices === 'virtio' ? 'virtio' : 'IDE'}</td>
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
              <th>MAC address</th>
              <th>Model</th>
              <th>IP addresses</th>
            </tr>
          </thead>
          <tbody>
            {vm.macs.map((mac, i) => (
              <tr key={mac} id={`nic-row-${i}`}>
                <td>nic{i}</td>
                <td>
                  <code>{mac}</code>
                </td>
                <td>{vm.devices === 'virtio' ? 'virtio-net' : 'e1000'}</td>
                {/* The guest agent reports addresses per guest, not per NIC; the first NIC shows them. */}
                <td className={i === 0 && vm.ips.length ? undefined : 'muted'}>{i === 0 && vm.ips.length ? vm.ips.join(', ') : '-'}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {vm.macs.length === 0 && <p className="muted">No network interface.</p>}
      </section>
    </>
  );
}
