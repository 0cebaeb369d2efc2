import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import websocket from '@fastify/websocket';
import { Type, TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type RawServerDefault,
} from 'fastify';
import { parseControllerUrls } from '../../shared/controller-urls.js';
import { version } from '../../shared/version.js';
import { controllerUrlsFromEnvironment } from '../cluster/controllers.js';
import { installAuthentication, WEBSOCKET_PROTOCOL } from '../auth/hook.js';
import { installAudit } from './audit.js';
import { installMetrics } from '../metrics/routes.js';
import { installWebConsole } from '../web/static.js';
import { API_PREFIX, DOMAINS } from './domains.js';
import { installErrorHandling, toErrorResponse } from '../../shared/http-errors.js';
import { installFastSerialization } from './serialization.js';
import { OpenApiCollector } from './openapi.js';
import { ErrorSchema, errorResponses } from './schemas.js';
import type { ApiSettings, ControllerServices, DomainRoutes } from './services.js';

export type ControllerApp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

export interface ControllerAppOptions {
  services: ControllerServices;
  /** Where request logs go (a pino logger); default none. */
  logger?: FastifyBaseLogger;
  /** Default 15 s. */
  eventStreamHeartbeatMs?: number;
  /** Largest accepted request body; default 1 MiB. */
  bodyLimit?: number;
  /** The domains to serve; default DOMAINS. */
  domains?: readonly { name: string; routes: DomainRoutes }[];
  /** Directory of the built web console; default src/web/dist. */
  webRoot?: string;
  /** The public URLs of every controller serving this cluster, for GET /cluster/controllers; default DROVER_CONTROLLER_URLS, else just this one. */
  controllerUrls?: readonly string[];
}

/**
 * Builds the controller's HTTP API (not yet listening): bearer-token authentication on every
 * route but /healthz and /openapi.json, TypeBox validation, coded errors, an event for every
 * change, and each domain's routes under /api/v1.
 */
export async function buildControllerApp(options: ControllerAppOptions): Promise<ControllerApp> {
  const { services } = options;
  const settings: ApiSettings = {
    eventStreamHeartbeatMs: options.eventStreamHeartbeatMs ?? 15_000,
    controllerUrls: options.controllerUrls === undefined ? controllerUrlsFromEnvironment() : options.controllerUrls.length === 0 ? [] : parseControllerUrls(options.controllerUrls),
  };
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    genReqId: () => randomUUID(),
    // Event streams never go idle; without this, close() would wait for every client to leave.
    forceCloseConnections: true,
    // Requests Fastify rejects before routing (a malformed URL) get the same coded body.
    frameworkErrors: sendFrameworkError,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  installErrorHandling(app);
  installJsonBodies(app);
  const openapi = new OpenApiCollector({ Error: ErrorSchema });
  openapi.collect(app);
  installFastSerialization(app);
  // Before authentication: its onRequest hook marks upgrade requests so that a refused one
  // (401) has its socket destroyed instead of left open, which would also stall close().
  // A browser offering subprotocols needs one chosen; choose `drover`, never echo the token one.
  await app.register(websocket, { options: { handleProtocols: (offered) => (offered.has(WEBSOCKET_PROTOCOL) ? WEBSOCKET_PROTOCOL : false) } });
  installAuthentication(app, services.tokens);
  installAudit(app, services.events);
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    done(null, payload);
  });

  app.get('/healthz', {
    schema: {
      operationId: 'health',
      summary: 'Liveness: answers without a token',
      tags: ['system'],
      response: { 200: Type.Object({ status: Type.Literal('ok') }, { additionalProperties: false }), ...errorResponses },
    },
    handler: async () => ({ status: 'ok' as const }),
  });

  let document: Record<string, unknown> | undefined;
  app.get('/openapi.json', {
    schema: {
      operationId: 'openapi',
      summary: 'This API as an OpenAPI 3.1 document; answers without a token',
      tags: ['system'],
      response: { 200: Type.Object({ openapi: Type.String() }, { additionalProperties: true, description: 'The OpenAPI document.' }), ...errorResponses },
    },
    handler: async () => {
      document ??= openapi.document({ title: 'Drover controller API', version });
      return document as { openapi: string };
    },
  });

  installMetrics(app, services);
  await installWebConsole(app, options.webRoot);
  for (const domain of options.domains ?? DOMAINS) {
    await app.register(domain.routes, { prefix: API_PREFIX, services, settings });
  }
  return app;
}

function sendFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const { status, body } = toErrorResponse(error, request);
  void reply.status(status).send(body);
}

/** Only JSON bodies are accepted (anything else is 415), and an empty JSON body counts as none. */
function installJsonBodies(app: ControllerApp): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body.toString();
    if (text === '') done(null, undefined);
    else parseJson(request, text, done);
  });
}
