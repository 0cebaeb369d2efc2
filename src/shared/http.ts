import crypto from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { ERRORS } from './errors.js';

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
