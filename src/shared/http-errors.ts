import type { FastifyError, FastifyInstance, FastifyRequest, FastifySchemaValidationError } from 'fastify';
import { DroverError, ERRORS, type ErrorCode } from './errors.js';

/**
 * Schema keyword naming the coded error a request gets when it fails validation at this node,
 * instead of the generic INVALID_ARGUMENT.
 */
export const ERROR_CODE_KEYWORD = 'x-drover-error';

/** The JSON body of every error response. */
export interface ErrorBody {
  code: string;
  message: string;
  detail?: string;
  field?: string;
}

/**
 * Installs the error handling of every Drover HTTP server (controller and host agent) on the root instance: DroverErrors keep their code and
 * status, anything wrong with the request is a 4xx with a stable code, an unknown route is
 * NOT_FOUND, and only a bug in the controller is a 500 (logged, with the request id in the detail).
 */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: unknown, request, reply) => {
    const { status, body } = toErrorResponse(error, request);
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    return reply.status(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    return reply.status(404).send(coded('NOT_FOUND', `no route ${request.method} ${path.slice(0, 200)}`));
  });
}

/** Maps anything thrown while handling `request` to its status and body. */
export function toErrorResponse(error: unknown, request: FastifyRequest): { status: number; body: ErrorBody } {
  if (error instanceof DroverError) {
    return { status: error.status, body: error.toJSON() };
  }
  const fastifyError = error as Partial<FastifyError>;
  if (Array.isArray(fastifyError.validation)) {
    return fromValidation(fastifyError.validation, fastifyError.validationContext ?? 'request', request);
  }
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code: ErrorCode = status === 413 ? 'PAYLOAD_TOO_LARGE' : status === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : status === 404 ? 'NOT_FOUND' : 'INVALID_ARGUMENT';
    return { status: ERRORS[code].status, body: coded(code, String(fastifyError.message ?? '').slice(0, 300)) };
  }
  // Every caller is authenticated (an administrator or the controller), and the message is what a bug report needs.
  const message = error instanceof Error ? error.message : String(error);
  return { status: 500, body: coded('INTERNAL', `request ${request.id}: ${message.slice(0, 300)}`) };
}

/**
 * The first validation failure as INVALID_ARGUMENT with the field at fault, or as the code the
 * failing schema names with ERROR_CODE_KEYWORD (INVALID_NAME for names, for instance).
 */
function fromValidation(errors: FastifySchemaValidationError[], context: string, request: FastifyRequest): { status: number; body: ErrorBody } {
  const first = errors.find((e) => e.keyword !== 'boolean') ?? errors[0];
  if (!first) return { status: 400, body: coded('INVALID_ARGUMENT') };
  const params = first.params as { additionalProperties?: unknown; requiredProperties?: unknown };
  let path = first.instancePath;
  let message = first.message ?? 'is invalid';
  if (first.keyword === 'additionalProperties' && Array.isArray(params.additionalProperties)) {
    path = `${path}/${String(params.additionalProperties[0])}`;
    message = 'is not a known field';
  } else if (first.keyword === 'required' && Array.isArray(params.requiredProperties)) {
    path = `${path}/${String(params.requiredProperties[0])}`;
    message = 'is required';
  }
  const field = [context, ...path.split('/').filter(Boolean)].join('.');
  const code = declaredCode(request, context, first.schemaPath) ?? 'INVALID_ARGUMENT';
  return { status: ERRORS[code].status, body: { ...coded(code, `${field} ${message}`), field } };
}

/** The error code the failing schema node declares, if any. */
function declaredCode(request: FastifyRequest, context: string, schemaPath: string): ErrorCode | undefined {
  const schemas = request.routeOptions.schema as Record<string, unknown> | undefined;
  let node: unknown = schemas?.[context];
  for (const part of schemaPath.replace(/^#\/?/, '').split('/').filter(Boolean)) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  const code = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[ERROR_CODE_KEYWORD] : undefined;
  return typeof code === 'string' && code in ERRORS ? (code as ErrorCode) : undefined;
}

function coded(code: ErrorCode, detail?: string): ErrorBody {
  return new DroverError(code, detail).toJSON();
}
