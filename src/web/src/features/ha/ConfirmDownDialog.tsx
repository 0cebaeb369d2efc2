import { useState } from 'react';
import type { HaHostStatus } from '../../api';
import { Dialog } from '../../components/Dialog';
import { ErrorNotice } from '../../components/ErrorNotice';
import { useSubmit } from '../../components/useSubmit';
import { useSession } from '../auth/session';

/**
 * "Confirm host is down" (POST /hosts/:name/confirm-down): the administrator's word that a host HA
 * cannot reach is powered off, so HA restarts its VMs elsewhere. Said wrongly, each VM runs twice
 * on the same disks, so the dialog says so and asks for a checked box before it sends anything.
 */
export function ConfirmDownDialog({ host, fenceAgent, onClose, onConfirmed }: { host: HaHostStatus; fenceAgent: string | null; onClose: () => void; onConfirmed: () => void }) {
  const { api, ha, fleet } = useSession();
  const [checked, setChecked] = useState(false);
  const { busy, error, submit } = useSubmit();

  const confirm = () =>
    submit(async () => {
      await api.confirmHostDown(host.name);
      ha.refresh();
      fleet.refreshHosts();
      onConfirmed();
      onClose();
    });

  return (
    <Dialog
      id="host-confirm-down-dialog"
      title={`Confirm that ${host.name} is powered off?`}
      submitLabel="Confirm host is down"
      danger
      busy={busy}
      submitDisabled={!checked}
      onClose={onClose}
      onSubmit={() => void confirm()}
    >
      <div className="notice error" id="host-confirm-down-warning" role="note">
        <strong>Only when {host.name} is certainly powered off.</strong> HA then restarts its protected VMs on other hosts at once. If {host.name} is still running them (cut off
        from the network, but alive), each of those VMs then runs twice on the same disks, and its disks are corrupted.
      </div>
      <p>
        Check it first: see that it is off at its BMC or power switch, or switch it off there and watch it stay off. A host you cannot reach is not a host that is down.
      </p>
      <p className="muted small" id="host-confirm-down-verdict">
        HA judges it <strong>{host.liveness}</strong>: {host.reason}.
        {fenceAgent ? ` It has a fence device (${fenceAgent}), which HA uses by itself; confirm by hand only when fencing failed.` : ' It has no fence device, so HA cannot power it off by itself.'}
      </p>
      <label className="checkbox">
        <input type="checkbox" id="host-confirm-down-checked" checked={checked} onChange={(e) => setChecked(e.target.checked)} /> I have checked that {host.name} is powered off
      </label>
      {error && <ErrorNotice error={error} id="host-confirm-down-error" />}
    </Dialog>
  );
}
