/**
 * GET /cluster/controllers: the controllers that serve this cluster (they share one store), from
 * the store's registry, with the leader and the age of its lease; so that an admin sees who leads,
 * and a client of one controller, such as the web console, knows where to turn when it stops
 * answering. URLs configured in `DROVER_CONTROLLER_URLS` (or the app's `controllerUrls`) that no
 * controller has registered are listed too.
 */
import { Type, type Static } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { parseControllerUrls } from '../../shared/controller-urls.js';
import { errorResponses } from '../api/schemas.js';
import type { DomainRoutes } from '../api/services.js';
import { StringEnum } from '../api/schemas.js';
import { DEFAULT_LEADERSHIP_TIMINGS, type LeadershipTimings } from '../leadership/term.js';
import type { Store } from '../store/store.js';

export const ControllerListSchema = Type.Object(
  {
    controllers: Type.Array(
      Type.Object(
        {
          url: Type.String({ description: 'The controller\'s public URL (its web console is at /).' }),
          self: Type.Boolean({ description: 'True for the controller that answered.' }),
          id: Type.Optional(Type.String({ description: 'Its id, kept across its restarts; absent for a URL only configured.' })),
          name: Type.Optional(Type.String()),
          version: Type.Optional(Type.String()),
          startedAt: Type.Optional(Type.String()),
          lastSeenAt: Type.Optional(Type.String({ description: 'When it last refreshed its row in the store (every lease renewal).' })),
          state: StringEnum(['up', 'down', 'unknown'] as const, { description: 'down: no refresh for a lease and a renewal; unknown: only configured.' }),
          leader: Type.Boolean(),
        },
        { additionalProperties: false },
      ),
    ),
    leader: Type.Union([
      Type.Object(
        {
          id: Type.String(),
          name: Type.Union([Type.String(), Type.Null()]),
          url: Type.Union([Type.String(), Type.Null()]),
          token: Type.Integer({ description: 'The fencing token: grows by one at every change of leader.' }),
          acquiredAt: Type.String(),
          renewedAt: Type.String(),
          expiresAt: Type.String(),
          leaseAgeMs: Type.Integer({ description: 'Time since the lease was last renewed.' }),
          expired: Type.Boolean(),
        },
        { additionalProperties: false },
      ),
      Type.Null(),
    ]),
  },
  { additionalProperties: false },
);
export type ControllerList = Static<typeof ControllerListSchema>;

/** The peer list from DROVER_CONTROLLER_URLS (comma-separated), or none; throws INVALID_ARGUMENT for a malformed URL. */
export function controllerUrlsFromEnvironment(env: NodeJS.ProcessEnv = process.env): string[] {
  const text = env.DROVER_CONTROLLER_URLS?.trim();
  return text ? parseControllerUrls(text) : [];
}

/** This controller's URL as the request reached it. */
function origin(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

/**
 * The controllers in the store's registry (they refresh their rows while they live), with the
 * leader and its lease; configured URLs no controller has registered are added as unknown. A
 * controller alone with nothing registered (in-process tests) names itself. A controller is down
 * after a lease and a renewal of `timings` without a refresh, as the leader judges it when it
 * takes over its operations.
 */
export async function controllerList(
  store: Store,
  selfId: string | null,
  configured: readonly string[],
  self: string,
  timings: LeadershipTimings = DEFAULT_LEADERSHIP_TIMINGS,
  at = Date.now(),
): Promise<ControllerList> {
  const [registry, lease] = await Promise.all([store.controllers.list(), store.leaderLease.get()]);
  const downAfter = timings.leaseMs + timings.renewMs;
  const leaderLive = lease !== undefined && Date.parse(lease.expiresAt) > at;
  const controllers: ControllerList['controllers'] = registry.map((c) => ({
    url: c.url,
    self: selfId !== null ? c.id === selfId : c.url === self,
    id: c.id,
    name: c.name,
    version: c.version,
    startedAt: c.startedAt,
    lastSeenAt: c.lastSeenAt,
    state: at - Date.parse(c.lastSeenAt) > downAfter ? 'down' : 'up',
    leader: leaderLive && lease.holder === c.id,
  }));
  for (const url of configured) {
    if (!controllers.some((c) => c.url === url)) controllers.push({ url, self: url === self, state: 'unknown', leader: false });
  }
  if (controllers.length === 0) controllers.push({ url: self, self: true, state: 'up', leader: false });
  const holder = lease ? registry.find((c) => c.id === lease.holder) : undefined;
  return {
    controllers,
    leader: lease
      ? {
          id: lease.holder,
          name: holder?.name ?? null,
          url: holder?.url ?? null,
          token: lease.token,
          acquiredAt: lease.acquiredAt,
          renewedAt: lease.renewedAt,
          expiresAt: lease.expiresAt,
          leaseAgeMs: Math.max(0, at - Date.parse(lease.renewedAt)),
          expired: !leaderLive,
        }
      : null,
  };
}

export const controllerRoutes: DomainRoutes = async (app, { services, settings }) => {
  app.get('/cluster/controllers', {
    schema: {
      operationId: 'listControllers',
      summary: 'The controllers serving this cluster: each one\'s URL and state, the leader and the age of its lease',
      tags: ['cluster'],
      response: { 200: ControllerListSchema, ...errorResponses },
    },
    handler: async (request) => controllerList(services.store, services.operations.controllerId, settings.controllerUrls, origin(request), services.leadership.timings),
  });
};
