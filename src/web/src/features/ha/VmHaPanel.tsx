import { useEffect, useState, type FormEvent } from 'react';
import { HA_ISOLATION_RESPONSES, type HaIsolationResponse, type Vm } from '../../api';
import { ErrorNotice } from '../../components/ErrorNotice';
import { StateBadge } from '../../components/StateBadge';
import { useSubmit } from '../../components/useSubmit';
import { useHaView, useHaWatch } from '../../live/ha';
import { hostPath, Link } from '../../router';
import { useSession } from '../auth/session';
import { inFailover, PHASE_TEXT, waitingText } from './liveness';

/** A protected VM's phase changes with events; this is the backstop (and the pace while a failover runs). */
const HA_REFRESH_MS = 5_000;

/** The controller's defaults for a VM switched on without a policy (src/controller/vms/schema.ts). */
const DEFAULT_POLICY = { priority: 3, isolation: 'keep-running' as HaIsolationResponse, monitoring: false };

const PRIORITIES = [5, 4, 3, 2, 1] as const;
const priorityText = (priority: number): string => (priority === 5 ? '5 (restarts first)' : priority === 1 ? '1 (restarts last)' : priority === DEFAULT_POLICY.priority ? `${priority} (default)` : String(priority));

const ISOLATION_TEXT: Record<string, { label: string; help: string }> = {
  'keep-running': { label: 'Keep running', help: 'A host cut off from the controller but alive (still writing its storage heartbeat) keeps the VM running, and nothing restarts elsewhere.' },
  'power-off': { label: 'Power off', help: 'A host cut off from the controller but alive stops the VM itself, and once that is known (or certain) HA restarts it on another host.' },
};

interface Draft {
  enabled: boolean;
  priority: number;
  isolation: HaIsolationResponse;
  monitoring: boolean;
}

function draftOf(ha: Vm['ha']): Draft {
  if (!ha) return { enabled: false, ...DEFAULT_POLICY };
  const isolation = (HA_ISOLATION_RESPONSES as readonly string[]).includes(ha.isolation) ? (ha.isolation as HaIsolationResponse) : DEFAULT_POLICY.isolation;
  return { enabled: true, priority: ha.priority, isolation, monitoring: ha.monitoring };
}

/**
 * The VM's HA protection: on or off, its policy (priority, isolation response, guest monitoring)
 * and where HA has it (phase, generation), with a form that switches HA on or off and changes the
 * policy (PATCH /vms/:name). A refusal (HA_DISK_NOT_SHARED, HA_ADMISSION_REFUSED...) shows with its code.
 */
