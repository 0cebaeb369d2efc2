/**
 * Copying a whole store to another engine (`drover store copy`): every table's rows, read from
 * one consistent snapshot of the source and written in one transaction of the destination, with
 * the ids the engines generate (events.id) kept, so event streams' `afterId` still means the same.
 * One code path serves both directions: the rows go through SqlExecutor, and the two things the
 * engines spell differently (explicit identity values, moving the identity on) are in SqlDialect.
 */
import path from 'node:path';
import { DroverError, isDroverError } from '../../shared/errors.js';
import { parseStoreUrl } from './postgres/connection.js';
import { openStore } from './open.js';
import type { SqlEngine, SqlExecutor, SqlValue } from './sql/executor.js';
import { STORE_TABLES, type StoreTable } from './sql/repositories.js';
import type { Store } from './store.js';

/** Rows are read and inserted this many at a time (a batch's parameters stay far below both engines' limits). */
const BATCH_ROWS = 100;

/** A row as the engines exchange it: column name to value, booleans as real booleans. */
export type TransferRow = Record<string, SqlValue>;

/** How many rows each table had, by table name, in STORE_TABLES order. */
export type TableCounts = Record<string, number>;

/** Counts every table's rows. */
export async function countRows(sql: SqlExecutor, tables: readonly StoreTable[] = STORE_TABLES): Promise<TableCounts> {
  const counts: TableCounts = {};
  for (const table of tables) {
    const [row] = await sql.all(`SELECT COUNT(*) AS n FROM ${table.name}`);
    counts[table.name] = Number(row?.n ?? 0);
  }
  return counts;
}

/** Reads `table`'s rows in insertion order (or by its key), a batch at a time, as engine-neutral rows. */
export async function* dumpTable(sql: SqlExecutor, table: StoreTable, batchRows = BATCH_ROWS): AsyncGenerator<TransferRow[]> {
  const key = table.key ?? sql.dialect.insertionOrder;
  const columns = table.columns.map(([column]) => column).join(', ');
  const select = `SELECT ${key} AS transfer_key, ${columns} FROM ${table.name}`;
  let after: SqlValue | undefined;
  for (;;) {
    const page = after === undefined
      ? await sql.all(`${select} ORDER BY ${key} LIMIT @limit`, { limit: batchRows })
      : await sql.all(`${select} WHERE ${key} > @after ORDER BY ${key} LIMIT @limit`, { after, limit: batchRows });
    if (page.length === 0) return;
    after = page[page.length - 1]?.transfer_key as SqlValue;
    yield page.map((row) => neutralRow(table, row));
    if (page.length < batchRows) return;
  }
}

/** Inserts rows read by `dumpTable` (from any engine) into `table`, identity values included. */
export async function loadRows(sql: SqlExecutor, table: StoreTable, rows: readonly TransferRow[]): Promise<void> {
  if (rows.length === 0) return;
  const columns = table.columns.map(([column]) => column);
  const params: Record<string, SqlValue> = {};
  const tuples = rows.map((row, r) => {
    const names = table.columns.map(([column, kind], c) => {
      const value = row[column] ?? null;
      params[`r${r}c${c}`] = kind === 'boolean' && value !== null ? sql.dialect.boolean(value === true) : value;
      return `@r${r}c${c}`;
    });
    return `(${names.join(', ')})`;
  });
  const overriding = table.identity ? sql.dialect.explicitIdentity : '';
  await sql.run(`INSERT INTO ${table.name} (${columns.join(', ')}) ${overriding} VALUES ${tuples.join(', ')}`, params);
}

/** After explicit identity values were loaded, makes the engine generate values past the largest. */
export async function continueIdentities(sql: SqlExecutor, tables: readonly StoreTable[] = STORE_TABLES): Promise<void> {
  for (const table of tables) {
    if (!table.identity) continue;
    const [row] = await sql.all(`SELECT MAX(${table.identity}) AS last FROM ${table.name}`);
    const last = row?.last;
    if (last === null || last === undefined) continue;
    const statement = sql.dialect.continueIdentity(table.name, table.identity, Number(last));
    if (statement) await sql.run(statement);
  }
}

