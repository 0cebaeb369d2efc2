/**
 * Per-VM usage counters as Prometheus needs them. Hosts report each VM's figures as totals since its
 * QEMU (or container) started, so a restart brings them back near zero: Prometheus reads a drop as a
 * counter reset, and rate() and increase() count on from the new value. A figure that reads lower
 * while the same process runs is not a reset but a round the host could not read it (network reads
 * 0 when the guest agent did not answer, disk reads 0 when the QMP monitor was busy); exporting that
 * drop would make Prometheus count the whole total again on the next round, so the last reading is
 * kept instead.
 */
import type { VmStats } from '../../vms/stats.js';

/** The VmStats fields that are counters (memoryRssBytes is a gauge). */
export const VM_COUNTER_FIELDS = ['cpuSeconds', 'diskReadBytes', 'diskWriteBytes', 'netRxBytes', 'netTxBytes'] as const;
export type VmCounterField = (typeof VM_COUNTER_FIELDS)[number];

/** One VM's counters on one host, ready to export. */
export interface VmCounterReading {
  hostId: string;
  name: string;
  values: Record<VmCounterField, number>;
}

interface Remembered {
  values: Record<VmCounterField, number>;
  /** The process id the controller had recorded for the VM, when it had one. */
  pid: number | undefined;
}

/** Remembers the last exported counters of every VM so that they only go down when its process restarts. */
export class VmCounterReadings {
  private last = new Map<string, Remembered>();

  /**
   * The hosts' latest figures with each counter held at its last exported value unless the VM's
   * process restarted (its CPU time went down, or its recorded pid changed). `pidOf` gives the pid
   * the controller records for a VM by name. VMs no longer reported are forgotten.
   */
  update(statsByHost: ReadonlyMap<string, readonly VmStats[]>, pidOf: (vmName: string) => number | undefined = () => undefined): VmCounterReading[] {
    const next = new Map<string, Remembered>();
    const readings: VmCounterReading[] = [];
    for (const [hostId, list] of statsByHost) {
      for (const vm of list) {
        // A VM can be reported by two hosts while it migrates: each host's figures are their own series.
        const key = `${hostId}\n${vm.name}`;
        const before = this.last.get(key);
        const pid = pidOf(vm.name);
        const pidChanged = before?.pid !== undefined && pid !== undefined && pid !== before.pid;
        const restarted = !before || pidChanged || vm.cpuSeconds < before.values.cpuSeconds;
        const values = Object.fromEntries(VM_COUNTER_FIELDS.map((field) => [field, restarted ? vm[field] : Math.max(before.values[field], vm[field])])) as Record<VmCounterField, number>;
        next.set(key, { values, pid: pid ?? before?.pid });
        readings.push({ hostId, name: vm.name, values });
      }
    }
    this.last = next;
    return readings;
  }
}
