import { Type } from '@fastify/type-provider-typebox';
import { DroverError } from '../../shared/errors.js';
import { errorResponses } from '../api/schemas.js';
import type { DomainRoutes } from '../api/services.js';
import type { EventRecord } from '../store/records.js';
import type { EventLog, EventMatch } from './event-log.js';
import { EventListSchema, EventQuerySchema, EventStreamQuery, eventWire } from './schema.js';

/** /events: query stored events, and follow new ones live over Server-Sent Events or WebSocket. */
export const eventRoutes: DomainRoutes = async (app, { services, settings }) => {
  const tags = ['events'];
  const log = services.events;
  const streams = new Set<() => void>();
  // Live streams never end on their own: close them so the server can shut down.
  app.addHook('preClose', async () => {
    for (const end of streams) end();
  });

  app.get('/events', {
    schema: {
      operationId: 'queryEvents',
      summary: 'Query recorded events by VM, host, actor and time range',
      tags,
      querystring: EventQuerySchema,
      response: { 200: EventListSchema, ...errorResponses },
    },
    handler: async (request) => {
      const { since, until, ...rest } = request.query;
      // Stored times are UTC text; normalise offsets so the comparison is by instant.
      const range = { ...(since ? { since: new Date(since).toISOString() } : {}), ...(until ? { until: new Date(until).toISOString() } : {}) };
      return { events: (await log.query({ ...rest, ...range })).map(eventWire) };
    },
  });

  app.get('/events/stream', {
    schema: {
      operationId: 'streamEvents',
      summary: 'Follow new events as Server-Sent Events; resumes after Last-Event-ID',
      tags,
      querystring: EventStreamQuery,
      response: {
        200: { description: 'One `event` message per recorded event; `: heartbeat` comments keep the connection alive.', content: { 'text/event-stream': { schema: Type.String() } } },
        ...errorResponses,
      },
    },
    handler: async (request, reply) => {
      const { afterId, ...match } = request.query;
      const lastEventId = Number(request.headers['last-event-id']);
      const resumeAfter = Number.isSafeInteger(lastEventId) && lastEventId >= 0 ? lastEventId : afterId;
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      raw.write(': connected\n\n');
      const heartbeat = setInterval(() => raw.write(': heartbeat\n\n'), settings.eventStreamHeartbeatMs);
      const stop = follow(log, match, resumeAfter, (event) => raw.write(`id: ${event.id}\nevent: event\ndata: ${JSON.stringify(eventWire(event))}\n\n`));
      const end = () => {
        clearInterval(heartbeat);
        stop();
        streams.delete(end);
        raw.end();
      };
      streams.add(end);
      raw.on('close', end);
    },
  });

  app.route({
    method: 'GET',
    url: '/events/ws',
    schema: {
      operationId: 'streamEventsWebSocket',
      summary: 'Follow new events over a WebSocket (send the upgrade): one JSON event per message',
      tags,
      querystring: EventStreamQuery,
      response: { 101: { description: 'Switching to WebSocket.' }, ...errorResponses },
    },
    handler: async () => {
      throw new DroverError('INVALID_ARGUMENT', 'this route needs a WebSocket upgrade; /api/v1/events/stream serves plain HTTP');
    },
    wsHandler: (socket, request) => {
      const { afterId, ...match } = request.query;
      const ping = setInterval(() => socket.ping(), settings.eventStreamHeartbeatMs);
      const stop = follow(log, match, afterId, (event) => socket.send(JSON.stringify(eventWire(event))));
      const detach = () => {
        clearInterval(ping);
        stop();
        streams.delete(end);
      };
      const end = () => {
        detach();
        socket.close(1001, 'controller shutting down');
      };
      streams.add(end);
      socket.on('close', detach);
    },
  });
};

/**
 * Sends every event matching `match` from now on, after first replaying stored ones with an id
 * above `after` (when given). Subscribes before reading the backlog and drops what was already
 * sent, so an event committed meanwhile is sent exactly once. Returns the unsubscribe function.
 */
function follow(log: EventLog, match: EventMatch, after: number | undefined, send: (event: EventRecord) => void): () => void {
  const state = { lastSent: after ?? 0, replaying: after !== undefined, stopped: false };
  const held: EventRecord[] = [];
  const deliver = (event: EventRecord) => {
    if (state.stopped || event.id <= state.lastSent) return;
    state.lastSent = event.id;
    send(event);
  };
  const unsubscribe = log.subscribe(match, (event) => (state.replaying ? held.push(event) : deliver(event)));
  if (after !== undefined) {
    replay(log, match, after, deliver, state)
      // A store failure ends the catch-up early; live events still flow.
      .catch(() => undefined)
      .finally(() => {
        state.replaying = false;
        held.splice(0).forEach(deliver);
      });
  }
  return () => {
    state.stopped = true;
    unsubscribe();
  };
}

/** Delivers stored events after `after`, oldest first, a page at a time, until caught up or stopped. */
async function replay(log: EventLog, match: EventMatch, after: number, deliver: (event: EventRecord) => void, state: { stopped: boolean }): Promise<void> {
  const pageSize = 500;
  for (let cursor = after; !state.stopped; ) {
    const page = await log.query({ ...match, afterId: cursor, order: 'asc', limit: pageSize });
    page.forEach(deliver);
    const last = page.at(-1);
    if (!last || page.length < pageSize) return;
    cursor = last.id;
  }
}
