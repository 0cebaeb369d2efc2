import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { DroverError, isDroverError } from '../../shared/errors.js';
import { clientConfig, findServer, isRetryableConflict, type StoreLocation } from './postgres/connection.js';
import { PgExecutor, translatePgError, type StatementFailures } from './postgres/executor.js';
import { applyPgMigrations, PG_MIGRATIONS, pgSchemaVersion } from './postgres/migrations.js';
import { assertSchemaCurrent } from './migrations.js';
import type { SqlEngine, SqlExecutor, SqlTransactionMode } from './sql/executor.js';
import { GuardedRepositories, guardedRepositories, runCommitted, TransactionScope, type OpenTransaction } from './sql/guard.js';
import { sqlRepositories } from './sql/repositories.js';
import type { Store, Transaction } from './store.js';

type PgLocation = Extract<StoreLocation, { engine: 'postgresql' }>;

export interface PgStoreOptions {
  /** Connections in the pool; default 10. */
  poolSize?: number;
  /** How long one connection attempt may take; default 3 s. */
  connectTimeoutMs?: number;
  /** How many times a transaction that lost a serialization race runs again; default 20. */
  maxAttempts?: number;
  /** false: leave the schema alone; it must already be this Drover's (see assertSchemaCurrent). Default true. */
  migrate?: boolean;
}

/**
 * The PostgreSQL implementation of Store, for fleets and for several controllers sharing one
 * database.
 *
 * - Every transaction runs at SERIALIZABLE: PostgreSQL then guarantees the outcome of concurrent
 *   transactions (from this controller or another) is that of some serial order, as SQLite's
 *   single writer does. The one that loses a race is rolled back and its body runs again, which
 *   is safe because a body awaits nothing but the store (see Store.transaction), and its
 *   after-commit callbacks run only for the attempt that committed.
 * - node-postgres takes one host, so the store walks the URL's hosts itself: it uses the first
 *   that accepts (and, with target_session_attrs=read-write, is not a standby), and looks again
 *   after a connection error, so a promoted standby is found. Meanwhile calls fail with
 *   STORE_UNAVAILABLE (503), never a 500.
 */
export class PgStore extends GuardedRepositories implements Store, SqlEngine {
  readonly engine = 'postgresql';

  private readonly scope = new TransactionScope();
  private readonly failures: StatementFailures = { connectionLost: () => this.lost() };
  private pool: pg.Pool | undefined;
  /** The one search for a server in flight, shared by every caller that needs a connection. */
  private finding: Promise<pg.Pool> | undefined;
  private closed = false;
  private readonly maxAttempts: number;
  /** Which of the location's hosts the pool talks to. */
  serverIndex = -1;

  private constructor(
    readonly location: PgLocation,
    private readonly options: PgStoreOptions,
  ) {
    super((self) => sqlRepositories(new PgExecutor(() => (self as PgStore).currentPool(), { connectionLost: () => (self as PgStore).lost() })));
    this.maxAttempts = options.maxAttempts ?? 20;
  }

  /** Connects to the location's server, applies pending migrations and returns the store. */
  static async open(location: PgLocation, options: PgStoreOptions = {}): Promise<PgStore> {
    const store = new PgStore(location, options);
    try {
      const pool = await store.connected();
      const client = await pool.connect();
      try {
        if (options.migrate === false) {
          const table = await client.query<{ found: string | null }>("SELECT to_regclass('schema_migrations')::text AS found");
          const version = table.rows[0]?.found ? await pgSchemaVersion(client) : 0;
          assertSchemaCurrent(version, PG_MIGRATIONS.at(-1)?.version ?? 0, location.display);
        } else {
          await applyPgMigrations(client);
        }
      } finally {
        client.release();
      }
      return store;
    } catch (err) {
      await store.close();
      throw translatePgError(err);
    }
  }

  /** Where the store is, without its password. */
  get display(): string {
    return this.location.display;
  }

