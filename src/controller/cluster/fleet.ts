/**
 * A copy of the fleet's hosts and VMs, for the controller's work that reads all of them often: HA steps
 * every 500 ms, and every create places its VM among all the others. Reading 30,000 VM records for each
 * would be most of a controller's work, so each table is read again only when its change stamp moved, and
 * at least every `maxAgeMs` (the stamp is best effort).
 * - HA judges quiet steps on the copy; a step that would act or record anything steps again on a fresh
 *   read (HaService.stepOnce), so decisions are never made on a copy.
 * - A transaction takes the copy's VMs only when its own read of the stamp matches (`vmsIn`).
 * The records are shared between readers: never change them in place.
 */
import type { HostRecord, VmRecord } from '../store/records.js';
import type { NamedRepository, Repositories, Store } from '../store/store.js';

/** How old a copy may get however still its stamp is. */
export const FLEET_MAX_AGE_MS = 5_000;

export interface FleetView {
  hosts: HostRecord[];
  vms: VmRecord[];
  /** True when both tables were read from the store for this view, not taken from the copy. */
  fresh: boolean;
}

interface Copy<R> {
  stamp: string;
  readAt: number;
  records: R[];
}

export class FleetMirror {
  private hosts: Copy<HostRecord> | undefined;
  private vms: Copy<VmRecord> | undefined;

  constructor(
    private readonly store: Pick<Store, 'hosts' | 'vms'>,
    private readonly maxAgeMs = FLEET_MAX_AGE_MS,
    private readonly clock: () => number = Date.now,
  ) {}

  /** The hosts and VMs: read from the store when `fresh` is asked for, else from the copy where it still stands. */
  async read(fresh = false): Promise<FleetView> {
    const [hosts, vms] = [await this.table(this.store.hosts, this.hosts, fresh), await this.table(this.store.vms, this.vms, fresh)];
    this.hosts = hosts.copy;
    this.vms = vms.copy;
    return { hosts: hosts.copy.records, vms: vms.copy.records, fresh: hosts.read && vms.read };
  }

  /**
   * Every VM as `tx` sees it: the copy when the transaction's own read of the stamp matches it, else the
   * transaction's own list, which becomes the copy. Call it before the transaction writes any VM, so what it
   * reads is what was committed. Under PostgreSQL's SERIALIZABLE the stamp's read covers the whole table, as
   * the list's would, so concurrent writers still conflict with the transaction.
   */
  async vmsIn(tx: Pick<Repositories, 'vms'>): Promise<readonly VmRecord[]> {
    const now = this.clock();
    const stamp = await tx.vms.changeStamp();
    const copy = this.vms;
    if (copy && now - copy.readAt < this.maxAgeMs && stamp === copy.stamp) return copy.records;
    const records = await tx.vms.list();
    this.vms = { stamp, readAt: now, records };
    return records;
  }

  /** Forgets the copy: the next read goes to the store. */
  forget(): void {
    this.hosts = undefined;
    this.vms = undefined;
  }

  private async table<R extends { id: string; name: string }>(repo: NamedRepository<R>, copy: Copy<R> | undefined, fresh: boolean): Promise<{ copy: Copy<R>; read: boolean }> {
    const now = this.clock();
    // The stamp is taken before the records, so a change between the two is read again next time, never missed.
    const stamp = await repo.changeStamp();
    if (!fresh && copy && copy.stamp === stamp && now - copy.readAt < this.maxAgeMs) return { copy, read: false };
    return { copy: { stamp, readAt: now, records: await repo.list() }, read: true };
  }
}
