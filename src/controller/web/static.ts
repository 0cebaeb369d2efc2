import fs from 'node:fs';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifySchema } from 'fastify';
import { repoRoot } from '../../shared/paths.js';
import { WEB_CLIENT_ROUTES } from './pages.js';

/** Where `vite build` (scripts/setup) writes the web console. */
export const DEFAULT_WEB_ROOT = path.join(repoRoot, 'src', 'web', 'dist');

/**
 * The console only talks to this controller (REST and WebSockets); styles may be inline because
 * xterm.js and uPlot set element styles; images may be data: URLs (the favicon, noVNC's cursor).
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data: blob:",
  "style-src 'self' 'unsafe-inline'",
  "script-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

/**
 * Serves the built web console: index.html for every client route (the app routes in the
 * browser), hashed assets under /assets/ with a long cache. When the console is not built, its
 * pages answer 503 with the command that builds it; the API is unaffected either way.
 */
export async function installWebConsole(app: FastifyInstance, root = DEFAULT_WEB_ROOT): Promise<void> {
  const indexFile = path.join(root, 'index.html');
  let cached: { mtimeMs: number; body: Buffer } | undefined;
  // Re-read only when the file changed, so a rebuild (new asset names) is served without a restart.
  const readIndex = (): Buffer | undefined => {
    const stat = fs.statSync(indexFile, { throwIfNoEntry: false });
    if (!stat) return undefined;
    if (cached?.mtimeMs !== stat.mtimeMs) cached = { mtimeMs: stat.mtimeMs, body: fs.readFileSync(indexFile) };
    return cached.body;
  };
  const page = async (_request: unknown, reply: FastifyReply) => {
    const index = readIndex();
    if (!index) {
      return reply
        .status(503)
        .type('text/plain; charset=utf-8')
        .send('The web console is not built. Run `bash scripts/setup` (or `npm run build:web`), then reload.\n');
    }
    return reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .send(index);
  };
  // `hide` is read by the OpenAPI collector (api/openapi.ts): pages are not part of the API.
  const schema = { hide: true } as FastifySchema;
  for (const url of WEB_CLIENT_ROUTES) app.get(url, { schema }, page);
  await app.register(fastifyStatic, {
    root: path.join(root, 'assets'),
    prefix: '/assets/',
    decorateReply: false,
    index: false,
    // Vite puts a content hash in every asset's name, so a name never changes meaning.
    immutable: true,
    maxAge: '365d',
    schemaHide: true,
    setHeaders: (reply) => void reply.header('x-content-type-options', 'nosniff'),
  });
}
