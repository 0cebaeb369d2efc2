import { errorResponses } from '../api/schemas.js';
import type { DomainRoutes } from '../api/services.js';
import { actorOf } from './hook.js';
import { CreateTokenBody, CreatedTokenSchema, TokenListSchema, TokenNameParams, TokenSchema, tokenWire } from './schema.js';

/** /tokens: list, create (the secret is in this one response only) and revoke by name. */
export const tokenRoutes: DomainRoutes = async (app, { services }) => {
  const tags = ['tokens'];

  app.get('/tokens', {
    schema: { operationId: 'listTokens', summary: 'List active and revoked tokens', tags, response: { 200: TokenListSchema, ...errorResponses } },
    handler: async () => ({ tokens: (await services.tokens.list()).map(tokenWire) }),
  });

  app.post('/tokens', {
    schema: {
      operationId: 'createToken',
      summary: 'Create a token; the response holds its secret, shown once',
      tags,
      body: CreateTokenBody,
      response: { 201: CreatedTokenSchema, ...errorResponses },
    },
    handler: async (request, reply) => {
      const { name, role } = request.body;
      const created = await services.tokens.create(name, actorOf(request), role ? { role } : {});
      return reply.status(201).send({ token: tokenWire(created.token), secret: created.secret });
    },
  });

  app.delete('/tokens/:name', {
    schema: {
      operationId: 'revokeToken',
      summary: 'Revoke the active token with this name',
      tags,
      params: TokenNameParams,
      response: { 200: TokenSchema, ...errorResponses },
    },
    handler: async (request) => tokenWire(await services.tokens.revoke(request.params.name, actorOf(request))),
  });
};
