import { DroverError, type ErrorCode } from '../../../shared/errors.js';
import { now } from '../records.js';
import type { Patch } from '../store.js';
import type { SqlDialect, SqlExecutor, SqlValue } from './executor.js';

/** How a record field is stored: JSON fields as text, booleans as the engine's own. */
export type ColumnKind = 'text' | 'number' | 'json' | 'boolean';

/** Every field of R mapped to its column, so a row converts to a whole record and back. */
export type ColumnMap<R> = { readonly [K in keyof R]-?: readonly [column: string, kind: ColumnKind] };

/**
 * Maps one table to records of type R and back, on any engine; the repositories build on it.
 * SQL here uses named parameters (`@name`), which each executor binds its own way. Only code
 * supplies field names, never a request, so building SQL from them is safe.
 */
export class SqlTable<R extends { id: string | number }> {
  private readonly fields: (keyof R & string)[];

  constructor(
    readonly sql: SqlExecutor,
    readonly table: string,
    private readonly columns: ColumnMap<R>,
    private readonly notFound: ErrorCode,
  ) {
    this.fields = Object.keys(columns) as (keyof R & string)[];
  }

  private get dialect(): SqlDialect {
    return this.sql.dialect;
  }

  /** Inserts a whole record; a unique-constraint violation becomes ALREADY_EXISTS. */
  async insert(record: R): Promise<void> {
    const cols = this.fields.map((field) => this.columns[field][0]);
    await this.sql.run(`INSERT INTO ${this.table} (${cols.join(', ')}) VALUES (${cols.map((c) => `@${c}`).join(', ')})`, this.toRow(record));
  }

  /** Records matching `where` (SQL with named parameters), oldest first unless `tail` orders them. */
  async select(where: string, params: Record<string, SqlValue>, tail = `ORDER BY ${this.dialect.insertionOrder}`): Promise<R[]> {
    const rows = await this.sql.all(`SELECT * FROM ${this.table}${where ? ` WHERE ${where}` : ''} ${tail}`, params);
    return rows.map((row) => this.fromRow(row));
  }

  /** The one record matching `where`, or undefined. */
  async selectOne(where: string, params: Record<string, SqlValue>): Promise<R | undefined> {
    return (await this.select(where, params, 'LIMIT 1'))[0];
  }

  /** Applies `patch` (bumping updatedAt when the record has one) and returns the new record. */
  async update(id: string, patch: Patch<R>): Promise<R> {
    // A patch is a partial record minus its identity; `fields` below drops `id` again at run time.
    const changes = { ...patch } as Partial<R>;
    if ('updatedAt' in this.columns && !('updatedAt' in patch)) {
      (changes as Record<string, unknown>).updatedAt = now();
    }
    const fields = Object.keys(changes).filter((f): f is keyof R & string => f in this.columns && f !== 'id');
    if (fields.length === 0) {
      const record = await this.selectOne('id = @id', { id });
      if (!record) throw new DroverError(this.notFound, id);
      return record;
    }
    const sets = fields.map((field) => `${this.columns[field][0]} = @${this.columns[field][0]}`);
    const rows = await this.sql.all(`UPDATE ${this.table} SET ${sets.join(', ')} WHERE id = @id RETURNING *`, { ...this.toRow(changes, fields), id });
    const row = rows[0];
    if (!row) throw new DroverError(this.notFound, id);
    return this.fromRow(row);
  }

  /** Deletes by id; false when there was no such row. */
  async delete(id: string): Promise<boolean> {
    return (await this.sql.run(`DELETE FROM ${this.table} WHERE id = @id`, { id })) > 0;
  }

  private toRow(record: Partial<R>, fields = this.fields): Record<string, SqlValue> {
    const row: Record<string, SqlValue> = {};
    for (const field of fields) {
      const [column, kind] = this.columns[field];
      row[column] = this.encode(record[field], kind, `${this.table}.${column}`);
    }
    return row;
  }

  private fromRow(row: Record<string, unknown>): R {
    const record: Record<string, unknown> = {};
    for (const field of this.fields) {
      const [column, kind] = this.columns[field];
      const value = row[column] ?? null;
      if (kind === 'json') record[field] = value === null ? null : JSON.parse(String(value));
      else if (kind === 'boolean') record[field] = value === 1 || value === true;
      else record[field] = value;
    }
    // The column map names every field of R, so the object built above is a whole R.
    return record as R;
  }

  private encode(value: unknown, kind: ColumnKind, where: string): SqlValue {
    if (value === undefined) throw new DroverError('INTERNAL', `${where} is missing`);
    if (kind === 'json') return JSON.stringify(value);
    if (kind === 'boolean') return this.dialect.boolean(Boolean(value));
    if (value === null || typeof value === 'string' || typeof value === 'number') return value;
    throw new DroverError('INTERNAL', `${where} must be a ${kind}, got ${typeof value}`);
  }
}
