/**
 * Several controllers can serve one cluster (they share one store, issue 13). The CLI and the host
 * agents are given their URLs as one comma-separated list and talk to the first that works:
 *
 * - a controller that could not be connected to (refused, unreachable, no connection within the
 *   connect timeout) never saw the request, so any request moves on to the next URL;
 * - a connection that dropped before an answer (or, if the caller asks, sent none in time) may
 *   have delivered the request, so only a request that is safe to send twice moves on (GET, HEAD,
 *   OPTIONS, PUT, or one the caller marks idempotent);
 *   a POST, PATCH or DELETE is not sent again and fails with CONTROLLER_UNREACHABLE saying so;
 * - a 503 whose code says the controller cannot serve now (STORE_UNAVAILABLE: it cannot reach the
 *   store; CONTROLLER_NOT_LEADER: the leader's work, such as host leases, is asked of another) moves on too, but only for a request safe to send twice: a write cut off mid-commit
 *   may have landed, so a POST, PATCH or DELETE gets that answer back;
 * - any other answer, error or not, is the answer.
 *
 * The URL that answered is remembered, and tried first from then on.
 */
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { DroverError, type ErrorCode } from './errors.js';

/** The 503 codes of a controller that cannot serve now while another may: the next URL is asked, for requests safe to repeat. */
export const CONTROLLER_NOT_SERVING_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['STORE_UNAVAILABLE', 'CONTROLLER_NOT_LEADER']);

/** Methods HTTP defines as safe to repeat; a request with one of them may go to another controller after a dropped connection. */
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT']);

/** How long the CLI waits for a TCP connection to one controller before trying the next. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 3_000;

/**
 * Parses `http://a:7700,http://b:7700` (or a list of such texts) into distinct URLs without
 * trailing slashes, in order; throws INVALID_ARGUMENT for an empty list or a URL that is not http(s).
 */
