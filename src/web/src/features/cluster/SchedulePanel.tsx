import { useEffect, useState, type FormEvent } from 'react';
import { asApiError, type BalanceSchedule } from '../../api';
import { ErrorNotice } from '../../components/ErrorNotice';
import { useSubmit } from '../../components/useSubmit';
import { useSession } from '../auth/session';

/** The periodic balancer (GET/PUT /balance/schedule): on or off, how often, and its threshold, editable. */
export function SchedulePanel() {
  const { api } = useSession();
  const [stored, setStored] = useState<BalanceSchedule | null>(null);
  const [draft, setDraft] = useState<{ enabled: boolean; intervalMinutes: number; thresholdPercent: number } | null>(null);
  const { busy, error, setError, clearError, submit } = useSubmit();
  const [saved, setSaved] = useState(false);

  const show = (schedule: BalanceSchedule) => {
    setStored(schedule);
    setDraft({ enabled: schedule.enabled, intervalMinutes: schedule.intervalMinutes, thresholdPercent: Math.round(schedule.threshold * 1000) / 10 });
  };
  useEffect(() => {
    api.getBalanceSchedule().then(show, (err: unknown) => setError(asApiError(err)));
  }, [api, setError]);

  const save = async (event: FormEvent) => {
    event.preventDefault();
    if (!draft) return;
    setSaved(false);
    await submit(async () => {
      show(await api.setBalanceSchedule({ enabled: draft.enabled, intervalMinutes: draft.intervalMinutes, threshold: draft.thresholdPercent / 100 }));
      setSaved(true);
    });
  };
  const changed = Boolean(stored && draft && (stored.enabled !== draft.enabled || stored.intervalMinutes !== draft.intervalMinutes || Math.abs(stored.threshold * 100 - draft.thresholdPercent) > 1e-9));

  return (
    <section className="panel" aria-labelledby="cluster-schedule-title" id="cluster-balance-schedule" data-enabled={stored?.enabled}>
      <h2 id="cluster-schedule-title">Balancing schedule</h2>
      <p className="muted small">The controller can run the balancer by itself. The schedule is stored with the cluster settings and resumes when the controller restarts.</p>
      {error && <ErrorNotice error={error} id="cluster-schedule-error" onDismiss={clearError} />}
      {!draft && !error && <p className="muted">Loading…</p>}
      {draft && (
        <form onSubmit={(e) => void save(e)}>
          <label className="checkbox">
            <input type="checkbox" id="cluster-schedule-enabled" checked={draft.enabled} onChange={(e) => setDraft({ ...draft, enabled: e.target.checked })} /> Balance automatically
          </label>
          <div className="field-row two">
            <div>
              <label htmlFor="cluster-schedule-interval">Every (minutes)</label>
              <input id="cluster-schedule-interval" type="number" min={1} max={10080} step={1} required value={draft.intervalMinutes} onChange={(e) => setDraft({ ...draft, intervalMinutes: Number(e.target.value) })} />
            </div>
            <div>
              <label htmlFor="cluster-schedule-threshold">Threshold (points)</label>
              <input id="cluster-schedule-threshold" type="number" min={0} max={100} step={0.5} required value={draft.thresholdPercent} onChange={(e) => setDraft({ ...draft, thresholdPercent: Number(e.target.value) })} />
            </div>
          </div>
          <div className="form-actions">
            <button type="submit" className="primary" id="cluster-schedule-save" disabled={!changed || busy}>
              {busy ? 'Saving…' : 'Save schedule'}
            </button>
            {saved && !changed && (
              <span className="result ok" role="status" id="cluster-schedule-saved">
                Saved
              </span>
            )}
          </div>
        </form>
      )}
    </section>
  );
}
