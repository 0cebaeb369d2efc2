import type { FastifyRequest } from 'fastify';
import { DroverError } from '../../shared/errors.js';
import { errorResponses } from '../api/schemas.js';
import type { DomainRoutes } from '../api/services.js';
import { actorOf } from '../auth/hook.js';
import { HostJoinService } from './join.js';
import { CreateJoinTokenBody, JoinBody, JoinTokenSchema } from './join-schema.js';
import { HostSchema, hostWire } from './schema.js';

/** The join token a request carries: the bearer token, else the body's `joinToken`; UNAUTHORIZED when there is none. */
function presentedJoinToken(request: FastifyRequest): string {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer +(\S+) *$/i.exec(header);
    if (!match?.[1]) throw new DroverError('UNAUTHORIZED', 'the Authorization header is not "Bearer <join token>"');
    return match[1];
  }
  const body: unknown = request.body;
  const fromBody = body && typeof body === 'object' ? (body as { joinToken?: unknown }).joinToken : undefined;
  if (typeof fromBody === 'string' && fromBody !== '') return fromBody;
  throw new DroverError('UNAUTHORIZED', 'no join token: send it as the bearer token or as `joinToken` in the body');
}

/**
 * /hosts/join-tokens (admin) mints one-time join tokens; /hosts/join lets an agent join with one.
 * The join route is on the public list (auth/hook.ts) because the join token, checked here before
 * the body is even validated, is its only credential.
 */
export const joinRoutes: DomainRoutes = async (app, { services }) => {
  const tags = ['hosts'];
  const join = new HostJoinService(services.store, services.events, services.hosts);

  app.post('/hosts/join-tokens', {
    schema: {
      operationId: 'createJoinToken',
      summary: 'Mint a one-time token an agent joins with (`drover agent --join-token`)',
      tags,
      body: CreateJoinTokenBody,
      response: { 201: JoinTokenSchema, ...errorResponses },
    },
    // Every field is optional, so no body at all means the defaults.
    preValidation: async (request) => void (request.body ??= {}),
    handler: async (request, reply) => reply.status(201).send(await join.mint(actorOf(request), request.body.ttlSeconds)),
  });

  app.post('/hosts/join', {
    schema: {
      operationId: 'joinHost',
      summary: 'Join an agent as a host; authenticated by a join token (bearer or body), not an API token',
      tags,
      body: JoinBody,
      response: { 201: HostSchema, ...errorResponses },
    },
    preValidation: async (request, reply) => {
      reply.header('www-authenticate', 'Bearer realm="drover-join"');
      await join.admit(presentedJoinToken(request), request.id);
      reply.removeHeader('www-authenticate');
    },
    handler: async (request, reply) => {
      const host = await join.join(presentedJoinToken(request), request.body, request.id);
      return reply.status(201).send(hostWire(host, 0, services.hosts.unmanagedOn(host.id), services.hosts.lastHostInfo(host.id)));
    },
  });
};
