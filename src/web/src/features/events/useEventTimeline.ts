import { useEffect, useState } from 'react';
import { ApiError, type DroverEvent, type EventQuery } from '../../api';
import { useSession } from '../auth/session';

/**
 * Recent events matching `query` (one request), then new ones as the live stream brings them;
 * `matches` decides which live events belong (the same rule the query applies on the server).
 */
export function useEventTimeline(query: EventQuery, matches: (event: DroverEvent) => boolean, limit = 100) {
  const { api, fleet } = useSession();
  const [events, setEvents] = useState<DroverEvent[]>([]);
  const [error, setError] = useState<ApiError | null>(null);
  const key = JSON.stringify(query);
  useEffect(() => {
    let cancelled = false;
    const buffered: DroverEvent[] = [];
    let loaded = false;
    const stop = fleet.onEvent((event) => {
      if (!matches(event)) return;
      if (!loaded) buffered.push(event);
      else setEvents((list) => (list.some((e) => e.id === event.id) ? list : [event, ...list].slice(0, limit * 5)));
    });
    api.queryEvents({ ...query, limit }).then(
      (list) => {
        if (cancelled) return;
        loaded = true;
        const seen = new Set(list.map((e) => e.id));
        setEvents([...buffered.filter((e) => !seen.has(e.id)).reverse(), ...list]);
      },
      (err: unknown) => !cancelled && setError(err instanceof ApiError ? err : new ApiError(0, 'UNKNOWN', String(err))),
    );
    return () => {
      cancelled = true;
      stop();
    };
    // The query is compared by value (key), and `matches` changes with it.
  }, [api, fleet, key, limit]);
  return { events, error };
}