export function VmHaPanel({ vm }: { vm: Vm }) {
  const { api, fleet, ha } = useSession();
  const protectedVm = vm.ha !== null;
  useHaWatch(ha, HA_REFRESH_MS, protectedVm);
  const { status } = useHaView(ha);
  const haVm = protectedVm ? status?.vms.find((v) => v.name === vm.name) : undefined;
  const [draft, setDraft] = useState<Draft>(() => draftOf(vm.ha));
  const { busy, error, clearError, submit } = useSubmit();
  const [saved, setSaved] = useState(false);
  // The stored policy changed (here, from the CLI, another console): show it. Keyed by value, so a re-read VM does not undo an edit.
  useEffect(() => setDraft(draftOf(vm.ha)), [protectedVm, vm.ha?.priority, vm.ha?.isolation, vm.ha?.monitoring]);

  const stored = draftOf(vm.ha);
  const changed = draft.enabled !== stored.enabled || (draft.enabled && (draft.priority !== stored.priority || draft.isolation !== stored.isolation || draft.monitoring !== stored.monitoring));

  const save = async (event: FormEvent) => {
    event.preventDefault();
    setSaved(false);
    const ok = await submit(async () => {
      await api.updateVmHa(vm.name, draft.enabled ? { priority: draft.priority, isolation: draft.isolation, monitoring: draft.monitoring } : null);
      fleet.refreshVm(vm.name);
      ha.refresh();
    });
    setSaved(ok);
  };

  return (
    <section className="panel" aria-labelledby="vm-ha-title" id="vm-ha" data-ha={protectedVm ? 'on' : 'off'} data-phase={haVm?.phase}>
      <h2 id="vm-ha-title">High availability</h2>
      <p className="ha-state" id="vm-ha-state">
        <span className={`badge ${protectedVm ? 'ok' : 'off'}`}>HA: {protectedVm ? 'on' : 'off'}</span>{' '}
        <span className="muted small">{protectedVm ? `When ${vm.host ?? 'its host'} fails, HA restarts ${vm.name} on another host.` : `${vm.name} is not restarted elsewhere when its host fails.`}</span>
      </p>
      {vm.ha && (
        <dl className="facts" id="vm-ha-policy">
          <dt>Priority</dt>
          <dd id="vm-ha-priority-value">{priorityText(vm.ha.priority)}</dd>
          <dt>Isolation response</dt>
          <dd id="vm-ha-isolation-value" title={ISOLATION_TEXT[vm.ha.isolation]?.help}>
            {ISOLATION_TEXT[vm.ha.isolation]?.label ?? vm.ha.isolation}
          </dd>
          <dt>Guest monitoring</dt>
          <dd id="vm-ha-monitoring-value">{vm.ha.monitoring ? 'on: the guest is reset when its guest agent stops answering' : 'off'}</dd>
          <dt>HA phase</dt>
          <dd id="vm-ha-phase" data-phase={haVm?.phase}>
            {haVm ? (
              <>
                <span title={PHASE_TEXT[haVm.phase]}>
                  <StateBadge state={haVm.phase} />
                </span>
                {haVm.waiting && <span className="small"> waiting for {waitingText(haVm.waiting)}</span>}
                {haVm.failedReason && <span className="small"> {haVm.failedReason}</span>}
                {inFailover(haVm.phase) && haVm.host && (
                  <span className="small">
                    {' '}
                    on <Link to={hostPath(haVm.host)}>{haVm.host}</Link>
                  </span>
                )}
              </>
            ) : (
              <span className="muted">{status ? 'not known to HA yet' : 'Loading…'}</span>
            )}
          </dd>
          <dt title="Raised at every start HA allows; a host running an older generation must give the VM up">Generation</dt>
          <dd id="vm-ha-generation">{haVm ? haVm.generation : '-'}</dd>
        </dl>
      )}
      <form id="vm-ha-form" className="ha-form" onSubmit={(e) => void save(e)}>
        <label className="checkbox">
          <input type="checkbox" id="vm-ha-enabled" checked={draft.enabled} onChange={(e) => setDraft({ ...draft, enabled: e.target.checked })} /> Protect with HA
        </label>
        <div className="field-row two">
          <div>
            <label htmlFor="vm-ha-priority">Restart priority</label>
            <select id="vm-ha-priority" value={draft.priority} disabled={!draft.enabled} onChange={(e) => setDraft({ ...draft, priority: Number(e.target.value) })}>
              {PRIORITIES.map((p) => (
                <option key={p} value={p}>
                  {priorityText(p)}
                </option>
              ))}
            </select>
          </div>
          <div>
            <label htmlFor="vm-ha-isolation">Isolation response</label>
            <select id="vm-ha-isolation" value={draft.isolation} disabled={!draft.enabled} onChange={(e) => setDraft({ ...draft, isolation: e.target.value as HaIsolationResponse })} aria-describedby="vm-ha-isolation-help">
              {HA_ISOLATION_RESPONSES.map((i) => (
                <option key={i} value={i}>
                  {ISOLATION_TEXT[i]?.label ?? i}
                </option>
              ))}
            </select>
          </div>
        </div>
        <p className="muted small" id="vm-ha-isolation-help">
          {ISOLATION_TEXT[draft.isolation]?.help}
        </p>
        <label className="checkbox">
          <input type="checkbox" id="vm-ha-monitoring" checked={draft.monitoring} disabled={!draft.enabled} onChange={(e) => setDraft({ ...draft, monitoring: e.target.checked })} /> Guest monitoring: reset the guest when its guest agent stops answering
        </label>
        {error && (
          <ErrorNotice error={error} id="vm-ha-error" onDismiss={clearError}>
            {error.detail && <p className="small error-cause">{error.detail}</p>}
          </ErrorNotice>
        )}
        <div className="form-actions">
          <button type="submit" className="primary" id="vm-ha-save" disabled={!changed || busy}>
            {busy ? 'Saving…' : !draft.enabled && stored.enabled ? 'Switch HA off' : !stored.enabled && draft.enabled ? 'Switch HA on' : 'Save HA policy'}
          </button>
          {changed && (
            <button
              type="button"
              id="vm-ha-reset"
              onClick={() => {
                setDraft(stored);
                clearError();
              }}
            >
              Undo changes
            </button>
          )}
          {saved && !changed && (
            <span className="result ok" id="vm-ha-saved" role="status">
              Saved
            </span>
          )}
        </div>
      </form>
    </section>
  );
}
