import { AsyncLocalStorage } from 'node:async_hooks';
import { DroverError } from '../../shared/errors.js';
import { openDatabase, type OpenDatabaseOptions, type SqliteDatabase } from './db.js';
import { applyMigrations } from './migrations.js';
import { sqliteRepositories, type Synchronous } from './sqlite/repositories.js';
import type {
  EventRepository,
  HostRepository,
  ImageRepository,
  JoinTokenRepository,
  OperationRepository,
  PlacementRepository,
  SettingsRepository,
  NetworkRepository,
  Repositories,
  Store,
  TokenRepository,
  Transaction,
  VmRepository,
} from './store.js';

type Runner = <R>(fn: () => R) => Promise<R>;

/** The state of one open transaction, visible to code running inside its body. */
interface OpenTransaction {
  open: boolean;
}

/**
 * The SQLite implementation of Store. better-sqlite3 is synchronous and has one connection, so a
 * transaction whose body awaits must own that connection until it ends: a FIFO lock makes any
 * other caller wait meanwhile, and code inside a body that bypasses `tx` fails loudly instead of
 * deadlocking.
 */
export class SqliteStore implements Store {
  readonly engine = 'sqlite';
  readonly hosts: HostRepository;
  readonly images: ImageRepository;
  readonly vms: VmRepository;
  readonly operations: OperationRepository;
  readonly events: EventRepository;
  readonly tokens: TokenRepository;
  readonly joinTokens: JoinTokenRepository;
  readonly placements: PlacementRepository;
  readonly settings: SettingsRepository;
  readonly networks: NetworkRepository;

  private readonly sync: ReturnType<typeof sqliteRepositories>;
  private readonly lock = new FifoLock();
  private readonly current = new AsyncLocalStorage<OpenTransaction>();
  private closed = false;

  /** Wraps an open, migrated database; prefer `SqliteStore.open`. */
  constructor(readonly database: SqliteDatabase) {
    this.sync = sqliteRepositories(database);
    const outside: Runner = (fn) => this.runOutside(fn);
    this.hosts = asyncFacade<HostRepository>(this.sync.hosts, outside);
    this.images = asyncFacade<ImageRepository>(this.sync.images, outside);
    this.vms = asyncFacade<VmRepository>(this.sync.vms, outside);
    this.operations = asyncFacade<OperationRepository>(this.sync.operations, outside);
    this.events = asyncFacade<EventRepository>(this.sync.events, outside);
    this.tokens = asyncFacade<TokenRepository>(this.sync.tokens, outside);
    this.joinTokens = asyncFacade<JoinTokenRepository>(this.sync.joinTokens, outside);
    this.placements = asyncFacade<PlacementRepository>(this.sync.placements, outside);
    this.settings = asyncFacade<SettingsRepository>(this.sync.settings, outside);
    this.networks = asyncFacade<NetworkRepository>(this.sync.networks, outside);
  }

  /** Opens `file` (':memory:' for tests), applies pending migrations and returns the store. */
  static open(file: string, options: OpenDatabaseOptions = {}): SqliteStore {
    const db = openDatabase(file, options);
    try {
      applyMigrations(db);
      return new SqliteStore(db);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  async transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    if (this.current.getStore()?.open) {
      throw new DroverError('INTERNAL', 'nested store transaction: pass the outer transaction handle down instead');
    }
    const release = await this.lock.acquire();
    const state: OpenTransaction = { open: true };
    const committed: (() => void)[] = [];
    try {
      this.assertOpen();
      const inside: Runner = (work) => {
        if (!state.open) return Promise.reject(new DroverError('INTERNAL', 'transaction handle used after its transaction ended'));
        return attempt(work);
      };
      const tx: Transaction = {
        ...this.facades(inside),
        afterCommit: (callback) => void committed.push(callback),
      };
      this.database.exec('BEGIN IMMEDIATE');
      let result: T;
      try {
        result = await this.current.run(state, () => fn(tx));
        this.database.exec('COMMIT');
      } catch (err) {
        if (this.database.inTransaction) this.database.exec('ROLLBACK');
        throw err;
      } finally {
        state.open = false;
      }
      for (const callback of committed) runCommitted(callback);
      return result;
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

  private facades(run: Runner): Repositories {
    return {
      hosts: asyncFacade<HostRepository>(this.sync.hosts, run),
      images: asyncFacade<ImageRepository>(this.sync.images, run),
      vms: asyncFacade<VmRepository>(this.sync.vms, run),
      operations: asyncFacade<OperationRepository>(this.sync.operations, run),
      events: asyncFacade<EventRepository>(this.sync.events, run),
      tokens: asyncFacade<TokenRepository>(this.sync.tokens, run),
      joinTokens: asyncFacade<JoinTokenRepository>(this.sync.joinTokens, run),
      placements: asyncFacade<PlacementRepository>(this.sync.placements, run),
      settings: asyncFacade<SettingsRepository>(this.sync.settings, run),
      networks: asyncFacade<NetworkRepository>(this.sync.networks, run),
    };
  }

  private runOutside<R>(fn: () => R): Promise<R> {
    if (this.current.getStore()?.open) {
      return Promise.reject(
        new DroverError('INTERNAL', 'the store was used directly inside a transaction body; use the `tx` handle'),
      );
    }
    if (!this.lock.held) return attempt(() => (this.assertOpen(), fn()));
    return this.lock.acquire().then((release) => {
      try {
        this.assertOpen();
        return fn();
      } finally {
        release();
      }
    });
  }

  private assertOpen(): void {
    if (this.closed) throw new DroverError('INTERNAL', 'the store is closed');
  }
}

/** Exposes a synchronous repository as its async interface; every call goes through `run`. */
function asyncFacade<T extends object>(impl: Synchronous<T>, run: Runner): T {
  const facade: Record<string, unknown> = {};
  let proto: object | null = Object.getPrototypeOf(impl) as object | null;
  while (proto && proto !== Object.prototype) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const member: unknown = (impl as Record<string, unknown>)[name];
      if (name === 'constructor' || typeof member !== 'function' || name in facade) continue;
      facade[name] = (...args: unknown[]) => run(() => (member as (...a: unknown[]) => unknown).apply(impl, args));
    }
    proto = Object.getPrototypeOf(proto) as object | null;
  }
  // `facade` has one forwarding method per method of the synchronous twin of T, which is T.
  return facade as T;
}

/** Runs `fn` now and returns its outcome as a promise, a throw becoming a rejection. */
function attempt<R>(fn: () => R): Promise<R> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err);
  }
}

function runCommitted(callback: () => void): void {
  try {
    callback();
  } catch (err) {
    // The data is committed; a failing listener must not make the caller think it was not.
    process.emitWarning(`after-commit callback failed: ${(err as Error).message}`);
  }
}

/** A first-come first-served async lock. */
class FifoLock {
  private waiters: (() => void)[] = [];
  held = false;

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
