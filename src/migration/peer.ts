/**
 * The source agent's client for the destination agent's migration API. The agent API is the only path between
 * hosts; errors keep the destination's codes, and a failure to connect is told apart from a lost answer.
 */
import { DroverError, ERRORS, type ErrorCode } from '../shared/errors.js';
import type { VmView } from '../vms/schemas.js';
import type { IncomingPlan, IncomingRequest, MigrationView } from './schemas.js';

/** Connection errors that prove the request never reached the peer. */
const NOT_DELIVERED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/** A request to the peer failed; `delivered` is false only when it provably never arrived. */
export class PeerError extends DroverError {
  constructor(
    code: ErrorCode,
    detail: string,
    readonly delivered: boolean,
    options?: { cause?: unknown },
  ) {
    super(code, detail, options);
  }
}

/** The destination agent, reached at its URL with its bearer token. */
export class PeerAgent {
  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  /** Asks the destination to get ready for `request`; resolves with where to send the state and disks. */
  prepare(request: IncomingRequest): Promise<IncomingPlan> {
    return this.request('POST', '/api/v1/migrations/incoming', request, 120_000);
  }

  /** Tells the destination the state is complete there: it runs the guest and takes the VM over. */
  finish(id: string): Promise<VmView> {
    return this.request('POST', `/api/v1/migrations/${id}/finish`, {}, 30_000);
  }

  /** Asks the destination to drop a migration that will not finish: its QEMU is killed and its files removed. */
  abort(id: string): Promise<MigrationView> {
    return this.request('POST', `/api/v1/migrations/${id}/cancel`, {}, 30_000);
  }

  /** The destination's view of one of its VMs; VM_NOT_FOUND when it has none by that name. */
  vm(name: string): Promise<VmView> {
    return this.request('GET', `/api/v1/vms/${encodeURIComponent(name)}`, undefined, 10_000);
  }

  /** The destination's view of the migration. */
  get(id: string): Promise<MigrationView> {
    return this.request('GET', `/api/v1/migrations/${id}`, undefined, 10_000);
  }

  private async request<T>(method: string, route: string, body: unknown, timeoutMs: number): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.url.replace(/\/$/, '')}${route}`, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      const delivered = !NOT_DELIVERED.has(cause?.code ?? '');
      const timedOut = (err as Error).name === 'TimeoutError';
      const why = cause?.code ?? (err as Error).message;
      throw new PeerError(timedOut ? 'TIMEOUT' : 'HOST_UNREACHABLE', `${method} ${this.url}${route}: ${why}`, delivered, { cause: err });
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // Not JSON: kept as text for the error detail.
    }
    if (!res.ok) {
      const e = (parsed && typeof parsed === 'object' ? parsed : {}) as { code?: string; detail?: string };
      const code = e.code && e.code in ERRORS ? (e.code as ErrorCode) : 'INTERNAL';
      throw new PeerError(code, `destination: ${e.detail ?? `${res.status} ${text.slice(0, 200)}`}`, true);
    }
    return parsed as T;
  }
}
