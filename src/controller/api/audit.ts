import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SYSTEM_ACTOR } from '../actor.js';
import { actorOf } from '../auth/hook.js';
import type { EventLog } from '../events/event-log.js';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Mutating-method requests whose route said they changed nothing (a dry run, a wait). */
const unchanged = new WeakSet<FastifyRequest>();

/** Says that `request`, though POST/PUT/DELETE, changed nothing, so no event is owed for it (a dry run, a wait). */
export function changedNothing(request: FastifyRequest): void {
  unchanged.add(request);
}

/**
 * Guarantees that every successful mutating request leaves an event. Services record precise
 * events in the same transaction as their change; should a route forget, this records a generic
 * `api.<method>` event after the response and logs a warning naming the route.
 * Must be installed after authentication, so rejected requests are never counted.
 */
export function installAudit(app: FastifyInstance, events: EventLog): void {
  // Written with `done` where they never wait (every request runs them; see installMetrics).
  app.addHook('onRequest', (request, _reply, done) => {
    if (MUTATING.has(request.method)) events.beginRequest(request.id);
    done();
  });
  // A client that hangs up never gets a response; stop counting for it all the same.
  app.addHook('onRequestAbort', async (request) => void events.endRequest(request.id));
  app.addHook('onResponse', (request, reply, done) => {
    if (!MUTATING.has(request.method)) return done();
    const recorded = events.endRequest(request.id);
    if (recorded > 0 || reply.statusCode >= 300 || unchanged.has(request)) return done();
    recordGeneric(request, reply.statusCode).then(
      () => done(),
      (err: unknown) => done(err as Error),
    );
  });

  async function recordGeneric(request: FastifyRequest, statusCode: number): Promise<void> {
    const route = `${request.method} ${request.routeOptions.url ?? request.url}`;
    request.log.warn({ route }, 'a mutating route succeeded without recording an event; recorded a generic one');
    let actor = SYSTEM_ACTOR;
    try {
      actor = actorOf(request);
    } catch {
      // A public route has no token; the event then names the controller itself.
    }
    await events.record({ actor, objectType: 'api', action: `api.${request.method.toLowerCase()}`, result: 'succeeded', detail: { route, status: statusCode } });
  }
}
