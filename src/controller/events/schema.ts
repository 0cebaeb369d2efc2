import { Type, type Static } from '@fastify/type-provider-typebox';
import { Nullable, StringEnum, TimestampSchema } from '../api/schemas.js';
import type { EventRecord } from '../store/records.js';
import { MAX_EVENT_QUERY_LIMIT } from './event-log.js';

export const EventSchema = Type.Object(
  {
    id: Type.Integer({ description: 'Grows with every event; use it to resume a stream.' }),
    time: TimestampSchema,
    actor: Type.String({ description: 'The token name, or `system`.' }),
    object: Type.Object({ type: Type.String(), id: Nullable(Type.String()), name: Nullable(Type.String()) }, { additionalProperties: false }),
    action: Type.String({ description: '`<object type>.<verb>`, e.g. `vm.start`.' }),
    hostId: Nullable(Type.String()),
    result: Type.String(),
    requestId: Nullable(Type.String()),
    detail: Type.Unknown(),
  },
  { additionalProperties: false, description: 'A recorded change.' },
);
export type EventWire = Static<typeof EventSchema>;

const searchable = (description: string) => Type.String({ minLength: 1, maxLength: 128, description });
const cursor = (description: string) => Type.Integer({ minimum: 0, description });

/** The filters shared by the query and the live streams. */
const matchFields = {
  vm: Type.Optional(searchable('VM id or name.')),
  host: Type.Optional(searchable('Host id or name: events on the host and events that happened on it.')),
  actor: Type.Optional(searchable('Token name.')),
};

export const EventQuerySchema = Type.Object(
  {
    ...matchFields,
    since: Type.Optional(TimestampSchema),
    until: Type.Optional(TimestampSchema),
    afterId: Type.Optional(cursor('Only events with a greater id.')),
    beforeId: Type.Optional(cursor('Only events with a smaller id, to page back.')),
    order: Type.Optional(StringEnum(['asc', 'desc'], { description: 'Default desc (newest first).' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_EVENT_QUERY_LIMIT })),
  },
  { additionalProperties: false },
);

export const EventStreamQuery = Type.Object(
  { ...matchFields, afterId: Type.Optional(cursor('Replay stored events after this id first (like Last-Event-ID).')) },
  { additionalProperties: false },
);

export const EventListSchema = Type.Object({ events: Type.Array(EventSchema) }, { additionalProperties: false });

/** The wire form of an event. */
export function eventWire(event: EventRecord): EventWire {
  return {
    id: event.id,
    time: event.time,
    actor: event.actor,
    object: { type: event.objectType, id: event.objectId, name: event.objectName },
    action: event.action,
    hostId: event.hostId,
    result: event.result,
    requestId: event.requestId,
    detail: event.detail,
  };
}
