/**
 * What the repositories need from a SQL engine: run a statement with named parameters (`@name`),
 * and the few things the engines spell differently. SQLite and PostgreSQL each implement it, so
 * the repositories (`repositories.ts`) are written once.
 */

export type SqlValue = string | number | boolean | null;

export interface SqlDialect {
  readonly name: 'sqlite' | 'postgresql';
  /** The column that orders rows by insertion (SQLite's rowid; a sequence column in PostgreSQL). */
  readonly insertionOrder: string;
  /** How a boolean is bound. */
  boolean(value: boolean): SqlValue;
  /** `column` compared and ordered byte by byte, whatever the database's locale (an index on that form exists where it is used). */
  byteOrder(column: string): string;
  /** The text of `key` at the top of the JSON in `column` (NULL when absent); `key` comes from code, never a request. */
  jsonText(column: string, key: string): string;
}

export interface SqlExecutor {
  readonly dialect: SqlDialect;
  /**
   * Runs a statement that returns rows (a SELECT, or a write with RETURNING). JSON columns come
   * back as their text and integers as numbers, on every engine. A unique-constraint violation
   * is ALREADY_EXISTS.
   */
  all(sql: string, params?: Record<string, SqlValue>): Promise<Record<string, unknown>[]>;
  /** Runs a write and returns how many rows it changed; a unique-constraint violation is ALREADY_EXISTS. */
  run(sql: string, params?: Record<string, SqlValue>): Promise<number>;
}