export interface CopyOptions {
  /** Called inside the destination's transaction after each table is loaded; throwing aborts the copy. */
  onTable?: (table: string, rows: number) => void;
}

/**
 * Copies every table of `from` into `to`, which must be empty (STORE_NOT_EMPTY otherwise), in one
 * destination transaction: a failure (STORE_COPY_FAILED, naming the table) leaves it empty.
 * Returns the rows copied per table.
 */
export async function copyTables(from: SqlEngine, to: SqlEngine, options: CopyOptions = {}): Promise<TableCounts> {
  return from.sqlTransaction('snapshot', (source) =>
    to.sqlTransaction('write', async (destination) => {
      const present = Object.entries(await countRows(destination)).filter(([, rows]) => rows > 0);
      if (present.length > 0) {
        throw new DroverError('STORE_NOT_EMPTY', `${to.display} has ${present.map(([table, rows]) => `${rows} ${table}`).join(', ')}`);
      }
      const copied: TableCounts = {};
      for (const table of STORE_TABLES) {
        let rows = 0;
        try {
          for await (const batch of dumpTable(source, table)) {
            await loadRows(destination, table, batch);
            rows += batch.length;
          }
        } catch (err) {
          // A lost connection or race keeps its own code (retry); anything else is a row the destination refused.
          if (isDroverError(err, 'STORE_UNAVAILABLE') || isDroverError(err, 'STORE_CONFLICT')) throw err;
          throw new DroverError('STORE_COPY_FAILED', `table ${table.name}: ${(err as Error).message}`, { cause: err });
        }
        copied[table.name] = rows;
        options.onTable?.(table.name, rows);
      }
      await continueIdentities(destination);
      return copied;
    }),
  );
}

export interface CopySummary {
  from: string;
  to: string;
  tables: TableCounts;
}

/**
 * `drover store copy`: opens both stores by URL, copies every table and closes them. The source
 * must exist at this Drover's schema version (it may be in use by a running controller: it is
 * read through one snapshot and never written, not even migrated); the destination is created
 * and migrated if new.
 */
export async function copyStore(fromUrl: string, toUrl: string, options: CopyOptions = {}): Promise<CopySummary> {
  const destination = parseStoreUrl(toUrl);
  if (sameStore(fromUrl, toUrl)) throw new DroverError('INVALID_ARGUMENT', '--from and --to name the same store');
  if (destination.engine === 'sqlite' && destination.path === ':memory:') throw new DroverError('INVALID_ARGUMENT', 'the destination must be a file or a database, not :memory:');
  // Read only: a controller (perhaps of another version) may be running on it.
  const from = await openStore(fromUrl, { migrate: false });
  let to: (Store & SqlEngine) | undefined;
  try {
    to = await openStore(toUrl);
    const tables = await copyTables(from, to, options);
    return { from: from.display, to: to.display, tables };
  } finally {
    await to?.close();
    await from.close();
  }
}

function sameStore(a: string, b: string): boolean {
  const [x, y] = [parseStoreUrl(a), parseStoreUrl(b)];
  if (x.engine === 'sqlite' && y.engine === 'sqlite') return path.resolve(x.path) === path.resolve(y.path);
  if (x.engine === 'postgresql' && y.engine === 'postgresql') {
    const hosts = (l: typeof x) => l.hosts.map((h) => `${h.host}:${h.port}`).join(',');
    return x.database === y.database && hosts(x) === hosts(y);
  }
  return false;
}

/** A row read from either engine with its booleans as booleans (SQLite stores 0 and 1). */
function neutralRow(table: StoreTable, row: Record<string, unknown>): TransferRow {
  const neutral: TransferRow = {};
  for (const [column, kind] of table.columns) {
    const value = row[column] ?? null;
    if (kind === 'boolean' && value !== null) neutral[column] = value === true || value === 1;
    else neutral[column] = value as SqlValue;
  }
  return neutral;
}
