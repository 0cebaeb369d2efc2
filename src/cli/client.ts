import { DroverError, ERRORS, type ErrorCode } from '../shared/errors.js';
import type { CliConfig } from './config.js';

/** An error the controller returned, carrying its code, status and detail as the CLI prints them. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly detail?: string,
  ) {
    super(detail ? `${message} (${detail})` : message);
    this.name = 'ApiError';
  }
}

/** The operation shape the CLI reads. */
export interface OperationView {
  id: string;
  kind: string;
  state: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  progress: number;
  message?: string | null;
  result?: unknown;
  error?: { code: string; message: string; detail?: string } | null;
}

/** The CLI's one way to talk to the controller: JSON over HTTP with the bearer token. */
export class ApiClient {
  constructor(private readonly config: CliConfig) {}

  get url(): string {
    return this.config.url;
  }

  get token(): string {
    return this.config.token;
  }

  /** Sends a request; resolves with the parsed body, throws ApiError on a 4xx/5xx. */
  async request<T>(method: string, route: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.config.url}${route}`, {
        method,
        headers: {
          authorization: `Bearer ${this.config.token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      throw new DroverError('HOST_UNREACHABLE', `cannot reach the controller at ${this.config.url}: is \`drover up\` running?`, { cause: err });
    }
    const text = await res.text();
    const parsed: unknown = text && (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text;
    if (!res.ok) {
      const e = (parsed && typeof parsed === 'object' ? parsed : {}) as { code?: string; message?: string; detail?: string };
      const code = e.code ?? 'INTERNAL';
      const message = e.message ?? (code in ERRORS ? ERRORS[code as ErrorCode].message : `HTTP ${res.status}`);
      throw new ApiError(res.status, code, message, e.detail);
    }
    return parsed as T;
  }

  /** Polls an operation until it ends; calls onProgress on each change; throws ApiError if it failed. */
  async wait(id: string, onProgress?: (op: OperationView) => void, timeoutMs = 30 * 60_000): Promise<OperationView> {
    const deadline = Date.now() + timeoutMs;
    let delay = 100;
    while (Date.now() < deadline) {
      const op = await this.request<OperationView>('GET', `/api/v1/operations/${id}`);
      onProgress?.(op);
      if (op.state === 'succeeded') return op;
      if (op.state === 'failed' || op.state === 'cancelled') {
        const err = op.error ?? { code: op.state === 'cancelled' ? 'OPERATION_CANCELLED' : 'INTERNAL', message: op.message ?? op.state };
        throw new ApiError(409, err.code, err.message, err.detail);
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 1.5, 1000);
    }
    throw new DroverError('TIMEOUT', `operation ${id} did not finish in time; see \`drover op show ${id}\``);
  }
}
