import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import { ApiError, type DroverEvent, type EventQuery } from '../../api';
import { ErrorNotice } from '../../components/ErrorNotice';
import { useSession } from '../auth/session';
import { EventTable } from './EventTable';

const PAGE = 200;

interface Filters {
  vm: string;
  host: string;
  actor: string;
  action: string;
  since: string;
  until: string;
}
const EMPTY: Filters = { vm: '', host: '', actor: '', action: '', since: '', until: '' };

/** datetime-local text (local time) to ISO; '' stays undefined. */
const toIso = (local: string): string | undefined => (local ? new Date(local).toISOString() : undefined);

/**
 * Who did what, when: the event log filtered by VM, host, actor and time on the server, by action
 * in the browser (the API has no action filter yet), with a live tail from the event stream.
 */
export function EventsPage() {
  const { api, fleet } = useSession();
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [events, setEvents] = useState<DroverEvent[]>([]);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(false);
  const [more, setMore] = useState(false);
  const [live, setLive] = useState(true);
  const liveRef = useRef(live);
  liveRef.current = live;

  const query = useMemo<EventQuery>(
    () => ({ vm: filters.vm || undefined, host: filters.host || undefined, actor: filters.actor || undefined, since: toIso(filters.since), until: toIso(filters.until) }),
    [filters],
  );

  const load = useCallback(
    async (beforeId?: number) => {
      setLoading(true);
      try {
        const page = await api.queryEvents({ ...query, limit: PAGE, ...(beforeId !== undefined ? { beforeId } : {}) });
        setEvents((old) => (beforeId === undefined ? page : [...old, ...page]));
        setMore(page.length === PAGE);
        setError(null);
      } catch (err) {
        setError(err instanceof ApiError ? err : new ApiError(0, 'UNKNOWN', String(err)));
      } finally {
        setLoading(false);
      }
    },
    [api, query],
  );
  useEffect(() => void load(), [load]);

  // The live tail applies the same filters as the server: VM and host by name or id, actor, and no `until`.
  useEffect(
    () =>
      fleet.onEvent((event) => {
        if (!liveRef.current || query.until) return;
        const hostId = query.host ? [...fleet.getState().hosts.values()].find((h) => h.name === query.host || h.id === query.host)?.id : undefined;
        if (query.vm && !(event.object.type === 'vm' && (event.object.name === query.vm || event.object.id === query.vm))) return;
        if (query.host && !(event.hostId === hostId || (event.object.type === 'host' && event.object.id === hostId))) return;
        if (query.actor && event.actor !== query.actor) return;
        setEvents((old) => (old.some((e) => e.id === event.id) ? old : [event, ...old]));
      }),
    [fleet, query],
  );

  const action = filters.action.trim().toLowerCase();
  const shown = action ? events.filter((e) => e.action.toLowerCase().includes(action)) : events;
  const apply = (event: FormEvent) => {
    event.preventDefault();
    setFilters(draft);
  };
  const field = (key: keyof Filters, label: string, type = 'text', placeholder = '') => (
    <div className="filter-field">
      <label htmlFor={`events-filter-${key}`}>{label}</label>
      <input id={`events-filter-${key}`} type={type} value={draft[key]} placeholder={placeholder} onChange={(e) => setDraft({ ...draft, [key]: e.target.value })} spellCheck={false} />
    </div>
  );

  return (
    <main className="page" id="events-page">
      <div className="page-header">
        <h1>Events</h1>
        <label className="checkbox">
          <input type="checkbox" id="events-live" checked={live} onChange={(e) => setLive(e.target.checked)} /> Live tail
        </label>
      </div>
      <form className="filters" onSubmit={apply} aria-label="Event filters">
        {field('vm', 'VM', 'text', 'name or id')}
        {field('host', 'Host', 'text', 'name or id')}
        {field('actor', 'Actor', 'text', 'token name or system')}
        {field('action', 'Action', 'text', 'e.g. vm.start')}
        {field('since', 'Since', 'datetime-local')}
        {field('until', 'Until', 'datetime-local')}
        <div className="filter-buttons">
          <button type="submit" className="primary" id="events-apply">
            Apply
          </button>
          <button type="button" id="events-clear" onClick={() => (setDraft(EMPTY), setFilters(EMPTY))}>
            Clear
          </button>
        </div>
      </form>
      {error && <ErrorNotice error={error} />}
      <p className="muted small" aria-live="polite" id="events-count">
        {loading ? 'Loading…' : `${shown.length} event${shown.length === 1 ? '' : 's'}${action ? ` with an action containing “${action}”` : ''}`}
      </p>
      <EventTable events={shown} hostName={(id) => fleet.hostName(id)} />
      {more && (
        <button type="button" id="events-older" disabled={loading} onClick={() => void load(events.at(-1)?.id)}>
          Load older events
        </button>
      )}
    </main>
  );
}
