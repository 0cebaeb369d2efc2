import { ControllerUrls, type ControllerUrlsOptions } from '../shared/controller-urls.js';
import { DroverError, ERRORS, type ErrorCode } from '../shared/errors.js';
import type { OperationWire } from '../controller/operations/schema.js';
import type { ControllerTarget } from './config.js';

/** An error the controller returned, carrying its code, status and detail as the CLI prints them. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    /** The API's message alone; `message` adds the detail for people. */
    readonly apiMessage: string,
    readonly detail?: string,
    readonly field?: string,
  ) {
    super(detail ? `${apiMessage} (${detail})` : apiMessage);
    this.name = 'ApiError';
  }

  /** The API's error shape, for `-o json`. */
  toJSON(): { code: string; message: string; detail?: string; field?: string } {
    return { code: this.code, message: this.apiMessage, ...(this.detail ? { detail: this.detail } : {}), ...(this.field ? { field: this.field } : {}) };
  }
}

/** An operation as the API shows it (the wire type from its schema: types only, no controller code). */
export type OperationView = OperationWire;

/**
 * The CLI's one way to talk to the controller: JSON over HTTP with the bearer token. With several
 * controller URLs it uses the first that works and sticks to it (src/shared/controller-urls.ts).
 */
export class ApiClient {
  readonly controllers: ControllerUrls;

  constructor(
    private readonly config: ControllerTarget,
    options: ControllerUrlsOptions = {},
  ) {
    this.controllers = new ControllerUrls(config.urls, options);
  }

  /** The controller URL in use: the one that answered last, or the first configured. */
  get url(): string {
    return this.controllers.current;
  }

  /** Every configured controller URL, in the order given. */
  get urls(): readonly string[] {
    return this.controllers.urls;
  }

  get token(): string {
    return this.config.token;
  }

  /** Sends a request; resolves with the parsed body, throws ApiError on a 4xx/5xx. */
  async request<T>(method: string, route: string, body?: unknown): Promise<T> {
    const res = await this.send(method, route, {
      ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    const parsed: unknown = text && (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text;
    if (!res.ok) throw this.toError(res, parsed, method, route);
    return parsed as T;
  }

  /** Opens a streaming GET (Server-Sent Events); resolves once the response headers arrive, throws ApiError on a 4xx/5xx. */
  async stream(route: string, headers: Record<string, string>, signal?: AbortSignal): Promise<Response> {
    const res = await this.send('GET', route, { headers: { accept: 'text/event-stream', ...headers }, ...(signal ? { signal } : {}) });
    if (!res.ok) {
      const text = await res.text();
      throw this.toError(res, text && (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text, 'GET', route);
    }
    return res;
  }

  /** The URL of a controller that answers GET /healthz (trying them as requests do), for connections made outside `send`, such as the console WebSocket. */
  async workingUrl(): Promise<string> {
    const res = await this.send('GET', '/healthz', {});
    await res.body?.cancel();
    return this.url;
  }

  /** Sends to the first controller that takes the request; throws CONTROLLER_UNREACHABLE naming each URL and why when none does. */
  private async send(method: string, route: string, init: { headers?: Record<string, string>; body?: string; signal?: AbortSignal }): Promise<Response> {
    try {
      return await this.controllers.fetch({ method, path: route, ...init, headers: { authorization: `Bearer ${this.config.token}`, ...init.headers } });
    } catch (err) {
      if (err instanceof DroverError || (err as Error).name === 'AbortError') throw err;
      throw new DroverError('CONTROLLER_UNREACHABLE', `${method} ${route} to ${this.url} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The ApiError for a 4xx/5xx; a body without the error shape still names the status and route. */
  private toError(res: Response, parsed: unknown, method: string, route: string): ApiError {
    const e = (parsed && typeof parsed === 'object' ? parsed : {}) as { code?: string; message?: string; detail?: string; field?: string };
    const code = e.code ?? 'INTERNAL';
    const message = e.message ?? (code in ERRORS ? ERRORS[code as ErrorCode].message : `HTTP ${res.status} from ${method} ${route}`);
    return new ApiError(res.status, code, message, e.detail, e.field);
  }

  /** Polls an operation until it ends; calls onProgress on each change; throws ApiError if it failed or was cancelled. */
  async wait(id: string, onProgress?: (op: OperationView) => void, timeoutMs = 30 * 60_000): Promise<OperationView> {
    const op = await this.waitForEnd(id, onProgress, timeoutMs);
    if (op.state === 'succeeded') return op;
    const err = op.error ?? { code: op.state === 'cancelled' ? 'OPERATION_CANCELLED' : 'INTERNAL', message: op.message || op.state };
    throw new ApiError(409, err.code, err.message, err.detail);
  }

  /** Polls an operation until it is succeeded, failed or cancelled, and returns it in that state. */
  async waitForEnd(id: string, onProgress?: (op: OperationView) => void, timeoutMs = 30 * 60_000): Promise<OperationView> {
    const deadline = Date.now() + timeoutMs;
    let delay = 100;
    while (Date.now() < deadline) {
      const op = await this.request<OperationView>('GET', apiPath('operations', id));
      onProgress?.(op);
      if (op.state === 'succeeded' || op.state === 'failed' || op.state === 'cancelled') return op;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 1.5, 1000);
    }
    throw new DroverError('TIMEOUT', `operation ${id} did not finish in time; follow it with \`drover op wait ${id}\``);
  }
}

/** An API route from path segments, each URL-encoded: apiPath('vms', name, 'start') → /api/v1/vms/<name>/start. */
export function apiPath(...segments: string[]): string {
  return `/api/v1/${segments.map(encodeURIComponent).join('/')}`;
}

/** Appends a query string built from the defined values (nothing when all are undefined). */
export function withQuery(route: string, params: Record<string, string | number | boolean | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined) search.set(key, String(value));
  const text = search.toString();
  return text ? `${route}?${text}` : route;
}
