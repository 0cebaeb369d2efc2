import { useState } from 'react';
import type { MigrateVmRequest, Vm } from '../../api';
import { Dialog } from '../../components/Dialog';
import { ErrorNotice } from '../../components/ErrorNotice';
import { guestFeatures } from '../vms/guestTypes';
import { useMigrationTargets } from './targets';

type Storage = 'auto' | 'shared' | 'local';

/**
 * Moving a guest to another host: a host picker listing every other host (the unsuitable ones
 * disabled, with the reasons), and the options of POST /vms/:name/migrate. A VM moves live, with
 * limits on its pause and bandwidth; a guest that cannot (a container) moves by a restart, which
 * the dialog says, and those limits do not apply.
 */
export function MigrateDialog({ vm, onClose, onMigrate }: { vm: Vm; onClose: () => void; onMigrate: (request: MigrateVmRequest) => void }) {
  const { migration, noLiveMigration, label } = guestFeatures(vm.type);
  const live = migration === 'live';
  const { targets, source, error } = useMigrationTargets(vm);
  const [chosen, setChosen] = useState<string | null>(null);
  const [storage, setStorage] = useState<Storage>('auto');
  const [downtime, setDowntime] = useState('');
  const [bandwidth, setBandwidth] = useState('');
  // Until the user picks, the recommended host is selected.
  const selected = chosen ?? targets?.find((t) => t.recommended && t.suitable)?.host ?? null;
  const selectedTarget = targets?.find((t) => t.host === selected);
  const downtimeMs = !live || downtime.trim() === '' ? undefined : Number(downtime);
  const bandwidthMbps = !live || bandwidth.trim() === '' ? undefined : Number(bandwidth);
  const downtimeValid = downtimeMs === undefined || (Number.isInteger(downtimeMs) && downtimeMs >= 1 && downtimeMs <= 60_000);
  const bandwidthValid = bandwidthMbps === undefined || (Number.isInteger(bandwidthMbps) && bandwidthMbps >= 1 && bandwidthMbps <= 1_000_000);

  return (
    <Dialog
      id="vm-migrate-dialog"
      title={live ? `Migrate ${vm.name}` : `Move ${vm.name} by a restart`}
      submitLabel={selected ? `${live ? 'Migrate' : 'Move'} to ${selected}` : live ? 'Migrate' : 'Move'}
      submitDisabled={!selectedTarget?.suitable || !downtimeValid || !bandwidthValid}
      onClose={onClose}
      onSubmit={() => {
        if (!selected) return;
        onMigrate({
          to: selected,
          ...(storage !== 'auto' ? { storage } : {}),
          ...(downtimeMs !== undefined ? { downtimeLimitMs: downtimeMs } : {}),
          ...(bandwidthMbps !== undefined ? { bandwidthMbps } : {}),
        });
      }}
    >
      {live ? (
        <p className="muted small" id="vm-migrate-mode" data-mode="live">
          Live migration: {vm.name} keeps running on <strong>{vm.host ?? 'no host'}</strong> while its memory is copied, then pauses briefly and resumes on the chosen host.
        </p>
      ) : (
        <p className="notice warning small" id="vm-migrate-mode" data-mode="restart">
          {noLiveMigration}.{' '}
          {vm.state === 'stopped' || vm.state === 'crashed' ? (
            <>
              The {label} is not running: its disk moves from <strong>{vm.host ?? 'no host'}</strong> and it stays stopped.
            </>
          ) : (
            <>
              Its disk is copied while it runs on <strong>{vm.host ?? 'no host'}</strong>; then it stops there and starts on the chosen host, so it is down from its stop to its start.
            </>
          )}
        </p>
      )}
      {error && <ErrorNotice error={error} id="vm-migrate-targets-error" />}
      <fieldset className="target-picker" id="vm-migrate-targets" data-source={source} aria-busy={targets === null && !error}>
        <legend>Destination host</legend>
        {targets === null && !error && <p className="muted">Checking the hosts…</p>}
        {targets?.length === 0 && <p className="muted" id="vm-migrate-no-hosts">There is no other host to move to.</p>}
        {targets?.map((t) => (
          <label key={t.host} className={`target-option${t.suitable ? '' : ' unsuitable'}${t.host === selected ? ' selected' : ''}`} id={`migrate-target-${t.host}`} data-suitable={t.suitable}>
            <input
              type="radio"
              name="migrate-target"
              id={`migrate-target-${t.host}-radio`}
              value={t.host}
              checked={t.host === selected}
              disabled={!t.suitable}
              onChange={() => setChosen(t.host)}
              aria-describedby={t.reasons.length > 0 ? `migrate-target-${t.host}-reasons` : undefined}
            />
            <span className="target-name">{t.host}</span>
            {t.recommended && t.suitable && <span className="badge ok">recommended</span>}
            {!t.suitable && <span className="badge bad">unsuitable</span>}
            {t.score !== undefined && <span className="muted small">score {Math.round(t.score * 100) / 100}</span>}
            {t.reasons.length > 0 && (
              <ul className="target-reasons" id={`migrate-target-${t.host}-reasons`}>
                {t.reasons.map((reason) => (
                  <li key={reason}>{reason}</li>
                ))}
              </ul>
            )}
          </label>
        ))}
        {source === 'host-list' && targets !== null && targets.length > 0 && (
          <p className="muted small" id="vm-migrate-targets-note">
            Judged from each host’s state, health and free memory; the controller checks the move again when it starts.
          </p>
        )}
      </fieldset>
      <details className="migrate-options">
        <summary>{live ? 'Limits' : 'Options'}</summary>
        <label htmlFor="vm-migrate-storage">Storage</label>
        <select id="vm-migrate-storage" value={storage} onChange={(e) => setStorage(e.target.value as Storage)}>
          <option value="auto">Automatic (the VM's pool)</option>
          <option value="shared">Shared pool: both hosts reach the disks</option>
          <option value="local">Local: mirror the disks to the new host's own storage</option>
        </select>
        {/* A move by a restart copies no memory: there is no switchover pause to bound, and no memory copy to cap. */}
        {live && (
          <>
            <label htmlFor="vm-migrate-downtime">Longest pause at switchover (ms)</label>
            <input id="vm-migrate-downtime" inputMode="numeric" placeholder="controller default" value={downtime} onChange={(e) => setDowntime(e.target.value)} aria-invalid={!downtimeValid} />
            {!downtimeValid && <p className="field-error">A whole number of milliseconds from 1 to 60000.</p>}
            <label htmlFor="vm-migrate-bandwidth">Bandwidth cap (Mbit/s)</label>
            <input id="vm-migrate-bandwidth" inputMode="numeric" placeholder="no cap" value={bandwidth} onChange={(e) => setBandwidth(e.target.value)} aria-invalid={!bandwidthValid} />
            {!bandwidthValid && <p className="field-error">A whole number of Mbit/s from 1 to 1000000.</p>}
          </>
        )}
      </details>
    </Dialog>
  );
}
