/**
 * GET /cluster/controllers: the public URLs of the controllers that serve this cluster (they share
 * one store, issue 13), so a client of one, such as the web console, knows where to turn when it
 * stops answering. The list is configuration (`DROVER_CONTROLLER_URLS`, or the app's
 * `controllerUrls`); without it the controller names only itself, at the address the request used.
 */
import { Type, type Static } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { parseControllerUrls } from '../../shared/controller-urls.js';
import { errorResponses } from '../api/schemas.js';
import type { DomainRoutes } from '../api/services.js';

export const ControllerListSchema = Type.Object(
  {
    controllers: Type.Array(
      Type.Object(
        {
          url: Type.String({ description: 'The controller\'s public URL (its web console is at /).' }),
          self: Type.Boolean({ description: 'True for the controller that answered, as the request reached it.' }),
        },
        { additionalProperties: false },
      ),
    ),
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

/** The configured controllers, this one marked; with none configured, this one alone. */
export function controllerList(configured: readonly string[], self: string): ControllerList {
  if (configured.length === 0) return { controllers: [{ url: self, self: true }] };
  return { controllers: configured.map((url) => ({ url, self: url === self })) };
}

export const controllerRoutes: DomainRoutes = async (app, { settings }) => {
  app.get('/cluster/controllers', {
    schema: {
      operationId: 'listControllers',
      summary: 'The controllers serving this cluster, by public URL; the one that answered is marked self',
      tags: ['cluster'],
      response: { 200: ControllerListSchema, ...errorResponses },
    },
    handler: async (request) => controllerList(settings.controllerUrls, origin(request)),
  });
};