export function parseControllerUrls(value: string | readonly string[]): string[] {
  const parts = (typeof value === 'string' ? [value] : value).flatMap((text) => text.split(','));
  const urls: string[] = [];
  for (const part of parts) {
    const text = part.trim().replace(/\/+$/, '');
    if (text === '') continue;
    let parsed: URL;
    try {
      parsed = new URL(text);
    } catch {
      throw new DroverError('INVALID_ARGUMENT', `controller URL ${JSON.stringify(text)} is not a URL (expected http://HOST:PORT)`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new DroverError('INVALID_ARGUMENT', `controller URL ${text} must start with http:// or https://`);
    }
    if (!urls.includes(text)) urls.push(text);
  }
  if (urls.length === 0) throw new DroverError('INVALID_ARGUMENT', 'no controller URL given (expected http://HOST:PORT, several separated by commas)');
  return urls;
}

/** One request to whichever controller answers. */
export interface ControllerRequest {
  method: string;
  /** The route and query, from the leading slash: `/api/v1/vms`. */
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Aborts the whole request, on every URL; its reason is thrown as is. */
  signal?: AbortSignal;
  /** Safe to send again to another controller after the first may have received it; default: by method (GET, HEAD, OPTIONS, PUT). */
  idempotent?: boolean;
  /** This request's connect timeout per URL, instead of the one the ControllerUrls was made with. */
  connectTimeoutMs?: number;
  /**
   * For an idempotent request: a controller that connected but sent no answer (headers) within
   * this long is passed over like a dropped connection, so a hung controller does not hold every
   * request. Ignored for the others, which must not be sent twice.
   */
  answerTimeoutMs?: number;
}

export interface ControllerUrlsOptions {
  /** Per URL: no TCP connection within this long counts as unreachable, and the next URL is tried. */
  connectTimeoutMs?: number;
}

/** Why one URL was passed over. */
type Failure = { kind: 'unreachable' | 'dropped' | 'not-serving'; reason: string; cause?: unknown };

class AttemptFailed extends Error {
  constructor(readonly failure: Failure) {
    super(failure.reason);
  }
}

/** The controllers of one cluster, tried in order; the one that answered last is tried first. */
export class ControllerUrls {
  readonly urls: readonly string[];
  private preferred = 0;
  private readonly connectTimeoutMs: number;

  /** `urls` as parseControllerUrls takes them. */
  constructor(urls: string | readonly string[], options: ControllerUrlsOptions = {}) {
    this.urls = parseControllerUrls(urls);
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  }

  /** The URL tried first: the one that answered last, or the first listed. */
  get current(): string {
    return this.urls[this.preferred] ?? this.urls[0] ?? '';
  }

  /** Every URL, the current one first, then the rest in the order given. */
  order(): string[] {
    const first = this.current;
    return [first, ...this.urls.filter((url) => url !== first)];
  }

  /** Marks `url` as the one that works (e.g. after a WebSocket opened on it). */
  remember(url: string): void {
    const index = this.urls.indexOf(url);
    if (index >= 0) this.preferred = index;
  }

  /**
   * Sends `request` to the first controller that takes it (see the module comment) and resolves
   * with its answer, whatever the status. Throws CONTROLLER_UNREACHABLE naming every URL and why
   * when none did, and the signal's reason when it aborts.
   */
  async fetch(request: ControllerRequest): Promise<Response> {
    const idempotent = request.idempotent ?? IDEMPOTENT_METHODS.has(request.method.toUpperCase());
    const failures: { url: string; failure: Failure }[] = [];
    for (const url of this.order()) {
      let failure: Failure;
      try {
        const res = await sendOnce(url, request, request.connectTimeoutMs ?? this.connectTimeoutMs, idempotent ? request.answerTimeoutMs : undefined);
        const notServing = idempotent ? await notServingCode(res) : undefined;
        if (notServing === undefined) {
          this.remember(url);
          return res.replay;
        }
        failure = { kind: 'not-serving', reason: `answered 503 ${notServing}` };
      } catch (err) {
        if (request.signal?.aborted) throw request.signal.reason ?? err;
        if (!(err instanceof AttemptFailed)) throw err;
        failure = err.failure;
      }
      failures.push({ url, failure });
      if (failure.kind === 'dropped' && !idempotent) {
        throw new DroverError(
          'CONTROLLER_UNREACHABLE',
          `${request.method} ${request.path}: the connection to ${url} ${failure.reason} after the request was sent, so it may have been carried out; ` +
            `it was not sent to another controller (check with \`drover op list\` or \`drover events\`)${triedText(failures.slice(0, -1))}`,
          { cause: failure.cause },
        );
      }
    }
    const last = failures.at(-1)?.failure;
    throw new DroverError('CONTROLLER_UNREACHABLE', `no controller took ${request.method} ${request.path}: ${failures.map(({ url, failure }) => `${url} ${failure.reason}`).join('; ')}`, {
      cause: last?.cause,
    });
  }
}

function triedText(failures: { url: string; failure: Failure }[]): string {
  return failures.length === 0 ? '' : ` (before it: ${failures.map(({ url, failure }) => `${url} ${failure.reason}`).join('; ')})`;
}

/** An answer, and the same answer again for the caller once its body may have been read here. */
interface Answer {
  status: number;
  contentType: string;
  readBody(): Promise<string>;
  replay: Response;
}

/** The code of a 503 that says the controller cannot serve now, else undefined (the answer stands). */
async function notServingCode(res: Answer): Promise<string | undefined> {
  if (res.status !== 503 || !res.contentType.includes('json')) return undefined;
  try {
    const code = (JSON.parse(await res.readBody()) as { code?: unknown }).code;
    return typeof code === 'string' && CONTROLLER_NOT_SERVING_CODES.has(code as ErrorCode) ? code : undefined;
  } catch {
    return undefined;
  }
}

/** Human words for the usual socket error codes. */
function describeSocketError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'refused the connection';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'is unreachable (no route to the host)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'names a host that cannot be resolved';
    case 'ECONNRESET':
      return 'was reset';
    default:
      return `failed: ${err.code ?? err.message}`;
  }
}

