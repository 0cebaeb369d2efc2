import { useState } from 'react';
import type { Vm, VmState } from '../../api';
import { Dialog } from '../../components/Dialog';
import { ErrorNotice } from '../../components/ErrorNotice';
import { navigate } from '../../router';
import { MigrateDialog } from '../placement/MigrateDialog';
import { useSession } from '../auth/session';
import { guestFeatures } from './guestTypes';
import { useVmAction } from './useVmAction';

type Action = 'start' | 'stop' | 'kill' | 'reboot' | 'pause' | 'resume' | 'snapshot' | 'clone' | 'migrate' | 'delete';

/** In which states each action makes sense; the controller refuses the others with a coded error anyway. */
const ALLOWED: Record<Action, readonly VmState[]> = {
  start: ['stopped', 'crashed'],
  stop: ['running', 'paused'],
  kill: ['running', 'paused', 'starting', 'stopping'],
  reboot: ['running'],
  pause: ['running'],
  resume: ['paused'],
  snapshot: ['running', 'paused', 'stopped'],
  clone: ['stopped'],
  migrate: ['running', 'paused'],
  delete: ['stopped', 'running', 'paused', 'crashed', 'error'],
};

/** A move by a restart stops the guest anyway, so it moves a stopped one too (src/controller/vms/migrate.ts). */
const MOVABLE_BY_RESTART: readonly VmState[] = ['running', 'paused', 'stopped', 'crashed'];

const WHY_NOT: Partial<Record<Action, string>> = {
  clone: 'Stop the VM to clone it',
  start: 'The VM is not stopped',
  resume: 'The VM is not paused',
  migrate: 'Live migration moves a running or paused VM',
};

function snapshotName(): string {
  const d = new Date();
  const pad = (n: number) => String(n).padStart(2, '0');
  return `snap-${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}-${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}`;
}

