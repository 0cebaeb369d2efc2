import type { GuestDrivers } from '../drivers/registry.js';
import type { GuestUsage } from '../drivers/types.js';
import type { VmRecords } from './records.js';

/** Usage figures for one running VM, as counters since it started. */
export interface VmStats extends GuestUsage {
  name: string;
}

/** Collects the usage of every running guest on this host from its driver. */
export async function collectVmStats(records: VmRecords, drivers: GuestDrivers): Promise<VmStats[]> {
  const out: VmStats[] = [];
  for (const record of records.list()) {
    const usage = await drivers.for(record).usage(record.id).catch(() => undefined);
    if (usage) out.push({ name: record.name, ...usage });
  }
  return out;
}
