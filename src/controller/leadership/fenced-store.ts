import { DroverError } from '../../shared/errors.js';
import type { LeaderLeaseRecord } from '../store/records.js';
import type { Repositories, Store, Transaction } from '../store/store.js';
import { currentTerm, type Term } from './term.js';

/** Repository methods that only read: a deposed leader reading does no harm, so they are not fenced. */
const READS = new Set(['get', 'getByName', 'list', 'listByHost', 'query', 'getByHash', 'getActiveByName', 'listByVm', 'current', 'at']);

/** Throws CONTROLLER_NOT_LEADER unless the lease is still the term's: same holder, same token, not expired. */
export function checkTerm(lease: LeaderLeaseRecord | undefined, term: Term, at = Date.now()): void {
  if (!lease || lease.holder !== term.controllerId || lease.token !== term.token) {
    throw new DroverError('CONTROLLER_NOT_LEADER', `fencing token ${term.token} is stale: the lease is ${lease ? `held by ${lease.holder} with token ${lease.token}` : 'gone'}`);
  }
  if (Date.parse(lease.expiresAt) <= at) {
    throw new DroverError('CONTROLLER_NOT_LEADER', `the lease with token ${term.token} expired at ${lease.expiresAt}`);
  }
}

/**
 * The store as the controller's services see it. Work of a leader's term (see runInTerm) has every
 * write checked against the lease inside the write's own transaction: a leader that was paused past
 * its lease, and resumes in the middle of a decision, cannot write it once another controller has
 * taken the lease (the fencing token has moved on). Everything else (API requests) passes straight
 * through. Both engines run transactions serializably, so the check and the writes are one step.
 */
export function fencedStore(inner: Store): Store {
  const transaction = <T>(fn: (tx: Transaction) => Promise<T>): Promise<T> => {
    const term = currentTerm();
    if (!term) return inner.transaction(fn);
    return inner.transaction(async (tx) => {
      checkTerm(await tx.leaderLease.get(), term);
      return fn(tx);
    });
  };
  const repositories = {} as Record<keyof Repositories, unknown>;
  for (const name of REPOSITORY_NAMES) repositories[name] = fencedRepository(inner, name, transaction);
  return {
    ...(repositories as unknown as Repositories),
    engine: inner.engine,
    transaction,
    close: () => inner.close(),
  };
}

const REPOSITORY_NAMES: readonly (keyof Repositories)[] = [
  'hosts',
  'images',
  'vms',
  'operations',
  'events',
  'tokens',
  'joinTokens',
  'placements',
  'settings',
  'networks',
  'controllers',
  'leaderLease',
];

/** The repository with its writes, when made for a term, moved into a fenced transaction of their own. */
function fencedRepository(inner: Store, name: keyof Repositories, transaction: Store['transaction']): unknown {
  const target = inner[name] as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  return new Proxy(target, {
    get(object, method: string) {
      const member = object[method];
      if (typeof member !== 'function') return member;
      if (READS.has(method)) return member.bind(object);
      return (...args: unknown[]) => {
        if (!currentTerm()) return member.apply(object, args);
        return transaction((tx) => (tx[name] as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[method]!(...args));
      };
    },
  });
}
