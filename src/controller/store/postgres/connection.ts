import pg from 'pg';
import { DroverError } from '../../../shared/errors.js';

/** Where the store lives: an SQLite file, or a PostgreSQL database on one of several hosts. */
export type StoreLocation =
  | { engine: 'sqlite'; path: string }
  | {
      engine: 'postgresql';
      /** Tried in order; the first that accepts (and, for read-write, is not a standby) is used. */
      hosts: { host: string; port: number }[];
      user?: string;
      password?: string;
      database: string;
      /** libpq's target_session_attrs: `read-write` skips a server in recovery (a standby). */
      targetSessionAttrs: 'any' | 'read-write';
      /** The URL without its password, for messages and `cluster controllers`. */
      display: string;
    };

const PG_URL = /^(postgres(?:ql)?):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?]*)(?:\/([^?]*))?(?:\?(.*))?$/;

/**
 * Parses a store URL: `sqlite:PATH` (or a bare path), or libpq's URL form with several hosts,
 * `postgresql://USER[:PASSWORD]@HOST1[:PORT],HOST2[:PORT]/DB?target_session_attrs=read-write`.
 * node-postgres takes one host, so Drover walks the list itself (see PgConnector).
 */
export function parseStoreUrl(url: string): StoreLocation {
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (!file) throw new DroverError('STORE_URL_INVALID', `${url}: no file after sqlite:`);
    return { engine: 'sqlite', path: file };
  }
  const match = PG_URL.exec(url);
  if (!match) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) throw new DroverError('STORE_URL_INVALID', `${redact(url)}: unknown scheme`);
    return { engine: 'sqlite', path: url };
  }
  const [, , user, password, hostList, database, query] = match;
  const params = new URLSearchParams(query ?? '');
  const hosts = (hostList ?? '').split(',').filter(Boolean).map((entry) => hostPort(entry, url));
  if (hosts.length === 0) hosts.push({ host: '127.0.0.1', port: 5432 });
  const attrs = params.get('target_session_attrs') ?? 'any';
  if (attrs !== 'any' && attrs !== 'read-write') {
    throw new DroverError('STORE_URL_INVALID', `${redact(url)}: target_session_attrs must be any or read-write, got ${attrs}`);
  }
  for (const name of params.keys()) {
    if (name !== 'target_session_attrs') throw new DroverError('STORE_URL_INVALID', `${redact(url)}: unsupported parameter ${name}`);
  }
  return {
    engine: 'postgresql',
    hosts,
    ...(user ? { user: decodeURIComponent(user) } : {}),
    ...(password ? { password: decodeURIComponent(password) } : {}),
    database: decodeURIComponent(database || user || 'drover'),
    targetSessionAttrs: attrs,
    display: redact(url),
  };
}

function hostPort(entry: string, url: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(entry);
  if (!match) throw new DroverError('STORE_URL_INVALID', `${redact(url)}: bad host ${entry}`);
  const port = match[2] ? Number(match[2]) : 5432;
  if (port < 1 || port > 65535) throw new DroverError('STORE_URL_INVALID', `${redact(url)}: bad port in ${entry}`);
  return { host: (match[1] ?? '').replace(/^\[|\]$/g, ''), port };
}

/** The URL with its password replaced, safe to log and to show. */
export function redact(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:@/]*):[^@/]*@/i, '$1:***@');
}

/** Errors that mean the database cannot be reached (or is no longer the writable primary), not that a statement is wrong. */
export function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') {
    // Class 08: connection exception; 57P0x: the server shuts down or starts; 25006: it became read-only (a demoted primary); 53300: too many connections.
    if (code.startsWith('08') || ['57P01', '57P02', '57P03', '25006', '53300'].includes(code)) return true;
    if (['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENETUNREACH'].includes(code)) return true;
  }
  const message = err instanceof Error ? err.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|connection error|Client was closed|Cannot use a pool after calling end/i.test(message);
}

/** Serialization failures and deadlocks: the transaction lost a race and may simply run again. */
export function isRetryableConflict(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (code === '40001' || code === '40P01') return true;
  }
  return false;
}

/** node-postgres returns json columns as text and int8 as numbers here, the way SQLite does. */
const TYPES = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') => {
    if (oid === pg.types.builtins.JSON) return (value: string) => value;
    if (oid === pg.types.builtins.INT8) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
};

/** Connection settings for one of the location's hosts. */
export function clientConfig(location: Extract<StoreLocation, { engine: 'postgresql' }>, index: number, connectTimeoutMs: number): pg.ClientConfig {
  const target = location.hosts[index];
  if (!target) throw new DroverError('INTERNAL', `no host ${index} in ${location.display}`);
  return {
    host: target.host,
    port: target.port,
    database: location.database,
    ...(location.user ? { user: location.user } : {}),
    ...(location.password ? { password: location.password } : {}),
    application_name: 'drover-controller',
    connectionTimeoutMillis: connectTimeoutMs,
    types: TYPES,
  };
}

/**
 * Finds the first host of the location that accepts a connection and, for read-write, is not in
 * recovery. Returns its index, or STORE_UNAVAILABLE naming each host and why it was passed over.
 */
export async function findServer(location: Extract<StoreLocation, { engine: 'postgresql' }>, connectTimeoutMs: number): Promise<number> {
  const reasons: string[] = [];
  for (let index = 0; index < location.hosts.length; index++) {
    const client = new pg.Client(clientConfig(location, index, connectTimeoutMs));
    client.on('error', () => undefined);
    const where = `${location.hosts[index]?.host}:${location.hosts[index]?.port}`;
    try {
      await client.connect();
      if (location.targetSessionAttrs === 'read-write') {
        const result = await client.query<{ transaction_read_only: string }>('SHOW transaction_read_only');
        if (result.rows[0]?.transaction_read_only === 'on') {
          reasons.push(`${where}: read-only (a standby)`);
          continue;
        }
      }
      return index;
    } catch (err) {
      reasons.push(`${where}: ${(err as Error).message}`);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  throw new DroverError('STORE_UNAVAILABLE', `${location.display}: ${reasons.join('; ')}`);
}
