import { DroverError } from '../../shared/errors.js';
import { openDatabase, type OpenDatabaseOptions, type SqliteDatabase } from './db.js';
import { applyMigrations, assertSchemaCurrent, latestVersion, recordedVersion } from './migrations.js';
import type { SqlEngine, SqlExecutor, SqlTransactionMode } from './sql/executor.js';
import { GuardedRepositories, guardedRepositories, runCommitted, TransactionScope, type OpenTransaction, type Runner } from './sql/guard.js';
import { sqlRepositories } from './sql/repositories.js';
import { SqliteExecutor } from './sqlite/executor.js';
import type { Store, Transaction } from './store.js';

/**
 * The SQLite implementation of Store, the embedded default. better-sqlite3 is synchronous and has
 * one connection, so a transaction whose body awaits must own that connection until it ends: a
 * FIFO lock makes every other caller wait meanwhile (BEGIN IMMEDIATE: one writer at a time, so
 * every transaction is serializable), and code inside a body that bypasses `tx` fails loudly
 * instead of deadlocking.
 */
export class SqliteStore extends GuardedRepositories implements Store, SqlEngine {
  readonly engine = 'sqlite';

  private readonly lock = new FifoLock();
  private readonly scope = new TransactionScope();
  private closed = false;

  /** Wraps an open, migrated database; prefer `SqliteStore.open`. */
  constructor(readonly database: SqliteDatabase) {
    super(() => sqlRepositories(new SqliteExecutor(database)));
  }

  /**
   * Opens `file` (':memory:' for tests), applies pending migrations and returns the store. With
   * `migrate: false` the schema is left alone and must already be this Drover's (see assertSchemaCurrent).
   */
  static open(file: string, options: OpenDatabaseOptions & { migrate?: boolean } = {}): SqliteStore {
    const db = openDatabase(file, options);
    try {
      if (options.migrate === false) assertSchemaCurrent(recordedVersion(db), latestVersion(), `sqlite:${file}`);
      else applyMigrations(db);
      return new SqliteStore(db);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  async transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    this.scope.assertNotNested();
    const release = await this.lock.acquire();
    const state: OpenTransaction = { open: true };
    const committed: (() => void)[] = [];
    try {
      this.assertOpen();
      const inside: Runner = TransactionScope.handleRunner(state);
      const tx: Transaction = {
        ...guardedRepositories(this.unguarded, inside),
        afterCommit: (callback) => void committed.push(callback),
      };
      this.database.exec('BEGIN IMMEDIATE');
      let result: T;
      try {
        result = await this.scope.run(state, () => fn(tx));
        this.database.exec('COMMIT');
      } catch (err) {
        if (this.database.inTransaction) this.database.exec('ROLLBACK');
        throw err;
      } finally {
        state.open = false;
      }
      runCommitted(committed);
      return result;
    } finally {
      release();
    }
  }

  /** The store's file as a store URL. */
  get display(): string {
    return `sqlite:${this.database.name}`;
  }

  /**
   * Whole-store access (see SqlEngine). A snapshot is a deferred read transaction: in WAL mode it
   * sees the database as of its first read while a controller in another process goes on writing.
   */
  async sqlTransaction<T>(mode: SqlTransactionMode, fn: (sql: SqlExecutor) => Promise<T>): Promise<T> {
    this.scope.assertNotNested();
    const release = await this.lock.acquire();
    const state: OpenTransaction = { open: true };
    try {
      this.assertOpen();
      this.database.exec(mode === 'snapshot' ? 'BEGIN DEFERRED' : 'BEGIN IMMEDIATE');
      try {
        const result = await this.scope.run(state, () => fn(new SqliteExecutor(this.database)));
        this.database.exec('COMMIT');
        return result;
      } catch (err) {
        if (this.database.inTransaction) this.database.exec('ROLLBACK');
        throw err;
      } finally {
        state.open = false;
      }
    } finally {
      release();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const release = await this.lock.acquire();
    try {
      this.closed = true;
      this.database.close();
    } finally {
      release();
    }
  }

  /** A call outside any transaction: it waits for a running one, and holds the connection while it runs. */
  protected async runOutside<R>(call: () => Promise<R>): Promise<R> {
    if (this.scope.inside) throw TransactionScope.bypassed();
    const release = await this.lock.acquire();
    try {
      this.assertOpen();
      return await call();
    } finally {
      release();
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new DroverError('INTERNAL', 'the store is closed');
  }
}

/** A first-come first-served async lock. */
class FifoLock {
  private waiters: (() => void)[] = [];
  private held = false;

  acquire(): Promise<() => void> {
    return new Promise((resolve) => {
      const grant = () => {
        this.held = true;
        resolve(() => this.release());
      };
      if (!this.held) grant();
      else this.waiters.push(grant);
    });
  }

  private release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.held = false;
  }
}
