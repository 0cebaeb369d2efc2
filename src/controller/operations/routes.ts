import { errorResponses } from '../api/schemas.js';
import type { DomainRoutes } from '../api/services.js';
import { actorOf } from '../auth/hook.js';
import { OperationGetQuery, OperationIdParams, OperationListQuery, OperationListSchema, OperationSchema, operationWire } from './schema.js';

/** /operations: list, get (optionally waiting for the end) and cancel. */
export const operationRoutes: DomainRoutes = async (app, { services }) => {
  const tags = ['operations'];
  const runner = services.operations;

  app.get('/operations', {
    schema: {
      operationId: 'listOperations',
      summary: 'List operations, newest first',
      tags,
      querystring: OperationListQuery,
      response: { 200: OperationListSchema, ...errorResponses },
    },
    handler: async (request) => {
      const { state, targetType, targetId, limit } = request.query;
      const operations = await runner.list({
        limit: limit ?? 100,
        ...(state ? { states: [state] } : {}),
        ...(targetType !== undefined ? { targetType } : {}),
        ...(targetId !== undefined ? { targetId } : {}),
      });
      return { operations: operations.map(operationWire) };
    },
  });

  app.get('/operations/:id', {
    schema: {
      operationId: 'getOperation',
      summary: 'Get an operation; with ?wait=N, first wait up to N seconds for it to finish',
      tags,
      params: OperationIdParams,
      querystring: OperationGetQuery,
      response: { 200: OperationSchema, ...errorResponses },
    },
    handler: async (request) => {
      const { wait } = request.query;
      const op = wait ? await runner.wait(request.params.id, wait * 1000) : await runner.get(request.params.id);
      return operationWire(op);
    },
  });

  app.post('/operations/:id/cancel', {
    schema: {
      operationId: 'cancelOperation',
      summary: 'Cancel an operation; it stops at its next step and undoes what it did',
      tags,
      params: OperationIdParams,
      response: { 202: OperationSchema, ...errorResponses },
    },
    handler: async (request, reply) => {
      const op = await runner.cancel(request.params.id, actorOf(request));
      return reply.status(202).send(operationWire(op));
    },
  });
};
