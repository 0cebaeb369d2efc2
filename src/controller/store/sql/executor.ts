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
  /** Written between an INSERT's column list and VALUES to give an identity column explicit values ('' where none is needed). */
  readonly explicitIdentity: string;
  /**
   * The statement that makes `table`'s identity `column` generate values after `last`, once rows
   * with explicit ids were inserted; undefined where the engine does that by itself.
   */
  continueIdentity(table: string, column: string, last: number): string | undefined;
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

/** How a whole-store tool's transaction reads or writes. */
export type SqlTransactionMode =
  /** A consistent read-only view that writers (also in other processes) do not wait for. */
  | 'snapshot'
  /** Every write commits together, or none does. */
  | 'write';

/**
 * Engine-level access for whole-store tools (copying a store to another engine): the engine's SQL
 * inside one transaction. Services never use it; they go through Store and its repositories.
 */
export interface SqlEngine {
  readonly engine: 'sqlite' | 'postgresql';
  /** Where the store is, without a password, for messages. */
  readonly display: string;
  /** Runs `fn` on one transaction's executor; it must await nothing but that executor. */
  sqlTransaction<T>(mode: SqlTransactionMode, fn: (sql: SqlExecutor) => Promise<T>): Promise<T>;
}
