import type { Logger } from 'pino';
import { DroverError } from '../../shared/errors.js';
import { SYSTEM_ACTOR } from '../actor.js';
import type { EventLog } from '../events/event-log.js';
import type { ControllerRecord, LeaderLeaseRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import { DEFAULT_LEADERSHIP_TIMINGS, runInTerm, type LeadershipTimings, type LeadershipView, type Term } from './term.js';

export { DEFAULT_LEADERSHIP_TIMINGS, type LeadershipTimings };

/** What the leader runs, started when it takes the lease and stopped when it loses it. */
export interface LeaderWork {
  start(term: Term): Promise<void> | void;
  stop(): Promise<void> | void;
}

export interface LeadershipOptions {
  store: Store;
  events: EventLog;
  self: Omit<ControllerRecord, 'startedAt' | 'lastSeenAt'>;
  work: LeaderWork;
  timings?: Partial<LeadershipTimings>;
  logger?: Logger;
}

/** What one renewal round found. */
type Round = { leading: true; token: number; took: LeaderLeaseRecord | null } | { leading: false; holder: string; expiresAt: string };

/**
 * Leader election over the store. Each controller, every `renewMs`, refreshes its row in the
 * controllers registry and, in the same transaction, renews the leader lease if it holds it, or
 * takes it if it has lapsed (the fencing token then grows by one, and a `controller.leader-elected`
 * event records the change). Only the leader runs the background work.
 *
 * A leader stops acting on its own as soon as its lease may have lapsed by its own clock (renewals
 * started more than a lease ago without success), before any other controller can take over; and
 * anything it still writes afterwards is refused by the fenced store (see fenced-store.ts).
 */
export class Leadership implements LeadershipView {
  readonly timings: LeadershipTimings;
  private term: Term | undefined;
  /** When the current term must be given up by this controller's own clock. */
  private validUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private wake: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private readonly startedAt = new Date().toISOString();
  private leaderSeen: { holder: string; expiresAt: string } | undefined;
  private stopped = false;

  constructor(private readonly options: LeadershipOptions) {
    this.timings = { ...DEFAULT_LEADERSHIP_TIMINGS, ...options.timings };
    if (this.timings.renewMs * 2 > this.timings.leaseMs) {
      throw new DroverError('INVALID_ARGUMENT', `the lease (${this.timings.leaseMs} ms) must last at least two renewals (${this.timings.renewMs} ms)`);
    }
  }

  get controllerId(): string {
    return this.options.self.id;
  }

  isLeader(): boolean {
    return this.term !== undefined && Date.now() < this.validUntil;
  }

  holdsTerm(): boolean {
    return this.term !== undefined;
  }

  /** The current term's fencing token, when leading. */
  get token(): number | undefined {
    return this.isLeader() ? this.term?.token : undefined;
  }

  /** The leader as last seen in the store (this controller or another), for `cluster controllers`. */
  get leader(): { holder: string; expiresAt: string } | undefined {
    return this.leaderSeen;
  }

  async asLeader<T>(fn: () => Promise<T>): Promise<T | undefined> {
    const term = this.term;
    if (!term || !this.isLeader()) return undefined;
    return runInTerm(term, fn);
  }

  /** Runs the first round now (so a lone controller leads before it serves), then one every renewMs. */
  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(() => void this.tick(), this.timings.renewMs);
    this.timer.unref();
  }

  /** Stops renewing and stops the leader's work; with `release`, gives the lease up so another controller takes over at once. */
  async stop(release = true): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.wake) clearTimeout(this.wake);
    await this.ticking;
    const term = this.term;
    await this.depose('the controller is stopping');
    if (release && term) {
      await this.options.store
        .transaction(async (tx) => {
          const lease = await tx.leaderLease.get();
          if (lease?.holder === term.controllerId && lease.token === term.token) await tx.leaderLease.put({ ...lease, expiresAt: new Date().toISOString() });
        })
        .catch((err: unknown) => this.options.logger?.warn({ err }, 'could not release the leader lease; it lapses by itself'));
    }
  }

  /** One round: refresh, renew or take, then start or stop the work to match. Overlapping calls share one round. */
  tick(): Promise<void> {
    this.ticking ??= this.round().finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  private async round(): Promise<void> {
    if (this.stopped) return;
    const began = Date.now();
    let round: Round;
    try {
      round = await this.options.store.transaction((tx) => this.renewOrTake(tx, began));
    } catch (err) {
      this.options.logger?.warn({ err }, 'leader lease round failed');
      // Without a renewal the term ends by the clock (isLeader turns false at validUntil); stop its work then.
      if (this.term && Date.now() >= this.validUntil) await this.depose('the lease could not be renewed in time');
      return;
    }
    if (!round.leading) {
      this.leaderSeen = { holder: round.holder, expiresAt: round.expiresAt };
      if (this.term) await this.depose(`controller ${round.holder} holds the lease`);
      this.wakeAtExpiry(round.expiresAt);
      return;
    }
    // Valid until a lease from the start of this round would end, less one renewal for safety.
    this.validUntil = began + this.timings.leaseMs - this.timings.renewMs;
    this.leaderSeen = { holder: this.controllerId, expiresAt: new Date(began + this.timings.leaseMs).toISOString() };
    if (this.term?.token === round.token) return;
    if (this.term) await this.depose('the lease was taken again with a new token');
    const term: Term = { controllerId: this.controllerId, token: round.token };
    this.term = term;
    this.options.logger?.warn({ token: round.token, previous: round.took?.holder }, 'this controller is now the leader');
    try {
      await runInTerm(term, () => this.options.work.start(term));
    } catch (err) {
      this.options.logger?.error({ err }, 'starting the leader work failed');
    }
  }

  /** A standby tries again the moment the leader's lease would lapse, not up to a renewal later: failover takes at most a lease. */
  private wakeAtExpiry(expiresAt: string): void {
    const delay = Date.parse(expiresAt) - Date.now() + 20;
    if (this.stopped || delay >= this.timings.renewMs) return;
    if (this.wake) clearTimeout(this.wake);
    this.wake = setTimeout(() => void this.tick(), Math.max(0, delay));
    this.wake.unref();
  }

  private async renewOrTake(tx: Parameters<Parameters<Store['transaction']>[0]>[0], began: number): Promise<Round> {
    const at = new Date(began).toISOString();
    const expiresAt = new Date(began + this.timings.leaseMs).toISOString();
    await tx.controllers.put({ ...this.options.self, startedAt: this.startedAt, lastSeenAt: at });
    const lease = await tx.leaderLease.get();
    const live = lease !== undefined && Date.parse(lease.expiresAt) > began;
    // Still this term's lease: renewed, even if a slow round let it lapse, since nobody took it meanwhile (this
    // transaction would see it) and the token is still the newest. Writes were refused while it had lapsed.
    if (lease && lease.holder === this.controllerId && lease.token === this.term?.token) {
      await tx.leaderLease.put({ ...lease, renewedAt: at, expiresAt });
      return { leading: true, token: lease.token, took: null };
    }
    // A live lease held under this controller's id but not by this process is a previous run of it,
    // which is gone: taken at once (with a new token) rather than waited out.
    if (live && lease.holder !== this.controllerId) return { leading: false, holder: lease.holder, expiresAt: lease.expiresAt };
    const token = (lease?.token ?? 0) + 1;
    await tx.leaderLease.put({ holder: this.controllerId, token, acquiredAt: at, renewedAt: at, expiresAt });
    await this.options.events.record(
      {
        actor: SYSTEM_ACTOR,
        objectType: 'controller',
        objectId: this.controllerId,
        objectName: this.options.self.name,
        action: 'controller.leader-elected',
        hostId: null,
        result: 'success',
        detail: { token, url: this.options.self.url, previous: lease ? { holder: lease.holder, token: lease.token, expiredAt: lease.expiresAt } : null },
      },
      tx,
    );
    return { leading: true, token, took: lease ?? null };
  }

  private async depose(reason: string): Promise<void> {
    if (!this.term) return;
    const token = this.term.token;
    this.term = undefined;
    this.validUntil = 0;
    this.options.logger?.warn({ token, reason }, 'this controller is no longer the leader');
    try {
      await this.options.work.stop();
    } catch (err) {
      this.options.logger?.error({ err }, 'stopping the leader work failed');
    }
  }
}
