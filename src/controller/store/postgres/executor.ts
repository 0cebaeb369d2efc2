import type pg from 'pg';
import { DroverError } from '../../../shared/errors.js';
import type { SqlDialect, SqlExecutor, SqlValue } from '../sql/executor.js';
import { isConnectionError, isRetryableConflict } from './connection.js';

export const PG_DIALECT: SqlDialect = {
  name: 'postgresql',
  insertionOrder: 'seq',
  boolean: (value) => value,
  byteOrder: (column) => `${column} COLLATE "C"`,
  jsonText: (column, key) => `(${column} ->> '${key}')`,
  // The identity columns are GENERATED ALWAYS, which refuses explicit values without this.
  explicitIdentity: 'OVERRIDING SYSTEM VALUE',
  // ALTER TABLE, unlike setval, is transactional: a copy that rolls back leaves the identity as it was.
  continueIdentity: (table, column, last) => `ALTER TABLE ${table} ALTER COLUMN ${column} RESTART WITH ${Math.trunc(last) + 1}`,
};

/** A statement with `@name` parameters rewritten to PostgreSQL's `$n`, and the names in order. */
interface Compiled {
  text: string;
  names: string[];
}

const compiled = new Map<string, Compiled>();

function compile(sql: string): Compiled {
  let entry = compiled.get(sql);
  if (!entry) {
    const names: string[] = [];
    const text = sql.replace(/@([A-Za-z_][A-Za-z0-9_]*)/g, (_, name: string) => {
      let index = names.indexOf(name);
      if (index < 0) index = names.push(name) - 1;
      return `$${index + 1}`;
    });
    entry = { text, names };
    compiled.set(sql, entry);
  }
  return entry;
}

/** What the store learns from a failed statement: the connection is gone, or the transaction lost a race. */
export interface StatementFailures {
  connectionLost(err: unknown): void;
  conflict?(err: unknown): void;
}

/** Runs the repositories' SQL on a pool (each statement its own transaction) or on one transaction's client. */
export class PgExecutor implements SqlExecutor {
  readonly dialect = PG_DIALECT;

  constructor(
    private readonly target: () => pg.Pool | pg.PoolClient,
    private readonly failures: StatementFailures,
  ) {}

  async all(sql: string, params: Record<string, SqlValue> = {}): Promise<Record<string, unknown>[]> {
    return (await this.query(sql, params)).rows;
  }

  async run(sql: string, params: Record<string, SqlValue> = {}): Promise<number> {
    return (await this.query(sql, params)).rowCount ?? 0;
  }

  private async query(sql: string, params: Record<string, SqlValue>): Promise<pg.QueryResult<Record<string, unknown>>> {
    const { text, names } = compile(sql);
    const values = names.map((name) => {
      if (!(name in params)) throw new DroverError('INTERNAL', `no value for @${name} in ${sql}`);
      return params[name];
    });
    try {
      return await this.target().query<Record<string, unknown>>(text, values);
    } catch (err) {
      throw translatePgError(err, this.failures);
    }
  }
}

/** PostgreSQL's errors as the store's: a taken unique key, an unreachable database, a lost race. */
export function translatePgError(err: unknown, failures?: StatementFailures): unknown {
  const code = (err as { code?: unknown }).code;
  if (code === '23505') return new DroverError('ALREADY_EXISTS', (err as Error).message, { cause: err });
  // Class 22, data exceptions: a value PostgreSQL cannot hold (a NUL in text, an id past 64 bits).
  // SQLite stores such values or finds nothing; here they are the caller's bad input, never a 500.
  if (typeof code === 'string' && code.startsWith('22')) {
    return new DroverError('INVALID_ARGUMENT', `the store cannot hold a value given: ${(err as Error).message}`, { cause: err });
  }
  if (isConnectionError(err)) {
    failures?.connectionLost(err);
    return new DroverError('STORE_UNAVAILABLE', (err as Error).message, { cause: err });
  }
  if (isRetryableConflict(err)) {
    failures?.conflict?.(err);
    // Kept as PostgreSQL's error: the transaction that sees it runs again; outside one it becomes STORE_CONFLICT.
    return err;
  }
  return err;
}
