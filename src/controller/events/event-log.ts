import type { Actor } from '../actor.js';
import { now, type EventRecord, type JsonValue, type Timestamp } from '../store/records.js';
import type { Repositories, Store, Transaction } from '../store/store.js';

/** A change to record. `action` is `<object type>.<verb>` (e.g. `vm.start`, `token.revoke`). */
export interface NewEvent {
  actor: Actor;
  objectType: string;
  objectId?: string | null;
  objectName?: string | null;
  action: string;
  hostId?: string | null;
  /** How it ended: `succeeded`, `failed`, `queued`, `running`, `cancelled`... */
  result: string;
  detail?: JsonValue;
}

/** What a live subscriber wants; the same matching rules as the stored query. */
export interface EventMatch {
  vm?: string;
  host?: string;
  actor?: string;
}

export interface EventQuery extends EventMatch {
  since?: Timestamp;
  until?: Timestamp;
  afterId?: number;
  beforeId?: number;
  /** Default newest first. */
  order?: 'asc' | 'desc';
  /** Default 100, at most MAX_EVENT_QUERY_LIMIT. */
  limit?: number;
}

export const MAX_EVENT_QUERY_LIMIT = 1000;

type Listener = (event: EventRecord) => void;

/**
 * The record of every change: written in the same transaction as the change it describes, and
 * published to live subscribers only after that transaction commits.
 */
export class EventLog {
  private readonly listeners = new Set<{ match: EventMatch; listener: Listener }>();
  /** Events recorded per API request still in flight, so the API can check a change was recorded. */
  private readonly openRequests = new Map<string, number>();

  constructor(private readonly store: Store) {}

  /** Appends the event (inside `tx` when given) and publishes it once committed. */
  async record(event: NewEvent, tx?: Transaction): Promise<EventRecord> {
    const row = {
      time: now(),
      actor: event.actor.name,
      objectType: event.objectType,
      objectId: event.objectId ?? null,
      objectName: event.objectName ?? null,
      action: event.action,
      hostId: event.hostId ?? null,
      result: event.result,
      requestId: event.actor.requestId ?? null,
      detail: event.detail ?? null,
    };
    const repositories: Repositories = tx ?? this.store;
    const record: EventRecord = { id: await repositories.events.append(row), ...row };
    if (tx) tx.afterCommit(() => this.publish(record));
    else this.publish(record);
    return record;
  }

  /** Stored events matching `query`; see EventQuery for the defaults. */
  query(query: EventQuery = {}): Promise<EventRecord[]> {
    return this.store.events.query({
      ...query,
      order: query.order ?? 'desc',
      limit: Math.min(Math.max(query.limit ?? 100, 1), MAX_EVENT_QUERY_LIMIT),
    });
  }

  /** Calls `listener` for every committed event matching `match`; returns the unsubscribe function. */
  subscribe(match: EventMatch, listener: Listener): () => void {
    const entry = { match, listener };
    this.listeners.add(entry);
    return () => void this.listeners.delete(entry);
  }

  /** Starts counting the events recorded for an API request. */
  beginRequest(requestId: string): void {
    this.openRequests.set(requestId, 0);
  }

  /** Stops counting for the request and returns how many events it recorded. */
  endRequest(requestId: string): number {
    const count = this.openRequests.get(requestId) ?? 0;
    this.openRequests.delete(requestId);
    return count;
  }

  private publish(record: EventRecord): void {
    if (record.requestId !== null && this.openRequests.has(record.requestId)) {
      this.openRequests.set(record.requestId, (this.openRequests.get(record.requestId) ?? 0) + 1);
    }
    for (const { match, listener } of this.listeners) {
      if (!matches(record, match)) continue;
      try {
        listener(record);
      } catch (err) {
        // One broken subscriber must not starve the others or fail the change that was recorded.
        process.emitWarning(`event listener failed: ${(err as Error).message}`);
      }
    }
  }
}

/** True when `event` satisfies `match`, by the same rules as EventFilter in the store. */
export function matches(event: EventRecord, match: EventMatch): boolean {
  if (match.vm !== undefined && !(event.objectType === 'vm' && (event.objectId === match.vm || event.objectName === match.vm))) {
    return false;
  }
  if (match.host !== undefined) {
    const onHost = event.hostId === match.host;
    const isHost = event.objectType === 'host' && (event.objectId === match.host || event.objectName === match.host);
    if (!onHost && !isHost) return false;
  }
  return match.actor === undefined || event.actor === match.actor;
}
