/**
 * A set of idle guests of one kind, started together and measured together: memory per guest as PSS summed over
 * every process that belongs to the guest, and CPU per guest over an idle window. The kinds (Drover containers,
 * hand-run runc, Drover VMs, hand-run QEMU) differ only in how a guest starts, which processes are its own and
 * how it is removed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { mean } from './numbers.js';
import { type SetSizes, memAvailableKiB, sumSetSizes } from './procfs.js';

/** One kind of guest, as the density part starts and measures it. */
export interface Fleet {
  name: string;
  label: string;
  /** How many guests start at once (VMs under TCG: one per core). */
  concurrency: number;
  /** Starts guest number `index` and waits until it is ready; resolves with its id. */
  startOne(index: number): Promise<string>;
  /** Every live process that belongs to guest `id`. */
  processes(id: string): number[];
  /** Of those, the ones Drover runs beside the guest (conmon, the disk's storage daemon), when there are any. */
  helperProcesses?(id: string): number[];
  /** CPU seconds guest `id` has used so far (its processes, exited ones included where the kind can tell). */
  cpuSeconds(id: string): number;
  /** Waits until the started guests are idle; may return a sentence about their state (e.g. systemd's). */
  settle(ids: string[]): Promise<string | undefined>;
  removeOne(id: string): Promise<void>;
}

/** What one fleet measured, per guest. */
export interface FleetMeasurement {
  name: string;
  label: string;
  requested: number;
  started: number;
  failures: string[];
  /** Seconds from the first start until the last guest was ready. */
  startSeconds: number;
  pssMiB: number[];
  rssMiB: number[];
  /** PSS of Drover's helper processes per guest, when the kind has them. */
  helperPssMiB?: number[];
  /** CPU per guest over the idle window, in percent of one core. */
  cpuPercent: number[];
  /** Host MemAvailable before the first start minus after the last was ready and idle, per guest (noisy: host-wide). */
  memAvailableDropMiB: number;
  idleSeconds: number;
  settleNote?: string;
}

/** A fleet whose first this-many starts fail in a row is given up on. */
const MAX_FAILURES_IN_A_ROW = 3;

/**
 * Starts `count` guests of `fleet`, lets them settle, samples their CPU over `idleSeconds`, reads their memory at
 * the end of the window, and removes them all (also on failure).
 */
export async function measureFleet(fleet: Fleet, count: number, idleSeconds: number, log: (m: string) => void): Promise<FleetMeasurement> {
  const ids: string[] = [];
  const failures: string[] = [];
  const memBefore = memAvailableKiB();
  const started = performance.now();
  try {
    let next = 0;
    let failuresInARow = 0;
    const worker = async (): Promise<void> => {
      while (next < count && failuresInARow < MAX_FAILURES_IN_A_ROW) {
        const index = next++;
        try {
          ids.push(await fleet.startOne(index));
          failuresInARow = 0;
        } catch (err) {
          failures.push(`guest ${index}: ${err instanceof Error ? err.message : String(err)}`);
          failuresInARow++;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, fleet.concurrency) }, worker));
    const startSeconds = (performance.now() - started) / 1000;
    log(`containers density ${fleet.name}: ${ids.length}/${count} ready in ${startSeconds.toFixed(1)} s${failures.length ? `, ${failures.length} failed: ${failures.at(-1)}` : ''}`);
    const settleNote = await fleet.settle(ids);
    const cpuBefore = new Map(ids.map((id) => [id, fleet.cpuSeconds(id)]));
    const windowStart = performance.now();
    await sleep(idleSeconds * 1000);
    const window = (performance.now() - windowStart) / 1000;
    const cpuPercent = ids.map((id) => ((fleet.cpuSeconds(id) - (cpuBefore.get(id) ?? 0)) / window) * 100);
    const sizes: SetSizes[] = ids.map((id) => sumSetSizes(fleet.processes(id)));
    const helpers = fleet.helperProcesses ? ids.map((id) => sumSetSizes(fleet.helperProcesses?.(id) ?? [])) : undefined;
    const memAfter = memAvailableKiB();
    const result: FleetMeasurement = {
      name: fleet.name,
      label: fleet.label,
      requested: count,
      started: ids.length,
      failures,
      startSeconds,
      pssMiB: sizes.map((s) => s.pssKiB / 1024),
      rssMiB: sizes.map((s) => s.rssKiB / 1024),
      ...(helpers ? { helperPssMiB: helpers.map((s) => s.pssKiB / 1024) } : {}),
      cpuPercent,
      memAvailableDropMiB: ids.length ? (memBefore - memAfter) / 1024 / ids.length : 0,
      idleSeconds: window,
      ...(settleNote ? { settleNote } : {}),
    };
    log(`containers density ${fleet.name}: PSS ${mean(result.pssMiB)?.toFixed(1) ?? '-'} MiB, CPU ${mean(cpuPercent)?.toFixed(2) ?? '-'}% per guest`);
    return result;
  } finally {
    for (const id of ids) await fleet.removeOne(id).catch((err: unknown) => log(`containers density ${fleet.name}: removing ${id} failed: ${err instanceof Error ? err.message : String(err)}`));
  }
}
