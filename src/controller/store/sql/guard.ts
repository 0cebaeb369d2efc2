import { AsyncLocalStorage } from 'node:async_hooks';
import { DroverError } from '../../../shared/errors.js';
import type {
  ControllerRepository,
  EventRepository,
  HostRepository,
  ImageRepository,
  JoinTokenRepository,
  LeaderLeaseRepository,
  NetworkRepository,
  OperationRepository,
  PlacementRepository,
  Repositories,
  SettingsRepository,
  TokenRepository,
  VmRepository,
} from '../store.js';

/** Wraps one repository call: the engine decides when and where it may run. */
export type Runner = <R>(call: () => Promise<R>) => Promise<R>;

/** The state of one open transaction, visible to code running inside its body. */
export interface OpenTransaction {
  open: boolean;
}

/**
 * The rules every engine's transactions keep, whatever holds the connection: no nesting, the
 * store itself is not used inside a body (its writes would escape the transaction, and on one
 * connection they would deadlock), a handle is dead once its transaction ends, and after-commit
 * callbacks run only after a commit.
 */
export class TransactionScope {
  private readonly current = new AsyncLocalStorage<OpenTransaction>();

  /** Rejects a transaction begun inside another one's body. */
  assertNotNested(): void {
    if (this.current.getStore()?.open) {
      throw new DroverError('INTERNAL', 'nested store transaction: pass the outer transaction handle down instead');
    }
  }

  /** True inside an open transaction's body, where the store must not be used directly. */
  get inside(): boolean {
    return this.current.getStore()?.open ?? false;
  }

  /** The error for a direct store call from inside a transaction body. */
  static bypassed(): DroverError {
    return new DroverError('INTERNAL', 'the store was used directly inside a transaction body; use the `tx` handle');
  }

  /** Runs a transaction body with `state` visible to the calls it makes. */
  run<T>(state: OpenTransaction, body: () => Promise<T>): Promise<T> {
    return this.current.run(state, body);
  }

  /** A runner for a transaction's handle: refuses calls once the transaction has ended. */
  static handleRunner(state: OpenTransaction): Runner {
    return (call) => {
      if (!state.open) return Promise.reject(new DroverError('INTERNAL', 'transaction handle used after its transaction ended'));
      return call();
    };
  }
}

/** Every repository of `repos`, each call going through `run`. */
export function guardedRepositories(repos: Repositories, run: Runner): Repositories {
  return {
    hosts: guarded(repos.hosts, run),
    images: guarded(repos.images, run),
    vms: guarded(repos.vms, run),
    operations: guarded(repos.operations, run),
    events: guarded(repos.events, run),
    tokens: guarded(repos.tokens, run),
    joinTokens: guarded(repos.joinTokens, run),
    placements: guarded(repos.placements, run),
    settings: guarded(repos.settings, run),
    networks: guarded(repos.networks, run),
    controllers: guarded(repos.controllers, run),
    leaderLease: guarded(repos.leaderLease, run),
  };
}

/** The same repository with every method call passed through `run`. */
function guarded<T extends object>(impl: T, run: Runner): T {
  const facade: Record<string, unknown> = {};
  let proto: object | null = Object.getPrototypeOf(impl) as object | null;
  while (proto && proto !== Object.prototype) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const member: unknown = (impl as Record<string, unknown>)[name];
      if (name === 'constructor' || typeof member !== 'function' || name in facade) continue;
      facade[name] = (...args: unknown[]) => run(() => (member as (...a: unknown[]) => Promise<unknown>).apply(impl, args));
    }
    proto = Object.getPrototypeOf(proto) as object | null;
  }
  // `facade` has one forwarding method per method of T's implementation, so it is a T.
  return facade as T;
}

/** Runs after-commit callbacks; a failing one is reported, since the data is already committed. */
export function runCommitted(callbacks: readonly (() => void)[]): void {
  for (const callback of callbacks) {
    try {
      callback();
    } catch (err) {
      // The data is committed; a failing listener must not make the caller think it was not.
      process.emitWarning(`after-commit callback failed: ${(err as Error).message}`);
    }
  }
}

/**
 * What both engines' stores share: every repository, each call made outside a transaction going
 * through the engine's `runOutside` (which decides when and on what connection it runs).
 */
export abstract class GuardedRepositories implements Repositories {
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
  readonly controllers: ControllerRepository;
  readonly leaderLease: LeaderLeaseRepository;

  /** `build` makes the engine's repositories; it may use the store (as `self`) for what it binds later. */
  /** The engine's repositories as built, unguarded: for an engine whose transactions run on the same connection. */
  protected readonly unguarded: Repositories;

  protected constructor(build: (self: GuardedRepositories) => Repositories) {
    this.unguarded = build(this);
    const outside = guardedRepositories(this.unguarded, (call) => this.runOutside(call));
    this.hosts = outside.hosts;
    this.images = outside.images;
    this.vms = outside.vms;
    this.operations = outside.operations;
    this.events = outside.events;
    this.tokens = outside.tokens;
    this.joinTokens = outside.joinTokens;
    this.placements = outside.placements;
    this.settings = outside.settings;
    this.networks = outside.networks;
    this.controllers = outside.controllers;
    this.leaderLease = outside.leaderLease;
  }

  /** Runs one repository call made outside any transaction. */
  protected abstract runOutside<R>(call: () => Promise<R>): Promise<R>;
}