/** The VM's action bar: power, snapshot, clone, migrate (live, or by a restart for a guest that cannot move live), delete. */
export function VmActions({ vm }: { vm: Vm }) {
  const { api } = useSession();
  const { run, error, busy, clearError } = useVmAction(vm.name);
  const [dialog, setDialog] = useState<null | 'snapshot' | 'clone' | 'migrate' | 'delete' | 'kill'>(null);
  const [snapshot, setSnapshot] = useState('');
  const [clone, setClone] = useState({ name: '', mode: 'linked' as 'linked' | 'full' });

  const { migration, noLiveMigration } = guestFeatures(vm.type);
  const allowed = (action: Action): readonly VmState[] => (action === 'migrate' && migration === 'restart' ? MOVABLE_BY_RESTART : ALLOWED[action]);
  // A VM in flight cannot be moved again until its move ends (the controller says VM_BUSY).
  const whyNot = (action: Action): string | undefined =>
    action === 'migrate' && vm.movingTo ? `Already moving to ${vm.movingTo}` : allowed(action).includes(vm.state) ? undefined : (WHY_NOT[action] ?? `Not possible while the VM is ${vm.state}`);
  // A guest that moves by a restart says so before its dialog opens.
  const hint = (action: Action): string | undefined => whyNot(action) ?? (action === 'migrate' && noLiveMigration ? `${noLiveMigration}: the move stops it and starts it again` : undefined);
  const button = (action: Action, label: string, onClick: () => void, className?: string) => (
    <button
      type="button"
      id={`vm-action-${action}`}
      className={className}
      disabled={whyNot(action) !== undefined || busy !== null}
      title={hint(action)}
      onClick={onClick}
    >
      {busy === action ? `${label}…` : label}
    </button>
  );

  const close = () => setDialog(null);
  return (
    <div className="vm-actions">
      <div className="toolbar" role="toolbar" aria-label="VM actions">
        {button('start', 'Start', () => void run('start', () => api.vmAction(vm.name, 'start')), 'primary')}
        {button('stop', 'Stop', () => void run('stop', () => api.stopVm(vm.name)))}
        {button('kill', 'Force stop', () => setDialog('kill'))}
        {button('reboot', 'Reboot', () => void run('reboot', () => api.vmAction(vm.name, 'reboot')))}
        {vm.state === 'paused'
          ? button('resume', 'Resume', () => void run('resume', () => api.vmAction(vm.name, 'resume')))
          : button('pause', 'Pause', () => void run('pause', () => api.vmAction(vm.name, 'pause')))}
        <span className="toolbar-gap" />
        {button('snapshot', 'Snapshot', () => (setSnapshot(snapshotName()), setDialog('snapshot')))}
        {button('clone', 'Clone', () => (setClone({ name: `${vm.name}-copy`.slice(0, 63), mode: 'linked' }), setDialog('clone')))}
        {button('migrate', 'Migrate', () => setDialog('migrate'))}
        {button('delete', 'Delete', () => setDialog('delete'), 'danger')}
      </div>
      {error && <ErrorNotice error={error} id="vm-action-error" onDismiss={clearError} />}

      {dialog === 'kill' && (
        <Dialog id="vm-kill-dialog" title={`Force stop ${vm.name}?`} submitLabel="Force stop" danger onClose={close} onSubmit={() => (close(), void run('kill', () => api.vmAction(vm.name, 'kill')))}>
          <p>This pulls the plug: the guest gets no chance to shut down and may lose data it has not written to disk.</p>
        </Dialog>
      )}
      {dialog === 'snapshot' && (
        <Dialog
          id="vm-snapshot-dialog"
          title={`Snapshot ${vm.name}`}
          submitLabel="Take snapshot"
          submitDisabled={!snapshot.trim()}
          onClose={close}
          onSubmit={() => (close(), void run('snapshot', () => api.createSnapshot(vm.name, snapshot.trim())))}
        >
          <label htmlFor="vm-snapshot-name">Snapshot name</label>
          <input id="vm-snapshot-name" value={snapshot} onChange={(e) => setSnapshot(e.target.value)} autoFocus spellCheck={false} />
          <p className="muted small">{vm.state === 'stopped' ? 'Every disk is snapshotted.' : 'Every disk is snapshotted while the VM runs (disk state only, not memory).'}</p>
        </Dialog>
      )}
      {dialog === 'clone' && (
        <Dialog
          id="vm-clone-dialog"
          title={`Clone ${vm.name}`}
          submitLabel="Clone"
          submitDisabled={!clone.name.trim()}
          onClose={close}
          onSubmit={() => (close(), void run('clone', () => api.cloneVm(vm.name, clone.name.trim(), clone.mode)))}
        >
          <label htmlFor="vm-clone-name">New VM name</label>
          <input id="vm-clone-name" value={clone.name} onChange={(e) => setClone({ ...clone, name: e.target.value })} autoFocus spellCheck={false} />
          <fieldset>
            <legend>Disks</legend>
            <label className="checkbox">
              <input type="radio" name="clone-mode" id="vm-clone-linked" checked={clone.mode === 'linked'} onChange={() => setClone({ ...clone, mode: 'linked' })} /> Linked: a thin overlay on a shared frozen base (fast)
            </label>
            <label className="checkbox">
              <input type="radio" name="clone-mode" id="vm-clone-full" checked={clone.mode === 'full'} onChange={() => setClone({ ...clone, mode: 'full' })} /> Full: a standalone copy
            </label>
          </fieldset>
        </Dialog>
      )}
      {dialog === 'migrate' && <MigrateDialog vm={vm} onClose={close} onMigrate={(request) => (close(), void run('migrate', () => api.migrateVm(vm.name, request)))} />}
      {dialog === 'delete' && (
        <Dialog
          id="vm-delete-dialog"
          title={`Delete ${vm.name}?`}
          submitLabel="Delete VM and disks"
          danger
          onClose={close}
          onSubmit={async () => {
            close();
            if (await run('delete', () => api.deleteVm(vm.name, vm.state !== 'stopped'))) navigate('/');
          }}
        >
          <p>
            This deletes <strong>{vm.name}</strong> and all its disks and snapshots. It cannot be undone.
          </p>
          {vm.state !== 'stopped' && <p className="notice warning">The VM is {vm.state}: it will be killed first.</p>}
        </Dialog>
      )}
    </div>
  );
}
