import { AsyncLocalStorage } from 'node:async_hooks';

/** One stretch of leadership: the fencing token the lease had when this controller took it. */
export interface Term {
  readonly controllerId: string;
  readonly token: number;
}

const current = new AsyncLocalStorage<Term>();

/**
 * Runs `fn` as work of the leader's term: every write it makes (and every timer or operation it
 * starts, since they inherit the context) is checked against the lease's fencing token first.
 */
export function runInTerm<T>(term: Term, fn: () => T): T {
  return current.run(term, fn);
}

/** The term the running code acts for, or undefined for work that is not the leader's (API requests). */
export function currentTerm(): Term | undefined {
  return current.getStore();
}

export interface LeadershipTimings {
  /** How long a lease lasts unless renewed; another controller takes over once it lapses. Default 8 s. */
  leaseMs: number;
  /** How often the lease is renewed (and the controller's row refreshed). Default 2 s. */
  renewMs: number;
}

export const DEFAULT_LEADERSHIP_TIMINGS: LeadershipTimings = { leaseMs: 8_000, renewMs: 2_000 };

/** Who may run the background work, as services see it. */
export interface LeadershipView {
  /** The lease's timings: a controller whose row has not been refreshed for a lease and a renewal is dead. */
  readonly timings: LeadershipTimings;
  /** True while this controller holds an unexpired lease. */
  isLeader(): boolean;
  /**
   * True while this controller holds a term, even one whose lease has lapsed by its own clock in a slow round:
   * until a round finds another controller took the lease, this one is still where hosts' leases belong. Its
   * decisions stay fenced all the same (asLeader).
   */
  holdsTerm(): boolean;
  /** Runs `fn` as the current term's work (its writes fenced), or returns undefined at once when not the leader. */
  asLeader<T>(fn: () => Promise<T>): Promise<T | undefined>;
}

/** For a controller alone on its store with nothing to elect (in-process tests): always the leader, nothing fenced. */
export const SOLE_LEADER: LeadershipView = {
  timings: DEFAULT_LEADERSHIP_TIMINGS,
  isLeader: () => true,
  holdsTerm: () => true,
  asLeader: (fn) => fn(),
};
