/**
 * The hosts and VMs HA steps on. A step comes every 500 ms, and reading 30,000 VM records from the store
 * that often would be most of a controller's work, so HA keeps a copy: each table is read again only when
 * its change stamp moved, and at least every `maxAgeMs` (the stamp is best effort). A step that would act
 * or record anything on the copy steps again on a fresh read (HaService.stepOnce): decisions are never
 * made on a copy.
 */
import type { HostRecord, VmRecord } from '../store/records.js';
import type { NamedRepository, Store } from '../store/store.js';

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
