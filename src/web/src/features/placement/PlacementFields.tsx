import type { Host } from '../../api';

/** What the create dialog asks about placement; lists are typed as text, names split on commas or spaces. */
export interface PlacementChoice {
  pool: 'local' | 'shared';
  /** "" lets the scheduler pick. */
  host: string;
  requiredTags: string;
  affinityGroups: string;
  antiAffinityGroups: string;
}

export const NO_PLACEMENT_CHOICE: PlacementChoice = { pool: 'local', host: '', requiredTags: '', affinityGroups: '', antiAffinityGroups: '' };

/** The names typed in a list field, each once. */
export function namesOf(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).filter(Boolean))];
}

/** The placement part of POST /vms: only what was set, so the controller's defaults apply to the rest. */
export function placementRequest(choice: PlacementChoice): { pool?: 'local' | 'shared'; host?: string; placement?: { requiredTags?: string[]; affinityGroups?: string[]; antiAffinityGroups?: string[] } } {
  const rules = {
    ...(namesOf(choice.requiredTags).length ? { requiredTags: namesOf(choice.requiredTags) } : {}),
    ...(namesOf(choice.affinityGroups).length ? { affinityGroups: namesOf(choice.affinityGroups) } : {}),
    ...(namesOf(choice.antiAffinityGroups).length ? { antiAffinityGroups: namesOf(choice.antiAffinityGroups) } : {}),
  };
  return {
    ...(choice.pool === 'shared' ? { pool: 'shared' as const } : {}),
    ...(choice.host ? { host: choice.host } : {}),
    ...(Object.keys(rules).length ? { placement: rules } : {}),
  };
}

/** Pool, host (or the scheduler's pick), required host tags and affinity / anti-affinity groups for a new VM. */
export function PlacementFields({ value, hosts, onChange }: { value: PlacementChoice; hosts: Host[]; onChange: (value: PlacementChoice) => void }) {
  const set = (change: Partial<PlacementChoice>) => onChange({ ...value, ...change });
  return (
    <fieldset className="form-group" id="vm-create-placement">
      <legend>Placement</legend>
      <div className="field-row two">
        <div>
          <label htmlFor="vm-create-pool">Storage pool</label>
          <select id="vm-create-pool" value={value.pool} onChange={(e) => set({ pool: e.target.value as 'local' | 'shared' })}>
            <option value="local">local (the host's own disks)</option>
            <option value="shared">shared (every host reaches it)</option>
          </select>
        </div>
        <div>
          <label htmlFor="vm-create-host">Host</label>
          <select id="vm-create-host" value={value.host} onChange={(e) => set({ host: e.target.value })}>
            <option value="">Scheduler picks</option>
            {hosts.map((host) => (
              <option key={host.name} value={host.name} disabled={host.state !== 'ready'}>
                {host.name}
                {host.state !== 'ready' ? ` (${host.state})` : ''}
              </option>
            ))}
          </select>
        </div>
      </div>
      <label htmlFor="vm-create-required-tags">Required host tags</label>
      <input id="vm-create-required-tags" value={value.requiredTags} onChange={(e) => set({ requiredTags: e.target.value })} placeholder="e.g. zone=a, ssd" spellCheck={false} aria-describedby="vm-create-list-hint" />
      <div className="field-row two">
        <div>
          <label htmlFor="vm-create-affinity-groups">Affinity groups</label>
          <input id="vm-create-affinity-groups" value={value.affinityGroups} onChange={(e) => set({ affinityGroups: e.target.value })} placeholder="share a host with" spellCheck={false} aria-describedby="vm-create-list-hint" />
        </div>
        <div>
          <label htmlFor="vm-create-anti-affinity-groups">Anti-affinity groups</label>
          <input id="vm-create-anti-affinity-groups" value={value.antiAffinityGroups} onChange={(e) => set({ antiAffinityGroups: e.target.value })} placeholder="keep apart from" spellCheck={false} aria-describedby="vm-create-list-hint" />
        </div>
      </div>
      <p className="muted small" id="vm-create-list-hint">
        Separate names with commas or spaces. The host must carry every required tag; VMs of an affinity group share a host, those of an anti-affinity group each get their own.
      </p>
    </fieldset>
  );
}