/**
 * Sends one request to one controller over node:http, which tells a connection never made from
 * one that dropped after the request went out (fetch does not). Resolves once the headers arrive.
 */
function sendOnce(base: string, request: ControllerRequest, connectTimeoutMs: number, answerTimeoutMs: number | undefined): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const target = new URL(`${base}${request.path}`);
    const transport = target.protocol === 'https:' ? https : http;
    let connected = false;
    const outgoing = transport.request(target, {
      method: request.method,
      headers: { ...request.headers, ...(request.body !== undefined ? { 'content-length': String(Buffer.byteLength(request.body)) } : {}) },
      ...(request.signal ? { signal: request.signal } : {}),
    });
    const connectTimer = setTimeout(() => {
      outgoing.destroy(new AttemptFailed({ kind: 'unreachable', reason: `did not accept a connection within ${connectTimeoutMs} ms` }));
    }, connectTimeoutMs);
    let answerTimer: NodeJS.Timeout | undefined;
    const established = (): void => {
      connected = true;
      clearTimeout(connectTimer);
      if (answerTimeoutMs === undefined) return;
      answerTimer = setTimeout(() => {
        outgoing.destroy(new AttemptFailed({ kind: 'dropped', reason: `did not answer within ${answerTimeoutMs} ms` }));
      }, answerTimeoutMs);
    };
    outgoing.on('socket', (socket) => {
      // A kept-alive socket is connected already; a new one says so when it is.
      if (socket.connecting) socket.once('connect', established);
      else established();
    });
    outgoing.on('response', (incoming) => {
      clearTimeout(connectTimer);
      clearTimeout(answerTimer);
      const headers = new Headers();
      for (const [name, value] of Object.entries(incoming.headers)) {
        if (Array.isArray(value)) for (const v of value) headers.append(name, v);
        else if (value !== undefined) headers.set(name, value);
      }
      const status = incoming.statusCode ?? 502;
      const bodyless = request.method.toUpperCase() === 'HEAD' || status === 204 || status === 205 || status === 304;
      let read: Promise<string> | undefined;
      const readBody = (): Promise<string> =>
        (read ??= new Promise<string>((done, fail) => {
          let text = '';
          incoming.setEncoding('utf8');
          incoming.on('data', (chunk: string) => (text += chunk));
          incoming.on('end', () => done(text));
          incoming.on('error', fail);
        }));
      if (bodyless) incoming.resume();
      const init = { status, statusText: incoming.statusMessage ?? '', headers };
      resolve({
        status,
        contentType: incoming.headers['content-type'] ?? '',
        readBody,
        get replay(): Response {
          if (bodyless) return new Response(null, init);
          if (read) return new Response(streamOf(read), init);
          // The body fails with the signal's reason, as fetch's does, not node:http's own "aborted".
          request.signal?.addEventListener('abort', () => incoming.destroy(request.signal?.reason as Error), { once: true });
          // Readable.toWeb's stream type is node:stream/web's, which is the global ReadableStream at run time.
          return new Response(Readable.toWeb(incoming) as ReadableStream<Uint8Array>, init);
        },
      });
    });
    outgoing.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(connectTimer);
      clearTimeout(answerTimer);
      if (err instanceof AttemptFailed) return reject(err);
      if (request.signal?.aborted) return reject(err);
      reject(new AttemptFailed({ kind: connected ? 'dropped' : 'unreachable', reason: describeSocketError(err), cause: err }));
    });
    outgoing.end(request.body);
  });
}

/** A body stream of text that arrives later. */
function streamOf(text: Promise<string>): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async start(controller) {
      try {
        controller.enqueue(new TextEncoder().encode(await text));
        controller.close();
      } catch (err) {
        controller.error(err);
      }
    },
  });
}
