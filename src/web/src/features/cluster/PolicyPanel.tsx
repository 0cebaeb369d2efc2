import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { asApiError, CLUSTER_WEIGHTS, type ClusterPolicy, type ClusterWeight } from '../../api';
import { ErrorNotice } from '../../components/ErrorNotice';
import { useSubmit } from '../../components/useSubmit';
import { useSession } from '../auth/session';

const WEIGHT_TEXT: Record<ClusterWeight, { label: string; help: string }> = {
  spread: { label: 'Spread', help: 'New VMs go to the host with the most room left: load stays even, a host failure hits fewer VMs.' },
  pack: { label: 'Pack', help: 'New VMs go to the fullest host that fits: hosts are filled one by one, leaving others empty.' },
};

/** The scheduler's policy (GET/PUT /cluster/policy): the weight for new VMs and the baseline CPU model, editable. */
export function PolicyPanel() {
  const { api, fleet } = useSession();
  const [stored, setStored] = useState<ClusterPolicy | null>(null);
  const [draft, setDraft] = useState<ClusterPolicy | null>(null);
  const { busy, error, setError, clearError, submit } = useSubmit();
  const [saved, setSaved] = useState(false);

  const load = useCallback(async () => {
    try {
      const policy = await api.getClusterPolicy();
      setStored(policy);
      setDraft(policy);
      setError(null);
    } catch (err) {
      setError(asApiError(err));
    }
  }, [api, setError]);
  useEffect(() => void load(), [load]);
  // A change made elsewhere (CLI, another console) shows at once.
  useEffect(() => fleet.onEvent((event) => void (event.action === 'cluster.policy-changed' && load())), [fleet, load]);

  const changed = Boolean(stored && draft && (stored.weight !== draft.weight || stored.cpuModel !== draft.cpuModel.trim()));
  const save = async (event: FormEvent) => {
    event.preventDefault();
    if (!stored || !draft) return;
    setSaved(false);
    await submit(async () => {
      const change = { ...(draft.weight !== stored.weight ? { weight: draft.weight } : {}), ...(draft.cpuModel.trim() !== stored.cpuModel ? { cpuModel: draft.cpuModel.trim() } : {}) };
      const policy = await api.setClusterPolicy(change);
      setStored(policy);
      setDraft(policy);
      setSaved(true);
    });
  };

  return (
    <section className="panel" aria-labelledby="cluster-policy-title" id="cluster-policy" data-weight={stored?.weight} data-cpu-model={stored?.cpuModel}>
      <h2 id="cluster-policy-title">Scheduling policy</h2>
      {error && <ErrorNotice error={error} id="cluster-policy-error" onDismiss={clearError} />}
      {!draft && !error && <p className="muted">Loading…</p>}
      {draft && (
        <form onSubmit={(e) => void save(e)} id="cluster-policy-form">
          <fieldset className="choice-group">
            <legend>Weight for new VMs</legend>
            {CLUSTER_WEIGHTS.map((weight) => (
              <label key={weight} className={`choice ${draft.weight === weight ? 'selected' : ''}`}>
                <input type="radio" name="cluster-weight" id={`cluster-policy-weight-${weight}`} value={weight} checked={draft.weight === weight} onChange={() => setDraft({ ...draft, weight })} />
                <span>
                  <strong>{WEIGHT_TEXT[weight].label}</strong>
                  {stored?.weight === weight && <span className="badge ok">current</span>}
                  <span className="muted small choice-help">{WEIGHT_TEXT[weight].help}</span>
                </span>
              </label>
            ))}
          </fieldset>
          <label htmlFor="cluster-policy-cpu-model">Baseline CPU model</label>
          <input id="cluster-policy-cpu-model" value={draft.cpuModel} onChange={(e) => setDraft({ ...draft, cpuModel: e.target.value })} spellCheck={false} required aria-describedby="cluster-policy-cpu-help" />
          <p className="muted small" id="cluster-policy-cpu-help">
            Every VM started from now on gets this model, so it can run on and move to any host that offers it (see each host's CPU models).
          </p>
          <div className="form-actions">
            <button type="submit" className="primary" id="cluster-policy-save" disabled={!changed || busy}>
              {busy ? 'Saving…' : 'Save policy'}
            </button>
            {changed && (
              <button type="button" onClick={() => setDraft(stored)} id="cluster-policy-reset">
                Undo changes
              </button>
            )}
            {saved && !changed && (
              <span className="result ok" id="cluster-policy-saved" role="status">
                Saved
              </span>
            )}
          </div>
        </form>
      )}
    </section>
  );
}
