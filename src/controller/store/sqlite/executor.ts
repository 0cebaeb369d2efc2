import { DroverError } from '../../../shared/errors.js';
import type { SqliteDatabase } from '../db.js';
import type { SqlDialect, SqlExecutor, SqlValue } from '../sql/executor.js';

export const SQLITE_DIALECT: SqlDialect = {
  name: 'sqlite',
  insertionOrder: 'rowid',
  boolean: (value) => (value ? 1 : 0),
  // SQLite's default collation, BINARY, already compares bytes.
  byteOrder: (column) => column,
  jsonText: (column, key) => `json_extract(${column}, '$.${key}')`,
  explicitIdentity: '',
  // AUTOINCREMENT keeps the largest id ever inserted (sqlite_sequence), explicit ones included.
  continueIdentity: () => undefined,
};

/**
 * Runs the repositories' SQL on one better-sqlite3 connection. better-sqlite3 is synchronous, so
 * each statement has run by the time its promise exists; prepared statements are cached by text.
 */
export class SqliteExecutor implements SqlExecutor {
  readonly dialect = SQLITE_DIALECT;
  private readonly statements = new Map<string, ReturnType<SqliteDatabase['prepare']>>();

  constructor(private readonly db: SqliteDatabase) {}

  all(sql: string, params: Record<string, SqlValue> = {}): Promise<Record<string, unknown>[]> {
    return settle(() => this.prepare(sql).all(params) as Record<string, unknown>[]);
  }

  run(sql: string, params: Record<string, SqlValue> = {}): Promise<number> {
    return settle(() => this.prepare(sql).run(params).changes);
  }

  private prepare(sql: string): ReturnType<SqliteDatabase['prepare']> {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}

/** Runs a statement now; its outcome as a promise, with SQLite's unique-constraint error as ALREADY_EXISTS. */
function settle<T>(statement: () => T): Promise<T> {
  try {
    return Promise.resolve(statement());
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
      return Promise.reject(new DroverError('ALREADY_EXISTS', (err as Error).message, { cause: err }));
    }
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}
