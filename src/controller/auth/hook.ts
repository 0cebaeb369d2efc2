import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DroverError } from '../../shared/errors.js';
import type { Actor } from '../actor.js';
import type { TokenService } from './tokens.js';

/**
 * The only routes answered without a token, as `METHOD url`. /healthz is for load balancers and
 * probes. /openapi.json describes the API, which is the same for every install and holds no
 * data, so clients and code generators can fetch it before they have a token.
 */
export const PUBLIC_ROUTES: ReadonlySet<string> = new Set([
  'GET /healthz',
  'HEAD /healthz',
  'GET /openapi.json',
  'HEAD /openapi.json',
  // A joining agent has no API token yet: its one-time join token, checked by the route itself, is its credential.
  'POST /api/v1/hosts/join',
]);

const actors = new WeakMap<FastifyRequest, Actor>();

/** True when the route (by method and route pattern) needs no token. */
export function isPublicRoute(method: string, url: string | undefined): boolean {
  return url !== undefined && PUBLIC_ROUTES.has(`${method} ${url}`);
}

/**
 * Who is making the request: the verified token's name. A function rather than a
 * `request.actor` decoration so the controller's types do not leak into the agent's Fastify.
 * Throws INTERNAL on a public route, which has no actor.
 */
export function actorOf(request: FastifyRequest): Actor {
  const actor = actors.get(request);
  if (!actor) throw new DroverError('INTERNAL', `no authenticated actor on ${request.method} ${request.url}`);
  return actor;
}

/**
 * Requires `Authorization: Bearer <token>` on every request, unknown routes included, except
 * PUBLIC_ROUTES. Installed on the root instance so no plugin can opt out by encapsulation.
 */
export function installAuthentication(app: FastifyInstance, tokens: TokenService): void {
  app.addHook('onRequest', async (request, reply) => {
    if (isPublicRoute(request.method, request.routeOptions.url)) return;
    reply.header('www-authenticate', 'Bearer realm="drover"');
    const header = request.headers.authorization;
    const match = header ? /^Bearer +(\S+) *$/i.exec(header) : null;
    if (!match?.[1]) throw new DroverError('UNAUTHORIZED', header ? 'the Authorization header is not "Bearer <token>"' : 'no bearer token');
    const verdict = await tokens.verify(match[1]);
    if (!verdict.ok) {
      throw new DroverError('UNAUTHORIZED', verdict.reason === 'revoked' ? 'the token has been revoked' : 'the token is not recognised');
    }
    reply.removeHeader('www-authenticate');
    actors.set(request, { name: verdict.token.name, requestId: request.id });
  });
}
