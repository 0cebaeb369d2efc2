import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DroverError } from '../../shared/errors.js';
import type { Actor } from '../actor.js';
import { WEB_PAGE_ROUTES } from '../web/pages.js';
import type { TokenService } from './tokens.js';

/**
 * The only routes answered without a token, as `METHOD url`. /healthz is for load balancers and
 * probes. /openapi.json describes the API, which is the same for every install and holds no
 * data, so clients and code generators can fetch it before they have a token. The web console's
 * pages and built assets hold no data either: the browser app signs in with a token and then
 * calls the API like any other client.
 */
export const PUBLIC_ROUTES: ReadonlySet<string> = new Set([
  'GET /healthz',
  'HEAD /healthz',
  'GET /openapi.json',
  'HEAD /openapi.json',
  // A joining agent has no API token yet: its one-time join token, checked by the route itself, is its credential.
  'POST /api/v1/hosts/join',
  // An agent renews its HA lease with a credential derived from its agent token, checked by the route.
  'POST /api/v1/ha/lease',
  ...WEB_PAGE_ROUTES.flatMap((url) => [`GET ${url}`, `HEAD ${url}`]),
]);

/**
 * The WebSocket subprotocol the controller answers with, and the prefix of the one that carries a
 * token. Browsers cannot set headers on a WebSocket, so the web console offers
 * [`drover`, `drover.token.<secret>`]; the token is accepted from there on upgrade requests only
 * (never on plain HTTP, never from the query string, so it stays out of URLs and logs).
 */
export const WEBSOCKET_PROTOCOL = 'drover';
export const WEBSOCKET_TOKEN_PROTOCOL_PREFIX = 'drover.token.';

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
 * The token a WebSocket upgrade carries in its `drover.token.<secret>` subprotocol, if any.
 * Only for requests that arrived as upgrades (`request.ws`, set by @fastify/websocket).
 */
function websocketProtocolToken(request: FastifyRequest): string | undefined {
  if (!(request as FastifyRequest & { ws?: boolean }).ws) return undefined;
  const offered = request.headers['sec-websocket-protocol'];
  if (typeof offered !== 'string') return undefined;
  const entry = offered.split(',').map((p) => p.trim()).find((p) => p.startsWith(WEBSOCKET_TOKEN_PROTOCOL_PREFIX));
  return entry ? entry.slice(WEBSOCKET_TOKEN_PROTOCOL_PREFIX.length) : undefined;
}

/**
 * Requires `Authorization: Bearer <token>` on every request, unknown routes included, except
 * PUBLIC_ROUTES; a WebSocket upgrade may carry the token in its subprotocol instead (see
 * WEBSOCKET_TOKEN_PROTOCOL_PREFIX). Installed on the root instance so no plugin can opt out by
 * encapsulation.
 */
export function installAuthentication(app: FastifyInstance, tokens: TokenService): void {
  // A public route (lease renewals: 1,000 a second at 1,000 hosts) passes without a promise; see installMetrics.
  app.addHook('onRequest', (request, reply, done) => {
    if (isPublicRoute(request.method, request.routeOptions.url)) return done();
    authenticate(request, reply).then(
      () => done(),
      (err: unknown) => done(err as Error),
    );
  });

  async function authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    reply.header('www-authenticate', 'Bearer realm="drover"');
    const header = request.headers.authorization;
    const match = header ? /^Bearer +(\S+) *$/i.exec(header) : null;
    const secret = header ? match?.[1] : websocketProtocolToken(request);
    if (!secret) throw new DroverError('UNAUTHORIZED', header ? 'the Authorization header is not "Bearer <token>"' : 'no bearer token');
    const verdict = await tokens.verify(secret);
    if (!verdict.ok) {
      throw new DroverError('UNAUTHORIZED', verdict.reason === 'revoked' ? 'the token has been revoked' : 'the token is not recognised');
    }
    reply.removeHeader('www-authenticate');
    actors.set(request, { name: verdict.token.name, requestId: request.id });
  }
}
