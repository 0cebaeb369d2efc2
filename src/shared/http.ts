import crypto from 'node:crypto';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DroverError, ERRORS } from './errors.js';

/** Maps every error to `{code, message, detail}` with its status; bad input never becomes a 500. */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | DroverError | Error, request: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof DroverError) {
      if (err.status >= 500) request.log.error({ err }, 'request failed');
      return reply.status(err.status).send(err.toJSON());
    }
    const fe = err as FastifyError;
    if (fe.validation) {
      return reply.status(400).send({ code: 'INVALID_ARGUMENT', message: ERRORS.INVALID_ARGUMENT.message, detail: fe.message });
    }
    if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
      const code = fe.statusCode === 404 ? 'NOT_FOUND' : fe.statusCode === 401 ? 'UNAUTHORIZED' : 'INVALID_ARGUMENT';
      return reply.status(fe.statusCode).send({ code, message: ERRORS[code].message, detail: fe.message });
    }
    request.log.error({ err }, 'unexpected error');
    return reply.status(500).send({ code: 'INTERNAL', message: ERRORS.INTERNAL.message, detail: err.message });
  });
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send({ code: 'NOT_FOUND', message: ERRORS.NOT_FOUND.message, detail: `${request.method} ${request.url}` });
  });
}

/** Constant-time comparison of two secrets. */
export function sameSecret(a: string, b: string): boolean {
  const ha = crypto.createHash('sha256').update(a).digest();
  const hb = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(ha, hb);
}

/** Requires `Authorization: Bearer <token>` on every route except those in `open`. */
export function requireBearer(app: FastifyInstance, isValid: (token: string) => boolean, open: string[] = ['/healthz']): void {
  app.addHook('onRequest', async (request, reply) => {
    const url = request.url.split('?')[0] ?? '';
    if (open.includes(url)) return;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    // Browsers cannot set headers on WebSocket upgrades; they pass the token as a query parameter.
    const token = match?.[1] ?? (request.query as Record<string, string> | undefined)?.token;
    if (!token || !isValid(token)) {
      return reply.status(401).send({ code: 'UNAUTHORIZED', message: ERRORS.UNAUTHORIZED.message });
    }
  });
}