  async transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    this.scope.assertNotNested();
    for (let attempt = 1; ; attempt++) {
      const { pool, client } = await this.checkout();
      const state: OpenTransaction = { open: true };
      const committed: (() => void)[] = [];
      let conflicted = false;
      let broken = false;
      // A checked-out client has no pool listener: the server dropping it (a restart) must not end the process.
      const dropped = (): void => {
        broken = true;
        this.lost(pool);
      };
      client.on('error', dropped);
      const executor = new PgExecutor(() => client, { connectionLost: () => ((broken = true), this.lost()), conflict: () => (conflicted = true) });
      const tx: Transaction = {
        ...guardedRepositories(sqlRepositories(executor), TransactionScope.handleRunner(state)),
        afterCommit: (callback) => void committed.push(callback),
      };
      try {
        await client.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
        const result = await this.scope.run(state, () => fn(tx));
        state.open = false;
        // COMMIT of a transaction that had a failed statement (one the body caught) rolls back instead.
        const commit = await client.query('COMMIT');
        if (commit.command === 'ROLLBACK') {
          if (conflicted) throw Object.assign(new Error('serialization failure caught inside the transaction body'), { code: '40001' });
          throw new DroverError('INTERNAL', 'a statement of the transaction failed and its body went on; nothing was committed');
        }
        runCommitted(committed);
        return result;
      } catch (err) {
        state.open = false;
        if (!broken) await client.query('ROLLBACK').catch(() => (broken = true));
        const retry = (conflicted || isRetryableConflict(err)) && !isDroverError(err, 'STORE_UNAVAILABLE');
        if (!retry) throw translatePgError(err, this.failures);
        if (attempt >= this.maxAttempts) {
          throw new DroverError('STORE_CONFLICT', `the transaction lost a serialization race ${attempt} times in a row`, { cause: err });
        }
        // Back off a little, more each time, so racing controllers spread out.
        await sleep(Math.random() * 10 * attempt);
      } finally {
        client.off('error', dropped);
        client.release(broken);
      }
    }
  }

  /**
   * Whole-store access (see SqlEngine), run once: a snapshot is REPEATABLE READ READ ONLY, a write
   * SERIALIZABLE, and a write that loses a race with another controller is STORE_CONFLICT.
   */
  async sqlTransaction<T>(mode: SqlTransactionMode, fn: (sql: SqlExecutor) => Promise<T>): Promise<T> {
    this.scope.assertNotNested();
    const { client } = await this.checkout();
    const state: OpenTransaction = { open: true };
    let broken = false;
    const executor = new PgExecutor(() => client, { connectionLost: () => ((broken = true), this.lost()) });
    try {
      await client.query(mode === 'snapshot' ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' : 'BEGIN ISOLATION LEVEL SERIALIZABLE');
      const result = await this.scope.run(state, () => fn(executor));
      state.open = false;
      const commit = await client.query('COMMIT');
      if (commit.command === 'ROLLBACK') throw new DroverError('INTERNAL', 'a statement of the transaction failed and its body went on; nothing was committed');
      return result;
    } catch (err) {
      state.open = false;
      if (!broken) await client.query('ROLLBACK').catch(() => (broken = true));
      if (isRetryableConflict(err)) throw new DroverError('STORE_CONFLICT', (err as Error).message, { cause: err });
      throw translatePgError(err, this.failures);
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const pool = this.pool;
    this.pool = undefined;
    await pool?.end();
  }

  protected async runOutside<R>(call: () => Promise<R>): Promise<R> {
    if (this.scope.inside) throw TransactionScope.bypassed();
    this.assertOpen();
    await this.connected();
    try {
      return await call();
    } catch (err) {
      if (isRetryableConflict(err)) throw new DroverError('STORE_CONFLICT', (err as Error).message, { cause: err });
      throw err;
    }
  }

  /** A connection of its own for one transaction, from the pool of the server in use (found first if need be). */
  private async checkout(): Promise<{ pool: pg.Pool; client: pg.PoolClient }> {
    this.assertOpen();
    const pool = await this.connected();
    try {
      return { pool, client: await pool.connect() };
    } catch (err) {
      throw translatePgError(err, this.failures);
    }
  }

  private currentPool(): pg.Pool {
    if (!this.pool) throw new DroverError('STORE_UNAVAILABLE', `${this.location.display}: not connected`);
    return this.pool;
  }

  /** The pool, once a server has been found; one search at a time however many callers wait. */
  private connected(): Promise<pg.Pool> {
    if (this.pool) return Promise.resolve(this.pool);
    this.finding ??= this.findPool().finally(() => (this.finding = undefined));
    return this.finding;
  }

  private async findPool(): Promise<pg.Pool> {
    const timeout = this.options.connectTimeoutMs ?? 3000;
    const index = await findServer(this.location, timeout);
    if (this.closed) throw new DroverError('INTERNAL', 'the store is closed');
    const pool = new pg.Pool({ ...clientConfig(this.location, index, timeout), max: this.options.poolSize ?? 10, idleTimeoutMillis: 30_000 });
    // An idle connection dropped by the server (a restart, a failover) is reported here; without a
    // listener node would end the process. The next call finds a server again.
    pool.on('error', () => this.lost(pool));
    this.pool = pool;
    this.serverIndex = index;
    return pool;
  }

  /** A connection failed: drop the pool so that the next call looks for a server again. */
  private lost(pool = this.pool): void {
    if (!pool || pool !== this.pool) return;
    this.pool = undefined;
    void pool.end().catch(() => undefined);
  }

  private assertOpen(): void {
    if (this.closed) throw new DroverError('INTERNAL', 'the store is closed');
  }
}
