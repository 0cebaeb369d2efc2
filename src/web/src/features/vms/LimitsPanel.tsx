import { useEffect, useState, type FormEvent } from 'react';
import type { Vm, VmLimitsChange } from '../../api';
import { ErrorNotice } from '../../components/ErrorNotice';
import { StateBadge } from '../../components/StateBadge';
import { operationError } from '../operations/OperationCard';
import { isFinished, useTrackedOperations } from '../operations/tracker';
import { useSession } from '../auth/session';
import { guestFeatures } from './guestTypes';
import { useVmAction } from './useVmAction';

/** The bounds of PATCH /vms/:name/limits (src/controller/vms/schema.ts). */
const CPU_LIMIT = { min: 1, max: 6400 };
const MEMORY = { min: 64, max: 1024 * 1024 };
const PIDS_LIMIT = { min: 8, max: 4_194_304 };

const LIVE_STATES: readonly Vm['state'][] = ['running', 'paused', 'starting', 'stopping'];

/** The form's fields as typed; an empty CPU cap or process limit means none. */
interface Draft {
  cpuLimit: string;
  memory: string;
  pidsLimit: string;
}

const draftOf = (vm: Vm): Draft => ({ cpuLimit: vm.cpuLimitPercent?.toString() ?? '', memory: String(vm.memoryMiB), pidsLimit: vm.pidsLimit?.toString() ?? '' });

/** A whole number in bounds, null for an empty field where empty means "none", undefined when the text is not valid. */
function parseLimit(text: string, bounds: { min: number; max: number }, emptyIsNone: boolean): number | null | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return emptyIsNone ? null : undefined;
  const value = Number(trimmed);
  return Number.isInteger(value) && value >= bounds.min && value <= bounds.max ? value : undefined;
}

/**
 * The guest's limits: host CPU cap, memory and (containers) process limit, changed with
 * PATCH /vms/:name/limits. Only the fields changed are sent; the operation shows in the tray like
 * every other action's, and here until it ends.
 */
export function LimitsPanel({ vm }: { vm: Vm }) {
  const { api, operations } = useSession();
  const features = guestFeatures(vm.type);
  const { run, error, busy, clearError } = useVmAction(vm.name);
  const [draft, setDraft] = useState<Draft>(() => draftOf(vm));
  const [operationId, setOperationId] = useState<string | null>(null);
  const operation = useTrackedOperations(operations).find((t) => t.operation.id === operationId)?.operation;
  // The stored limits changed (this change landed, or the CLI made one): show them. Keyed by value, so a re-read VM does not undo an edit.
  useEffect(() => setDraft(draftOf(vm)), [vm.cpuLimitPercent, vm.memoryMiB, vm.pidsLimit]);

  const live = LIVE_STATES.includes(vm.state);
  const memoryLocked = live && !features.liveMemory;
  const cpuLimit = parseLimit(draft.cpuLimit, CPU_LIMIT, true);
  const memory = parseLimit(draft.memory, MEMORY, false);
  const pidsLimit = parseLimit(draft.pidsLimit, PIDS_LIMIT, true);
  const change: VmLimitsChange = {
    ...(cpuLimit !== undefined && cpuLimit !== vm.cpuLimitPercent ? { cpuLimitPercent: cpuLimit } : {}),
    ...(typeof memory === 'number' && memory !== vm.memoryMiB && !memoryLocked ? { memoryMiB: memory } : {}),
    ...(features.processLimit && pidsLimit !== undefined && pidsLimit !== vm.pidsLimit ? { pidsLimit } : {}),
  };
  const valid = cpuLimit !== undefined && memory !== undefined && (!features.processLimit || pidsLimit !== undefined);
  const applying = busy !== null || (operation !== undefined && !isFinished(operation));
  const failure = operation?.state === 'failed' ? operationError(operation) : null;

  const apply = (event: FormEvent) => {
    event.preventDefault();
    void run('limits', async () => {
      const accepted = await api.setVmLimits(vm.name, change);
      setOperationId(accepted.operation.id);
      return accepted;
    });
  };

  return (
    <section className="panel" aria-labelledby="vm-limits-title" id="vm-limits">
      <h2 id="vm-limits-title">Limits</h2>
      <form id="vm-limits-form" className="limits-form" onSubmit={apply} noValidate>
        <div className={features.processLimit ? 'field-row' : 'field-row two'}>
          <div>
            <label htmlFor="vm-limits-cpu">CPU cap (%)</label>
            <input
              id="vm-limits-cpu"
              inputMode="numeric"
              placeholder="none"
              value={draft.cpuLimit}
              onChange={(e) => setDraft({ ...draft, cpuLimit: e.target.value })}
              aria-invalid={cpuLimit === undefined}
              aria-describedby="vm-limits-cpu-help"
            />
          </div>
          <div>
            <label htmlFor="vm-limits-memory">Memory (MiB)</label>
            <input
              id="vm-limits-memory"
              inputMode="numeric"
              value={draft.memory}
              disabled={memoryLocked}
              title={memoryLocked ? `A ${features.label} takes new memory only while stopped` : undefined}
              onChange={(e) => setDraft({ ...draft, memory: e.target.value })}
              aria-invalid={memory === undefined}
            />
          </div>
          {features.processLimit && (
            <div>
              <label htmlFor="vm-limits-pids">Process limit</label>
              <input
                id="vm-limits-pids"
                inputMode="numeric"
                placeholder="none"
                value={draft.pidsLimit}
                onChange={(e) => setDraft({ ...draft, pidsLimit: e.target.value })}
                aria-invalid={pidsLimit === undefined}
              />
            </div>
          )}
        </div>
        <p className="muted small" id="vm-limits-cpu-help">
          CPU cap: 100 = one core, empty for none.{features.processLimit ? ' Process limit: most processes and threads at once, empty for none.' : ''}{' '}
          {!live ? 'Changes take effect at the next start.' : memoryLocked ? `The CPU cap applies at once; stop the ${features.label} to change its memory.` : 'Changes apply at once.'}
        </p>
        {cpuLimit === undefined && <p className="field-error">The CPU cap is a whole number from {CPU_LIMIT.min} to {CPU_LIMIT.max}, or empty.</p>}
        {memory === undefined && <p className="field-error">Memory is a whole number of MiB from {MEMORY.min} to {MEMORY.max}.</p>}
        {features.processLimit && pidsLimit === undefined && <p className="field-error">The process limit is a whole number from {PIDS_LIMIT.min} to {PIDS_LIMIT.max}, or empty.</p>}
        {error && <ErrorNotice error={error} id="vm-limits-error" onDismiss={clearError} />}
        {failure && <ErrorNotice error={failure} id="vm-limits-failed" />}
        <div className="form-actions">
          <button type="submit" className="primary" id="vm-limits-apply" disabled={!valid || Object.keys(change).length === 0 || applying}>
            {applying ? 'Applying…' : 'Apply limits'}
          </button>
          {operation && (
            <span id="vm-limits-status" data-state={operation.state} role="status">
              <StateBadge state={operation.state} />
            </span>
          )}
        </div>
      </form>
    </section>
  );
}
