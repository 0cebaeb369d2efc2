/**
 * A copy of the fleet's hosts and VMs, for the controller's work that reads all of them often: HA steps
 * every 500 ms, and every create places its VM among all the others. Reading and parsing 30,000 VM records
 * takes a core about half a second, so the copy is kept up to date a piece at a time:
 * - each table's change stamp (how many records, the latest updatedAt) says whether anything changed;
 * - when it did, only the records updated since the copy's latest, less a margin, are read again, and the
 *   ids are read to drop deleted records when the count says some are gone;
 * - the whole table is read again every `fullReadMs`, since the stamp and the margin are best effort: a
 *   change committed more than the margin after it was stamped, or written by a controller whose clock is
 *   that far behind, is seen only then.
 * HA judges on the copy, as a controller judges on an informer's cache; a step that would act or record
 * anything steps again on a copy whose recent records were all read again (HaService.stepOnce). A transaction takes the copy's VMs only when its own read of the stamp
 * matches (`vmsIn`). The records are shared between readers: never change them in place.
 */
import { setImmediate } from 'node:timers/promises';
import type { HostRecord, Timestamp, VmRecord } from '../store/records.js';
import type { NamedRepository, Repositories, Store } from '../store/store.js';

/** How often each table is read whole whatever its stamp says. */
export const FLEET_FULL_READ_MS = 60_000;
/** How far before the copy's latest update a refresh reads again: longer than a transaction takes to commit. */
export const FLEET_REREAD_MARGIN_MS = 10_000;
/**
 * Records per piece when a table is read whole outside a transaction. On SQLite a read holds the event loop for as
 * long as it takes; 30,000 VMs at once would hold every request and lease renewal for about half a second.
 */
export const FLEET_READ_PIECE = 2_000;

export interface FleetView {
  hosts: HostRecord[];
  vms: VmRecord[];
}

interface Copy<R> {
  stamp: string;
  /** When the table was last read whole. */
  fullAt: number;
  /** The latest updatedAt in the copy. */
  latest: Timestamp;
  byId: Map<string, R>;
  records: R[];
}

type Tracked = { id: string; name: string; createdAt: Timestamp; updatedAt: Timestamp };

export class FleetMirror {
  private hosts: Copy<HostRecord> | undefined;
  private vms: Copy<VmRecord> | undefined;

  constructor(
    private readonly store: Pick<Store, 'hosts' | 'vms'>,
    private readonly fullReadMs = FLEET_FULL_READ_MS,
    private readonly clock: () => number = Date.now,
  ) {}

  /**
   * The hosts and VMs, brought up to date where their stamps moved. `recent` re-reads the records updated
   * lately whatever the stamps say: two changes within one millisecond leave a stamp as it was.
   */
  async read(recent = false): Promise<FleetView> {
    this.hosts = await this.table(this.store.hosts, this.hosts, recent, inPieces);
    this.vms = await this.table(this.store.vms, this.vms, recent, inPieces);
    return { hosts: this.hosts.records, vms: this.vms.records };
  }

  /**
   * Every VM as `tx` sees it: the copy when the transaction's own read of the stamp matches it, else the copy
   * brought up to date through the transaction, which becomes the copy. Call it before the transaction writes
   * any VM, so what it reads is what was committed. Under PostgreSQL's SERIALIZABLE the stamp's read covers
   * the whole table, as a list's would, so concurrent writers still conflict with the transaction.
   */
  async vmsIn(tx: Pick<Repositories, 'vms'>): Promise<readonly VmRecord[]> {
    // Read whole in one go: a transaction's reads are one snapshot, and it holds the store while it runs anyway.
    this.vms = await this.table(tx.vms, this.vms, false, (repo) => repo.list());
    return this.vms.records;
  }

  private async table<R extends Tracked>(repo: NamedRepository<R>, copy: Copy<R> | undefined, recent: boolean, whole: (repo: NamedRepository<R>) => Promise<R[]>): Promise<Copy<R>> {
    const now = this.clock();
    // The stamp is taken before the records, so a change between the two is read again next time, never missed.
    const stamp = await repo.changeStamp();
    if (!copy || now - copy.fullAt >= this.fullReadMs) return copyOf(await whole(repo), stamp, now);
    if (copy.stamp === stamp && !recent) return copy;
    const byId = new Map(copy.byId);
    const since = new Date(Date.parse(copy.latest) - FLEET_REREAD_MARGIN_MS).toISOString();
    let latest = copy.latest;
    let changed = false;
    for (const record of await repo.listUpdatedSince(since)) {
      // Records read again unchanged keep the copy (and what readers built from it) as it is. The same updatedAt
      // means the same record, but at the copy's latest millisecond, where a second change can hide.
      const known = byId.get(record.id);
      if (known && known.updatedAt === record.updatedAt && (record.updatedAt !== copy.latest || JSON.stringify(known) === JSON.stringify(record))) continue;
      changed = true;
      byId.set(record.id, record);
      if (record.updatedAt > latest) latest = record.updatedAt;
    }
    // An insert is among the records read, so a count that differs means some were deleted, or (a record
    // inserted with an old updatedAt, as a restore writes them) missed: then the table is read whole.
    if (byId.size !== countOf(stamp)) {
      const ids = await repo.ids();
      const present = new Set(ids);
      for (const id of byId.keys()) {
        if (present.has(id)) continue;
        byId.delete(id);
        changed = true;
      }
      if (ids.some((id) => !byId.has(id))) return copyOf(await whole(repo), stamp, now);
    }
    // Nothing read: the same copy, so what readers built from it stands.
    if (!changed) return { ...copy, stamp };
    return { stamp, fullAt: copy.fullAt, latest, byId, records: [...byId.values()] };
  }
}

/**
 * Every record, read `FLEET_READ_PIECE` at a time with other work let run between the pieces. The pieces are not one
 * snapshot, which the copy does not need: the stamp was taken before the first, so a record changed while they were
 * read moves the stamp and is read again at the next refresh, and one inserted behind the pieces changes the count.
 */
async function inPieces<R extends Tracked>(repo: NamedRepository<R>): Promise<R[]> {
  const records: R[] = [];
  for (let after: string | undefined; ; ) {
    const piece = await repo.listAfterId(after, FLEET_READ_PIECE);
    records.push(...piece);
    // Oldest first, as a list of the table gives them and the copy keeps them.
    if (piece.length < FLEET_READ_PIECE) return records.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
    after = piece.at(-1)?.id;
    await setImmediate();
  }
}

function copyOf<R extends Tracked>(records: R[], stamp: string, now: number): Copy<R> {
  let latest = '';
  for (const record of records) if (record.updatedAt > latest) latest = record.updatedAt;
  return { stamp, fullAt: now, latest: latest || new Date(0).toISOString(), byId: new Map(records.map((r) => [r.id, r])), records };
}

/** The record count in a change stamp (`count:latest`). */
function countOf(stamp: string): number {
  return Number(stamp.slice(0, stamp.indexOf(':')));
}
