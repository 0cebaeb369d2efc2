import { DroverError, type ErrorCode } from '../../../shared/errors.js';
import type { SqliteDatabase } from '../db.js';
import { now } from '../records.js';
import type { Patch } from '../store.js';

/** How a record field is stored: JSON fields as text, booleans as 0/1. */
export type ColumnKind = 'text' | 'number' | 'json' | 'boolean';

/** Every field of R mapped to its column, so a row converts to a whole record and back. */
export type ColumnMap<R> = { readonly [K in keyof R]-?: readonly [column: string, kind: ColumnKind] };

type SqlValue = string | number | null;

/**
 * Maps one table to records of type R and back; the repositories build on it.
 * Only code supplies field names here, never a request, so building SQL from them is safe.
 */
export class SqliteTable<R extends { id: string | number }> {
  private readonly fields: (keyof R & string)[];
  private readonly statements = new Map<string, ReturnType<SqliteDatabase['prepare']>>();

  constructor(
    readonly db: SqliteDatabase,
    readonly table: string,
    private readonly columns: ColumnMap<R>,
    private readonly notFound: ErrorCode,
  ) {
    this.fields = Object.keys(columns) as (keyof R & string)[];
  }

  /** Inserts a whole record; a unique-constraint violation becomes ALREADY_EXISTS. */
  insert(record: R): void {
    const cols = this.fields.map((field) => this.columns[field][0]);
    const sql = `INSERT INTO ${this.table} (${cols.join(', ')}) VALUES (${cols.map((c) => `@${c}`).join(', ')})`;
    translateConstraint(() => this.prepare(sql).run(this.toRow(record)));
  }

  /** Records matching `where` (SQL with named parameters), in the given order. */
  select(where: string, params: Record<string, SqlValue>, tail = 'ORDER BY rowid'): R[] {
    const sql = `SELECT * FROM ${this.table}${where ? ` WHERE ${where}` : ''} ${tail}`;
    const rows = this.prepare(sql).all(params) as Record<string, SqlValue>[];
    return rows.map((row) => this.fromRow(row));
  }

  /** The one record matching `where`, or undefined. */
  selectOne(where: string, params: Record<string, SqlValue>): R | undefined {
    return this.select(where, params, 'LIMIT 1')[0];
  }

  /** Applies `patch` (bumping updatedAt when the record has one) and returns the new record. */
  update(id: string, patch: Patch<R>): R {
    // A patch is a partial record minus its identity; `fields` below drops `id` again at run time.
    const changes = { ...patch } as Partial<R>;
    if ('updatedAt' in this.columns && !('updatedAt' in patch)) {
      (changes as Record<string, unknown>).updatedAt = now();
    }
    const fields = Object.keys(changes).filter((f): f is keyof R & string => f in this.columns && f !== 'id');
    if (fields.length > 0) {
      const sets = fields.map((field) => `${this.columns[field][0]} = @${this.columns[field][0]}`);
      const params = { ...this.toRow(changes, fields), id };
      const result = translateConstraint(() =>
        this.prepare(`UPDATE ${this.table} SET ${sets.join(', ')} WHERE id = @id`).run(params),
      );
      if (result.changes === 0) throw new DroverError(this.notFound, id);
    }
    const record = this.selectOne('id = @id', { id });
    if (!record) throw new DroverError(this.notFound, id);
    return record;
  }

  /** Deletes by id; false when there was no such row. */
  delete(id: string): boolean {
    return this.prepare(`DELETE FROM ${this.table} WHERE id = ?`).run(id).changes > 0;
  }

  private prepare(sql: string): ReturnType<SqliteDatabase['prepare']> {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private toRow(record: Partial<R>, fields = this.fields): Record<string, SqlValue> {
    const row: Record<string, SqlValue> = {};
    for (const field of fields) {
      const [column, kind] = this.columns[field];
      const value: unknown = record[field];
      row[column] = encode(value, kind, `${this.table}.${column}`);
    }
    return row;
  }

  private fromRow(row: Record<string, SqlValue>): R {
    const record: Record<string, unknown> = {};
    for (const field of this.fields) {
      const [column, kind] = this.columns[field];
      const value = row[column] ?? null;
      if (kind === 'json') record[field] = value === null ? null : JSON.parse(String(value));
      else if (kind === 'boolean') record[field] = value === 1;
      else record[field] = value;
    }
    // The column map names every field of R, so the object built above is a whole R.
    return record as R;
  }
}

function encode(value: unknown, kind: ColumnKind, where: string): SqlValue {
  if (value === undefined) throw new DroverError('INTERNAL', `${where} is missing`);
  if (kind === 'json') return JSON.stringify(value);
  if (kind === 'boolean') return value ? 1 : 0;
  if (value === null || typeof value === 'string' || typeof value === 'number') return value;
  throw new DroverError('INTERNAL', `${where} must be a ${kind}, got ${typeof value}`);
}

/** Runs a write, turning SQLite's unique-constraint error into the store's ALREADY_EXISTS. */
export function translateConstraint<T>(write: () => T): T {
  try {
    return write();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
      throw new DroverError('ALREADY_EXISTS', (err as Error).message, { cause: err });
    }
    throw err;
  }
}
